package sigma

import (
	"cmp"
	"errors"
	"fmt"
	"strings"
	"sync"

	"github.com/vigil-audit/vigil/internal/event"
)

// Options configure compilation.
type Options struct {
	// Placeholders give the values of %name% placeholders for the expand
	// modifier. A rule using a placeholder without values does not compile.
	Placeholders map[string][]string
	// Filters are Sigma filters; each is added as "and not (filter)" to the
	// rules it names (by id, name or title) that share its logsource.
	Filters []*Filter

	lint bool
}

// Engine holds compiled rules and matches events against all of them. Add
// rules before matching; Match may then be called concurrently.
type Engine struct {
	opts     Options
	fields   map[string]*fieldPath
	paths    []*fieldPath
	rules    []*compiled
	bySource map[string][]*compiled
	vigil    []*compiled // product: vigil
	pool     sync.Pool
}

type compiled struct {
	rule    *Rule
	m       matcher
	source  string
	service string // for product vigil
}

// NewEngine compiles rules. Every rule that does not compile is reported in
// the returned error (joined), and the others are kept.
func NewEngine(rules []*Rule, opts Options) (*Engine, error) {
	e := &Engine{opts: opts, fields: map[string]*fieldPath{}, bySource: map[string][]*compiled{}}
	e.pool.New = func() any { return new(Doc) }
	var errs []error
	for _, r := range rules {
		if err := e.Add(r); err != nil {
			errs = append(errs, err)
		}
	}
	return e, errors.Join(errs...)
}

// Rules returns the rules the engine holds.
func (e *Engine) Rules() []*Rule {
	out := make([]*Rule, len(e.rules))
	for i, c := range e.rules {
		out[i] = c.rule
	}
	return out
}

func (e *Engine) intern(name string) *fieldPath {
	if f, ok := e.fields[name]; ok {
		return f
	}
	f := &fieldPath{name: name, id: len(e.paths)}
	e.fields[name] = f
	e.paths = append(e.paths, f)
	return f
}

// Add compiles one rule into the engine. Its error names the rule's file and
// line and lists every problem.
func (e *Engine) Add(r *Rule) error {
	c, issues := e.compile(r, &e.opts)
	var errs []error
	for _, is := range issues {
		if is.Severity != SevWarning {
			errs = append(errs, &Error{File: is.File, Line: is.Line, Msg: string(is.Severity), Err: errors.New(is.Msg)})
		}
	}
	if len(errs) > 0 {
		return fmt.Errorf("rule %q: %w", ruleName(r), errors.Join(errs...))
	}
	e.rules = append(e.rules, c)
	if c.source == vigilSource {
		e.vigil = append(e.vigil, c)
	} else {
		e.bySource[c.source] = append(e.bySource[c.source], c)
	}
	return nil
}

func ruleName(r *Rule) string {
	if r.ID != "" {
		return r.ID
	}
	return r.Title
}

func (e *Engine) compile(r *Rule, opts *Options) (*compiled, []Issue) {
	c := &compiler{e: e, file: r.File, rule: ruleName(r), opts: opts}
	src, ok := SourceFor(r.Logsource)
	if !ok {
		c.issue(r.Line, SevUnsupported, "logsource %s is not mapped to a Vigil source", r.Logsource)
	}
	m := c.detection(&r.Detection)
	for _, f := range opts.Filters {
		if !f.applies(r) {
			continue
		}
		fc := &compiler{e: e, file: f.File, rule: ruleName(r) + " (filter " + f.Title + ")", opts: opts}
		fm := fc.detection(&f.Detection)
		c.issues = append(c.issues, fc.issues...)
		m = andMatcher{m, notMatcher{fm}}
	}
	if r.Status == "deprecated" || r.Status == "unsupported" {
		c.issue(r.Line, SevWarning, "status is %s", r.Status)
	}
	return &compiled{rule: r, m: m, source: src, service: r.Logsource.Service}, c.issues
}

func (f *Filter) applies(r *Rule) bool {
	for _, ref := range f.Rules {
		if ref != "" && (ref == r.ID || ref == r.Name || ref == r.Title) {
			return f.Logsource.Product == "" || f.Logsource == r.Logsource ||
				(f.Logsource.Product == r.Logsource.Product && (f.Logsource.Service == "" || f.Logsource.Service == r.Logsource.Service))
		}
	}
	return false
}

func (l Logsource) String() string {
	var parts []string
	for _, kv := range [][2]string{{"product", l.Product}, {"service", l.Service}, {"category", l.Category}} {
		if kv[1] != "" {
			parts = append(parts, kv[0]+": "+kv[1])
		}
	}
	return "{" + strings.Join(parts, ", ") + "}"
}

const vigilSource = "vigil"

// SourceFor maps a logsource to the Vigil event source whose events a rule
// sees: aws/cloudtrail → "cloudtrail", kubernetes/audit → "k8s-audit",
// github/audit → "github", linux/auditd → "auditd", gcp/gcp.audit →
// "gcp-audit", and product vigil → "vigil": Vigil's own events (sources
// "vigil", "vigil/...", "gateway/..."), narrowed by service when given.
func SourceFor(l Logsource) (string, bool) {
	switch {
	case l.Product == "aws" && (l.Service == "cloudtrail" || l.Service == ""):
		return "cloudtrail", true
	case l.Product == "kubernetes" && (l.Service == "audit" || l.Service == ""):
		return "k8s-audit", true
	case l.Product == "github" && (l.Service == "audit" || l.Service == ""):
		return "github", true
	case l.Product == "linux" && l.Service == "auditd":
		return "auditd", true
	case l.Product == "gcp" && l.Service == "gcp.audit":
		return "gcp-audit", true
	case l.Product == "vigil":
		return vigilSource, true
	}
	return "", false
}

// isVigil reports whether an event source is Vigil's own.
func isVigil(source string) bool {
	return source == "vigil" || strings.HasPrefix(source, "vigil/") || strings.HasPrefix(source, "gateway/")
}

func (c *compiled) seesVigil(source string) bool {
	s := c.service
	return s == "" || source == s || strings.HasPrefix(source, s+"/") ||
		source == "vigil/"+s || source == "gateway/"+s
}

// Match returns the rules that match ev.
func (e *Engine) Match(ev *event.Event) []*Rule {
	var out []*Rule
	e.MatchFunc(ev, func(r *Rule) { out = append(out, r) })
	return out
}

// MatchFunc calls fn with each rule that matches ev, in the order the rules
// were added. The raw record is navigated once per event, not per rule.
func (e *Engine) MatchFunc(ev *event.Event, fn func(*Rule)) {
	rules := e.bySource[ev.Source]
	var vig bool
	if len(e.vigil) > 0 && isVigil(ev.Source) {
		vig = true
	}
	if len(rules) == 0 && !vig {
		return
	}
	d := e.pool.Get().(*Doc)
	d.reset(ev, len(e.paths))
	for _, c := range rules {
		if c.m.eval(d) {
			fn(c.rule)
		}
	}
	if vig {
		for _, c := range e.vigil {
			if c.seesVigil(ev.Source) && c.m.eval(d) {
				fn(c.rule)
			}
		}
	}
	d.ev, d.raw = nil, nil
	e.pool.Put(d)
}

// Lint reports every construct in r that the engine does not support, every
// error, and discouraged constructs as warnings. Placeholders are not
// required to have values.
func Lint(r *Rule) []Issue {
	e := &Engine{fields: map[string]*fieldPath{}}
	_, issues := e.compile(r, &Options{lint: true})
	return issues
}

// LintFile parses a file's documents and lints each rule; parse errors and
// documents the engine does not evaluate (correlations) are issues too.
func LintFile(data []byte, name string) []Issue {
	c, err := ParseAll(data, name)
	var issues []Issue
	if err != nil {
		for _, e := range unjoin(err) {
			is := Issue{File: name, Severity: SevError, Msg: e.Error()}
			var se *Error
			if errors.As(e, &se) {
				is.Line = se.Line
				is.Msg = strings.TrimPrefix(se.Error(), fmt.Sprintf("%s:%d: ", se.File, se.Line))
			}
			issues = append(issues, is)
		}
	}
	if c == nil {
		return issues
	}
	for _, d := range c.Unsupported {
		issues = append(issues, Issue{File: name, Line: d.Line, Rule: cmp.Or(d.ID, d.Title),
			Severity: SevUnsupported, Msg: d.Kind + " documents are not evaluated by the engine"})
	}
	for _, r := range c.Rules {
		issues = append(issues, Lint(r)...)
	}
	for _, f := range c.Filters {
		fc := &compiler{e: &Engine{fields: map[string]*fieldPath{}}, file: name, rule: cmp.Or(f.ID, f.Title), opts: &Options{lint: true}}
		fc.detection(&f.Detection)
		issues = append(issues, fc.issues...)
	}
	return issues
}

func unjoin(err error) []error {
	if j, ok := err.(interface{ Unwrap() []error }); ok {
		return j.Unwrap()
	}
	return []error{err}
}
