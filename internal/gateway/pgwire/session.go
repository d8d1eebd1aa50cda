package pgwire

import (
	"bufio"
	"context"
	"crypto/rand"
	"crypto/subtle"
	"crypto/tls"
	"encoding/binary"
	"errors"
	"fmt"
	"net"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgproto3"
	"github.com/oklog/ulid/v2"

	"github.com/vigil-audit/vigil/internal/event"
)

// SQLSTATEs the gateway answers with.
const (
	codeInsufficientPrivilege = "42501"
	codeInvalidPassword       = "28P01"
	codeInvalidAuthSpec       = "28000"
	codeUnknownDatabase       = "3D000"
	codeSystemError           = "58000" // the audit log cannot be written
	codeCannotConnect         = "08001"
	codeConnectionFailure     = "08006"
	codeProtocolViolation     = "08P01"
	codeAdminShutdown         = "57P01"
)

const (
	loginTimeout   = 30 * time.Second
	connectTimeout = 15 * time.Second
)

// Startup parameters passed on to the upstream. Others (options, and any
// server setting given as a startup parameter) could switch safeguards off
// outside of what the classifier sees, so they are dropped.
var passParams = map[string]bool{
	"application_name": true, "client_encoding": true, "DateStyle": true,
	"TimeZone": true, "IntervalStyle": true, "extra_float_digits": true,
}

// pending is something the upstream will answer (a forwarded message) or an
// answer of the gateway's own (inject) that must reach the client after the
// upstream's answers to everything forwarded before it.
type pending struct {
	typ    byte // forwarded message type; 0 for an inject
	inject []byte
	rfq    bool // inject: follow with ReadyForQuery(current status)
	x      *execution
}

// fifo is the queue of pending answers: values in one reused buffer, so
// that a round trip allocates no queue entries.
type fifo struct {
	buf  []pending
	head int
}

func (q *fifo) len() int { return len(q.buf) - q.head }

func (q *fifo) push(p pending) {
	if q.head > 0 && q.head >= len(q.buf)/2 {
		// Move the live entries down rather than grow (a pipelining
		// client may never let the queue drain).
		n := copy(q.buf, q.buf[q.head:])
		clear(q.buf[n:])
		q.buf, q.head = q.buf[:n], 0
	}
	q.buf = append(q.buf, p)
}

// front returns the oldest entry, nil when empty; valid until the next push.
func (q *fifo) front() *pending {
	if q.head == len(q.buf) {
		return nil
	}
	return &q.buf[q.head]
}

func (q *fifo) pop() pending {
	p := q.buf[q.head]
	q.buf[q.head] = pending{}
	q.head++
	if q.head == len(q.buf) {
		q.buf, q.head = q.buf[:0], 0
	}
	return p
}

func (q *fifo) all() []pending { return q.buf[q.head:] }

// intent is a decided and recorded statement text.
type intent struct {
	id   string
	sql  string
	verb string
}

// execution is one run of a statement whose outcome is recorded.
type execution struct {
	in     *intent
	start  time.Time
	tag    string   // the last command tag
	tagged bool     // tag is set
	tags   []string // the tags before it, when there were several
	rows   int64
	code   string
	msg    string
}

func (x *execution) addTag(tag string) {
	if x.tagged {
		x.tags = append(x.tags, x.tag)
	}
	x.tag, x.tagged = tag, true
}

type session struct {
	srv    *Server
	client net.Conn
	remote string
	secure bool
	// channelBound: SCRAM-SHA-256-PLUS bound the login to the TLS session.
	channelBound bool

	id      string
	user    string
	role    string
	method  string // how the client authenticated: AuthSCRAM or AuthPassword
	conn    Connection
	appName string
	pid     uint32
	// act, res and target are the identity statement events share
	// (cacheIdentity).
	act    event.Actor
	res    event.Resource
	target string
	secret []byte

	upConn   net.Conn
	upPID    uint32
	upSecret []byte
	upAddr   string

	cr *msgReader
	ur *msgReader
	uw *bufio.Writer // client loop only

	mu       sync.Mutex // guards the fields below
	cw       *bufio.Writer
	queue    fifo
	txStatus byte
	fatal    bool // a FATAL error reached the client
	// clientEnc is the client_encoding the upstream last reported (a
	// string): statements are decoded from it to UTF-8 before they are
	// classified.
	clientEnc atomic.Value
	// misreadBy is the setting the upstream switched to one the gateway
	// cannot read with ("standard_conforming_strings to off"), which closed
	// the session.
	misreadBy string

	// Client loop only.
	stmts   map[string]*intent
	portals map[string]*intent
	discard bool

	terminated atomic.Bool
	closeOnce  sync.Once
	statements atomic.Int64
	refused    atomic.Int64
}

// newKey draws a random process ID and secret for the client's
// BackendKeyData.
func (ss *session) newKey() {
	var b [8]byte
	rand.Read(b[:])
	ss.pid = binary.BigEndian.Uint32(b[:4]) & 0x7fffffff
	ss.secret = append([]byte(nil), b[4:]...)
}

// abort closes both connections, ending both relay loops.
func (ss *session) abort() {
	ss.closeOnce.Do(func() {
		ss.client.Close()
		if ss.upConn != nil {
			ss.upConn.Close()
		}
	})
}

// standard reports whether the session's connection uses the standard audit
// mode (the default).
func (ss *session) standard() bool {
	return ss.conn.Audit == "" || ss.conn.Audit == AuditStandard
}

func (ss *session) log() []any {
	return []any{keyRemote, ss.remote, keyUser, ss.user, keyConn, ss.conn.Name, keySession, ss.id}
}

// errLoginEnded ends a login that needs no further handling (a cancel
// request, a refused login already answered).
var errLoginEnded = errors.New("login ended")

func (s *Server) handle(c net.Conn) {
	defer c.Close()
	ss := &session{srv: s, client: c, remote: hostOf(c.RemoteAddr()), id: ulid.Make().String(), txStatus: 'I'}
	err := ss.login()
	if err != nil {
		if !errors.Is(err, errLoginEnded) {
			s.logger.Debug("login failed", append(ss.log(), keyErr, err)...)
		}
		if ss.upConn != nil {
			ss.upConn.Close()
		}
		return
	}
	defer s.unregister(ss)
	s.logger.Info("session opened", ss.log()...)
	ss.run()
	s.logger.Info("session closed", ss.log()...)
}

// fatal answers a login with a FATAL ErrorResponse.
func (ss *session) fatalLogin(code, msg string) error {
	ss.client.Write(errorMsg("FATAL", code, msg, ""))
	return errLoginEnded
}

func (ss *session) login() error {
	s := ss.srv
	ss.client.SetDeadline(time.Now().Add(loginTimeout))
	var params map[string]string
	for params == nil {
		code, body, err := readStartup(ss.client)
		if err != nil {
			return err
		}
		switch {
		case code == codeSSLRequest:
			if s.cfg.TLS == nil || ss.secure {
				if _, err := ss.client.Write([]byte{'N'}); err != nil {
					return err
				}
				continue
			}
			if _, err := ss.client.Write([]byte{'S'}); err != nil {
				return err
			}
			tc := tls.Server(ss.client, s.cfg.TLS)
			if err := tc.Handshake(); err != nil {
				return err
			}
			ss.client, ss.secure = tc, true
		case code == codeGSSEncRequest:
			if _, err := ss.client.Write([]byte{'N'}); err != nil {
				return err
			}
		case code == codeCancelRequest:
			s.cancel(body)
			return errLoginEnded
		case code>>16 == 3:
			params = map[string]string{}
			rest := body[4:]
			for len(rest) > 1 {
				k, r, ok := cstring(rest)
				if !ok {
					return ss.fatalLogin(codeProtocolViolation, "invalid startup packet")
				}
				v, r, ok := cstring(r)
				if !ok {
					return ss.fatalLogin(codeProtocolViolation, "invalid startup packet")
				}
				params[k] = v
				rest = r
			}
			if code&0xffff != 0 {
				// Speak 3.0: tell a newer client so, with the options we ignore.
				npv := &pgproto3.NegotiateProtocolVersion{NewestMinorProtocol: 0}
				for k := range params {
					if strings.HasPrefix(k, "_pq_.") {
						npv.UnrecognizedOptions = append(npv.UnrecognizedOptions, k)
						delete(params, k)
					}
				}
				if _, err := ss.client.Write(encode(npv)); err != nil {
					return err
				}
			}
		default:
			return ss.fatalLogin(codeProtocolViolation, fmt.Sprintf("unsupported frontend protocol %d.%d", code>>16, code&0xffff))
		}
	}
	ss.user = params["user"]
	db := params["database"]
	if db == "" {
		db = ss.user
	}
	ss.appName = params["application_name"]
	ss.conn = Connection{Name: db}
	if c, ok := s.cfg.Connections[db]; ok {
		ss.conn = c
		if ss.conn.Name == "" {
			ss.conn.Name = db
		}
	}
	if ss.user == "" {
		ss.authFailed("no user name in the startup packet")
		return ss.fatalLogin(codeInvalidAuthSpec, "no user name specified")
	}
	if !ss.secure && !isLoopback(ss.remote) {
		ss.authFailed("login without TLS from a non-loopback address")
		return ss.fatalLogin(codeInvalidAuthSpec, "Vigil accepts connections without TLS only from loopback; connect with sslmode=require")
	}

	ctx, cancel := context.WithTimeout(context.Background(), loginTimeout)
	defer cancel()
	// Small messages only until the client has authenticated.
	ss.cr = newMsgReader(ss.client, maxAuthMessageLen)
	p, err := ss.authenticate(ctx)
	if err != nil {
		return err
	}
	ss.role = p.Role
	ss.cr.max = maxMessageLen
	if _, ok := s.cfg.Connections[db]; !ok {
		ss.authFailed("unknown connection")
		return ss.fatalLogin(codeUnknownDatabase, fmt.Sprintf("connection %q does not exist", db))
	}
	if !ss.conn.allows(p) {
		ss.authFailed("the connection does not allow this user or role")
		return ss.fatalLogin(codeInsufficientPrivilege,
			fmt.Sprintf("permission denied for connection %q: user %q with a %s token may not use it", db, ss.user, p.Role))
	}
	hc, err := ss.connectUpstream(ctx, params)
	if err != nil {
		s.logger.Warn("upstream connection failed", append(ss.log(), keyErr, err)...)
		ss.authFailed("the upstream database cannot be reached")
		return ss.fatalLogin(codeCannotConnect, fmt.Sprintf("connection %q: the upstream database cannot be reached", db))
	}
	for _, name := range []string{"client_encoding", "standard_conforming_strings"} {
		if value := hc.ParameterStatuses[name]; misreadSetting(name, value) {
			hc.Conn.Close()
			ss.authFailed(name + " " + value + " is not supported")
			return ss.fatalLogin(codeInvalidParameterValue, misreadRefusal(name, value))
		}
	}
	ss.clientEnc.Store(hc.ParameterStatuses["client_encoding"])
	ss.upConn, ss.upPID, ss.upSecret = hc.Conn, hc.PID, hc.SecretKey
	// The client's key: the upstream's process ID, so that PQbackendPID,
	// pg_backend_pid() and the PIDs of notifications agree (a listener
	// tells its own notifications by it), with a secret of the gateway's
	// own; the upstream's secret never leaves the gateway. register picks a
	// random ID instead if another session already shows this one (a
	// second upstream server with the same PID).
	ss.newKey()
	if hc.PID > 0 && hc.PID <= 0x7fffffff {
		ss.pid = hc.PID
	}
	ss.upAddr = net.JoinHostPort(hc.Config.Host, strconv.Itoa(int(hc.Config.Port)))
	ss.ur = newMsgReader(hc.Conn, maxMessageLen)
	ss.uw = bufio.NewWriterSize(hc.Conn, 32<<10)
	// Known to cancel requests and Shutdown from here on, with every field
	// they read already set.
	if !s.register(ss) {
		return ss.fatalLogin(codeAdminShutdown, "the gateway is shutting down")
	}
	registered := true
	defer func() {
		if registered {
			s.unregister(ss)
		}
	}()

	if err := ss.record(ctx, ss.sessionEvent("logon", event.OutcomeSuccess, nil)); err != nil {
		s.logger.Error("session not recorded", append(ss.log(), keyErr, err)...)
		return ss.fatalLogin(codeSystemError, "the audit log cannot be written; the session is refused")
	}

	ss.cw = bufio.NewWriterSize(ss.client, 32<<10)
	ss.cw.Write(encode(&pgproto3.AuthenticationOk{}))
	for k, v := range hc.ParameterStatuses {
		ss.cw.Write(encode(&pgproto3.ParameterStatus{Name: k, Value: v}))
	}
	ss.cw.Write(encode(&pgproto3.BackendKeyData{ProcessID: ss.pid, SecretKey: ss.secret}))
	if hc.TxStatus != 0 {
		ss.txStatus = hc.TxStatus
	}
	ss.cw.Write(readyForQuery(ss.txStatus))
	if err := ss.cw.Flush(); err != nil {
		return err
	}
	ss.client.SetDeadline(time.Time{})
	registered = false
	return nil
}

// connectUpstream opens the session's upstream connection with pgconn (TLS
// per sslmode, SCRAM/MD5/password) and takes over its raw connection.
func (ss *session) connectUpstream(ctx context.Context, params map[string]string) (*pgconn.HijackedConn, error) {
	cfg, err := ss.conn.Upstream.Config()
	if err != nil {
		return nil, err
	}
	cfg.ConnectTimeout = connectTimeout
	for k, v := range params {
		if passParams[k] {
			cfg.RuntimeParams[k] = v
		}
	}
	pc, err := pgconn.ConnectConfig(ctx, cfg)
	if err != nil {
		return nil, err
	}
	if err := pc.SyncConn(ctx); err != nil {
		pc.Close(ctx)
		return nil, err
	}
	hc, err := pc.Hijack()
	if err != nil {
		pc.Close(ctx)
		return nil, err
	}
	if hc.Frontend.ReadBufferLen() > 0 {
		hc.Conn.Close()
		return nil, errors.New("upstream sent data before the first query")
	}
	return hc, nil
}

// cancel forwards a client's CancelRequest to the upstream of the session it
// names, with the upstream's own key. Best effort, as in PostgreSQL.
func (s *Server) cancel(body []byte) {
	var cr pgproto3.CancelRequest
	if err := cr.Decode(body); err != nil {
		return
	}
	ss := s.lookupPID(cr.ProcessID)
	if ss == nil || subtle.ConstantTimeCompare(ss.secret, cr.SecretKey) != 1 || ss.upAddr == "" {
		return
	}
	c, err := net.DialTimeout("tcp", ss.upAddr, connectTimeout)
	if err != nil {
		s.logger.Warn("cancel request not delivered", append(ss.log(), keyErr, err)...)
		return
	}
	defer c.Close()
	msg, err := (&pgproto3.CancelRequest{ProcessID: ss.upPID, SecretKey: ss.upSecret}).Encode(nil)
	if err == nil {
		c.SetDeadline(time.Now().Add(connectTimeout))
		c.Write(msg)
		var b [1]byte
		c.Read(b[:]) // the server closes the connection when done
	}
}

func hostOf(a net.Addr) string {
	if a == nil {
		return ""
	}
	h, _, err := net.SplitHostPort(a.String())
	if err != nil {
		return a.String()
	}
	return h
}

func isLoopback(host string) bool {
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}
