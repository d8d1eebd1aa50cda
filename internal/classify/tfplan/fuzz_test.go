package tfplan

import (
	"encoding/json"
	"os"
	"path/filepath"
	"reflect"
	"testing"
)

// FuzzClassify: any plan either classifies or fails with an error; never a
// panic, and the same plan gives the same result.
func FuzzClassify(f *testing.F) {
	files, _ := filepath.Glob("testdata/*.json")
	for _, p := range files {
		b, err := os.ReadFile(p)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	for _, s := range []string{`{}`, `null`, `{"resource_changes":[{}]}`, `{"resource_changes":[{"change":{"actions":["delete","create"],"before":[],"after":"x"}}]}`} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		r1, err1 := Classify(json.RawMessage(b))
		r2, err2 := Classify(json.RawMessage(b))
		if (err1 == nil) != (err2 == nil) || !reflect.DeepEqual(r1, r2) {
			t.Fatalf("two runs differ: %+v %v / %+v %v", r1, err1, r2, err2)
		}
		if err1 == nil && r1 == nil {
			t.Fatal("no result and no error")
		}
	})
}
