// Package tfplan classifies a Terraform plan, the JSON that
// `terraform show -json PLANFILE` prints, into plain data the policy engine
// can decide on (CEL over the JSON form of [Result], bound as `tf`).
//
// Every entry of resource_changes is reported with its actions, and three
// findings are derived: deletions (a replacement, delete then create or create
// then delete, is a deletion too), deletions of protected resources (types
// that hold data or guard the account, and any resource whose prior state has
// deletion protection on), and security group rules or firewalls newly opened
// to the whole internet (0.0.0.0/0 or ::/0) for ingress. `lifecycle {
// prevent_destroy }` is not in the plan JSON, so it is not read. Every list in
// the result is non-nil.
package tfplan

import (
	"encoding/json"
	"fmt"
	"slices"
	"strings"

	"github.com/vigil-audit/vigil/internal/classify"
)

// Result is what the classifier derives from one plan. The JSON field names
// are what rules are written against.
type Result struct {
	FormatVersion    string   `json:"format_version"`
	TerraformVersion string   `json:"terraform_version"`
	Changes          []Change `json:"changes"`
	// Creates, Updates, Deletes, Replaces are the addresses of the changes
	// with that action; a replacement is in Deletes and Replaces.
	Creates  []string `json:"creates"`
	Updates  []string `json:"updates"`
	Deletes  []string `json:"deletes"`
	Replaces []string `json:"replaces"`
	// ProtectedDeletes are the addresses of protected resources the plan
	// deletes or replaces.
	ProtectedDeletes []string `json:"protected_deletes"`
	// WorldOpenIngress are the addresses of security groups, security
	// group rules and firewalls the plan opens to the world for ingress.
	WorldOpenIngress []string `json:"world_open_ingress"`
}

// Change is one resource change.
type Change struct {
	Address      string `json:"address"`
	ModuleAddr   string `json:"module_address"`
	Mode         string `json:"mode"` // managed or data
	Type         string `json:"type"`
	Name         string `json:"name"`
	ProviderName string `json:"provider_name"`
	// Actions are the plan's actions: ["create"], ["update"], ["delete"],
	// ["delete", "create"], ["create", "delete"], ["no-op"], ["read"].
	Actions []string `json:"actions"`
	// Action is one word for Actions: create, update, delete, replace,
	// read, no-op (or the joined actions when unknown).
	Action string `json:"action"`
	Delete bool   `json:"delete"` // delete or replace
	// Protected: a protected type, or the prior state has deletion
	// protection on.
	Protected bool `json:"protected"`
	// OpenIngress are the ingress rules in after open to the world that
	// before did not have.
	OpenIngress []IngressRule `json:"open_ingress"`
	// Before and After are the resource's attributes ({} when null).
	Before map[string]any `json:"before"`
	After  map[string]any `json:"after"`
}

// IngressRule is an ingress rule open to the world.
type IngressRule struct {
	Protocol string `json:"protocol"`
	FromPort int    `json:"from_port"`
	ToPort   int    `json:"to_port"`
	CIDR     string `json:"cidr"`
}

// ProtectedTypes are the resource types whose deletion loses data or
// weakens the account's guard.
var ProtectedTypes = []string{
	// AWS
	"aws_db_instance", "aws_rds_cluster", "aws_rds_global_cluster", "aws_s3_bucket", "aws_dynamodb_table",
	"aws_dynamodb_global_table", "aws_kms_key", "aws_cloudtrail", "aws_efs_file_system", "aws_ebs_volume",
	"aws_elasticache_cluster", "aws_elasticache_replication_group", "aws_redshift_cluster", "aws_docdb_cluster",
	"aws_neptune_cluster", "aws_opensearch_domain", "aws_elasticsearch_domain", "aws_backup_vault",
	"aws_secretsmanager_secret", "aws_route53_zone", "aws_guardduty_detector", "aws_config_configuration_recorder",
	"aws_kinesis_stream", "aws_msk_cluster", "aws_memorydb_cluster", "aws_fsx_lustre_file_system",
	"aws_fsx_windows_file_system", "aws_fsx_ontap_file_system", "aws_qldb_ledger", "aws_keyspaces_table",
	"aws_timestreamwrite_table", "aws_glacier_vault", "aws_organizations_account", "aws_organizations_organization",
	"aws_securityhub_account", "aws_flow_log",
	// Google Cloud
	"google_sql_database_instance", "google_sql_database", "google_storage_bucket", "google_bigquery_dataset",
	"google_bigquery_table", "google_spanner_instance", "google_spanner_database", "google_kms_crypto_key",
	"google_kms_key_ring", "google_bigtable_instance", "google_bigtable_table", "google_filestore_instance",
	"google_compute_disk", "google_redis_instance", "google_alloydb_cluster", "google_firestore_database",
	"google_project", "google_folder",
	// Azure
	"azurerm_mssql_database", "azurerm_mssql_server", "azurerm_sql_database", "azurerm_sql_server",
	"azurerm_postgresql_server", "azurerm_postgresql_flexible_server", "azurerm_mysql_server",
	"azurerm_mysql_flexible_server", "azurerm_cosmosdb_account", "azurerm_storage_account", "azurerm_key_vault",
	"azurerm_key_vault_key", "azurerm_managed_disk", "azurerm_redis_cache", "azurerm_resource_group",
	// Kubernetes
	"kubernetes_persistent_volume", "kubernetes_persistent_volume_claim", "kubernetes_namespace",
}

type plan struct {
	FormatVersion    string `json:"format_version"`
	TerraformVersion string `json:"terraform_version"`
	ResourceChanges  []struct {
		Address       string `json:"address"`
		ModuleAddress string `json:"module_address"`
		Mode          string `json:"mode"`
		Type          string `json:"type"`
		Name          string `json:"name"`
		ProviderName  string `json:"provider_name"`
		Change        struct {
			Actions []string       `json:"actions"`
			Before  map[string]any `json:"before"`
			After   map[string]any `json:"after"`
		} `json:"change"`
	} `json:"resource_changes"`
}

// Classify classifies p, the output of `terraform show -json` for a plan. It
// fails only when p is not a JSON object of that shape.
func Classify(p json.RawMessage) (*Result, error) {
	var pl plan
	if err := classify.Decode(p, &pl, "terraform", "plan"); err != nil {
		return nil, err
	}
	res := &Result{
		FormatVersion:    pl.FormatVersion,
		TerraformVersion: pl.TerraformVersion,
		Changes:          []Change{},
		Creates:          []string{},
		Updates:          []string{},
		Deletes:          []string{},
		Replaces:         []string{},
		ProtectedDeletes: []string{},
		WorldOpenIngress: []string{},
	}
	for _, rc := range pl.ResourceChanges {
		c := Change{
			Address:      rc.Address,
			ModuleAddr:   rc.ModuleAddress,
			Mode:         rc.Mode,
			Type:         rc.Type,
			Name:         rc.Name,
			ProviderName: rc.ProviderName,
			Actions:      classify.NonNil(rc.Change.Actions),
			Before:       rc.Change.Before,
			After:        rc.Change.After,
			OpenIngress:  []IngressRule{},
		}
		if c.Before == nil {
			c.Before = map[string]any{}
		}
		if c.After == nil {
			c.After = map[string]any{}
		}
		c.Action = actionWord(c.Actions)
		c.Delete = slices.Contains(c.Actions, "delete")
		c.Protected = slices.Contains(ProtectedTypes, c.Type) || deletionProtected(c.Before)
		switch c.Action {
		case "create":
			res.Creates = append(res.Creates, c.Address)
		case "update":
			res.Updates = append(res.Updates, c.Address)
		case "replace":
			res.Replaces = append(res.Replaces, c.Address)
		}
		if c.Delete && c.Mode != "data" {
			res.Deletes = append(res.Deletes, c.Address)
			if c.Protected {
				res.ProtectedDeletes = append(res.ProtectedDeletes, c.Address)
			}
		}
		if slices.Contains(c.Actions, "create") || slices.Contains(c.Actions, "update") {
			before := map[string]bool{}
			for _, r := range worldIngress(c.Type, c.Before) {
				before[r.key()] = true
			}
			for _, r := range worldIngress(c.Type, c.After) {
				if !before[r.key()] {
					c.OpenIngress = append(c.OpenIngress, r)
				}
			}
			if len(c.OpenIngress) > 0 {
				res.WorldOpenIngress = append(res.WorldOpenIngress, c.Address)
			}
		}
		res.Changes = append(res.Changes, c)
	}
	return res, nil
}

func actionWord(actions []string) string {
	switch {
	case len(actions) == 1:
		return actions[0]
	case len(actions) == 2 && slices.Contains(actions, "delete") && slices.Contains(actions, "create"):
		return "replace"
	}
	return strings.Join(actions, "+")
}

// deletionProtected: the prior state has deletion_protection (or
// deletion_protection_enabled, or termination protection) on.
func deletionProtected(before map[string]any) bool {
	for _, k := range []string{"deletion_protection", "deletion_protection_enabled", "disable_api_termination", "enable_deletion_protection"} {
		switch v := before[k].(type) {
		case bool:
			if v {
				return true
			}
		case string:
			if v == "true" || v == "ENABLED" {
				return true
			}
		}
	}
	return false
}

func (r IngressRule) key() string {
	return fmt.Sprintf("%s/%d-%d/%s", r.Protocol, r.FromPort, r.ToPort, r.CIDR)
}

// worldIngress returns the ingress rules in attrs, of a resource of type
// typ, that are open to the world.
func worldIngress(typ string, attrs map[string]any) []IngressRule {
	var out []IngressRule
	add := func(proto string, from, to int, cidrs ...string) {
		for _, c := range cidrs {
			if classify.WorldCIDR(c) {
				out = append(out, IngressRule{Protocol: proto, FromPort: from, ToPort: to, CIDR: c})
			}
		}
	}
	switch typ {
	case "aws_security_group", "aws_default_security_group":
		for _, in := range classify.Objects(attrs["ingress"]) {
			add(classify.String(in["protocol"]), classify.Int(in["from_port"]), classify.Int(in["to_port"]),
				append(strs(in["cidr_blocks"]), strs(in["ipv6_cidr_blocks"])...)...)
		}
	case "aws_security_group_rule":
		if classify.String(attrs["type"]) == "ingress" {
			add(classify.String(attrs["protocol"]), classify.Int(attrs["from_port"]), classify.Int(attrs["to_port"]),
				append(strs(attrs["cidr_blocks"]), strs(attrs["ipv6_cidr_blocks"])...)...)
		}
	case "aws_vpc_security_group_ingress_rule":
		add(classify.String(attrs["ip_protocol"]), classify.Int(attrs["from_port"]), classify.Int(attrs["to_port"]),
			classify.String(attrs["cidr_ipv4"]), classify.String(attrs["cidr_ipv6"]))
	case "google_compute_firewall":
		if dir := classify.String(attrs["direction"]); dir == "" || dir == "INGRESS" {
			if disabled, _ := attrs["disabled"].(bool); !disabled {
				for _, a := range classify.Objects(attrs["allow"]) {
					ports := strs(a["ports"])
					if len(ports) == 0 {
						ports = []string{""}
					}
					for _, p := range ports {
						from, to := portSpan(p)
						add(classify.String(a["protocol"]), from, to, strs(attrs["source_ranges"])...)
					}
				}
			}
		}
	case "azurerm_network_security_rule":
		if strings.EqualFold(classify.String(attrs["direction"]), "Inbound") && strings.EqualFold(classify.String(attrs["access"]), "Allow") {
			srcs := append(strs(attrs["source_address_prefixes"]), classify.String(attrs["source_address_prefix"]))
			from, to := portSpan(classify.String(attrs["destination_port_range"]))
			for _, s := range srcs {
				if s == "*" || strings.EqualFold(s, "Internet") || strings.EqualFold(s, "Any") {
					s = "0.0.0.0/0"
				}
				add(strings.ToLower(classify.String(attrs["protocol"])), from, to, s)
			}
		}
	}
	return out
}

// portSpan parses "22", "8000-8080", "*" or "" (every port).
func portSpan(p string) (int, int) {
	if p == "" || p == "*" {
		return 0, 65535
	}
	var from, to int
	if n, _ := fmt.Sscanf(p, "%d-%d", &from, &to); n == 2 {
		return from, to
	}
	if _, err := fmt.Sscan(p, &from); err == nil {
		return from, from
	}
	return 0, 65535
}

// strs is classify.Strings, except that an empty string is no value.
func strs(v any) []string {
	if s, ok := v.(string); ok && s == "" {
		return nil
	}
	return classify.Strings(v)
}
