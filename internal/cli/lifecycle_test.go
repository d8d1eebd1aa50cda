package cli_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/vigil-audit/vigil/internal/pgtest"
)

func postEvents(t *testing.T, client *http.Client, addr, token, body string) (appendResult, int, error) {
	req, _ := http.NewRequest("POST", "http://"+addr+"/v1/events", strings.NewReader(body))
	req.Header.Set("Authorization", "Bearer "+token)
	resp, err := client.Do(req)
	if err != nil {
		return appendResult{}, 0, err
	}
	defer resp.Body.Close()
	var res appendResult
	json.NewDecoder(resp.Body).Decode(&res)
	return res, resp.StatusCode, nil
}

// TestGracefulShutdown sends SIGTERM to a loaded server: it must exit 0, every
// acknowledged append must be in the log, and the log must end with the
// server's stop event.
func TestGracefulShutdown(t *testing.T) {
	bin := buildVigil(t)
	dir := t.TempDir()
	code, tok, _ := run(t, "token", "create", "--data", dir, "--user", "w", "--role", "user")
	if code != 0 {
		t.Fatal("token create failed")
	}
	token := strings.TrimSpace(tok)
	addr := freeAddr(t)
	cmd := startServe(t, bin, dir, addr)

	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var mu sync.Mutex
	acked := map[uint64]string{}
	var wg sync.WaitGroup
	client := &http.Client{Timeout: 5 * time.Second}
	for g := 0; g < 8; g++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; ctx.Err() == nil; i++ {
				m := fmt.Sprintf("g%d-i%d", g, i)
				res, status, err := postEvents(t, client, addr, token,
					fmt.Sprintf(`{"source":"t","activity":"create","actor":{"user":"w"},"action":"INSERT","outcome":"success","attrs":{"marker":%q}}`, m))
				if err != nil || status != http.StatusOK {
					continue
				}
				mu.Lock()
				acked[res.FirstSeq] = m
				mu.Unlock()
			}
		}()
	}
	time.Sleep(300 * time.Millisecond)
	if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("vigil serve after SIGTERM: %v (want exit 0)", err)
		}
	case <-time.After(20 * time.Second):
		cmd.Process.Kill()
		t.Fatal("vigil serve did not exit within 20s of SIGTERM")
	}
	cancel()
	wg.Wait()
	if len(acked) == 0 {
		t.Fatal("no append was acknowledged")
	}
	stored := exportMarkers(t, dir)
	for seq, m := range acked {
		if stored[seq] != m {
			t.Fatalf("acknowledged %s at seq %d, stored %q", m, seq, stored[seq])
		}
	}
	code, exp, _ := run(t, "audit", "export", "--data", dir)
	lines := strings.Split(strings.TrimSpace(exp), "\n")
	if code != 0 || !strings.Contains(lines[len(lines)-1], `"action":"server.stop"`) {
		t.Fatalf("last event is not the stop event: %s", lines[len(lines)-1])
	}
	if code, out, _ := run(t, "audit", "verify", "--data", dir); code != 0 {
		t.Fatalf("verify after shutdown: %s", out)
	}
}

// TestRetention runs a server whose retention drops payloads older than a
// day: old events lose their payload but keep their place in the tree, so the
// log still verifies and new events keep theirs.
func TestRetention(t *testing.T) {
	bin := buildVigil(t)
	dir := t.TempDir()
	cfg := filepath.Join(t.TempDir(), "vigil.yaml")
	if err := os.WriteFile(cfg, []byte("data: "+dir+"\nretention:\n  events: 24h\n  interval: 1m\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	code, tok, errs := run(t, "token", "create", "--config", cfg, "--user", "w", "--role", "user")
	if code != 0 {
		t.Fatalf("token create: %s", errs)
	}
	token := strings.TrimSpace(tok)
	addr := freeAddr(t)
	start := func() *exec.Cmd { return startServeArgs(t, bin, addr, "--config", cfg, "--http", addr) }
	s := start()
	old := time.Now().Add(-72 * time.Hour).UTC().Format(time.RFC3339Nano)
	client := &http.Client{Timeout: 5 * time.Second}
	body := fmt.Sprintf(`{"source":"t","time":%q,"activity":"read","actor":{"user":"old"},"action":"SELECT","outcome":"success"}`+"\n"+
		`{"source":"t","activity":"read","actor":{"user":"new"},"action":"SELECT","outcome":"success"}`, old)
	res, status, err := postEvents(t, client, addr, token, body)
	if err != nil || status != http.StatusOK {
		t.Fatalf("post: %v %d", err, status)
	}
	stopServe(t, s)
	s = start() // retention runs once before the server answers
	stopServe(t, s)

	code, exp, _ := run(t, "audit", "export", "--config", cfg)
	if code != 0 {
		t.Fatal("export failed")
	}
	var sawOld, sawNew bool
	for _, line := range strings.Split(strings.TrimSpace(exp), "\n") {
		var e struct {
			Seq     uint64 `json:"seq"`
			Dropped bool   `json:"payload_dropped"`
			Actor   struct{ User string }
		}
		json.Unmarshal([]byte(line), &e)
		switch e.Seq {
		case res.FirstSeq:
			sawOld = e.Dropped && e.Actor.User == ""
		case res.LastSeq:
			sawNew = !e.Dropped && e.Actor.User == "new"
		}
	}
	if !sawOld || !sawNew {
		t.Fatalf("after retention: old dropped=%v, new kept=%v\n%s", sawOld, sawNew, exp)
	}
	if code, out, _ := run(t, "audit", "verify", "--config", cfg); code != 0 || !strings.HasPrefix(out, "ok:") {
		t.Fatalf("verify after retention: exit %d\n%s", code, out)
	}
}

// TestServeOnPostgres runs the server on the PostgreSQL store: appends over
// HTTP land in PostgreSQL and verify from there with the exported public key.
func TestServeOnPostgres(t *testing.T) {
	bin := buildVigil(t)
	dsn := pgtest.Shared(t).NewDB(t)
	dir := t.TempDir()
	code, tok, errs := run(t, "token", "create", "--data", dir, "--store", dsn, "--user", "w", "--role", "user")
	if code != 0 {
		t.Fatalf("token create: %s", errs)
	}
	addr := freeAddr(t)
	cmd := startServeArgs(t, bin, addr, "--data", dir, "--store", dsn, "--http", addr)
	client := &http.Client{Timeout: 5 * time.Second}
	res, status, err := postEvents(t, client, addr, strings.TrimSpace(tok),
		`[{"source":"t","activity":"read","actor":{"user":"a"},"action":"SELECT","outcome":"success"},`+
			`{"source":"t","activity":"read","actor":{"user":"b"},"action":"SELECT","outcome":"success"}]`)
	if err != nil || status != http.StatusOK || res.Appended != 2 {
		t.Fatalf("post: %+v %d %v", res, status, err)
	}
	stopServe(t, cmd)
	pub := filepath.Join(t.TempDir(), "vigil.pub")
	code, key, _ := run(t, "audit", "pubkey", "--data", dir)
	if code != 0 || os.WriteFile(pub, []byte(key), 0o600) != nil {
		t.Fatal("audit pubkey failed")
	}
	code, out, errs := run(t, "audit", "verify", "--store", dsn, "--pubkey", pub)
	if code != 0 || !strings.HasPrefix(out, "ok: 4 entries") { // start, 2 events, stop
		t.Fatalf("verify on postgres: exit %d\n%s%s", code, out, errs)
	}
}

// TestTailRestart: serve follows a Kubernetes audit log; it is killed while
// records keep coming, restarted, and the log then holds every record exactly
// once.
func TestTailRestart(t *testing.T) {
	bin := buildVigil(t)
	dir := t.TempDir()
	logs := t.TempDir()
	auditLog := filepath.Join(logs, "kube-audit.log")
	cfg := filepath.Join(t.TempDir(), "vigil.yaml")
	os.WriteFile(cfg, []byte("data: "+dir+"\ningest:\n  tail:\n    - {source: k8s-audit, path: "+logs+", interval: 100ms}\n"), 0o600)
	line := func(i int) string {
		return fmt.Sprintf(`{"kind":"Event","apiVersion":"audit.k8s.io/v1","level":"Metadata","auditID":"id-%d","stage":"ResponseComplete","verb":"get","user":{"username":"bob"},"objectRef":{"resource":"pods","namespace":"prod","name":"web"},"responseStatus":{"code":200},"stageTimestamp":"2026-01-02T03:04:05.100000Z"}`+"\n", i)
	}
	write := func(from, to int) {
		f, err := os.OpenFile(auditLog, os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o644)
		if err != nil {
			t.Fatal(err)
		}
		for i := from; i < to; i++ {
			f.WriteString(line(i))
		}
		f.Close()
	}
	count := func() map[string]int {
		_, out, _ := run(t, "audit", "export", "--config", cfg)
		ids := map[string]int{}
		for _, l := range strings.Split(out, "\n") {
			if i := strings.Index(l, `"k8s.audit_id":"`); i >= 0 {
				id := l[i+len(`"k8s.audit_id":"`):]
				ids[id[:strings.IndexByte(id, '"')]]++
			}
		}
		return ids
	}
	waitFor := func(n int) {
		t.Helper()
		deadline := time.Now().Add(15 * time.Second)
		for len(count()) < n {
			if time.Now().After(deadline) {
				t.Fatalf("the log holds %d records; want %d", len(count()), n)
			}
			time.Sleep(100 * time.Millisecond)
		}
	}
	write(0, 50)
	addr := freeAddr(t)
	cmd := startServeArgs(t, bin, addr, "--config", cfg, "--http", addr)
	waitFor(50)
	write(50, 80)
	time.Sleep(150 * time.Millisecond) // perhaps mid-read
	cmd.Process.Signal(syscall.SIGKILL)
	cmd.Wait()
	write(80, 120)
	cmd = startServeArgs(t, bin, addr, "--config", cfg, "--http", addr)
	waitFor(120)
	stopServe(t, cmd)
	ids := count()
	for i := 0; i < 120; i++ {
		if n := ids[fmt.Sprintf("id-%d", i)]; n != 1 {
			t.Fatalf("record id-%d is in the log %d times; want exactly once", i, n)
		}
	}
	if code, out, _ := run(t, "audit", "verify", "--config", cfg); code != 0 {
		t.Fatalf("verify: %s", out)
	}
}
