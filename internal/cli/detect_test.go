package cli_test

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/vigil-audit/vigil/internal/ingest/ingesttest"
)

func TestRulesLintCorpus(t *testing.T) {
	rules := filepath.Join(ingesttest.Corpus(t, "sigma"), "rules")
	code, out, errs := run(t, "rules", "lint", rules)
	if code != 0 || !strings.HasSuffix(strings.TrimSpace(out), "157 files, 0 problems") {
		t.Fatalf("rules lint over the SigmaHQ corpus: exit %d\n%s%s", code, out, errs)
	}
}

func TestDetectCloudTrail(t *testing.T) {
	rules := filepath.Join(ingesttest.Corpus(t, "sigma"), "rules", "cloud", "aws")
	trail := filepath.Join(ingesttest.Corpus(t, "cloudtrail"), "stratus", "aws.defense-evasion.vpc-remove-flow-logs.json")
	code, out, errs := run(t, "detect", "--rules", rules, "--source", "cloudtrail", trail)
	if code != 0 {
		t.Fatalf("detect: exit %d %s", code, errs)
	}
	found := false
	for _, l := range strings.Split(strings.TrimSpace(out), "\n") {
		var a struct {
			Title    string   `json:"title"`
			EventIDs []string `json:"event_ids"`
			Actions  []string `json:"actions"`
		}
		if err := json.Unmarshal([]byte(l), &a); err != nil {
			t.Fatalf("alert line %q: %v", l, err)
		}
		if a.Title == "AWS VPC Flow Logs Deleted" && len(a.EventIDs) > 0 && a.Actions[0] == "DeleteFlowLogs" {
			found = true
		}
	}
	if !found {
		t.Fatalf("the flow-log deletion was not detected:\n%s", out)
	}
	// The built-in detections alone see the flow logs being deleted too.
	code, out, _ = run(t, "detect", "--source", "cloudtrail", trail)
	if code != 0 || !strings.Contains(out, `"rule_id":"vigil-logging-off"`) {
		t.Fatalf("built-in detections over the flow-log deletion: exit %d\n%s", code, out)
	}
	if code, _, _ := run(t, "detect", "--no-builtin", "--source", "cloudtrail", trail); code != 2 {
		t.Fatalf("detect with no rules at all: exit %d; want 2", code)
	}
}

// TestDetectCorrelation: a Sigma event_count correlation over failed console
// logins raises one alert for the actor who failed again and again, none for
// the one who failed once, and the base rule raises nothing of its own.
func TestDetectCorrelation(t *testing.T) {
	dir := t.TempDir()
	rules := `title: Failed console login
id: 0b9d0000-0000-4000-8000-00000000f001
name: failed_console_login
level: low
logsource: {product: aws, service: cloudtrail}
detection:
  selection:
    eventName: ConsoleLogin
    responseElements.ConsoleLogin: Failure
  condition: selection
---
title: Repeated failed console logins
id: 0b9d0000-0000-4000-8000-00000000f002
level: high
correlation:
  type: event_count
  rules: [failed_console_login]
  group-by: [userIdentity.userName]
  timespan: 5m
  condition: {gte: 3}
`
	if err := os.WriteFile(filepath.Join(dir, "brute.yml"), []byte(rules), 0o600); err != nil {
		t.Fatal(err)
	}
	var recs []string
	login := func(user, result string, sec int) {
		recs = append(recs, fmt.Sprintf(`{"eventVersion":"1.08","userIdentity":{"type":"IAMUser","userName":%q,"accountId":"1"},"eventTime":"2026-01-02T03:04:%02dZ","eventSource":"signin.amazonaws.com","eventName":"ConsoleLogin","awsRegion":"us-east-1","sourceIPAddress":"203.0.113.9","responseElements":{"ConsoleLogin":%q},"eventID":"e%d","recipientAccountId":"1"}`, user, sec, result, sec))
	}
	for i := 0; i < 4; i++ {
		login("alice", "Failure", 10+i)
	}
	login("bob", "Failure", 20)
	login("alice", "Success", 30)
	in := filepath.Join(t.TempDir(), "trail.json")
	if err := os.WriteFile(in, []byte("["+strings.Join(recs, ",")+"]"), 0o600); err != nil {
		t.Fatal(err)
	}
	code, out, errs := run(t, "detect", "--no-builtin", "--rules", dir, "--source", "cloudtrail", in)
	if code != 0 {
		t.Fatalf("detect: exit %d %s", code, errs)
	}
	lines := strings.Split(strings.TrimSpace(out), "\n")
	if len(lines) != 1 || !strings.Contains(lines[0], `"title":"Repeated failed console logins"`) ||
		!strings.Contains(lines[0], `userIdentity.userName=alice`) || strings.Count(lines[0], `"0b9d0000-0000-4000-8000-00000000f001"`) < 3 {
		t.Fatalf("alerts:\n%s", out)
	}
}
