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
	"strings"
	"time"

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

// Options tune the built-in correlations.
type Options struct {
	// FailedAccessCount and FailedAccessWindow set the repeated-failures
	// correlations' threshold (default 5 in 10m).
	FailedAccessCount  int
	FailedAccessWindow time.Duration
}

// Correlations parses every built-in correlation: repeated failed or denied
// access (per actor and per source address), and privilege escalation with
// no approved review.
func Correlations(opts ...Options) ([]*correlate.Correlation, error) {
	var out []*correlate.Correlation
	err := each(func(name string, data []byte) error {
		cs, err := correlate.Parse(data, name)
		out = append(out, cs...)
		return err
	})
	for _, o := range opts {
		for _, c := range out {
			if !strings.HasPrefix(c.ID, "vigil-repeated-access-failures") {
				continue
			}
			if o.FailedAccessCount > 0 {
				c.Condition = correlate.Condition{Comparisons: []correlate.Comparison{{Op: "gte", Value: float64(o.FailedAccessCount)}}}
			}
			if o.FailedAccessWindow > 0 {
				c.Timespan = o.FailedAccessWindow
			}
		}
	}
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
