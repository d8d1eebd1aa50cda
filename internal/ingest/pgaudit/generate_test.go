package pgaudit

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/vigil-audit/vigil/internal/pgtest"
)

// TestGenerateRealFixture rewrites testdata/real.csv and testdata/real.json
// from a real PostgreSQL 15 with pgaudit (package postgresql-15-pgaudit). It
// runs only with PGAUDIT_GENERATE=1; the files it wrote are checked in and
// read by TestRealFixture.
func TestGenerateRealFixture(t *testing.T) {
	if os.Getenv("PGAUDIT_GENERATE") != "1" {
		t.Skip("set PGAUDIT_GENERATE=1 to regenerate testdata/real.*")
	}
	srv := pgtest.StartWith(t, pgtest.Options{NoFsync: true, ExtraConf: []string{
		"shared_preload_libraries=pgaudit",
		"log_destination=csvlog,jsonlog",
		"logging_collector=on",
		"log_directory=log",
		"log_filename=pg",
		"pgaudit.log=read,write,ddl,role,function,misc",
		"pgaudit.log_parameter=on",
		"pgaudit.role=auditor",
	}})
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, srv.DSN("postgres"))
	if err != nil {
		t.Fatal(err)
	}
	for _, sql := range []string{
		"CREATE ROLE auditor",
		"CREATE ROLE alice LOGIN",
		"CREATE TABLE account (id int, name text, password text)",
		"GRANT SELECT, INSERT, DELETE ON account TO alice",
		"GRANT SELECT (password) ON account TO auditor",
		"CREATE FUNCTION touch() RETURNS int LANGUAGE sql AS 'SELECT 1'",
	} {
		if _, err := conn.Exec(ctx, sql); err != nil {
			t.Fatalf("%s: %v", sql, err)
		}
	}
	conn.Close(ctx)

	cfg, _ := pgx.ParseConfig(strings.Replace(srv.DSN("postgres"), "postgres@", "alice@", 1))
	cfg.RuntimeParams["application_name"] = "psql"
	alice, err := pgx.ConnectConfig(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	for _, sql := range []string{
		"SELECT 1",
		"SELECT id, password FROM account WHERE name = 'x, \"y\"'",
		"INSERT INTO account VALUES (1, 'bob', 'secret')",
		"DELETE FROM account\nWHERE id = 1",
		"SELECT touch()",
		"SET search_path = public",
	} {
		if _, err := alice.Exec(ctx, sql); err != nil {
			t.Fatalf("%s: %v", sql, err)
		}
	}
	if _, err := alice.Exec(ctx, "SELECT name FROM account WHERE id = $1", 7); err != nil {
		t.Fatal(err)
	}
	alice.Exec(ctx, "DROP TABLE account") // fails: not the owner
	alice.Close(ctx)
	nobody, _ := pgx.ParseConfig(strings.Replace(srv.DSN("postgres"), "postgres@", "mallory@", 1))
	if c, err := pgx.ConnectConfig(ctx, nobody); err == nil { // role does not exist: FATAL 28000
		c.Close(ctx)
	}
	time.Sleep(500 * time.Millisecond) // the logging collector writes asynchronously

	logDir := filepath.Join(filepath.Dir(srv.LogPath()), "data", "log")
	for _, f := range []struct{ from, to string }{{"pg.csv", "real.csv"}, {"pg.json", "real.json"}} {
		b, err := os.ReadFile(filepath.Join(logDir, f.from))
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join("testdata", f.to), b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
}
