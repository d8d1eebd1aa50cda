package cli

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"github.com/vigil-audit/vigil/internal/detect"
	"github.com/vigil-audit/vigil/internal/detect/builtin"
	"github.com/vigil-audit/vigil/internal/detect/correlate"
	"github.com/vigil-audit/vigil/internal/detect/sigma"
	"github.com/vigil-audit/vigil/internal/event"
	"github.com/vigil-audit/vigil/internal/ingest"
	"github.com/vigil-audit/vigil/internal/ingest/sources"
)

func runRules(ctx context.Context, e *env, args []string) error {
	return subcommand(ctx, e, "rules", args, map[string]func(context.Context, *env, []string) error{
		"lint": runRulesLint,
		"test": runRulesTest,
	})
}

// ruleFiles lists the Sigma rule files (.yml, .yaml) that paths name,
// detection fixtures (*.test.yml) left out.
func ruleFiles(paths []string) ([]string, error) {
	all, err := yamlFiles(paths)
	if err != nil {
		return nil, err
	}
	var out []string
	for _, f := range all {
		if !isRuleTest(f) {
			out = append(out, f)
		}
	}
	return out, nil
}

// yamlFiles lists the YAML files that paths name.
func yamlFiles(paths []string) ([]string, error) {
	var out []string
	for _, p := range paths {
		err := filepath.WalkDir(p, func(path string, d fs.DirEntry, err error) error {
			if err != nil {
				return err
			}
			if !d.IsDir() && (strings.HasSuffix(path, ".yml") || strings.HasSuffix(path, ".yaml")) {
				out = append(out, path)
			}
			return nil
		})
		if err != nil {
			return nil, fmt.Errorf("rules %s: %w", p, err)
		}
	}
	sort.Strings(out)
	return out, nil
}

// runRulesLint reports every construct in the named Sigma rules that the engine
// does not support, and every error; exit 1 if there is any.
func runRulesLint(_ context.Context, e *env, args []string) error {
	fs := newFlags(e, "rules lint", "rules lint PATH...")
	if err := fs.Parse(args); err != nil {
		return &exitError{code: exitUsage}
	}
	if fs.NArg() == 0 {
		return usagef("rules lint: name rule files or directories")
	}
	files, err := ruleFiles(fs.Args())
	if err != nil {
		return err
	}
	bad := 0
	for _, f := range files {
		data, err := os.ReadFile(f)
		if err != nil {
			return err
		}
		for _, is := range sigma.LintFile(data, f) {
			fmt.Fprintln(e.stdout, is)
			if is.Severity != sigma.SevWarning {
				bad++
			}
		}
	}
	fmt.Fprintf(e.stdout, "%d files, %d problems\n", len(files), bad)
	if bad > 0 {
		return &exitError{code: exitFail}
	}
	return nil
}

// loadSigma compiles the built-in detections (unless noBuiltin) and every
// rule, filter and correlation in the named files.
func loadSigma(paths []string, noBuiltin bool, opts ...builtin.Options) (*sigma.Engine, *correlate.Engine, error) {
	return loadSigmaWith(paths, noBuiltin, nil, opts...)
}

// loadSigmaWith is loadSigma with values for %name% placeholders.
func loadSigmaWith(paths []string, noBuiltin bool, placeholders map[string][]string, opts ...builtin.Options) (*sigma.Engine, *correlate.Engine, error) {
	files, err := ruleFiles(paths)
	if err != nil {
		return nil, nil, err
	}
	var corrs []*correlate.Correlation
	var rules []*sigma.Rule
	if !noBuiltin {
		if rules, err = builtin.Rules(); err != nil {
			return nil, nil, err
		}
		if corrs, err = builtin.Correlations(opts...); err != nil {
			return nil, nil, err
		}
	}
	var filters []*sigma.Filter
	for _, f := range files {
		data, err := os.ReadFile(f)
		if err != nil {
			return nil, nil, err
		}
		c, err := sigma.ParseAll(data, f)
		if err != nil {
			return nil, nil, err
		}
		rules = append(rules, c.Rules...)
		filters = append(filters, c.Filters...)
		cs, err := correlate.Parse(data, f)
		if err != nil {
			return nil, nil, err
		}
		corrs = append(corrs, cs...)
	}
	eng, err := sigma.NewEngine(rules, sigma.Options{Filters: filters, Placeholders: placeholders})
	if err != nil {
		return nil, nil, err
	}
	if len(corrs) == 0 {
		return eng, nil, nil
	}
	ce, err := correlate.New(corrs, correlate.Options{})
	if err != nil {
		return nil, nil, err
	}
	return eng, ce, nil
}

// alert is one line of `vigil detect` output.
type alert struct {
	RuleID   string   `json:"rule_id"`
	Title    string   `json:"title"`
	Severity string   `json:"severity"`
	Group    string   `json:"group"`
	EventIDs []string `json:"event_ids"`
	Actions  []string `json:"actions"`
}

// runDetect runs Sigma rules over log files offline and prints one alert JSON
// line per rule and actor (the group), with the events that raised it.
func runDetect(_ context.Context, e *env, args []string) error {
	fs := newFlags(e, "detect", "detect [--rules PATH]... [--no-builtin] --source cloudtrail|k8s-audit|github PATH...")
	var rulePaths multiFlag
	fs.Var(&rulePaths, "rules", "a Sigma rule file or directory (repeatable)")
	noBuiltin := fs.Bool("no-builtin", false, "leave out Vigil's built-in detections")
	source := fs.String("source", "", "the format of the input")
	if err := fs.Parse(args); err != nil {
		return &exitError{code: exitUsage}
	}
	if len(rulePaths) == 0 && *noBuiltin {
		return usagef("detect: no rules: give --rules or leave out --no-builtin")
	}
	var p ingest.Parser
	if *source == "vigil" {
		p = exportParser{}
	} else {
		var ok bool
		if p, ok = sources.Parser(*source); !ok {
			return usagef("detect: --source must be vigil (an audit export) or one of %s (got %q)", strings.Join(sources.Names(), ", "), *source)
		}
	}
	if fs.NArg() == 0 {
		return usagef("detect: name at least one log file or directory")
	}
	eng, corr, err := loadSigma(rulePaths, *noBuiltin)
	if err != nil {
		return err
	}
	det := &detect.Detector{Rules: eng, Correlations: corr}
	type key struct{ rule, group string }
	var order []key
	alerts := map[key]*alert{}
	stats, err := ingest.ParsePaths(p, fs.Args(), func(ev event.Event) error {
		if ev.Seq == 0 && ev.ID == "" {
			if err := ev.Normalize(ev.Time); err != nil {
				return nil // the parser's events validate; a bad one raises nothing
			}
		}
		for _, da := range det.Evaluate(&ev) {
			k := key{da.RuleID, da.Group}
			a := alerts[k]
			if a == nil {
				a = &alert{RuleID: da.RuleID, Title: da.Title, Severity: da.Severity, Group: da.Group}
				alerts[k] = a
				order = append(order, k)
			}
			for _, e := range da.Evidence {
				a.EventIDs = append(a.EventIDs, e.EventID)
				a.Actions = append(a.Actions, e.Action)
			}
		}
		return nil
	})
	if err != nil {
		return err
	}
	enc := json.NewEncoder(e.stdout)
	enc.SetEscapeHTML(false)
	for _, k := range order {
		if err := enc.Encode(alerts[k]); err != nil {
			return err
		}
	}
	fmt.Fprintf(e.stderr, "detect: %d records (%d rejected), %d rules, %d alerts\n",
		stats.Accepted+stats.Rejected, stats.Rejected, len(eng.Rules()), len(order))
	return nil
}

// exportParser reads `vigil audit export` output: one stored event per line.
type exportParser struct{}

func (exportParser) Source() string { return "vigil" }

func (exportParser) Parse(r io.Reader, name string, emit func(event.Event) error) (ingest.Stats, error) {
	var st ingest.Stats
	sc := bufio.NewScanner(r)
	sc.Buffer(nil, event.MaxEncodedSize+1024)
	for line := 1; sc.Scan(); line++ {
		if len(bytes.TrimSpace(sc.Bytes())) == 0 {
			continue
		}
		ev, err := event.Decode(sc.Bytes())
		if err != nil || ev.ID == "" {
			st.Rejected++
			if len(st.Rejects) < ingest.MaxRejects {
				st.Rejects = append(st.Rejects, ingest.Reject{Position: fmt.Sprintf("%s:%d", name, line), Line: line, Reason: "not an exported Vigil event (payload dropped by retention?)"})
			}
			continue
		}
		st.Accepted++
		if err := emit(*ev); err != nil {
			return st, err
		}
	}
	return st, sc.Err()
}
