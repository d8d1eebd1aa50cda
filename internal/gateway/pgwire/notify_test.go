package pgwire_test

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
)

// TestNoticesAndNotifications: notices, notifications and parameter changes
// reach the client through the gateway, and the process ID the client was
// given (BackendKeyData) is the one pg_backend_pid() and notifications show,
// so that a listener can tell its own notifications from others'.
func TestNoticesAndNotifications(t *testing.T) {
	e := newEnv(t)
	setupTable(t, e)
	ctx := context.Background()
	var mu sync.Mutex
	var notices []*pgconn.Notice
	cfg, err := pgx.ParseConfig(e.dsn("alice", e.alice, "prod"))
	if err != nil {
		t.Fatal(err)
	}
	cfg.OnNotice = func(_ *pgconn.PgConn, n *pgconn.Notice) {
		mu.Lock()
		defer mu.Unlock()
		notices = append(notices, n)
	}
	listener, err := pgx.ConnectConfig(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer listener.Close(ctx)
	sender, err := pgx.Connect(ctx, e.dsn("bob", e.bob, "prod"))
	if err != nil {
		t.Fatal(err)
	}
	defer sender.Close(ctx)

	for _, c := range []*pgx.Conn{listener, sender} {
		var pid uint32
		if err := c.QueryRow(ctx, "SELECT pg_backend_pid()").Scan(&pid); err != nil {
			t.Fatal(err)
		}
		if pid != c.PgConn().PID() {
			t.Fatalf("pg_backend_pid() = %d, BackendKeyData = %d", pid, c.PgConn().PID())
		}
	}

	// A notice: the table exists already.
	if _, err := listener.Exec(ctx, "CREATE TABLE IF NOT EXISTS t (id int)"); err != nil {
		t.Fatal(err)
	}
	mu.Lock()
	if len(notices) != 1 || notices[0].Code != "42P07" || notices[0].Severity != "NOTICE" {
		t.Errorf("notices %+v; want one NOTICE 42P07 (relation already exists)", notices)
	}
	mu.Unlock()

	// A parameter change.
	if _, err := listener.Exec(ctx, "SET application_name = 'vigil-notify-test'"); err != nil {
		t.Fatal(err)
	}
	if got := listener.PgConn().ParameterStatus("application_name"); got != "vigil-notify-test" {
		t.Errorf("ParameterStatus(application_name) = %q", got)
	}

	// Notifications: from another session, and from the listener itself.
	if _, err := listener.Exec(ctx, "LISTEN jobs"); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		from    *pgx.Conn
		payload string
	}{{sender, "from bob"}, {listener, "from myself"}} {
		if _, err := tc.from.Exec(ctx, "SELECT pg_notify('jobs', $1)", tc.payload); err != nil {
			t.Fatal(err)
		}
		wctx, cancel := context.WithTimeout(ctx, 10*time.Second)
		n, err := listener.WaitForNotification(wctx)
		cancel()
		if err != nil {
			t.Fatalf("waiting for %q: %v", tc.payload, err)
		}
		if n.Channel != "jobs" || n.Payload != tc.payload || n.PID != tc.from.PgConn().PID() {
			t.Fatalf("notification %+v; want channel jobs, payload %q, PID %d", n, tc.payload, tc.from.PgConn().PID())
		}
	}
	// The listener still works after the notifications.
	var one int
	if err := listener.QueryRow(ctx, "SELECT 1").Scan(&one); err != nil || one != 1 {
		t.Fatalf("after notifications: %v", err)
	}
}
