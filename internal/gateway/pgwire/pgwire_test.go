package pgwire_test

import (
	"bytes"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/vigil-audit/vigil/internal/auditlog"
	"github.com/vigil-audit/vigil/internal/auth"
	"github.com/vigil-audit/vigil/internal/event"
	"github.com/vigil-audit/vigil/internal/gateway/pgwire"
	"github.com/vigil-audit/vigil/internal/pgtest"
	"github.com/vigil-audit/vigil/internal/policy"
	"github.com/vigil-audit/vigil/internal/policy/builtin"
	"github.com/vigil-audit/vigil/internal/store"
	"github.com/vigil-audit/vigil/internal/store/sqlite"
)

func TestMain(m *testing.M) { os.Exit(pgtest.Main(m)) }

type env struct {
	t      testing.TB
	st     store.Store
	log    *auditlog.Log
	srv    *pgwire.Server
	port   int
	direct string // DSN of the upstream database
	alice  string // token of alice (role user)
	bob    string // token of bob
	logs   *syncBuffer
}

type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.Write(p)
}

// newEnv starts a gateway in front of a fresh database, as connection "prod"
// (environment production), in the strict audit mode.
func newEnv(t testing.TB) *env {
	t.Helper()
	return newEnvWith(t, envOptions{audit: pgwire.AuditStrict})
}

type envOptions struct {
	audit string
	// wrap, when set, wraps the audit log's store.
	wrap func(store.Store) store.Store
	// pg, when set, is the PostgreSQL server to use instead of the shared one.
	pg *pgtest.Server
	// more are further connections to the same database: name -> audit mode.
	more map[string]string
	// auth is the gateway's client authentication (Config.Auth).
	auth string
	// tls is offered to clients (Config.TLS).
	tls *tls.Config
	// conns, when set, may change the connections before the gateway starts.
	conns func(map[string]pgwire.Connection)
}

func newEnvWith(t testing.TB, o envOptions) *env {
	t.Helper()
	ctx := context.Background()
	pg := o.pg
	if pg == nil {
		pg = pgtest.Shared(t)
	}
	direct := pg.NewDB(t)
	dir := t.TempDir()
	var st store.Store
	st, err := sqlite.Open(ctx, filepath.Join(dir, "vigil.db"))
	if err != nil {
		t.Fatal(err)
	}
	if o.wrap != nil {
		st = o.wrap(st)
	}
	s, v, err := auditlog.LoadOrCreateKey(dir, "test.vigil/pgwire")
	if err != nil {
		t.Fatal(err)
	}
	l, err := auditlog.Open(ctx, auditlog.Options{Store: st, Signer: s, Verifier: v})
	if err != nil {
		t.Fatal(err)
	}
	e := &env{t: t, st: st, log: l, direct: direct, logs: &syncBuffer{}}
	if e.alice, err = auth.Create(ctx, st, "alice", auth.RoleUser); err != nil {
		t.Fatal(err)
	}
	if e.bob, err = auth.Create(ctx, st, "bob", auth.RoleUser); err != nil {
		t.Fatal(err)
	}
	rs, err := builtin.Load()
	if err != nil {
		t.Fatal(err)
	}
	eng := policy.NewEngine(rs, policy.Defaults{})
	policy.RegisterClassifiers(eng)

	pc, err := pgconn.ParseConfig(direct)
	if err != nil {
		t.Fatal(err)
	}
	up := pgwire.Upstream{Host: pc.Host, Port: int(pc.Port), Database: pc.Database, User: pc.User, Password: pc.Password, SSLMode: "disable"}
	cfg := pgwire.Config{Connections: map[string]pgwire.Connection{
		"prod": {Name: "prod", Environment: "production", Upstream: up, Audit: o.audit},
	}}
	for name, mode := range o.more {
		cfg.Connections[name] = pgwire.Connection{Name: name, Environment: "production", Upstream: up, Audit: mode}
	}
	cfg.Auth, cfg.TLS = o.auth, o.tls
	if o.conns != nil {
		o.conns(cfg.Connections)
	}
	e.srv = pgwire.New(cfg, pgwire.Deps{Log: l, Auth: auth.NewAuthenticator(st), Policy: eng,
		Logger: slog.New(slog.NewTextHandler(e.logs, &slog.HandlerOptions{Level: slog.LevelDebug}))})
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	e.port = ln.Addr().(*net.TCPAddr).Port
	served := make(chan error, 1)
	go func() { served <- e.srv.Serve(ln) }()
	t.Cleanup(func() {
		sctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if err := e.srv.Shutdown(sctx); err != nil {
			t.Errorf("shutdown: %v", err)
		}
		if err := <-served; !errors.Is(err, pgwire.ErrServerClosed) {
			t.Errorf("serve: %v", err)
		}
		l.Close()
		st.Close()
		if t.Failed() {
			t.Logf("gateway log:\n%s", e.logs.b.String())
		}
	})
	return e
}

func (e *env) dsn(user, token, conn string) string {
	return fmt.Sprintf("postgres://%s:%s@127.0.0.1:%d/%s?sslmode=disable", user, token, e.port, conn)
}

func (e *env) connect(mode pgx.QueryExecMode) *pgx.Conn {
	e.t.Helper()
	cfg, err := pgx.ParseConfig(e.dsn("alice", e.alice, "prod"))
	if err != nil {
		e.t.Fatal(err)
	}
	cfg.DefaultQueryExecMode = mode
	c, err := pgx.ConnectConfig(context.Background(), cfg)
	if err != nil {
		e.t.Fatal(err)
	}
	e.t.Cleanup(func() { c.Close(context.Background()) })
	return c
}

func (e *env) directConn() *pgx.Conn {
	e.t.Helper()
	c, err := pgx.Connect(context.Background(), e.direct)
	if err != nil {
		e.t.Fatal(err)
	}
	e.t.Cleanup(func() { c.Close(context.Background()) })
	return c
}

func (e *env) count(table string) int {
	e.t.Helper()
	var n int
	if err := e.directConn().QueryRow(context.Background(), "SELECT count(*) FROM "+table).Scan(&n); err != nil {
		e.t.Fatal(err)
	}
	return n
}

// events returns every event in the audit log.
func (e *env) events() []*event.Event {
	e.t.Helper()
	var out []*event.Event
	err := e.st.ScanEntries(context.Background(), 0, func(en *store.Entry) error {
		ev, err := event.Decode(en.Payload)
		if err != nil {
			return err
		}
		out = append(out, ev)
		return nil
	})
	if err != nil {
		e.t.Fatal(err)
	}
	return out
}

// waitEvents polls the log until cond holds.
func (e *env) waitEvents(cond func([]*event.Event) bool) []*event.Event {
	e.t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		evs := e.events()
		if cond(evs) || time.Now().After(deadline) {
			return evs
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func sqlstate(err error) string {
	var pe *pgconn.PgError
	if errors.As(err, &pe) {
		return pe.Code
	}
	return ""
}

func setupTable(t testing.TB, e *env) {
	t.Helper()
	_, err := e.directConn().Exec(context.Background(),
		"CREATE TABLE t (id int PRIMARY KEY, v text); INSERT INTO t SELECT g, 'v' || g FROM generate_series(1, 10) g")
	if err != nil {
		t.Fatal(err)
	}
}

var modes = []struct {
	name string
	mode pgx.QueryExecMode
}{
	{"simple", pgx.QueryExecModeSimpleProtocol},
	{"extended", pgx.QueryExecModeCacheStatement},
	{"describe", pgx.QueryExecModeDescribeExec},
}

// TestAllowed: ordinary work through the gateway, in both protocols.
func TestAllowed(t *testing.T) {
	e := newEnv(t)
	setupTable(t, e)
	ctx := context.Background()
	for i, m := range modes {
		t.Run(m.name, func(t *testing.T) {
			c := e.connect(m.mode)
			var v string
			if err := c.QueryRow(ctx, "SELECT v FROM t WHERE id = $1", 3).Scan(&v); err != nil || v != "v3" {
				t.Fatalf("select: %q %v", v, err)
			}
			tag, err := c.Exec(ctx, "UPDATE t SET v = $1 WHERE id = $2", "x-"+m.name, 4)
			if err != nil || tag.RowsAffected() != 1 {
				t.Fatalf("update: %v %v", tag, err)
			}
			rows, _ := c.Query(ctx, "SELECT id FROM t WHERE id <= $1 ORDER BY id", 5)
			ids, err := pgx.CollectRows(rows, pgx.RowTo[int32])
			if err != nil || len(ids) != 5 || ids[4] != 5 {
				t.Fatalf("rows: %v %v", ids, err)
			}
			// A failing statement is relayed with its SQLSTATE and the session goes on.
			if _, err := c.Exec(ctx, "SELECT 1/0"); sqlstate(err) != "22012" {
				t.Fatalf("1/0: %v", err)
			}
			tx, err := c.Begin(ctx)
			if err != nil {
				t.Fatal(err)
			}
			if _, err := tx.Exec(ctx, "INSERT INTO t VALUES ($1, 'tx')", 100+i); err != nil {
				t.Fatal(err)
			}
			if s := c.PgConn().TxStatus(); s != 'T' {
				t.Errorf("tx status %c", s)
			}
			if err := tx.Rollback(ctx); err != nil {
				t.Fatal(err)
			}
			// COPY FROM STDIN (binary) and the session's parameters.
			n, err := c.CopyFrom(ctx, pgx.Identifier{"t"}, []string{"id", "v"},
				pgx.CopyFromRows([][]any{{int32(1000 + i), "c1"}, {int32(2000 + i), "c2"}}))
			if err != nil || n != 2 {
				t.Fatalf("copy: %d %v", n, err)
			}
			if c.PgConn().ParameterStatus("server_version") == "" {
				t.Error("no server_version parameter")
			}
		})
	}
	if n := e.count("t"); n != 16 {
		t.Errorf("rows %d; want 16", n)
	}
}

// TestRefused: dangerous statements never reach the database.
func TestRefused(t *testing.T) {
	e := newEnv(t)
	setupTable(t, e)
	ctx := context.Background()
	dangerous := []string{
		"DROP TABLE t",
		"DELETE FROM t",
		"SELECT 1; DROP TABLE t",
		"DELETE FROM t; SELECT 1",
		"TRUNCATE t",
		"PREPARE p AS DELETE FROM t; EXECUTE p",
		"WITH x AS (DELETE FROM t RETURNING *) SELECT * FROM x",
		"EXPLAIN (ANALYZE off, ANALYZE) DELETE FROM t", // the last analyze option counts
	}
	for _, m := range modes[:2] {
		c := e.connect(m.mode)
		for _, q := range dangerous {
			_, err := c.Exec(ctx, q)
			if sqlstate(err) != "42501" || !strings.Contains(err.Error(), "rule sql.") {
				t.Errorf("%s %q: %v; want 42501 naming the rule", m.name, q, err)
			}
			// The session is still usable.
			var one int
			if err := c.QueryRow(ctx, "SELECT 1").Scan(&one); err != nil || one != 1 {
				t.Fatalf("%s after %q: %v", m.name, q, err)
			}
		}
		// Extended protocol explicitly: Parse of TRUNCATE, named and unnamed.
		if _, err := c.PgConn().Prepare(ctx, "trunc", "TRUNCATE t", nil); sqlstate(err) != "42501" {
			t.Errorf("%s prepare truncate: %v", m.name, err)
		}
		if _, err := c.PgConn().ExecParams(ctx, "DELETE FROM t WHERE $1::int = $1::int", [][]byte{[]byte("1")}, nil, nil, nil).Close(); sqlstate(err) != "42501" {
			t.Errorf("%s execparams delete: %v", m.name, err)
		}
		// A batch whose middle statement is refused.
		b := &pgx.Batch{}
		b.Queue("SELECT 1")
		b.Queue("TRUNCATE t")
		b.Queue("SELECT 2")
		if err := c.SendBatch(ctx, b).Close(); sqlstate(err) != "42501" {
			t.Errorf("%s batch: %v", m.name, err)
		}
		// A refusal inside a transaction: status stays T, the transaction goes on.
		tx, err := c.Begin(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := tx.Exec(ctx, "DROP TABLE t"); sqlstate(err) != "42501" {
			t.Errorf("%s drop in tx: %v", m.name, err)
		}
		if s := c.PgConn().TxStatus(); s != 'T' {
			t.Errorf("%s: tx status after refusal %c; want T", m.name, s)
		}
		if _, err := tx.Exec(ctx, "UPDATE t SET v = 'in-tx' WHERE id = 1"); err != nil {
			t.Errorf("%s: statement after refusal in tx: %v", m.name, err)
		}
		if err := tx.Rollback(ctx); err != nil {
			t.Fatal(err)
		}
		// review: privilege escalation.
		if _, err := c.Exec(ctx, "ALTER ROLE bob SUPERUSER"); sqlstate(err) != "42501" || !strings.Contains(err.Error(), "review required") {
			t.Errorf("%s review: %v", m.name, err)
		}
	}
	if n := e.count("t"); n != 10 {
		t.Errorf("rows %d; want 10 untouched", n)
	}
	var v string
	if err := e.directConn().QueryRow(ctx, "SELECT v FROM t WHERE id = 1").Scan(&v); err != nil || v != "v1" {
		t.Errorf("row 1 = %q %v", v, err)
	}
	var denied int
	for _, ev := range e.events() {
		if ev.Outcome == event.OutcomeDenied && ev.Decision != nil && ev.Decision.Effect == "deny" {
			denied++
		}
	}
	if denied < 2*len(dangerous) {
		t.Errorf("%d denied events; want at least %d", denied, 2*len(dangerous))
	}
}

// TestLogin: bad tokens, another user's token, unknown connections.
func TestLogin(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	cases := []struct {
		dsn, code string
	}{
		{e.dsn("alice", "vgl_nonsense", "prod"), "28P01"},
		{e.dsn("alice", e.bob, "prod"), "28P01"},
		{e.dsn("alice", e.alice, "nope"), "3D000"},
	}
	for _, c := range cases {
		conn, err := pgx.Connect(ctx, c.dsn)
		if err == nil {
			conn.Close(ctx)
		}
		if sqlstate(err) != c.code {
			t.Errorf("%s: %v; want %s", c.dsn, err, c.code)
		}
	}
	failures := 0
	for _, ev := range e.events() {
		if ev.ClassUID == event.ClassAuthentication && ev.Outcome == event.OutcomeFailure && ev.Actor.User == "alice" {
			failures++
		}
	}
	if failures != len(cases) {
		t.Errorf("%d failed logins recorded; want %d", failures, len(cases))
	}
}

// TestAuditTrail: intent before, outcome after, linked; session open and close.
func TestAuditTrail(t *testing.T) {
	e := newEnv(t)
	setupTable(t, e)
	ctx := context.Background()
	c := e.connect(pgx.QueryExecModeSimpleProtocol)
	if _, err := c.Exec(ctx, "UPDATE t SET v = 'a' WHERE id < 4"); err != nil {
		t.Fatal(err)
	}
	c2 := e.connect(pgx.QueryExecModeCacheStatement)
	if _, err := c2.Exec(ctx, "UPDATE t SET v = $1 WHERE id = 9", "b"); err != nil {
		t.Fatal(err)
	}
	if _, err := c2.Exec(ctx, "SELECT 1/0"); err == nil {
		t.Fatal("no error")
	}
	c.Close(ctx)
	c2.Close(ctx)
	evs := e.waitEvents(func(evs []*event.Event) bool {
		n := 0
		for _, ev := range evs {
			if ev.Activity == "logoff" {
				n++
			}
		}
		return n == 2
	})
	byID := map[string]*event.Event{}
	for _, ev := range evs {
		byID[ev.ID] = ev
	}
	find := func(text string) *event.Event {
		for _, ev := range evs {
			if ev.Attrs["sql.text"] == text {
				return ev
			}
		}
		t.Fatalf("no intent for %q", text)
		return nil
	}
	outcomeOf := func(in *event.Event) *event.Event {
		for _, ev := range evs {
			if ev.ParentID == in.ID {
				if ev.Seq < in.Seq {
					t.Errorf("outcome %d before intent %d", ev.Seq, in.Seq)
				}
				return ev
			}
		}
		t.Fatalf("no outcome for %v", in.Attrs["sql.text"])
		return nil
	}
	in := find("UPDATE t SET v = 'a' WHERE id < 4")
	if in.Action != "UPDATE" || in.Source != pgwire.Source || in.Decision == nil || in.Decision.Effect != "allow" || in.Actor.User != "alice" || in.Target != "prod" || in.Resource.Environment != "production" {
		t.Errorf("intent %+v", in)
	}
	out := outcomeOf(in)
	if out.Outcome != "success" || out.Attrs["sql.command_tag"] != "UPDATE 3" || out.Attrs["sql.rows"] != float64(3) {
		t.Errorf("outcome %+v", out.Attrs)
	}
	in = find("UPDATE t SET v = $1 WHERE id = 9")
	if in.Attrs["sql.protocol"] != "extended" {
		t.Errorf("protocol %v", in.Attrs["sql.protocol"])
	}
	if out := outcomeOf(in); out.Attrs["sql.command_tag"] != "UPDATE 1" {
		t.Errorf("outcome %+v", out.Attrs)
	}
	if out := outcomeOf(find("SELECT 1/0")); out.Outcome != "failure" || out.Attrs["sql.sqlstate"] != "22012" {
		t.Errorf("outcome of 1/0 %+v", out.Attrs)
	}
	logons := 0
	for _, ev := range evs {
		if ev.Activity == "logon" && ev.Outcome == "success" && ev.Actor.SessionID != "" {
			logons++
		}
	}
	if logons != 2 {
		t.Errorf("%d session opens", logons)
	}
}

// TestFailClosed: when the audit log cannot be written, nothing runs.
func TestFailClosed(t *testing.T) {
	e := newEnv(t)
	setupTable(t, e)
	ctx := context.Background()
	c := e.connect(pgx.QueryExecModeSimpleProtocol)
	e.log.Close()
	_, err := c.Exec(ctx, "UPDATE t SET v = 'z' WHERE id = 1")
	if sqlstate(err) != "58000" {
		t.Fatalf("%v; want 58000", err)
	}
	var v string
	if err := e.directConn().QueryRow(ctx, "SELECT v FROM t WHERE id = 1").Scan(&v); err != nil || v != "v1" {
		t.Errorf("row 1 = %q %v", v, err)
	}
	if _, err := pgx.Connect(ctx, e.dsn("alice", e.alice, "prod")); sqlstate(err) != "58000" {
		t.Errorf("login with the log closed: %v", err)
	}
}

// TestCancel: a client's cancel request (with the gateway's key) reaches the
// upstream, and the session goes on.
func TestCancel(t *testing.T) {
	e := newEnv(t)
	c := e.connect(pgx.QueryExecModeCacheStatement)
	ctx := context.Background()
	go func() {
		time.Sleep(300 * time.Millisecond)
		if err := c.PgConn().CancelRequest(ctx); err != nil {
			t.Errorf("cancel: %v", err)
		}
	}()
	start := time.Now()
	_, err := c.Exec(ctx, "SELECT pg_sleep(20)")
	if sqlstate(err) != "57014" || time.Since(start) > 10*time.Second {
		t.Fatalf("sleep not cancelled: %v after %v", err, time.Since(start))
	}
	var one int
	if err := c.QueryRow(ctx, "SELECT 1").Scan(&one); err != nil {
		t.Fatalf("session after cancel: %v", err)
	}
}

// TestUpstreamDies: the upstream backend is terminated mid-session.
func TestUpstreamDies(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	c := e.connect(pgx.QueryExecModeCacheStatement)
	var pid int
	if err := c.QueryRow(ctx, "SELECT pg_backend_pid()").Scan(&pid); err != nil {
		t.Fatal(err)
	}
	var ok bool
	if err := e.directConn().QueryRow(ctx, "SELECT pg_terminate_backend($1)", pid).Scan(&ok); err != nil || !ok {
		t.Fatalf("terminate: %v %v", ok, err)
	}
	time.Sleep(100 * time.Millisecond)
	_, err := c.Exec(ctx, "SELECT 1")
	if err == nil {
		t.Fatal("query on a dead upstream succeeded")
	}
	t.Logf("client saw: %v", err)
	// The gateway keeps serving.
	c2 := e.connect(pgx.QueryExecModeSimpleProtocol)
	var one int
	if err := c2.QueryRow(ctx, "SELECT 1").Scan(&one); err != nil || one != 1 {
		t.Fatalf("new session: %v", err)
	}
}

func needTool(t *testing.T, name string) string {
	p, err := exec.LookPath(name)
	if err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("%s not found", name)
		}
		t.Skipf("%s not found", name)
	}
	return p
}

const transcript = `CREATE TABLE items (id int PRIMARY KEY, name text, price numeric(8,2));
INSERT INTO items VALUES (1, 'apple', 1.20), (2, 'pear', 0.80), (3, 'plum', 2.05);
SELECT * FROM items ORDER BY id;
UPDATE items SET price = price * 2 WHERE name = 'pear';
BEGIN;
INSERT INTO items VALUES (4, 'fig', 3.00);
SELECT count(*) FROM items;
ROLLBACK;
COPY items TO STDOUT WITH (FORMAT csv);
COPY items (id, name, price) FROM STDIN WITH (FORMAT csv);
5,kiwi,0.50
6,lime,0.30
\.
SELECT name, price FROM items WHERE price < 1 ORDER BY name;
SELECT 1 AS a, 'two' AS b; SELECT 3 AS c;
\d items
`

// TestPsqlTranscript: the same psql session gives the same output through the
// gateway and directly.
func TestPsqlTranscript(t *testing.T) {
	psql := needTool(t, "psql")
	e := newEnv(t)
	script := filepath.Join(t.TempDir(), "script.sql")
	if err := os.WriteFile(script, []byte(transcript), 0o644); err != nil {
		t.Fatal(err)
	}
	// Directly, on a database of its own.
	other := pgtest.Shared(t).NewDB(t)
	direct := exec.Command(psql, "-X", "-v", "ON_ERROR_STOP=1", "-f", script, other)
	want, err := direct.CombinedOutput()
	if err != nil {
		t.Fatalf("direct psql: %v\n%s", err, want)
	}
	gw := exec.Command(psql, "-X", "-v", "ON_ERROR_STOP=1", "-f", script,
		"-h", "127.0.0.1", "-p", strconv.Itoa(e.port), "-U", "alice", "-d", "prod")
	gw.Env = append(os.Environ(), "PGPASSWORD="+e.alice, "PGSSLMODE=disable")
	got, err := gw.CombinedOutput()
	if err != nil {
		t.Fatalf("psql through the gateway: %v\n%s", err, got)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("through the gateway:\n%s\ndirectly:\n%s", got, want)
	}
	// A refused statement in psql.
	gw = exec.Command(psql, "-X", "-c", "DROP TABLE items", "-h", "127.0.0.1", "-p", strconv.Itoa(e.port), "-U", "alice", "-d", "prod")
	gw.Env = append(os.Environ(), "PGPASSWORD="+e.alice, "PGSSLMODE=disable")
	out, err := gw.CombinedOutput()
	if err == nil || !strings.Contains(string(out), "sql.drop") {
		t.Errorf("DROP through psql: %v\n%s", err, out)
	}
	if n := e.count("items"); n != 5 {
		t.Errorf("items %d", n)
	}
}

// TestPgbench: pgbench -S through the gateway, in every protocol mode.
func TestPgbench(t *testing.T) {
	pgbench := needTool(t, "pgbench")
	e := newEnv(t)
	if out, err := exec.Command(pgbench, "-i", "-s", "1", "-q", e.direct).CombinedOutput(); err != nil {
		t.Fatalf("pgbench -i: %v\n%s", err, out)
	}
	for _, mode := range []string{"simple", "extended", "prepared"} {
		cmd := exec.Command(pgbench, "-n", "-S", "-T", "2", "-c", "2", "-M", mode,
			"-h", "127.0.0.1", "-p", strconv.Itoa(e.port), "-U", "alice", "prod")
		cmd.Env = append(os.Environ(), "PGPASSWORD="+e.alice, "PGSSLMODE=disable")
		out, err := cmd.CombinedOutput()
		if err != nil || !strings.Contains(string(out), "number of failed transactions: 0") {
			t.Errorf("pgbench -M %s: %v\n%s", mode, err, out)
			continue
		}
		for _, line := range strings.Split(string(out), "\n") {
			if strings.HasPrefix(line, "tps") || strings.HasPrefix(line, "number of transactions actually") {
				t.Logf("%s: %s", mode, line)
			}
		}
	}
}
