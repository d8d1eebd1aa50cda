package cli_test

import (
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/vigil-audit/vigil/internal/ingest/ingesttest"
)

// TestIngestCorpus reads the real CloudTrail corpus into a data directory;
// every record becomes an event and the log verifies.
func TestIngestCorpus(t *testing.T) {
	corpus := ingesttest.Corpus(t, "cloudtrail")
	dir := t.TempDir()
	code, _, errs := run(t, "ingest", "--source", "cloudtrail", "--data", dir, corpus)
	if code != 0 || !strings.Contains(errs, "ingest cloudtrail: 142 accepted, 0 rejected, 0 skipped; 142 appended, 0 already in the log (seq 0..141)") {
		t.Fatalf("ingest: exit %d\n%s", code, errs)
	}
	// Delivered again, the same records are recognised by their eventID.
	code, _, errs = run(t, "ingest", "--source", "cloudtrail", "--data", dir, corpus)
	if code != 0 || !strings.Contains(errs, "142 accepted, 0 rejected, 0 skipped; 0 appended, 142 already in the log") {
		t.Fatalf("second ingest: exit %d\n%s", code, errs)
	}
	if code, out, _ := run(t, "audit", "verify", "--data", dir); code != 0 || !strings.HasPrefix(out, "ok: 142 entries") {
		t.Fatalf("verify: exit %d %s", code, out)
	}
	code, exp, _ := run(t, "audit", "export", "--data", dir)
	if code != 0 || strings.Count(exp, `"source":"cloudtrail"`) != 142 || !strings.Contains(exp, `"action":"StopLogging"`) &&
		!strings.Contains(exp, `"action":"PutEventSelectors"`) {
		t.Fatalf("export does not hold the CloudTrail events:\n%.2000s", exp)
	}
}

// TestIngestRejects: a malformed record is reported with its position and
// reason, the rest is ingested, and the exit code says something was rejected.
func TestIngestRejects(t *testing.T) {
	in := filepath.Join(t.TempDir(), "trail.jsonl")
	good := `{"eventVersion":"1.08","userIdentity":{"type":"IAMUser","userName":"alice","arn":"arn:aws:iam::1:user/alice","accountId":"1"},"eventTime":"2026-01-02T03:04:05Z","eventSource":"s3.amazonaws.com","eventName":"DeleteBucket","awsRegion":"us-east-1","sourceIPAddress":"10.0.0.1","requestParameters":{"bucketName":"b"},"eventID":"e1","recipientAccountId":"1"}`
	if err := os.WriteFile(in, []byte(good+"\n{not json\n"+strings.Replace(good, `"e1"`, `"e2"`, 1)+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	code, _, errs := run(t, "ingest", "--source", "cloudtrail", "--data", dir, in)
	if code != 1 || !strings.Contains(errs, "2 accepted, 1 rejected") || !strings.Contains(errs, "rejected "+in+":2: ") {
		t.Fatalf("ingest with a bad line: exit %d\n%s", code, errs)
	}
	if !strings.Contains(errs, "1 rejected records kept as dead letters (source vigil/ingest)") {
		t.Fatalf("no dead letter reported: %s", errs)
	}
	code, exp, _ := run(t, "audit", "export", "--data", dir)
	if code != 0 || !strings.Contains(exp, `"action":"ingest.reject"`) || !strings.Contains(exp, `"ingest.position":"`+in+`:2"`) {
		t.Fatalf("dead letter not in the log:\n%s", exp)
	}
	if code, _, errs := run(t, "ingest", "--source", "syslog", "--data", dir, in); code != 2 || !strings.Contains(errs, "--source must be one of auditd, cloudtrail, github, jsonl, k8s-audit, pgaudit") {
		t.Fatalf("unknown source: exit %d %s", code, errs)
	}
}

// TestIngestThroughServer sends parsed events to a running server, whose
// data directory is locked against a second writer.
func TestIngestThroughServer(t *testing.T) {
	corpus := filepath.Join(ingesttest.Corpus(t, "github"), "elastic", "test-audit-json.log")
	bin := buildVigil(t)
	dir := t.TempDir()
	_, tok, _ := run(t, "token", "create", "--data", dir, "--user", "shipper", "--role", "user")
	addr := freeAddr(t)
	cmd := startServe(t, bin, dir, addr)
	if code, _, errs := run(t, "ingest", "--source", "github", "--data", dir, corpus); code != 2 || !strings.Contains(errs, "in use by another vigil serve") {
		t.Fatalf("direct ingest into a served data directory: exit %d %s", code, errs)
	}
	code, _, errs := run(t, "ingest", "--source", "github", "--server", "http://"+addr, "--token", strings.TrimSpace(tok), corpus)
	if code != 0 || !strings.Contains(errs, "189 accepted, 0 rejected") || !strings.Contains(errs, "189 appended") {
		t.Fatalf("ingest through the server: exit %d %s", code, errs)
	}
	resp, err := http.Get("http://" + addr + "/healthz")
	if err != nil || resp.StatusCode != 200 {
		t.Fatalf("server unhealthy after ingest: %v", err)
	}
	resp.Body.Close()
	stopServe(t, cmd)
	if code, out, _ := run(t, "audit", "verify", "--data", dir); code != 0 || !strings.HasPrefix(out, "ok: 191 entries") { // start, 189, stop
		t.Fatalf("verify: exit %d %s", code, out)
	}
}
