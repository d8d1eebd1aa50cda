package pgwire_test

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5"

	"github.com/vigil-audit/vigil/internal/event"
	"github.com/vigil-audit/vigil/internal/gateway/pgwire"
	"github.com/vigil-audit/vigil/internal/pgtest"
)

// TestUpstreamAuth: the gateway logs in to a real PostgreSQL that asks for
// SCRAM-SHA-256, MD5 or a cleartext password, and over TLS verified against
// a configured root certificate (sslrootcert); pg_hba.conf allows each
// upstream user one method only, so a session that works proves the method.
// A wrong password, a refused plaintext connection and a certificate from
// another authority give the client FATAL 08001, each recorded as a failed
// logon, and the gateway goes on serving.
func TestUpstreamAuth(t *testing.T) {
	srv := pgtest.StartWith(t, pgtest.Options{TLS: true, HBA: []string{
		"local all all trust",
		"host all postgres 127.0.0.1/32 trust",
		"hostssl all tls_user 127.0.0.1/32 scram-sha-256",
		"hostnossl all tls_user 127.0.0.1/32 reject",
		"host all scram_user 127.0.0.1/32 scram-sha-256",
		"host all md5_user 127.0.0.1/32 md5",
		"host all pw_user 127.0.0.1/32 password",
	}})
	otherCA := filepath.Join(t.TempDir(), "other-ca.crt")
	other := pgtest.StartWith(t, pgtest.Options{TLS: true})
	b, err := os.ReadFile(other.RootCert())
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(otherCA, b, 0o644); err != nil {
		t.Fatal(err)
	}

	conns := map[string]pgwire.Upstream{
		"scram":        {User: "scram_user", Password: "scram-pw", SSLMode: "disable"},
		"md5":          {User: "md5_user", Password: "md5-pw", SSLMode: "disable"},
		"password":     {User: "pw_user", Password: "plain-pw", SSLMode: "disable"},
		"tls":          {User: "tls_user", Password: "tls-pw", SSLMode: "verify-full", SSLRootCert: srv.RootCert()},
		"bad-password": {User: "scram_user", Password: "wrong", SSLMode: "disable"},
		"tls-off":      {User: "tls_user", Password: "tls-pw", SSLMode: "disable"},
		"tls-other-ca": {User: "tls_user", Password: "tls-pw", SSLMode: "verify-full", SSLRootCert: otherCA},
	}
	e := newEnvWith(t, envOptions{audit: pgwire.AuditStrict, pg: srv, conns: func(m map[string]pgwire.Connection) {
		base := m["prod"]
		for name, u := range conns {
			up := base.Upstream
			up.User, up.Password, up.SSLMode, up.SSLRootCert = u.User, u.Password, u.SSLMode, u.SSLRootCert
			m[name] = pgwire.Connection{Name: name, Environment: "staging", Upstream: up, Audit: pgwire.AuditStrict}
		}
	}})
	ctx := context.Background()
	_, err = e.directConn().Exec(ctx, `
		SET password_encryption = 'scram-sha-256';
		CREATE ROLE scram_user LOGIN PASSWORD 'scram-pw';
		CREATE ROLE pw_user LOGIN PASSWORD 'plain-pw';
		CREATE ROLE tls_user LOGIN PASSWORD 'tls-pw';
		SET password_encryption = 'md5';
		CREATE ROLE md5_user LOGIN PASSWORD 'md5-pw'`)
	if err != nil {
		t.Fatal(err)
	}
	var md5Stored bool
	if err := e.directConn().QueryRow(ctx, `SELECT rolpassword LIKE 'md5%' FROM pg_authid WHERE rolname = 'md5_user'`).Scan(&md5Stored); err != nil || !md5Stored {
		t.Fatalf("md5_user's password is not stored as MD5 (%v), so the server would not ask for MD5", err)
	}

	for _, tc := range []struct {
		conn, user string
		ssl        bool
	}{
		{"scram", "scram_user", false},
		{"md5", "md5_user", false},
		{"password", "pw_user", false},
		{"tls", "tls_user", true},
	} {
		t.Run(tc.conn, func(t *testing.T) {
			c, err := pgx.Connect(ctx, e.dsn("alice", e.alice, tc.conn))
			if err != nil {
				t.Fatalf("connect through the gateway: %v", err)
			}
			defer c.Close(ctx)
			var user string
			var ssl bool
			if err := c.QueryRow(ctx, `SELECT current_user, ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()`).Scan(&user, &ssl); err != nil {
				t.Fatal(err)
			}
			if user != tc.user || ssl != tc.ssl {
				t.Fatalf("upstream session: user %q, ssl %v; want %q, %v", user, ssl, tc.user, tc.ssl)
			}
		})
	}

	for _, conn := range []string{"bad-password", "tls-off", "tls-other-ca"} {
		t.Run(conn, func(t *testing.T) {
			c, err := pgx.Connect(ctx, e.dsn("alice", e.alice, conn))
			if err == nil {
				c.Close(ctx)
				t.Fatal("connected; want FATAL 08001")
			}
			if got := sqlstate(err); got != "08001" {
				t.Fatalf("got %v (SQLSTATE %q); want 08001", err, got)
			}
			// The client learns nothing about why: no upstream user, no
			// server message.
			for _, leak := range []string{"tls_user", "scram_user", "password authentication", "certificate", "pg_hba"} {
				if strings.Contains(err.Error(), leak) {
					t.Fatalf("the client's error %q tells %q", err, leak)
				}
			}
		})
	}

	// Still serving, and every failure recorded as a failed logon naming
	// its connection.
	c, err := pgx.Connect(ctx, e.dsn("alice", e.alice, "scram"))
	if err != nil {
		t.Fatalf("after the failures: %v", err)
	}
	c.Close(ctx)
	failed := map[string]bool{}
	for _, ev := range e.events() {
		if ev.Action == "logon" && ev.Outcome == event.OutcomeFailure && ev.Attrs["reason"] == "the upstream database cannot be reached" {
			failed[ev.Resource.Name] = true
		}
	}
	for _, conn := range []string{"bad-password", "tls-off", "tls-other-ca"} {
		if !failed[conn] {
			t.Errorf("no failed logon event for connection %s (failed: %v)", conn, failed)
		}
	}
}

// TestUpstreamConfig: settings that cannot work are an error before any
// session, naming what is wrong and never the password.
func TestUpstreamConfig(t *testing.T) {
	missing := filepath.Join(t.TempDir(), "missing.crt")
	junk := filepath.Join(t.TempDir(), "junk.crt")
	if err := os.WriteFile(junk, []byte("not a certificate"), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name string
		up   pgwire.Upstream
		want string
	}{
		{"missing sslrootcert", pgwire.Upstream{Host: "db", Port: 5432, User: "u", Password: "pa'ss", SSLMode: "verify-full", SSLRootCert: missing}, "missing.crt"},
		{"sslrootcert without a certificate", pgwire.Upstream{Host: "db", Port: 5432, User: "u", Password: "pa'ss", SSLMode: "verify-full", SSLRootCert: junk}, "junk.crt"},
		{"unknown sslmode", pgwire.Upstream{Host: "db", Port: 5432, User: "u", Password: "pa'ss", SSLMode: "sometimes"}, "sslmode is invalid"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := tc.up.Config()
			if err == nil || !strings.Contains(err.Error(), tc.want) || strings.Contains(err.Error(), "pa'ss") || strings.Contains(err.Error(), `pa\'ss`) {
				t.Fatalf("Config() error %v; want one naming %q and not the password", err, tc.want)
			}
			if testing.Verbose() {
				t.Log(err)
			}
		})
	}
	cfg, err := pgwire.Upstream{Host: "db", Port: 6432, Database: "app", User: "u", Password: `it's \ odd`, SSLMode: "disable"}.Config()
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Host != "db" || cfg.Port != 6432 || cfg.Database != "app" || cfg.Password != `it's \ odd` || cfg.TLSConfig != nil {
		t.Fatalf("Config() = host %q port %d db %q password %q tls %v", cfg.Host, cfg.Port, cfg.Database, cfg.Password, cfg.TLSConfig != nil)
	}
}

// TestUpstreamConfigIgnoresEnvironment: PG* variables in the gateway's
// environment do not downgrade TLS, swap the trusted roots or add startup
// options to upstream sessions.
func TestUpstreamConfigIgnoresEnvironment(t *testing.T) {
	junk := filepath.Join(t.TempDir(), "junk.crt")
	if err := os.WriteFile(junk, []byte("not a certificate"), 0o644); err != nil {
		t.Fatal(err)
	}
	t.Setenv("PGSSLMODE", "disable")
	t.Setenv("PGSSLROOTCERT", junk) // would fail the parse if it were read
	t.Setenv("PGOPTIONS", "-c session_replication_role=replica")
	t.Setenv("PGAPPNAME", "from-env")
	t.Setenv("PGTARGETSESSIONATTRS", "standby")
	cfg, err := pgwire.Upstream{Host: "db", Port: 5432, Database: "app", User: "u", Password: "p"}.Config()
	if err != nil {
		t.Fatal(err)
	}
	if cfg.TLSConfig == nil {
		t.Error("PGSSLMODE=disable turned TLS off; want the default prefer")
	}
	if len(cfg.RuntimeParams) != 0 {
		t.Errorf("runtime parameters from the environment: %v", cfg.RuntimeParams)
	}
	if cfg.ValidateConnect != nil {
		t.Error("PGTARGETSESSIONATTRS=standby added a connection check")
	}
}
