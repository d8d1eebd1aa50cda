package correlate

import (
	"errors"
	"fmt"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"
)

// DefaultMaxGroups is the default cap on distinct group keys.
const DefaultMaxGroups = 100_000

// DefaultMaxEvidence is the default number of evidence items kept per alert.
const DefaultMaxEvidence = 100

// Options configure an Engine.
type Options struct {
	// MaxGroups caps the number of distinct group keys held over all
	// correlations (default DefaultMaxGroups). When a new key would exceed
	// it, the least recently touched group is dropped and counted (see
	// Engine.CapEvictions).
	MaxGroups int
	// MaxEvidence caps the evidence items of one alert, keeping the most
	// recent (default DefaultMaxEvidence).
	MaxEvidence int
	// IncludeIntermediate makes Observe also return the alerts of
	// correlations that only feed other correlations (see Generate).
	IncludeIntermediate bool
}

// Match is one match of a Sigma rule against an event, fed to Observe.
type Match struct {
	// RuleID and RuleName identify the matched rule; a correlation refers
	// to it by either.
	RuleID   string
	RuleName string
	// Time is the event's time; windows are measured with it.
	Time time.Time
	// Fields resolves the fields the correlations read (group-by fields,
	// after aliases, and condition fields) from the event; nil means none.
	// FieldMap adapts a map. Engine.Fields lists the names for a rule.
	Fields func(name string) (string, bool)
	// EventID and Seq identify the event in the audit log, for evidence.
	EventID string
	Seq     uint64
}

// FieldMap returns a Match.Fields function reading m.
func FieldMap(m map[string]string) func(string) (string, bool) {
	return func(name string) (string, bool) {
		v, ok := m[name]
		return v, ok
	}
}

// Evidence is one event behind an alert.
type Evidence struct {
	Rule    string // the matched rule's id, or its name
	EventID string
	Seq     uint64
	Time    time.Time
}

// Alert is a correlation that fired for a group.
type Alert struct {
	Correlation *Correlation
	// Group holds the group-by values, by the names written in group-by;
	// GroupKey renders them as "name=value, ..." in group-by order.
	Group    map[string]string
	GroupKey string
	// First and Last bound the window that fired (Last is its end).
	First, Last time.Time
	// Count is the number of matches in the window that made the alert (for
	// absence, 1: the trigger).
	Count int
	// Value is what the condition was applied to: the event count, the
	// number of distinct values, the sum or average, or the number of rules
	// seen (temporal; temporal_ordered: steps completed in order).
	Value float64
	// Evidence lists the events behind the alert, oldest first, the events
	// of chained correlations included; at most Options.MaxEvidence, the
	// most recent kept.
	Evidence []Evidence
}

// Stats are the engine's counters, for metrics.
type Stats struct {
	Groups        int    // group keys held now
	CapEvictions  uint64 // groups dropped because MaxGroups was reached
	Expired       uint64 // groups dropped after their window passed
	Late          uint64 // matches ignored: older than their group's window
	MissingFields uint64 // matches ignored: a group-by or condition field was absent
	Alerts        uint64 // alerts raised (intermediate ones included)
}

// Engine evaluates correlations over a stream of matches. It is safe for
// concurrent use; observations are serialized.
type Engine struct {
	mu      sync.Mutex
	opts    Options
	corrs   []*corr
	targets map[string][]target // rule or correlation reference -> users
	byRef   map[string]*corr    // correlation id and name -> correlation
	refs    map[string][]*corr  // base rule reference -> correlations using it
	now     time.Time           // newest match time seen
	ngroups int
	tick    uint64
	stats   Stats
}

type target struct {
	c  *corr
	ri int // index of the reference in c.c.Rules
}

// corr is a compiled correlation.
type corr struct {
	c           *Correlation
	ri          map[string]int // reference -> first index in Rules
	steps       []int          // Rules as indexes (temporal_ordered)
	nrules      int            // distinct references
	groupFields [][]string     // per reference index: the field of each group-by
	valueFields [][]string     // per reference index: the condition fields
	parents     []*corr        // correlations referring to this one
	emit        bool
	retention   time.Duration
	groups      map[string]*group
	head, tail  *group // LRU by touch, head most recent
}

type entry struct {
	t   time.Time
	ri  int
	val string  // value_count
	num float64 // value_sum, value_avg
	ev  []Evidence
}

type group struct {
	c          *corr
	key        string
	vals       []string
	entries    []entry // sorted by time, arrival order among equal times
	last       time.Time
	fired      bool
	firedAt    time.Time
	ruleCounts []int          // temporal
	values     map[string]int // value_count
	sum        float64        // value_sum, value_avg
	prev, next *group
	tick       uint64
}

// New compiles correlations into an Engine. References between correlations
// (by id or name) form chains; unknown references are taken to be Sigma rules.
// Duplicate ids or names, cycles and self-references are errors.
func New(rules []*Correlation, opts Options) (*Engine, error) {
	if opts.MaxGroups < 0 || opts.MaxEvidence < 0 {
		return nil, errors.New("correlate: negative MaxGroups or MaxEvidence")
	}
	if opts.MaxGroups == 0 {
		opts.MaxGroups = DefaultMaxGroups
	}
	if opts.MaxEvidence == 0 {
		opts.MaxEvidence = DefaultMaxEvidence
	}
	e := &Engine{opts: opts, targets: map[string][]target{}, byRef: map[string]*corr{}, refs: map[string][]*corr{}}
	var errs []error
	fail := func(c *Correlation, format string, args ...any) {
		errs = append(errs, errAt(c.File, c.Line, "correlation %q: %s", c.String(), fmt.Sprintf(format, args...)))
	}
	for _, c := range rules {
		k := &corr{c: c, ri: map[string]int{}, groups: map[string]*group{}, retention: c.Timespan}
		if c.Type == Absence {
			k.retention = 2 * c.Timespan // a late trigger still sees its predecessors
		}
		ok := true
		for _, ref := range []string{c.ID, c.Name} {
			if ref == "" {
				continue
			}
			if o := e.byRef[ref]; o != nil && o != k {
				fail(c, "%q is also the id or name of correlation %q (%s:%d)", ref, o.c.String(), o.c.File, o.c.Line)
				ok = false
			}
			e.byRef[ref] = k
		}
		if ok {
			e.corrs = append(e.corrs, k)
		}
	}
	for _, k := range e.corrs {
		c := k.c
		for i, ref := range c.Rules {
			if ref == c.ID || ref == c.Name {
				fail(c, "refers to itself")
			}
			j, seen := k.ri[ref]
			if !seen {
				k.ri[ref] = i
				j = i
				k.nrules++
				e.targets[ref] = append(e.targets[ref], target{k, i})
				if child := e.byRef[ref]; child != nil {
					child.parents = append(child.parents, k)
				} else {
					e.refs[ref] = append(e.refs[ref], k)
				}
			}
			k.steps = append(k.steps, j)
		}
		if c.Type == Absence {
			trig := k.steps[len(k.steps)-1]
			if trig != len(c.Rules)-1 {
				fail(c, "absence: the trigger %q (the last rule) is also listed as a preceding rule", c.Rules[trig])
			}
		}
		k.groupFields = make([][]string, len(c.Rules))
		k.valueFields = make([][]string, len(c.Rules))
		for i, ref := range c.Rules {
			for _, f := range c.GroupBy {
				k.groupFields[i] = append(k.groupFields[i], resolveAlias(c, f, ref))
			}
			for _, f := range c.Condition.Field {
				k.valueFields[i] = append(k.valueFields[i], resolveAlias(c, f, ref))
			}
		}
	}
	if err := e.checkCycles(); err != nil {
		errs = append(errs, err)
	}
	for _, k := range e.corrs {
		k.emit = opts.IncludeIntermediate || len(k.parents) == 0
		for _, p := range k.parents {
			k.emit = k.emit || p.c.Generate
		}
	}
	if len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	return e, nil
}

func resolveAlias(c *Correlation, field, ref string) string {
	if m, ok := c.Aliases[field]; ok {
		if f, ok := m[ref]; ok {
			return f
		}
	}
	return field
}

func (e *Engine) checkCycles() error {
	const (
		white = iota
		grey
		black
	)
	color := map[*corr]int{}
	var visit func(k *corr, path []string) error
	visit = func(k *corr, path []string) error {
		switch color[k] {
		case grey:
			return errAt(k.c.File, k.c.Line, "correlation %q: chain forms a cycle: %s", k.c.String(), strings.Join(append(path, k.c.String()), " -> "))
		case black:
			return nil
		}
		color[k] = grey
		for _, ref := range k.c.Rules {
			if child := e.byRef[ref]; child != nil && child != k {
				if err := visit(child, append(path, k.c.String())); err != nil {
					return err
				}
			}
		}
		color[k] = black
		return nil
	}
	for _, k := range e.corrs {
		if err := visit(k, nil); err != nil {
			return err
		}
	}
	return nil
}

// Correlations returns the compiled correlations.
func (e *Engine) Correlations() []*Correlation {
	out := make([]*Correlation, len(e.corrs))
	for i, k := range e.corrs {
		out[i] = k.c
	}
	return out
}

// References returns the references (ids or names) to Sigma rules, i.e. the
// rules whose matches the caller must feed to Observe, sorted.
func (e *Engine) References() []string {
	out := make([]string, 0, len(e.refs))
	for r := range e.refs {
		out = append(out, r)
	}
	sort.Strings(out)
	return out
}

// Fields returns the field names Observe reads from the matches of the rule
// with this id or name (group-by fields after aliases, condition fields),
// sorted.
func (e *Engine) Fields(rule string) []string {
	set := map[string]bool{}
	for _, t := range e.targets[rule] {
		for _, f := range t.c.groupFields[t.ri] {
			set[f] = true
		}
		for _, f := range t.c.valueFields[t.ri] {
			set[f] = true
		}
	}
	out := make([]string, 0, len(set))
	for f := range set {
		out = append(out, f)
	}
	sort.Strings(out)
	return out
}

// StandAlone reports whether a Sigma rule's own matches should alert: true
// unless the rule (by id or name) is referred to by correlations and none
// of them sets generate: true.
func (e *Engine) StandAlone(ruleID, ruleName string) bool {
	users := append(append([]*corr(nil), e.refs[ruleID]...), e.refs[ruleName]...)
	if len(users) == 0 {
		return true
	}
	for _, k := range users {
		if k.c.Generate {
			return true
		}
	}
	return false
}

// CapEvictions is the number of groups dropped because MaxGroups was
// reached.
func (e *Engine) CapEvictions() uint64 {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.stats.CapEvictions
}

// Stats returns the engine's counters.
func (e *Engine) Stats() Stats {
	e.mu.Lock()
	defer e.mu.Unlock()
	s := e.stats
	s.Groups = e.ngroups
	return s
}

// Observe feeds one match and returns the alerts it raises, chained
// correlations included (only those that alert on their own; see
// Options.IncludeIntermediate).
func (e *Engine) Observe(m Match) []Alert {
	e.mu.Lock()
	defer e.mu.Unlock()
	if m.Time.After(e.now) {
		e.now = m.Time
		e.sweep()
	}
	rule := m.RuleID
	if rule == "" {
		rule = m.RuleName
	}
	ev := []Evidence{{Rule: rule, EventID: m.EventID, Seq: m.Seq, Time: m.Time}}
	var out []Alert
	e.dispatch(m.RuleID, m.RuleName, m.Time, m.Fields, ev, &out)
	return out
}

func (e *Engine) dispatch(id, name string, t time.Time, fields func(string) (string, bool), ev []Evidence, out *[]Alert) {
	ts := e.targets[id]
	if name != "" && name != id {
		for _, x := range e.targets[name] {
			dup := false
			for _, y := range ts {
				dup = dup || x == y
			}
			if !dup {
				ts = append(ts[:len(ts):len(ts)], x)
			}
		}
	}
	for _, tg := range ts {
		a := e.observe(tg.c, tg.ri, t, fields, ev)
		if a == nil {
			continue
		}
		if tg.c.emit {
			*out = append(*out, *a)
		}
		if len(tg.c.parents) > 0 {
			// The alert is a match of the correlation for the ones above:
			// their group-by fields resolve against its group, then
			// against the event that completed it.
			group := a.Group
			chained := func(n string) (string, bool) {
				if v, ok := group[n]; ok {
					return v, true
				}
				if fields != nil {
					return fields(n)
				}
				return "", false
			}
			e.dispatch(tg.c.c.ID, tg.c.c.Name, a.Last, chained, a.Evidence, out)
		}
	}
}

func lookup(fields func(string) (string, bool), names []string) ([]string, bool) {
	vals := make([]string, len(names))
	for i, n := range names {
		if fields == nil {
			return nil, false
		}
		v, ok := fields(n)
		if !ok {
			return nil, false
		}
		vals[i] = v
	}
	return vals, true
}

func groupKey(vals []string) string {
	var b strings.Builder
	for _, v := range vals {
		b.WriteString(strconv.Itoa(len(v)))
		b.WriteByte(':')
		b.WriteString(v)
	}
	return b.String()
}

// observe applies one match to one correlation.
func (e *Engine) observe(k *corr, ri int, t time.Time, fields func(string) (string, bool), ev []Evidence) *Alert {
	c := k.c
	vals, ok := lookup(fields, k.groupFields[ri])
	if !ok {
		e.stats.MissingFields++
		return nil
	}
	en := entry{t: t, ri: ri, ev: ev}
	switch c.Type {
	case ValueCount:
		vs, ok := lookup(fields, k.valueFields[ri])
		if !ok {
			e.stats.MissingFields++
			return nil
		}
		en.val = groupKey(vs)
	case ValueSum, ValueAvg:
		vs, ok := lookup(fields, k.valueFields[ri])
		if !ok {
			e.stats.MissingFields++
			return nil
		}
		f, err := strconv.ParseFloat(strings.TrimSpace(vs[0]), 64)
		if err != nil {
			e.stats.MissingFields++
			return nil
		}
		en.num = f
	}
	key := groupKey(vals)
	g := k.groups[key]
	T := c.Timespan
	if g != nil && t.Before(g.last.Add(-T)) {
		e.stats.Late++
		return nil
	}
	if g == nil {
		g = e.newGroup(k, key, vals)
	}
	e.touch(g)
	if t.After(g.last) {
		g.last = t
	}
	if c.Type == Absence {
		if ri != len(c.Rules)-1 { // a preceding rule: remember it
			g.insert(en)
			g.evict(g.last.Add(-k.retention))
			return nil
		}
		lo := t.Add(-T)
		for _, p := range g.entries {
			if !p.t.Before(lo) && !p.t.After(t) {
				return nil // preceded
			}
		}
		if !g.canFire(t, T) {
			return nil
		}
		return e.fire(g, t, []entry{en}, 0)
	}
	g.insert(en)
	end := g.last
	g.evict(end.Add(-T))
	if !g.canFire(end, T) {
		return nil
	}
	x, picked, ok := g.evaluate()
	if !ok {
		return nil
	}
	return e.fire(g, end, picked, x)
}

// canFire applies deduplication: after firing at f, a group fires again
// only for a window that starts after f.
func (g *group) canFire(end time.Time, T time.Duration) bool {
	return !g.fired || end.Add(-T).After(g.firedAt)
}

// evaluate computes the aggregate over the window and applies the condition.
func (g *group) evaluate() (float64, []entry, bool) {
	c := g.c.c
	n := len(g.entries)
	var x float64
	picked := g.entries
	switch c.Type {
	case EventCount:
		x = float64(n)
	case ValueCount:
		x = float64(len(g.values))
	case ValueSum:
		x = g.sum
	case ValueAvg:
		if n == 0 {
			return 0, nil, false
		}
		x = g.sum / float64(n)
	case Temporal:
		for _, cnt := range g.ruleCounts {
			if cnt > 0 {
				x++
			}
		}
		if len(c.Condition.Comparisons) == 0 {
			return x, picked, int(x) == g.c.nrules
		}
	case TemporalOrdered:
		// Greedy earliest matching finds the longest prefix of the steps
		// that occurs in order.
		steps := g.c.steps
		picked = nil
		for _, en := range g.entries {
			if len(picked) < len(steps) && en.ri == steps[len(picked)] {
				picked = append(picked, en)
			}
		}
		x = float64(len(picked))
		if len(c.Condition.Comparisons) == 0 {
			return x, picked, len(picked) == len(steps)
		}
	}
	return x, picked, c.Condition.Holds(x)
}

func (e *Engine) fire(g *group, end time.Time, picked []entry, x float64) *Alert {
	c := g.c.c
	g.fired, g.firedAt = true, end
	e.stats.Alerts++
	a := &Alert{Correlation: c, Group: map[string]string{}, Last: end, Count: len(picked), Value: x}
	if c.Type == Absence {
		a.Count = 1
	}
	var key []string
	for i, f := range c.GroupBy {
		a.Group[f] = g.vals[i]
		key = append(key, f+"="+g.vals[i])
	}
	a.GroupKey = strings.Join(key, ", ")
	if len(picked) > 0 {
		a.First = picked[0].t
	}
	// Evidence: the most recent MaxEvidence items, oldest first.
	max := e.opts.MaxEvidence
	var rev []Evidence
	for i := len(picked) - 1; i >= 0 && len(rev) < max; i-- {
		ev := picked[i].ev
		for j := len(ev) - 1; j >= 0 && len(rev) < max; j-- {
			rev = append(rev, ev[j])
		}
	}
	a.Evidence = make([]Evidence, len(rev))
	for i, x := range rev {
		a.Evidence[len(rev)-1-i] = x
	}
	return a
}

func (g *group) insert(en entry) {
	i := len(g.entries)
	for i > 0 && g.entries[i-1].t.After(en.t) {
		i--
	}
	g.entries = append(g.entries, entry{})
	copy(g.entries[i+1:], g.entries[i:])
	g.entries[i] = en
	g.count(en, 1)
}

// evict drops the entries before lo.
func (g *group) evict(lo time.Time) {
	n := 0
	for n < len(g.entries) && g.entries[n].t.Before(lo) {
		g.count(g.entries[n], -1)
		n++
	}
	if n == 0 {
		return
	}
	rest := len(g.entries) - n
	copy(g.entries, g.entries[n:])
	clear(g.entries[rest:])
	g.entries = g.entries[:rest]
	if cap(g.entries) > 64 && rest < cap(g.entries)/4 {
		g.entries = append([]entry(nil), g.entries...)
	}
}

func (g *group) count(en entry, d int) {
	switch g.c.c.Type {
	case Temporal:
		if g.ruleCounts == nil {
			g.ruleCounts = make([]int, len(g.c.c.Rules))
		}
		g.ruleCounts[en.ri] += d
	case ValueCount:
		if g.values == nil {
			g.values = map[string]int{}
		}
		g.values[en.val] += d
		if g.values[en.val] <= 0 {
			delete(g.values, en.val)
		}
	case ValueSum, ValueAvg:
		g.sum += float64(d) * en.num
	}
}

func (e *Engine) newGroup(k *corr, key string, vals []string) *group {
	if e.ngroups >= e.opts.MaxGroups {
		e.evictOldest()
	}
	g := &group{c: k, key: key, vals: vals}
	k.groups[key] = g
	e.ngroups++
	return g
}

// touch moves g to the front of its correlation's LRU list.
func (e *Engine) touch(g *group) {
	e.tick++
	g.tick = e.tick
	k := g.c
	if k.head == g {
		return
	}
	k.unlink(g)
	g.next = k.head
	if k.head != nil {
		k.head.prev = g
	}
	k.head = g
	if k.tail == nil {
		k.tail = g
	}
}

func (k *corr) unlink(g *group) {
	if g.prev != nil {
		g.prev.next = g.next
	} else if k.head == g {
		k.head = g.next
	}
	if g.next != nil {
		g.next.prev = g.prev
	} else if k.tail == g {
		k.tail = g.prev
	}
	g.prev, g.next = nil, nil
}

func (e *Engine) remove(g *group) {
	g.c.unlink(g)
	delete(g.c.groups, g.key)
	e.ngroups--
}

// sweep drops, per correlation, the least recently touched groups whose
// newest match is older than the correlation's retention.
func (e *Engine) sweep() {
	for _, k := range e.corrs {
		for g := k.tail; g != nil && g.last.Before(e.now.Add(-k.retention)); g = k.tail {
			e.remove(g)
			e.stats.Expired++
		}
	}
}

// evictOldest drops the least recently touched group of all correlations.
func (e *Engine) evictOldest() {
	var oldest *group
	for _, k := range e.corrs {
		if k.tail != nil && (oldest == nil || k.tail.tick < oldest.tick) {
			oldest = k.tail
		}
	}
	if oldest != nil {
		e.remove(oldest)
		e.stats.CapEvictions++
	}
}
