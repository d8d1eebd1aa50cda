// Package pgwire is Vigil's PostgreSQL gateway: a listener speaking the
// PostgreSQL v3 wire protocol. Clients log in as their Vigil user with their
// Vigil API token as the password and name a configured connection as the
// database; the gateway opens one upstream connection per session with the
// credentials it holds, decides every statement with the policy engine,
// records it in the audit log before forwarding it (fail closed), and records
// its outcome afterwards, linked to the intent by parent_id.
//
// Choices (see also docs/ARCHITECTURE.md):
//
//   - TLS: an SSLRequest is answered 'S' and the connection upgraded when
//     Config.TLS is set (LoadTLS: configured files, or a self-signed ECDSA
//     P-256 certificate made once in the data directory). A client without
//     TLS is accepted only from a loopback address; others are refused with
//     FATAL 28000, recorded.
//   - Client authentication (Config.Auth) is SCRAM-SHA-256 by default, as
//     PostgreSQL does it, with the token as the password; over TLS
//     SCRAM-SHA-256-PLUS (tls-server-end-point channel binding) is offered
//     too, and a client claiming channel binding support while not using it
//     is refused as a downgrade. The store keeps each token's SCRAM verifier
//     (auth.SCRAMVerifier); all tokens of a user share one salt, derived
//     from the user name, and one iteration count, so the proof is checked
//     against each of the user's verifiers and the matching token gives the
//     session its role. An unknown user's exchange runs to its end like a
//     wrong token's. A user whose tokens all predate verifiers is asked for
//     a cleartext password instead, and so is everyone with AuthPassword.
//     A failed login is FATAL 28P01.
//   - After authentication: a database that names no connection is FATAL
//     3D000; a connection whose Roles and Users do not include the login's
//     token role or user is FATAL 42501 naming it. Every refused login is
//     recorded as a failed logon event with its reason.
//   - With Connection.RedactLiterals, intent events record the statement's
//     normalized text (literals as $n; literals and comments the normalizer
//     keeps are removed by a second pass with the lexer), a withheld
//     placeholder with the text's length and keyed fingerprint when it does
//     not parse, and outcome events withhold the upstream's error message
//     (see redact.go).
//   - A refused statement is not forwarded at all: the client gets
//     ErrorResponse 42501 then ReadyForQuery with the session's current
//     transaction status as last reported by the upstream. Inside a
//     transaction block the status therefore stays 'T' (PostgreSQL itself
//     would abort the block to 'E'); upstream and client stay consistent,
//     and the client may go on or roll back.
//   - In the extended protocol a refused Parse answers ErrorResponse, the
//     following messages are discarded until Sync, and the Sync is forwarded
//     so that the upstream's ReadyForQuery closes the batch. Messages of the
//     same batch forwarded before the refused Parse have run upstream.
//   - When the audit log cannot be written, the statement is refused with
//     SQLSTATE 58000 (system_error) and the session stays open; a login whose
//     session-open event cannot be written is refused with 58000 (FATAL).
//   - FunctionCall messages (the fast-path interface) are refused: they would
//     call functions by OID, outside of what the SQL classifier sees.
//
// # Audit modes
//
// Each connection has an audit mode (Connection.Audit). All of a server's
// session events go through one appender, which appends them to the audit
// log in the order the sessions produced them: an outcome always comes after
// its intent, and a session's close event after all of its other events.
//
//   - strict: every statement's intent event is durable before the
//     statement is forwarded. Outcome events are queued for the background
//     appender.
//   - standard (the default, also when Audit is empty): the same as strict
//     for every statement that is not a plain read, and for every refusal.
//     A plain read is a text whose every statement, nested ones included,
//     the SQL classifier reports as SELECT, with no locking clause and no
//     INTO (the gateway refuses the fast path when the words "for" or "into"
//     appear anywhere in the text), calling only functions of a short list
//     of pure built-ins (pureFunctions), with no classifier flag set
//     (privilege escalation, server access, dynamic SQL, safeguards off,
//     ...); unparseable text is never a plain read. A plain read is
//     forwarded at once; its intent event is queued for the background
//     appender, which starts an append at most FlushInterval (default 5 ms,
//     at most 10 ms) after the first queued event, or at once when a
//     synchronous event joins the queue, and group-commits everything
//     queued. After a background append fails, plain reads take the strict
//     path until an append succeeds again.
//
// In both modes a session's close is acknowledged (the client's connection
// closed, after Terminate or when the client went away) only once its close
// event, and therefore every event of the session, is durable; Shutdown
// drains the queue before it returns.
//
// After a crash of the gateway (or of its host), the audit log holds:
//
//   - strict: the intent of every statement that reached the database, and
//     of every refusal the client saw. Outcome events of the last moments
//     (at most FlushInterval plus one group commit) may be missing, and so
//     may the close events of sessions open at the time.
//   - standard: the same for every statement that is not a plain read and
//     for every refusal. Intent and outcome events of plain reads forwarded
//     within the last FlushInterval plus one group commit before the crash
//     may be missing (the reads ran, but are not recorded). A read that
//     reaches side effects through objects defined earlier (a view or
//     operator calling a volatile function, a function shadowing a
//     built-in through search_path) counts as a plain read by its text;
//     those definitions are themselves DDL, recorded durably before they
//     ran.
//   - both: the log stays consistent and verifiable; nothing acknowledged
//     as durable is lost; a session whose close the client saw has all of
//     its events in the log.
package pgwire

import (
	"context"
	"crypto/rand"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/jackc/pgx/v5/pgconn"

	"github.com/vigil-audit/vigil/internal/auditlog"
	"github.com/vigil-audit/vigil/internal/auth"
	"github.com/vigil-audit/vigil/internal/policy"
	"github.com/vigil-audit/vigil/internal/review"
)

// Log keys.
const (
	keyRemote  = "remote"
	keyUser    = "user"
	keyConn    = "connection"
	keySession = "session"
	keyErr     = "err"
	keySetting = "setting"
)

// Audit modes of a connection.
const (
	AuditStrict   = "strict"
	AuditStandard = "standard"
)

// Config configures the gateway.
type Config struct {
	// Listen is the address Serve's caller listens on (informational here).
	Listen string
	// Connections are the upstream databases, keyed by the name clients give
	// as the database.
	Connections map[string]Connection
	// TLS, when set, is offered to clients that send SSLRequest (see
	// LoadTLS). Clients without TLS are accepted only from loopback.
	TLS *tls.Config
	// Auth is how clients prove their token: AuthSCRAM (the default, also
	// when empty or any other value) or AuthPassword (cleartext).
	Auth string
	// RedactKey keys the fingerprint (HMAC-SHA256) recorded for a statement
	// text withheld under RedactLiterals. When empty, New draws a random
	// key, and fingerprints compare only within one run of the gateway.
	RedactKey []byte
	// FlushInterval bounds how long a background audit event waits before
	// its append starts (default DefaultFlushInterval, at most
	// MaxFlushInterval).
	FlushInterval time.Duration
}

// Connection is one upstream database clients may reach.
type Connection struct {
	Name        string
	Environment string
	Upstream    Upstream
	// Audit is "strict" or "standard" (the default when empty); any other
	// value behaves as strict.
	Audit string
	// Roles and Users restrict who may use the connection: a login is
	// allowed when its token's role is in Roles or its user is in Users.
	// Both empty: every authenticated user.
	Roles []string
	Users []string
	// RedactLiterals records statements in their normalized form, literals
	// replaced by $n, instead of their text (see redactSQL).
	RedactLiterals bool
}

// allows reports whether p may use the connection.
func (c Connection) allows(p auth.Principal) bool {
	if len(c.Roles) == 0 && len(c.Users) == 0 {
		return true
	}
	return slices.Contains(c.Roles, p.Role) || slices.Contains(c.Users, p.User)
}

// Upstream is where and as whom the gateway connects.
type Upstream struct {
	Host, Database, User, Password, SSLMode string
	// SSLRootCert is a PEM file of the certificate authorities that
	// sslmode verify-ca and verify-full trust (libpq's sslrootcert); empty
	// means the system's.
	SSLRootCert string
	Port        int
}

// Config parses the upstream as a pgconn connection configuration. It reads
// SSLRootCert, so an unreadable or malformed file is an error here.
//
// pgconn, like libpq, fills what a connection string leaves out from PG*
// environment variables and a service file. What decides the session's
// security is set here explicitly, so that the gateway's environment cannot
// change it: sslmode (prefer when empty), sslrootcert (the system's roots
// when empty), target_session_attrs, and no startup options or settings
// (PGOPTIONS could switch a safeguard off where no rule sees it). The
// rest still follows libpq: PGPASSWORD or ~/.pgpass when no password is
// configured, client certificates from PGSSLCERT and PGSSLKEY.
func (u Upstream) Config() (*pgconn.Config, error) {
	mode := u.SSLMode
	if mode == "" {
		mode = "prefer"
	}
	kv := []string{"host", u.Host, "dbname", u.Database, "user", u.User, "password", u.Password,
		"sslmode", mode, "sslrootcert", u.SSLRootCert, "target_session_attrs", "any"}
	if u.Port != 0 {
		kv = append(kv, "port", strconv.Itoa(u.Port))
	}
	var b strings.Builder
	for i := 0; i < len(kv); i += 2 {
		if kv[i+1] == "" && kv[i] != "sslrootcert" {
			continue
		}
		v := strings.ReplaceAll(strings.ReplaceAll(kv[i+1], `\`, `\\`), `'`, `\'`)
		fmt.Fprintf(&b, "%s='%s' ", kv[i], v)
	}
	cfg, err := pgconn.ParseConfig(b.String())
	if err != nil {
		// pgconn's message may quote the connection string, password
		// included: name the fields, not the values.
		var perr *pgconn.ParseConfigError
		if errors.As(err, &perr) && perr.Unwrap() != nil {
			return nil, fmt.Errorf("upstream %s:%d (sslmode %q, sslrootcert %q): %w", u.Host, u.Port, u.SSLMode, u.SSLRootCert, perr.Unwrap())
		}
		return nil, fmt.Errorf("upstream %s:%d: invalid settings", u.Host, u.Port)
	}
	cfg.RuntimeParams = map[string]string{}
	return cfg, nil
}

// Deps are the services the gateway uses.
type Deps struct {
	Log    *auditlog.Log
	Auth   *auth.Authenticator
	Policy *policy.Engine
	Logger *slog.Logger
	// Reviews opens a review for each statement the policy sends to review,
	// and lets an approved one run; nil refuses them with no review to ask
	// for.
	Reviews *review.Manager
}

// ErrServerClosed is returned by Serve after Shutdown.
var ErrServerClosed = errors.New("pgwire: server closed")

// Server is the PostgreSQL gateway.
type Server struct {
	cfg    Config
	deps   Deps
	logger *slog.Logger

	mu       sync.Mutex
	closing  bool
	lns      map[net.Listener]struct{}
	sessions map[*session]struct{}
	byPID    map[uint32]*session
	wg       sync.WaitGroup

	app       *appender
	closeOnce sync.Once

	// cbData is the tls-server-end-point channel binding data of the TLS
	// certificate; nil without TLS (or for a certificate that has none).
	cbData []byte
}

// New returns a gateway.
func New(cfg Config, deps Deps) *Server {
	s := &Server{cfg: cfg, deps: deps, logger: deps.Logger,
		lns: map[net.Listener]struct{}{}, sessions: map[*session]struct{}{}, byPID: map[uint32]*session{}}
	if s.logger == nil {
		s.logger = slog.New(slog.DiscardHandler)
	}
	s.cbData = tlsServerEndPoint(cfg.TLS)
	if len(s.cfg.RedactKey) == 0 {
		s.cfg.RedactKey = make([]byte, 32)
		rand.Read(s.cfg.RedactKey)
	}
	s.app = newAppender(deps.Log, s.logger, cfg.FlushInterval)
	return s
}

// Serve accepts client connections on ln until Shutdown. It returns
// ErrServerClosed after Shutdown, or the listener's error.
func (s *Server) Serve(ln net.Listener) error {
	s.mu.Lock()
	if s.closing {
		s.mu.Unlock()
		return ErrServerClosed
	}
	s.lns[ln] = struct{}{}
	s.mu.Unlock()
	defer func() {
		s.mu.Lock()
		delete(s.lns, ln)
		s.mu.Unlock()
	}()
	var delay time.Duration
	for {
		c, err := ln.Accept()
		if err != nil {
			s.mu.Lock()
			closing := s.closing
			s.mu.Unlock()
			if closing {
				return ErrServerClosed
			}
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() {
				delay = min(max(2*delay, 5*time.Millisecond), time.Second)
				time.Sleep(delay)
				continue
			}
			return err
		}
		delay = 0
		s.wg.Add(1)
		go func() {
			defer s.wg.Done()
			s.handle(c)
		}()
	}
}

// Shutdown stops accepting connections and waits for the sessions to end
// until ctx is done; then it closes the remaining sessions' connections and
// waits for them to finish recording.
func (s *Server) Shutdown(ctx context.Context) error {
	s.mu.Lock()
	s.closing = true
	for ln := range s.lns {
		ln.Close()
	}
	s.mu.Unlock()
	done := make(chan struct{})
	go func() {
		s.wg.Wait()
		close(done)
	}()
	select {
	case <-done:
		s.closeOnce.Do(s.app.close)
		return nil
	case <-ctx.Done():
	}
	s.mu.Lock()
	for ss := range s.sessions {
		ss.abort()
	}
	s.mu.Unlock()
	<-done
	s.closeOnce.Do(s.app.close)
	return ctx.Err()
}

// register makes a session known for cancel requests and Shutdown.
func (s *Server) register(ss *session) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closing {
		return false
	}
	for {
		if _, taken := s.byPID[ss.pid]; !taken && ss.pid != 0 {
			break
		}
		ss.newKey()
	}
	s.sessions[ss] = struct{}{}
	s.byPID[ss.pid] = ss
	return true
}

func (s *Server) unregister(ss *session) {
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.sessions, ss)
	if s.byPID[ss.pid] == ss {
		delete(s.byPID, ss.pid)
	}
}

func (s *Server) lookupPID(pid uint32) *session {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.byPID[pid]
}
