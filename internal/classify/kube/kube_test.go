package kube

import (
	"encoding/json"
	"reflect"
	"slices"
	"strings"
	"testing"
)

func mustClassify(t *testing.T, req string) *Result {
	t.Helper()
	r, err := Classify(json.RawMessage(req))
	if err != nil {
		t.Fatalf("Classify(%s): %v", req, err)
	}
	return r
}

func TestClassify(t *testing.T) {
	tests := []struct {
		name  string
		req   string
		check func(*Result) bool
	}{
		{"request fields", `{"uid":"1","kind":{"group":"apps","version":"v1","kind":"Deployment"},
			"resource":{"group":"apps","version":"v1","resource":"Deployments"},"namespace":"shop","name":"web",
			"operation":"delete","userInfo":{"username":"alice","groups":["dev"]},"dryRun":true,
			"oldObject":{"kind":"Deployment","spec":{"replicas":2}}}`,
			func(r *Result) bool {
				return r.Operation == "DELETE" && r.Group == "apps" && r.Version == "v1" && r.Resource == "deployments" &&
					r.Namespace == "shop" && r.Name == "web" && r.Kind == "Deployment" && r.User == "alice" &&
					reflect.DeepEqual(r.Groups, []string{"dev"}) && r.DryRun && r.ReplicasBefore == 2 && r.ReplicasAfter == -1 && !r.HasPod
			}},
		{"kind from the request when there is no object", `{"operation":"CONNECT","kind":{"kind":"PodExecOptions"},"resource":{"resource":"pods"},"subResource":"exec"}`,
			func(r *Result) bool { return r.Kind == "PodExecOptions" && r.Exec }},
		{"portforward is exec", `{"operation":"CONNECT","resource":{"resource":"pods"},"subResource":"portforward"}`,
			func(r *Result) bool { return r.Exec }},
		{"escalation verbs", `{"operation":"CREATE","resource":{"group":"rbac.authorization.k8s.io","resource":"roles"},"object":{"kind":"Role","rules":[{"verbs":["get","bind"],"resources":["roles"]},{"verbs":["impersonate","bind"],"resources":["users"]}]}}`,
			func(r *Result) bool {
				return slices.Equal(r.EscalationVerbs, []string{"bind", "impersonate"}) && !r.WildcardRules
			}},
		{"pods/log is not exec", `{"operation":"CONNECT","resource":{"resource":"pods"},"subResource":"log"}`,
			func(r *Result) bool { return !r.Exec }},
		// kubectl debug: a container with a shell added to a running pod.
		{"ephemeral container is exec", `{"operation":"UPDATE","resource":{"resource":"pods"},"subResource":"ephemeralcontainers"}`,
			func(r *Result) bool { return r.Exec }},
		// The kubelet API: /exec and /run on every pod of the node.
		{"nodes/proxy is exec", `{"operation":"CONNECT","resource":{"resource":"nodes"},"subResource":"proxy"}`,
			func(r *Result) bool { return r.Exec }},
		{"pods/proxy is exec", `{"operation":"CONNECT","resource":{"resource":"pods"},"subResource":"proxy"}`,
			func(r *Result) bool { return r.Exec }},
		{"pods/status is not exec", `{"operation":"UPDATE","resource":{"resource":"pods"},"subResource":"status"}`,
			func(r *Result) bool { return !r.Exec }},
		{"services/proxy is not exec", `{"operation":"CONNECT","resource":{"resource":"services"},"subResource":"exec"}`,
			func(r *Result) bool { return !r.Exec }},
		{"statefulset scaled to zero", `{"operation":"UPDATE","resource":{"group":"apps","resource":"statefulsets"},
			"object":{"kind":"StatefulSet","spec":{"replicas":0,"template":{"spec":{"containers":[{"name":"db"}]}}}},
			"oldObject":{"kind":"StatefulSet","spec":{"replicas":3}}}`,
			func(r *Result) bool {
				return r.ScaleToZero && r.ScaleDown && r.ReplicasBefore == 3 && r.ReplicasAfter == 0 && r.HasPod
			}},
		{"replicas absent means 1", `{"operation":"UPDATE","object":{"kind":"Deployment","spec":{"replicas":0}},"oldObject":{"kind":"Deployment","spec":{}}}`,
			func(r *Result) bool { return r.ScaleToZero && r.ReplicasBefore == 1 }},
		{"scale subresource omits 0", `{"operation":"UPDATE","subResource":"scale","object":{"kind":"Scale","spec":{}},"oldObject":{"kind":"Scale","spec":{"replicas":4}}}`,
			func(r *Result) bool { return r.ScaleToZero && r.ReplicasAfter == 0 }},
		{"scale up", `{"operation":"UPDATE","subResource":"scale","object":{"kind":"Scale","spec":{"replicas":5}},"oldObject":{"kind":"Scale","spec":{"replicas":4}}}`,
			func(r *Result) bool { return !r.ScaleToZero && !r.ScaleDown && r.ReplicasAfter == 5 }},
		{"scale down, not to zero", `{"operation":"UPDATE","object":{"kind":"ReplicaSet","spec":{"replicas":1}},"oldObject":{"kind":"ReplicaSet","spec":{"replicas":4}}}`,
			func(r *Result) bool { return !r.ScaleToZero && r.ScaleDown }},
		{"already at zero", `{"operation":"UPDATE","object":{"kind":"Deployment","spec":{"replicas":0}},"oldObject":{"kind":"Deployment","spec":{"replicas":0}}}`,
			func(r *Result) bool { return !r.ScaleToZero }},
		{"created with zero replicas", `{"operation":"CREATE","object":{"kind":"Deployment","spec":{"replicas":0}}}`,
			func(r *Result) bool { return !r.ScaleToZero && r.ReplicasAfter == 0 }},
		{"configmap has no replicas", `{"operation":"UPDATE","object":{"kind":"ConfigMap","data":{"replicas":"0"}},"oldObject":{"kind":"ConfigMap"}}`,
			func(r *Result) bool { return r.ReplicasAfter == -1 && !r.ScaleToZero }},
		{"pod spec everything", `{"operation":"CREATE","object":{"kind":"Pod","spec":{"hostPID":true,"hostIPC":true,"hostNetwork":true,
			"initContainers":[{"name":"i","image":"busybox","securityContext":{"capabilities":{"add":["cap_sys_admin","NET_ADMIN"]}}}],
			"containers":[{"name":"a","image":"nginx","securityContext":{"privileged":true,"allowPrivilegeEscalation":true}},{"name":"b","image":"nginx"}],
			"volumes":[{"name":"h","hostPath":{"path":"/var/run/docker.sock"}},{"name":"e","emptyDir":{}}]}}}`,
			func(r *Result) bool {
				p := r.Pod
				return r.HasPod && p.Privileged && p.HostPID && p.HostIPC && p.HostNetwork && p.AllowPrivilegeEscalation &&
					reflect.DeepEqual(p.PrivilegedContainers, []string{"a"}) &&
					reflect.DeepEqual(p.AddedCapabilities, []string{"NET_ADMIN", "SYS_ADMIN"}) &&
					reflect.DeepEqual(p.HostPaths, []string{"/var/run/docker.sock"}) &&
					reflect.DeepEqual(p.Images, []string{"busybox", "nginx"})
			}},
		{"ephemeral debug container", `{"operation":"UPDATE","subResource":"ephemeralcontainers","object":{"kind":"Pod","spec":{"containers":[{"name":"a"}],
			"ephemeralContainers":[{"name":"debugger","securityContext":{"privileged":true}}]}}}`,
			func(r *Result) bool { return r.Pod.Privileged && r.Pod.PrivilegedContainers[0] == "debugger" }},
		{"privileged false", `{"operation":"CREATE","object":{"kind":"Pod","spec":{"containers":[{"name":"a","securityContext":{"privileged":false}}]}}}`,
			func(r *Result) bool { return r.HasPod && !r.Pod.Privileged }},
		{"daemonset template", `{"operation":"CREATE","object":{"kind":"DaemonSet","spec":{"template":{"spec":{"volumes":[{"hostPath":{"path":"/"}}]}}}}}`,
			func(r *Result) bool { return r.HasPod && r.Pod.HostPaths[0] == "/" }},
		{"job template", `{"operation":"CREATE","object":{"kind":"Job","spec":{"template":{"spec":{"hostNetwork":true}}}}}`,
			func(r *Result) bool { return r.Pod.HostNetwork }},
		{"cronjob template", `{"operation":"CREATE","object":{"kind":"CronJob","spec":{"jobTemplate":{"spec":{"template":{"spec":{"hostPID":true}}}}}}}`,
			func(r *Result) bool { return r.Pod.HostPID }},
		{"podtemplate", `{"operation":"CREATE","object":{"kind":"PodTemplate","template":{"spec":{"hostIPC":true}}}}`,
			func(r *Result) bool { return r.Pod.HostIPC }},
		{"custom resource with a pod template", `{"operation":"CREATE","object":{"kind":"Rollout","spec":{"template":{"spec":{"containers":[{"name":"x","securityContext":{"privileged":true}}]}}}}}`,
			func(r *Result) bool { return r.Pod.Privileged }},
		{"custom resource with a scalar spec", `{"operation":"CREATE","object":{"kind":"Thing","spec":"opaque"}}`,
			func(r *Result) bool { return !r.HasPod }},
		{"deleting a privileged pod is not creating one", `{"operation":"DELETE","resource":{"resource":"pods"},"oldObject":{"kind":"Pod","spec":{"containers":[{"securityContext":{"privileged":true}}]}}}`,
			func(r *Result) bool { return !r.HasPod && !r.Pod.Privileged && r.Kind == "Pod" }},
		{"binding to cluster-admin", `{"operation":"CREATE","object":{"kind":"ClusterRoleBinding","roleRef":{"kind":"ClusterRole","name":"cluster-admin"},
			"subjects":[{"kind":"ServiceAccount","name":"ci","namespace":"tools"},{"kind":"User","name":"bob"}]}}`,
			func(r *Result) bool {
				return r.BindsClusterAdmin && r.RoleRef == (RoleRef{"ClusterRole", "cluster-admin"}) &&
					reflect.DeepEqual(r.Subjects, []string{"ServiceAccount:tools/ci", "User:bob"})
			}},
		{"a Role named cluster-admin is not the ClusterRole", `{"operation":"CREATE","object":{"kind":"RoleBinding","roleRef":{"kind":"Role","name":"cluster-admin"}}}`,
			func(r *Result) bool { return !r.BindsClusterAdmin }},
		{"binding to system:masters", `{"operation":"CREATE","object":{"kind":"ClusterRoleBinding","roleRef":{"kind":"ClusterRole","name":"view"},
			"subjects":[{"kind":"Group","name":"system:masters"}]}}`,
			func(r *Result) bool { return r.BindsClusterAdmin }},
		{"wildcard verbs", `{"operation":"CREATE","object":{"kind":"Role","rules":[{"resources":["pods"],"verbs":["*"]}]}}`,
			func(r *Result) bool { return r.WildcardRules && r.WildcardVerbs && !r.WildcardResources }},
		{"no wildcard", `{"operation":"CREATE","object":{"kind":"ClusterRole","rules":[{"resources":["pods"],"verbs":["get"]}]}}`,
			func(r *Result) bool { return !r.WildcardRules }},
		{"public load balancer", `{"operation":"CREATE","object":{"kind":"Service","spec":{"type":"LoadBalancer","loadBalancerSourceRanges":["203.0.113.0/24"]}}}`,
			func(r *Result) bool {
				return r.PublicLoadBalancer && r.ServiceType == "LoadBalancer" && r.LoadBalancerSourceRanges[0] == "203.0.113.0/24"
			}},
		{"aws internal false is public", `{"operation":"CREATE","object":{"kind":"Service","metadata":{"annotations":{"service.beta.kubernetes.io/aws-load-balancer-internal":"false"}},"spec":{"type":"LoadBalancer"}}}`,
			func(r *Result) bool { return r.PublicLoadBalancer }},
		{"aws internal legacy cidr value", `{"operation":"CREATE","object":{"kind":"Service","metadata":{"annotations":{"service.beta.kubernetes.io/aws-load-balancer-internal":"0.0.0.0/0"}},"spec":{"type":"LoadBalancer"}}}`,
			func(r *Result) bool { return !r.PublicLoadBalancer }},
		{"aws nlb scheme internal", `{"operation":"CREATE","object":{"kind":"Service","metadata":{"annotations":{"service.beta.kubernetes.io/aws-load-balancer-scheme":"internal"}},"spec":{"type":"LoadBalancer"}}}`,
			func(r *Result) bool { return !r.PublicLoadBalancer }},
		{"gke internal", `{"operation":"CREATE","object":{"kind":"Service","metadata":{"annotations":{"networking.gke.io/load-balancer-type":"Internal"}},"spec":{"type":"LoadBalancer"}}}`,
			func(r *Result) bool { return !r.PublicLoadBalancer }},
		{"azure internal", `{"operation":"CREATE","object":{"kind":"Service","metadata":{"annotations":{"service.beta.kubernetes.io/azure-load-balancer-internal":"true"}},"spec":{"type":"LoadBalancer"}}}`,
			func(r *Result) bool { return !r.PublicLoadBalancer }},
		{"made public on update", `{"operation":"UPDATE","object":{"kind":"Service","spec":{"type":"LoadBalancer"}},"oldObject":{"kind":"Service","spec":{"type":"ClusterIP"}}}`,
			func(r *Result) bool { return r.PublicLoadBalancer && !r.WasPublicLoadBalancer }},
		{"already public", `{"operation":"UPDATE","object":{"kind":"Service","spec":{"type":"LoadBalancer"}},"oldObject":{"kind":"Service","spec":{"type":"LoadBalancer"}}}`,
			func(r *Result) bool { return r.PublicLoadBalancer && r.WasPublicLoadBalancer }},
		{"default service type", `{"operation":"CREATE","object":{"kind":"Service","spec":{}}}`,
			func(r *Result) bool { return r.ServiceType == "ClusterIP" && !r.PublicLoadBalancer }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := mustClassify(t, tt.req)
			if !tt.check(r) {
				b, _ := json.MarshalIndent(r, "", "  ")
				t.Errorf("unexpected result:\n%s", b)
			}
		})
	}
}

func TestErrors(t *testing.T) {
	for _, req := range []string{
		``,
		`[]`,
		`{"operation":1}`,
		`{"operation":"CREATE","object":{"kind":"Pod","spec":{"containers":"nope"}}}`,
		`{"operation":"CREATE","object":{"kind":"Service","spec":{"type":5}}}`,
		`{"operation":"CREATE","object":"x"}`,
	} {
		if _, err := Classify(json.RawMessage(req)); err == nil {
			t.Errorf("Classify(%s): no error", req)
		}
	}
}

// TestJSONShape checks that every list is [] (never null) and the field
// names rules use.
func TestJSONShape(t *testing.T) {
	r := mustClassify(t, `{"operation":"CREATE"}`)
	b, err := json.Marshal(r)
	if err != nil {
		t.Fatal(err)
	}
	s := string(b)
	if strings.Contains(s, "null") {
		t.Errorf("null in %s", s)
	}
	for _, k := range []string{`"operation":"CREATE"`, `"replicas_before":-1`, `"scale_to_zero":false`, `"pod":{"privileged":false`,
		`"host_paths":[]`, `"added_capabilities":[]`, `"binds_cluster_admin":false`, `"public_load_balancer":false`, `"exec":false`,
		`"groups":[]`, `"subjects":[]`, `"role_ref":{"kind":"","name":""}`} {
		if !strings.Contains(s, k) {
			t.Errorf("%s not in %s", k, s)
		}
	}
}
