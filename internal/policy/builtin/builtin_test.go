package builtin

import (
	"testing"

	"github.com/vigil-audit/vigil/internal/policy"
)

// TestPacks runs every built-in rule's inline tests and checks that each
// rule has a test that matches it and one that stays allowed.
func TestPacks(t *testing.T) {
	e, rs := newEngine(t, policy.Defaults{})
	if len(rs.Rules()) == 0 {
		t.Fatal("no built-in rules")
	}
	for _, res := range rs.RunTests(e) {
		if !res.Pass {
			t.Errorf("%s", res)
		}
	}
	for _, r := range rs.Rules() {
		var hit, allowed bool
		for _, tc := range r.Tests {
			hit = hit || tc.Expect.Rule == r.ID
			allowed = allowed || tc.Expect.Effect == policy.EffectAllow
		}
		if !hit || !allowed {
			t.Errorf("%s:%d: rule %s needs a test that matches it (expect.rule) and a look-alike that stays allowed", r.File, r.Line, r.ID)
		}
		if len(r.Environments) != 1 || r.Environments[0] != "production" {
			t.Errorf("%s:%d: rule %s: built-in rules apply to environment production, not %v", r.File, r.Line, r.ID, r.Environments)
		}
	}
}

// newEngine is an engine with every built-in pack and the real classifiers.
func newEngine(tb testing.TB, defaults policy.Defaults) (*policy.Engine, *policy.RuleSet) {
	tb.Helper()
	rs, err := Load()
	if err != nil {
		tb.Fatal(err)
	}
	e := policy.NewEngine(rs, defaults)
	policy.RegisterClassifiers(e) // tests without attrs run through the real parsers
	return e, rs
}
