package builtin_test

import (
	"encoding/json"
	"sort"
	"strings"
	"testing"

	"github.com/vigil-audit/vigil/internal/detect/builtin"
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
