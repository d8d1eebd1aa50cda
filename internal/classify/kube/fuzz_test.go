package kube

import (
	"testing"

	"github.com/vigil-audit/vigil/internal/classify/classifytest"
)

// FuzzClassify: any input either classifies or fails with an error; never a
// panic, and the same input gives the same result.
func FuzzClassify(f *testing.F) {
	for _, s := range []string{
		`{"uid":"1","operation":"DELETE","kind":{"group":"","version":"v1","kind":"Namespace"},"resource":{"resource":"namespaces"},"name":"prod"}`,
		`{"operation":"CREATE","resource":{"group":"rbac.authorization.k8s.io","resource":"clusterrolebindings"},"object":{"roleRef":{"kind":"ClusterRole","name":"cluster-admin"},"subjects":[{"kind":"User","name":"eve"}]}}`,
		`{"operation":"UPDATE","resource":{"group":"apps","resource":"deployments"},"subResource":"scale","object":{"spec":{"replicas":0}},"oldObject":{"spec":{"replicas":3}}}`,
		`{"operation":"CREATE","resource":{"resource":"pods"},"object":{"spec":{"hostPID":true,"volumes":[{"hostPath":{"path":"/"}}],"containers":[{"securityContext":{"privileged":true}}]}}}`,
		`{"operation":"CREATE","resource":{"resource":"services"},"object":{"spec":{"type":"LoadBalancer"}}}`,
		`{"operation":"CONNECT","resource":{"resource":"pods"},"subResource":"exec"}`,
		`{}`, `null`, `[]`, `{"object":[]}`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) { classifytest.Deterministic(t, Classify, b) })
}
