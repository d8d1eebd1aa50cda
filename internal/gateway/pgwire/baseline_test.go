package pgwire_test

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"net"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/vigil-audit/vigil/internal/pgtest"
)

// Baselines for TestPgbenchRatios: what a proxy costs on this machine before
// it does anything of its own. They answer whether a throughput target is
// within reach here at all: the gateway can only be slower than a proxy that
// parses, decides and records nothing.

// startRelay starts the barest proxy there is: for each client connection it
// dials upstream and copies bytes both ways through a user-space buffer (as
// any proxy that reads the protocol must: no splice), with no parsing,
// policy or audit. It returns the listening port.
func startRelay(t *testing.T, upstream string) int {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	t.Cleanup(func() {
		ln.Close()
		wg.Wait()
	})
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			wg.Add(1)
			go func() {
				defer wg.Done()
				defer c.Close()
				u, err := net.Dial("tcp", upstream)
				if err != nil {
					return
				}
				defer u.Close()
				done := make(chan struct{})
				go func() {
					copyPlain(c, u)
					c.(*net.TCPConn).CloseWrite()
					close(done)
				}()
				copyPlain(u, c)
				u.(*net.TCPConn).CloseWrite()
				<-done
			}()
		}
	}()
	return ln.Addr().(*net.TCPAddr).Port
}

// copyPlain copies src to dst with read and write calls on a 32 KiB buffer,
// hiding ReadFrom/WriteTo so that io.Copy cannot splice.
func copyPlain(dst io.Writer, src io.Reader) {
	buf := make([]byte, 32<<10)
	io.CopyBuffer(struct{ io.Writer }{dst}, struct{ io.Reader }{src}, buf)
}

// startPgbouncer starts PgBouncer 1.x, if installed, in session pooling mode
// (one server connection per client, as the gateway has) in front of the
// database of dsn, with trust authentication. It returns the port, or 0 when
// pgbouncer is not installed, and a function reading the CPU time pgbouncer
// has used so far.
func startPgbouncer(t *testing.T, dsn string) (int, func() time.Duration) {
	t.Helper()
	bin, err := exec.LookPath("pgbouncer")
	if err != nil {
		return 0, nil
	}
	u, err := url.Parse(dsn)
	if err != nil {
		t.Fatal(err)
	}
	port, err := pgtest.FreePort()
	if err != nil {
		t.Fatal(err)
	}
	// Not t.TempDir: its parent is private to this user, and pgbouncer may
	// run as another.
	dir, err := os.MkdirTemp("", "vigil-pgbouncer-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	cfg := fmt.Sprintf(`[databases]
* = host=%s port=%s
[pgbouncer]
listen_addr = 127.0.0.1
listen_port = %d
unix_socket_dir =
auth_type = trust
auth_file = %s
pool_mode = session
max_client_conn = 1000
default_pool_size = 600
max_db_connections = 0
ignore_startup_parameters = extra_float_digits
logfile = %s
log_connections = 0
log_disconnections = 0
`, u.Hostname(), u.Port(), port, filepath.Join(dir, "userlist.txt"), filepath.Join(dir, "pgbouncer.log"))
	for name, body := range map[string]string{
		"pgbouncer.ini": cfg,
		"userlist.txt":  fmt.Sprintf("%q \"\"\n", u.User.Username()),
	} {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	cmd := exec.Command(bin, filepath.Join(dir, "pgbouncer.ini"))
	var stderr syncBuffer
	cmd.Stdout, cmd.Stderr = &stderr, &stderr
	// pgbouncer refuses to run as root: it runs as PostgreSQL does.
	if err := pgtest.StartAsServerUser(cmd, dir); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		cmd.Process.Signal(syscall.SIGINT)
		cmd.Wait()
	})
	for deadline := time.Now().Add(10 * time.Second); ; {
		c, err := net.Dial("tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(port)))
		if err == nil {
			c.Close()
			return port, func() time.Duration { return procCPU(cmd.Process.Pid) }
		}
		if time.Now().After(deadline) {
			log, _ := os.ReadFile(filepath.Join(dir, "pgbouncer.log"))
			t.Fatalf("pgbouncer did not listen: %v\n%s%s", errors.Join(err, cmd.Process.Signal(syscall.Signal(0))), log, stderr.b.String())
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// viaPort is dsn with its port replaced.
func viaPort(t *testing.T, dsn string, port int) string {
	t.Helper()
	u, err := url.Parse(dsn)
	if err != nil {
		t.Fatal(err)
	}
	u.Host = net.JoinHostPort(u.Hostname(), strconv.Itoa(port))
	return u.String()
}

// procCPU is the user + system CPU time process pid has used so far, from
// /proc/PID/stat (fields 14 and 15, in clock ticks of 1/100 s); 0 if it
// cannot be read.
func procCPU(pid int) time.Duration {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0
	}
	// The command name, field 2, is in parentheses and may hold spaces.
	i := bytes.LastIndexByte(b, ')')
	if i < 0 {
		return 0
	}
	f := strings.Fields(string(b[i+1:])) // from field 3 on
	if len(f) < 13 {
		return 0
	}
	ut, err1 := strconv.ParseInt(f[11], 10, 64)
	st, err2 := strconv.ParseInt(f[12], 10, 64)
	if err1 != nil || err2 != nil {
		return 0
	}
	return time.Duration(ut+st) * 10 * time.Millisecond
}
