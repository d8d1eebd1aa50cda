package pgwire_test

import (
	"context"
	"errors"
	"io"
	"net"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgproto3"

	"github.com/vigil-audit/vigil/internal/gateway/pgwire"
)

// FuzzClientStream sends arbitrary bytes as a logged-in client's message
// stream, then closes the client's side. Whatever the bytes, the gateway
// must not panic (a panic ends the fuzzing process), must end the session
// once the client has gone instead of hanging, and must go on serving other
// sessions. The seeds cover every message type a client may send, well and
// badly formed; `go test` runs them as a unit test.
func FuzzClientStream(f *testing.F) {
	e := newEnvWith(f, envOptions{audit: pgwire.AuditStandard, auth: pgwire.AuthPassword})
	setupTable(f, e)
	enc := func(msgs ...encoder) []byte { return encodeAll(f, msgs...) }
	query := func(sql string) *pgproto3.Query { return &pgproto3.Query{String: sql} }
	for _, seed := range [][]byte{
		enc(query("SELECT 1")),
		enc(query("SELECT v FROM t WHERE id = 1; SELECT 2")),
		enc(query("DROP TABLE t")),
		enc(query("DELETE FROM t")),
		enc(query("")),
		enc(query("SELEC oops")),
		enc(query("BEGIN"), query("DROP TABLE t"), query("SELECT 1"), query("COMMIT")),
		enc(&pgproto3.Parse{Name: "s", Query: "SELECT v FROM t WHERE id = $1"}, &pgproto3.Bind{PreparedStatement: "s", Parameters: [][]byte{[]byte("1")}},
			&pgproto3.Describe{ObjectType: 'P'}, &pgproto3.Execute{}, &pgproto3.Sync{}),
		enc(&pgproto3.Parse{Query: "DELETE FROM t"}, &pgproto3.Bind{}, &pgproto3.Execute{}, &pgproto3.Sync{}),
		enc(&pgproto3.Bind{PreparedStatement: "missing"}, &pgproto3.Execute{}, &pgproto3.Sync{}),
		enc(&pgproto3.Close{ObjectType: 'S', Name: "s"}, &pgproto3.Close{ObjectType: 'P'}, &pgproto3.Flush{}, &pgproto3.Sync{}),
		enc(query("COPY t FROM STDIN"), &pgproto3.CopyData{Data: []byte("11\tx\n")}, &pgproto3.CopyDone{}),
		enc(query("COPY t FROM STDIN"), &pgproto3.CopyFail{Message: "no"}),
		enc(query("COPY t TO STDOUT")),
		enc(&pgproto3.CopyData{Data: []byte("stray")}, &pgproto3.CopyDone{}),
		enc(&pgproto3.FunctionCall{Function: 1}),
		enc(query("PREPARE p AS DELETE FROM t"), query("EXECUTE p")),
		enc(query("SELECT pg_sleep(30)")),
		enc(&pgproto3.Terminate{}),
		enc(&pgproto3.Terminate{}, query("SELECT 1")),
		{'Q', 0, 0, 0, 4},                                                          // a Query with no text at all
		{'Q', 0, 0, 0, 12, 'S', 'E', 'L', 'E', 'C', 'T', ' ', '1'},                 // no NUL
		{'Q', 0, 0, 0, 16, 'S', 'E', 'L', 'E', 'C', 'T', ' ', '1', 0, 'D', 'R', 0}, // text after the NUL
		{'P', 0, 0, 0, 6, 0, 0},                                                    // Parse cut short
		{'B', 0, 0, 0, 4},                                                          // empty Bind
		{'C', 0, 0, 0, 4},                                                          // empty Close
		{'E', 0, 0, 0, 5, 0},                                                       // Execute without max rows
		{'Q', 0, 0, 0, 3},                                                          // length below the minimum
		{'Q', 0x7f, 0xff, 0xff, 0xff},                                              // a 2 GiB message
		{'Z', 0, 0, 0, 5, 'I'},                                                     // a backend message from the client
		{0, 0, 0, 8, 4, 0xd2, 0x16, 0x2f},                                          // an SSLRequest after login
		{'Q', 0, 0},                                                                // a header cut short
		[]byte("GET / HTTP/1.1\r\nHost: x\r\n\r\n"),
	} {
		f.Add(seed)
	}
	f.Fuzz(func(t *testing.T, stream []byte) {
		sendAndCheck(t, e, loginRaw(t, e), stream)
	})
}

// FuzzPreAuth is FuzzClientStream from the first byte of a connection: the
// startup packet, SSL and GSS requests, cancel requests and the
// authentication exchange, all before the client has proved anything.
func FuzzPreAuth(f *testing.F) {
	e := newEnvWith(f, envOptions{audit: pgwire.AuditStandard})
	enc := func(msgs ...encoder) []byte { return encodeAll(f, msgs...) }
	startup := func(params map[string]string) *pgproto3.StartupMessage {
		return &pgproto3.StartupMessage{ProtocolVersion: pgproto3.ProtocolVersionNumber, Parameters: params}
	}
	for _, seed := range [][]byte{
		enc(startup(map[string]string{"user": "alice", "database": "prod"})),
		enc(startup(map[string]string{"user": "alice", "database": "prod"}), &pgproto3.SASLInitialResponse{AuthMechanism: "SCRAM-SHA-256", Data: []byte("n,,n=alice,r=abcdef")}),
		enc(startup(map[string]string{"user": "alice", "database": "prod"}), &pgproto3.SASLInitialResponse{AuthMechanism: "SCRAM-SHA-256", Data: []byte("p=tls-server-end-point,,n=,r=x")}),
		enc(startup(map[string]string{"user": "alice", "database": "prod"}), &pgproto3.SASLInitialResponse{AuthMechanism: "PLAIN"}),
		enc(startup(map[string]string{"user": "alice", "database": "prod"}), &pgproto3.PasswordMessage{Password: "x"}),
		enc(startup(map[string]string{"user": "", "database": ""})),
		enc(startup(map[string]string{"user": "alice", "database": "prod", "options": "-c session_replication_role=replica"})),
		enc(&pgproto3.SSLRequest{}),
		enc(&pgproto3.GSSEncRequest{}, startup(map[string]string{"user": "alice", "database": "prod"})),
		enc(&pgproto3.CancelRequest{ProcessID: 1, SecretKey: []byte{1, 2, 3, 4}}),
		enc(&pgproto3.Query{String: "SELECT 1"}),
		{0, 0, 0, 8, 0, 2, 0, 0},                      // protocol 2
		{0, 0, 0, 8, 0, 3, 0, 9},                      // protocol 3.9
		{0, 0, 0, 4},                                  // length below the minimum
		{0, 0, 0x27, 0x11, 0, 3, 0, 0},                // longer than the startup limit
		{0, 0, 0, 12, 0, 3, 0, 0, 'u', 's', 'e', 'r'}, // a parameter without its NUL
		[]byte("GET / HTTP/1.1\r\nHost: x\r\n\r\n"),
	} {
		f.Add(seed)
	}
	f.Fuzz(func(t *testing.T, stream []byte) {
		sendAndCheck(t, e, dial(t, e), stream)
	})
}

// sendAndCheck writes stream to nc, closes nc's sending side and waits for
// the gateway to end the session; then a new session must still answer.
func sendAndCheck(t *testing.T, e *env, nc net.Conn, stream []byte) {
	t.Helper()
	nc.SetDeadline(time.Now().Add(15 * time.Second))
	// The gateway may close first (a protocol violation): writes may then
	// fail, which is fine.
	nc.Write(stream)
	nc.(*net.TCPConn).CloseWrite()
	if _, err := io.Copy(io.Discard, nc); err != nil {
		var ne net.Error
		if errors.As(err, &ne) && ne.Timeout() {
			t.Fatalf("the session did not end within 15 s of the client closing its side")
		}
	}
	nc.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	c, err := pgx.Connect(ctx, e.dsn("alice", e.alice, "prod"))
	if err != nil {
		t.Fatalf("a new session after the stream: %v", err)
	}
	defer c.Close(ctx)
	var n int
	if err := c.QueryRow(ctx, "SELECT 41 + 1").Scan(&n); err != nil || n != 42 {
		t.Fatalf("a new session after the stream: %d, %v", n, err)
	}
}

// encoder is a protocol message that encodes itself (pgproto3's frontend
// and startup messages).
type encoder interface{ Encode([]byte) ([]byte, error) }

// encodeAll is the wire bytes of msgs, one after the other.
func encodeAll(tb testing.TB, msgs ...encoder) []byte {
	tb.Helper()
	var b []byte
	for _, m := range msgs {
		var err error
		if b, err = m.Encode(b); err != nil {
			tb.Fatal(err)
		}
	}
	return b
}

// loginRaw logs alice in with the cleartext token (the env's auth is
// AuthPassword) and returns the connection after the first ReadyForQuery.
func loginRaw(t testing.TB, e *env) net.Conn {
	t.Helper()
	fe, nc := dialStartup(t, e, map[string]string{"user": "alice", "database": "prod"})
	if er, ok := passwordLogin(t, e, fe).(*pgproto3.ErrorResponse); ok {
		t.Fatalf("login: %s %s", er.Code, er.Message)
	}
	return nc
}
