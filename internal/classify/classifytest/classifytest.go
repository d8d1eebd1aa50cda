// Package classifytest holds checks shared by the classifiers' tests.
package classifytest

import (
	"encoding/json"
	"reflect"
	"testing"
)

// Deterministic runs classify on in twice and fails t unless both runs agree
// and a run without error gave a result: what a fuzz target asks of any
// input, besides not panicking.
func Deterministic[R any](t *testing.T, classify func(json.RawMessage) (*R, error), in []byte) {
	t.Helper()
	r1, err1 := classify(json.RawMessage(in))
	r2, err2 := classify(json.RawMessage(in))
	if (err1 == nil) != (err2 == nil) || !reflect.DeepEqual(r1, r2) {
		t.Fatalf("two runs differ: %+v %v / %+v %v", r1, err1, r2, err2)
	}
	if err1 == nil && r1 == nil {
		t.Fatal("no result and no error")
	}
}
