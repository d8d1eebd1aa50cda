// Package classify defines the Action, a raw action someone wants to take on
// production (SQL text, a shell command line, a Kubernetes admission request,
// an AWS API call, a Terraform plan), and the Attributes real parsers derive from
// it. The parsers live in the subpackages sql, shell, kube, aws and tfplan; the
// policy engine (internal/policy) decides on their output. Never regexes or word
// lists over raw text: they are what attackers walk around.
package classify

import "encoding/json"

// Kinds of action.
const (
	KindSQL        = "sql"
	KindShell      = "shell"
	KindKubernetes = "kubernetes"
	KindAWS        = "aws"
	KindTerraform  = "terraform"
)

// Action is a raw action as callers send it. The JSON field names are an
// external contract: other tools and tests send them.
type Action struct {
	Kind        string `json:"kind"`
	Actor       Actor  `json:"actor"`
	Connection  string `json:"connection,omitempty"`
	Environment string `json:"environment,omitempty"`
	// SQL is PostgreSQL text, possibly several statements (kind sql).
	SQL string `json:"sql,omitempty"`
	// Command is one shell command line as typed (kind shell).
	Command string `json:"command,omitempty"`
	// Kubernetes is the AdmissionReview v1 `request` object (kind kubernetes).
	Kubernetes json.RawMessage `json:"kubernetes,omitempty"`
	// AWS is a CloudTrail-shaped record: eventSource, eventName,
	// requestParameters, ... (kind aws).
	AWS json.RawMessage `json:"aws,omitempty"`
	// TerraformPlan is `terraform show -json` of a plan (kind terraform).
	TerraformPlan json.RawMessage `json:"terraform_plan,omitempty"`
}

// Actor is who wants to act.
type Actor struct {
	User   string   `json:"user"`
	Roles  []string `json:"roles,omitempty"`
	Groups []string `json:"groups,omitempty"`
}
