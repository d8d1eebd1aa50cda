package cli_test

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/vigil-audit/vigil/internal/cli"
)

func runIn(t *testing.T, stdin string, args ...string) (int, string, string) {
	t.Helper()
	var out, errb bytes.Buffer
	code := cli.Main(context.Background(), args, strings.NewReader(stdin), &out, &errb)
	return code, out.String(), errb.String()
}

func TestCheckSQL(t *testing.T) {
	cases := []struct {
		sql  string
		code int
		want string
	}{
		{"DELETE FROM users WHERE 1=1", 1, "deny sql.all-rows-write"},
		{"ALTER TABLE users DROP COLUMN email", 1, "review sql.drop-column"},
		{"SELECT 'DROP TABLE users'", 0, "allow: "},
		{"DELETE FROM users WHERE id = 7", 0, "allow: "},
	}
	for _, c := range cases {
		code, out, errs := runIn(t, "", "check", "sql", c.sql)
		if code != c.code || !strings.Contains(out, c.want) {
			t.Errorf("check sql %q: exit %d, output %q %s; want exit %d containing %q", c.sql, code, out, errs, c.code, c.want)
		}
	}
	if code, _, _ := runIn(t, "", "check", "sql", "--env", "staging", "DROP TABLE users"); code != 0 {
		t.Errorf("DROP on staging: exit %d; the built-in pack is for production", code)
	}
	if code, _, _ := runIn(t, "DROP TABLE users", "check", "sql", "-"); code != 1 {
		t.Errorf("check sql - (stdin DROP): exit %d; want 1", code)
	}
	for cmd, want := range map[string]int{`rm -rf /`: 1, `echo "rm -rf /"`: 0, `sudo systemctl stop postgresql`: 1, `rm -rf /tmp/x`: 0} {
		if code, out, _ := runIn(t, "", "check", "shell", cmd); code != want {
			t.Errorf("check shell %q: exit %d (%s); want %d", cmd, code, out, want)
		}
	}
	for plan, want := range map[string]int{"destructive.json": 1, "ordinary.json": 0} {
		code, out, _ := runIn(t, "", "check", "tfplan", filepath.Join("..", "classify", "tfplan", "testdata", plan))
		if code != want {
			t.Errorf("check tfplan %s: exit %d (%s); want %d", plan, code, out, want)
		}
	}
	if code, _, _ := runIn(t, "not json", "check", "tfplan", "-"); code != 2 {
		t.Errorf("check tfplan of text that is not JSON: exit %d; want 2", code)
	}
	if code, _, _ := runIn(t, "", "check", "sql"); code != 2 {
		t.Errorf("check sql without SQL: exit %d; want 2", code)
	}
}

func TestPolicyEval(t *testing.T) {
	in := `{"kind":"sql","environment":"production","actor":{"user":"a"},"sql":"TRUNCATE users"}
{"kind":"sql","environment":"production","actor":{"user":"a"},"sql":"SELECT * FROM users WHERE id = $1"}

{"kind":"sql","sqll":"oops"}
`
	code, out, _ := runIn(t, in, "policy", "eval")
	if code != 2 {
		t.Fatalf("exit %d; want 2 because line 4 is not an action", code)
	}
	lines := strings.Split(strings.TrimSpace(out), "\n")
	if len(lines) != 3 {
		t.Fatalf("%d decisions for 3 actions:\n%s", len(lines), out)
	}
	want := []struct{ effect, rule, msg string }{
		{"deny", "sql.truncate", ""},
		{"allow", "", ""},
		{"deny", "", `line 4: not a valid action: unknown field "sqll"`},
	}
	for i, l := range lines {
		var d struct {
			Effect  string
			Message string
			Rules   []struct{ ID string }
		}
		if err := json.Unmarshal([]byte(l), &d); err != nil {
			t.Fatal(err)
		}
		if d.Effect != want[i].effect || (want[i].rule != "" && (len(d.Rules) == 0 || d.Rules[0].ID != want[i].rule)) ||
			(want[i].msg != "" && d.Message != want[i].msg) {
			t.Errorf("decision %d = %s; want %+v", i+1, l, want[i])
		}
	}
}

// TestPolicyConfig: with --config, a named connection decides the
// environment (the built-in production pack applies to prod-db whatever the
// action says), and the connection's and environments' defaults apply.
func TestPolicyConfig(t *testing.T) {
	cfg := filepath.Join(t.TempDir(), "vigil.yaml")
	yaml := `policy:
  defaults:
    environment: {staging: review}
connections:
  - {name: prod-db, type: postgres, environment: production, upstream: {host: db}, default: deny}
  - {name: stage-db, type: postgres, environment: staging, upstream: {host: db}}
  - {name: loose-db, type: postgres, upstream: {host: db}}
`
	if err := os.WriteFile(cfg, []byte(yaml), 0o600); err != nil {
		t.Fatal(err)
	}
	in := `{"kind":"sql","connection":"prod-db","actor":{"user":"a"},"sql":"DROP TABLE users"}
{"kind":"sql","connection":"prod-db","environment":"dev","actor":{"user":"a"},"sql":"TRUNCATE users"}
{"kind":"sql","connection":"prod-db","actor":{"user":"a"},"sql":"SELECT 1"}
{"kind":"sql","connection":"stage-db","environment":"production","actor":{"user":"a"},"sql":"DROP TABLE users"}
{"kind":"sql","connection":"loose-db","environment":"production","actor":{"user":"a"},"sql":"DROP TABLE users"}
`
	code, out, errs := runIn(t, in, "policy", "eval", "--config", cfg)
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errs)
	}
	want := []string{"deny sql.drop", "deny sql.truncate", "deny no rule decided; default for connection prod-db", "review no rule decided; default for environment staging",
		"deny sql.drop"} // a connection without an environment leaves the action's own
	if n := len(strings.Split(strings.TrimSpace(out), "\n")); n != len(want) {
		t.Fatalf("%d decisions for %d actions:\n%s", n, len(want), out)
	}
	for i, l := range strings.Split(strings.TrimSpace(out), "\n") {
		var d struct {
			Effect, Message string
			Rules           []struct{ ID string }
		}
		if err := json.Unmarshal([]byte(l), &d); err != nil {
			t.Fatal(err)
		}
		got := d.Effect + " " + d.Message
		if len(d.Rules) > 0 {
			got = d.Effect + " " + d.Rules[0].ID
		}
		if i >= len(want) || got != want[i] {
			t.Errorf("decision %d: %q; want %q", i+1, got, want)
		}
	}
	// vigil check: the same connection, the same answer, whatever --env says.
	if code, out, _ := runIn(t, "", "check", "sql", "--config", cfg, "--connection", "prod-db", "--env", "dev", "DROP TABLE users"); code != 1 || !strings.Contains(out, "sql.drop") {
		t.Errorf("check sql on prod-db with --env dev: exit %d, %q; want 1 naming sql.drop", code, out)
	}
	if code, _, errs := runIn(t, "", "check", "sql", "--config", filepath.Join(t.TempDir(), "missing.yaml"), "SELECT 1"); code != 2 || !strings.Contains(errs, "missing.yaml") {
		t.Errorf("check sql with a missing --config: exit %d, %q; want 2 naming the file", code, errs)
	}
}

func TestPolicyTest(t *testing.T) {
	code, out, _ := runIn(t, "", "policy", "test")
	if code != 0 || !strings.HasSuffix(strings.TrimSpace(out), "0 failed") {
		t.Fatalf("built-in packs' tests: exit %d\n%s", code, out)
	}
	dir := t.TempDir()
	rule := `rules:
  - id: team.no-fridays
    match: 'sql.?any_drop.orValue(false) == true'
    environments: [dev]
    effect: review
    tests:
      - name: wrong expectation
        input: {kind: sql, environment: dev, actor: {user: a}, sql: "DROP TABLE t"}
        expect: {effect: deny, rule: team.no-fridays}
`
	if err := os.WriteFile(filepath.Join(dir, "team.yaml"), []byte(rule), 0o600); err != nil {
		t.Fatal(err)
	}
	code, out, _ = runIn(t, "", "policy", "test", dir)
	if code != 1 || !strings.Contains(out, "FAIL ") || !strings.Contains(out, "team.no-fridays / wrong expectation") ||
		!strings.HasSuffix(strings.TrimSpace(out), "1 failed") {
		t.Fatalf("a failing rule test: exit %d\n%s", code, out)
	}

	// A fixture file: tests of no one rule, decided by every rule loaded.
	fixtures := `tests:
  - name: drop on production
    input: {kind: sql, environment: production, actor: {user: a}, sql: "DROP TABLE t"}
    expect: {effect: deny, rule: sql.drop}
  - name: drop on dev goes to review
    input: {kind: sql, environment: dev, actor: {user: a}, sql: "DROP TABLE t"}
    expect: {effect: review, rule: team.no-fridays}
  - name: a select on dev is denied
    input: {kind: sql, environment: dev, actor: {user: a}, sql: "SELECT 1"}
    expect: {effect: deny}
`
	if err := os.WriteFile(filepath.Join(dir, "team.tests.yaml"), []byte(fixtures), 0o600); err != nil {
		t.Fatal(err)
	}
	code, out, _ = runIn(t, "", "policy", "test", dir)
	if code != 1 || !strings.Contains(out, "team.tests.yaml:8: fixture / a select on dev is denied") ||
		!strings.Contains(out, "effect:   want deny, got allow") || !strings.HasSuffix(strings.TrimSpace(out), "2 failed") {
		t.Fatalf("fixture tests (two pass, one fails, with the rule's own failing test): exit %d\n%s", code, out)
	}
	if err := os.WriteFile(filepath.Join(dir, "bad.tests.yaml"), []byte("tests:\n  - name: x\n    expect: {effect: maybe}\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if code, _, errs := runIn(t, "", "policy", "test", dir); code != 2 || !strings.Contains(errs, "bad.tests.yaml:2") {
		t.Fatalf("a malformed fixture file: exit %d, %q; want 2 naming file and line", code, errs)
	}
}
