package cli_test

import (
	"encoding/json"
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
