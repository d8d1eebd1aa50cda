// Package pgtest starts throwaway PostgreSQL servers for tests.
//
// A server lives in its own temporary directory (data directory, unix socket and
// log), listens on a free loopback TCP port, trusts every local connection as the
// superuser "postgres", and is stopped and deleted when the test that started it
// ends. When the test process runs as root, initdb and postgres run as the
// "postgres" OS user, since PostgreSQL refuses to run as root. On Linux the server
// is also killed if the test binary dies without cleaning up.
//
// Tests that need a server skip when the PostgreSQL binaries are absent, except
// when the environment has CI=true, where they fail.
//
// Either start a server per test:
//
//	srv := pgtest.Start(t)
//	dsn := srv.NewDB(t)
//
// or share one server across a package's tests, which requires a TestMain:
//
//	func TestMain(m *testing.M) { os.Exit(pgtest.Main(m)) }
//
//	func TestX(t *testing.T) { dsn := pgtest.Shared(t).NewDB(t) }
package pgtest

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"fmt"
	"math/big"
	"net"
	"net/url"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
)

// DefaultBinDir is where the PostgreSQL binaries are looked for unless the
// environment variable PGTEST_BINDIR names another directory.
const DefaultBinDir = "/usr/lib/postgresql/15/bin"

// Timeouts for starting and stopping a server.
const (
	startTimeout = 30 * time.Second
	stopTimeout  = 15 * time.Second
)

// Options adjust a server. The zero value is the default: durable (fsync on).
type Options struct {
	// NoFsync turns fsync off: faster, but a benchmark then measures nothing
	// about durability.
	NoFsync bool
	// MaxConnections overrides max_connections (default 600).
	MaxConnections int
	// ExtraConf holds further settings as "name=value", passed to postgres as
	// -c name=value, after the defaults so that they override them. Empty
	// strings are ignored.
	ExtraConf []string
	// HBA, when set, replaces pg_hba.conf (initdb's trusts every local
	// connection) with these lines. pgtest itself connects as postgres over
	// TCP from 127.0.0.1 without a password or TLS, so keep a line that lets
	// it ("host all postgres 127.0.0.1/32 trust").
	HBA []string
	// TLS turns ssl on, with a self-signed certificate for 127.0.0.1 and
	// localhost that is its own root: Server.RootCert is its file, for a
	// client's sslrootcert.
	TLS bool
}

// Server is a running PostgreSQL server.
type Server struct {
	dir      string // owned by the server's OS user; holds data/, sock/, postgres.log
	port     int
	rootCert string // with Options.TLS
	cmd      *exec.Cmd
	exited   chan struct{} // closed when the postmaster process has exited
	waitErr  error         // valid once exited is closed
	stopped  sync.Once
	stopErr  error
}

// Available reports the directory holding the PostgreSQL binaries (initdb and
// postgres) and whether they are there.
func Available() (string, bool) {
	dir := os.Getenv("PGTEST_BINDIR")
	if dir == "" {
		dir = DefaultBinDir
	}
	for _, name := range []string{"initdb", "postgres"} {
		fi, err := os.Stat(filepath.Join(dir, name))
		if err != nil || fi.IsDir() || fi.Mode()&0o111 == 0 {
			return dir, false
		}
	}
	return dir, true
}

// requireBinaries returns the binary directory, or skips the test (fails it
// under CI=true) when the binaries are absent.
func requireBinaries(tb testing.TB) string {
	tb.Helper()
	dir, ok := Available()
	if !ok {
		msg := fmt.Sprintf("pgtest: PostgreSQL binaries not found in %s (set PGTEST_BINDIR)", dir)
		if os.Getenv("CI") == "true" {
			tb.Fatal(msg + "; CI=true requires them")
		}
		tb.Skip(msg)
	}
	return dir
}

// Start starts a durable server with default options and stops it when tb ends.
func Start(tb testing.TB) *Server {
	tb.Helper()
	return StartWith(tb, Options{})
}

// StartWith starts a server with the given options and stops it when tb ends.
func StartWith(tb testing.TB, opts Options) *Server {
	tb.Helper()
	bin := requireBinaries(tb)
	s, err := start(bin, opts)
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() {
		if err := s.Stop(); err != nil {
			tb.Error(err)
		}
	})
	return s
}

var shared struct {
	mainRunning atomic.Bool
	once        sync.Once
	srv         *Server
	err         error
}

// Main runs a package's tests and then stops the server that Shared started, if
// any. Call it from TestMain: os.Exit(pgtest.Main(m)).
func Main(m *testing.M) int {
	shared.mainRunning.Store(true)
	code := m.Run()
	if shared.srv != nil {
		if err := shared.srv.Stop(); err != nil {
			fmt.Fprintln(os.Stderr, err)
			if code == 0 {
				code = 1
			}
		}
	}
	return code
}

// Shared returns a durable server shared by all the tests of the test binary,
// starting it on first use. The package's TestMain must call Main, which stops
// it; Shared fails the test otherwise. Tests sharing the server should each use
// their own database (NewDB).
func Shared(tb testing.TB) *Server {
	tb.Helper()
	if !shared.mainRunning.Load() {
		tb.Fatal("pgtest: Shared needs a TestMain that calls pgtest.Main")
	}
	bin := requireBinaries(tb)
	shared.once.Do(func() {
		shared.srv, shared.err = start(bin, Options{})
	})
	if shared.err != nil {
		tb.Fatal(shared.err)
	}
	return shared.srv
}

// Port returns the server's TCP port on Host.
func (s *Server) Port() int { return s.port }

// Host returns the address the server listens on.
func (s *Server) Host() string { return "127.0.0.1" }

// SocketDir returns the directory holding the server's unix socket.
func (s *Server) SocketDir() string { return filepath.Join(s.dir, "sock") }

// LogPath returns the file the server logs to.
func (s *Server) LogPath() string { return filepath.Join(s.dir, "postgres.log") }

// DSN returns a URL connecting to database db as the superuser over TCP.
func (s *Server) DSN(db string) string {
	u := url.URL{
		Scheme:   "postgres",
		User:     url.User("postgres"),
		Host:     net.JoinHostPort(s.Host(), strconv.Itoa(s.port)),
		Path:     "/" + db,
		RawQuery: "sslmode=disable",
	}
	return u.String()
}

// CreateDB creates the database name and returns a DSN for it.
func (s *Server) CreateDB(tb testing.TB, name string) string {
	tb.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), startTimeout)
	defer cancel()
	if err := s.createDB(ctx, name); err != nil {
		tb.Fatal(err)
	}
	return s.DSN(name)
}

var dbCounter atomic.Int64

// NewDB creates a fresh database with a unique name and returns a DSN for it.
func (s *Server) NewDB(tb testing.TB) string {
	tb.Helper()
	return s.CreateDB(tb, fmt.Sprintf("test_%d", dbCounter.Add(1)))
}

func (s *Server) createDB(ctx context.Context, name string) error {
	conn, err := pgx.Connect(ctx, s.DSN("postgres"))
	if err != nil {
		return fmt.Errorf("pgtest: create database %q: connect: %w", name, err)
	}
	defer conn.Close(context.Background())
	if _, err := conn.Exec(ctx, "CREATE DATABASE "+pgx.Identifier{name}.Sanitize()); err != nil {
		return fmt.Errorf("pgtest: create database %q: %w", name, err)
	}
	return nil
}

// Stop shuts the server down (fast shutdown: sessions are disconnected) and
// removes its directory. It is safe to call more than once.
func (s *Server) Stop() error {
	s.stopped.Do(func() { s.stopErr = s.stop() })
	return s.stopErr
}

func (s *Server) stop() error {
	var errs []error
	if err := s.stopProcess(); err != nil {
		errs = append(errs, err)
	}
	if err := os.RemoveAll(s.dir); err != nil {
		errs = append(errs, fmt.Errorf("pgtest: remove %s: %w", s.dir, err))
	}
	return errors.Join(errs...)
}

// stopProcess stops the postmaster and waits for it to exit: fast shutdown
// (SIGINT), then immediate shutdown (SIGQUIT), then SIGKILL.
func (s *Server) stopProcess() error {
	var errs []error
	for _, sig := range []syscall.Signal{syscall.SIGINT, syscall.SIGQUIT, syscall.SIGKILL} {
		select {
		case <-s.exited:
			return errors.Join(errs...)
		default:
		}
		_ = s.cmd.Process.Signal(sig)
		select {
		case <-s.exited:
			return errors.Join(errs...)
		case <-time.After(stopTimeout):
			errs = append(errs, fmt.Errorf("pgtest: postgres on port %d ignored %v for %v", s.port, sig, stopTimeout))
		}
	}
	return errors.Join(errs...)
}

// runAs describes the OS user the server runs as: nil credential means the
// current user.
type runAs struct {
	cred     *syscall.Credential
	uid, gid int
}

func serverUser() (runAs, error) {
	if os.Geteuid() != 0 {
		return runAs{uid: -1, gid: -1}, nil
	}
	u, err := user.Lookup("postgres")
	if err != nil {
		return runAs{}, fmt.Errorf("pgtest: running as root and cannot find the postgres OS user: %w", err)
	}
	uid, err := strconv.ParseUint(u.Uid, 10, 32)
	if err != nil {
		return runAs{}, fmt.Errorf("pgtest: postgres user's uid %q: %w", u.Uid, err)
	}
	gid, err := strconv.ParseUint(u.Gid, 10, 32)
	if err != nil {
		return runAs{}, fmt.Errorf("pgtest: postgres user's gid %q: %w", u.Gid, err)
	}
	return runAs{
		cred: &syscall.Credential{Uid: uint32(uid), Gid: uint32(gid), NoSetGroups: true},
		uid:  int(uid), gid: int(gid),
	}, nil
}

// command returns a command running bin/name as the server's user, in dir, with
// the PG* variables of the environment removed so they cannot redirect it.
func (r runAs) command(dir, bin, name string, args ...string) *exec.Cmd {
	cmd := exec.Command(filepath.Join(bin, name), args...)
	cmd.Dir = dir
	env := []string{"LC_ALL=C", "TZ=UTC"}
	for _, kv := range os.Environ() {
		if strings.HasPrefix(kv, "PG") || strings.HasPrefix(kv, "LC_") || strings.HasPrefix(kv, "TZ=") {
			continue
		}
		env = append(env, kv)
	}
	cmd.Env = env
	cmd.SysProcAttr = sysProcAttr(r.cred)
	return cmd
}

// start initializes a cluster in a new temporary directory and starts it.
func start(bin string, opts Options) (*Server, error) {
	who, err := serverUser()
	if err != nil {
		return nil, err
	}
	base := tempBase(who)
	removeAbandoned(base)
	dir, err := os.MkdirTemp(base, dirPrefix)
	if err != nil {
		return nil, fmt.Errorf("pgtest: %w", err)
	}
	cleanup := func() { os.RemoveAll(dir) }
	if err := os.Mkdir(filepath.Join(dir, "sock"), 0o700); err != nil {
		cleanup()
		return nil, fmt.Errorf("pgtest: %w", err)
	}
	if who.cred != nil {
		for _, p := range []string{dir, filepath.Join(dir, "sock")} {
			if err := os.Chown(p, who.uid, who.gid); err != nil {
				cleanup()
				return nil, fmt.Errorf("pgtest: hand %s to the postgres user: %w", p, err)
			}
		}
	}

	data := filepath.Join(dir, "data")
	initdb := who.command(dir, bin, "initdb", "--pgdata", data, "--auth=trust", "--username=postgres",
		"--no-sync", "--encoding=UTF8", "--locale=C", "--no-instructions")
	var out bytes.Buffer
	initdb.Stdout, initdb.Stderr = &out, &out
	err = startCmd(initdb)
	if err == nil {
		err = initdb.Wait()
	}
	if err != nil {
		cleanup()
		return nil, fmt.Errorf("pgtest: initdb: %w\n%s", err, tail(out.Bytes(), 40))
	}

	rootCert, conf, err := configure(dir, data, who, opts)
	if err != nil {
		cleanup()
		return nil, err
	}
	opts.ExtraConf = append(conf, opts.ExtraConf...)

	// Another process may take the free port between our probe and the server's
	// bind; try a few ports before giving up.
	var lastErr error
	for attempt := 0; attempt < 5; attempt++ {
		s, retry, err := launch(bin, dir, data, who, opts)
		if err == nil {
			s.rootCert = rootCert
			return s, nil
		}
		lastErr = err
		if !retry {
			break
		}
	}
	cleanup()
	return nil, lastErr
}

// configure writes the files Options.HBA and Options.TLS ask for into the
// data directory, owned by the server's user, and returns the root
// certificate's path (in dir, readable by the tests) and the settings that
// enable them.
func configure(dir, data string, who runAs, opts Options) (rootCert string, conf []string, err error) {
	write := func(path string, b []byte, mode os.FileMode) error {
		if err := os.WriteFile(path, b, mode); err != nil {
			return fmt.Errorf("pgtest: %w", err)
		}
		if who.cred != nil {
			if err := os.Chown(path, who.uid, who.gid); err != nil {
				return fmt.Errorf("pgtest: hand %s to the postgres user: %w", path, err)
			}
		}
		return nil
	}
	if opts.HBA != nil {
		if err := write(filepath.Join(data, "pg_hba.conf"), []byte(strings.Join(opts.HBA, "\n")+"\n"), 0o600); err != nil {
			return "", nil, err
		}
	}
	if opts.TLS {
		certPEM, keyPEM, err := selfSigned()
		if err != nil {
			return "", nil, err
		}
		if err := write(filepath.Join(data, "server.crt"), certPEM, 0o644); err != nil {
			return "", nil, err
		}
		if err := write(filepath.Join(data, "server.key"), keyPEM, 0o600); err != nil {
			return "", nil, err
		}
		rootCert = filepath.Join(dir, "root.crt")
		if err := write(rootCert, certPEM, 0o644); err != nil {
			return "", nil, err
		}
		conf = append(conf, "ssl=on")
	}
	return rootCert, conf, nil
}

// selfSigned makes an ECDSA P-256 certificate for 127.0.0.1 and localhost
// that is its own root, valid for a day, in PEM.
func selfSigned() (certPEM, keyPEM []byte, err error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, nil, fmt.Errorf("pgtest: certificate key: %w", err)
	}
	tmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(time.Now().UnixNano()),
		Subject:               pkix.Name{CommonName: "pgtest"},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().Add(24 * time.Hour),
		KeyUsage:              x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		BasicConstraintsValid: true,
		IsCA:                  true,
		IPAddresses:           []net.IP{net.IPv4(127, 0, 0, 1)},
		DNSNames:              []string{"localhost"},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		return nil, nil, fmt.Errorf("pgtest: certificate: %w", err)
	}
	kder, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		return nil, nil, fmt.Errorf("pgtest: certificate key: %w", err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}),
		pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: kder}), nil
}

// RootCert is the file of the server's certificate, which is its own root
// (Options.TLS); "" without TLS.
func (s *Server) RootCert() string { return s.rootCert }

// launch starts postgres on a fresh port and waits until it accepts
// connections. retry reports a failure that another port may cure.
func launch(bin, dir, data string, who runAs, opts Options) (s *Server, retry bool, err error) {
	port, err := FreePort()
	if err != nil {
		return nil, false, err
	}
	logPath := filepath.Join(dir, "postgres.log")
	logFile, err := os.OpenFile(logPath, os.O_CREATE|os.O_WRONLY|os.O_TRUNC, 0o644)
	if err != nil {
		return nil, false, fmt.Errorf("pgtest: %w", err)
	}
	defer logFile.Close() // the child holds its own descriptor

	fsync := "on"
	if opts.NoFsync {
		fsync = "off"
	}
	maxConns := opts.MaxConnections
	if maxConns <= 0 {
		maxConns = 600
	}
	conf := []string{
		"listen_addresses=127.0.0.1",
		"port=" + strconv.Itoa(port),
		"unix_socket_directories=" + filepath.Join(dir, "sock"),
		"fsync=" + fsync,
		"max_connections=" + strconv.Itoa(maxConns),
		"logging_collector=off",
		"log_timezone=UTC",
		"TimeZone=UTC",
	}
	conf = append(conf, opts.ExtraConf...)
	args := []string{"-D", data}
	for _, c := range conf {
		if c != "" {
			args = append(args, "-c", c)
		}
	}
	cmd := who.command(dir, bin, "postgres", args...)
	cmd.Stdout = logFile
	cmd.Stderr = logFile
	if err := startCmd(cmd); err != nil {
		return nil, false, fmt.Errorf("pgtest: start postgres: %w", err)
	}
	s = &Server{dir: dir, port: port, cmd: cmd, exited: make(chan struct{})}
	go func() {
		s.waitErr = cmd.Wait()
		close(s.exited)
	}()

	if err := s.waitReady(); err != nil {
		log, _ := os.ReadFile(logPath)
		_ = s.stopProcess()
		retry = bytes.Contains(log, []byte("could not bind")) || bytes.Contains(log, []byte("already in use"))
		return nil, retry, fmt.Errorf("pgtest: postgres on port %d did not start: %w\nserver log:\n%s",
			port, err, tail(log, 40))
	}
	return s, false, nil
}

func (s *Server) waitReady() error {
	ctx, cancel := context.WithTimeout(context.Background(), startTimeout)
	defer cancel()
	dsn := s.DSN("postgres") + "&connect_timeout=2"
	var lastErr error
	for {
		select {
		case <-s.exited:
			return fmt.Errorf("postgres exited: %v", s.waitErr)
		default:
		}
		conn, err := pgx.Connect(ctx, dsn)
		if err == nil {
			err = conn.Ping(ctx)
			conn.Close(context.Background())
			if err == nil {
				return nil
			}
		}
		lastErr = err
		select {
		case <-s.exited:
			return fmt.Errorf("postgres exited: %v", s.waitErr)
		case <-ctx.Done():
			return fmt.Errorf("not ready after %v: %w", startTimeout, lastErr)
		case <-time.After(50 * time.Millisecond):
		}
	}
}

const dirPrefix = "pgtest-"

// tempBase returns where server directories go: the temporary directory, or
// /tmp if the server runs as another OS user who could not reach it.
func tempBase(who runAs) string {
	d := os.TempDir()
	if who.cred == nil {
		return d
	}
	for p := d; ; p = filepath.Dir(p) {
		fi, err := os.Stat(p)
		if err != nil || fi.Mode().Perm()&0o001 == 0 {
			return "/tmp"
		}
		if p == filepath.Dir(p) {
			return d
		}
	}
}

// removeAbandoned deletes the directories of servers whose test binary was
// killed before it could clean up: older than a few minutes, and without a live
// postmaster. Errors are ignored; this is housekeeping.
func removeAbandoned(base string) {
	dirs, _ := filepath.Glob(filepath.Join(base, dirPrefix+"*"))
	for _, d := range dirs {
		fi, err := os.Lstat(d)
		if err != nil || !fi.IsDir() || time.Since(fi.ModTime()) < 5*time.Minute {
			continue
		}
		if pid, err := os.ReadFile(filepath.Join(d, "data", "postmaster.pid")); err == nil {
			first, _, _ := strings.Cut(string(pid), "\n")
			n, err := strconv.Atoi(strings.TrimSpace(first))
			if err != nil || n <= 0 || syscall.Kill(n, 0) != syscall.ESRCH {
				continue // running, or we cannot tell
			}
		}
		_ = os.RemoveAll(d)
	}
}

// FreePort returns a TCP port on 127.0.0.1 that was free a moment ago.
func FreePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, fmt.Errorf("pgtest: find a free port: %w", err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

// tail returns the last n lines of b.
func tail(b []byte, n int) string {
	lines := strings.Split(strings.TrimRight(string(b), "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}

// StartAsServerUser starts cmd as the OS user the test servers run as (the
// postgres user when the tests run as root, else the current user), after
// handing dirs to that user, and ties the child's life to this process as
// the servers' is. It is for helper processes beside a server, such as a
// connection pooler that refuses to run as root.
func StartAsServerUser(cmd *exec.Cmd, dirs ...string) error {
	who, err := serverUser()
	if err != nil {
		return err
	}
	if who.cred != nil {
		for _, d := range dirs {
			if err := os.Chown(d, who.uid, who.gid); err != nil {
				return fmt.Errorf("pgtest: hand %s to the postgres user: %w", d, err)
			}
		}
	}
	cmd.SysProcAttr = sysProcAttr(who.cred)
	if err := startCmd(cmd); err != nil {
		return fmt.Errorf("pgtest: start %s: %w", cmd.Path, err)
	}
	return nil
}
