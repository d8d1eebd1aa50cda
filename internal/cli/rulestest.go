package cli

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"time"

	"go.yaml.in/yaml/v3"

	"github.com/vigil-audit/vigil/internal/detect"
	"github.com/vigil-audit/vigil/internal/event"
	"github.com/vigil-audit/vigil/internal/ingest/sources"
)

// ruleTestFile is a detection fixture: events in, the alerts expected out.
//
//	tests:
//	  - name: five refusals in five minutes
//	    source: cloudtrail          # parse events with this source's parser; omit for Vigil events (JSON lines)
//	    events: |
//	      {"eventName": "...", ...}
//	    expect:
//	      - {rule: vigil-repeated-access-failures, group: "actor.user=mallory"}
//
// Events carry their own times, so correlations can be tested. The expected
// alerts must be exactly the alerts raised (group is optional in an expect).
type ruleTestFile struct {
	Tests []ruleTest `yaml:"tests"`
}

type ruleTest struct {
	Name   string       `yaml:"name"`
	Source string       `yaml:"source"`
	Events string       `yaml:"events"`
	Expect []expectedAl `yaml:"expect"`
}

type expectedAl struct {
	Rule  string `yaml:"rule"`
	Group string `yaml:"group"`
}

// isRuleTest reports whether a file is a detection fixture rather than a rule.
func isRuleTest(path string) bool {
	return strings.HasSuffix(path, ".test.yml") || strings.HasSuffix(path, ".test.yaml")
}

// runRulesTest runs the detection fixtures found in PATHS against the
// built-in detections and the rules in PATHS.
func runRulesTest(_ context.Context, e *env, args []string) error {
	fs := newFlags(e, "rules test", "rules test [--no-builtin] PATH...")
	noBuiltin := fs.Bool("no-builtin", false, "leave out Vigil's built-in detections")
	if err := fs.Parse(args); err != nil {
		return &exitError{code: exitUsage}
	}
	if fs.NArg() == 0 {
		return usagef("rules test: name rule and fixture files or directories")
	}
	files, err := yamlFiles(fs.Args())
	if err != nil {
		return err
	}
	var rulePaths, fixtures []string
	for _, f := range files {
		if isRuleTest(f) {
			fixtures = append(fixtures, f)
		} else {
			rulePaths = append(rulePaths, f)
		}
	}
	if len(fixtures) == 0 {
		return usagef("rules test: no fixture files (*.test.yml) under %s", strings.Join(fs.Args(), ", "))
	}
	passed, failed := 0, 0
	for _, fx := range fixtures {
		data, err := os.ReadFile(fx)
		if err != nil {
			return err
		}
		var tf ruleTestFile
		dec := yaml.NewDecoder(bytes.NewReader(data))
		dec.KnownFields(true)
		if err := dec.Decode(&tf); err != nil {
			return fmt.Errorf("%s: %w", fx, err)
		}
		for _, tc := range tf.Tests {
			// A fresh detector per test: correlation windows start empty.
			eng, corr, err := loadSigma(rulePaths, *noBuiltin)
			if err != nil {
				return err
			}
			det := &detect.Detector{Rules: eng, Correlations: corr}
			got, err := runFixture(det, tc)
			if err != nil {
				return fmt.Errorf("%s: test %q: %w", fx, tc.Name, err)
			}
			if diff := compareAlerts(got, tc.Expect); diff != "" {
				failed++
				fmt.Fprintf(e.stdout, "FAIL %s / %s\n%s", filepath.Base(fx), tc.Name, diff)
				continue
			}
			passed++
		}
	}
	fmt.Fprintf(e.stdout, "%d passed, %d failed\n", passed, failed)
	if failed > 0 {
		return &exitError{code: exitFail}
	}
	return nil
}

func runFixture(det *detect.Detector, tc ruleTest) ([]*detect.Alert, error) {
	var evs []event.Event
	if tc.Source != "" {
		p, ok := sources.Parser(tc.Source)
		if !ok {
			return nil, fmt.Errorf("unknown source %q", tc.Source)
		}
		st, err := p.Parse(strings.NewReader(tc.Events), "events", func(ev event.Event) error {
			evs = append(evs, ev)
			return nil
		})
		if err != nil {
			return nil, err
		}
		if st.Rejected > 0 {
			return nil, fmt.Errorf("events: %s", st.Rejects[0])
		}
	} else {
		var err error
		if evs, err = event.ParseBatch(strings.NewReader(tc.Events), time.Now()); err != nil {
			return nil, fmt.Errorf("events: %w", err)
		}
	}
	if len(evs) == 0 {
		return nil, errors.New("no events")
	}
	var out []*detect.Alert
	for i := range evs {
		if err := evs[i].Normalize(evs[i].Time); err != nil {
			return nil, fmt.Errorf("event %d: %w", i+1, err)
		}
		evs[i].Seq = uint64(i)
		out = append(out, det.Evaluate(&evs[i])...)
	}
	return out, nil
}

// compareAlerts says how the alerts raised differ from those expected, or "".
func compareAlerts(got []*detect.Alert, want []expectedAl) string {
	var b strings.Builder
	used := make([]bool, len(got))
	for _, w := range want {
		found := false
		for i, g := range got {
			if !used[i] && g.RuleID == w.Rule && (w.Group == "" || w.Group == g.Group) {
				used[i], found = true, true
				break
			}
		}
		if !found {
			fmt.Fprintf(&b, "    missing: %s (group %q)\n", w.Rule, w.Group)
		}
	}
	var extra []string
	for i, g := range got {
		if !used[i] {
			extra = append(extra, fmt.Sprintf("%s (group %q)", g.RuleID, g.Group))
		}
	}
	sort.Strings(extra)
	for _, x := range extra {
		fmt.Fprintf(&b, "    unexpected: %s\n", x)
	}
	return b.String()
}
