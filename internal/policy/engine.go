package policy

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"sync"
	"sync/atomic"

	"cel.dev/cel-go/cel"
	"cel.dev/cel-go/common/types"
	"cel.dev/cel-go/interpreter"

	"github.com/vigil-audit/vigil/internal/classify"
)

// ClassifyFunc derives the attributes of an Action of one kind (what the
// rules see as sql, shell, k8s, aws or tf). An error fails the decision
// closed; a classifier should rather report text it cannot parse as an
// attribute (the SQL classifier's "unparseable").
type ClassifyFunc func(a *classify.Action) (map[string]any, error)

// ShapeFunc returns the shape key of an action's text: a key equal for
// texts that differ only in the values of their literals (the SQL
// classifier's: PostgreSQL's scanner's tokens, constants left out), and a
// value handed on to the ShapedClassifyFunc. ok is false when the text has
// no shape; it is then cached by its exact bytes only.
type ShapeFunc func(a *classify.Action) (key string, state any, ok bool)

// ShapedClassifyFunc classifies an action as a ClassifyFunc does, given what
// the ShapeFunc returned for it (nil state when it returned nothing), and
// reports whether the attributes are provably those of every action whose
// text has the same shape key. Only then are they cached by that key.
type ShapedClassifyFunc func(a *classify.Action, state any) (attrs map[string]any, shared bool, err error)

// classifier is what Register or RegisterShaped set for a kind.
type classifier struct {
	fn     ClassifyFunc
	shape  ShapeFunc          // nil unless registered with RegisterShaped
	shaped ShapedClassifyFunc // idem
}

// CacheStats counts how the classifications of Decide were found.
type CacheStats struct {
	ExactHits int64 // the same text was classified before
	ShapeHits int64 // a text of the same shape was classified before
	Misses    int64 // classified (texts of kinds with a cache only)
	Shared    int64 // of the misses, classifications cached by shape
}

// Engine decides on Actions with a RuleSet. It is safe for concurrent use.
type Engine struct {
	rules       []*Rule
	byKind      map[string][]*Rule // rules for each kind, load order: the kind's own and kind-less
	anyKind     []*Rule            // rules for kinds without an entry in byKind
	defaults    Defaults
	classifiers atomic.Pointer[map[string]*classifier]
	adapter     types.Adapter
	pool        sync.Pool
	cache       *attrCache // classifications of recent texts (sql, shell)
	// shapes holds classifications by shape key: only those the
	// classifier proved to hold for every text of the shape. It is the
	// second level, after cache.
	shapes *attrCache
	stats  struct{ exactHits, shapeHits, misses, shared atomic.Int64 }

	// The default effect and message for each connection and environment
	// with a default of its own, computed once.
	connDefaults map[string][2]string
	envDefaults  map[string][2]string
}

// cacheKey is the key of a classification in the cache.
type cacheKey struct{ kind, text string }

// NewEngine returns an Engine deciding with rs and, when no rule decides,
// with defaults. Invalid default effects are treated as deny (see
// Defaults.Validate).
func NewEngine(rs *RuleSet, defaults Defaults) *Engine {
	env, err := celEnv()
	if err != nil {
		// Load already built the environment, so this cannot happen for a
		// RuleSet that exists.
		panic(fmt.Sprintf("policy: CEL environment: %v", err))
	}
	e := &Engine{defaults: defaults, byKind: map[string][]*Rule{}, adapter: env.CELTypeAdapter()}
	if rs != nil {
		e.rules = rs.rules
	}
	for kind := range classifierVars {
		for _, r := range e.rules {
			if r.Kinds == nil || slices.Contains(r.Kinds, kind) {
				e.byKind[kind] = append(e.byKind[kind], r)
			}
		}
	}
	for _, r := range e.rules {
		if r.Kinds == nil {
			e.anyKind = append(e.anyKind, r)
		}
	}
	e.classifiers.Store(&map[string]*classifier{})
	e.cache = newAttrCache(attrCacheOfSize)
	e.shapes = newAttrCache(attrCacheOfSize)
	e.connDefaults = map[string][2]string{}
	for conn := range defaults.Connection {
		eff, msg := defaults.effect(conn, "")
		e.connDefaults[conn] = [2]string{eff, msg}
	}
	e.envDefaults = map[string][2]string{}
	for env := range defaults.Environment {
		eff, msg := defaults.effect("", env)
		e.envDefaults[env] = [2]string{eff, msg}
	}
	e.pool.New = func() any { return new(vars) }
	return e
}

// Register sets the classifier for a kind of action, replacing any earlier
// one. It may be called at any time, also while Decide runs.
func (e *Engine) Register(kind string, fn ClassifyFunc) {
	e.register(kind, &classifier{fn: fn})
}

// RegisterShaped sets the classifier for a kind of action as Register does,
// with a second cache level: when an action's exact text was not classified
// recently, shape computes its shape key, and a classification that fn
// reported as shared by that shape is used.
func (e *Engine) RegisterShaped(kind string, shape ShapeFunc, fn ShapedClassifyFunc) {
	e.register(kind, &classifier{
		fn: func(a *classify.Action) (map[string]any, error) {
			attrs, _, err := fn(a, nil)
			return attrs, err
		},
		shape:  shape,
		shaped: fn,
	})
}

func (e *Engine) register(kind string, c *classifier) {
	for {
		old := e.classifiers.Load()
		m := make(map[string]*classifier, len(*old)+1)
		for k, v := range *old {
			m[k] = v
		}
		m[kind] = c
		if e.classifiers.CompareAndSwap(old, &m) {
			e.cache.clear()
			e.shapes.clear()
			return
		}
	}
}

// CacheStats returns the counts of classification cache hits and misses
// since the engine was made.
func (e *Engine) CacheStats() CacheStats {
	return CacheStats{
		ExactHits: e.stats.exactHits.Load(),
		ShapeHits: e.stats.shapeHits.Load(),
		Misses:    e.stats.misses.Load(),
		Shared:    e.stats.shared.Load(),
	}
}

// Decide classifies a with the classifier registered for its kind, if any,
// then decides. An action naming a connection of Defaults.ConnectionEnvironment
// gets that connection's environment (a is changed). A classifier error gives
// a deny Decision together with the error, so a caller that ignores the error
// still fails closed.
func (e *Engine) Decide(ctx context.Context, a *classify.Action) (*Decision, error) {
	if err := ctx.Err(); err != nil {
		return denyOnError(err), fmt.Errorf("decide: %w", err)
	}
	e.place(a)
	cl := (*e.classifiers.Load())[a.Kind]
	if cl == nil {
		return e.decide(a, nil), nil
	}
	text, cacheable := cacheText(a)
	if !cacheable {
		attrs, err := cl.fn(a)
		if err != nil {
			return denyOnError(err), fmt.Errorf("classify %s action: %w", a.Kind, err)
		}
		return e.decide(a, e.prepare(a.Kind, attrs)), nil
	}
	key := cacheKey{kind: a.Kind, text: text}
	if c, hit := e.cache.get(key); hit {
		e.stats.exactHits.Add(1)
		return e.decide(a, c), nil
	}
	// The classification depends on the text alone (decisions, made
	// afresh below, read the actor, environment and connection), so the
	// shape cache is keyed by kind and shape key alone, as the exact one
	// is by kind and text.
	var (
		state     any
		shapeKey  cacheKey
		haveShape bool
	)
	if cl.shape != nil {
		var k string
		k, state, haveShape = cl.shape(a)
		shapeKey = cacheKey{kind: a.Kind, text: k}
		if haveShape {
			if c, hit := e.shapes.get(shapeKey); hit {
				// Not put in the exact cache: texts with new literals
				// (pgbench, ORMs inlining values) would only push out
				// the texts that really repeat.
				e.stats.shapeHits.Add(1)
				return e.decide(a, c), nil
			}
		}
	}
	e.stats.misses.Add(1)
	var (
		attrs  map[string]any
		shared bool
		err    error
	)
	if cl.shaped != nil {
		attrs, shared, err = cl.shaped(a, state)
	} else {
		attrs, err = cl.fn(a)
	}
	if err != nil {
		return denyOnError(err), fmt.Errorf("classify %s action: %w", a.Kind, err)
	}
	c := e.prepare(a.Kind, attrs)
	e.cache.put(key, c)
	if haveShape && shared && c != nil {
		e.stats.shared.Add(1)
		e.shapes.put(shapeKey, c)
	}
	return e.decide(a, c), nil
}

// prepare wraps the attributes of an action of kind for decisions.
func (e *Engine) prepare(kind string, attrs map[string]any) *classified {
	if attrs == nil {
		return nil
	}
	c := &classified{attrs: attrs, view: newAttrMap(e.adapter, attrs)}
	if name := classifierVars[kind]; name != "" {
		c.out = map[string]any{name: attrs}
	}
	return c
}

// cacheText returns the text an action's classification depends on alone,
// and whether it may be cached.
func cacheText(a *classify.Action) (string, bool) {
	var t string
	switch a.Kind {
	case classify.KindSQL:
		t = a.SQL
	case classify.KindShell:
		t = a.Command
	default:
		return "", false
	}
	return t, len(t) <= maxCachedText
}

func denyOnError(err error) *Decision {
	return &Decision{Effect: EffectDeny, Rules: []RuleResult{}, Message: "no decision (failing closed): " + err.Error()}
}

// DecideAttrs decides on a with attrs as its classifier attributes (nil for
// none), without running a classifier. Like Decide, it sets a's environment
// from its connection.
//
// Evaluation errors (a key missing from a map, a bad glob pattern, ...)
// fail closed for deny and review rules, and for alert and log rules: the rule
// counts as matched (and an except that fails as not excepting), with the error
// in its RuleResult message. They fail open for allow rules: an allow rule that
// cannot be evaluated does not match, so an error can never let through what a
// default deny would stop.
func (e *Engine) DecideAttrs(a *classify.Action, attrs map[string]any) *Decision {
	e.place(a)
	return e.decide(a, e.prepare(a.Kind, attrs))
}

// place sets a's environment to its connection's, when the connection is a
// named one (Defaults.ConnectionEnvironment).
func (e *Engine) place(a *classify.Action) {
	if env := e.defaults.ConnectionEnvironment[a.Connection]; env != "" && a.Connection != "" {
		a.Environment = env
	}
}

// decide decides on a with its classification c (nil for none).
func (e *Engine) decide(a *classify.Action, c *classified) *Decision {
	rules, ok := e.byKind[a.Kind]
	if !ok {
		rules = e.anyKind
	}
	v := e.pool.Get().(*vars)
	if c != nil {
		v.reset(e.adapter, a, c.attrs, c.view)
	} else {
		v.reset(e.adapter, a, nil, nil)
	}
	// One execution frame serves every rule of the decision.
	frame, err := interpreter.NewExecutionFrame(v)
	if err != nil {
		panic(fmt.Sprintf("policy: execution frame: %v", err)) // only for inputs that are not an Activation
	}

	d := &Decision{Rules: []RuleResult{}}
	best := 0
	for _, r := range rules {
		if !r.inScope(a) {
			continue
		}
		matched, evalErr := r.eval(frame)
		if !matched {
			continue
		}
		res := RuleResult{ID: r.ID, Effect: r.Effect, Severity: r.Severity, Message: r.Message, DryRun: r.Mode == ModeDryRun}
		if evalErr != "" {
			res.Message += " (evaluation error, failing closed: " + evalErr + ")"
		}
		d.Rules = append(d.Rules, res)
		if !res.DryRun {
			best = max(best, rank(r.Effect))
		}
	}
	frame.Close()
	*v = vars{}
	e.pool.Put(v)

	if best == 0 {
		d.Effect, d.Message = e.defaultEffect(a.Connection, a.Environment)
	} else {
		var msgs []string
		for _, res := range d.Rules {
			if !res.DryRun && rank(res.Effect) == best {
				d.Effect = res.Effect
				msgs = append(msgs, res.Message)
			}
		}
		d.Message = strings.Join(msgs, "; ")
	}
	if c != nil {
		d.Attrs = c.out
	}
	return d
}

// defaultEffect is e.defaults.effect(connection, environment), with the
// messages built once.
func (e *Engine) defaultEffect(connection, environment string) (string, string) {
	if connection != "" {
		if d, ok := e.connDefaults[connection]; ok && e.defaults.Connection[connection] != "" {
			return d[0], d[1]
		}
	}
	if environment != "" {
		if d, ok := e.envDefaults[environment]; ok && e.defaults.Environment[environment] != "" {
			return d[0], d[1]
		}
	}
	return e.defaults.effect(connection, environment)
}

// inScope reports whether a is in the rule's environments, connections and
// roles (an empty list does not restrict).
func (r *Rule) inScope(a *classify.Action) bool {
	if len(r.Environments) > 0 && !slices.Contains(r.Environments, a.Environment) {
		return false
	}
	if len(r.Connections) > 0 && !slices.Contains(r.Connections, a.Connection) {
		return false
	}
	if len(r.Roles) > 0 {
		for _, role := range a.Actor.Roles {
			if slices.Contains(r.Roles, role) {
				return true
			}
		}
		return false
	}
	return true
}

// eval evaluates match and except. It returns whether the rule applies and,
// when an error decided that, the error text.
func (r *Rule) eval(v *interpreter.ExecutionFrame) (bool, string) {
	failClosed := r.Effect != EffectAllow
	ok, err := evalBool(r.match, v)
	if err != nil {
		if !failClosed {
			return false, ""
		}
		return true, "match: " + err.Error()
	}
	if !ok || r.except == nil {
		return ok, ""
	}
	exc, err := evalBool(r.except, v)
	if err != nil {
		if !failClosed {
			return false, ""
		}
		return true, "except: " + err.Error()
	}
	return !exc, ""
}

func evalBool(p cel.Program, v *interpreter.ExecutionFrame) (bool, error) {
	out, _, err := p.Eval(v)
	if err != nil {
		return false, err
	}
	b, ok := out.(types.Bool)
	if !ok {
		return false, fmt.Errorf("result is %s, not bool", out.Type())
	}
	return bool(b), nil
}
