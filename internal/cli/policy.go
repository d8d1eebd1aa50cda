package cli

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	"github.com/vigil-audit/vigil/internal/classify"
	"github.com/vigil-audit/vigil/internal/config"
	"github.com/vigil-audit/vigil/internal/policy"
	"github.com/vigil-audit/vigil/internal/policy/builtin"
)

// ruleFlags choose the rules a policy command decides with.
type ruleFlags struct {
	rules     multiFlag
	noBuiltin bool
}

type multiFlag []string

func (m *multiFlag) String() string     { return strings.Join(*m, ",") }
func (m *multiFlag) Set(v string) error { *m = append(*m, v); return nil }

func (r *ruleFlags) register(fs *flag.FlagSet) {
	fs.Var(&r.rules, "rules", "a rule file or directory (repeatable)")
	fs.BoolVar(&r.noBuiltin, "no-builtin", false, "leave out the built-in rule packs")
}

// load compiles the built-in packs and the named rule files.
func (r *ruleFlags) load(extra ...string) (*policy.RuleSet, error) {
	var sets []*policy.RuleSet
	if !r.noBuiltin {
		b, err := builtin.Load()
		if err != nil {
			return nil, err
		}
		sets = append(sets, b)
	}
	// Paths below the working directory load as written, so that errors name
	// them as the user did; others load from the root.
	var local, rooted []string
	for _, p := range append(append([]string(nil), r.rules...), extra...) {
		if c := filepath.Clean(p); filepath.IsLocal(c) {
			local = append(local, filepath.ToSlash(c))
		} else {
			abs, err := filepath.Abs(p)
			if err != nil {
				return nil, fmt.Errorf("rules %s: %w", p, err)
			}
			rooted = append(rooted, strings.TrimPrefix(filepath.ToSlash(abs), "/"))
		}
	}
	for _, group := range []struct {
		fsys  fs.FS
		paths []string
	}{{os.DirFS("."), local}, {os.DirFS("/"), rooted}} {
		if len(group.paths) == 0 {
			continue
		}
		rs, err := policy.Load(group.fsys, group.paths...)
		if err != nil {
			return nil, err
		}
		sets = append(sets, rs)
	}
	return policy.Merge(sets...)
}

func (r *ruleFlags) engine(defaults policy.Defaults, extra ...string) (*policy.Engine, *policy.RuleSet, error) {
	rs, err := r.load(extra...)
	if err != nil {
		return nil, nil, err
	}
	e := policy.NewEngine(rs, defaults)
	policy.RegisterClassifiers(e)
	return e, rs, nil
}

// policyDefaults are what vigil.yaml says about actions no rule decides,
// and where its named connections lead.
func policyDefaults(cfg *config.Config) policy.Defaults {
	d := policy.Defaults{
		Environment:           cfg.Policy.Defaults.Environment,
		Fallback:              cfg.Policy.Defaults.Fallback,
		Connection:            map[string]string{},
		ConnectionEnvironment: map[string]string{},
	}
	for _, c := range cfg.Connections {
		if c.Default != "" {
			d.Connection[c.Name] = c.Default
		}
		if c.Environment != "" { // none configured: the action's own applies
			d.ConnectionEnvironment[c.Name] = c.Environment
		}
	}
	return d
}

// configDefaults is policyDefaults of the vigil.yaml at path ("" for none:
// no defaults, no named connections).
func configDefaults(path string) (policy.Defaults, error) {
	if path == "" {
		return policy.Defaults{}, nil
	}
	cfg, err := config.Load(path)
	if err != nil {
		return policy.Defaults{}, err
	}
	return policyDefaults(cfg), nil
}

func runPolicy(ctx context.Context, e *env, args []string) error {
	return subcommand(ctx, e, "policy", args, map[string]func(context.Context, *env, []string) error{
		"eval": runPolicyEval,
		"test": runPolicyTest,
	})
}

// runPolicyEval reads Action JSON lines and writes one Decision JSON line each.
// A line that is not a valid Action gets a deny decision naming the problem
// (failing closed), and the command then exits 2.
func runPolicyEval(ctx context.Context, e *env, args []string) error {
	fs := newFlags(e, "policy eval", "policy eval [--config FILE] [--rules PATH]... [--no-builtin] < actions.jsonl")
	var rf ruleFlags
	rf.register(fs)
	cfgPath := fs.String("config", "", "vigil.yaml whose connections (their environments and defaults) and policy.defaults apply")
	if err := parse(fs, args); err != nil {
		return err
	}
	defaults, err := configDefaults(*cfgPath)
	if err != nil {
		return err
	}
	eng, _, err := rf.engine(defaults)
	if err != nil {
		return err
	}
	sc := bufio.NewScanner(e.stdin)
	sc.Buffer(make([]byte, 0, 64<<10), 16<<20)
	out := json.NewEncoder(e.stdout)
	out.SetEscapeHTML(false)
	bad := 0
	for line := 1; sc.Scan(); line++ {
		b := bytes.TrimSpace(sc.Bytes())
		if len(b) == 0 {
			continue
		}
		var a classify.Action
		dec := json.NewDecoder(bytes.NewReader(b))
		dec.DisallowUnknownFields()
		var d *policy.Decision
		if err := dec.Decode(&a); err != nil {
			bad++
			d = &policy.Decision{Effect: policy.EffectDeny, Rules: []policy.RuleResult{},
				Message: fmt.Sprintf("line %d: not a valid action: %v", line, strings.TrimPrefix(err.Error(), "json: "))}
		} else if d, err = eng.Decide(ctx, &a); err != nil {
			bad++
		}
		if err := out.Encode(d); err != nil {
			return err
		}
	}
	if err := sc.Err(); err != nil {
		return fmt.Errorf("read actions: %w", err)
	}
	if bad > 0 {
		fmt.Fprintf(e.stderr, "vigil: %d input line(s) could not be decided; they were denied\n", bad)
		return &exitError{code: exitUsage}
	}
	return nil
}

// runPolicyTest runs the inline tests of the built-in packs and of PATHS.
func runPolicyTest(ctx context.Context, e *env, args []string) error {
	fs := newFlags(e, "policy test", "policy test [--no-builtin] [PATH]...")
	var rf ruleFlags
	rf.register(fs)
	if err := fs.Parse(args); err != nil {
		return &exitError{code: exitUsage}
	}
	eng, rs, err := rf.engine(policy.Defaults{}, fs.Args()...)
	if err != nil {
		return err
	}
	passed, failed := 0, 0
	for _, r := range rs.RunTests(eng) {
		if r.Pass {
			passed++
			continue
		}
		failed++
		fmt.Fprintln(e.stdout, r.String())
	}
	fmt.Fprintf(e.stdout, "%d passed, %d failed\n", passed, failed)
	if failed > 0 {
		return &exitError{code: exitFail}
	}
	return nil
}

// runCheck decides one action for a CI pipeline: exit 0 allow, 1 deny or
// review, 2 error.
func runCheck(ctx context.Context, e *env, args []string) error {
	return subcommand(ctx, e, "check", args, map[string]func(context.Context, *env, []string) error{
		"sql":    checkKind(classify.KindSQL),
		"shell":  checkKind(classify.KindShell),
		"tfplan": checkKind(classify.KindTerraform),
	})
}

// checkKind returns the `vigil check` subcommand for one kind of text action.
func checkKind(kind string) func(context.Context, *env, []string) error {
	return func(ctx context.Context, e *env, args []string) error { return runCheckText(ctx, e, kind, args) }
}

func runCheckText(ctx context.Context, e *env, kind string, args []string) error {
	what := map[string]string{classify.KindSQL: "SQL", classify.KindShell: "COMMAND", classify.KindTerraform: "PLAN_JSON_FILE"}[kind]
	fs := newFlags(e, "check "+kind, "check "+kind+" [--config FILE] [--env ENV] [--connection NAME] [--user NAME] [--rules PATH]... ("+what+" | -)")
	var rf ruleFlags
	rf.register(fs)
	cfgPath := fs.String("config", "", "vigil.yaml whose connections (their environments and defaults) and policy.defaults apply")
	envName := fs.String("env", "production", "the environment the SQL would run in")
	conn := fs.String("connection", "", "the named connection it would run on")
	user := fs.String("user", os.Getenv("USER"), "who would run it")
	if err := fs.Parse(args); err != nil {
		return &exitError{code: exitUsage}
	}
	if fs.NArg() != 1 {
		return usagef("check %s: want one argument, the %s or - for standard input", kind, strings.ToLower(what))
	}
	text := fs.Arg(0)
	if kind == classify.KindTerraform && text != "-" {
		b, err := os.ReadFile(text)
		if err != nil {
			return fmt.Errorf("read plan: %w", err)
		}
		text = string(b)
	} else if text == "-" {
		b, err := io.ReadAll(e.stdin)
		if err != nil {
			return fmt.Errorf("read %s: %w", strings.ToLower(what), err)
		}
		text = string(b)
	}
	defaults, err := configDefaults(*cfgPath)
	if err != nil {
		return err
	}
	eng, _, err := rf.engine(defaults)
	if err != nil {
		return err
	}
	a := &classify.Action{Kind: kind, Environment: *envName, Connection: *conn, Actor: classify.Actor{User: *user}}
	switch kind {
	case classify.KindSQL:
		a.SQL = text
	case classify.KindTerraform:
		if !json.Valid([]byte(text)) {
			return usagef("check tfplan: the plan is not JSON (use `terraform show -json PLANFILE`)")
		}
		a.TerraformPlan = json.RawMessage(text)
	default:
		a.Command = text
	}
	d, err := eng.Decide(ctx, a)
	if err != nil {
		return err
	}
	fmt.Fprintf(e.stdout, "%s: %s\n", d.Effect, d.Message)
	for _, r := range d.Rules {
		fmt.Fprintf(e.stdout, "  %s %s (%s): %s\n", r.Effect, r.ID, r.Severity, r.Message)
	}
	if d.Effect != policy.EffectAllow {
		return &exitError{code: exitFail}
	}
	return nil
}
