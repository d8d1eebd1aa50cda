package kube_test

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"github.com/vigil-audit/vigil/internal/corpora"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/vigil-audit/vigil/internal/classify"
	"github.com/vigil-audit/vigil/internal/classify/kube"
	"github.com/vigil-audit/vigil/internal/policy"
	"github.com/vigil-audit/vigil/internal/policy/builtin"
)

// auditEvent is the part of a Kubernetes audit event that maps onto an
// admission request.
type auditEvent struct {
	Verb      string `json:"verb"`
	ObjectRef struct {
		APIGroup    string `json:"apiGroup"`
		APIVersion  string `json:"apiVersion"`
		Resource    string `json:"resource"`
		Subresource string `json:"subresource"`
		Namespace   string `json:"namespace"`
		Name        string `json:"name"`
	} `json:"objectRef"`
	User struct {
		Username string   `json:"username"`
		Groups   []string `json:"groups"`
	} `json:"user"`
	RequestObject json.RawMessage `json:"requestObject"`
}

// admissionRequest turns an audit event into the admission request the API
// server would have sent for it; ok is false for verbs admission never sees.
func admissionRequest(e auditEvent) (json.RawMessage, bool) {
	op := map[string]string{"create": "CREATE", "update": "UPDATE", "patch": "UPDATE", "delete": "DELETE", "deletecollection": "DELETE"}[e.Verb]
	if op == "" {
		return nil, false
	}
	switch e.ObjectRef.Subresource {
	case "exec", "attach", "portforward":
		op = "CONNECT"
	}
	req := map[string]any{
		"uid":         "corpus",
		"operation":   op,
		"resource":    map[string]string{"group": e.ObjectRef.APIGroup, "version": e.ObjectRef.APIVersion, "resource": e.ObjectRef.Resource},
		"subResource": e.ObjectRef.Subresource,
		"namespace":   e.ObjectRef.Namespace,
		"name":        e.ObjectRef.Name,
		"userInfo":    map[string]any{"username": e.User.Username, "groups": e.User.Groups},
	}
	if op != "DELETE" && len(e.RequestObject) > 0 {
		req["object"] = e.RequestObject
	}
	b, err := json.Marshal(req)
	if err != nil {
		panic(err)
	}
	return b, true
}

// TestFalcoAuditCorpus replays the requests of Falco's Kubernetes audit
// test events as admission requests through the classifier and the
// built-in pack.
func TestFalcoAuditCorpus(t *testing.T) {
	dir := filepath.Join(corpora.Dir(t, "k8saudit"), "falco")
	rs, err := builtin.Load()
	if err != nil {
		t.Fatal(err)
	}
	e := policy.NewEngine(rs, policy.Defaults{})
	policy.RegisterClassifiers(e)

	// file -> check of the first admission request in it, and the
	// decision the built-in pack makes on production.
	type want struct {
		check  func(*kube.Result) bool
		effect string
		rule   string
	}
	wants := map[string]want{
		"attach_cluster_admin_role.json":              {func(r *kube.Result) bool { return r.BindsClusterAdmin }, "deny", "k8s.cluster-admin-binding"},
		"create_clusterrolebinding.json":              {func(r *kube.Result) bool { return !r.BindsClusterAdmin && r.RoleRef.Name == "system:basic-user" }, "allow", ""},
		"attach_pod.json":                             {func(r *kube.Result) bool { return r.Exec && r.Subresource == "attach" }, "review", "k8s.exec"},
		"exec_pod.json":                               {func(r *kube.Result) bool { return r.Exec && r.Subresource == "exec" }, "review", "k8s.exec"},
		"create_cluster_role_wildcard_verbs.json":     {func(r *kube.Result) bool { return r.WildcardVerbs }, "review", "k8s.wildcard-role"},
		"create_cluster_role_wildcard_resources.json": {func(r *kube.Result) bool { return r.WildcardResources }, "review", "k8s.wildcard-role"},
		"create_nginx_pod_privileged.json":            {func(r *kube.Result) bool { return r.Pod.Privileged }, "deny", "k8s.privileged-pod"},
		"create_nginx_pod_privileged_2nd_container.json": {func(r *kube.Result) bool {
			return r.Pod.Privileged && len(r.Pod.PrivilegedContainers) == 1 && r.Pod.PrivilegedContainers[0] == "mysql"
		}, "deny", "k8s.privileged-pod"},
		"create_nginx_pod_no_secctx_1st_container_privileged_2nd_container.json": {func(r *kube.Result) bool { return r.Pod.Privileged }, "deny", "k8s.privileged-pod"},
		"create_nginx_pod_unprivileged.json":                                     {func(r *kube.Result) bool { return r.HasPod && !r.Pod.Privileged }, "allow", ""},
		"create_nginx_pod_hostnetwork.json":                                      {func(r *kube.Result) bool { return r.Pod.HostNetwork }, "deny", "k8s.privileged-pod"},
		"create_nginx_pod_nohostnetwork.json":                                    {func(r *kube.Result) bool { return r.HasPod && !r.Pod.HostNetwork }, "allow", ""},
		"create_nginx_pod_sensitive_mount.json":                                  {func(r *kube.Result) bool { return len(r.Pod.HostPaths) > 0 }, "deny", "k8s.host-path-pod"},
		"create_nginx_pod_sensitive_mount_2nd_container.json":                    {func(r *kube.Result) bool { return len(r.Pod.HostPaths) > 0 }, "deny", "k8s.host-path-pod"},
		"create_deployment.json": {func(r *kube.Result) bool {
			return r.Kind == "Deployment" && r.HasPod && !r.Pod.Privileged && r.ReplicasAfter >= 1
		}, "allow", ""},
		"delete_namespace_foo.json": {func(r *kube.Result) bool { return r.Operation == "DELETE" && r.Resource == "namespaces" }, "deny", "k8s.delete-namespace"},
		"delete_deployment.json":    {func(r *kube.Result) bool { return r.Operation == "DELETE" && r.Resource == "deployments" }, "deny", "k8s.delete-workload"},
		"delete_secret.json":        {func(r *kube.Result) bool { return r.Operation == "DELETE" && r.Resource == "secrets" }, "deny", "k8s.delete-secret"},
		"delete_configmap.json":     {func(r *kube.Result) bool { return r.Operation == "DELETE" && r.Resource == "configmaps" }, "allow", ""},
		"create_service.json":       {func(r *kube.Result) bool { return r.Kind == "Service" }, "allow", ""},
	}
	files, err := filepath.Glob(filepath.Join(dir, "*.json"))
	if err != nil || len(files) == 0 {
		t.Fatalf("no corpus files in %s (%v)", dir, err)
	}
	seen, requests := 0, 0
	for _, f := range files {
		data, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		first := true
		sc := bufio.NewScanner(bytes.NewReader(data))
		sc.Buffer(make([]byte, 0, 1<<20), 16<<20)
		for sc.Scan() {
			line := strings.TrimSpace(sc.Text())
			if line == "" {
				continue
			}
			var ev auditEvent
			if err := json.Unmarshal([]byte(line), &ev); err != nil {
				t.Errorf("%s: %v", filepath.Base(f), err)
				continue
			}
			req, ok := admissionRequest(ev)
			if !ok {
				continue
			}
			requests++
			r, err := kube.Classify(req)
			if err != nil {
				t.Errorf("%s: classify: %v", filepath.Base(f), err)
				continue
			}
			w, has := wants[filepath.Base(f)]
			if !first || !has {
				continue
			}
			first = false
			seen++
			if !w.check(r) {
				b, _ := json.Marshal(r)
				t.Errorf("%s: unexpected classification %s", filepath.Base(f), b)
			}
			d, err := e.Decide(context.Background(), &classify.Action{Kind: classify.KindKubernetes, Environment: "production", Kubernetes: req})
			if err != nil {
				t.Errorf("%s: decide: %v", filepath.Base(f), err)
				continue
			}
			if d.Effect != w.effect || w.rule != "" && !hasRule(d, w.rule) {
				t.Errorf("%s: decision %s %v, want %s %s", filepath.Base(f), d.Effect, d.Rules, w.effect, w.rule)
			}
		}
		if err := sc.Err(); err != nil {
			t.Errorf("%s: %v", filepath.Base(f), err)
		}
	}
	if seen != len(wants) {
		t.Errorf("checked %d of %d expected corpus files", seen, len(wants))
	}
	t.Logf("%d admission requests from %d files classified, %d checked against expectations", requests, len(files), seen)
}

func hasRule(d *policy.Decision, id string) bool {
	for _, r := range d.Rules {
		if r.ID == id {
			return true
		}
	}
	return false
}
