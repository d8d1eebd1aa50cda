package policy

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"github.com/vigil-audit/vigil/internal/suggest"
	"io"
	"io/fs"
	"path"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"

	"cel.dev/cel-go/cel"
	celast "cel.dev/cel-go/common/ast"
	"go.yaml.in/yaml/v3"

	"github.com/vigil-audit/vigil/internal/classify"
	"github.com/vigil-audit/vigil/internal/yamlnode"
)

// Error is one problem in a rule file. Its text is "file:line: message".
type Error struct {
	File string // path of the file in the fs.FS given to Load
	Line int    // 1-based; 0 if unknown
	Msg  string
	Err  error // underlying cause, if any
}

// Error returns "file:line: message".
func (e *Error) Error() string {
	switch {
	case e.File != "" && e.Line > 0:
		return e.File + ":" + strconv.Itoa(e.Line) + ": " + e.Msg
	case e.File != "":
		return e.File + ": " + e.Msg
	}
	return e.Msg
}

// Unwrap returns the underlying cause, if any.
func (e *Error) Unwrap() error { return e.Err }

// Rule is one compiled rule. Its exported fields are what the file said
// (with defaults filled in), for listings and generated documentation.
type Rule struct {
	ID           string
	Description  string
	Match        string // CEL source
	Except       string // CEL source: the except expression, or the one built from tuples
	Environments []string
	Connections  []string
	Roles        []string
	Effect       string
	Severity     string
	Message      string
	Mode         string
	Tests        []*Test
	File         string
	Line         int // line of the rule's first key

	// Kinds are the action kinds the rule applies to: those whose
	// classifier variables its match refers to; nil means every kind.
	Kinds []string

	match  cel.Program
	except cel.Program // nil when there is no except
}

// Test is one inline test of a rule.
type Test struct {
	Rule  string // id of the rule it belongs to; "" in a fixture file
	Name  string
	Input classify.Action
	// Attrs, when not nil, are the classifier attributes for Input's kind:
	// the test runs DecideAttrs with them instead of the registered classifier.
	Attrs  map[string]any
	Expect Expect
	File   string
	Line   int
}

// Expect is what an inline test expects.
type Expect struct {
	Effect string // allow, deny or review
	Rule   string // when set, a rule id that must be among the matched rules
}

// RuleSet is a set of compiled rules with unique ids, in load order, and the
// tests of its fixture files.
type RuleSet struct {
	rules []*Rule
	tests []*Test           // from fixture files: tests of no one rule
	where map[string]string // id -> "file:line", for duplicate errors
}

// Rules returns the rules in load order.
func (rs *RuleSet) Rules() []*Rule { return rs.rules }

// Merge combines rule sets (say, the built-in packs and a rules directory)
// into one, in order. Rule ids must stay unique.
func Merge(sets ...*RuleSet) (*RuleSet, error) {
	out := &RuleSet{where: map[string]string{}}
	var errs []error
	for _, s := range sets {
		if s == nil {
			continue
		}
		for _, r := range s.rules {
			if first, dup := out.where[r.ID]; dup {
				errs = append(errs, &Error{File: r.File, Line: r.Line, Msg: fmt.Sprintf("duplicate rule id %q (first at %s)", r.ID, first)})
				continue
			}
			out.where[r.ID] = r.File + ":" + strconv.Itoa(r.Line)
			out.rules = append(out.rules, r)
		}
		out.tests = append(out.tests, s.tests...)
	}
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	return out, nil
}

// Load reads rule files from fsys. Each path is a file, or a directory whose
// *.yaml and *.yml files are read recursively in lexical order. Every problem
// found is reported, each as an *Error naming file and line, joined with
// errors.Join.
func Load(fsys fs.FS, paths ...string) (*RuleSet, error) {
	env, err := celEnv()
	if err != nil {
		return nil, fmt.Errorf("policy: build CEL environment: %w", err)
	}
	l := &loader{env: env, rs: &RuleSet{where: map[string]string{}}}
	seen := map[string]bool{}
	for _, p := range paths {
		files, err := ruleFiles(fsys, p)
		if err != nil {
			l.errs = append(l.errs, &Error{File: p, Msg: err.Error(), Err: err})
			continue
		}
		for _, f := range files {
			if seen[f] {
				continue
			}
			seen[f] = true
			data, err := fs.ReadFile(fsys, f)
			if err != nil {
				l.errs = append(l.errs, &Error{File: f, Msg: err.Error(), Err: err})
				continue
			}
			l.file(f, data)
		}
	}
	if err := errors.Join(l.errs...); err != nil {
		return nil, err
	}
	return l.rs, nil
}

// ruleFiles lists the rule files at p.
func ruleFiles(fsys fs.FS, p string) ([]string, error) {
	p = path.Clean(p)
	info, err := fs.Stat(fsys, p)
	if err != nil {
		return nil, err
	}
	if !info.IsDir() {
		return []string{p}, nil
	}
	var files []string
	err = fs.WalkDir(fsys, p, func(f string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if !d.IsDir() && (strings.HasSuffix(f, ".yaml") || strings.HasSuffix(f, ".yml")) {
			files = append(files, f)
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	sort.Strings(files)
	return files, nil
}

type loader struct {
	env  *cel.Env
	rs   *RuleSet
	name string // current file
	errs []error
}

func (l *loader) fail(line int, format string, args ...any) {
	l.errs = append(l.errs, &Error{File: l.name, Line: line, Msg: fmt.Sprintf(format, args...)})
}

// file parses one rule file.
func (l *loader) file(name string, data []byte) {
	l.name = name
	dec := yaml.NewDecoder(bytes.NewReader(data))
	var doc yaml.Node
	if err := dec.Decode(&doc); err != nil {
		if !errors.Is(err, io.EOF) {
			l.errs = append(l.errs, syntaxError(name, err))
		}
		return
	}
	var extra yaml.Node
	if err := dec.Decode(&extra); err == nil {
		l.fail(extra.Line, `a second YAML document starts here; a rule file is one document with a "rules" list (and, or instead, a "tests" list)`)
		return
	} else if !errors.Is(err, io.EOF) {
		l.errs = append(l.errs, syntaxError(name, err))
		return
	}
	if len(doc.Content) == 0 {
		return
	}
	top := l.fields(doc.Content[0], "at top level", "rules", "tests")
	if top == nil {
		return
	}
	rules, hasRules := top["rules"]
	tests, hasTests := top["tests"]
	if !hasRules && !hasTests {
		l.fail(doc.Content[0].Line, `missing key "rules" (or "tests", for a fixture file)`)
		return
	}
	if hasRules && l.kind(rules.val, yaml.SequenceNode, "rules", "a list") {
		for _, n := range rules.val.Content {
			l.rule(n)
		}
	}
	// A fixture file's tests belong to no one rule: the whole engine
	// decides each, and expect.rule names any rule loaded with it.
	if hasTests {
		l.rs.tests = append(l.rs.tests, l.tests("", tests, "fixtures")...)
	}
}

var ruleKeys = []string{"id", "description", "match", "environments", "connections", "roles", "effect", "severity", "message", "except", "mode", "tests"}

var idPattern = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9_.:/-]*$`)

// rule parses and compiles one rule.
func (l *loader) rule(n *yaml.Node) {
	n = resolveAlias(n)
	nerrs := len(l.errs)
	where := "in rule"
	if n.Kind == yaml.MappingNode {
		for i := 0; i+1 < len(n.Content); i += 2 {
			if k, v := n.Content[i], resolveAlias(n.Content[i+1]); k.Value == "id" && v.Kind == yaml.ScalarNode && v.Value != "" {
				where = fmt.Sprintf("in rule %q", v.Value)
				break
			}
		}
	}
	f := l.fields(n, where, ruleKeys...)
	if f == nil {
		return
	}
	r := &Rule{File: l.name, Line: n.Line, Mode: ModeEnforce, Severity: SeverityMedium}
	idf, ok := f["id"]
	if !ok {
		l.fail(n.Line, `rule has no "id"`)
		return
	}
	r.ID, _ = l.str(idf)
	if r.ID == "" {
		return
	}
	if !idPattern.MatchString(r.ID) {
		l.fail(idf.line, "rule id %q: use letters, digits and _ . : / - (no spaces)", r.ID)
	}
	if first, dup := l.rs.where[r.ID]; dup {
		l.fail(idf.line, "duplicate rule id %q (first at %s)", r.ID, first)
	} else {
		l.rs.where[r.ID] = l.name + ":" + strconv.Itoa(idf.line)
	}
	r.Line = idf.line
	in := fmt.Sprintf("rule %q", r.ID)

	if d, ok := f["description"]; ok {
		r.Description, _ = l.str(d)
	}
	if m, ok := f["message"]; ok {
		r.Message, _ = l.str(m)
	}
	if r.Message == "" {
		r.Message = r.Description
	}
	if r.Message == "" {
		r.Message = r.ID
	}
	if e, ok := f["effect"]; !ok {
		l.fail(n.Line, "%s: missing key \"effect\" (allow, deny, review, alert or log)", in)
	} else if r.Effect, ok = l.str(e); ok && !isEffect(r.Effect) {
		l.fail(e.line, "%s: effect %q is not one of allow, deny, review, alert, log", in, r.Effect)
	}
	if s, ok := f["severity"]; ok {
		if r.Severity, ok = l.str(s); ok && !isSeverity(r.Severity) {
			l.fail(s.line, "%s: severity %q is not one of info, low, medium, high, critical", in, r.Severity)
		}
	}
	if m, ok := f["mode"]; ok {
		if r.Mode, ok = l.str(m); ok && r.Mode != ModeEnforce && r.Mode != ModeDryRun {
			l.fail(m.line, "%s: mode %q is not one of enforce, dry-run", in, r.Mode)
		}
	}
	if s, ok := f["environments"]; ok {
		r.Environments = l.strs(s, in)
	}
	if s, ok := f["connections"]; ok {
		r.Connections = l.strs(s, in)
	}
	if s, ok := f["roles"]; ok {
		r.Roles = l.strs(s, in)
	}

	if m, ok := f["match"]; !ok {
		l.fail(n.Line, "%s: missing key \"match\" (a CEL expression; use \"true\" to match every action)", in)
	} else if src, ok := l.str(m); ok {
		r.Match = src
		if ast := l.compile(src, m.line, in+": match"); ast != nil {
			r.Kinds = referencedKinds(ast)
			r.match = l.program(ast, m.line, in+": match")
		}
	}
	if e, ok := f["except"]; ok {
		l.except(r, e, in)
	}
	if t, ok := f["tests"]; ok {
		r.Tests = l.tests(r.ID, t, in)
	}
	if len(l.errs) == nerrs {
		l.rs.rules = append(l.rs.rules, r)
	}
}

// except compiles the except key: a CEL expression, or a list of
// {field, values} tuples, any one of which excepts the action.
func (l *loader) except(r *Rule, e field, in string) {
	v := resolveAlias(e.val)
	switch v.Kind {
	case yaml.ScalarNode:
		if src, ok := l.str(e); ok {
			r.Except = src
			if ast := l.compile(src, e.line, in+": except"); ast != nil {
				r.except = l.program(ast, e.line, in+": except")
			}
		}
		return
	case yaml.SequenceNode:
	default:
		l.fail(e.line, "%s: except must be a CEL expression or a list of {field, values}, found %s", in, describe(v))
		return
	}
	var parts []string
	ok := true
	for _, item := range v.Content {
		tf := l.fields(item, "in except of "+in, "field", "values")
		if tf == nil {
			ok = false
			continue
		}
		fld, hasField := tf["field"]
		vals, hasValues := tf["values"]
		if !hasField || !hasValues {
			l.fail(item.Line, "%s: an except tuple needs both \"field\" and \"values\"", in)
			ok = false
			continue
		}
		name, _ := l.str(fld)
		src, good := l.tuple(name, fld.line, vals, in)
		if !good {
			ok = false
			continue
		}
		parts = append(parts, src)
	}
	if !ok || len(parts) == 0 {
		if ok {
			l.fail(e.line, "%s: except list is empty", in)
		}
		return
	}
	r.Except = strings.Join(parts, " || ")
	if ast := l.compile(r.Except, e.line, in+": except"); ast != nil {
		r.except = l.program(ast, e.line, in+": except")
	}
}

var fieldPattern = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)*$`)

// tuple turns {field, values} into CEL: the field's value is one of values
// or, for a list, holds one of them.
func (l *loader) tuple(name string, line int, vals field, in string) (string, bool) {
	if !fieldPattern.MatchString(name) {
		l.fail(line, "%s: except field %q is not a dotted field path such as actor.user", in, name)
		return "", false
	}
	v := resolveAlias(vals.val)
	if v.Kind != yaml.SequenceNode || len(v.Content) == 0 {
		l.fail(vals.line, "%s: except values must be a non-empty list, found %s", in, describe(v))
		return "", false
	}
	lits := make([]string, 0, len(v.Content))
	for _, item := range v.Content {
		item = resolveAlias(item)
		if item.Kind != yaml.ScalarNode || isNull(item) {
			l.fail(item.Line, "%s: except values must be scalars, found %s", in, describe(item))
			return "", false
		}
		switch item.ShortTag() {
		case "!!int", "!!bool":
			lits = append(lits, item.Value)
		default:
			lits = append(lits, strconv.Quote(item.Value))
		}
	}
	list := "[" + strings.Join(lits, ", ") + "]"
	ast, iss := l.env.Compile(name)
	if iss.Err() != nil {
		l.fail(line, "%s: except field %q: %s", in, name, celIssues(iss))
		return "", false
	}
	switch ast.OutputType().Kind() {
	case cel.ListType(cel.DynType).Kind():
		return fmt.Sprintf("%s.exists(x, x in %s)", name, list), true
	case cel.DynType.Kind():
		return fmt.Sprintf("(%[1]s in %[2]s || (type(%[1]s) == list && %[1]s.exists(x, x in %[2]s)))", name, list), true
	}
	return fmt.Sprintf("%s in %s", name, list), true
}

// compile parses and type-checks a boolean CEL expression.
func (l *loader) compile(src string, line int, what string) *cel.Ast {
	if strings.TrimSpace(src) == "" {
		l.fail(line, "%s: empty expression", what)
		return nil
	}
	ast, iss := l.env.Compile(src)
	if iss.Err() != nil {
		l.fail(line, "%s: %s", what, celIssues(iss))
		return nil
	}
	if t := ast.OutputType(); !t.IsExactType(cel.BoolType) {
		hint := ""
		if t.IsExactType(cel.DynType) {
			hint = " (the attribute maps are dyn: compare explicitly, e.g. sql.flag == true)"
		}
		l.fail(line, "%s: expression is %s, not bool%s", what, t, hint)
		return nil
	}
	return ast
}

func (l *loader) program(ast *cel.Ast, line int, what string) cel.Program {
	prg, err := l.env.Program(ast, cel.EvalOptions(cel.OptOptimize))
	if err != nil {
		l.fail(line, "%s: %v", what, err)
		return nil
	}
	return prg
}

// celIssues formats CEL errors on one line: "message (at line:column)".
func celIssues(iss *cel.Issues) string {
	var parts []string
	for _, e := range iss.Errors() {
		msg := e.Message
		if loc := e.Location; loc != nil && loc.Line() > 0 {
			msg += fmt.Sprintf(" (at %d:%d)", loc.Line(), loc.Column()+1)
		}
		parts = append(parts, msg)
	}
	return strings.Join(parts, "; ")
}

// referencedKinds returns the kinds whose classifier variables a checked
// expression refers to, or nil if none. Comprehension variables that shadow
// a classifier variable ([1].exists(sql, sql > 0)) are not references.
func referencedKinds(a *cel.Ast) []string {
	set := map[string]bool{}
	var walk func(e celast.Expr, shadow map[string]bool)
	walk = func(e celast.Expr, shadow map[string]bool) {
		switch e.Kind() {
		case celast.IdentKind:
			if name := e.AsIdent(); !shadow[name] {
				if k, ok := varKinds[name]; ok {
					set[k] = true
				}
			}
		case celast.SelectKind:
			walk(e.AsSelect().Operand(), shadow)
		case celast.CallKind:
			c := e.AsCall()
			if c.IsMemberFunction() {
				walk(c.Target(), shadow)
			}
			for _, arg := range c.Args() {
				walk(arg, shadow)
			}
		case celast.ListKind:
			for _, el := range e.AsList().Elements() {
				walk(el, shadow)
			}
		case celast.MapKind:
			for _, en := range e.AsMap().Entries() {
				walk(en.AsMapEntry().Key(), shadow)
				walk(en.AsMapEntry().Value(), shadow)
			}
		case celast.StructKind:
			for _, f := range e.AsStruct().Fields() {
				walk(f.AsStructField().Value(), shadow)
			}
		case celast.ComprehensionKind:
			c := e.AsComprehension()
			walk(c.IterRange(), shadow)
			walk(c.AccuInit(), shadow)
			inner := make(map[string]bool, len(shadow)+3)
			for k := range shadow {
				inner[k] = true
			}
			inner[c.IterVar()] = true
			inner[c.AccuVar()] = true
			if c.HasIterVar2() {
				inner[c.IterVar2()] = true
			}
			walk(c.LoopCondition(), inner)
			walk(c.LoopStep(), inner)
			walk(c.Result(), inner)
		}
	}
	walk(a.NativeRep().Expr(), nil)
	if len(set) == 0 {
		return nil
	}
	return sortedKeys(set)
}

var testKeys = []string{"name", "input", "attrs", "expect"}

// tests parses a list of tests: a rule's inline ones (ruleID its id), or a
// fixture file's (ruleID "").
func (l *loader) tests(ruleID string, t field, in string) []*Test {
	if !l.kind(t.val, yaml.SequenceNode, in+": tests", "a list") {
		return nil
	}
	var out []*Test
	for i, n := range resolveAlias(t.val).Content {
		tf := l.fields(n, "in test of "+in, testKeys...)
		if tf == nil {
			continue
		}
		tc := &Test{Rule: ruleID, File: l.name, Line: resolveAlias(n).Line, Name: "#" + strconv.Itoa(i+1)}
		if nf, ok := tf["name"]; ok {
			if s, _ := l.str(nf); s != "" {
				tc.Name = s
			}
		}
		tin := fmt.Sprintf("%s: test %q", in, tc.Name)
		ok := true
		if inp, has := tf["input"]; !has {
			l.fail(tc.Line, "%s: missing key \"input\" (an Action)", tin)
			ok = false
		} else if err := decodeAction(inp.val, &tc.Input); err != nil {
			l.fail(inp.line, "%s: input: %v", tin, err)
			ok = false
		}
		if a, has := tf["attrs"]; has {
			if !l.kind(a.val, yaml.MappingNode, tin+": attrs", "a mapping") {
				ok = false
			} else if err := resolveAlias(a.val).Decode(&tc.Attrs); err != nil {
				l.fail(a.line, "%s: attrs: %v", tin, err)
				ok = false
			} else if tc.Attrs == nil {
				tc.Attrs = map[string]any{}
			}
		}
		if e, has := tf["expect"]; !has {
			l.fail(tc.Line, "%s: missing key \"expect\"", tin)
			ok = false
		} else if ef := l.fields(e.val, "in expect of "+tin, "effect", "rule"); ef == nil {
			ok = false
		} else {
			if eff, has := ef["effect"]; !has {
				l.fail(e.line, "%s: expect: missing key \"effect\"", tin)
				ok = false
			} else if tc.Expect.Effect, _ = l.str(eff); !isDecisionEffect(tc.Expect.Effect) {
				l.fail(eff.line, "%s: expect: effect %q is not one of allow, deny, review", tin, tc.Expect.Effect)
				ok = false
			}
			if rf, has := ef["rule"]; has {
				tc.Expect.Rule, _ = l.str(rf)
			}
		}
		if ok {
			out = append(out, tc)
		}
	}
	return out
}

// decodeAction decodes a YAML node as Action JSON, strictly.
func decodeAction(n *yaml.Node, a *classify.Action) error {
	var v any
	if err := resolveAlias(n).Decode(&v); err != nil {
		return err
	}
	if _, ok := v.(map[string]any); !ok {
		return fmt.Errorf("expected a mapping (an Action), found %s", describe(n))
	}
	data, err := json.Marshal(v)
	if err != nil {
		return err
	}
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	if err := dec.Decode(a); err != nil {
		return fmt.Errorf("not an Action: %s", strings.TrimPrefix(err.Error(), "json: "))
	}
	return nil
}

// field is a key of a mapping and its value.
type field struct {
	key  string
	line int
	val  *yaml.Node
}

// fields returns the keys of mapping n, reporting unknown and duplicate keys.
// It returns nil when n is not a mapping.
func (l *loader) fields(n *yaml.Node, where string, known ...string) map[string]field {
	n = resolveAlias(n)
	if n.Kind != yaml.MappingNode {
		l.fail(n.Line, "expected a mapping (key: value) %s, found %s", where, describe(n))
		return nil
	}
	out := make(map[string]field, len(n.Content)/2)
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, v := resolveAlias(n.Content[i]), n.Content[i+1]
		if k.ShortTag() == "!!merge" {
			l.fail(k.Line, "merge keys (<<) are not supported %s", where)
			continue
		}
		if k.Kind != yaml.ScalarNode || isNull(k) {
			l.fail(k.Line, "keys must be plain names, found %s %s", describe(k), where)
			continue
		}
		if first, dup := out[k.Value]; dup {
			l.fail(k.Line, "duplicate key %q %s (first at line %d)", k.Value, where, first.line)
			continue
		}
		if !slices.Contains(known, k.Value) {
			msg := fmt.Sprintf("unknown key %q %s", k.Value, where)
			if s := suggest.Closest(k.Value, known); s != "" {
				msg += fmt.Sprintf(" (did you mean %q?)", s)
			}
			l.fail(k.Line, "%s", msg)
			continue
		}
		out[k.Value] = field{key: k.Value, line: k.Line, val: v}
	}
	return out
}

// str returns a scalar value as a string.
func (l *loader) str(f field) (string, bool) {
	v := resolveAlias(f.val)
	if v.Kind != yaml.ScalarNode || isNull(v) {
		l.fail(f.line, "%s: expected a string, found %s", f.key, describe(v))
		return "", false
	}
	return v.Value, true
}

// strs returns a list of strings.
func (l *loader) strs(f field, in string) []string {
	v := resolveAlias(f.val)
	if v.Kind != yaml.SequenceNode {
		l.fail(f.line, "%s: %s: expected a list, found %s", in, f.key, describe(v))
		return nil
	}
	out := make([]string, 0, len(v.Content))
	for _, item := range v.Content {
		item = resolveAlias(item)
		if item.Kind != yaml.ScalarNode || isNull(item) || item.Value == "" {
			l.fail(item.Line, "%s: %s: expected a non-empty string, found %s", in, f.key, describe(item))
			continue
		}
		out = append(out, item.Value)
	}
	return out
}

func (l *loader) kind(n *yaml.Node, k yaml.Kind, what, want string) bool {
	n = resolveAlias(n)
	if n.Kind != k {
		l.fail(n.Line, "%s: expected %s, found %s", what, want, describe(n))
		return false
	}
	return true
}

func resolveAlias(n *yaml.Node) *yaml.Node {
	for n.Kind == yaml.AliasNode && n.Alias != nil {
		n = n.Alias
	}
	return n
}

func isNull(n *yaml.Node) bool {
	return n.Kind == yaml.ScalarNode && n.ShortTag() == "!!null"
}

// describe names a node for "expected X, found Y" messages.
func describe(n *yaml.Node) string {
	n = resolveAlias(n)
	switch {
	case n.Kind == yaml.MappingNode:
		return "a mapping"
	case n.Kind == yaml.SequenceNode && len(n.Content) == 0:
		return "an empty list"
	case n.Kind == yaml.SequenceNode:
		return "a list"
	case isNull(n):
		return "an empty value"
	case n.Kind == yaml.ScalarNode:
		return strconv.Quote(n.Value)
	}
	return "an empty value"
}

// syntaxError turns a YAML parser error ("yaml: line 3: did not find
// expected key") into an *Error naming the file and line.
func syntaxError(file string, err error) *Error {
	line, msg := yamlnode.SyntaxError(err)
	return &Error{File: file, Line: line, Msg: "invalid YAML: " + msg, Err: err}
}
