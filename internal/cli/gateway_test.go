package cli_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/vigil-audit/vigil/internal/pgtest"
)

// gatewayConfig writes a vigil.yaml with the PostgreSQL gateway and one
// production connection, prod-db, to a new database; extra is appended. It
// returns the file, the gateway's address and the database's DSN.
func gatewayConfig(t *testing.T, extra string) (cfg, gwAddr, dsn string) {
	t.Helper()
	pg := pgtest.Shared(t)
	dsn = pg.NewDB(t)
	u, _ := url.Parse(dsn)
	dbname := strings.TrimPrefix(u.Path, "/")
	gwAddr = freeAddr(t)
	cfg = filepath.Join(t.TempDir(), "vigil.yaml")
	yaml := fmt.Sprintf(`data: %s
gateway:
  postgres: {listen: %s}
connections:
  - name: prod-db
    type: postgres
    environment: production
    upstream: {host: 127.0.0.1, port: %d, database: %s, user: postgres, sslmode: disable}
`, t.TempDir(), gwAddr, pg.Port(), dbname) + extra
	if err := os.WriteFile(cfg, []byte(yaml), 0o600); err != nil {
		t.Fatal(err)
	}
	return cfg, gwAddr, dsn
}

// TestServeGateway runs `vigil serve` with the PostgreSQL gateway configured
// in vigil.yaml: allowed statements reach the database, a DROP on the
// production connection is refused with 42501 and the table survives. The
// client connects with sslmode=require: serve made a self-signed certificate.
func TestServeGateway(t *testing.T) {
	bin := buildVigil(t)
	cfg, gwAddr, dsn := gatewayConfig(t, "")
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
	conn, err := pgx.Connect(ctx, fmt.Sprintf("postgres://alice:%s@%s/prod-db?sslmode=require", url.QueryEscape(strings.TrimSpace(tok)), gwAddr))
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

// TestServeGatewayReview is the review round trip through `vigil serve`: a
// statement the policy sends to review is refused with 42501 naming a review;
// the requester cannot approve it, nor can a user without an approver role;
// two approvers (reviews.approvers: 2) approve it with `vigil review
// approve`; then the same statement from the same user runs, while another
// user, or another statement, still needs a review of its own.
func TestServeGatewayReview(t *testing.T) {
	bin := buildVigil(t)
	cfg, gwAddr, dsn := gatewayConfig(t, "reviews:\n  approvers: 2\n  window: 10m\n")
	tokens := map[string]string{}
	for _, ur := range [][2]string{{"alice", "user"}, {"mallory", "user"}, {"carol", "admin"}, {"dave", "admin"}} {
		code, tok, errs := run(t, "token", "create", "--config", cfg, "--user", ur[0], "--role", ur[1])
		if code != 0 {
			t.Fatalf("token create: %s", errs)
		}
		tokens[ur[0]] = strings.TrimSpace(tok)
	}
	httpAddr := freeAddr(t)
	cmd := startServeArgs(t, bin, httpAddr, "--config", cfg, "--http", httpAddr)
	defer stopServe(t, cmd)
	server := "http://" + httpAddr

	ctx := context.Background()
	direct, err := pgx.Connect(ctx, dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer direct.Close(ctx)
	if _, err := direct.Exec(ctx, `CREATE TABLE accounts (id int primary key, balance int, note text); INSERT INTO accounts VALUES (1, 10, 'x')`); err != nil {
		t.Fatal(err)
	}
	connect := func(user string) *pgx.Conn {
		c, err := pgx.Connect(ctx, fmt.Sprintf("postgres://%s:%s@%s/prod-db?sslmode=disable", user, url.QueryEscape(tokens[user]), gwAddr))
		if err != nil {
			t.Fatalf("connect as %s: %v", user, err)
		}
		return c
	}
	// Closed before serve is stopped, which waits for open sessions.
	alice, mallory := connect("alice"), connect("mallory")
	defer alice.Close(ctx)
	defer mallory.Close(ctx)
	const stmt = `ALTER TABLE accounts DROP COLUMN note`
	refusedReviewBy := func(c *pgx.Conn, sql, rule string) string {
		t.Helper()
		_, err := c.Exec(ctx, sql)
		var pgErr *pgconn.PgError
		if !errors.As(err, &pgErr) || pgErr.Code != "42501" || !strings.Contains(pgErr.Message, rule) {
			t.Fatalf("%s: %v; want 42501 naming %s", sql, err, rule)
		}
		i := strings.Index(pgErr.Message, "(review ")
		if i < 0 || !strings.Contains(pgErr.Hint, "vigil review approve") {
			t.Fatalf("refusal names no review: %q, hint %q", pgErr.Message, pgErr.Hint)
		}
		id, _, _ := strings.Cut(pgErr.Message[i+len("(review "):], ")")
		return id
	}
	refusedReview := func(c *pgx.Conn, sql string) string {
		t.Helper()
		return refusedReviewBy(c, sql, "sql.drop-column")
	}
	columns := func() int {
		var n int
		if err := direct.QueryRow(ctx, `SELECT count(*) FROM information_schema.columns WHERE table_name = 'accounts'`).Scan(&n); err != nil {
			t.Fatal(err)
		}
		return n
	}

	id := refusedReview(alice, stmt)
	if again := refusedReview(alice, "alter table ACCOUNTS drop column note"); again != id {
		t.Fatalf("the same statement, spelt differently, opened review %s besides %s", again, id)
	}
	review := func(user string, args ...string) (int, string, string) {
		return run(t, append(append([]string{"review"}, args...), "--server", server, "--token", tokens[user])...)
	}
	code, out, errs := review("carol", "list", "--status", "pending")
	if code != 0 || !strings.Contains(out, id) || !strings.Contains(out, "alice") || !strings.Contains(out, "0/2") {
		t.Fatalf("review list: exit %d\n%s%s", code, out, errs)
	}
	code, out, _ = review("mallory", "list")
	if code != 0 || strings.Contains(out, id) {
		t.Fatalf("mallory (no approver role) sees alice's review:\n%s", out)
	}
	for _, who := range []string{"alice", "mallory"} {
		if code, _, errs := review(who, "approve", id); code == 0 || !strings.Contains(errs, "403") {
			t.Fatalf("%s approved the review: exit %d, %s", who, code, errs)
		}
	}
	if code, out, errs := review("carol", "approve", id, "--comment", "ticket OPS-7"); code != 0 || !strings.Contains(out, "approvals: 1 of 2") {
		t.Fatalf("carol approves: exit %d\n%s%s", code, out, errs)
	}
	refusedReview(alice, stmt) // one approval of two
	if code, out, errs := review("dave", "approve", id); code != 0 || !strings.Contains(out, "approved") {
		t.Fatalf("dave approves: exit %d\n%s%s", code, out, errs)
	}
	if n := columns(); n != 3 {
		t.Fatalf("approval alone changed the table: %d columns", n)
	}

	// Only alice's statement is approved, on this connection.
	other := refusedReview(mallory, stmt)
	if other == id {
		t.Fatalf("mallory's statement reuses alice's review %s", id)
	}
	if refusedReview(alice, `ALTER TABLE accounts DROP COLUMN balance`) == id {
		t.Fatal("another statement reuses the approved review")
	}
	if _, err := alice.Exec(ctx, stmt); err != nil {
		t.Fatalf("the approved statement: %v", err)
	}
	if n := columns(); n != 2 {
		t.Fatalf("after the approved statement: %d columns, want 2", n)
	}
	// A statement whose literal decides what it does: approving SET ROLE
	// reporting approves that text, not SET ROLE postgres, which has the
	// same fingerprint.
	if _, err := direct.Exec(ctx, `CREATE ROLE reporting`); err != nil {
		t.Fatal(err)
	}
	roleID := refusedReviewBy(alice, `SET ROLE reporting`, "sql.privilege-escalation")
	for _, approver := range []string{"carol", "dave"} {
		if code, _, errs := review(approver, "approve", roleID); code != 0 {
			t.Fatalf("%s approves %s: %s", approver, roleID, errs)
		}
	}
	if _, err := alice.Exec(ctx, `SET ROLE reporting`); err != nil {
		t.Fatalf("the approved SET ROLE reporting: %v", err)
	}
	if _, err := alice.Exec(ctx, `RESET ROLE`); err != nil {
		t.Fatal(err)
	}
	if again := refusedReviewBy(alice, `SET ROLE postgres`, "sql.privilege-escalation"); again == roleID {
		t.Fatal("SET ROLE postgres ran under the review of SET ROLE reporting")
	}
	var who string
	if err := alice.QueryRow(ctx, `SELECT current_user`).Scan(&who); err != nil || who != "postgres" {
		t.Fatalf("current_user %q, %v", who, err)
	}

	if code, _, errs := review("carol", "deny", other, "--comment", "no"); code != 0 {
		t.Fatalf("carol denies: %s", errs)
	}
	if code, _, errs := review("dave", "approve", other); code == 0 || !strings.Contains(errs, "409") {
		t.Fatalf("approving a denied review: exit %d, %s", code, errs)
	}

	// The whole story is in the audit log, read back through the API: the
	// review events, and the statement's intents (refused, then allowed by
	// the review) carrying the review id.
	events := func(query string) []map[string]any {
		req, _ := http.NewRequest("GET", server+"/v1/events?limit=1000&"+query, nil)
		req.Header.Set("Authorization", "Bearer "+tokens["carol"])
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var body struct{ Events []map[string]any }
		if err := json.NewDecoder(resp.Body).Decode(&body); err != nil || resp.StatusCode != 200 {
			t.Fatalf("GET /v1/events?%s: %d, %v", query, resp.StatusCode, err)
		}
		return body.Events
	}
	var story []string
	for _, ev := range events("source=vigil/review") {
		actor, _ := ev["actor"].(map[string]any)
		story = append(story, fmt.Sprintf("%s:%s", actor["user"], ev["action"]))
	}
	want := "alice:review.request carol:review.approve dave:review.approve mallory:review.request alice:review.request " +
		"alice:review.request carol:review.approve dave:review.approve alice:review.request carol:review.deny" // SET ROLE reporting, then postgres
	if got := strings.Join(story, " "); got != want {
		t.Fatalf("review events:\n got %s\nwant %s", got, want)
	}
	var outcomes []string
	for _, ev := range events("source=gateway/postgres&actor=alice&action=ALTER+TABLE") {
		dec, _ := ev["decision"].(map[string]any)
		if dec["review_id"] == id {
			outcomes = append(outcomes, fmt.Sprintf("%s/%s", ev["outcome"], dec["effect"]))
		}
	}
	// refused twice (two spellings), once more after one approval, then run.
	if got := strings.Join(outcomes, " "); got != "pending/review pending/review pending/review success/allow" {
		t.Fatalf("alice's intents under review %s: %s", id, got)
	}
}
