package k8saudit

import (
	"strings"
	"testing"

	"github.com/vigil-audit/vigil/internal/event"
	"github.com/vigil-audit/vigil/internal/ingest"
	"github.com/vigil-audit/vigil/internal/ingest/ingesttest"
)

// Hand-written events (ours): an EventList as the webhook backend posts it.
const eventList = `{"kind":"EventList","apiVersion":"audit.k8s.io/v1","metadata":{},"items":[
{"kind":"Event","apiVersion":"audit.k8s.io/v1","level":"Metadata","auditID":"a1","stage":"RequestReceived","requestURI":"/api/v1/namespaces/prod/secrets/db","verb":"get","user":{"username":"alice@example.com","groups":["devs","system:authenticated"]},"sourceIPs":["10.0.0.5","10.0.0.1"],"userAgent":"kubectl/v1.30","objectRef":{"resource":"secrets","namespace":"prod","name":"db","apiVersion":"v1"},"requestReceivedTimestamp":"2024-05-01T10:00:00.000001Z","stageTimestamp":"2024-05-01T10:00:00.000001Z"},
{"kind":"Event","apiVersion":"audit.k8s.io/v1","level":"Metadata","auditID":"a1","stage":"ResponseComplete","requestURI":"/api/v1/namespaces/prod/secrets/db","verb":"get","user":{"username":"alice@example.com","groups":["devs","system:authenticated"]},"sourceIPs":["10.0.0.5"],"userAgent":"kubectl/v1.30","objectRef":{"resource":"secrets","namespace":"prod","name":"db","apiVersion":"v1"},"responseStatus":{"metadata":{},"status":"Failure","reason":"Forbidden","code":403},"requestReceivedTimestamp":"2024-05-01T10:00:00.000001Z","stageTimestamp":"2024-05-01T10:00:00.002Z","annotations":{"authorization.k8s.io/decision":"forbid"}},
{"kind":"Event","apiVersion":"audit.k8s.io/v1","auditID":"a2","stage":"ResponseComplete","verb":"create","user":{"username":"system:serviceaccount:ci:deployer"},"objectRef":{"resource":"rolebindings","namespace":"prod","name":"ci-admin","apiGroup":"rbac.authorization.k8s.io","apiVersion":"v1"},"responseStatus":{"code":201},"stageTimestamp":"2024-05-01T10:01:00Z"},
{"kind":"Event","auditID":"a3","stage":"ResponseComplete","verb":"get","user":{"username":"bob"},"objectRef":{"resource":"pods","namespace":"prod","name":"web","subresource":"log"},"responseStatus":{"code":500},"stageTimestamp":"not a time"}
]}`

func TestEventListAndStages(t *testing.T) {
	p := &Parser{Now: ingesttest.Now, Cluster: "prod-eu"}
	var evs []event.Event
	st, err := p.Parse(strings.NewReader(eventList), "body", func(ev event.Event) error { evs = append(evs, ev); return nil })
	if err != nil {
		t.Fatal(err)
	}
	if st.Accepted != 3 || st.Rejected != 1 || !strings.HasPrefix(st.Rejects[0].String(), "body#3: timestamp") {
		t.Fatalf("stats %+v", st)
	}
	recv, done, rb := evs[0], evs[1], evs[2]
	if recv.Outcome != event.OutcomeUnknown || recv.Attrs["k8s.stage"] != "RequestReceived" {
		t.Errorf("RequestReceived: outcome %s attrs %v", recv.Outcome, recv.Attrs)
	}
	if done.Actor.User != "alice@example.com" || done.Actor.Type != "human" || done.Actor.SrcIP != "10.0.0.5" ||
		len(done.Actor.Groups) != 2 || done.Action != "get" || done.Activity != "read" ||
		done.Resource.Type != "secrets" || done.Resource.Name != "prod/db" || done.Outcome != event.OutcomeDenied ||
		done.Target != "prod-eu" || done.Attrs["k8s.namespace"] != "prod" || done.Attrs["k8s.audit_id"] != "a1" {
		t.Errorf("ResponseComplete: %+v", done)
	}
	if rb.ClassUID != event.ClassUserAccessMgmt || rb.Actor.Type != "service" || rb.Outcome != event.OutcomeSuccess ||
		rb.Attrs["k8s.api_group"] != "rbac.authorization.k8s.io" {
		t.Errorf("rolebinding: %+v", rb)
	}

	p.Stages = []string{"ResponseComplete"}
	st, err = p.Parse(strings.NewReader(eventList), "body", func(event.Event) error { return nil })
	if err != nil || st.Accepted != 2 || st.Skipped != 1 {
		t.Errorf("with Stages: %+v, %v", st, err)
	}
}

func TestEnvelopes(t *testing.T) {
	inner := `{"kind":"Event","apiVersion":"audit.k8s.io/v1","stage":"ResponseComplete","verb":"delete","user":{"username":"carol"},"objectRef":{"resource":"namespaces","namespace":"tmp","name":"tmp"},"responseStatus":{"code":200},"stageTimestamp":"2024-05-01T10:00:00Z"}`
	aksString := `{"category":"kube-audit","resourceId":"/SUBSCRIPTIONS/X/RESOURCEGROUPS/RG/PROVIDERS/MICROSOFT.CONTAINERSERVICE/MANAGEDCLUSTERS/AKS-1","properties":{"log":` + quote(inner) + `}}`
	aksObject := `{"category":"kube-audit-admin","properties":{"log":` + inner + `}}`
	aksOther := `{"category":"guard","properties":{"log":"x"}}`
	gke := `{"insertId":"i1","logName":"projects/p/logs/cloudaudit.googleapis.com%2Factivity","protoPayload":{"serviceName":"k8s.io","methodName":"io.k8s.core.v1.pods.exec.create","resourceName":"core/v1/namespaces/prod/pods/web/exec","authenticationInfo":{"principalEmail":"dave@example.com"},"requestMetadata":{"callerIp":"192.0.2.4","callerSuppliedUserAgent":"kubectl"},"status":{"code":7,"message":"denied"}},"resource":{"type":"k8s_cluster","labels":{"cluster_name":"gke-1","project_id":"p","location":"europe-west1"}},"timestamp":"2024-05-01T10:00:00.5Z"}`
	gceOther := `{"protoPayload":{"serviceName":"compute.googleapis.com","methodName":"v1.compute.instances.delete"},"timestamp":"2024-05-01T10:00:00Z"}`
	var evs []event.Event
	st, err := (&Parser{}).Parse(strings.NewReader(strings.Join([]string{aksString, aksObject, aksOther, gke, gceOther}, "\n")), "x",
		func(ev event.Event) error { evs = append(evs, ev); return nil })
	if err != nil || st.Accepted != 3 || st.Skipped != 2 || st.Rejected != 0 {
		t.Fatalf("%+v %v", st, err)
	}
	if evs[0].Target != "AKS-1" || evs[0].Resource.Name != "tmp" || evs[0].Action != "delete" || evs[0].Attrs["k8s.envelope"] != "aks" ||
		!strings.HasPrefix(string(evs[0].Raw), `{"category"`) {
		t.Errorf("aks: %+v", evs[0])
	}
	if evs[1].Actor.User != "carol" {
		t.Errorf("aks object: %+v", evs[1])
	}
	g := evs[2]
	if g.Actor.User != "dave@example.com" || g.Action != "create" || g.Activity != "execute" || g.Resource.Type != "pods/exec" ||
		g.Resource.Name != "prod/web" || g.Outcome != event.OutcomeDenied || g.Target != "gke-1" || g.Attrs["gcp.insert_id"] != "i1" {
		t.Errorf("gke: %+v", g)
	}
}

func quote(s string) string { return `"` + strings.ReplaceAll(s, `"`, `\"`) + `"` }

var _ ingest.Parser = (*Parser)(nil)
