// Package k8saudit parses Kubernetes audit events (audit.k8s.io/v1 and v1beta1
// Event) into Vigil events.
//
// It reads audit log files (one Event per line), EventList bodies as the audit
// webhook backend posts them, JSON arrays of events, and the two managed-cluster
// exports: AKS diagnostic records ({"category":"kube-audit","properties":{"log":
// ...}}, the event as an object or a JSON string) and GKE Cloud Audit Log entries
// (protoPayload with methodName io.k8s.*). Records of those exports that are not
// Kubernetes audit events (other Azure categories, other GCP services) are
// skipped. Every stage is kept by default and recorded in k8s.stage; Parser.Stages
// narrows that. The mapping is documented in docs/sources.md.
package k8saudit

import (
	"cmp"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"
	"time"

	"github.com/vigil-audit/vigil/internal/event"
	"github.com/vigil-audit/vigil/internal/ingest"
)

// Source is the event source Kubernetes audit events get.
const Source = "k8s-audit"

// Parser parses Kubernetes audit input.
type Parser struct {
	// Stages, when not empty, keeps only events of these stages (for example
	// ResponseComplete and Panic); the others are counted as skipped. Events
	// without a stage are always kept.
	Stages []string
	// Cluster is recorded as the events' target when the record does not name
	// its cluster (only AKS and GKE exports do).
	Cluster string
	// Now is the time given to Normalize, for records without a timestamp; nil
	// means time.Now.
	Now func() time.Time
}

var _ ingest.Parser = (*Parser)(nil)

// Source returns "k8s-audit".
func (p *Parser) Source() string { return Source }

// Parse reads Kubernetes audit records from r; see the package comment.
func (p *Parser) Parse(r io.Reader, name string, emit func(event.Event) error) (ingest.Stats, error) {
	return ingest.Run(r, name, ingest.Format{Container: container, Convert: p.Convert, Now: p.Now}, emit)
}

func container(obj []byte) []byte {
	if ingest.Lazy(ingest.Member(obj, "kind")).String() != "EventList" {
		return nil
	}
	if items := ingest.Member(obj, "items"); len(items) > 0 && items[0] == '[' {
		return items
	}
	return []byte("[]") // an EventList without items holds no records
}

type userInfo struct {
	Username string   `json:"username"`
	UID      string   `json:"uid"`
	Groups   []string `json:"groups"`
}

type auditEvent struct {
	Kind             string    `json:"kind"`
	APIVersion       string    `json:"apiVersion"`
	Level            string    `json:"level"`
	AuditID          string    `json:"auditID"`
	Stage            string    `json:"stage"`
	RequestURI       string    `json:"requestURI"`
	Verb             string    `json:"verb"`
	User             userInfo  `json:"user"`
	ImpersonatedUser *userInfo `json:"impersonatedUser"`
	SourceIPs        []string  `json:"sourceIPs"`
	UserAgent        string    `json:"userAgent"`
	ObjectRef        *struct {
		Resource    string `json:"resource"`
		Namespace   string `json:"namespace"`
		Name        string `json:"name"`
		UID         string `json:"uid"`
		APIGroup    string `json:"apiGroup"`
		APIVersion  string `json:"apiVersion"`
		Subresource string `json:"subresource"`
	} `json:"objectRef"`
	ResponseStatus *struct {
		Code    int    `json:"code"`
		Reason  string `json:"reason"`
		Message string `json:"message"`
	} `json:"responseStatus"`
	RequestReceivedTimestamp string                              `json:"requestReceivedTimestamp"`
	StageTimestamp           string                              `json:"stageTimestamp"`
	Timestamp                string                              `json:"timestamp"` // v1beta1; also GCP LogEntry
	Metadata                 *struct{ CreationTimestamp string } `json:"metadata"`
	Annotations              map[string]string                   `json:"annotations"`
	RequestObject            ingest.Lazy                         `json:"requestObject"`
	ResponseObject           ingest.Lazy                         `json:"responseObject"`

	// AKS diagnostic record.
	Category   string `json:"category"`
	ResourceID string `json:"resourceId"`
	Properties *struct {
		Log ingest.Lazy `json:"log"`
	} `json:"properties"`

	// GCP Cloud Audit Log entry.
	ProtoPayload *gcpAudit `json:"protoPayload"`
	InsertID     string    `json:"insertId"`
	LogName      string    `json:"logName"`
	Operation    *struct {
		Producer string `json:"producer"`
	} `json:"operation"`
	Resource *struct {
		Type   string            `json:"type"`
		Labels map[string]string `json:"labels"`
	} `json:"resource"`
	Labels map[string]string `json:"labels"`
}

type gcpAudit struct {
	ServiceName        string `json:"serviceName"`
	MethodName         string `json:"methodName"`
	ResourceName       string `json:"resourceName"`
	AuthenticationInfo struct {
		PrincipalEmail string `json:"principalEmail"`
	} `json:"authenticationInfo"`
	RequestMetadata struct {
		CallerIP                string `json:"callerIp"`
		CallerSuppliedUserAgent string `json:"callerSuppliedUserAgent"`
	} `json:"requestMetadata"`
	Status *struct {
		Code    int    `json:"code"`
		Message string `json:"message"`
	} `json:"status"`
}

// Convert maps one record to an event. Raw is left for the caller to set.
func (p *Parser) Convert(raw []byte) (event.Event, error) {
	var a auditEvent
	if err := ingest.Decode(raw, &a); err != nil {
		return event.Event{}, err
	}
	var ev event.Event
	var err error
	switch {
	case a.Kind == "" && a.Category != "":
		ev, err = p.aks(&a)
	case a.Kind == "" && (a.ProtoPayload != nil || a.Operation != nil || a.LogName != ""):
		ev, err = p.gke(&a)
	case a.Kind == "Event":
		ev, err = p.native(&a)
	case a.Kind == "":
		return event.Event{}, errors.New("no kind: not a Kubernetes audit event")
	default:
		return event.Event{}, fmt.Errorf("kind %q is not a Kubernetes audit Event", ingest.Clip(a.Kind))
	}
	if err != nil {
		return event.Event{}, err
	}
	if ev.Target == "" {
		ev.Target = p.Cluster
	}
	return ev, nil
}

// aks unwraps an Azure diagnostic record of category kube-audit(-admin).
func (p *Parser) aks(env *auditEvent) (event.Event, error) {
	if !strings.HasPrefix(env.Category, "kube-audit") {
		return event.Event{}, ingest.Skip("Azure diagnostic category %q is not kube-audit", env.Category)
	}
	if env.Properties == nil || env.Properties.Log.IsNull() {
		return event.Event{}, errors.New("kube-audit record without properties.log (AKS)")
	}
	inner := []byte(env.Properties.Log)
	if inner[0] == '"' {
		inner = []byte(env.Properties.Log.String())
	}
	var a auditEvent
	if err := ingest.Decode(inner, &a); err != nil {
		return event.Event{}, fmt.Errorf("properties.log: %w", err)
	}
	if a.Kind != "Event" {
		return event.Event{}, fmt.Errorf("properties.log: kind %q is not a Kubernetes audit Event", ingest.Clip(a.Kind))
	}
	ev, err := p.native(&a)
	if err != nil {
		return ev, err
	}
	ev.Attrs["k8s.envelope"] = "aks"
	if i := strings.LastIndexByte(env.ResourceID, '/'); i >= 0 {
		ev.Target = env.ResourceID[i+1:]
	}
	return ev, nil
}

// native maps an audit.k8s.io Event.
func (p *Parser) native(a *auditEvent) (event.Event, error) {
	if len(p.Stages) > 0 && a.Stage != "" && !slices.Contains(p.Stages, a.Stage) {
		return event.Event{}, ingest.Skip("stage %s", a.Stage)
	}
	attrs := make(map[string]any, 10)
	ev := event.Event{
		Source:   Source,
		ClassUID: event.ClassAPIActivity,
		Action:   a.Verb,
		Outcome:  event.OutcomeUnknown,
		Attrs:    attrs,
	}
	if ev.Action == "" {
		ev.Action = ingest.Unknown
	}
	ev.Actor = event.Actor{User: a.User.Username, Groups: a.User.Groups, Type: actorType(a.User.Username), UserAgent: a.UserAgent}
	if ev.Actor.User == "" {
		ev.Actor.User = ingest.Unknown
	}
	if len(a.SourceIPs) > 0 {
		ev.Actor.SrcIP = a.SourceIPs[0]
	}
	if u := a.ImpersonatedUser; u != nil && u.Username != "" {
		attrs["k8s.impersonated_user"] = u.Username
	}
	sub := ""
	if o := a.ObjectRef; o != nil {
		sub = o.Subresource
		name := o.Name
		if name == "" && sub == "" { // a create with generateName: the name is in the object
			name = cmp.Or(a.ResponseObject.Member("metadata").Member("name").String(),
				a.RequestObject.Member("metadata").Member("name").String())
		}
		ev.Resource = event.Resource{Type: o.Resource, ID: o.UID, Name: name}
		if sub != "" {
			ev.Resource.Type += "/" + sub
		}
		if o.Namespace != "" {
			if o.Resource != "namespaces" {
				ev.Resource.Name = o.Namespace + "/" + name
				if name == "" {
					ev.Resource.Name = o.Namespace + "/"
				}
			}
			attrs["k8s.namespace"] = o.Namespace
		}
		ingest.SetAttr(attrs, "k8s.api_group", o.APIGroup)
		ingest.SetAttr(attrs, "k8s.api_version", o.APIVersion)
	} else if a.RequestURI != "" {
		path, _, _ := strings.Cut(a.RequestURI, "?")
		ev.Resource = event.Resource{Type: "url", Name: path}
	}
	ev.Activity, ev.ClassUID = classify(a.Verb, ev.Resource.Type, sub)
	ingest.SetAttr(attrs, "k8s.audit_id", a.AuditID)
	ingest.SetAttr(attrs, "k8s.stage", a.Stage)
	ingest.SetAttr(attrs, "k8s.level", a.Level)
	ingest.SetAttr(attrs, "k8s.request_uri", a.RequestURI)
	ingest.SetAttr(attrs, "k8s.api", a.APIVersion)
	decision := a.Annotations["authorization.k8s.io/decision"]
	ingest.SetAttr(attrs, "k8s.decision", decision)
	if s := a.ResponseStatus; s != nil && s.Code != 0 {
		attrs["k8s.response_code"] = s.Code
		switch {
		case s.Code == 401 || s.Code == 403:
			ev.Outcome = event.OutcomeDenied
		case s.Code >= 400:
			ev.Outcome = event.OutcomeFailure
		default:
			ev.Outcome = event.OutcomeSuccess
		}
	}
	if decision == "forbid" {
		ev.Outcome = event.OutcomeDenied
	}
	var ts string
	switch {
	case a.StageTimestamp != "":
		ts = a.StageTimestamp
	case a.RequestReceivedTimestamp != "":
		ts = a.RequestReceivedTimestamp
	case a.Timestamp != "":
		ts = a.Timestamp
	case a.Metadata != nil:
		ts = a.Metadata.CreationTimestamp
	}
	if err := setTime(&ev, ts); err != nil {
		return event.Event{}, err
	}
	return ev, nil
}

func setTime(ev *event.Event, ts string) error {
	if ts == "" {
		ev.Attrs["ingest.time_missing"] = true
		return nil
	}
	t, err := ingest.ParseTime(ts)
	if err != nil {
		return fmt.Errorf("timestamp: %w", err)
	}
	ev.Time = t
	return nil
}

// actorType tells service accounts and control-plane components from people.
func actorType(user string) string {
	switch {
	case user == "" || user == "system:anonymous":
		return ""
	case strings.HasPrefix(user, "system:serviceaccount:"):
		return "service"
	case strings.HasPrefix(user, "system:"), strings.HasPrefix(user, "eks:"), user == "aksService":
		return "system"
	}
	return "human"
}

// classify maps a verb and resource to an activity and an OCSF class.
func classify(verb, resource, sub string) (string, int) {
	activity := ingest.Verb(verb)
	switch verb {
	case "create":
		if sub == "exec" || sub == "attach" || sub == "portforward" || sub == "proxy" {
			return "execute", event.ClassAPIActivity
		}
	case "get", "list", "watch":
		if sub == "exec" || sub == "attach" || sub == "portforward" || sub == "proxy" {
			return "execute", event.ClassAPIActivity
		}
	}
	if activity == "create" || activity == "update" || activity == "delete" {
		switch strings.TrimSuffix(resource, "/"+sub) {
		case "roles", "clusterroles", "rolebindings", "clusterrolebindings":
			return activity, event.ClassUserAccessMgmt
		case "serviceaccounts":
			if sub == "" {
				return activity, event.ClassAccountChange
			}
		}
	}
	if resource == "tokenreviews" || resource == "serviceaccounts/token" {
		return "logon", event.ClassAuthentication
	}
	return activity, event.ClassAPIActivity
}

// gke maps a GCP Cloud Audit Log entry written by a GKE control plane.
func (p *Parser) gke(a *auditEvent) (event.Event, error) {
	pp := a.ProtoPayload
	if pp == nil {
		if a.Operation != nil && a.Operation.Producer != "" && a.Operation.Producer != "k8s.io" {
			return event.Event{}, ingest.Skip("GCP audit entry from %q", a.Operation.Producer)
		}
		return event.Event{}, errors.New("audit log entry without protoPayload (GCP)")
	}
	if pp.ServiceName != "" && pp.ServiceName != "k8s.io" || !strings.HasPrefix(pp.MethodName, "io.k8s.") && pp.MethodName != "" {
		return event.Event{}, ingest.Skip("GCP audit entry for %s %s", pp.ServiceName, pp.MethodName)
	}
	if pp.MethodName == "" {
		return event.Event{}, errors.New("audit log entry without protoPayload.methodName (GCP)")
	}
	attrs := make(map[string]any, 8)
	ev := event.Event{Source: Source, Outcome: event.OutcomeSuccess, Attrs: attrs}
	// io.k8s.core.v1.pods.create, io.k8s.core.v1.pods.exec.create
	method := strings.Split(pp.MethodName, ".")
	ev.Action = method[len(method)-1]
	ev.Actor = event.Actor{
		User:      pp.AuthenticationInfo.PrincipalEmail,
		SrcIP:     pp.RequestMetadata.CallerIP,
		UserAgent: pp.RequestMetadata.CallerSuppliedUserAgent,
	}
	if ev.Actor.User == "" {
		ev.Actor.User = ingest.Unknown
	}
	ev.Actor.Type = actorType(ev.Actor.User)
	ev.Resource, attrs["k8s.namespace"] = gkeResource(pp.ResourceName, method)
	if attrs["k8s.namespace"] == "" {
		delete(attrs, "k8s.namespace")
	}
	sub := ""
	if i := strings.IndexByte(ev.Resource.Type, '/'); i >= 0 {
		sub = ev.Resource.Type[i+1:]
	}
	ev.Activity, ev.ClassUID = classify(ev.Action, ev.Resource.Type, sub)
	if s := pp.Status; s != nil && s.Code != 0 {
		attrs["gcp.status_code"] = s.Code
		ev.Outcome = event.OutcomeFailure
		if s.Code == 7 || s.Code == 16 { // PERMISSION_DENIED, UNAUTHENTICATED
			ev.Outcome = event.OutcomeDenied
		}
	}
	if d := a.Labels["authorization.k8s.io/decision"]; d != "" {
		attrs["k8s.decision"] = d
		if d == "forbid" {
			ev.Outcome = event.OutcomeDenied
		}
	}
	attrs["k8s.envelope"] = "gke"
	attrs["k8s.method"] = pp.MethodName
	ingest.SetAttr(attrs, "gcp.insert_id", a.InsertID)
	if r := a.Resource; r != nil {
		ev.Target = r.Labels["cluster_name"]
		ingest.SetAttr(attrs, "gcp.project_id", r.Labels["project_id"])
		ingest.SetAttr(attrs, "gcp.location", r.Labels["location"])
	}
	if err := setTime(&ev, a.Timestamp); err != nil {
		return event.Event{}, err
	}
	return ev, nil
}

// gkeResource reads "core/v1/namespaces/NS/pods/NAME[/SUB]" (or a cluster-scoped
// "rbac.authorization.k8s.io/v1/clusterroles/NAME"); without it, the resource
// type comes from the method name.
func gkeResource(name string, method []string) (event.Resource, any) {
	parts := strings.Split(name, "/")
	if len(parts) >= 3 {
		rest, ns := parts[2:], ""
		if rest[0] == "namespaces" && len(rest) >= 3 {
			ns, rest = rest[1], rest[2:]
		}
		r := event.Resource{Type: rest[0]}
		if len(rest) >= 2 {
			r.Name = rest[1]
			if ns != "" {
				r.Name = ns + "/" + rest[1]
			}
		} else if ns != "" {
			r.Name = ns
		}
		if len(rest) >= 3 {
			r.Type += "/" + rest[2]
		}
		return r, ns
	}
	if len(method) >= 3 {
		return event.Resource{Type: method[len(method)-2]}, ""
	}
	return event.Resource{}, ""
}
