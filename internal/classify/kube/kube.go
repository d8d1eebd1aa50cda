// Package kube classifies a Kubernetes admission request (the `request`
// object of an AdmissionReview v1, as an API server sends it to a validating
// webhook) into plain data the policy engine can decide on (CEL over the JSON
// form of [Result], bound as `k8s`).
//
// It reads the request's own fields (operation, resource, subresource,
// namespace, name, user) and the decoded objects: replica counts of workloads
// and of the scale subresource, the pod spec of Pods and of every workload
// template (Deployment, StatefulSet, DaemonSet, ReplicaSet, Job, CronJob,
// ReplicationController, PodTemplate, and any object with a
// spec.template.spec), RBAC bindings and roles, and Services. Every list in
// the result is non-nil, so rules can use exists() without guards; numbers
// that are unknown are -1.
package kube

import (
	"encoding/json"
	"fmt"
	"slices"
	"strings"

	"github.com/vigil-audit/vigil/internal/classify"
)

// Result is what the classifier derives from one admission request. The JSON
// field names are what rules are written against.
type Result struct {
	// Operation is CREATE, UPDATE, DELETE or CONNECT.
	Operation   string `json:"operation"`
	Group       string `json:"group"` // "" for the core group
	Version     string `json:"version"`
	Resource    string `json:"resource"` // plural, lower case: "deployments"
	Subresource string `json:"subresource"`
	Namespace   string `json:"namespace"`
	Name        string `json:"name"`
	// Kind is the kind of object (or, for DELETE, oldObject), else of the
	// request's kind: "Deployment", "Scale", "PodExecOptions".
	Kind   string   `json:"kind"`
	User   string   `json:"user"`
	Groups []string `json:"groups"`
	DryRun bool     `json:"dry_run"`

	// ReplicasBefore and ReplicasAfter are spec.replicas of oldObject and
	// object for Deployments, StatefulSets, ReplicaSets,
	// ReplicationControllers and the scale subresource (a missing
	// spec.replicas counts as 1, the API default); -1 when not applicable.
	ReplicasBefore int `json:"replicas_before"`
	ReplicasAfter  int `json:"replicas_after"`
	// ScaleToZero: an UPDATE that sets replicas to 0 from anything else.
	ScaleToZero bool `json:"scale_to_zero"`
	// ScaleDown: an UPDATE that lowers replicas.
	ScaleDown bool `json:"scale_down"`

	// Pod is the pod spec carried by object (a Pod or a workload's
	// template); HasPod says whether there was one. Not set for DELETE.
	HasPod bool `json:"has_pod"`
	Pod    Pod  `json:"pod"`

	// RoleRef is the roleRef of a RoleBinding or ClusterRoleBinding
	// ({kind, name}); Subjects are its subjects as "Kind:namespace/name"
	// ("User:alice", "Group:system:masters", "ServiceAccount:ns/name").
	RoleRef  RoleRef  `json:"role_ref"`
	Subjects []string `json:"subjects"`
	// BindsClusterAdmin: the binding's roleRef is the ClusterRole
	// cluster-admin, or a subject is the group system:masters.
	BindsClusterAdmin bool `json:"binds_cluster_admin"`
	// WildcardRules: a Role or ClusterRole with a rule whose verbs or
	// resources contain "*".
	WildcardRules bool `json:"wildcard_rules"`
	// WildcardVerbs, WildcardResources detail WildcardRules.
	WildcardVerbs     bool `json:"wildcard_verbs"`
	WildcardResources bool `json:"wildcard_resources"`
	// EscalationVerbs are the verbs of a Role or ClusterRole that lead to
	// more privileges than they name: escalate and bind (grant roles beyond
	// one's own), impersonate (act as another user, group or service
	// account).
	EscalationVerbs []string `json:"escalation_verbs"`

	// ServiceType is spec.type of a Service ("ClusterIP" when absent).
	ServiceType string `json:"service_type"`
	// PublicLoadBalancer: a Service of type LoadBalancer without any of the
	// cloud providers' internal load balancer annotations.
	PublicLoadBalancer bool `json:"public_load_balancer"`
	// WasPublicLoadBalancer is PublicLoadBalancer for oldObject.
	WasPublicLoadBalancer bool `json:"was_public_load_balancer"`
	// LoadBalancerSourceRanges is spec.loadBalancerSourceRanges.
	LoadBalancerSourceRanges []string `json:"load_balancer_source_ranges"`

	// Exec is a way into a running workload: a pod's exec, attach,
	// portforward or proxy subresource; its ephemeralcontainers (kubectl
	// debug adds a container, with a shell, to the pod's namespaces); a
	// service's proxy; and a node's proxy, the kubelet API, whose /exec
	// and /run reach every pod on the node.
	Exec bool `json:"exec"`
}

// RoleRef is a binding's roleRef.
type RoleRef struct {
	Kind string `json:"kind"`
	Name string `json:"name"`
}

// Pod is what matters in a pod spec. Containers include init and ephemeral
// containers.
type Pod struct {
	Privileged bool `json:"privileged"`
	// PrivilegedContainers are the names of containers with
	// securityContext.privileged true.
	PrivilegedContainers []string `json:"privileged_containers"`
	HostPID              bool     `json:"host_pid"`
	HostNetwork          bool     `json:"host_network"`
	HostIPC              bool     `json:"host_ipc"`
	// HostPaths are the paths of hostPath volumes.
	HostPaths []string `json:"host_paths"`
	// AddedCapabilities are securityContext.capabilities.add, upper case,
	// without the CAP_ prefix, sorted and de-duplicated.
	AddedCapabilities []string `json:"added_capabilities"`
	// AllowPrivilegeEscalation: a container sets it to true explicitly.
	AllowPrivilegeEscalation bool     `json:"allow_privilege_escalation"`
	Images                   []string `json:"images"`
}

// request is the part of an AdmissionReview v1 request that is read.
type request struct {
	Operation   string `json:"operation"`
	Kind        gvk    `json:"kind"`
	Resource    gvr    `json:"resource"`
	SubResource string `json:"subResource"`
	Namespace   string `json:"namespace"`
	Name        string `json:"name"`
	UserInfo    struct {
		Username string   `json:"username"`
		Groups   []string `json:"groups"`
	} `json:"userInfo"`
	Object    json.RawMessage `json:"object"`
	OldObject json.RawMessage `json:"oldObject"`
	DryRun    *bool           `json:"dryRun"`
}

type gvk struct {
	Group   string `json:"group"`
	Version string `json:"version"`
	Kind    string `json:"kind"`
}

type gvr struct {
	Group    string `json:"group"`
	Version  string `json:"version"`
	Resource string `json:"resource"`
}

// object is the part of any Kubernetes object that is read.
type object struct {
	Kind     string `json:"kind"`
	Metadata struct {
		Name        string            `json:"name"`
		Annotations map[string]string `json:"annotations"`
	} `json:"metadata"`
	Spec     json.RawMessage `json:"spec"`
	Template json.RawMessage `json:"template"` // PodTemplate
	RoleRef  *RoleRef        `json:"roleRef"`
	Subjects []struct {
		Kind      string `json:"kind"`
		Name      string `json:"name"`
		Namespace string `json:"namespace"`
	} `json:"subjects"`
	Rules []struct {
		Verbs     []string `json:"verbs"`
		Resources []string `json:"resources"`
	} `json:"rules"`
}

// Classify classifies req, the `request` object of an AdmissionReview v1.
// It fails only when req is not a JSON object or a field has the wrong type.
func Classify(req json.RawMessage) (*Result, error) {
	var r request
	if err := classify.Decode(req, &r, "kubernetes", "admission request"); err != nil {
		return nil, err
	}
	res := &Result{
		Operation:                strings.ToUpper(r.Operation),
		Group:                    r.Resource.Group,
		Version:                  r.Resource.Version,
		Resource:                 strings.ToLower(r.Resource.Resource),
		Subresource:              strings.ToLower(r.SubResource),
		Namespace:                r.Namespace,
		Name:                     r.Name,
		User:                     r.UserInfo.Username,
		Groups:                   classify.NonNil(r.UserInfo.Groups),
		DryRun:                   r.DryRun != nil && *r.DryRun,
		ReplicasBefore:           -1,
		ReplicasAfter:            -1,
		Subjects:                 []string{},
		LoadBalancerSourceRanges: []string{},
		EscalationVerbs:          []string{},
		Pod:                      emptyPod(),
	}
	obj, err := decodeObject(r.Object)
	if err != nil {
		return nil, fmt.Errorf("kubernetes: object: %w", err)
	}
	old, err := decodeObject(r.OldObject)
	if err != nil {
		return nil, fmt.Errorf("kubernetes: oldObject: %w", err)
	}
	switch {
	case obj != nil && obj.Kind != "":
		res.Kind = obj.Kind
	case old != nil && old.Kind != "":
		res.Kind = old.Kind
	default:
		res.Kind = r.Kind.Kind
	}
	switch {
	case res.Resource == "pods" && slices.Contains([]string{"exec", "attach", "portforward", "proxy", "ephemeralcontainers"}, res.Subresource),
		(res.Resource == "nodes" || res.Resource == "services") && res.Subresource == "proxy":
		res.Exec = true
	}

	res.ReplicasBefore = replicas(old)
	res.ReplicasAfter = replicas(obj)
	if res.Operation == "UPDATE" && res.ReplicasAfter >= 0 {
		res.ScaleToZero = res.ReplicasAfter == 0 && res.ReplicasBefore != 0
		res.ScaleDown = res.ReplicasBefore > res.ReplicasAfter || res.ReplicasBefore < 0 && res.ReplicasAfter == 0
	}

	if obj != nil && res.Operation != "DELETE" {
		if spec, ok, err := podSpec(obj); err != nil {
			return nil, fmt.Errorf("kubernetes: pod spec: %w", err)
		} else if ok {
			res.HasPod = true
			if res.Pod, err = analysePod(spec); err != nil {
				return nil, fmt.Errorf("kubernetes: pod spec: %w", err)
			}
		}
		rbac(obj, res)
		if obj.Kind == "Service" {
			var s serviceSpec
			if len(obj.Spec) > 0 {
				if err := json.Unmarshal(obj.Spec, &s); err != nil {
					return nil, fmt.Errorf("kubernetes: service spec: %w", err)
				}
			}
			res.ServiceType = s.Type
			if res.ServiceType == "" {
				res.ServiceType = "ClusterIP"
			}
			res.LoadBalancerSourceRanges = classify.NonNil(s.LoadBalancerSourceRanges)
			res.PublicLoadBalancer = s.Type == "LoadBalancer" && !internalLB(obj.Metadata.Annotations)
		}
	}
	if old != nil && old.Kind == "Service" {
		var s serviceSpec
		_ = json.Unmarshal(old.Spec, &s) // an old object that does not decode was not a public LB we know of
		res.WasPublicLoadBalancer = s.Type == "LoadBalancer" && !internalLB(old.Metadata.Annotations)
	}
	return res, nil
}

func decodeObject(raw json.RawMessage) (*object, error) {
	if len(raw) == 0 || string(raw) == "null" {
		return nil, nil
	}
	var o object
	if err := json.Unmarshal(raw, &o); err != nil {
		return nil, err
	}
	return &o, nil
}

// replicas returns spec.replicas of a scalable workload or Scale, 1 when
// absent (the API default), -1 for other objects.
func replicas(o *object) int {
	if o == nil {
		return -1
	}
	switch o.Kind {
	case "Deployment", "StatefulSet", "ReplicaSet", "ReplicationController", "Scale":
	default:
		return -1
	}
	var s struct {
		Replicas *int `json:"replicas"`
	}
	if len(o.Spec) > 0 {
		if err := json.Unmarshal(o.Spec, &s); err != nil {
			return -1
		}
	}
	if s.Replicas == nil {
		if o.Kind == "Scale" {
			return 0 // Scale.spec.replicas is omitted when 0
		}
		return 1
	}
	return *s.Replicas
}

// podSpec finds the pod spec in o: a Pod's spec, a CronJob's job template,
// a PodTemplate's template, or any spec.template.spec.
func podSpec(o *object) (json.RawMessage, bool, error) {
	switch o.Kind {
	case "Pod":
		return o.Spec, len(o.Spec) > 0, nil
	case "PodTemplate":
		var t struct {
			Spec json.RawMessage `json:"spec"`
		}
		if len(o.Template) == 0 {
			return nil, false, nil
		}
		if err := json.Unmarshal(o.Template, &t); err != nil {
			return nil, false, err
		}
		return t.Spec, len(t.Spec) > 0, nil
	}
	if len(o.Spec) == 0 {
		return nil, false, nil
	}
	var s struct {
		Template *struct {
			Spec json.RawMessage `json:"spec"`
		} `json:"template"`
		JobTemplate *struct {
			Spec struct {
				Template struct {
					Spec json.RawMessage `json:"spec"`
				} `json:"template"`
			} `json:"spec"`
		} `json:"jobTemplate"`
	}
	if err := json.Unmarshal(o.Spec, &s); err != nil {
		// A spec that is not an object (say, of a custom resource) has no pod.
		var probe any
		if json.Unmarshal(o.Spec, &probe) == nil {
			if _, isObj := probe.(map[string]any); !isObj {
				return nil, false, nil
			}
		}
		return nil, false, err
	}
	switch {
	case s.JobTemplate != nil && len(s.JobTemplate.Spec.Template.Spec) > 0:
		return s.JobTemplate.Spec.Template.Spec, true, nil
	case s.Template != nil && len(s.Template.Spec) > 0:
		return s.Template.Spec, true, nil
	}
	return nil, false, nil
}

type container struct {
	Name            string `json:"name"`
	Image           string `json:"image"`
	SecurityContext *struct {
		Privileged               *bool `json:"privileged"`
		AllowPrivilegeEscalation *bool `json:"allowPrivilegeEscalation"`
		Capabilities             *struct {
			Add []string `json:"add"`
		} `json:"capabilities"`
	} `json:"securityContext"`
}

type podSpecFields struct {
	HostPID             bool        `json:"hostPID"`
	HostNetwork         bool        `json:"hostNetwork"`
	HostIPC             bool        `json:"hostIPC"`
	Containers          []container `json:"containers"`
	InitContainers      []container `json:"initContainers"`
	EphemeralContainers []container `json:"ephemeralContainers"`
	Volumes             []struct {
		HostPath *struct {
			Path string `json:"path"`
		} `json:"hostPath"`
	} `json:"volumes"`
}

func emptyPod() Pod {
	return Pod{PrivilegedContainers: []string{}, HostPaths: []string{}, AddedCapabilities: []string{}, Images: []string{}}
}

func analysePod(raw json.RawMessage) (Pod, error) {
	p := emptyPod()
	var s podSpecFields
	if err := json.Unmarshal(raw, &s); err != nil {
		return p, err
	}
	p.HostPID, p.HostNetwork, p.HostIPC = s.HostPID, s.HostNetwork, s.HostIPC
	for _, list := range [][]container{s.InitContainers, s.Containers, s.EphemeralContainers} {
		for _, c := range list {
			if c.Image != "" && !slices.Contains(p.Images, c.Image) {
				p.Images = append(p.Images, c.Image)
			}
			sc := c.SecurityContext
			if sc == nil {
				continue
			}
			if sc.Privileged != nil && *sc.Privileged {
				p.Privileged = true
				p.PrivilegedContainers = append(p.PrivilegedContainers, c.Name)
			}
			if sc.AllowPrivilegeEscalation != nil && *sc.AllowPrivilegeEscalation {
				p.AllowPrivilegeEscalation = true
			}
			if sc.Capabilities != nil {
				for _, capName := range sc.Capabilities.Add {
					capName = strings.TrimPrefix(strings.ToUpper(strings.TrimSpace(capName)), "CAP_")
					if capName != "" && !slices.Contains(p.AddedCapabilities, capName) {
						p.AddedCapabilities = append(p.AddedCapabilities, capName)
					}
				}
			}
		}
	}
	slices.Sort(p.AddedCapabilities)
	for _, v := range s.Volumes {
		if v.HostPath != nil {
			p.HostPaths = append(p.HostPaths, v.HostPath.Path)
		}
	}
	return p, nil
}

func rbac(o *object, res *Result) {
	switch o.Kind {
	case "RoleBinding", "ClusterRoleBinding":
		if o.RoleRef != nil {
			res.RoleRef = *o.RoleRef
			res.BindsClusterAdmin = o.RoleRef.Kind == "ClusterRole" && o.RoleRef.Name == "cluster-admin"
		}
		for _, s := range o.Subjects {
			name := s.Name
			if s.Namespace != "" {
				name = s.Namespace + "/" + name
			}
			res.Subjects = append(res.Subjects, s.Kind+":"+name)
			if s.Kind == "Group" && s.Name == "system:masters" {
				res.BindsClusterAdmin = true
			}
		}
	case "Role", "ClusterRole":
		for _, r := range o.Rules {
			if slices.Contains(r.Verbs, "*") {
				res.WildcardVerbs = true
			}
			if slices.Contains(r.Resources, "*") {
				res.WildcardResources = true
			}
			for _, v := range []string{"escalate", "bind", "impersonate"} {
				if slices.Contains(r.Verbs, v) && !slices.Contains(res.EscalationVerbs, v) {
					res.EscalationVerbs = append(res.EscalationVerbs, v)
				}
			}
		}
		res.WildcardRules = res.WildcardVerbs || res.WildcardResources
	}
}

type serviceSpec struct {
	Type                     string   `json:"type"`
	LoadBalancerSourceRanges []string `json:"loadBalancerSourceRanges"`
}

// internalLB reports whether the annotations ask a cloud provider for an
// internal (private) load balancer.
func internalLB(ann map[string]string) bool {
	for k, v := range ann {
		v = strings.ToLower(strings.TrimSpace(v))
		switch k {
		case "service.beta.kubernetes.io/aws-load-balancer-internal":
			// "true", or a CIDR in old releases; "false" is public.
			if v != "" && v != "false" {
				return true
			}
		case "service.beta.kubernetes.io/aws-load-balancer-scheme":
			if v == "internal" {
				return true
			}
		case "networking.gke.io/load-balancer-type", "cloud.google.com/load-balancer-type":
			if v == "internal" {
				return true
			}
		case "service.beta.kubernetes.io/azure-load-balancer-internal",
			"service.beta.kubernetes.io/oci-load-balancer-internal",
			"service.beta.kubernetes.io/openstack-internal-load-balancer",
			"service.beta.kubernetes.io/cce-load-balancer-internal-vpc":
			if v == "true" {
				return true
			}
		case "service.kubernetes.io/ibm-load-balancer-cloud-provider-ip-type":
			if v == "private" {
				return true
			}
		case "service.beta.kubernetes.io/alibaba-cloud-loadbalancer-address-type":
			if v == "intranet" {
				return true
			}
		}
	}
	return false
}
