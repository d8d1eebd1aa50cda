package tfplan

import (
	"encoding/json"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

func load(t *testing.T, name string) *Result {
	t.Helper()
	data, err := os.ReadFile(filepath.Join("testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	r, err := Classify(data)
	if err != nil {
		t.Fatalf("%s: %v", name, err)
	}
	return r
}

func TestOrdinaryPlan(t *testing.T) {
	r := load(t, "ordinary.json")
	if r.FormatVersion != "1.2" || r.TerraformVersion != "1.9.5" || len(r.Changes) != 5 {
		t.Fatalf("header or changes: %+v", r)
	}
	check := func(name string, got, want []string) {
		t.Helper()
		if !reflect.DeepEqual(got, want) {
			t.Errorf("%s = %q, want %q", name, got, want)
		}
	}
	check("creates", r.Creates, []string{"aws_security_group.db"})
	check("updates", r.Updates, []string{"module.app.aws_ecs_service.web"})
	check("deletes", r.Deletes, []string{"aws_instance.worker[1]"})
	check("replaces", r.Replaces, []string{})
	check("protected_deletes", r.ProtectedDeletes, []string{})
	check("world_open_ingress", r.WorldOpenIngress, []string{})
	if c := r.Changes[1]; c.ModuleAddr != "module.app" || c.Action != "update" || c.After["desired_count"] != 6.0 {
		t.Errorf("update change: %+v", c)
	}
	if c := r.Changes[3]; c.Mode != "data" || c.Action != "read" || len(c.Before) != 0 {
		t.Errorf("data read: %+v", c)
	}
	if c := r.Changes[4]; c.Action != "no-op" || !c.Protected || c.Delete {
		t.Errorf("no-op on a protected type: %+v", c)
	}
}

func TestDestructivePlan(t *testing.T) {
	r := load(t, "destructive.json")
	want := []string{"aws_db_instance.orders", "google_compute_instance.bastion", "aws_kms_key.data"}
	if !reflect.DeepEqual(r.Deletes, want) || !reflect.DeepEqual(r.ProtectedDeletes, want) {
		t.Errorf("deletes %q, protected %q, want both %q", r.Deletes, r.ProtectedDeletes, want)
	}
	if !reflect.DeepEqual(r.Replaces, []string{"aws_db_instance.orders", "aws_kms_key.data"}) {
		t.Errorf("replaces %q", r.Replaces)
	}
	if want := []string{"aws_security_group.web", "google_compute_firewall.ssh", "azurerm_network_security_rule.rdp"}; !reflect.DeepEqual(r.WorldOpenIngress, want) {
		t.Errorf("world_open_ingress %q, want %q", r.WorldOpenIngress, want)
	}
	// The 443 rule was open before: only the new ::/0 on 22 is reported.
	sg := r.Changes[3]
	if want := []IngressRule{{"tcp", 22, 22, "::/0"}}; !reflect.DeepEqual(sg.OpenIngress, want) {
		t.Errorf("security group open_ingress %+v, want %+v", sg.OpenIngress, want)
	}
	fw := r.Changes[4]
	if want := []IngressRule{{"tcp", 22, 22, "0.0.0.0/0"}, {"tcp", 8000, 8080, "0.0.0.0/0"}}; !reflect.DeepEqual(fw.OpenIngress, want) {
		t.Errorf("firewall open_ingress %+v, want %+v", fw.OpenIngress, want)
	}
	if nsg := r.Changes[5]; len(nsg.OpenIngress) != 1 || nsg.OpenIngress[0].FromPort != 3389 {
		t.Errorf("nsg open_ingress %+v", nsg.OpenIngress)
	}
}

func TestWorldIngress(t *testing.T) {
	tests := []struct {
		name string
		typ  string
		attr string
		want int
	}{
		{"rule ingress v4", "aws_security_group_rule", `{"type":"ingress","protocol":"tcp","from_port":22,"to_port":22,"cidr_blocks":["0.0.0.0/0"]}`, 1},
		{"rule ingress v6", "aws_security_group_rule", `{"type":"ingress","protocol":"-1","from_port":0,"to_port":0,"ipv6_cidr_blocks":["::/0"]}`, 1},
		{"rule egress", "aws_security_group_rule", `{"type":"egress","protocol":"-1","cidr_blocks":["0.0.0.0/0"]}`, 0},
		{"rule private", "aws_security_group_rule", `{"type":"ingress","protocol":"tcp","cidr_blocks":["10.0.0.0/8","192.168.0.0/16"]}`, 0},
		{"a /0 with a host address", "aws_security_group_rule", `{"type":"ingress","protocol":"tcp","cidr_blocks":["1.2.3.4/0"]}`, 1},
		{"vpc ingress rule", "aws_vpc_security_group_ingress_rule", `{"ip_protocol":"tcp","from_port":80,"to_port":80,"cidr_ipv6":"::/0"}`, 1},
		{"vpc ingress rule private", "aws_vpc_security_group_ingress_rule", `{"ip_protocol":"tcp","cidr_ipv4":"10.1.0.0/16"}`, 0},
		{"unknown cidr (computed)", "aws_vpc_security_group_ingress_rule", `{"ip_protocol":"tcp","cidr_ipv4":null}`, 0},
		{"gcp egress", "google_compute_firewall", `{"direction":"EGRESS","source_ranges":["0.0.0.0/0"],"allow":[{"protocol":"all"}]}`, 0},
		{"gcp disabled", "google_compute_firewall", `{"disabled":true,"source_ranges":["0.0.0.0/0"],"allow":[{"protocol":"all"}]}`, 0},
		{"gcp all", "google_compute_firewall", `{"source_ranges":["0.0.0.0/0"],"allow":[{"protocol":"all"}]}`, 1},
		{"azure deny", "azurerm_network_security_rule", `{"direction":"Inbound","access":"Deny","source_address_prefix":"*"}`, 0},
		{"azure star", "azurerm_network_security_rule", `{"direction":"Inbound","access":"Allow","source_address_prefix":"*","destination_port_range":"*"}`, 1},
		{"other type", "aws_instance", `{"cidr_blocks":["0.0.0.0/0"]}`, 0},
	}
	for _, tt := range tests {
		var attrs map[string]any
		if err := json.Unmarshal([]byte(tt.attr), &attrs); err != nil {
			t.Fatal(err)
		}
		if got := worldIngress(tt.typ, attrs); len(got) != tt.want {
			t.Errorf("%s: %d rules %+v, want %d", tt.name, len(got), got, tt.want)
		}
	}
}

func TestErrors(t *testing.T) {
	for _, p := range []string{``, `[]`, `{"resource_changes":{}}`, `{"resource_changes":[{"change":{"actions":"delete"}}]}`} {
		if _, err := Classify(json.RawMessage(p)); err == nil {
			t.Errorf("Classify(%s): no error", p)
		}
	}
}

func TestJSONShape(t *testing.T) {
	r, err := Classify(json.RawMessage(`{"resource_changes":[{"address":"a.b","type":"a","change":{"actions":["create"],"before":null,"after":null}}]}`))
	if err != nil {
		t.Fatal(err)
	}
	b, err := json.Marshal(r)
	if err != nil {
		t.Fatal(err)
	}
	s := string(b)
	if strings.Contains(s, "null") {
		t.Errorf("null in %s", s)
	}
	for _, k := range []string{`"changes":[{"address":"a.b"`, `"actions":["create"]`, `"action":"create"`, `"open_ingress":[]`,
		`"before":{}`, `"after":{}`, `"deletes":[]`, `"protected_deletes":[]`, `"world_open_ingress":[]`} {
		if !strings.Contains(s, k) {
			t.Errorf("%s not in %s", k, s)
		}
	}
}
