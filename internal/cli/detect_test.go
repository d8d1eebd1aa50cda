package cli_test

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"sort"
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

// TestDetectStratusCorpus runs `vigil detect` with the SigmaHQ AWS rules and
// the built-in detections over every Stratus Red Team CloudTrail file, and
// checks that each technique raises what a security engineer expects. The
// SigmaHQ ids are those rules' own; each hit was checked against the rule
// and the records.
func TestDetectStratusCorpus(t *testing.T) {
	const (
		assumeRoleMisuse = "905d389b-b853-46d0-9d3d-dea0d3a3cd49" // AWS STS AssumeRole Misuse
		flowLogsDeleted  = "e386b9b5-af12-450e-afff-761730fb8a98" // AWS VPC Flow Logs Deleted
		ssmSendCommand   = "38e7f511-3f74-41d4-836e-f57dfa18eead" // Potential Malicious Usage of CloudTrail System Manager
		sgModified       = "6fb77778-040f-4015-9440-572aa9b6b580" // Ingress/Egress Security Group Modification
		snapshotExfil    = "abae8fec-57bd-4f87-aff6-6e3db989843d" // AWS Snapshot Backup Exfiltration
		backdoorKeys     = "0a5177f4-6ca9-44c2-aacf-d3f3d8b6e4d2" // AWS IAM Backdoor Users Keys
		lambdaLayer      = "97fbabf8-8e1b-47a2-b7d5-a418d2b95e3d" // AWS New Lambda Layer Attached
		loginProfile     = "055fb148-60f8-462d-ad16-26926ce050f1" // AWS User Login Profile Was Modified
	)
	want := map[string][]string{
		"aws.credential-access.ec2-get-password-data":                 {assumeRoleMisuse, "vigil-credential-access", "vigil-repeated-access-failures", "vigil-repeated-access-failures-ip"},
		"aws.credential-access.secretsmanager-batch-retrieve-secrets": {"vigil-credential-access"},
		"aws.credential-access.ssm-retrieve-securestring-parameters":  {"vigil-credential-access"},
		"aws.defense-evasion.cloudtrail-event-selectors":              {"vigil-logging-off"},
		"aws.defense-evasion.dns-delete-logs":                         {"vigil-logging-off"},
		"aws.defense-evasion.vpc-remove-flow-logs":                    {flowLogsDeleted, "vigil-logging-off"},
		"aws.execution.ec2-launch-unusual-instances":                  {assumeRoleMisuse},
		"aws.execution.ssm-send-command":                              {ssmSendCommand},
		"aws.exfiltration.ec2-security-group-open-port-22-ingress":    {sgModified, "vigil-sensitive-config"},
		"aws.exfiltration.ec2-share-ebs-snapshot":                     {snapshotExfil},
		"aws.impact.bedrock-invoke-model":                             {assumeRoleMisuse},
		"aws.lateral-movement.ec2-instance-connect":                   {"vigil-credential-access"},
		"aws.persistence.iam-backdoor-role":                           {"vigil-sensitive-config"},
		"aws.persistence.iam-create-admin-user":                       {backdoorKeys, "vigil-unreviewed-iam-admin"},
		"aws.persistence.iam-create-user-login-profile":               {"vigil-sensitive-config"},
		"aws.persistence.lambda-layer-extension":                      {lambdaLayer},
		"aws.persistence.rolesanywhere-create-trust-anchor":           {"vigil-sensitive-config"},
		"aws.privilege-escalation.iam-update-user-login-profile":      {loginProfile, "vigil-sensitive-config"},
	}
	corpus := filepath.Join(ingesttest.Corpus(t, "cloudtrail"), "stratus")
	rules := filepath.Join(ingesttest.Corpus(t, "sigma"), "rules", "cloud", "aws")
	files, _ := filepath.Glob(filepath.Join(corpus, "*.json"))
	if len(files) != len(want) {
		t.Fatalf("%d corpus files; the table has %d", len(files), len(want))
	}
	for _, f := range files {
		name := strings.TrimSuffix(filepath.Base(f), ".json")
		t.Run(name, func(t *testing.T) {
			code, out, errs := run(t, "detect", "--rules", rules, "--source", "cloudtrail", f)
			if code != 0 {
				t.Fatalf("exit %d %s", code, errs)
			}
			var got []string
			for _, l := range strings.Split(strings.TrimSpace(out), "\n") {
				var a struct {
					RuleID string `json:"rule_id"`
				}
				if l != "" && json.Unmarshal([]byte(l), &a) == nil {
					got = append(got, a.RuleID)
				}
			}
			sort.Strings(got)
			w := append([]string(nil), want[name]...)
			sort.Strings(w)
			if strings.Join(got, ",") != strings.Join(w, ",") {
				t.Fatalf("alerts %v; want %v", got, w)
			}
		})
	}
}

// TestDetectExport runs detections over `vigil audit export` output.
func TestDetectExport(t *testing.T) {
	dir := t.TempDir()
	trail := filepath.Join(ingesttest.Corpus(t, "cloudtrail"), "stratus", "aws.defense-evasion.cloudtrail-event-selectors.json")
	if code, _, errs := run(t, "ingest", "--source", "cloudtrail", "--data", dir, trail); code != 0 {
		t.Fatalf("ingest: %s", errs)
	}
	code, exp, _ := run(t, "audit", "export", "--data", dir)
	if code != 0 {
		t.Fatal("export failed")
	}
	in := filepath.Join(t.TempDir(), "export.jsonl")
	os.WriteFile(in, []byte(exp), 0o600)
	code, out, errs := run(t, "detect", "--source", "vigil", in)
	if code != 0 || !strings.Contains(out, `"rule_id":"vigil-logging-off"`) {
		t.Fatalf("detect over an export: exit %d\n%s%s", code, out, errs)
	}
}

// TestDetectPgHba: an auditd file watch on pg_hba.conf, read by the auditd
// parser, raises the built-in alert.
func TestDetectPgHba(t *testing.T) {
	code, out, errs := run(t, "detect", "--source", "auditd", filepath.Join("testdata", "auditd", "pg_hba.log"))
	if code != 0 || !strings.Contains(out, `"rule_id":"vigil-pg-hba-changed"`) || !strings.Contains(out, `"group":"uid:1000"`) {
		t.Fatalf("exit %d\n%s%s", code, out, errs)
	}
}
