package cli_test

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestRulesTest(t *testing.T) {
	code, out, errs := run(t, "rules", "test", filepath.Join("testdata", "rules"))
	if code != 0 || !strings.HasSuffix(strings.TrimSpace(out), "4 passed, 0 failed") {
		t.Fatalf("rules test over the built-in fixtures: exit %d\n%s%s", code, out, errs)
	}
	dir := t.TempDir()
	bad := "tests:\n  - name: expects the wrong alert\n    events: |\n" +
		`      {"time":"2026-05-01T09:00:00Z","source":"vigil/decide","activity":"decide","actor":{"user":"a"},"action":"shell","outcome":"denied","decision":{"effect":"deny"}}` +
		"\n    expect:\n      - {rule: vigil-logging-off}\n"
	if err := os.WriteFile(filepath.Join(dir, "bad.test.yml"), []byte(bad), 0o600); err != nil {
		t.Fatal(err)
	}
	code, out, _ = run(t, "rules", "test", dir)
	if code != 1 || !strings.Contains(out, "missing: vigil-logging-off") || !strings.Contains(out, "unexpected: vigil-blocked-by-policy") ||
		!strings.HasSuffix(strings.TrimSpace(out), "0 passed, 1 failed") {
		t.Fatalf("a failing fixture: exit %d\n%s", code, out)
	}
	// Fixtures are not rules: lint skips them.
	if code, out, _ := run(t, "rules", "lint", filepath.Join("testdata", "rules")); code != 0 || !strings.Contains(out, "0 files, 0 problems") {
		t.Fatalf("lint over fixtures: exit %d %s", code, out)
	}
}
