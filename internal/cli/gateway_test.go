package cli_test

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/vigil-audit/vigil/internal/pgtest"
)

// TestServeGateway runs `vigil serve` with the PostgreSQL gateway configured
// in vigil.yaml: allowed statements reach the database, a DROP on the
// production connection is refused with 42501 and the table survives.
func TestServeGateway(t *testing.T) {
	bin := buildVigil(t)
	pg := pgtest.Shared(t)
	dsn := pg.NewDB(t)
	u, _ := url.Parse(dsn)
	dbname := strings.TrimPrefix(u.Path, "/")
	dir := t.TempDir()
	gwAddr := freeAddr(t)
	cfg := filepath.Join(t.TempDir(), "vigil.yaml")
	yaml := fmt.Sprintf(`data: %s
gateway:
  postgres: {listen: %s}
connections:
  - name: prod-db
    type: postgres
    environment: production
    upstream: {host: 127.0.0.1, port: %d, database: %s, user: postgres, sslmode: disable}
`, dir, gwAddr, pg.Port(), dbname)
	if err := os.WriteFile(cfg, []byte(yaml), 0o600); err != nil {
		t.Fatal(err)
	}
	code, tok, errs := run(t, "token", "create", "--config", cfg, "--user", "alice", "--role", "user")
	if code != 0 {
		t.Fatalf("token create: %s", errs)
	}
	httpAddr := freeAddr(t)
	cmd := startServeArgs(t, bin, httpAddr, "--config", cfg, "--http", httpAddr)
	defer stopServe(t, cmd)

	ctx := context.Background()
	direct, err := pgx.Connect(ctx, dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer direct.Close(ctx)
	if _, err := direct.Exec(ctx, `CREATE TABLE accounts (id int primary key, balance int); INSERT INTO accounts VALUES (1, 10), (2, 20)`); err != nil {
		t.Fatal(err)
	}
	conn, err := pgx.Connect(ctx, fmt.Sprintf("postgres://alice:%s@%s/prod-db?sslmode=disable", url.QueryEscape(strings.TrimSpace(tok)), gwAddr))
	if err != nil {
		t.Fatalf("connect through the gateway: %v", err)
	}
	defer conn.Close(ctx)
	var sum int
	if err := conn.QueryRow(ctx, `SELECT sum(balance) FROM accounts WHERE id = ANY($1)`, []int{1, 2}).Scan(&sum); err != nil || sum != 30 {
		t.Fatalf("select through the gateway: %d, %v", sum, err)
	}
	_, err = conn.Exec(ctx, `DROP TABLE accounts`)
	var pgErr *pgconn.PgError
	if !errors.As(err, &pgErr) || pgErr.Code != "42501" || !strings.Contains(pgErr.Message, "sql.drop") {
		t.Fatalf("DROP through the gateway: %v; want 42501 naming sql.drop", err)
	}
	var n int
	if err := direct.QueryRow(ctx, `SELECT count(*) FROM accounts`).Scan(&n); err != nil || n != 2 {
		t.Fatalf("the table after the refused DROP: %d rows, %v", n, err)
	}
}
