package detect

import (
	"encoding/json"
	"strings"
	"sync"
	"time"

	"github.com/vigil-audit/vigil/internal/detect/correlate"
	"github.com/vigil-audit/vigil/internal/detect/sigma"
	"github.com/vigil-audit/vigil/internal/event"
)

// Detector evaluates one event at a time: Sigma rules, then the correlations
// fed by their matches. A rule that only feeds correlations (not "generate")
// raises no alert of its own. Repeats of one rule for one group within
// Suppress raise no new alert; correlations deduplicate by their windows.
type Detector struct {
	Rules        *sigma.Engine
	Correlations *correlate.Engine // may be nil
	Suppress     time.Duration     // 0: no suppression
	// SuppressRules overrides Suppress for single rules, by rule id.
	SuppressRules map[string]time.Duration

	mu   sync.Mutex
	last map[[2]string]time.Time
}

// Evaluate returns the alerts ev raises.
func (d *Detector) Evaluate(ev *event.Event) []*Alert {
	var out []*Alert
	var fields func(string) (string, bool)
	if d.Correlations != nil {
		fields = eventFields(ev)
	}
	d.Rules.MatchFunc(ev, func(rule *sigma.Rule) {
		id := rule.ID
		if id == "" {
			id = rule.Title
		}
		if d.Correlations != nil {
			for _, ca := range d.Correlations.Observe(correlate.Match{RuleID: rule.ID, RuleName: rule.Name, Time: ev.Time,
				Fields: fields, EventID: ev.ID, Seq: ev.Seq}) {
				out = append(out, correlationAlert(&ca))
			}
			if !d.Correlations.StandAlone(rule.ID, rule.Name) {
				return
			}
		}
		if d.suppressed(id, ev.Actor.User, ev.Time) {
			return
		}
		out = append(out, &Alert{
			RuleID: id, Title: rule.Title, Severity: rule.Level, Group: ev.Actor.User,
			FirstSeen: ev.Time, LastSeen: ev.Time, Count: 1, Status: "open",
			Evidence: []Evidence{{EventID: ev.ID, Seq: ev.Seq, Action: ev.Action}},
		})
	})
	return out
}

func (d *Detector) suppressed(rule, group string, at time.Time) bool {
	window := d.Suppress
	if w, ok := d.SuppressRules[rule]; ok {
		window = w
	}
	if window <= 0 {
		return false
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.last == nil {
		d.last = map[[2]string]time.Time{}
	}
	k := [2]string{rule, group}
	if last, seen := d.last[k]; seen && at.Sub(last) < window && last.Sub(at) < window {
		return true
	}
	d.last[k] = at
	return false
}

func correlationAlert(ca *correlate.Alert) *Alert {
	c := ca.Correlation
	id := c.ID
	if id == "" {
		id = c.Name
	}
	a := &Alert{RuleID: id, Title: c.Title, Severity: c.Level, Group: ca.GroupKey,
		FirstSeen: ca.First, LastSeen: ca.Last, Count: ca.Count, Status: "open"}
	for _, e := range ca.Evidence {
		a.Evidence = append(a.Evidence, Evidence{EventID: e.EventID, Seq: e.Seq, Action: e.Rule})
	}
	return a
}

// eventFields resolves a field name for correlations: Vigil's normalized
// names (actor.user, source, action, ...) from the event itself, any other
// name as a dotted path into the raw record, decoded only if needed.
func eventFields(ev *event.Event) func(string) (string, bool) {
	var raw map[string]any
	decoded := false
	return func(name string) (string, bool) {
		switch name {
		case "actor.user":
			return ev.Actor.User, ev.Actor.User != ""
		case "actor.src_ip":
			return ev.Actor.SrcIP, ev.Actor.SrcIP != ""
		case "source":
			return ev.Source, true
		case "action":
			return ev.Action, true
		case "outcome":
			return ev.Outcome, true
		case "target":
			return ev.Target, ev.Target != ""
		case "resource.name":
			return ev.Resource.Name, ev.Resource.Name != ""
		case "resource.id":
			return ev.Resource.ID, ev.Resource.ID != ""
		}
		if !decoded {
			decoded = true
			if len(ev.Raw) > 0 {
				json.Unmarshal(ev.Raw, &raw)
			}
		}
		if v, ok := lookup(raw, name); ok {
			return v, true
		}
		if v, ok := ev.Attrs[strings.TrimPrefix(name, "attrs.")]; ok {
			if s, ok := v.(string); ok {
				return s, true
			}
		}
		return "", false
	}
}

func lookup(m map[string]any, path string) (string, bool) {
	var cur any = m
	for _, part := range strings.Split(path, ".") {
		mm, ok := cur.(map[string]any)
		if !ok {
			return "", false
		}
		if cur, ok = mm[part]; !ok {
			return "", false
		}
	}
	switch v := cur.(type) {
	case string:
		return v, true
	case nil, map[string]any, []any:
		return "", false
	default:
		b, _ := json.Marshal(v)
		return string(b), true
	}
}
