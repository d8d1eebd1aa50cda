// Package builtin holds Vigil's built-in rule packs, embedded in the binary:
// YAML rule files in the format internal/policy loads, each rule with inline
// tests. The packs apply to environment "production".
package builtin

import (
	"embed"
	"fmt"

	"github.com/vigil-audit/vigil/internal/policy"
)

// FS holds the pack files (sql.yaml, ...) at its root.
//
//go:embed *.yaml
var FS embed.FS

// Load compiles every built-in pack.
func Load() (*policy.RuleSet, error) {
	rs, err := policy.Load(FS, ".")
	if err != nil {
		return nil, fmt.Errorf("built-in rules: %w", err)
	}
	return rs, nil
}
