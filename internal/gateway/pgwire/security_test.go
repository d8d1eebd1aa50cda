package pgwire_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"crypto/tls"
	"encoding/base64"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgproto3"

	"github.com/vigil-audit/vigil/internal/auth"
	"github.com/vigil-audit/vigil/internal/event"
	"github.com/vigil-audit/vigil/internal/gateway/pgwire"
	"github.com/vigil-audit/vigil/internal/store"
)

// String returns what was written so far.
func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.String()
}

// connectDSN connects with pgx; the caller closes.
func connectDSN(t *testing.T, dsn string) (*pgx.Conn, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	return pgx.Connect(ctx, dsn)
}

// mustConnect connects with pgx and closes at the end of the test.
func mustConnect(t *testing.T, dsn string) *pgx.Conn {
	t.Helper()
	c, err := connectDSN(t, dsn)
	if err != nil {
		t.Fatalf("connect %s: %v", redactDSN(dsn), err)
	}
	t.Cleanup(func() { c.Close(context.Background()) })
	return c
}

var tokenRE = regexp.MustCompile(`vgl_[A-Za-z0-9_-]+`)

func redactDSN(dsn string) string { return tokenRE.ReplaceAllString(dsn, "vgl_…") }

// firstAuthRequest sends a startup packet as a hand-driven client and returns
// the gateway's first answer, with the connection for more.
func firstAuthRequest(t *testing.T, e *env, user, db string) (pgproto3.BackendMessage, *pgproto3.Frontend, net.Conn) {
	t.Helper()
	fe, nc := dialStartup(t, e, map[string]string{"user": user, "database": db})
	msg, err := fe.Receive()
	if err != nil {
		t.Fatal(err)
	}
	return msg, fe, nc
}

// dial connects to the gateway; the connection is closed when the test
// ends.
func dial(t testing.TB, e *env) net.Conn {
	t.Helper()
	nc, err := net.Dial("tcp", "127.0.0.1:"+strconv.Itoa(e.port))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { nc.Close() })
	nc.SetDeadline(time.Now().Add(20 * time.Second))
	return nc
}

// startup sends a startup message with params over c.
func startup(t testing.TB, c io.ReadWriter, params map[string]string) *pgproto3.Frontend {
	t.Helper()
	fe := pgproto3.NewFrontend(c, c)
	fe.Send(&pgproto3.StartupMessage{ProtocolVersion: pgproto3.ProtocolVersionNumber, Parameters: params})
	if err := fe.Flush(); err != nil {
		t.Fatal(err)
	}
	return fe
}

// dialStartup connects to the gateway and sends a startup message with
// params; the connection is closed when the test ends.
func dialStartup(t testing.TB, e *env, params map[string]string) (*pgproto3.Frontend, net.Conn) {
	t.Helper()
	nc := dial(t, e)
	return startup(t, nc, params), nc
}

// passwordLogin answers a cleartext password request with alice's token
// (the env's auth is AuthPassword) and returns the first message that is
// neither that request nor part of a successful login's preamble: an
// ErrorResponse, or the first ReadyForQuery.
func passwordLogin(t testing.TB, e *env, fe *pgproto3.Frontend) pgproto3.BackendMessage {
	t.Helper()
	for {
		msg, err := fe.Receive()
		if err != nil {
			t.Fatalf("login: %v", err)
		}
		switch msg.(type) {
		case *pgproto3.AuthenticationCleartextPassword:
			fe.Send(&pgproto3.PasswordMessage{Password: e.alice})
			if err := fe.Flush(); err != nil {
				t.Fatal(err)
			}
		case *pgproto3.ErrorResponse, *pgproto3.ReadyForQuery:
			return msg
		}
	}
}

// logons returns the logon events (successful and failed) of user.
func logons(evs []*event.Event, user, outcome string) []*event.Event {
	var out []*event.Event
	for _, ev := range evs {
		if ev.ClassUID == event.ClassAuthentication && ev.Activity == "logon" && ev.Actor.User == user && ev.Outcome == outcome {
			out = append(out, ev)
		}
	}
	return out
}

func randomToken() string {
	var b [32]byte
	rand.Read(b[:])
	return "vgl_" + base64.RawURLEncoding.EncodeToString(b[:])
}

// TestSCRAM: clients log in with SCRAM-SHA-256, the token as the password;
// a wrong token, another user's token and an unknown user fail with 28P01
// and are recorded; either of a user's two tokens works, with its own role.
func TestSCRAM(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()

	// The gateway offers SCRAM-SHA-256 only, for a known and an unknown
	// user alike.
	for _, user := range []string{"alice", "mallory"} {
		msg, _, _ := firstAuthRequest(t, e, user, "prod")
		sasl, ok := msg.(*pgproto3.AuthenticationSASL)
		if !ok || !slices.Equal(sasl.AuthMechanisms, []string{"SCRAM-SHA-256"}) {
			t.Fatalf("%s: first auth request %#v; want AuthenticationSASL [SCRAM-SHA-256]", user, msg)
		}
	}

	admin, err := auth.Create(ctx, e.st, "alice", auth.RoleAdmin) // alice's second token
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct{ token, role string }{{e.alice, auth.RoleUser}, {admin, auth.RoleAdmin}} {
		c := mustConnect(t, e.dsn("alice", tc.token, "prod"))
		var one int
		if err := c.QueryRow(ctx, "SELECT 1").Scan(&one); err != nil || one != 1 {
			t.Fatalf("query after SCRAM login: %v", err)
		}
		c.Close(ctx)
	}
	bad := []struct{ user, token, reason string }{
		{"alice", randomToken(), "invalid token"},
		{"alice", e.bob, "invalid token"},
		{"alice", "notatoken", "invalid token"},
		{"mallory", randomToken(), "unknown user"},
	}
	for _, b := range bad {
		c, err := connectDSN(t, e.dsn(b.user, b.token, "prod"))
		if err == nil {
			c.Close(ctx)
		}
		if sqlstate(err) != "28P01" {
			t.Errorf("%s with a bad token: %v; want 28P01", b.user, err)
		}
	}
	evs := e.waitEvents(func(evs []*event.Event) bool { return len(logons(evs, "alice", event.OutcomeSuccess)) == 2 })
	ok := logons(evs, "alice", event.OutcomeSuccess)
	if len(ok) != 2 {
		t.Fatalf("%d successful logons of alice; want 2", len(ok))
	}
	for i, role := range []string{auth.RoleUser, auth.RoleAdmin} {
		if ev := ok[i]; ev.Attrs["auth_method"] != "scram" || !slices.Equal(ev.Actor.Roles, []string{role}) {
			t.Errorf("logon %d: auth_method %v roles %v; want scram, %s", i, ev.Attrs["auth_method"], ev.Actor.Roles, role)
		}
	}
	failed := append(logons(evs, "alice", event.OutcomeFailure), logons(evs, "mallory", event.OutcomeFailure)...)
	if len(failed) != len(bad) {
		t.Fatalf("%d failed logons recorded; want %d", len(failed), len(bad))
	}
	for i, ev := range failed {
		if ev.Attrs["reason"] != bad[i].reason || ev.Attrs["auth_method"] != "scram" {
			t.Errorf("failed logon %d: %v; want reason %q", i, ev.Attrs, bad[i].reason)
		}
	}
}

// TestSCRAMMalformed: a hand-driven client that breaks the SCRAM exchange is
// refused, and the attempt recorded.
func TestSCRAMMalformed(t *testing.T) {
	e := newEnv(t)
	cases := []struct {
		name  string
		first string
		final func(serverFirst string) string
	}{
		{"channel binding demanded", "p=tls-server-end-point,,n=,r=abcdefgh", nil},
		{"authorization identity", "n,a=bob,n=,r=abcdefgh", nil},
		{"no nonce", "n,,n=", nil},
		{"nonce changed", "n,,n=,r=abcdefgh", func(sf string) string {
			return "c=biws,r=abcdefghXXXX,p=" + base64.StdEncoding.EncodeToString(make([]byte, 32))
		}},
		{"binding data changed", "n,,n=,r=abcdefgh", func(sf string) string {
			nonce, _, _ := strings.Cut(strings.TrimPrefix(sf, "r="), ",")
			return "c=eSws,r=" + nonce + ",p=" + base64.StdEncoding.EncodeToString(make([]byte, 32))
		}},
		{"short proof", "n,,n=,r=abcdefgh", func(sf string) string {
			nonce, _, _ := strings.Cut(strings.TrimPrefix(sf, "r="), ",")
			return "c=biws,r=" + nonce + ",p=AAAA"
		}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			msg, fe, _ := firstAuthRequest(t, e, "alice", "prod")
			if _, ok := msg.(*pgproto3.AuthenticationSASL); !ok {
				t.Fatalf("got %T", msg)
			}
			fe.Send(&pgproto3.SASLInitialResponse{AuthMechanism: "SCRAM-SHA-256", Data: []byte(c.first)})
			fe.Flush()
			msg, err := fe.Receive()
			if err != nil {
				t.Fatal(err)
			}
			if c.final != nil {
				cont, ok := msg.(*pgproto3.AuthenticationSASLContinue)
				if !ok {
					t.Fatalf("got %#v; want AuthenticationSASLContinue", msg)
				}
				fe.Send(&pgproto3.SASLResponse{Data: []byte(c.final(string(cont.Data)))})
				fe.Flush()
				if msg, err = fe.Receive(); err != nil {
					t.Fatal(err)
				}
			}
			er, ok := msg.(*pgproto3.ErrorResponse)
			if !ok || er.Severity != "FATAL" || (er.Code != "08P01" && er.Code != "28P01") {
				t.Fatalf("got %#v; want FATAL 08P01", msg)
			}
		})
	}
	evs := e.waitEvents(func(evs []*event.Event) bool { return len(logons(evs, "alice", event.OutcomeFailure)) == len(cases) })
	if n := len(logons(evs, "alice", event.OutcomeFailure)); n != len(cases) {
		t.Errorf("%d failed logons recorded; want %d", n, len(cases))
	}
}

// TestPasswordAuth: with Config.Auth = password the gateway asks for a
// cleartext password; in the default SCRAM mode a user whose tokens all
// predate SCRAM verifiers is asked for one too, and logs in.
func TestPasswordAuth(t *testing.T) {
	ctx := context.Background()
	t.Run("configured", func(t *testing.T) {
		e := newEnvWith(t, envOptions{audit: pgwire.AuditStrict, auth: pgwire.AuthPassword})
		msg, _, _ := firstAuthRequest(t, e, "alice", "prod")
		if _, ok := msg.(*pgproto3.AuthenticationCleartextPassword); !ok {
			t.Fatalf("got %T; want AuthenticationCleartextPassword", msg)
		}
		mustConnect(t, e.dsn("alice", e.alice, "prod"))
		if _, err := connectDSN(t, e.dsn("alice", e.bob, "prod")); sqlstate(err) != "28P01" {
			t.Fatalf("bob's token as alice: %v; want 28P01", err)
		}
		evs := e.events()
		if ok := logons(evs, "alice", event.OutcomeSuccess); len(ok) != 1 || ok[0].Attrs["auth_method"] != "password" {
			t.Errorf("successful logons %v", ok)
		}
		if n := len(logons(evs, "alice", event.OutcomeFailure)); n != 1 {
			t.Errorf("%d failed logons; want 1", n)
		}
	})
	t.Run("legacy token", func(t *testing.T) {
		e := newEnv(t)
		old := randomToken()
		// As auth.Create stored tokens before verifiers were kept.
		if err := e.st.PutToken(ctx, store.Token{Hash: auth.Hash(old), User: "olduser", Role: auth.RoleUser, CreatedAt: time.Now()}); err != nil {
			t.Fatal(err)
		}
		msg, _, _ := firstAuthRequest(t, e, "olduser", "prod")
		if _, ok := msg.(*pgproto3.AuthenticationCleartextPassword); !ok {
			t.Fatalf("got %T; want AuthenticationCleartextPassword", msg)
		}
		c := mustConnect(t, e.dsn("olduser", old, "prod"))
		var one int
		if err := c.QueryRow(ctx, "SELECT 1").Scan(&one); err != nil {
			t.Fatal(err)
		}
		if _, err := connectDSN(t, e.dsn("olduser", randomToken(), "prod")); sqlstate(err) != "28P01" {
			t.Fatalf("a wrong token: %v; want 28P01", err)
		}
		if ok := logons(e.events(), "olduser", event.OutcomeSuccess); len(ok) != 1 || ok[0].Attrs["auth_method"] != "password" {
			t.Errorf("successful logons %v", ok)
		}
	})
}

// TestConnectionAccess: connections[].roles and users restrict who may use
// a connection; anyone else gets FATAL 42501 naming it, recorded.
func TestConnectionAccess(t *testing.T) {
	ctx := context.Background()
	e := newEnvWith(t, envOptions{audit: pgwire.AuditStrict,
		more: map[string]string{"open": pgwire.AuditStrict, "alice-only": pgwire.AuditStrict, "admins-and-bob": pgwire.AuditStrict},
		conns: func(cs map[string]pgwire.Connection) {
			set := func(name string, roles, users []string) {
				c := cs[name]
				c.Roles, c.Users = roles, users
				cs[name] = c
			}
			set("prod", []string{auth.RoleAdmin}, nil)
			set("alice-only", nil, []string{"alice"})
			set("admins-and-bob", []string{auth.RoleAdmin}, []string{"bob"})
		}})
	carol, err := auth.Create(ctx, e.st, "carol", auth.RoleAdmin)
	if err != nil {
		t.Fatal(err)
	}
	tokens := map[string]string{"alice": e.alice, "bob": e.bob, "carol": carol}
	cases := []struct {
		user, conn string
		allowed    bool
	}{
		{"alice", "prod", false}, // role user, prod wants admin
		{"carol", "prod", true},
		{"alice", "open", true},
		{"bob", "open", true},
		{"alice", "alice-only", true},
		{"bob", "alice-only", false},
		{"carol", "alice-only", false},
		{"bob", "admins-and-bob", true},
		{"carol", "admins-and-bob", true},
		{"alice", "admins-and-bob", false},
	}
	refused := map[string]int{}
	for _, c := range cases {
		conn, err := connectDSN(t, e.dsn(c.user, tokens[c.user], c.conn))
		if c.allowed {
			if err != nil {
				t.Errorf("%s on %s: %v; want allowed", c.user, c.conn, err)
				continue
			}
			var one int
			if err := conn.QueryRow(ctx, "SELECT 1").Scan(&one); err != nil {
				t.Errorf("%s on %s: query: %v", c.user, c.conn, err)
			}
			conn.Close(ctx)
			continue
		}
		if err == nil {
			conn.Close(ctx)
		}
		if sqlstate(err) != "42501" || !strings.Contains(err.Error(), fmt.Sprintf("connection %q", c.conn)) {
			t.Errorf("%s on %s: %v; want 42501 naming the connection", c.user, c.conn, err)
		}
		refused[c.user]++
	}
	evs := e.events()
	for user, n := range refused {
		failed := logons(evs, user, event.OutcomeFailure)
		if len(failed) != n {
			t.Errorf("%s: %d failed logons recorded; want %d", user, len(failed), n)
		}
		for _, ev := range failed {
			if !strings.Contains(fmt.Sprint(ev.Attrs["reason"]), "does not allow") || ev.Target == "" || len(ev.Actor.Roles) != 1 {
				t.Errorf("failed logon %+v", ev)
			}
		}
	}
}

// TestTLS: the self-signed certificate is made once and reused; pgx and psql
// connect with sslmode=require (and pin it with verify-full); configured
// files are used as given; plain connections are accepted only from
// loopback.
func TestTLS(t *testing.T) {
	ctx := context.Background()
	dataDir := t.TempDir()
	cfg, info, err := pgwire.LoadTLS("", "", dataDir)
	if err != nil {
		t.Fatal(err)
	}
	if !info.Generated || !info.Created || !regexp.MustCompile(`^([0-9A-F]{2}:){31}[0-9A-F]{2}$`).MatchString(info.Fingerprint) {
		t.Fatalf("first LoadTLS: %+v", info)
	}
	fi, err := os.Stat(filepath.Join(dataDir, pgwire.GeneratedKeyFile))
	if err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("key file: %v %v; want mode 0600", fi, err)
	}
	_, again, err := pgwire.LoadTLS("", "", dataDir)
	if err != nil || again.Created || again.Fingerprint != info.Fingerprint {
		t.Fatalf("second LoadTLS: %+v %v; want the same certificate, reused", again, err)
	}
	// Configured files: used as they are, nothing made in the data directory.
	other := t.TempDir()
	_, given, err := pgwire.LoadTLS(info.CertFile, info.KeyFile, other)
	if err != nil || given.Generated || given.Fingerprint != info.Fingerprint {
		t.Fatalf("LoadTLS with files: %+v %v", given, err)
	}
	if ents, _ := os.ReadDir(other); len(ents) != 0 {
		t.Fatalf("LoadTLS with files wrote into the data directory: %v", ents)
	}
	if _, _, err := pgwire.LoadTLS(info.CertFile, "", other); err == nil {
		t.Fatal("LoadTLS accepted a certificate without a key")
	}
	// A generated key open to others, and a certificate whose key is gone,
	// are refused rather than used or replaced.
	loose := t.TempDir()
	if _, _, err := pgwire.LoadTLS("", "", loose); err != nil {
		t.Fatal(err)
	}
	os.Chmod(filepath.Join(loose, pgwire.GeneratedKeyFile), 0o644)
	if _, _, err := pgwire.LoadTLS("", "", loose); err == nil || !strings.Contains(err.Error(), "chmod 600") {
		t.Fatalf("LoadTLS with a world-readable key: %v", err)
	}
	os.Remove(filepath.Join(loose, pgwire.GeneratedKeyFile))
	if _, _, err := pgwire.LoadTLS("", "", loose); err == nil {
		t.Fatal("LoadTLS replaced a certificate whose key is missing")
	}

	e := newEnvWith(t, envOptions{audit: pgwire.AuditStrict, tls: cfg})
	dsn := func(mode, extra string) string {
		return fmt.Sprintf("postgres://alice:%s@%s:%d/prod?sslmode=%s%s", e.alice, "127.0.0.1", e.port, mode, extra)
	}
	for _, d := range []string{
		dsn("require", ""),
		strings.Replace(dsn("verify-full", "&sslrootcert="+info.CertFile), "@127.0.0.1:", "@localhost:", 1),
		dsn("verify-full", "&sslrootcert="+info.CertFile),
	} {
		c := mustConnect(t, d)
		if _, ok := c.PgConn().Conn().(*tls.Conn); !ok {
			t.Errorf("%s: connection is %T; want TLS", redactDSN(d), c.PgConn().Conn())
		}
		var one int
		if err := c.QueryRow(ctx, "SELECT 1").Scan(&one); err != nil {
			t.Fatal(err)
		}
		c.Close(ctx)
	}
	// Another certificate as the root: verification fails.
	if c, err := connectDSN(t, dsn("verify-full", "&sslrootcert="+filepath.Join(loose, pgwire.GeneratedCertFile))); err == nil {
		c.Close(ctx)
		t.Fatal("verify-full with another root succeeded")
	}
	evs := e.events()
	ok := logons(evs, "alice", event.OutcomeSuccess)
	if len(ok) != 3 {
		t.Fatalf("%d logons; want 3", len(ok))
	}
	for _, ev := range ok {
		if ev.Attrs["tls"] != true {
			t.Errorf("logon without tls: %v", ev.Attrs)
		}
	}

	t.Run("psql", func(t *testing.T) {
		psql := needTool(t, "psql")
		run := func(conninfo, token string) (string, error) {
			cmd := exec.Command(psql, "-X", "-A", "-t", "-c", `\conninfo`, "-c", "SELECT 40 + 2", conninfo)
			cmd.Env = []string{"PGPASSWORD=" + token}
			for _, kv := range os.Environ() {
				if !strings.HasPrefix(kv, "PG") {
					cmd.Env = append(cmd.Env, kv)
				}
			}
			out, err := cmd.CombinedOutput()
			return string(out), err
		}
		base := fmt.Sprintf("host=127.0.0.1 port=%d user=alice dbname=prod", e.port)
		for _, conninfo := range []string{
			base + " sslmode=require",
			fmt.Sprintf("host=localhost port=%d user=alice dbname=prod sslmode=verify-full sslrootcert=%s", e.port, info.CertFile),
		} {
			out, err := run(conninfo, e.alice)
			if err != nil || !strings.Contains(out, "SSL connection") || !strings.Contains(out, "\n42\n") {
				t.Errorf("psql %q: %v\n%s", conninfo, err, out)
			}
		}
		// SCRAM over TLS with a wrong token.
		out, err := run(base+" sslmode=require", randomToken())
		if err == nil || !strings.Contains(out, "password authentication failed") {
			t.Errorf("psql with a wrong token: %v\n%s", err, out)
		}
		// Plain from loopback is still accepted.
		out, err = run(base+" sslmode=disable", e.alice)
		if err != nil || strings.Contains(out, "SSL connection") || !strings.Contains(out, "\n42\n") {
			t.Errorf("psql sslmode=disable: %v\n%s", err, out)
		}
	})

	t.Run("non-loopback", func(t *testing.T) {
		ip := nonLoopbackIP()
		if ip == "" {
			t.Skip("no non-loopback address on this host")
		}
		ln, err := net.Listen("tcp", net.JoinHostPort(ip, "0"))
		if err != nil {
			t.Skipf("cannot listen on %s: %v", ip, err)
		}
		go e.srv.Serve(ln) // ended by the env's Shutdown
		port := ln.Addr().(*net.TCPAddr).Port
		at := func(mode string) string {
			return fmt.Sprintf("postgres://alice:%s@%s/prod?sslmode=%s", e.alice, net.JoinHostPort(ip, strconv.Itoa(port)), mode)
		}
		if c, err := connectDSN(t, at("disable")); err == nil {
			c.Close(ctx)
			t.Fatal("a plain connection from a non-loopback address was accepted")
		} else if sqlstate(err) != "28000" {
			t.Fatalf("plain from %s: %v; want 28000", ip, err)
		}
		c := mustConnect(t, at("require"))
		if _, ok := c.PgConn().Conn().(*tls.Conn); !ok {
			t.Fatal("not TLS")
		}
		var refusedPlain bool
		for _, ev := range logons(e.events(), "alice", event.OutcomeFailure) {
			refusedPlain = refusedPlain || (ev.Actor.SrcIP == ip && ev.Attrs["tls"] == false)
		}
		if !refusedPlain {
			t.Error("the refused plain connection was not recorded")
		}
	})
}

func nonLoopbackIP() string {
	addrs, err := net.InterfaceAddrs()
	if err != nil {
		return ""
	}
	for _, a := range addrs {
		if n, ok := a.(*net.IPNet); ok && !n.IP.IsLoopback() && n.IP.To4() != nil && !n.IP.IsLinkLocalUnicast() {
			return n.IP.String()
		}
	}
	return ""
}

// TestRedactLiterals: on a connection with RedactLiterals no literal of a
// statement reaches the audit log, in either protocol, whether the statement
// parses or not, runs or fails; the same statements on a connection without
// it are recorded verbatim.
func TestRedactLiterals(t *testing.T) {
	ctx := context.Background()
	e := newEnvWith(t, envOptions{audit: pgwire.AuditStandard, more: map[string]string{"verbatim": pgwire.AuditStandard},
		conns: func(cs map[string]pgwire.Connection) {
			c := cs["prod"]
			c.RedactLiterals = true
			cs["prod"] = c
		}})
	setupTable(t, e)
	const secret = "Hunter2-s3cr3t-Pw"
	stmts := []string{
		"INSERT INTO t VALUES (500, '" + secret + "')",
		"UPDATE t SET v = '" + secret + "' WHERE id = 1",
		"SELECT v FROM t WHERE v = '" + secret + "' /* " + secret + " */",
		"COMMENT ON TABLE t IS '" + secret + "'",
		"SELECT '" + secret + "'::int",  // fails upstream; the message quotes the value
		"SELEC '" + secret + "' FROM t", // does not parse
	}
	for _, conn := range []string{"prod", "verbatim"} {
		for _, m := range modes[:2] {
			cfg, err := pgx.ParseConfig(e.dsn("alice", e.alice, conn))
			if err != nil {
				t.Fatal(err)
			}
			cfg.DefaultQueryExecMode = m.mode
			c, err := pgx.ConnectConfig(ctx, cfg)
			if err != nil {
				t.Fatal(err)
			}
			for _, q := range stmts {
				c.Exec(ctx, q) // some fail or are refused; their intents are recorded all the same
			}
			c.Close(ctx)
		}
	}
	evs := e.waitEvents(func(evs []*event.Event) bool { return countActivity(evs, "logoff") == 4 })
	if n := countActivity(evs, "logoff"); n != 4 {
		t.Fatalf("%d sessions closed; want 4", n)
	}
	var redacted, verbatim []*event.Event
	for _, ev := range evs {
		if ev.ClassUID != event.ClassDatastoreActivity {
			continue
		}
		if ev.Target == "prod" {
			redacted = append(redacted, ev)
		} else {
			verbatim = append(verbatim, ev)
		}
	}
	// Read the stored bytes themselves, not only the decoded events.
	var leaks []uint64
	err := e.st.ScanEntries(ctx, 0, func(en *store.Entry) error {
		ev, err := event.Decode(en.Payload)
		if err != nil {
			return err
		}
		if ev.Target == "prod" && bytes.Contains(bytes.ToLower(en.Payload), bytes.ToLower([]byte(secret))) {
			leaks = append(leaks, en.Seq)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(leaks) > 0 {
		t.Errorf("the literal is in the stored events %v of the redacting connection", leaks)
	}
	if strings.Contains(e.logs.String(), secret) {
		t.Error("the literal is in the gateway's log")
	}
	texts := map[string]int{}
	withheld, failedWithheld := 0, 0
	for _, ev := range redacted {
		if txt, ok := ev.Attrs["sql.text"].(string); ok {
			texts[txt]++
			// The fingerprint hashes a COMMENT's literal, so it goes; an
			// INSERT's ignores its values, so it stays.
			_, hasFP := ev.Attrs["sql.fingerprint"]
			if (txt == "COMMENT ON TABLE t IS $1" && hasFP) || (txt == "INSERT INTO t VALUES ($1, $2)" && !hasFP) {
				t.Errorf("%q: fingerprint recorded = %v", txt, hasFP)
			}
			if ev.Attrs["sql.redacted"] != true {
				t.Errorf("intent without sql.redacted: %v", ev.Attrs)
			}
			if ev.Attrs["sql.text_withheld"] == true {
				withheld++
				if ev.Attrs["sql.text_length"] != float64(len(stmts[5])) || len(fmt.Sprint(ev.Attrs["sql.text_hmac"])) != 64 {
					t.Errorf("withheld text without its length and fingerprint: %v", ev.Attrs)
				}
			}
		}
		if ev.Attrs["sql.sqlstate"] == "22P02" {
			failedWithheld++
			if !strings.Contains(fmt.Sprint(ev.Attrs["sql.error"]), "withheld") {
				t.Errorf("upstream error recorded: %v", ev.Attrs["sql.error"])
			}
		}
	}
	for _, want := range []string{"INSERT INTO t VALUES ($1, $2)", "UPDATE t SET v = $1 WHERE id = $2", "COMMENT ON TABLE t IS $1"} {
		if texts[want] != 2 {
			t.Errorf("normalized text %q recorded %d times; want 2 (texts: %v)", want, texts[want], texts)
		}
	}
	if withheld != 2 || failedWithheld != 2 {
		t.Errorf("%d withheld texts, %d withheld errors; want 2 and 2", withheld, failedWithheld)
	}
	// The control: without redaction the literal is recorded.
	found := 0
	for _, ev := range verbatim {
		if strings.Contains(fmt.Sprint(ev.Attrs["sql.text"]), secret) {
			found++
		}
	}
	if found < len(stmts) {
		t.Errorf("the verbatim connection recorded the literal in %d intents; want at least %d", found, len(stmts))
	}
}

// tlsAuthRequest is firstAuthRequest over TLS (SSLRequest, then the
// handshake, without verifying the certificate).
func tlsAuthRequest(t *testing.T, e *env, user string) (pgproto3.BackendMessage, *pgproto3.Frontend) {
	t.Helper()
	nc := dial(t, e)
	if _, err := nc.Write([]byte{0, 0, 0, 8, 0x04, 0xd2, 0x16, 0x2f}); err != nil { // SSLRequest
		t.Fatal(err)
	}
	var b [1]byte
	if _, err := nc.Read(b[:]); err != nil || b[0] != 'S' {
		t.Fatalf("SSLRequest answered %q, %v; want S", b[0], err)
	}
	tc := tls.Client(nc, &tls.Config{InsecureSkipVerify: true})
	if err := tc.Handshake(); err != nil {
		t.Fatal(err)
	}
	fe := startup(t, tc, map[string]string{"user": user, "database": "prod"})
	msg, err := fe.Receive()
	if err != nil {
		t.Fatal(err)
	}
	return msg, fe
}

// TestChannelBinding: over TLS the gateway offers SCRAM-SHA-256-PLUS with
// tls-server-end-point binding; pgx and psql use it (and may insist on it);
// a client that claims binding support without using it, or binds to another
// certificate, is refused.
func TestChannelBinding(t *testing.T) {
	ctx := context.Background()
	cfg, info, err := pgwire.LoadTLS("", "", t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	e := newEnvWith(t, envOptions{audit: pgwire.AuditStrict, tls: cfg})

	msg, _ := tlsAuthRequest(t, e, "alice")
	if sasl, ok := msg.(*pgproto3.AuthenticationSASL); !ok || !slices.Equal(sasl.AuthMechanisms, []string{"SCRAM-SHA-256-PLUS", "SCRAM-SHA-256"}) {
		t.Fatalf("over TLS: %#v; want SASL [SCRAM-SHA-256-PLUS SCRAM-SHA-256]", msg)
	}
	// Without TLS, no PLUS.
	if msg, _, _ := firstAuthRequest(t, e, "alice", "prod"); !slices.Equal(msg.(*pgproto3.AuthenticationSASL).AuthMechanisms, []string{"SCRAM-SHA-256"}) {
		t.Fatalf("without TLS: %#v", msg)
	}

	for _, cb := range []string{"require", "prefer", "disable"} {
		c := mustConnect(t, fmt.Sprintf("postgres://alice:%s@127.0.0.1:%d/prod?sslmode=require&channel_binding=%s", e.alice, e.port, cb))
		var one int
		if err := c.QueryRow(ctx, "SELECT 1").Scan(&one); err != nil {
			t.Fatal(err)
		}
		c.Close(ctx)
	}
	if ok := logons(e.events(), "alice", event.OutcomeSuccess); len(ok) != 3 ||
		ok[0].Attrs["channel_binding"] != true || ok[1].Attrs["channel_binding"] != true || ok[2].Attrs["channel_binding"] != nil {
		t.Fatalf("logons: %d, want 3 (bound, bound, unbound)", len(ok))
	}

	refuse := func(name, mech, first string, final func(serverFirst string) string) {
		t.Helper()
		msg, fe := tlsAuthRequest(t, e, "alice")
		if _, ok := msg.(*pgproto3.AuthenticationSASL); !ok {
			t.Fatalf("%s: got %T", name, msg)
		}
		fe.Send(&pgproto3.SASLInitialResponse{AuthMechanism: mech, Data: []byte(first)})
		fe.Flush()
		msg, err := fe.Receive()
		if err != nil {
			t.Fatal(err)
		}
		if final != nil {
			cont, ok := msg.(*pgproto3.AuthenticationSASLContinue)
			if !ok {
				t.Fatalf("%s: got %#v", name, msg)
			}
			fe.Send(&pgproto3.SASLResponse{Data: []byte(final(string(cont.Data)))})
			fe.Flush()
			if msg, err = fe.Receive(); err != nil {
				t.Fatal(err)
			}
		}
		if er, ok := msg.(*pgproto3.ErrorResponse); !ok || er.Severity != "FATAL" || er.Code != "08P01" {
			t.Errorf("%s: %#v; want FATAL 08P01", name, msg)
		}
	}
	refuse("downgrade", "SCRAM-SHA-256", "y,,n=,r=abcdefgh", nil)
	refuse("PLUS without binding", "SCRAM-SHA-256-PLUS", "n,,n=,r=abcdefgh", nil)
	refuse("binding with plain SCRAM", "SCRAM-SHA-256", "p=tls-server-end-point,,n=,r=abcdefgh", nil)
	refuse("bound to another certificate", "SCRAM-SHA-256-PLUS", "p=tls-server-end-point,,n=,r=abcdefgh", func(sf string) string {
		nonce, _, _ := strings.Cut(strings.TrimPrefix(sf, "r="), ",")
		other := sha256.Sum256([]byte("a certificate a man in the middle presented"))
		c := base64.StdEncoding.EncodeToString(append([]byte("p=tls-server-end-point,,"), other[:]...))
		return "c=" + c + ",r=" + nonce + ",p=" + base64.StdEncoding.EncodeToString(make([]byte, 32))
	})

	t.Run("psql", func(t *testing.T) {
		psql := needTool(t, "psql")
		cmd := exec.Command(psql, "-X", "-A", "-t", "-c", "SELECT 42",
			fmt.Sprintf("host=localhost port=%d user=alice dbname=prod sslmode=verify-full sslrootcert=%s channel_binding=require", e.port, info.CertFile))
		cmd.Env = []string{"PGPASSWORD=" + e.alice}
		for _, kv := range os.Environ() {
			if !strings.HasPrefix(kv, "PG") {
				cmd.Env = append(cmd.Env, kv)
			}
		}
		out, err := cmd.CombinedOutput()
		if err != nil || strings.TrimSpace(string(out)) != "42" {
			t.Fatalf("psql channel_binding=require: %v\n%s", err, out)
		}
	})
}
