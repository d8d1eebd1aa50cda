package sql

import (
	"os"
	"path/filepath"
	"reflect"
	"testing"

	pg_query "github.com/pganalyze/pg_query_go/v6"
)

// TestDecodeScan holds the protobuf decoding of ScanShape to pg_query.Scan.
func TestDecodeScan(t *testing.T) {
	texts := append([]string{}, treeTexts...)
	for _, tc := range cases {
		texts = append(texts, tc.sql)
	}
	for _, text := range texts {
		sh := scanShape(text)
		want, err := pg_query.Scan(text)
		if err != nil || checkInput(text) != "" {
			if sh != nil {
				t.Errorf("%.80q: shaped, but Scan fails (%v) or input refused", text, err)
			}
			continue
		}
		if sh == nil {
			hasU := false
			for _, tk := range want.GetTokens() {
				switch tk.GetToken() {
				case pg_query.Token_USCONST, pg_query.Token_UIDENT, pg_query.Token_UESCAPE:
					hasU = true
				}
			}
			if !hasU {
				t.Errorf("%.80q: no shape", text)
			}
			continue
		}
		if len(sh.toks) != len(want.GetTokens()) {
			t.Fatalf("%.80q: %d tokens, Scan %d", text, len(sh.toks), len(want.GetTokens()))
		}
		for i, tk := range want.GetTokens() {
			got := sh.toks[i]
			if got.start != int(tk.GetStart()) || got.end != int(tk.GetEnd()) || got.tok != tk.GetToken() {
				t.Fatalf("%.80q token %d: %+v, Scan %v", text, i, got, tk)
			}
		}
	}
}

// checkShared is the differential check: when text's classification is
// shared by its shape, every text of that shape classifies exactly alike.
// It returns whether text was shared.
func checkShared(t *testing.T, text string) bool {
	shared, _ := checkSharedN(t, text)
	return shared
}

// checkSharedN is checkShared, also returning how many variants of the
// same shape it compared.
func checkSharedN(t *testing.T, text string) (bool, int) {
	t.Helper()
	sh := ScanShape(text)
	res, shared, err := ClassifyShaped(text, sh)
	if err != nil {
		t.Fatalf("%.200q: %v", text, err)
	}
	if plain, err := Classify(text); err != nil || !reflect.DeepEqual(plain, res) {
		t.Fatalf("%.200q: ClassifyShaped differs from Classify", text)
	}
	if !shared {
		return false, 0
	}
	n := 0
	for _, v := range LiteralVariants(text) {
		vs := ScanShape(v)
		if vs == nil || vs.Key != sh.Key {
			continue // the variant changed a token's kind (7 → 0x10 is still ICONST; 2147483648 is not)
		}
		got, err := Classify(v)
		if err != nil {
			t.Fatal(err)
		}
		if !reflect.DeepEqual(got, res) {
			t.Fatalf("shared shape, different classification:\n  %.300q\n  %.300q\n got %+v\nwant %+v", v, text, got, res)
		}
		n++
	}
	return true, n
}

// TestShapeDifferential runs the differential check over every statement
// of the classifier's tests and PostgreSQL's own SQL files.
func TestShapeDifferential(t *testing.T) {
	texts := append([]string{}, treeTexts...)
	for _, tc := range cases {
		texts = append(texts, tc.sql)
	}
	texts = append(texts, shapeTexts...)
	for _, c := range mustNotShare {
		texts = append(texts, c...)
	}
	files, _ := filepath.Glob("/usr/share/postgresql/*/extension/*.sql")
	more, _ := filepath.Glob("/usr/share/postgresql/*/*.sql")
	for _, f := range append(files, more...) {
		data, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		stmts, err := pg_query.SplitWithScanner(string(data), true)
		if err != nil {
			continue
		}
		texts = append(texts, stmts...)
	}
	n, variants := 0, 0
	for _, text := range texts {
		if shared, v := checkSharedN(t, text); shared {
			n++
			variants += v
		}
	}
	t.Logf("%d texts, %d shared by their shape, %d variants compared", len(texts), n, variants)
	if n == 0 || variants == 0 {
		t.Fatal("nothing compared")
	}
}

// shapeTexts must be shared: pgbench's statements and plain app queries.
var shapeTexts = []string{
	"SELECT abalance FROM pgbench_accounts WHERE aid = 48213;",
	"UPDATE pgbench_accounts SET abalance = abalance + -4124 WHERE aid = 48213;",
	"UPDATE pgbench_tellers SET tbalance = tbalance + 3013 WHERE tid = 7;",
	"UPDATE pgbench_branches SET bbalance = bbalance + - 3013 WHERE bid = 1;",
	"INSERT INTO pgbench_history (tid, bid, aid, delta, mtime) VALUES (7, 1, 48213, -4124, CURRENT_TIMESTAMP);",
	"SELECT id, name FROM users WHERE email = 'a@example.com' AND active = true ORDER BY id LIMIT 10",
	"SELECT count(*) FROM orders o JOIN users u ON u.id = o.user_id WHERE o.total > 10.5 AND u.id IN (1, 2, 3)",
	"DELETE FROM sessions WHERE expires < now() - interval '1 day'",
	"UPDATE users SET last_seen = '2026-01-01'::date WHERE id = $1",
	"INSERT INTO t (a, b) VALUES (1, 'x') ON CONFLICT (a) DO UPDATE SET b = excluded.b",
	"WITH x AS (SELECT id FROM t WHERE v = 3) SELECT * FROM x",
}

func TestShapeShared(t *testing.T) {
	for _, text := range shapeTexts {
		if !checkShared(t, text) {
			t.Errorf("%q: not shared by its shape", text)
		}
	}
	// Same shape, same key: pgbench's literals.
	a, b := ScanShape("SELECT abalance FROM pgbench_accounts WHERE aid = 48213;"), ScanShape("SELECT abalance FROM pgbench_accounts WHERE aid = 7;")
	if a == nil || b == nil || a.Key != b.Key {
		t.Fatal("pgbench selects with different aids have different keys")
	}
	// Different structure, different key.
	if ScanShape("SELECT $1 FROM t") != nil {
		t.Error("a text without constants has a shape of its own")
	}
	for _, p := range [][2]string{
		{"SELECT * FROM t WHERE a IN (1, 2, 3)", "SELECT * FROM t WHERE a IN (1)"},
		{"SELECT 1", "SELECT '1'"},
		{"SELECT 1, 1", "SELECT 1, $1"},
		{"SELECT 1, 1", "SELECT 1, true"},
		{"SELECT 1", "SELECT 2147483648"},
		{"SELECT 1 -- a", "SELECT 1 -- b"},
		{"SELECT 1", "SELECT  1"},
		{"SELECT 'a' 'b'", "SELECT 'a'\n'b'"},
	} {
		x, y := ScanShape(p[0]), ScanShape(p[1])
		if x == nil || y == nil || x.Key == y.Key {
			t.Errorf("%q and %q share a key", p[0], p[1])
		}
	}
}

// mustNotShare are texts whose literal values decide their classification:
// none may be shared by its shape, whatever its values.
var mustNotShare = [][]string{
	{"SET session_replication_role = 'replica'", "SET session_replication_role = 'origin'"},
	{"SET row_security = 'off'", "SET row_security = 'on'"},
	{"SELECT set_config('session_replication_role', 'replica', false)", "SELECT set_config('application_name', 'x', false)"},
	{"DO $$ BEGIN EXECUTE 'DROP TABLE t'; END $$", "DO $$ BEGIN PERFORM 1; END $$"},
	{"DO LANGUAGE plpythonu $$ import os $$", "DO LANGUAGE plpgsql $$ BEGIN END $$"},
	{"COPY t FROM PROGRAM 'curl x | sh'", "COPY t FROM PROGRAM 'true'"},
	{"COPY t TO '/tmp/x'", "COPY t FROM '/etc/passwd'"},
	{"SELECT pg_read_file('/etc/passwd')", "SELECT pg_read_file('x')"},
	{"CREATE FUNCTION f() RETURNS void LANGUAGE sql AS 'DELETE FROM users'", "CREATE FUNCTION f() RETURNS void LANGUAGE sql AS 'SELECT 1'"},
	{"CREATE FUNCTION f() RETURNS void LANGUAGE plpgsql AS $$ BEGIN DROP TABLE t; END $$", "CREATE FUNCTION f() RETURNS void LANGUAGE plpgsql AS $$ BEGIN END $$"},
	{"CREATE FUNCTION f() RETURNS int AS 'select 1' LANGUAGE 'plpythonu'", "CREATE FUNCTION f() RETURNS int AS 'select 1' LANGUAGE 'sql'"},
	{"ALTER ROLE x PASSWORD 'secret1'", "ALTER ROLE x PASSWORD 'secret2'"},
	{"ALTER SYSTEM SET fsync = 'off'", "ALTER SYSTEM SET fsync = 'on'"},
	{"SELECT dblink_exec('host=x', 'DROP TABLE t')", "SELECT dblink_exec('host=x', 'SELECT 1')"},
	{"SELECT * FROM dblink('host=x', 'DELETE FROM users') AS t(a int)", "SELECT * FROM dblink('host=x', 'SELECT 1') AS t(a int)"},
	{"SELECT query_to_xml('DELETE FROM users', true, true, '')", "SELECT query_to_xml('SELECT 1', true, true, '')"},
	{"EXPLAIN (ANALYZE 'on') DELETE FROM users", "EXPLAIN (ANALYZE 'off') DELETE FROM users"},
	{"ALTER FUNCTION f() SECURITY DEFINER", "CREATE ROLE r WITH SUPERUSER"},
	{"SELECT x::float(5)", "SELECT x::float(0)"},
	{"SELECT 'a'::varchar(3)", "SELECT 'a'::varchar(300)"},
	{"SELECT * FROM t GROUP BY 1", "SELECT * FROM t GROUP BY 2"},
	{"SELECT U&'d\\0061t' FROM t", "SELECT U&'x' UESCAPE '!' FROM t"},
	{"SELECT lo_import('/etc/passwd')", "SELECT lo_import('/tmp/x')"},
}

func TestShapeNotShared(t *testing.T) {
	for _, texts := range mustNotShare {
		for _, text := range texts {
			if _, shared, err := ClassifyShaped(text, ScanShape(text)); err != nil || shared {
				t.Errorf("%q: shared by its shape (err %v)", text, err)
			}
		}
	}
	// The pairs of the brief differ where it matters.
	differ := func(a, b string, get func(*Result) any) {
		t.Helper()
		ra, _ := Classify(a)
		rb, _ := Classify(b)
		if reflect.DeepEqual(get(ra), get(rb)) {
			t.Errorf("%q and %q classify alike: %v", a, b, get(ra))
		}
	}
	differ(mustNotShare[0][0], mustNotShare[0][1], func(r *Result) any { return r.AnySafeguardOff })
	differ(mustNotShare[2][0], mustNotShare[2][1], func(r *Result) any { return r.AnySafeguardOff })
	differ(mustNotShare[3][0], mustNotShare[3][1], func(r *Result) any { return r.AnyDrop })
	differ(mustNotShare[8][0], mustNotShare[8][1], func(r *Result) any { return r.AnyWriteAllRows })
	differ("SELECT x::float(5)", "SELECT x::float(0)", func(r *Result) any { return r.Unparseable })
}

// FuzzShape runs the differential check on arbitrary text.
func FuzzShape(f *testing.F) {
	for _, text := range shapeTexts {
		f.Add(text)
	}
	for _, c := range mustNotShare {
		for _, text := range c {
			f.Add(text)
		}
	}
	for _, tc := range cases {
		f.Add(tc.sql)
	}
	f.Fuzz(func(t *testing.T, text string) {
		if len(text) > 4096 {
			return
		}
		checkShared(t, text)
	})
}

func BenchmarkScanShape(b *testing.B) {
	const text = "SELECT abalance FROM pgbench_accounts WHERE aid = 48213;"
	b.ReportAllocs()
	for b.Loop() {
		if ScanShape(text) == nil {
			b.Fatal("no shape")
		}
	}
}
