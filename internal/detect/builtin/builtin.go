// Package builtin holds Vigil's own detections, Sigma rules embedded in the
// binary: logging switched off, privilege escalation (IAM administrator,
// cluster-admin, database grants through the gateway), sensitive
// configuration changes, and actions blocked by policy. `vigil detect` and
// `vigil serve` run them unless told not to.
package builtin

import (
	"embed"
	"fmt"
	"io/fs"

	"github.com/vigil-audit/vigil/internal/detect/sigma"
)

//go:embed *.yml
var files embed.FS

// Rules parses every built-in detection.
func Rules() ([]*sigma.Rule, error) {
	names, err := fs.Glob(files, "*.yml")
	if err != nil {
		return nil, err
	}
	var out []*sigma.Rule
	for _, n := range names {
		data, err := files.ReadFile(n)
		if err != nil {
			return nil, err
		}
		r, err := sigma.Parse(data, "builtin/"+n)
		if err != nil {
			return nil, fmt.Errorf("built-in detections: %w", err)
		}
		out = append(out, r)
	}
	return out, nil
}
