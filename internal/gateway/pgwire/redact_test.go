package pgwire

import (
	"strings"
	"testing"

	sqlclass "github.com/vigil-audit/vigil/internal/classify/sql"
)

// TestRedactSQL: no literal survives redaction, whether the normalizer
// replaces it or leaves it (utility statements, comments); text that does
// not parse is withheld whole.
func TestRedactSQL(t *testing.T) {
	const secret = "hunter2"
	cases := []struct {
		sql, want string // want "" means: only check that the secret is gone
	}{
		{"SELECT * FROM t WHERE x = 'hunter2' LIMIT 5", "SELECT * FROM t WHERE x = $1 LIMIT $2"},
		{"INSERT INTO t VALUES ('hunter2', 42, 1.5, B'101', E'x\\'hunter2', U&'d\\0061thunter2', $q$hunter2$q$)",
			"INSERT INTO t VALUES ($1, $2, $3, $4, $5, $6, $7)"},
		{"ALTER ROLE x WITH PASSWORD 'hunter2'", "ALTER ROLE x WITH PASSWORD $1"},
		{"SELECT 1 /* password=hunter2 */ FROM t -- hunter2\n", ""},
		{"COMMENT ON TABLE t IS 'hunter2'", "COMMENT ON TABLE t IS $1"},
		{"CREATE SERVER s FOREIGN DATA WRAPPER postgres_fdw OPTIONS (host 'hunter2')", ""},
		{"COPY t FROM '/tmp/hunter2'", "COPY t FROM $1"},
		{"PREPARE p AS SELECT 'hunter2'; EXECUTE p('hunter2')", ""},
		{"CREATE TABLE t2 (a text DEFAULT 'hunter2', b int DEFAULT 1234)", ""},
		{"ALTER SYSTEM SET foo = 'hunter2'", ""},
		{"CREATE DATABASE d WITH OWNER = 'hunter2'", ""},
		{"SECURITY LABEL FOR x ON TABLE t IS 'hunter2'", ""},
		{"DO $$ BEGIN PERFORM 'hunter2'; END $$", "DO $1"},
		{"SELECT '{hunter2}'::text[], X'DEADBEEF', 'a'\n'hunter2'", ""},
		{"SELECT $1, 'hunter2'", "SELECT $1, $2"},
		{"", ""},
	}
	for _, c := range cases {
		res, err := sqlclass.Classify(c.sql)
		if err != nil {
			t.Fatal(err)
		}
		for _, normalized := range []string{res.Normalized, ""} { // the classifier's, or computed here
			r := redactSQL(c.sql, normalized, res.Unparseable)
			if r.withheld {
				t.Errorf("%q: withheld; want a normalized text", c.sql)
				continue
			}
			if strings.Contains(r.text, secret) {
				t.Errorf("%q: redacted to %q, which holds the literal", c.sql, r.text)
			}
			if c.want != "" && r.text != c.want {
				t.Errorf("%q: redacted to %q; want %q", c.sql, r.text, c.want)
			}
		}
	}
	for _, bad := range []string{"SELEC 'hunter2'", "SELECT 'hunter2", "SELECT 1 /* hunter2", "INSERT INTO t VALUES ('hunter2'"} {
		res, _ := sqlclass.Classify(bad)
		for _, u := range []bool{res.Unparseable, false} { // by the classifier's verdict, or found here
			r := redactSQL(bad, "", u)
			if !r.withheld || r.text != withheldText {
				t.Errorf("%q: %+v; want withheld", bad, r)
			}
		}
	}
}
