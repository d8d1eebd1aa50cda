package cli_test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/vigil-audit/vigil/internal/detect"
)

// TestServeDetectsAndAlerts: serve runs a Sigma rule over what is appended;
// a CloudTrail StopLogging record ingested over HTTP raises an alert that
// reaches a signed webhook within a second and can be acknowledged.
func TestServeDetectsAndAlerts(t *testing.T) {
	bin := buildVigil(t)
	dir := t.TempDir()
	rules := t.TempDir()
	os.WriteFile(filepath.Join(rules, "stop.yml"), []byte(`title: CloudTrail logging stopped
id: 5a1c0000-0000-4000-8000-000000000001
level: high
logsource: {product: aws, service: cloudtrail}
detection:
  selection: {eventSource: cloudtrail.amazonaws.com, eventName: StopLogging}
  condition: selection
`), 0o600)
	got := make(chan []byte, 8)
	secret := "hook-secret"
	hook := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		if r.Header.Get(detect.SignatureHeader) != detect.Sign([]byte(secret), b) {
			w.WriteHeader(401)
			return
		}
		got <- b
	}))
	defer hook.Close()
	cfg := filepath.Join(t.TempDir(), "vigil.yaml")
	os.WriteFile(cfg, []byte(fmt.Sprintf("data: %s\ndetect:\n  rules: [%s]\nalerts:\n  sinks:\n    - {type: webhook, url: %q, secret_env: HOOK_SECRET}\n", dir, rules, hook.URL)), 0o600)
	_, tok, _ := run(t, "token", "create", "--config", cfg, "--user", "ops", "--role", "admin")
	token := strings.TrimSpace(tok)
	addr := freeAddr(t)
	os.Setenv("HOOK_SECRET", secret)
	defer os.Unsetenv("HOOK_SECRET")
	cmd := startServeArgs(t, bin, addr, "--config", cfg, "--http", addr)
	defer stopServe(t, cmd)

	record := `{"Records":[{"eventVersion":"1.08","userIdentity":{"type":"IAMUser","userName":"mallory","arn":"arn:aws:iam::1:user/mallory","accountId":"1"},"eventTime":"2026-01-02T03:04:05Z","eventSource":"cloudtrail.amazonaws.com","eventName":"StopLogging","awsRegion":"us-east-1","sourceIPAddress":"198.51.100.7","requestParameters":{"name":"main"},"eventID":"stop-1","recipientAccountId":"1"}]}`
	do := func(method, path, body string) (int, []byte) {
		req, _ := http.NewRequest(method, "http://"+addr+path, strings.NewReader(body))
		req.Header.Set("Authorization", "Bearer "+token)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, b
	}
	start := time.Now()
	if code, b := do("POST", "/v1/ingest/cloudtrail", record); code != 200 {
		t.Fatalf("ingest: %d %s", code, b)
	}
	// Both the configured rule and the built-in logging-off detection fire.
	var alert detect.Alert
	titles := map[string]bool{}
	for len(titles) < 2 {
		select {
		case b := <-got:
			var a detect.Alert
			if err := json.Unmarshal(b, &a); err != nil || a.Group != "mallory" || a.Evidence[0].Action != "StopLogging" {
				t.Fatalf("webhook body %s", b)
			}
			titles[a.Title] = true
			if a.Title == "CloudTrail logging stopped" {
				alert = a
			}
		case <-time.After(5 * time.Second):
			t.Fatalf("alerts reaching the webhook within 5s: %v", titles)
		}
	}
	if !titles["Audit logging or threat detection switched off"] || alert.ID == "" {
		t.Fatalf("alerts: %v", titles)
	}
	if d := time.Since(start); d > time.Second {
		t.Errorf("append to webhook took %s", d)
	}
	code, b := do("GET", "/v1/alerts?status=open", "")
	if code != 200 || !bytes.Contains(b, []byte(alert.ID)) {
		t.Fatalf("GET /v1/alerts: %d %s", code, b)
	}
	if code, b := do("POST", "/v1/alerts/"+alert.ID+"/ack", ""); code != 200 || !bytes.Contains(b, []byte(`"status":"acknowledged"`)) {
		t.Fatalf("ack: %d %s", code, b)
	}
	if code, b := do("GET", "/v1/alerts?status=open", ""); code != 200 || bytes.Contains(b, []byte(alert.ID)) {
		t.Fatalf("acknowledged alert still open: %s", b)
	}
	if code, _ := do("POST", "/v1/alerts/nope/resolve", ""); code != 404 {
		t.Fatalf("resolve of an unknown alert: %d", code)
	}
}
