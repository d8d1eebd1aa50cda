package policy

import (
	"encoding/json"
	"fmt"
	"net/netip"
	"path"
	"reflect"
	"strings"
	"sync"

	"cel.dev/cel-go/cel"
	"cel.dev/cel-go/common/types"
	"cel.dev/cel-go/common/types/ref"
	"cel.dev/cel-go/common/types/traits"
	"cel.dev/cel-go/ext"
	"cel.dev/cel-go/interpreter"

	"github.com/vigil-audit/vigil/internal/classify"
)

// Classifier variables: the CEL variable holding each kind's attributes.
var classifierVars = map[string]string{
	classify.KindSQL:        "sql",
	classify.KindShell:      "shell",
	classify.KindKubernetes: "k8s",
	classify.KindAWS:        "aws",
	classify.KindTerraform:  "tf",
}

// varKinds is classifierVars inverted.
var varKinds = func() map[string]string {
	m := make(map[string]string, len(classifierVars))
	for k, v := range classifierVars {
		m[v] = k
	}
	return m
}()

// actionView is the Action as CEL sees it (variable "action"). The raw
// Kubernetes, AWS and Terraform inputs are decoded JSON (maps and lists).
type actionView struct {
	Kind          string    `cel:"kind"`
	Actor         actorView `cel:"actor"`
	Connection    string    `cel:"connection"`
	Environment   string    `cel:"environment"`
	SQL           string    `cel:"sql"`
	Command       string    `cel:"command"`
	Kubernetes    any       `cel:"kubernetes"`
	AWS           any       `cel:"aws"`
	TerraformPlan any       `cel:"terraform_plan"`
}

// actorView is the Actor as CEL sees it (variable "actor", and action.actor).
type actorView struct {
	User   string   `cel:"user"`
	Roles  []string `cel:"roles"`
	Groups []string `cel:"groups"`
}

var (
	envOnce sync.Once
	baseEnv *cel.Env
	envErr  error
)

// celEnv returns the environment every rule is compiled in.
func celEnv() (*cel.Env, error) {
	envOnce.Do(func() {
		opts := []cel.EnvOption{
			ext.NativeTypes(
				types.NativeTypeFor[actionView](types.NativeTypeAlias("vigil.Action")),
				types.NativeTypeFor[actorView](types.NativeTypeAlias("vigil.Actor")),
				ext.ParseStructTag("cel"),
			),
			cel.Variable("action", cel.ObjectType("vigil.Action")),
			cel.Variable("actor", cel.ObjectType("vigil.Actor")),
			cel.Variable("kind", cel.StringType),
			cel.Variable("environment", cel.StringType),
			cel.Variable("connection", cel.StringType),
			cel.OptionalTypes(),
			ext.Strings(),
			ext.Lists(),
			ext.Sets(),
			ext.Network(),
			cel.Function("glob",
				cel.Overload("glob_string_string", []*cel.Type{cel.StringType, cel.StringType}, cel.BoolType,
					cel.BinaryBinding(celGlob))),
			cel.Function("cidrContains",
				cel.Overload("cidrContains_string_string", []*cel.Type{cel.StringType, cel.StringType}, cel.BoolType,
					cel.BinaryBinding(celCIDRContains))),
		}
		for _, v := range []string{"sql", "shell", "k8s", "aws", "tf"} {
			opts = append(opts, cel.Variable(v, cel.MapType(cel.StringType, cel.DynType)))
		}
		baseEnv, envErr = cel.NewEnv(opts...)
	})
	return baseEnv, envErr
}

// celGlob implements glob(path, pattern): path.Match per "/"-separated
// segment, and a "**" segment matches any number of segments (none included).
func celGlob(p, pat ref.Val) ref.Val {
	ok, err := Glob(string(p.(types.String)), string(pat.(types.String)))
	if err != nil {
		return types.NewErr("glob: %v", err)
	}
	return types.Bool(ok)
}

// Glob reports whether name matches pattern, as the CEL function glob does.
func Glob(name, pattern string) (bool, error) {
	if !strings.Contains(pattern, "**") {
		return path.Match(pattern, name)
	}
	return globSegments(strings.Split(name, "/"), strings.Split(pattern, "/"))
}

func globSegments(name, pat []string) (bool, error) {
	for len(pat) > 0 {
		if pat[0] == "**" {
			for i := 0; i <= len(name); i++ {
				if ok, err := globSegments(name[i:], pat[1:]); ok || err != nil {
					return ok, err
				}
			}
			return false, nil
		}
		if len(name) == 0 {
			return false, nil
		}
		ok, err := path.Match(pat[0], name[0])
		if !ok || err != nil {
			return false, err
		}
		name, pat = name[1:], pat[1:]
	}
	return len(name) == 0, nil
}

// celCIDRContains implements cidrContains(cidr, ipOrCIDR): whether the
// address, or the whole of the range, lies in cidr. A malformed cidr is an
// evaluation error; a malformed second argument is false.
func celCIDRContains(c, x ref.Val) ref.Val {
	prefix, err := netip.ParsePrefix(string(c.(types.String)))
	if err != nil {
		return types.NewErr("cidrContains: %v", err)
	}
	s := string(x.(types.String))
	if strings.Contains(s, "/") {
		p, err := netip.ParsePrefix(s)
		if err != nil {
			return types.False
		}
		return types.Bool(p.Bits() >= prefix.Bits() && prefix.Contains(p.Addr()))
	}
	addr, err := netip.ParseAddr(s)
	if err != nil {
		return types.False
	}
	return types.Bool(prefix.Contains(addr.Unmap()))
}

// emptyMap is the value of the classifier variables of other kinds.
var emptyMap = types.NewStringInterfaceMap(types.DefaultTypeAdapter, map[string]any{})

// vars is the activation for one decision. Values are built on first use
// and shared by every rule evaluated for the decision.
type vars struct {
	adapter types.Adapter
	a       *classify.Action
	attrVar string  // classifier variable of a.Kind, "" if none
	attrs   ref.Val // its value: prepared (cached texts) or built on first use
	rawAttr map[string]any

	action      ref.Val
	actor       ref.Val
	kind        ref.Val
	environment ref.Val
	connection  ref.Val
}

var _ interpreter.Activation = (*vars)(nil)

// reset prepares v for a decision on a. view, when not nil, is the CEL view
// of attrs built earlier (newAttrMap).
func (v *vars) reset(adapter types.Adapter, a *classify.Action, attrs map[string]any, view *attrMap) {
	*v = vars{adapter: adapter, a: a, attrVar: classifierVars[a.Kind], rawAttr: attrs}
	if view != nil {
		v.attrs = view
	}
}

// ResolveName implements interpreter.Activation.
func (v *vars) ResolveName(name string) (any, bool) {
	switch name {
	case "kind":
		if v.kind == nil {
			v.kind = types.String(v.a.Kind)
		}
		return v.kind, true
	case "environment":
		if v.environment == nil {
			v.environment = types.String(v.a.Environment)
		}
		return v.environment, true
	case "connection":
		if v.connection == nil {
			v.connection = types.String(v.a.Connection)
		}
		return v.connection, true
	case "actor":
		if v.actor == nil {
			v.actor = v.adapter.NativeToValue(&actorView{User: v.a.Actor.User, Roles: nonNil(v.a.Actor.Roles), Groups: nonNil(v.a.Actor.Groups)})
		}
		return v.actor, true
	case "action":
		if v.action == nil {
			if av, err := newActionView(v.a); err != nil {
				v.action = types.NewErr("action: %v", err)
			} else {
				v.action = v.adapter.NativeToValue(av)
			}
		}
		return v.action, true
	case "sql", "shell", "k8s", "aws", "tf":
		if name != v.attrVar || v.rawAttr == nil {
			return emptyMap, true
		}
		if v.attrs == nil {
			v.attrs = newAttrMap(v.adapter, v.rawAttr)
		}
		return v.attrs, true
	}
	return nil, false
}

// Parent implements interpreter.Activation.
func (v *vars) Parent() interpreter.Activation { return nil }

func newActionView(a *classify.Action) (*actionView, error) {
	av := &actionView{
		Kind:        a.Kind,
		Actor:       actorView{User: a.Actor.User, Roles: nonNil(a.Actor.Roles), Groups: nonNil(a.Actor.Groups)},
		Connection:  a.Connection,
		Environment: a.Environment,
		SQL:         a.SQL,
		Command:     a.Command,
	}
	for _, f := range []struct {
		name string
		raw  json.RawMessage
		dst  *any
	}{
		{"kubernetes", a.Kubernetes, &av.Kubernetes},
		{"aws", a.AWS, &av.AWS},
		{"terraform_plan", a.TerraformPlan, &av.TerraformPlan},
	} {
		if len(f.raw) == 0 {
			*f.dst = map[string]any{}
			continue
		}
		if err := json.Unmarshal(f.raw, f.dst); err != nil {
			return nil, fmt.Errorf("decode %s: %w", f.name, err)
		}
	}
	return av, nil
}

func nonNil(s []string) []string {
	if s == nil {
		return []string{}
	}
	return s
}

// attrMap is the CEL view of classifier attributes (a map[string]any as
// their JSON form decodes to). Values are converted on first access and
// kept, so a view that lives in the classification cache is converted once
// for every decision on its text, and only what rules read is converted at
// all. Booleans, the most common attribute, need no conversion. The
// attributes are never modified; a view is safe for concurrent use.
type attrMap struct {
	adapter types.Adapter
	m       map[string]any

	mu   sync.Mutex
	memo map[string]ref.Val // converted values other than bool and nil
}

var _ traits.Mapper = (*attrMap)(nil)

func newAttrMap(adapter types.Adapter, m map[string]any) *attrMap {
	return &attrMap{adapter: adapter, m: m}
}

// Find implements traits.Mapper.
func (a *attrMap) Find(key ref.Val) (ref.Val, bool) {
	k, ok := key.(types.String)
	if !ok {
		// Lookups with other key types (CEL allows numeric keys) find
		// nothing in a map of string keys: as the generic map does.
		return a.base().Find(key)
	}
	x, ok := a.m[string(k)]
	if !ok {
		return nil, false
	}
	switch x := x.(type) {
	case bool:
		return types.Bool(x), true
	case nil:
		return types.NullValue, true
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	if v, ok := a.memo[string(k)]; ok {
		return v, true
	}
	v := toCEL(a.adapter, x)
	if a.memo == nil {
		a.memo = make(map[string]ref.Val, 4)
	}
	a.memo[string(k)] = v
	return v, true
}

// Get implements traits.Indexer.
func (a *attrMap) Get(key ref.Val) ref.Val {
	v, found := a.Find(key)
	if !found {
		return types.ValOrErr(v, "no such key: %v", key)
	}
	return v
}

// Contains implements traits.Container.
func (a *attrMap) Contains(key ref.Val) ref.Val {
	_, found := a.Find(key)
	return types.Bool(found)
}

// Size implements traits.Sizer.
func (a *attrMap) Size() ref.Val { return types.Int(len(a.m)) }

// IsZeroValue reports whether the map is empty.
func (a *attrMap) IsZeroValue() bool { return len(a.m) == 0 }

// Type implements ref.Val.
func (a *attrMap) Type() ref.Type { return types.MapType }

// Value implements ref.Val.
func (a *attrMap) Value() any { return a.m }

// base is the generic CEL map over the same attributes, for the operations
// rules rarely use: iteration, equality, conversions.
func (a *attrMap) base() traits.Mapper {
	return types.NewStringInterfaceMap(a.adapter, a.m).(traits.Mapper)
}

// Iterator implements traits.Iterable.
func (a *attrMap) Iterator() traits.Iterator { return a.base().Iterator() }

// Equal implements ref.Val.
func (a *attrMap) Equal(other ref.Val) ref.Val {
	if o, ok := other.(*attrMap); ok {
		other = o.base()
	}
	return a.base().Equal(other)
}

// ConvertToNative implements ref.Val.
func (a *attrMap) ConvertToNative(typeDesc reflect.Type) (any, error) {
	return a.base().ConvertToNative(typeDesc)
}

// ConvertToType implements ref.Val.
func (a *attrMap) ConvertToType(typeVal ref.Type) ref.Val {
	switch typeVal {
	case types.MapType:
		return a
	case types.TypeType:
		return types.MapType
	}
	return types.NewErr("type conversion error from '%s' to '%s'", types.MapType, typeVal)
}

// String formats the map as CEL does, for error messages.
func (a *attrMap) String() string { return fmt.Sprint(a.base()) }

// toCEL converts one attribute value to CEL. Maps become attrMap views;
// lists are converted at once, their elements shared by every access.
func toCEL(adapter types.Adapter, x any) ref.Val {
	switch x := x.(type) {
	case nil:
		return types.NullValue
	case ref.Val:
		return x
	case string:
		return types.String(x)
	case bool:
		return types.Bool(x)
	case int:
		return types.Int(x)
	case int64:
		return types.Int(x)
	case float64:
		return types.Double(x)
	case map[string]any:
		return newAttrMap(adapter, x)
	case []any:
		l := make([]ref.Val, len(x))
		for i, v := range x {
			l[i] = toCEL(adapter, v)
		}
		return types.NewRefValList(adapter, l)
	case []string:
		return types.NewStringList(adapter, x)
	case []map[string]any:
		l := make([]ref.Val, len(x))
		for i, v := range x {
			l[i] = newAttrMap(adapter, v)
		}
		return types.NewRefValList(adapter, l)
	}
	return adapter.NativeToValue(x)
}
