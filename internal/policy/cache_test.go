package policy

import (
	"context"
	"testing"
	"testing/fstest"

	"github.com/vigil-audit/vigil/internal/classify"
)

// TestClassificationCache: a repeated text is classified once, but every
// decision is made afresh, so rules that read the actor still apply.
func TestClassificationCache(t *testing.T) {
	fsys := fstest.MapFS{"r.yaml": {Data: []byte(`rules:
  - id: dev-no-drop
    match: 'sql.?drop.orValue(false) == true'
    roles: [developer]
    effect: deny
`)}}
	rs, err := Load(fsys, "r.yaml")
	if err != nil {
		t.Fatal(err)
	}
	e := NewEngine(rs, Defaults{})
	calls := 0
	e.Register(classify.KindSQL, func(a *classify.Action) (map[string]any, error) {
		calls++
		return map[string]any{"drop": a.SQL == "DROP TABLE t"}, nil
	})
	decide := func(role string) string {
		d, err := e.Decide(context.Background(), &classify.Action{Kind: "sql", SQL: "DROP TABLE t", Actor: classify.Actor{User: "u", Roles: []string{role}}})
		if err != nil {
			t.Fatal(err)
		}
		return d.Effect
	}
	if got := decide("developer"); got != "deny" {
		t.Fatalf("developer: %s", got)
	}
	if got := decide("dba"); got != "allow" {
		t.Fatalf("dba, same text: %s; the cache must not carry decisions across actors", got)
	}
	if calls != 1 {
		t.Fatalf("classifier called %d times for one repeated text; want 1", calls)
	}
	e.Register(classify.KindSQL, func(a *classify.Action) (map[string]any, error) {
		calls++
		return map[string]any{"drop": false}, nil
	})
	if got := decide("developer"); got != "allow" || calls != 2 {
		t.Fatalf("after a new classifier: %s, %d calls; the cache must be cleared", got, calls)
	}
}
