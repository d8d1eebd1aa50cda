package server_test

import (
	"encoding/json"
	"net/http"
	"testing"
)

// TestDecide: an action in, its decision out, and the decision in the audit
// log before the answer.
func TestDecide(t *testing.T) {
	e := newEnv(t, 0)
	cases := []struct {
		body    string
		effect  string
		rule    string
		outcome string
	}{
		{`{"kind":"sql","environment":"production","connection":"prod-db","actor":{"user":"alice"},"sql":"DELETE FROM users WHERE true"}`, "deny", "sql.all-rows-write", "denied"},
		{`{"kind":"sql","environment":"production","actor":{"user":"alice"},"sql":"ALTER ROLE bob SUPERUSER"}`, "review", "sql.privilege-escalation", "pending"},
		{`{"kind":"sql","environment":"production","sql":"SELECT 'DROP TABLE users'"}`, "allow", "", "success"},
	}
	for _, c := range cases {
		before := e.size()
		r := e.do("POST", "/v1/decide", e.user, []byte(c.body))
		if r.status != http.StatusOK {
			t.Fatalf("%s: status %d %s", c.body, r.status, r.body)
		}
		var d struct {
			Effect string
			Rules  []struct{ ID string }
		}
		if err := json.Unmarshal(r.body, &d); err != nil {
			t.Fatal(err)
		}
		if d.Effect != c.effect || (c.rule != "" && (len(d.Rules) == 0 || d.Rules[0].ID != c.rule)) {
			t.Errorf("%s: decision %s; want %s by %q", c.body, r.body, c.effect, c.rule)
		}
		if e.size() != before+1 {
			t.Fatalf("decision not recorded: log grew by %d", e.size()-before)
		}
		ev := e.last()
		if ev.Source != "vigil/decide" || ev.Outcome != c.outcome || ev.Decision == nil || ev.Decision.Effect != c.effect {
			t.Errorf("recorded %+v (decision %+v); want outcome %s effect %s", ev, ev.Decision, c.outcome, c.effect)
		}
	}
	// The caller becomes the actor when the action names none.
	if ev := e.last(); ev.Actor.User != "user-ugo" {
		t.Errorf("actor %q; want the token's user", ev.Actor.User)
	}
	e.do("POST", "/v1/decide", e.user, []byte(`{"kind":"ftp","sql":"x"}`)).wantError(t, 400,
		`field kind: must be sql, shell, kubernetes, aws or terraform (got "ftp")`)
	e.do("POST", "/v1/decide", e.user, []byte(`{"kind":"sql","sequel":"x"}`)).wantError(t, 400,
		`request body is not an action: unknown field "sequel"`)
	if r := e.do("POST", "/v1/decide", "", []byte(`{}`)); r.status != 401 {
		t.Errorf("no token: status %d", r.status)
	}
}
