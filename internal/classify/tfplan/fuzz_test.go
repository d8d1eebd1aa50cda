package tfplan

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/vigil-audit/vigil/internal/classify/classifytest"
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
	f.Fuzz(func(t *testing.T, b []byte) { classifytest.Deterministic(t, Classify, b) })
}
