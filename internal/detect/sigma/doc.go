package sigma

import (
	"strconv"
	"strings"
	"time"

	"github.com/vigil-audit/vigil/internal/event"
)

type valueKind uint8

const (
	kindNull valueKind = iota
	kindString
	kindNumber
	kindBool
	kindComposite // an object or array, kept as raw JSON text
)

// value is one value of a field in an event.
type value struct {
	kind     valueKind
	s        string // string contents, or the number/boolean as written
	lower    string
	hasLower bool
}

func (v *value) text() (string, bool) {
	return v.s, v.kind == kindString || v.kind == kindNumber || v.kind == kindBool
}

func (v *value) lowered() string {
	if !v.hasLower {
		v.lower = strings.ToLower(v.s)
		v.hasLower = true
	}
	return v.lower
}

type slot struct {
	done    bool
	present bool
	vals    []value
}

// Doc is one event prepared for matching: its raw record is navigated lazily
// and each field is resolved at most once, however many rules name it.
type Doc struct {
	ev      *event.Event
	raw     []byte
	slots   []slot
	indexed bool
	top     []kv
	kwDone  bool
	kwVals  []value
}

func (d *Doc) reset(ev *event.Event, nfields int) {
	d.ev = ev
	d.raw = ev.Raw
	if cap(d.slots) < nfields {
		d.slots = make([]slot, nfields)
	}
	d.slots = d.slots[:nfields]
	for i := range d.slots {
		d.slots[i].done = false
		d.slots[i].present = false
		d.slots[i].vals = d.slots[i].vals[:0]
	}
	d.indexed = false
	d.kwDone = false
	d.kwVals = d.kwVals[:0]
}

// field returns the values of field f (interned as id) and whether the field
// is present in the event at all.
func (d *Doc) field(id int, f *fieldPath) ([]value, bool) {
	s := &d.slots[id]
	if !s.done {
		s.done = true
		if len(d.raw) > 0 {
			s.present = resolveIn(d.raw, d.topIndex(), f.name, &s.vals)
		}
		if !s.present {
			s.present = normalized(d.ev, f.name, &s.vals)
		}
	}
	return s.vals, s.present
}

// resolve appends the values of the dotted path in the raw JSON value raw.
// The path is split at its first dot first (the common nested case), then at
// later dots, and a key holding the whole path is tried last; arrays are
// searched element by element.
func resolve(raw []byte, path string, out *[]value) bool {
	return resolveIn(raw, nil, path, out)
}

// resolveIn is resolve with an optional index of raw's members.
func resolveIn(raw []byte, index []kv, path string, out *[]value) bool {
	i := skipSpace(raw, 0)
	if i >= len(raw) {
		return false
	}
	switch raw[i] {
	case '[':
		found := false
		eachElement(raw[i:], func(el []byte) {
			if resolve(el, path, out) {
				found = true
			}
		})
		return found
	case '{':
	default:
		return false
	}
	get := func(key string) []byte {
		if index != nil {
			for k := range index {
				if index[k].key == key {
					return index[k].val
				}
			}
			return nil
		}
		return member(raw[i:], key)
	}
	for j := 0; j < len(path); j++ {
		if path[j] != '.' {
			continue
		}
		if v := get(path[:j]); v != nil {
			n := len(*out)
			if resolve(v, path[j+1:], out) {
				return true
			}
			*out = (*out)[:n]
		}
	}
	if v := get(path); v != nil {
		appendLeaf(v, out)
		return true
	}
	return false
}

// kv is one member of an event's top-level object.
type kv struct {
	key string
	val []byte
}

// topIndex lists the members of the raw record once per event.
func (d *Doc) topIndex() []kv {
	if !d.indexed {
		d.indexed = true
		d.top = d.top[:0]
		eachMember(d.raw, func(k []byte, esc bool, v []byte) bool {
			key := bytesString(k)
			if esc {
				key, _ = unquote(k)
			}
			d.top = append(d.top, kv{key, v})
			return true
		})
	}
	return d.top
}

// appendLeaf appends a field's value: each element of an array, or the value.
func appendLeaf(raw []byte, out *[]value) {
	if len(raw) > 0 && raw[0] == '[' {
		n := 0
		eachElement(raw, func(el []byte) {
			n++
			*out = append(*out, scalar(el))
		})
		if n == 0 { // an empty array is present but holds no value
			return
		}
		return
	}
	*out = append(*out, scalar(raw))
}

func str(out *[]value, s string) bool {
	*out = append(*out, value{kind: kindString, s: s})
	return true
}

// normalized resolves a field against Vigil's normalized event fields:
// source, action, outcome, activity, class_uid, target, id, time, parent_id,
// actor.*, resource.* (with resource.labels.KEY), decision.effect,
// decision.message, decision.review_id, decision.rules (rule ids),
// decision.dry_run_blocks (ids of dry-run rules that would have denied or
// sent to review) and
// attrs.KEY (a key may itself hold dots, e.g. attrs.aws.source).
func normalized(ev *event.Event, name string, out *[]value) bool {
	switch name {
	case "source":
		return ev.Source != "" && str(out, ev.Source)
	case "action":
		return ev.Action != "" && str(out, ev.Action)
	case "outcome":
		return ev.Outcome != "" && str(out, ev.Outcome)
	case "activity":
		return ev.Activity != "" && str(out, ev.Activity)
	case "class_uid":
		*out = append(*out, value{kind: kindNumber, s: strconv.Itoa(ev.ClassUID)})
		return true
	case "target":
		return ev.Target != "" && str(out, ev.Target)
	case "id":
		return ev.ID != "" && str(out, ev.ID)
	case "seq":
		*out = append(*out, value{kind: kindNumber, s: strconv.FormatUint(ev.Seq, 10)})
		return true
	case "time":
		return !ev.Time.IsZero() && str(out, ev.Time.UTC().Format(time.RFC3339Nano))
	case "parent_id":
		return ev.ParentID != "" && str(out, ev.ParentID)
	case "actor.user":
		return ev.Actor.User != "" && str(out, ev.Actor.User)
	case "actor.type":
		return ev.Actor.Type != "" && str(out, ev.Actor.Type)
	case "actor.src_ip":
		return ev.Actor.SrcIP != "" && str(out, ev.Actor.SrcIP)
	case "actor.user_agent":
		return ev.Actor.UserAgent != "" && str(out, ev.Actor.UserAgent)
	case "actor.session_id":
		return ev.Actor.SessionID != "" && str(out, ev.Actor.SessionID)
	case "actor.roles":
		for _, r := range ev.Actor.Roles {
			str(out, r)
		}
		return len(ev.Actor.Roles) > 0
	case "actor.groups":
		for _, g := range ev.Actor.Groups {
			str(out, g)
		}
		return len(ev.Actor.Groups) > 0
	case "resource.type":
		return ev.Resource.Type != "" && str(out, ev.Resource.Type)
	case "resource.id":
		return ev.Resource.ID != "" && str(out, ev.Resource.ID)
	case "resource.name":
		return ev.Resource.Name != "" && str(out, ev.Resource.Name)
	case "resource.environment":
		return ev.Resource.Environment != "" && str(out, ev.Resource.Environment)
	case "decision.effect":
		return ev.Decision != nil && str(out, ev.Decision.Effect)
	case "decision.message":
		return ev.Decision != nil && ev.Decision.Message != "" && str(out, ev.Decision.Message)
	case "decision.review_id":
		return ev.Decision != nil && ev.Decision.ReviewID != "" && str(out, ev.Decision.ReviewID)
	case "decision.rules":
		if ev.Decision == nil || len(ev.Decision.Rules) == 0 {
			return false
		}
		for _, r := range ev.Decision.Rules {
			str(out, r.ID)
		}
		return true
	case "decision.dry_run_blocks":
		// Rules in dry-run mode that would have denied or sent the action to
		// review had they been enforced.
		found := false
		if ev.Decision != nil {
			for _, r := range ev.Decision.Rules {
				if r.DryRun && (r.Effect == "deny" || r.Effect == "review") {
					str(out, r.ID)
					found = true
				}
			}
		}
		return found
	}
	if k, ok := strings.CutPrefix(name, "resource.labels."); ok {
		v, found := ev.Resource.Labels[k]
		return found && str(out, v)
	}
	if k, ok := strings.CutPrefix(name, "attrs."); ok {
		return attr(ev.Attrs, k, out)
	}
	return false
}

func attr(attrs map[string]any, k string, out *[]value) bool {
	v, ok := attrs[k]
	if !ok {
		return false
	}
	switch x := v.(type) {
	case nil:
		*out = append(*out, value{kind: kindNull})
	case string:
		str(out, x)
	case bool:
		*out = append(*out, value{kind: kindBool, s: strconv.FormatBool(x)})
	case int:
		*out = append(*out, value{kind: kindNumber, s: strconv.Itoa(x)})
	case int64:
		*out = append(*out, value{kind: kindNumber, s: strconv.FormatInt(x, 10)})
	case float64:
		*out = append(*out, value{kind: kindNumber, s: strconv.FormatFloat(x, 'f', -1, 64)})
	case []string:
		for _, s := range x {
			str(out, s)
		}
	case []any:
		for _, e := range x {
			if s, ok := e.(string); ok {
				str(out, s)
			}
		}
	default:
		*out = append(*out, value{kind: kindComposite})
	}
	return true
}

// keywords returns every scalar value of the event, for keyword searches:
// all leaves of the raw record, or the normalized fields when there is none.
func (d *Doc) keywords() []value {
	if d.kwDone {
		return d.kwVals
	}
	d.kwDone = true
	if len(d.raw) > 0 {
		leaves(d.raw, &d.kwVals)
		return d.kwVals
	}
	ev := d.ev
	for _, s := range []string{ev.Source, ev.Action, ev.Outcome, ev.Activity, ev.Target,
		ev.Actor.User, ev.Actor.SrcIP, ev.Actor.UserAgent, ev.Resource.Type, ev.Resource.ID,
		ev.Resource.Name, ev.Resource.Environment} {
		if s != "" {
			str(&d.kwVals, s)
		}
	}
	for k := range ev.Attrs {
		attr(ev.Attrs, k, &d.kwVals)
	}
	if ev.Decision != nil && ev.Decision.Message != "" {
		str(&d.kwVals, ev.Decision.Message)
	}
	return d.kwVals
}

func leaves(raw []byte, out *[]value) {
	i := skipSpace(raw, 0)
	if i >= len(raw) {
		return
	}
	switch raw[i] {
	case '{':
		eachMember(raw[i:], func(_ []byte, _ bool, v []byte) bool {
			leaves(v, out)
			return true
		})
	case '[':
		eachElement(raw[i:], func(el []byte) { leaves(el, out) })
	default:
		if v := scalar(raw[i:]); v.kind != kindNull {
			*out = append(*out, v)
		}
	}
}
