package pgwire_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgproto3"

	"github.com/vigil-audit/vigil/internal/event"
	"github.com/vigil-audit/vigil/internal/gateway/pgwire"
	"github.com/vigil-audit/vigil/internal/store"
)

// slowStore delays every append of the audit log by delay.
type slowStore struct {
	store.Store
	delay atomic.Int64 // nanoseconds
}

func (s *slowStore) Append(ctx context.Context, b *store.Batch) error {
	time.Sleep(time.Duration(s.delay.Load()))
	return s.Store.Append(ctx, b)
}

// TestStandardReadsDoNotWait: in the standard mode a plain read is forwarded
// without waiting for the audit log; a write waits for its intent to be
// durable; every event is in the log after the session's close.
func TestStandardReadsDoNotWait(t *testing.T) {
	slow := &slowStore{}
	e := newEnvWith(t, envOptions{audit: "", wrap: func(st store.Store) store.Store {
		slow.Store = st
		return slow
	}})
	setupTable(t, e)
	ctx := context.Background()
	const delay = 400 * time.Millisecond
	for _, m := range modes[:2] {
		c := e.connect(m.mode)
		slow.delay.Store(int64(delay))
		start := time.Now()
		var v string
		if err := c.QueryRow(ctx, "SELECT v FROM t WHERE id = $1", 2).Scan(&v); err != nil || v != "v2" {
			t.Fatalf("%s select: %q %v", m.name, v, err)
		}
		if d := time.Since(start); d > delay/2 {
			t.Errorf("%s: a plain read took %v with a log taking %v per append; it waited for the log", m.name, d, delay)
		}
		start = time.Now()
		if _, err := c.Exec(ctx, "UPDATE t SET v = $1 WHERE id = 3", "w-"+m.name); err != nil {
			t.Fatalf("%s update: %v", m.name, err)
		}
		if d := time.Since(start); d < delay {
			t.Errorf("%s: a write took %v; its intent was not made durable first (log takes %v)", m.name, d, delay)
		}
		slow.delay.Store(0)
		c.Close(ctx)
	}
	evs := e.waitEvents(func(evs []*event.Event) bool { return countActivity(evs, "logoff") == 2 })
	// pgx sends the arguments inline in the simple protocol: match prefixes.
	for _, text := range []string{"SELECT v FROM t WHERE id = ", "UPDATE t SET v = "} {
		var intents, outcomes int
		for _, in := range evs {
			if s, _ := in.Attrs["sql.text"].(string); !strings.HasPrefix(s, text) {
				continue
			}
			intents++
			for _, out := range evs {
				if out.ParentID == in.ID && out.Seq > in.Seq {
					outcomes++
				}
			}
		}
		if intents != 2 || outcomes != 2 {
			t.Errorf("%q: %d intents, %d outcomes after them; want 2 and 2", text, intents, outcomes)
		}
	}
}

func countActivity(evs []*event.Event, activity string) int {
	n := 0
	for _, ev := range evs {
		if ev.Activity == activity {
			n++
		}
	}
	return n
}

// TestStandardLogClosed: with the audit log closed, a plain read still runs
// in the standard mode (its events are lost, as in a crash), a write is
// refused with 58000, and once the failure is known reads are refused too.
func TestStandardLogClosed(t *testing.T) {
	e := newEnvWith(t, envOptions{audit: pgwire.AuditStandard})
	setupTable(t, e)
	ctx := context.Background()
	c := e.connect(pgx.QueryExecModeSimpleProtocol)
	e.log.Close()
	var v string
	if err := c.QueryRow(ctx, "SELECT v FROM t WHERE id = 1").Scan(&v); err != nil || v != "v1" {
		t.Fatalf("plain read with the log closed: %q %v", v, err)
	}
	if _, err := c.Exec(ctx, "UPDATE t SET v = 'z' WHERE id = 1"); sqlstate(err) != "58000" {
		t.Fatalf("write with the log closed: %v; want 58000", err)
	}
	if _, err := c.Exec(ctx, "DROP TABLE t"); sqlstate(err) != "58000" {
		t.Fatalf("refusal with the log closed: %v; want 58000", err)
	}
	if err := c.QueryRow(ctx, "SELECT v FROM t WHERE id = 1").Scan(&v); sqlstate(err) != "58000" {
		t.Fatalf("plain read after the failure was known: %v; want 58000", err)
	}
	if err := e.directConn().QueryRow(ctx, "SELECT v FROM t WHERE id = 1").Scan(&v); err != nil || v != "v1" {
		t.Errorf("row 1 = %q %v", v, err)
	}
}

// TestCloseAfterDurable: the gateway closes a terminated session's
// connection only once every event of the session is durable, in both modes.
func TestCloseAfterDurable(t *testing.T) {
	for _, mode := range []string{pgwire.AuditStandard, pgwire.AuditStrict} {
		t.Run(mode, func(t *testing.T) {
			// Cleartext password, which this hand-driven client speaks.
			e := newEnvWith(t, envOptions{audit: mode, auth: pgwire.AuthPassword})
			setupTable(t, e)
			nc := dial(t, e)
			fe := pgproto3.NewFrontend(nc, nc)
			recvUntilReady := func() {
				t.Helper()
				for {
					msg, err := fe.Receive()
					if err != nil {
						t.Fatal(err)
					}
					switch m := msg.(type) {
					case *pgproto3.ErrorResponse:
						t.Fatalf("error: %s %s", m.Code, m.Message)
					case *pgproto3.ReadyForQuery:
						return
					}
				}
			}
			fe.Send(&pgproto3.StartupMessage{ProtocolVersion: pgproto3.ProtocolVersionNumber,
				Parameters: map[string]string{"user": "alice", "database": "prod"}})
			if err := fe.Flush(); err != nil {
				t.Fatal(err)
			}
			if msg, err := fe.Receive(); err != nil {
				t.Fatal(err)
			} else if _, ok := msg.(*pgproto3.AuthenticationCleartextPassword); !ok {
				t.Fatalf("got %T", msg)
			}
			fe.Send(&pgproto3.PasswordMessage{Password: e.alice})
			fe.Flush()
			recvUntilReady()
			queries := []string{"SELECT v FROM t WHERE id = 5", "SELECT count(*) FROM t", "UPDATE t SET v = 'u' WHERE id = 6"}
			for _, q := range queries {
				fe.Send(&pgproto3.Query{String: q})
				fe.Flush()
				recvUntilReady()
			}
			// A last read pipelined with the Terminate: its answer and events
			// still come before the close.
			fe.Send(&pgproto3.Query{String: "SELECT v FROM t WHERE id = 7"})
			fe.Send(&pgproto3.Terminate{})
			fe.Flush()
			if _, err := io.Copy(io.Discard, nc); err != nil {
				t.Fatalf("waiting for the close: %v", err)
			}
			// No waiting: the close was acknowledged, so everything is durable.
			evs := e.events()
			if n := countActivity(evs, "logoff"); n != 1 {
				t.Errorf("%d close events", n)
			}
			for _, q := range append(queries, "SELECT v FROM t WHERE id = 7") {
				var in *event.Event
				for _, ev := range evs {
					if ev.Attrs["sql.text"] == q {
						in = ev
					}
				}
				if in == nil {
					t.Errorf("no intent for %q", q)
					continue
				}
				found := false
				for _, ev := range evs {
					found = found || ev.ParentID == in.ID
				}
				if !found {
					t.Errorf("no outcome for %q", q)
				}
			}
		})
	}
}

// TestManyConnections: 500 client connections held open at once.
func TestManyConnections(t *testing.T) {
	if testing.Short() {
		t.Skip("500 connections: not in -short")
	}
	const n = 500
	e := newEnvWith(t, envOptions{audit: ""})
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	conns := make([]*pgconn.PgConn, n)
	var (
		wg    sync.WaitGroup
		mu    sync.Mutex
		errs  []error
		slots = make(chan struct{}, 32) // connection attempts in flight
	)
	start := time.Now()
	for i := range conns {
		wg.Add(1)
		go func() {
			defer wg.Done()
			slots <- struct{}{}
			c, err := pgconn.Connect(ctx, e.dsn("alice", e.alice, "prod"))
			<-slots
			if err == nil {
				var res []*pgconn.Result
				res, err = c.Exec(ctx, "SELECT 1").ReadAll()
				if err == nil && (len(res) != 1 || len(res[0].Rows) != 1 || string(res[0].Rows[0][0]) != "1") {
					err = fmt.Errorf("SELECT 1 returned %v", res)
				}
			}
			mu.Lock()
			defer mu.Unlock()
			conns[i] = c
			if err != nil {
				errs = append(errs, fmt.Errorf("connection %d: %w", i, err))
			}
		}()
	}
	wg.Wait()
	if len(errs) > 0 {
		t.Fatalf("%d errors, first: %v", len(errs), errors.Join(errs[:min(5, len(errs))]...))
	}
	t.Logf("%d connections open and queried in %v", n, time.Since(start))
	// All held at once: every one still answers.
	var direct int
	if err := e.directConn().QueryRow(ctx, "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database()").Scan(&direct); err != nil {
		t.Fatal(err)
	}
	if direct < n {
		t.Errorf("%d upstream backends; want at least %d", direct, n)
	}
	for i, c := range conns {
		if _, err := c.Exec(ctx, "SELECT 2").ReadAll(); err != nil {
			t.Fatalf("connection %d, second query: %v", i, err)
		}
	}
	for _, c := range conns {
		wg.Add(1)
		go func() {
			defer wg.Done()
			c.Close(ctx)
		}()
	}
	wg.Wait()
	evs := e.waitEvents(func(evs []*event.Event) bool { return countActivity(evs, "logoff") == n })
	if got := countActivity(evs, "logoff"); got != n {
		t.Errorf("%d close events; want %d", got, n)
	}
	t.Logf("done in %v", time.Since(start))
}
