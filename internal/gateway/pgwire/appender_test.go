package pgwire

import (
	"testing"

	"github.com/vigil-audit/vigil/internal/classify"
	sqlclass "github.com/vigil-audit/vigil/internal/classify/sql"
)

func TestPlainRead(t *testing.T) {
	reads := []string{
		"SELECT abalance FROM pgbench_accounts WHERE aid = 1",
		"select abalance from pgbench_accounts where aid = $1;",
		"SELECT count(*), max(id) FROM t",
		"SELECT 1; SELECT 2",
		"SELECT x FROM t JOIN u USING (id) WHERE y IN (SELECT z FROM w)",
		"WITH a AS (SELECT 1) SELECT * FROM a",
		"SELECT lower(v), pg_catalog.upper(v), substring(v from 2) FROM t",
		"TABLE t",
	}
	writes := []string{
		"SELECT * FROM t FOR UPDATE",
		"select * from t for share",
		"SELECT 1 FROM t/**/FOR/**/UPDATE",
		"SELECT 1 FROM t\nFor No Key Update",
		"SELECT * INTO x FROM t",
		"SELECT nextval('s')",
		"SELECT pg_advisory_lock(1)",
		"SELECT txid_current()",
		"SELECT 1; DELETE FROM t",
		"WITH d AS (DELETE FROM t RETURNING *) SELECT * FROM d",
		"UPDATE t SET v = 1 WHERE id = 2",
		"INSERT INTO t VALUES (1)",
		"BEGIN",
		"VALUES (1)",
		"EXPLAIN ANALYZE SELECT 1",
		"SELECT * FROM f()",
		"SELECT public.lower('a')",
		"SELEC 1",
		"",
		"SELECT set_config('a', 'b', false)",
		"SELECT lo_import('/etc/passwd')",
		"SELECT * FROM dblink('x', 'select 1') AS t(a int)",
		"COPY t TO STDOUT",
		"DECLARE c CURSOR FOR SELECT 1",
		"SHOW work_mem",
		"SET work_mem = '1GB'",
		"PREPARE p AS SELECT 1",
		"EXECUTE p",
		"CALL p()",
		"DO $$ BEGIN PERFORM 1; END $$",
	}
	attrs := func(sql string) map[string]any {
		r, err := sqlclass.Classify(sql)
		if err != nil {
			t.Fatal(err)
		}
		return map[string]any{"sql": classify.Attrs(r)}
	}
	for _, q := range reads {
		if !plainRead(q, attrs(q)) {
			t.Errorf("%q: not a plain read; want one", q)
		}
	}
	for _, q := range writes {
		if plainRead(q, attrs(q)) {
			t.Errorf("%q: a plain read; want a write", q)
		}
	}
	if plainRead("SELECT 1", nil) || plainRead("SELECT 1", map[string]any{}) {
		t.Error("no attributes: a plain read")
	}
}

func TestHasWord(t *testing.T) {
	for _, c := range []struct {
		s    string
		want bool
	}{
		{"for", true}, {"x FOR y", true}, {"1for", true}, {"a.for", true}, {"\"for\"", true},
		{"format", false}, {"information_schema", false}, {"fo r", false}, {"forr", false}, {"", false},
	} {
		if got := hasWord(c.s, "for"); got != c.want {
			t.Errorf("hasWord(%q) = %v", c.s, got)
		}
	}
}
