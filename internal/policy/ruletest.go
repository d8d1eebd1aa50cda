package policy

import (
	"context"
	"fmt"
	"strings"
)

// TestResult is the outcome of one inline test.
type TestResult struct {
	Test     *Test
	Pass     bool
	Decision *Decision
	Err      error  // classifier error, if any
	Diff     string // what differed, readable; "" when the test passed
}

// String returns "PASS file:line rule/test" or "FAIL ..." followed by the diff.
func (r TestResult) String() string {
	owner := r.Test.Rule
	if owner == "" {
		owner = "fixture"
	}
	head := fmt.Sprintf("%s:%d: %s / %s", r.Test.File, r.Test.Line, owner, r.Test.Name)
	if r.Pass {
		return "PASS " + head
	}
	return "FAIL " + head + "\n" + r.Diff
}

// RunTests runs every rule's inline tests against e, in load order, then the
// tests of the fixture files. A test with attrs runs DecideAttrs with them;
// one without runs Decide, with the classifier registered in e for its kind.
// The whole engine decides, so a test sees every rule e holds, not only its
// own.
func (rs *RuleSet) RunTests(e *Engine) []TestResult {
	var out []TestResult
	for _, r := range rs.rules {
		for _, t := range r.Tests {
			out = append(out, runTest(e, t))
		}
	}
	for _, t := range rs.tests {
		out = append(out, runTest(e, t))
	}
	return out
}

func runTest(e *Engine, t *Test) TestResult {
	res := TestResult{Test: t}
	in := t.Input
	if t.Attrs != nil {
		res.Decision = e.DecideAttrs(&in, t.Attrs)
	} else {
		res.Decision, res.Err = e.Decide(context.Background(), &in)
	}
	d := res.Decision
	var problems []string
	if res.Err != nil {
		problems = append(problems, "error:    "+res.Err.Error())
	}
	if d.Effect != t.Expect.Effect {
		problems = append(problems, fmt.Sprintf("effect:   want %s, got %s", t.Expect.Effect, d.Effect))
	}
	if t.Expect.Rule != "" && !matchedRule(d, t.Expect.Rule) {
		problems = append(problems, fmt.Sprintf("rule:     want %s among the matched rules", t.Expect.Rule))
	}
	if len(problems) == 0 {
		res.Pass = true
		return res
	}
	var b strings.Builder
	for _, p := range problems {
		b.WriteString("    " + p + "\n")
	}
	b.WriteString("    matched: ")
	if len(d.Rules) == 0 {
		b.WriteString("(none)")
	}
	for i, rr := range d.Rules {
		if i > 0 {
			b.WriteString(", ")
		}
		b.WriteString(rr.ID + " (" + rr.Effect)
		if rr.DryRun {
			b.WriteString(", dry-run")
		}
		b.WriteString(")")
	}
	b.WriteString("\n    message: " + d.Message + "\n")
	if t.Attrs == nil {
		if _, ok := classifierVars[t.Input.Kind]; ok && (*e.classifiers.Load())[t.Input.Kind] == nil {
			b.WriteString("    note:    no classifier is registered for kind " + t.Input.Kind + " and the test gives no attrs\n")
		}
	}
	res.Diff = b.String()
	return res
}

func matchedRule(d *Decision, id string) bool {
	for _, r := range d.Rules {
		if r.ID == id {
			return true
		}
	}
	return false
}
