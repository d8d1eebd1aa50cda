package cli_test

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

var vigilBin struct {
	once sync.Once
	path string
	err  error
}

// buildVigil builds the vigil binary once per test run.
func buildVigil(t *testing.T) string {
	t.Helper()
	vigilBin.once.Do(func() {
		dir, err := os.MkdirTemp("", "vigil-bin-")
		if err != nil {
			vigilBin.err = err
			return
		}
		vigilBin.path = filepath.Join(dir, "vigil")
		out, err := exec.Command("go", "build", "-o", vigilBin.path, "github.com/vigil-audit/vigil/cmd/vigil").CombinedOutput()
		if err != nil {
			vigilBin.err = fmt.Errorf("go build: %v\n%s", err, out)
		}
	})
	if vigilBin.err != nil {
		t.Fatal(vigilBin.err)
	}
	return vigilBin.path
}

func freeAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

// startServe starts `vigil serve` as a child process and waits until it answers.
func startServe(t *testing.T, bin, dir, addr string) *exec.Cmd {
	t.Helper()
	return startServeArgs(t, bin, addr, "--data", dir, "--http", addr)
}

// stopServe sends SIGTERM and waits for a clean exit.
func stopServe(t *testing.T, cmd *exec.Cmd) {
	t.Helper()
	cmd.Process.Signal(syscall.SIGTERM)
	if err := cmd.Wait(); err != nil {
		t.Fatalf("vigil serve exited with %v", err)
	}
}

func startServeArgs(t *testing.T, bin, addr string, args ...string) *exec.Cmd {
	t.Helper()
	cmd := exec.Command(bin, append([]string{"serve"}, args...)...)
	var logs bytes.Buffer
	cmd.Stdout, cmd.Stderr = &logs, &logs
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(20 * time.Second)
	for {
		resp, err := http.Get("http://" + addr + "/healthz")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return cmd
			}
		}
		if time.Now().After(deadline) {
			cmd.Process.Kill()
			cmd.Wait()
			t.Fatalf("vigil serve did not come up on %s: %v\n%s", addr, err, logs.String())
		}
		time.Sleep(20 * time.Millisecond)
	}
}

type appendResult struct {
	Appended uint64 `json:"appended"`
	FirstSeq uint64 `json:"first_seq"`
	LastSeq  uint64 `json:"last_seq"`
}

// TestCrashRecovery kills a loaded `vigil serve` with SIGKILL again and again.
// After each kill, every event whose append was acknowledged must be in the log
// at the position it was acknowledged with, and the log must verify.
func TestCrashRecovery(t *testing.T) {
	if testing.Short() {
		t.Skip("starts and kills a server repeatedly")
	}
	bin := buildVigil(t)
	dir := t.TempDir()
	code, tokOut, errs := run(t, "token", "create", "--data", dir, "--user", "writer", "--role", "user")
	if code != 0 {
		t.Fatalf("token create: %d %s", code, errs)
	}
	token := strings.TrimSpace(tokOut)

	const rounds, clients = 12, 16
	acked := map[uint64]string{} // seq -> marker of the acknowledged event
	var mu sync.Mutex
	client := &http.Client{Timeout: 5 * time.Second}
	for r := 0; r < rounds; r++ {
		addr := freeAddr(t)
		cmd := startServe(t, bin, dir, addr)
		ctx, cancel := context.WithCancel(context.Background())
		var wg sync.WaitGroup
		roundAcks := 0
		for g := 0; g < clients; g++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for i := 0; ctx.Err() == nil; i++ {
					n := 1 + (i+g)%4
					var body bytes.Buffer
					markers := make([]string, n)
					for k := range n {
						markers[k] = fmt.Sprintf("r%d-g%d-i%d-k%d", r, g, i, k)
						fmt.Fprintf(&body, `{"source":"crash-test","activity":"create","actor":{"user":"writer-%d"},"action":"INSERT","outcome":"success","attrs":{"marker":%q}}`+"\n", g, markers[k])
					}
					req, _ := http.NewRequestWithContext(ctx, "POST", "http://"+addr+"/v1/events", &body)
					req.Header.Set("Authorization", "Bearer "+token)
					resp, err := client.Do(req)
					if err != nil {
						continue // the server is being killed: unacknowledged
					}
					var res appendResult
					err = json.NewDecoder(resp.Body).Decode(&res)
					resp.Body.Close()
					if resp.StatusCode != http.StatusOK || err != nil {
						continue
					}
					if res.Appended != uint64(n) || res.LastSeq != res.FirstSeq+uint64(n)-1 {
						t.Errorf("bad acknowledgement %+v for %d events", res, n)
						return
					}
					mu.Lock()
					for k, m := range markers {
						seq := res.FirstSeq + uint64(k)
						if prev, dup := acked[seq]; dup {
							t.Errorf("seq %d acknowledged twice: %s and %s", seq, prev, m)
						}
						acked[seq] = m
					}
					roundAcks += n
					mu.Unlock()
				}
			}()
		}
		time.Sleep(time.Duration(150+rand.IntN(250)) * time.Millisecond)
		if err := cmd.Process.Signal(syscall.SIGKILL); err != nil {
			t.Fatal(err)
		}
		cmd.Wait()
		cancel()
		wg.Wait()
		if roundAcks == 0 {
			t.Fatalf("round %d: no append was acknowledged before the kill", r)
		}

		code, out, errs := run(t, "audit", "verify", "--data", dir)
		if code != 0 {
			t.Fatalf("round %d: verify after SIGKILL: exit %d\n%s%s", r, code, out, errs)
		}
		stored := exportMarkers(t, dir)
		missing := 0
		for seq, m := range acked {
			if stored[seq] != m {
				missing++
				if missing < 5 {
					t.Errorf("round %d: acknowledged event %s at seq %d: stored %q", r, m, seq, stored[seq])
				}
			}
		}
		if missing > 0 {
			t.Fatalf("round %d: %d of %d acknowledged events lost", r, missing, len(acked))
		}
		t.Logf("round %d: %d acknowledged this round, %d in all, log holds %d entries", r, roundAcks, len(acked), len(stored))
	}
}

// exportMarkers reads the log with `vigil audit export` and returns seq -> marker.
func exportMarkers(t *testing.T, dir string) map[uint64]string {
	t.Helper()
	code, out, errs := run(t, "audit", "export", "--data", dir)
	if code != 0 {
		t.Fatalf("export: exit %d %s", code, errs)
	}
	m := map[uint64]string{}
	sc := bufio.NewScanner(strings.NewReader(out))
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		var e struct {
			Seq   uint64 `json:"seq"`
			Attrs struct {
				Marker string `json:"marker"`
			} `json:"attrs"`
		}
		if err := json.Unmarshal(sc.Bytes(), &e); err != nil {
			t.Fatalf("export line %q: %v", sc.Text(), err)
		}
		m[e.Seq] = e.Attrs.Marker
	}
	return m
}
