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

	"github.com/vigil-audit/vigil/internal/detect/correlate"
	"github.com/vigil-audit/vigil/internal/detect/sigma"
)

//go:embed *.yml
var files embed.FS

// Rules parses every built-in single-event detection.
func Rules() ([]*sigma.Rule, error) {
	var out []*sigma.Rule
	err := each(func(name string, data []byte) error {
		c, err := sigma.ParseAll(data, name)
		if err != nil {
			return err
		}
		out = append(out, c.Rules...)
		return nil
	})
	return out, err
}

// Correlations parses every built-in correlation: repeated failed or denied
// access, and privilege escalation with no approved review.
func Correlations() ([]*correlate.Correlation, error) {
	var out []*correlate.Correlation
	err := each(func(name string, data []byte) error {
		cs, err := correlate.Parse(data, name)
		out = append(out, cs...)
		return err
	})
	return out, err
}

func each(fn func(name string, data []byte) error) error {
	names, err := fs.Glob(files, "*.yml")
	if err != nil {
		return err
	}
	for _, n := range names {
		data, err := files.ReadFile(n)
		if err != nil {
			return err
		}
		if err := fn("builtin/"+n, data); err != nil {
			return fmt.Errorf("built-in detections: %w", err)
		}
	}
	return nil
}
