package policy

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"testing/fstest"

	"github.com/vigil-audit/vigil/internal/classify"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata")

// loadString loads rule files given as name -> content.
func loadString(t testing.TB, files map[string]string) *RuleSet {
	t.Helper()
	fsys := fstest.MapFS{}
	var names []string
	for name, content := range files {
		fsys[name] = &fstest.MapFile{Data: []byte(content)}
		names = append(names, name)
	}
	rs, err := Load(fsys, ".")
	if err != nil {
		t.Fatalf("load: %v", err)
	}
	return rs
}

const rulesYAML = `
rules:
  - id: sql.drop
    match: sql.statements.exists(s, s.command.startsWith("DROP"))
    environments: [production]
    effect: deny
    severity: critical
    message: DROP is denied
  - id: sql.all-rows
    match: sql.statements.exists(s, s.command in ["DELETE", "UPDATE"] && s.where != "present")
    environments: [production]
    effect: review
    severity: high
    message: write to every row needs review
    except: actor.user == "batch-bot"
  - id: migrations.allow
    match: sql.statements.all(s, s.command.startsWith("DROP") || s.command.startsWith("ALTER"))
    roles: [deployer]
    connections: [prod-db]
    effect: allow
    severity: info
    message: deployer migrations on prod-db
  - id: sql.audit-touch
    match: sql.statements.exists(s, "audit" in s.?tables.orValue([]))
    effect: alert
    severity: high
    message: the audit table was touched
  - id: every.log
    match: environment == "production"
    effect: log
    severity: info
    message: production action
  - id: sql.truncate.trial
    match: sql.statements.exists(s, s.command == "TRUNCATE")
    mode: dry-run
    effect: deny
    message: TRUNCATE would be denied
  - id: shell.rm-root
    match: shell.commands.exists(c, c.argv[0] == "rm" && "/" in c.targets)
    effect: deny
    severity: critical
    message: rm of /
    except:
      - {field: actor.user, values: [break-glass]}
      - {field: actor.groups, values: [sre-oncall]}
  - id: staging.review-all
    match: "true"
    environments: [staging]
    effect: review
    message: staging writes are reviewed
    except:
      - {field: actor.roles, values: [admin]}
  - id: sql.strict-field
    match: sql.statements.exists(s, s.command == "VACUUM" && s.full == true)
    effect: deny
    message: VACUUM FULL
  - id: sql.lenient-allow
    match: sql.statements.exists(s, s.command == "VACUUM" && s.verbose == true)
    effect: allow
    message: verbose vacuum
  - id: sql.bad-glob
    match: sql.statements.exists(s, s.command == "COPY" && glob(s.file, "[")) 
    effect: review
    message: copy of a file
  - id: k8s.raw
    match: kind == "kubernetes" && action.kubernetes.operation == "DELETE" && action.kubernetes.namespace == "kube-system"
    effect: deny
    message: deleting in kube-system
`

func stmts(cmds ...map[string]any) map[string]any {
	list := make([]any, len(cmds))
	for i, c := range cmds {
		list[i] = c
	}
	return map[string]any{"statements": list}
}

func stmt(command string, kv ...any) map[string]any {
	m := map[string]any{"command": command}
	for i := 0; i+1 < len(kv); i += 2 {
		m[kv[i].(string)] = kv[i+1]
	}
	return m
}

func sqlAction(env, conn, user string, roles ...string) *classify.Action {
	return &classify.Action{Kind: classify.KindSQL, Environment: env, Connection: conn, Actor: classify.Actor{User: user, Roles: roles}}
}

type want struct {
	effect  string
	rules   []string // "id:effect", with ":dry-run" for dry-run rules
	message string   // substring of Decision.Message
	ruleMsg map[string]string
}

func check(t *testing.T, d *Decision, w want) {
	t.Helper()
	if d.Effect != w.effect {
		t.Errorf("effect = %s, want %s (message %q)", d.Effect, w.effect, d.Message)
	}
	var got []string
	for _, r := range d.Rules {
		s := r.ID + ":" + r.Effect
		if r.DryRun {
			s += ":dry-run"
		}
		got = append(got, s)
	}
	if w.rules == nil {
		w.rules = []string{}
	}
	if got == nil {
		got = []string{}
	}
	if !reflect.DeepEqual(got, w.rules) {
		t.Errorf("rules = %q, want %q", got, w.rules)
	}
	if !strings.Contains(d.Message, w.message) {
		t.Errorf("message = %q, want it to contain %q", d.Message, w.message)
	}
	for id, msg := range w.ruleMsg {
		found := false
		for _, r := range d.Rules {
			if r.ID == id {
				found = true
				if !strings.Contains(r.Message, msg) {
					t.Errorf("rule %s message = %q, want it to contain %q", id, r.Message, msg)
				}
			}
		}
		if !found {
			t.Errorf("rule %s did not match", id)
		}
	}
}

func TestDecide(t *testing.T) {
	rs := loadString(t, map[string]string{"rules.yaml": rulesYAML})
	e := NewEngine(rs, Defaults{
		Environment: map[string]string{"production": EffectAllow, "pci": EffectReview},
		Connection:  map[string]string{"vault-db": EffectDeny},
		Fallback:    EffectAllow,
	})
	shell := func(user string, groups []string, argv0 string, targets ...string) (*classify.Action, map[string]any) {
		a := &classify.Action{Kind: classify.KindShell, Environment: "production", Actor: classify.Actor{User: user, Groups: groups}, Command: argv0}
		ts := make([]any, len(targets))
		for i, x := range targets {
			ts[i] = x
		}
		return a, map[string]any{"commands": []any{map[string]any{"argv": []any{argv0}, "targets": ts}}}
	}

	tests := []struct {
		name   string
		action *classify.Action
		attrs  map[string]any
		want   want
	}{
		{
			name:   "drop on production is denied, log rule rides along",
			action: sqlAction("production", "", "alice"),
			attrs:  stmts(stmt("DROP TABLE", "tables", []any{"users"})),
			want: want{effect: EffectDeny, rules: []string{"sql.drop:deny", "every.log:log"}, message: "DROP is denied",
				ruleMsg: map[string]string{"sql.drop": "DROP is denied", "every.log": "production action"}},
		},
		{
			name:   "drop on staging: out of the drop rule's scope, staging review applies",
			action: sqlAction("staging", "", "alice"),
			attrs:  stmts(stmt("DROP TABLE")),
			want:   want{effect: EffectReview, rules: []string{"staging.review-all:review"}, message: "staging writes are reviewed"},
		},
		{
			name:   "staging, except by role tuple",
			action: sqlAction("staging", "", "alice", "admin"),
			attrs:  stmts(stmt("SELECT")),
			want:   want{effect: EffectAllow, message: "no rule decided; fallback default"},
		},
		{
			name:   "deny beats allow: deployer migration on prod-db still hits DROP deny",
			action: sqlAction("production", "prod-db", "deployer", "deployer"),
			attrs:  stmts(stmt("DROP TABLE")),
			want:   want{effect: EffectDeny, rules: []string{"sql.drop:deny", "migrations.allow:allow", "every.log:log"}, message: "DROP is denied"},
		},
		{
			name:   "allow rule decides over a default deny (connection scope and role scope)",
			action: sqlAction("", "prod-db", "deployer", "deployer"),
			attrs:  stmts(stmt("ALTER TABLE")),
			want:   want{effect: EffectAllow, rules: []string{"migrations.allow:allow"}, message: "deployer migrations on prod-db"},
		},
		{
			name:   "allow rule out of connection scope",
			action: sqlAction("", "other-db", "deployer", "deployer"),
			attrs:  stmts(stmt("ALTER TABLE")),
			want:   want{effect: EffectAllow, message: "fallback default"},
		},
		{
			name:   "allow rule out of role scope",
			action: sqlAction("", "prod-db", "alice", "developer"),
			attrs:  stmts(stmt("ALTER TABLE")),
			want:   want{effect: EffectAllow, message: "fallback default"},
		},
		{
			name:   "review beats allow; alert only adds",
			action: sqlAction("production", "", "alice"),
			attrs:  stmts(stmt("UPDATE", "where", "constant", "tables", []any{"audit"})),
			want: want{effect: EffectReview, rules: []string{"sql.all-rows:review", "sql.audit-touch:alert", "every.log:log"}, message: "write to every row needs review",
				ruleMsg: map[string]string{"sql.audit-touch": "the audit table was touched"}},
		},
		{
			name:   "deny beats review",
			action: sqlAction("production", "", "alice"),
			attrs:  stmts(stmt("DELETE", "where", "absent"), stmt("DROP INDEX")),
			want:   want{effect: EffectDeny, rules: []string{"sql.drop:deny", "sql.all-rows:review", "every.log:log"}, message: "DROP is denied"},
		},
		{
			name:   "except by CEL",
			action: sqlAction("production", "", "batch-bot"),
			attrs:  stmts(stmt("DELETE", "where", "absent")),
			want:   want{effect: EffectAllow, rules: []string{"every.log:log"}, message: "default for environment production"},
		},
		{
			name:   "a real WHERE is allowed",
			action: sqlAction("production", "", "alice"),
			attrs:  stmts(stmt("DELETE", "where", "present")),
			want:   want{effect: EffectAllow, rules: []string{"every.log:log"}},
		},
		{
			name:   "dry-run rule is recorded but does not decide",
			action: sqlAction("dev", "", "alice"),
			attrs:  stmts(stmt("TRUNCATE")),
			want:   want{effect: EffectAllow, rules: []string{"sql.truncate.trial:deny:dry-run"}, message: "fallback default"},
		},
		{
			name:   "environment default",
			action: sqlAction("pci", "", "alice"),
			attrs:  stmts(stmt("SELECT")),
			want:   want{effect: EffectReview, message: "default for environment pci"},
		},
		{
			name:   "connection default wins over environment default",
			action: sqlAction("pci", "vault-db", "alice"),
			attrs:  stmts(stmt("SELECT")),
			want:   want{effect: EffectDeny, message: "default for connection vault-db"},
		},
		{
			name:   "fail closed: deny rule whose match errors (missing key) is matched",
			action: sqlAction("dev", "", "alice"),
			attrs:  stmts(stmt("VACUUM")),
			want: want{effect: EffectDeny, rules: []string{"sql.strict-field:deny"}, message: "VACUUM FULL",
				ruleMsg: map[string]string{"sql.strict-field": "evaluation error, failing closed: match: no such key: full"}},
		},
		{
			name:   "fail closed: runtime error in a function (bad glob pattern)",
			action: sqlAction("dev", "", "alice"),
			attrs:  stmts(stmt("COPY", "file", "/tmp/x")),
			want: want{effect: EffectReview, rules: []string{"sql.bad-glob:review"},
				ruleMsg: map[string]string{"sql.bad-glob": "syntax error in pattern"}},
		},
		{
			name:   "fail open: allow rule whose match errors does not match",
			action: sqlAction("dev", "vault-db", "alice"),
			attrs:  stmts(stmt("VACUUM", "full", false)),
			want:   want{effect: EffectDeny, message: "default for connection vault-db"},
		},
		{
			name:   "shell rule: deny",
			action: func() *classify.Action { a, _ := shell("alice", nil, "rm", "/"); return a }(),
			attrs:  func() map[string]any { _, m := shell("alice", nil, "rm", "/"); return m }(),
			want:   want{effect: EffectDeny, rules: []string{"every.log:log", "shell.rm-root:deny"}, message: "rm of /"},
		},
		{
			name:   "shell rule: except by user tuple",
			action: func() *classify.Action { a, _ := shell("break-glass", nil, "rm", "/"); return a }(),
			attrs:  func() map[string]any { _, m := shell("break-glass", nil, "rm", "/"); return m }(),
			want:   want{effect: EffectAllow, rules: []string{"every.log:log"}},
		},
		{
			name:   "shell rule: except by group tuple (list field)",
			action: func() *classify.Action { a, _ := shell("bob", []string{"dev", "sre-oncall"}, "rm", "/"); return a }(),
			attrs:  func() map[string]any { _, m := shell("bob", nil, "rm", "/"); return m }(),
			want:   want{effect: EffectAllow, rules: []string{"every.log:log"}},
		},
		{
			name:   "sql rules are not evaluated for shell actions (no fail-closed surprise)",
			action: &classify.Action{Kind: classify.KindShell, Environment: "dev"},
			attrs:  map[string]any{"commands": []any{}},
			want:   want{effect: EffectAllow},
		},
		{
			name:   "raw kubernetes input through action",
			action: &classify.Action{Kind: classify.KindKubernetes, Environment: "dev", Kubernetes: json.RawMessage(`{"operation":"DELETE","namespace":"kube-system"}`)},
			want:   want{effect: EffectDeny, rules: []string{"k8s.raw:deny"}, message: "deleting in kube-system"},
		},
		{
			name:   "raw kubernetes input, other namespace",
			action: &classify.Action{Kind: classify.KindKubernetes, Environment: "dev", Kubernetes: json.RawMessage(`{"operation":"DELETE","namespace":"web"}`)},
			want:   want{effect: EffectAllow},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			check(t, e.DecideAttrs(tt.action, tt.attrs), tt.want)
		})
	}
}

func TestDecideClassifier(t *testing.T) {
	rs := loadString(t, map[string]string{"rules.yaml": rulesYAML})
	e := NewEngine(rs, Defaults{})
	ctx := context.Background()

	// Without a classifier the sql variable is empty; the kind's rules then
	// fail closed only if they read missing keys. sql.drop reads
	// sql.statements, which is missing: deny, with the error.
	d, err := e.Decide(ctx, &classify.Action{Kind: classify.KindSQL, Environment: "production", SQL: "SELECT 1"})
	if err != nil {
		t.Fatal(err)
	}
	if d.Effect != EffectDeny || !strings.Contains(d.Rules[0].Message, "no such key: statements") {
		t.Errorf("no classifier: got %+v", d)
	}

	e.Register(classify.KindSQL, func(a *classify.Action) (map[string]any, error) {
		if a.SQL == "boom" {
			return nil, errors.New("parser crashed")
		}
		cmd := strings.ToUpper(strings.Fields(a.SQL)[0])
		if cmd == "DROP" {
			cmd = "DROP TABLE"
		}
		return stmts(stmt(cmd, "where", "present")), nil
	})
	d, err = e.Decide(ctx, &classify.Action{Kind: classify.KindSQL, Environment: "production", SQL: "drop table x"})
	if err != nil {
		t.Fatal(err)
	}
	check(t, d, want{effect: EffectDeny, rules: []string{"sql.drop:deny", "every.log:log"}, message: "DROP is denied"})
	if got := d.Attrs["sql"].(map[string]any)["statements"].([]any)[0].(map[string]any)["command"]; got != "DROP TABLE" {
		t.Errorf("attrs = %v", d.Attrs)
	}

	d, err = e.Decide(ctx, &classify.Action{Kind: classify.KindSQL, Environment: "production", SQL: "boom"})
	if err == nil || !strings.Contains(err.Error(), "parser crashed") || d.Effect != EffectDeny {
		t.Errorf("classifier error: got %+v, %v; want deny and the error", d, err)
	}

	cctx, cancel := context.WithCancel(ctx)
	cancel()
	if d, err := e.Decide(cctx, &classify.Action{Kind: classify.KindSQL}); err == nil || d.Effect != EffectDeny {
		t.Errorf("cancelled context: got %+v, %v", d, err)
	}
}

func TestDecisionJSON(t *testing.T) {
	d := &Decision{Effect: EffectDeny, Rules: []RuleResult{{ID: "a", Effect: EffectDeny, Severity: SeverityHigh, Message: "m"}, {ID: "b", Effect: EffectReview, Severity: SeverityLow, Message: "n", DryRun: true}}, Message: "m", Attrs: map[string]any{"sql": map[string]any{}}}
	got, err := json.Marshal(d)
	if err != nil {
		t.Fatal(err)
	}
	const want = `{"effect":"deny","rules":[{"id":"a","effect":"deny","severity":"high","message":"m"},{"id":"b","effect":"review","severity":"low","message":"n","dry_run":true}],"message":"m","attrs":{"sql":{}}}`
	if string(got) != want {
		t.Errorf("got  %s\nwant %s", got, want)
	}
}

func TestDefaults(t *testing.T) {
	if err := (Defaults{Environment: map[string]string{"prod": "deny"}, Fallback: "review"}).Validate(); err != nil {
		t.Error(err)
	}
	err := (Defaults{Environment: map[string]string{"prod": "block"}, Fallback: "alert"}).Validate()
	const want = `invalid policy defaults: defaults.environment.prod: "block" is not one of allow, deny, review; defaults.fallback: "alert" is not one of allow, deny, review`
	if err == nil || err.Error() != want {
		t.Errorf("got %v\nwant %s", err, want)
	}
	e := NewEngine(nil, Defaults{Environment: map[string]string{"prod": "block"}})
	if d := e.DecideAttrs(&classify.Action{Kind: "sql", Environment: "prod"}, nil); d.Effect != EffectDeny {
		t.Errorf("invalid default: effect %s, want deny", d.Effect)
	}
}

func TestFunctions(t *testing.T) {
	rs := loadString(t, map[string]string{"f.yaml": `
rules:
  - id: glob
    match: glob(action.command, "/var/lib/postgresql/**") && !glob(action.command, "**/*.log")
    effect: deny
  - id: cidr
    match: cidrContains("10.0.0.0/8", connection) || cidrContains("0.0.0.0/0", connection) && connection.endsWith("/0")
    effect: review
  - id: net-ext
    match: isCIDR(environment) && cidr(environment).containsIP("192.168.1.1")
    effect: alert
  - id: sets
    match: sets.intersects(actor.roles, ["dba", "root"])
    effect: log
`})
	e := NewEngine(rs, Defaults{})
	for _, tt := range []struct {
		a    classify.Action
		want []string
	}{
		{classify.Action{Command: "/var/lib/postgresql/15/main/base/1"}, []string{"glob"}},
		{classify.Action{Command: "/var/lib/postgresql/15/main/pg.log"}, nil},
		{classify.Action{Command: "/var/lib/mysql/x"}, nil},
		{classify.Action{Connection: "10.1.2.3"}, []string{"cidr"}},
		{classify.Action{Connection: "10.0.0.0/16"}, []string{"cidr"}},
		{classify.Action{Connection: "0.0.0.0/0"}, []string{"cidr"}},
		{classify.Action{Connection: "11.0.0.1"}, nil},
		{classify.Action{Connection: "not-an-ip"}, nil},
		{classify.Action{Environment: "192.168.0.0/16"}, []string{"net-ext"}},
		{classify.Action{Actor: classify.Actor{Roles: []string{"dev", "dba"}}}, []string{"sets"}},
	} {
		d := e.DecideAttrs(&tt.a, nil)
		var got []string
		for _, r := range d.Rules {
			got = append(got, r.ID)
		}
		if !reflect.DeepEqual(got, tt.want) {
			t.Errorf("%+v: matched %v, want %v", tt.a, got, tt.want)
		}
	}
	for _, tt := range []struct {
		name, pat string
		want      bool
	}{
		{"/etc/passwd", "/etc/*", true},
		{"/etc/ssl/certs", "/etc/*", false},
		{"/etc/ssl/certs", "/etc/**", true},
		{"/etc", "/etc/**", true},
		{"/data/pg/x.log", "/data/**/*.log", true},
		{"/data/x.log", "/data/**/*.log", true},
	} {
		if got, err := Glob(tt.name, tt.pat); err != nil || got != tt.want {
			t.Errorf("Glob(%q, %q) = %v, %v; want %v", tt.name, tt.pat, got, err, tt.want)
		}
	}
}

func TestKinds(t *testing.T) {
	rs := loadString(t, map[string]string{"k.yaml": `
rules:
  - {id: a, match: 'sql.x == 1', effect: log}
  - {id: b, match: 'shell.y == 1 || k8s.z == 2', effect: log}
  - {id: c, match: 'actor.user == "x" && [1].exists(sql, sql == 1)', effect: log}
`})
	var got [][]string
	for _, r := range rs.Rules() {
		got = append(got, r.Kinds)
	}
	want := [][]string{{"sql"}, {"kubernetes", "shell"}, nil}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("kinds = %q, want %q", got, want)
	}
}

// TestLoadErrors loads each testdata/errors/*.yaml file and compares the
// error text with the .golden file beside it (go test -update rewrites them).
func TestLoadErrors(t *testing.T) {
	files, err := filepath.Glob("testdata/errors/*.yaml")
	if err != nil || len(files) == 0 {
		t.Fatalf("no test files: %v", err)
	}
	fsys := os.DirFS("testdata")
	for _, f := range files {
		name := strings.TrimPrefix(filepath.ToSlash(f), "testdata/")
		t.Run(filepath.Base(f), func(t *testing.T) {
			_, err := Load(fsys, name)
			if err == nil {
				t.Fatal("no error")
			}
			var pe *Error
			if !errors.As(err, &pe) || pe.File != name || pe.Line == 0 {
				t.Errorf("first error is not an *Error with file and line: %#v", err)
			}
			got := err.Error() + "\n"
			golden := strings.TrimSuffix(f, ".yaml") + ".golden"
			if *update {
				if err := os.WriteFile(golden, []byte(got), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			want, err := os.ReadFile(golden)
			if err != nil {
				t.Fatal(err)
			}
			if got != string(want) {
				t.Errorf("got:\n%s\nwant:\n%s", got, want)
			}
		})
	}
}

func TestLoadPaths(t *testing.T) {
	fsys := fstest.MapFS{
		"rules/a.yaml":       {Data: []byte("rules:\n  - {id: a, match: 'true', effect: log}\n")},
		"rules/sub/b.yml":    {Data: []byte("rules:\n  - {id: b, match: 'true', effect: log}\n")},
		"rules/notes.txt":    {Data: []byte("not yaml: [")},
		"rules/empty.yaml":   {Data: []byte("")},
		"other/c.yaml":       {Data: []byte("rules:\n  - {id: c, match: 'true', effect: log}\n")},
		"dup/a.yaml":         {Data: []byte("rules:\n  - {id: a, match: 'true', effect: log}\n")},
		"comments-only.yaml": {Data: []byte("# nothing yet\n")},
	}
	rs, err := Load(fsys, "rules", "other/c.yaml", "rules/a.yaml", "comments-only.yaml")
	if err != nil {
		t.Fatal(err)
	}
	var ids []string
	for _, r := range rs.Rules() {
		ids = append(ids, r.ID)
	}
	if !reflect.DeepEqual(ids, []string{"a", "b", "c"}) {
		t.Errorf("ids = %v", ids)
	}
	if _, err := Load(fsys, "rules", "dup"); err == nil || err.Error() != `dup/a.yaml:2: duplicate rule id "a" (first at rules/a.yaml:2)` {
		t.Errorf("duplicate across files: %v", err)
	}
	if _, err := Load(fsys, "missing"); err == nil || !errors.Is(err, os.ErrNotExist) || !strings.HasPrefix(err.Error(), "missing: ") {
		t.Errorf("missing path: %v", err)
	}
	other, err := Load(fsys, "dup")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := Merge(rs, other); err == nil || !strings.Contains(err.Error(), `duplicate rule id "a"`) {
		t.Errorf("merge duplicate: %v", err)
	}
}

func TestRunTests(t *testing.T) {
	rs := loadString(t, map[string]string{"t.yaml": `
rules:
  - id: sql.drop
    match: sql.?statements.orValue([]).exists(s, s.command == "DROP TABLE")
    effect: deny
    tests:
      - name: drop
        input: {kind: sql, sql: "DROP TABLE x"}
        attrs: {statements: [{command: DROP TABLE}]}
        expect: {effect: deny, rule: sql.drop}
      - name: wrong expectation
        input: {kind: sql, sql: "SELECT 1"}
        attrs: {statements: [{command: SELECT}]}
        expect: {effect: deny, rule: sql.drop}
      - name: needs a classifier
        input: {kind: sql, sql: "DROP TABLE x"}
        expect: {effect: deny}
      - name: log only
        input: {kind: shell, command: "ls"}
        expect: {effect: allow}
  - id: note
    match: kind == "shell"
    effect: log
    message: shell noted
`})
	e := NewEngine(rs, Defaults{})
	res := rs.RunTests(e)
	if len(res) != 4 {
		t.Fatalf("%d results, want 4", len(res))
	}
	if !res[0].Pass || res[1].Pass || res[2].Pass || !res[3].Pass {
		for _, r := range res {
			t.Log(r)
		}
		t.Fatal("wrong pass/fail")
	}
	const want1 = `FAIL t.yaml:11: sql.drop / wrong expectation
    effect:   want deny, got allow
    rule:     want sql.drop among the matched rules
    matched: (none)
    message: no rule decided; fallback default
`
	if got := res[1].String(); got != want1 {
		t.Errorf("diff:\n%s\nwant:\n%s", got, want1)
	}
	if !strings.Contains(res[2].Diff, "note:    no classifier is registered for kind sql and the test gives no attrs") {
		t.Errorf("diff without classifier:\n%s", res[2].Diff)
	}

	// With a classifier registered, the test without attrs uses it.
	e.Register(classify.KindSQL, func(a *classify.Action) (map[string]any, error) {
		return stmts(stmt("DROP TABLE")), nil
	})
	if r := rs.RunTests(e)[2]; !r.Pass {
		t.Errorf("with classifier: %s", r)
	}
}
