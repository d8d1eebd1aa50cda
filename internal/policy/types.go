package policy

import (
	"github.com/vigil-audit/vigil/internal/event"

	"fmt"
	"sort"
	"strings"
)

// Effects. A rule has one of the five; a Decision only allow, deny or review.
const (
	EffectAllow  = "allow"
	EffectDeny   = "deny"
	EffectReview = "review"
	EffectAlert  = "alert"
	EffectLog    = "log"
)

// Severities, lowest first.
const (
	SeverityInfo     = "info"
	SeverityLow      = "low"
	SeverityMedium   = "medium"
	SeverityHigh     = "high"
	SeverityCritical = "critical"
)

// Modes of a rule.
const (
	ModeEnforce = "enforce"
	ModeDryRun  = "dry-run"
)

// Decision is the answer to an Action. Its JSON encoding is an external
// contract (POST /v1/decide, vigil policy eval, the audit event).
type Decision struct {
	// Effect is allow, deny or review.
	Effect string `json:"effect"`
	// Rules are every rule that matched, in load order: the ones that decided,
	// the ones overruled by a stronger effect, alert and log rules, and dry-run
	// rules (marked DryRun).
	Rules []RuleResult `json:"rules"`
	// Message explains the effect: the messages of the rules that decided it,
	// or which default applied.
	Message string `json:"message"`
	// Attrs are the classifier attributes the rules saw, under the name of the
	// CEL variable that held them ("sql", "shell", "k8s", "aws", "tf"). For a
	// text classified earlier they are shared with other decisions on the
	// same text: read them, never modify them.
	Attrs map[string]any `json:"attrs,omitempty"`
}

// RuleResult is one rule that matched.
type RuleResult struct {
	ID       string `json:"id"`
	Effect   string `json:"effect"`
	Severity string `json:"severity"`
	Message  string `json:"message"`
	// DryRun marks a rule in dry-run mode: it is reported with the effect it
	// would have had, but did not change the decision.
	DryRun bool `json:"dry_run,omitempty"`
}

// Defaults are the effect of an action that no enforced allow, deny or
// review rule matched. The most specific one set wins: the connection's, then
// the environment's, then Fallback, then allow.
type Defaults struct {
	Environment map[string]string `json:"environment,omitempty" yaml:"environment"`
	Connection  map[string]string `json:"connection,omitempty" yaml:"connection"`
	Fallback    string            `json:"fallback,omitempty" yaml:"fallback"`
	// ConnectionEnvironment is the environment of each named connection
	// (vigil.yaml's connections[].environment). An action that names one
	// of them is decided in that environment, whatever environment it
	// gives itself: the connection is the authority on where it leads. An
	// empty environment leaves the action's own.
	ConnectionEnvironment map[string]string `json:"connection_environment,omitempty" yaml:"connection_environment"`
}

// Validate reports default effects that are not allow, deny or review. An
// Engine given invalid defaults treats them as deny.
func (d Defaults) Validate() error {
	var bad []string
	check := func(where, eff string) {
		if eff != "" && !isDecisionEffect(eff) {
			bad = append(bad, fmt.Sprintf("%s: %q is not one of allow, deny, review", where, eff))
		}
	}
	for _, k := range sortedKeys(d.Environment) {
		check("defaults.environment."+k, d.Environment[k])
	}
	for _, k := range sortedKeys(d.Connection) {
		check("defaults.connection."+k, d.Connection[k])
	}
	check("defaults.fallback", d.Fallback)
	if len(bad) > 0 {
		return fmt.Errorf("invalid policy defaults: %s", strings.Join(bad, "; "))
	}
	return nil
}

// effect returns the default effect for an action and the reason for it.
func (d Defaults) effect(connection, environment string) (string, string) {
	pick := func(eff, why string) (string, string) {
		if !isDecisionEffect(eff) {
			return EffectDeny, why + " (invalid default " + fmt.Sprintf("%q", eff) + ", treated as deny)"
		}
		return eff, why
	}
	if eff, ok := d.Connection[connection]; ok && connection != "" && eff != "" {
		return pick(eff, "no rule decided; default for connection "+connection)
	}
	if eff, ok := d.Environment[environment]; ok && environment != "" && eff != "" {
		return pick(eff, "no rule decided; default for environment "+environment)
	}
	if d.Fallback != "" {
		return pick(d.Fallback, "no rule decided; fallback default")
	}
	return EffectAllow, "no rule decided; fallback default"
}

func isDecisionEffect(e string) bool {
	return e == EffectAllow || e == EffectDeny || e == EffectReview
}

func isEffect(e string) bool {
	return isDecisionEffect(e) || e == EffectAlert || e == EffectLog
}

func isSeverity(s string) bool {
	switch s {
	case SeverityInfo, SeverityLow, SeverityMedium, SeverityHigh, SeverityCritical:
		return true
	}
	return false
}

// rank orders decision effects: deny > review > allow; 0 for the others.
func rank(e string) int {
	switch e {
	case EffectDeny:
		return 3
	case EffectReview:
		return 2
	case EffectAllow:
		return 1
	}
	return 0
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

// Record returns how d is written into an audit event: the outcome of the
// action (success when allowed, denied, or pending review) and the decision.
func (d *Decision) Record() (outcome string, ed *event.Decision) {
	outcome = event.OutcomeSuccess
	switch d.Effect {
	case EffectDeny:
		outcome = event.OutcomeDenied
	case EffectReview:
		outcome = event.OutcomePending
	}
	ed = &event.Decision{Effect: d.Effect, Message: d.Message}
	for _, rr := range d.Rules {
		ed.Rules = append(ed.Rules, event.RuleResult{ID: rr.ID, Effect: rr.Effect, Severity: rr.Severity, Message: rr.Message, DryRun: rr.DryRun})
	}
	return outcome, ed
}
