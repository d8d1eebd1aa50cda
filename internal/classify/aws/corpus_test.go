package aws_test

import (
	"context"
	"encoding/json"
	"github.com/vigil-audit/vigil/internal/corpora"
	"os"
	"path/filepath"
	"reflect"
	"testing"

	"github.com/vigil-audit/vigil/internal/classify"
	"github.com/vigil-audit/vigil/internal/classify/aws"
	"github.com/vigil-audit/vigil/internal/policy"
	"github.com/vigil-audit/vigil/internal/policy/builtin"
)

// TestStratusCorpus classifies every record of the Stratus Red Team
// CloudTrail corpus, checks the attack records that matter, and decides on
// them with the built-in pack. Every other record must be left alone by
// the pack: reads, AssumeRole, SendCommand and the like are ordinary work.
func TestStratusCorpus(t *testing.T) {
	dir := filepath.Join(corpora.Dir(t, "cloudtrail"), "stratus")
	rs, err := builtin.Load()
	if err != nil {
		t.Fatal(err)
	}
	e := policy.NewEngine(rs, policy.Defaults{})
	policy.RegisterClassifiers(e)

	type want struct {
		file, event string
		check       func(*aws.Result) bool
		effect      string
		rule        string
	}
	wants := []want{
		{"aws.defense-evasion.cloudtrail-event-selectors.json", "PutEventSelectors",
			func(r *aws.Result) bool {
				return r.Service == "cloudtrail" && r.LoggingOff && reflect.DeepEqual(r.LoggingOffReasons, []string{"cloudtrail-management-events-excluded"})
			}, "deny", "aws.logging-off"},
		{"aws.defense-evasion.vpc-remove-flow-logs.json", "DeleteFlowLogs",
			func(r *aws.Result) bool {
				return r.Service == "ec2" && r.LoggingOff && r.LoggingOffReasons[0] == "flow-logs-deleted"
			},
			"deny", "aws.logging-off"},
		{"aws.defense-evasion.dns-delete-logs.json", "DeleteResolverQueryLogConfig",
			func(r *aws.Result) bool { return r.LoggingOff && r.LoggingOffReasons[0] == "dns-query-logs-deleted" },
			"deny", "aws.logging-off"},
		{"aws.persistence.iam-create-admin-user.json", "AttachUserPolicy",
			func(r *aws.Result) bool {
				return r.Service == "iam" && r.AdminPolicyAttached && r.PolicyARN == "arn:aws:iam::aws:policy/AdministratorAccess"
			}, "review", "aws.admin-policy-attached"},
		{"aws.persistence.iam-create-admin-user.json", "CreateAccessKey",
			func(r *aws.Result) bool { return !r.RootAccessKey && r.IdentityType == "IAMUser" }, "allow", ""},
		{"aws.exfiltration.ec2-security-group-open-port-22-ingress.json", "AuthorizeSecurityGroupIngress",
			// cidrIp is 208.236.235.254/0: a /0 written with a host address, the whole internet.
			func(r *aws.Result) bool {
				return r.OpenToWorld && reflect.DeepEqual(r.WorldPorts, []string{"tcp/22"}) && r.Ingress[0].CIDR == "208.236.235.254/0"
			}, "deny", "aws.ingress-open-to-world"},
		{"aws.exfiltration.ec2-share-ebs-snapshot.json", "ModifySnapshotAttribute",
			// shared with one account, not with "all"
			func(r *aws.Result) bool { return !r.PublicAccess }, "allow", ""},
		{"aws.credential-access.ec2-get-password-data.json", "GetPasswordData",
			func(r *aws.Result) bool { return r.ReadOnly }, "allow", ""},
	}

	records := map[string][]json.RawMessage{}
	files, err := filepath.Glob(filepath.Join(dir, "*.json"))
	if err != nil || len(files) == 0 {
		t.Fatalf("no corpus files in %s (%v)", dir, err)
	}
	total := 0
	for _, f := range files {
		data, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		var recs []json.RawMessage
		if err := json.Unmarshal(data, &recs); err != nil {
			t.Fatalf("%s: %v", filepath.Base(f), err)
		}
		records[filepath.Base(f)] = recs
		total += len(recs)
	}

	checked := map[string]bool{}
	for _, w := range wants {
		found := false
		for _, rec := range records[w.file] {
			var head struct{ EventName string }
			if err := json.Unmarshal(rec, &head); err != nil || head.EventName != w.event {
				continue
			}
			found = true
			checked[w.file+"/"+w.event] = true
			r, err := aws.Classify(rec)
			if err != nil {
				t.Errorf("%s %s: %v", w.file, w.event, err)
				continue
			}
			if !w.check(r) {
				b, _ := json.Marshal(r)
				t.Errorf("%s %s: unexpected classification %s", w.file, w.event, b)
			}
			d, err := e.Decide(context.Background(), &classify.Action{Kind: classify.KindAWS, Environment: "production", AWS: rec})
			if err != nil {
				t.Errorf("%s %s: decide: %v", w.file, w.event, err)
				continue
			}
			if d.Effect != w.effect || w.rule != "" && !hasRule(d, w.rule) {
				t.Errorf("%s %s: decision %s %v, want %s %s", w.file, w.event, d.Effect, d.Rules, w.effect, w.rule)
			}
		}
		if !found {
			t.Errorf("%s: no %s record", w.file, w.event)
		}
	}

	// Every record classifies; those not checked above stay allowed.
	decided := map[string]int{}
	for file, recs := range records {
		for _, rec := range recs {
			var head struct{ EventName string }
			_ = json.Unmarshal(rec, &head)
			if _, err := aws.Classify(rec); err != nil {
				t.Errorf("%s %s: %v", file, head.EventName, err)
				continue
			}
			d, err := e.Decide(context.Background(), &classify.Action{Kind: classify.KindAWS, Environment: "production", AWS: rec})
			if err != nil {
				t.Errorf("%s %s: decide: %v", file, head.EventName, err)
				continue
			}
			decided[d.Effect]++
			if !checked[file+"/"+head.EventName] && d.Effect != policy.EffectAllow {
				t.Errorf("%s %s: decision %s %v, want allow", file, head.EventName, d.Effect, d.Rules)
			}
		}
	}
	t.Logf("%d records in %d files: %v", total, len(files), decided)
}

func hasRule(d *policy.Decision, id string) bool {
	for _, r := range d.Rules {
		if r.ID == id {
			return true
		}
	}
	return false
}
