// Package corpora locates the shared test corpora (../shared/corpora, beside
// the repository) for tests that read real public data. A test that needs
// them is skipped when they are absent, except under CI=true, where it fails.
package corpora

import (
	"os"
	"path/filepath"
	"testing"
)

// Dir returns shared/corpora/sub, found by walking up from the working
// directory; with no sub, the corpora folder itself.
func Dir(t testing.TB, sub ...string) string {
	t.Helper()
	wd, err := os.Getwd()
	if err != nil {
		t.Fatal(err)
	}
	rel := filepath.Join(append([]string{"shared", "corpora"}, sub...)...)
	for d := wd; ; d = filepath.Dir(d) {
		p := filepath.Join(d, rel)
		if fi, err := os.Stat(p); err == nil && fi.IsDir() {
			return p
		}
		if filepath.Dir(d) == d {
			break
		}
	}
	if os.Getenv("CI") == "true" {
		t.Fatalf("%s not found above %s (required when CI=true)", rel, wd)
	}
	t.Skipf("%s not found above %s; skipping", rel, wd)
	return ""
}
