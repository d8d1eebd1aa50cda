package builtin_test

import (
	"encoding/json"
	"fmt"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/vigil-audit/vigil/internal/detect"
	"github.com/vigil-audit/vigil/internal/detect/builtin"
	"github.com/vigil-audit/vigil/internal/detect/correlate"
	"github.com/vigil-audit/vigil/internal/detect/sigma"
	"github.com/vigil-audit/vigil/internal/event"
)

func cloudtrail(source, name, extra string) event.Event {
	raw := `{"eventSource":"` + source + `","eventName":"` + name + `"` + extra + `}`
	return event.Event{Source: "cloudtrail", Action: name, Actor: event.Actor{User: "u"}, Raw: json.RawMessage(raw)}
}

func k8s(resource, verb, extra string) event.Event {
	raw := `{"verb":"` + verb + `","objectRef":{"resource":"` + resource + `","name":"x"}` + extra + `}`
	return event.Event{Source: "k8s-audit", Action: verb, Actor: event.Actor{User: "u"}, Raw: json.RawMessage(raw)}
}

func vigil(source, action, effect string) event.Event {
	return event.Event{Source: source, Action: action, Actor: event.Actor{User: "u"}, Decision: &event.Decision{Effect: effect}}
}

// TestBuiltins: each built-in detection fires on what it is for, and stays
// quiet on a look-alike.
func TestBuiltins(t *testing.T) {
	rules, err := builtin.Rules()
	if err != nil {
		t.Fatal(err)
	}
	eng, err := sigma.NewEngine(rules, sigma.Options{})
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range rules {
		if issues := sigma.Lint(r); len(issues) > 0 {
			t.Errorf("%s: %v", r.ID, issues)
		}
	}
	cases := []struct {
		name string
		ev   event.Event
		want string // rule ids, comma-separated, sorted
	}{
		{"StopLogging", cloudtrail("cloudtrail.amazonaws.com", "StopLogging", ""), "vigil-logging-off"},
		{"DeleteFlowLogs", cloudtrail("ec2.amazonaws.com", "DeleteFlowLogs", ""), "vigil-logging-off"},
		{"GuardDuty detector deleted", cloudtrail("guardduty.amazonaws.com", "DeleteDetector", ""), "vigil-logging-off"},
		{"reading trails is quiet", cloudtrail("cloudtrail.amazonaws.com", "DescribeTrails", ""), ""},
		{"admin policy attached", cloudtrail("iam.amazonaws.com", "AttachUserPolicy", `,"requestParameters":{"userName":"m","policyArn":"arn:aws:iam::aws:policy/AdministratorAccess"}`), "vigil-privilege-grant"},
		{"read-only policy attached is quiet", cloudtrail("iam.amazonaws.com", "AttachUserPolicy", `,"requestParameters":{"policyArn":"arn:aws:iam::aws:policy/ReadOnlyAccess"}`), ""},
		{"inline policy written", cloudtrail("iam.amazonaws.com", "PutUserPolicy", ""), "vigil-sensitive-config"},
		{"ingress opened", cloudtrail("ec2.amazonaws.com", "AuthorizeSecurityGroupIngress", ""), "vigil-sensitive-config"},
		{"instances described is quiet", cloudtrail("ec2.amazonaws.com", "DescribeInstances", ""), ""},
		{"Resolver query logs deleted", cloudtrail("route53resolver.amazonaws.com", "DeleteResolverQueryLogConfig", ""), "vigil-logging-off"},
		{"secrets read in bulk", cloudtrail("secretsmanager.amazonaws.com", "BatchGetSecretValue", ""), "vigil-credential-access"},
		{"SSM parameter decrypted", cloudtrail("ssm.amazonaws.com", "GetParameters", `,"requestParameters":{"names":["db"],"withDecryption":true}`), "vigil-credential-access"},
		{"SSM parameter read plain is quiet", cloudtrail("ssm.amazonaws.com", "GetParameters", `,"requestParameters":{"names":["db"],"withDecryption":false}`), ""},
		{"EC2 password data", cloudtrail("ec2.amazonaws.com", "GetPasswordData", ""), "vigil-credential-access"},
		{"console password created", cloudtrail("iam.amazonaws.com", "CreateLoginProfile", ""), "vigil-sensitive-config"},
		{"cluster-admin binding", k8s("clusterrolebindings", "create", `,"requestObject":{"roleRef":{"kind":"ClusterRole","name":"cluster-admin"}}`), "vigil-k8s-cluster-admin,vigil-k8s-rbac"},
		{"view binding is RBAC only", k8s("rolebindings", "create", `,"requestObject":{"roleRef":{"kind":"ClusterRole","name":"view"}}`), "vigil-k8s-rbac"},
		{"reading roles is quiet", k8s("clusterroles", "get", ""), ""},
		{"GRANT through the gateway", vigil("gateway/postgres", "GRANT", "allow"), "vigil-db-privilege"},
		{"ALTER SYSTEM through the gateway", vigil("gateway/postgres", "ALTER SYSTEM", "allow"), "vigil-db-alter-system"},
		{"a SELECT through the gateway is quiet", vigil("gateway/postgres", "SELECT", "allow"), ""},
		{"denied statement", vigil("gateway/postgres", "DROP", "deny"), "vigil-blocked-by-policy"},
		{"refused GRANT is blocked, not a grant", vigil("gateway/postgres", "GRANT", "review"), "vigil-blocked-by-policy"},
		{"denied decision", vigil("vigil/decide", "shell", "deny"), "vigil-blocked-by-policy"},
		{"allowed decision is quiet", vigil("vigil/decide", "shell", "allow"), ""},
		{"verification failed", event.Event{Source: "vigil", Action: "audit.verify", Outcome: "failure", Actor: event.Actor{User: "vigil"}}, "vigil-audit-verify-failed"},
		{"a dry-run rule would have denied", event.Event{Source: "vigil/decide", Action: "sql", Actor: event.Actor{User: "u"},
			Decision: &event.Decision{Effect: "allow", Rules: []event.RuleResult{{ID: "team.no-truncate", Effect: "deny", DryRun: true}}}}, "vigil-dry-run-would-block"},
		{"a dry-run log rule is quiet", event.Event{Source: "vigil/decide", Action: "sql", Actor: event.Actor{User: "u"},
			Decision: &event.Decision{Effect: "allow", Rules: []event.RuleResult{{ID: "team.note", Effect: "log", DryRun: true}}}}, ""},
		{"pg_hba.conf written", event.Event{Source: "auditd", Action: "vim", Actor: event.Actor{User: "root"},
			Attrs: map[string]any{"auditd.paths": []any{"/etc/postgresql/15/main", "/etc/postgresql/15/main/pg_hba.conf"}}}, "vigil-pg-hba-changed"},
		{"postgresql.conf written is quiet", event.Event{Source: "auditd", Action: "vim", Actor: event.Actor{User: "root"},
			Attrs: map[string]any{"auditd.paths": []any{"/etc/postgresql/15/main/postgresql.conf"}}}, ""},
		{"verification passed is quiet", event.Event{Source: "vigil", Action: "audit.verify", Outcome: "success", Actor: event.Actor{User: "vigil"}}, ""},
	}
	for _, c := range cases {
		var ids []string
		for _, r := range eng.Match(&c.ev) {
			ids = append(ids, r.ID)
		}
		sort.Strings(ids)
		if got := strings.Join(ids, ","); got != c.want {
			t.Errorf("%s: fired %q; want %q", c.name, got, c.want)
		}
	}
}

// TestBuiltinCorrelations: repeated refusals by one actor, and a privilege
// grant with and without an approved review before it.
func TestBuiltinCorrelations(t *testing.T) {
	rules, err := builtin.Rules()
	if err != nil {
		t.Fatal(err)
	}
	corrs, err := builtin.Correlations()
	if err != nil {
		t.Fatal(err)
	}
	newDetector := func() *detect.Detector {
		eng, err := sigma.NewEngine(rules, sigma.Options{})
		if err != nil {
			t.Fatal(err)
		}
		ce, err := correlate.New(corrs, correlate.Options{})
		if err != nil {
			t.Fatal(err)
		}
		return &detect.Detector{Rules: eng, Correlations: ce}
	}
	t0 := time.Date(2026, 5, 1, 9, 0, 0, 0, time.UTC)
	fired := func(d *detect.Detector, evs ...event.Event) []string {
		var out []string
		for i := range evs {
			evs[i].ID = fmt.Sprintf("01J00000000000000000000%03d", i)
			for _, a := range d.Evaluate(&evs[i]) {
				out = append(out, a.RuleID)
			}
		}
		sort.Strings(out)
		return out
	}
	denied := func(user string, at time.Time) event.Event {
		return event.Event{Source: "gateway/postgres", Action: "DROP", Time: at, Outcome: "denied", Actor: event.Actor{User: user},
			Decision: &event.Decision{Effect: "deny"}}
	}
	var evs []event.Event
	for i := 0; i < 5; i++ {
		evs = append(evs, denied("mallory", t0.Add(time.Duration(i)*time.Minute)))
	}
	got := fired(newDetector(), evs...)
	if strings.Count(strings.Join(got, ","), "vigil-repeated-access-failures") != 1 {
		t.Fatalf("five refusals in five minutes fired %v; want one vigil-repeated-access-failures", got)
	}
	got = fired(newDetector(), evs[:4]...)
	if strings.Contains(strings.Join(got, ","), "vigil-repeated-access-failures") {
		t.Fatalf("four refusals fired %v", got)
	}

	grant := cloudtrail("iam.amazonaws.com", "AttachUserPolicy", `,"requestParameters":{"policyArn":"arn:aws:iam::aws:policy/AdministratorAccess"}`)
	grant.Actor.User, grant.Time = "mallory", t0.Add(2*time.Hour)
	got = fired(newDetector(), grant)
	if strings.Join(got, ",") != "vigil-unreviewed-iam-admin" {
		t.Fatalf("grant with no review fired %v; want vigil-unreviewed-iam-admin only", got)
	}
	approval := func(approver, requester, status string) event.Event {
		return event.Event{Source: "vigil/review", Action: "review.approve", Time: t0, Actor: event.Actor{User: approver},
			Attrs: map[string]any{"review.requester": requester, "review.status": status}}
	}
	review := approval("bob", "mallory", "approved")
	if got = fired(newDetector(), review, grant); len(got) != 0 {
		t.Fatalf("grant after an approved review fired %v", got)
	}
	// Approvals that do not cover the grantor: the first of two approvals,
	// and mallory approving somebody else's request.
	for _, a := range []event.Event{approval("bob", "mallory", "pending"), approval("mallory", "alice", "approved")} {
		if got = fired(newDetector(), a, grant); strings.Join(got, ",") != "vigil-unreviewed-iam-admin" {
			t.Fatalf("grant after approval %v fired %v; want vigil-unreviewed-iam-admin", a.Attrs, got)
		}
	}
	late := review
	late.Time = t0.Add(-23 * time.Hour) // more than 24h before the grant
	if got = fired(newDetector(), late, grant); strings.Join(got, ",") != "vigil-unreviewed-iam-admin" {
		t.Fatalf("grant 25h after a review fired %v", got)
	}
}

func TestFailedAccessThreshold(t *testing.T) {
	rules, _ := builtin.Rules()
	corrs, err := builtin.Correlations(builtin.Options{FailedAccessCount: 2, FailedAccessWindow: time.Minute})
	if err != nil {
		t.Fatal(err)
	}
	eng, _ := sigma.NewEngine(rules, sigma.Options{})
	ce, err := correlate.New(corrs, correlate.Options{})
	if err != nil {
		t.Fatal(err)
	}
	d := &detect.Detector{Rules: eng, Correlations: ce}
	t0 := time.Date(2026, 5, 1, 9, 0, 0, 0, time.UTC)
	var ids []string
	for i, at := range []time.Time{t0, t0.Add(2 * time.Minute), t0.Add(2*time.Minute + 30*time.Second)} {
		ev := event.Event{ID: fmt.Sprintf("01J00000000000000000000%03d", i), Source: "vigil/api", Action: "GET /v1/events", Time: at,
			Outcome: "failure", Actor: event.Actor{User: "unknown", SrcIP: "203.0.113.7"}}
		for _, a := range d.Evaluate(&ev) {
			ids = append(ids, a.RuleID+"@"+a.Group)
		}
	}
	sort.Strings(ids)
	want := "vigil-repeated-access-failures-ip@actor.src_ip=203.0.113.7,vigil-repeated-access-failures@actor.user=unknown"
	if strings.Join(ids, ",") != want {
		t.Fatalf("2 failures in 1m (not the first, 2 minutes apart): %v; want %s", ids, want)
	}
}
