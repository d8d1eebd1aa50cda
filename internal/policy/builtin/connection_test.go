package builtin

import (
	"context"
	"testing"

	"github.com/vigil-audit/vigil/internal/classify"
	"github.com/vigil-audit/vigil/internal/policy"
)

// TestConnectionSetsEnvironment: an action naming a connection of vigil.yaml
// is decided in that connection's environment, whether it gives none or
// claims another; and the connection's default decides what no rule does.
func TestConnectionSetsEnvironment(t *testing.T) {
	e, _ := newEngine(t, policy.Defaults{
		ConnectionEnvironment: map[string]string{"prod-db": "production", "scratch": "dev"},
		Connection:            map[string]string{"prod-db": "review"},
		Environment:           map[string]string{"dev": "allow"},
		Fallback:              "deny",
	})
	for _, tc := range []struct {
		name, conn, env, sql  string
		effect, rule, wantEnv string
	}{
		{"named, no environment", "prod-db", "", "DROP TABLE users", policy.EffectDeny, "sql.drop", "production"},
		{"named, claims staging", "prod-db", "staging", "DROP TABLE users", policy.EffectDeny, "sql.drop", "production"},
		{"named, no rule decides: the connection's default", "prod-db", "", "SELECT 1", policy.EffectReview, "", "production"},
		{"other connection: its environment's default", "scratch", "production", "DROP TABLE users", policy.EffectAllow, "", "dev"},
		{"unnamed connection: as given", "elsewhere", "staging", "DROP TABLE users", policy.EffectDeny, "", "staging"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			a := &classify.Action{Kind: classify.KindSQL, Actor: classify.Actor{User: "alice"}, Connection: tc.conn, Environment: tc.env, SQL: tc.sql}
			d, err := e.Decide(context.Background(), a)
			if err != nil {
				t.Fatal(err)
			}
			if d.Effect != tc.effect || a.Environment != tc.wantEnv {
				t.Fatalf("effect %s in %q (%s); want %s in %q", d.Effect, a.Environment, d.Message, tc.effect, tc.wantEnv)
			}
			if tc.rule != "" && !decidedBy(d, tc.rule) {
				t.Fatalf("rules %+v; want %s", d.Rules, tc.rule)
			}
		})
	}
}

func decidedBy(d *policy.Decision, id string) bool {
	for _, r := range d.Rules {
		if r.ID == id && r.Effect == d.Effect {
			return true
		}
	}
	return false
}
