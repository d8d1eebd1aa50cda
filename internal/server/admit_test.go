package server_test

import (
	"encoding/json"
	"strings"
	"testing"
)

func TestAdmit(t *testing.T) {
	e := newEnv(t, 0)
	review := func(uid, op, resource, name string) []byte {
		return []byte(`{"apiVersion":"admission.k8s.io/v1","kind":"AdmissionReview","request":{"uid":"` + uid +
			`","kind":{"group":"","version":"v1","kind":"Namespace"},"resource":{"group":"","version":"v1","resource":"` + resource +
			`"},"name":"` + name + `","operation":"` + op + `","userInfo":{"username":"bob","groups":["dev"]},"object":null,"oldObject":{"apiVersion":"v1","kind":"Namespace","metadata":{"name":"` + name + `"}}}}`)
	}
	type out struct {
		APIVersion string `json:"apiVersion"`
		Kind       string `json:"kind"`
		Response   struct {
			UID     string `json:"uid"`
			Allowed bool   `json:"allowed"`
			Status  struct {
				Code    int    `json:"code"`
				Message string `json:"message"`
			} `json:"status"`
		} `json:"response"`
	}
	before := e.size()
	r := e.do("POST", "/v1/k8s/admit", e.user, review("u-1", "DELETE", "namespaces", "payments"))
	var got out
	if err := json.Unmarshal(r.body, &got); err != nil || r.status != 200 {
		t.Fatalf("%d %s", r.status, r.body)
	}
	if got.Kind != "AdmissionReview" || got.APIVersion != "admission.k8s.io/v1" || got.Response.UID != "u-1" || got.Response.Allowed ||
		got.Response.Status.Code != 403 || !strings.Contains(got.Response.Status.Message, "denied by Vigil") {
		t.Fatalf("namespace deletion: %s", r.body)
	}
	if e.size() != before+1 || e.last().Actor.User != "bob" || e.last().Decision.Effect != "deny" {
		t.Fatalf("admission decision not recorded: %+v", e.last())
	}
	// Outside production (set in the webhook URL) the packs do not apply.
	r = e.do("POST", "/v1/k8s/admit?environment=dev", e.user, review("u-2", "DELETE", "namespaces", "scratch"))
	json.Unmarshal(r.body, &got)
	if !got.Response.Allowed || got.Response.UID != "u-2" {
		t.Fatalf("dev namespace deletion: %s", r.body)
	}
	e.do("POST", "/v1/k8s/admit", e.user, []byte(`{"kind":"AdmissionReview"}`)).wantError(t, 400,
		"request body is not an AdmissionReview v1 with a request and its uid")
}
