// Package jsonl parses generic JSON audit records (JSON lines, concatenated
// values or arrays) into Vigil events through a field mapping: each event field
// is read from a dotted path into the record. The mapping is documented in
// docs/sources.md.
package jsonl

import (
	"cmp"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode"

	"github.com/vigil-audit/vigil/internal/event"
	"github.com/vigil-audit/vigil/internal/ingest"
)

// Source is the source name of the parser, and the event source of records
// whose mapping names none.
const Source = "jsonl"

// Mapping says where each event field is found in a record. Every path is a
// dotted path into the record ("user.name", "@timestamp"; a key that itself
// holds dots, "event.type", is found too), or several separated by "|": the
// first that holds a string, number or boolean is taken. An empty path maps
// nothing.
type Mapping struct {
	Source       string // the event's source; default Defaults.Source, else "jsonl"
	Actor        string
	Action       string
	Activity     string // one of the event activities; else derived from the action's verb
	Resource     string // resource name
	ResourceType string
	Target       string
	Outcome      string // translated by OutcomeMap, then by common words and HTTP codes
	Time         string // RFC 3339 and similar, or seconds/milliseconds since the epoch
	ID           string // the record's unique id: attrs jsonl.id, the de-duplication key
	SrcIP        string
	UserAgent    string
	// OutcomeMap maps a record's outcome value (compared case-insensitively)
	// to an event outcome: {"ok": "success", "blocked": "denied"}.
	OutcomeMap map[string]string
	// Defaults are used when a record has no value at a field's path.
	Defaults Defaults
	// Required lists the event fields (actor, action, resource, time, ...) a
	// record must hold a value for, or be rejected; nil means action only.
	// A field with a default is always present.
	Required []string
}

// Defaults are constant values for fields a record does not hold.
type Defaults struct {
	Source, Actor, Action, ResourceType, Target, Outcome string
	ClassUID                                             int // default 6003 API Activity
}

// Field names, as ParseMapping and Required spell them.
var fieldNames = []string{"source", "actor", "action", "activity", "resource", "resource_type", "target",
	"outcome", "time", "id", "src_ip", "user_agent"}

func (m *Mapping) path(field string) *string {
	switch field {
	case "source":
		return &m.Source
	case "actor":
		return &m.Actor
	case "action":
		return &m.Action
	case "activity":
		return &m.Activity
	case "resource":
		return &m.Resource
	case "resource_type":
		return &m.ResourceType
	case "target":
		return &m.Target
	case "outcome":
		return &m.Outcome
	case "time":
		return &m.Time
	case "id":
		return &m.ID
	case "src_ip":
		return &m.SrcIP
	case "user_agent":
		return &m.UserAgent
	}
	return nil
}

func (d *Defaults) value(field string) *string {
	switch field {
	case "source":
		return &d.Source
	case "actor":
		return &d.Actor
	case "action":
		return &d.Action
	case "resource_type":
		return &d.ResourceType
	case "target":
		return &d.Target
	case "outcome":
		return &d.Outcome
	}
	return nil
}

// DefaultMapping reads the field names common in application audit logs.
func DefaultMapping() Mapping {
	return Mapping{
		Actor:        "user.name|actor.name|user|actor|username|user_name|userName|principal",
		Action:       "action|event.action|eventName|event.type|event|verb|operation",
		Resource:     "resource.name|resource|object.name|object",
		ResourceType: "resource.type|object.type",
		Outcome:      "outcome|event.outcome|result|status",
		Time:         "@timestamp|timestamp|time|ts|eventTime|date|created_at",
		ID:           "id|event.id|_id|uuid|event_id|eventID",
		SrcIP:        "src_ip|source.ip|client.ip|ip|remote_addr|sourceIPAddress",
		UserAgent:    "user_agent.original|user_agent|userAgent",
	}
}

// ParseMapping reads the compact form of a mapping, as `--source
// jsonl:SPEC` takes it: comma-separated items over DefaultMapping, each
//
//	FIELD=PATH[|PATH...]    where to read a field (an empty PATH maps nothing)
//	default.FIELD=VALUE     a constant for records without it (default.class=3002)
//	outcome.VALUE=OUTCOME   translate an outcome value (outcome.ok=success)
//	require=FIELD[|FIELD]   fields a record must hold (default: action)
//
// FIELD is one of source, actor, action, activity, resource, resource_type,
// target, outcome, time, id, src_ip, user_agent. An empty spec is the
// default mapping.
func ParseMapping(spec string) (Mapping, error) {
	m := DefaultMapping()
	for item := range strings.SplitSeq(spec, ",") {
		item = strings.TrimSpace(item)
		if item == "" {
			continue
		}
		key, val, ok := strings.Cut(item, "=")
		if !ok {
			return Mapping{}, fmt.Errorf("jsonl mapping: %q is not KEY=VALUE", item)
		}
		key, val = strings.TrimSpace(key), strings.TrimSpace(val)
		switch {
		case key == "require":
			for f := range strings.SplitSeq(val, "|") {
				if !slices.Contains(fieldNames, f) {
					return Mapping{}, fmt.Errorf("jsonl mapping: require=%s: unknown field %q (want one of %s)", val, f, strings.Join(fieldNames, ", "))
				}
				m.Required = append(m.Required, f)
			}
		case key == "default.class":
			n, err := strconv.Atoi(val)
			if err != nil || event.ClassName(n) == "" {
				return Mapping{}, fmt.Errorf("jsonl mapping: default.class=%s is not an OCSF class Vigil writes", val)
			}
			m.Defaults.ClassUID = n
		case strings.HasPrefix(key, "default."):
			p := m.Defaults.value(key[len("default."):])
			if p == nil {
				return Mapping{}, fmt.Errorf("jsonl mapping: %s: no default for this field (source, actor, action, resource_type, target, outcome, class have one)", key)
			}
			*p = val
		case strings.HasPrefix(key, "outcome."):
			if m.OutcomeMap == nil {
				m.OutcomeMap = map[string]string{}
			}
			m.OutcomeMap[key[len("outcome."):]] = val
		default:
			p := m.path(key)
			if p == nil {
				return Mapping{}, fmt.Errorf("jsonl mapping: unknown field %q (want one of %s, or default.FIELD, outcome.VALUE, require)", key, strings.Join(fieldNames, ", "))
			}
			*p = val
		}
	}
	return m, m.Validate()
}

// Validate checks the mapping's constant values.
func (m *Mapping) Validate() error {
	for k, v := range m.OutcomeMap {
		if !validOutcome(v) {
			return fmt.Errorf("jsonl mapping: outcome.%s=%s: want success, failure, denied, pending or unknown", k, v)
		}
	}
	if o := m.Defaults.Outcome; o != "" && !validOutcome(o) {
		return fmt.Errorf("jsonl mapping: default.outcome=%s: want success, failure, denied, pending or unknown", o)
	}
	if c := m.Defaults.ClassUID; c != 0 && event.ClassName(c) == "" {
		return fmt.Errorf("jsonl mapping: default class %d is not an OCSF class Vigil writes", c)
	}
	for _, f := range m.Required {
		if !slices.Contains(fieldNames, f) {
			return fmt.Errorf("jsonl mapping: required field %q is not one of %s", f, strings.Join(fieldNames, ", "))
		}
	}
	return nil
}

func validOutcome(o string) bool {
	switch o {
	case event.OutcomeSuccess, event.OutcomeFailure, event.OutcomeDenied, event.OutcomePending, event.OutcomeUnknown:
		return true
	}
	return false
}

// Parser parses generic JSON records with a Mapping.
type Parser struct {
	Mapping Mapping
	// Now is the time given to Normalize, for records without a time; nil
	// means time.Now.
	Now func() time.Time
}

var _ ingest.Parser = (*Parser)(nil)

// Source returns "jsonl".
func (p *Parser) Source() string { return Source }

// Parse reads JSON records from r. A mapping that does not validate fails the
// whole input.
func (p *Parser) Parse(r io.Reader, name string, emit func(event.Event) error) (ingest.Stats, error) {
	if err := p.Mapping.Validate(); err != nil {
		return ingest.Stats{}, err
	}
	c := compile(&p.Mapping)
	return ingest.Run(r, name, ingest.Format{Convert: c.convert, Now: p.Now}, emit)
}

type compiled struct {
	m        *Mapping
	paths    map[string][]string
	outcomes map[string]string
	required map[string]bool
}

func compile(m *Mapping) *compiled {
	c := &compiled{m: m, paths: map[string][]string{}, outcomes: map[string]string{}, required: map[string]bool{}}
	for _, f := range fieldNames {
		for alt := range strings.SplitSeq(*m.path(f), "|") {
			if alt = strings.TrimSpace(alt); alt != "" {
				c.paths[f] = append(c.paths[f], alt)
			}
		}
	}
	for k, v := range m.OutcomeMap {
		c.outcomes[strings.ToLower(k)] = v
	}
	req := m.Required
	if req == nil {
		req = []string{"action"}
	}
	for _, f := range req {
		c.required[f] = true
	}
	return c
}

// get returns the value of field in the record: the first of its paths that
// holds a string, number or boolean, or the field's default. It fails when
// the field is required and has no value.
func (c *compiled) get(raw []byte, field string) (string, ingest.Lazy, error) {
	var notScalar string
	for _, p := range c.paths[field] {
		v := lookup(raw, p)
		if v.IsNull() {
			continue
		}
		if v[0] == '{' || v[0] == '[' {
			if notScalar == "" {
				notScalar = fmt.Sprintf("; %s is a JSON %s", p, map[byte]string{'{': "object", '[': "array"}[v[0]])
			}
			continue
		}
		if s := v.String(); s != "" {
			return s, v, nil
		}
	}
	if d := c.m.Defaults.value(field); d != nil && *d != "" {
		return *d, nil, nil
	}
	if c.required[field] {
		if len(c.paths[field]) == 0 {
			return "", nil, fmt.Errorf("field %s: required but not mapped (set %s=PATH)", field, field)
		}
		return "", nil, fmt.Errorf("field %s: required, and the record has no value at %s%s", field, strings.Join(c.paths[field], "|"), notScalar)
	}
	return "", nil, nil
}

// lookup returns the value at the dotted path in obj. A key holding the whole
// rest of the path ("event.type") is tried before descending at a dot.
func lookup(obj []byte, path string) ingest.Lazy {
	if v := ingest.Member(obj, path); v != nil {
		return v
	}
	for i := 0; i < len(path); i++ {
		if path[i] != '.' {
			continue
		}
		sub := ingest.Member(obj, path[:i])
		if len(sub) > 0 && sub[0] == '{' {
			if v := lookup(sub, path[i+1:]); v != nil {
				return v
			}
		}
	}
	return nil
}

func (c *compiled) convert(raw []byte) (event.Event, error) {
	vals := make(map[string]string, len(fieldNames))
	var timeVal ingest.Lazy
	for _, f := range fieldNames {
		s, v, err := c.get(raw, f)
		if err != nil {
			return event.Event{}, err
		}
		vals[f] = s
		if f == "time" {
			timeVal = v
		}
	}
	ev := event.Event{
		Source:   cmp.Or(vals["source"], Source),
		ClassUID: c.m.Defaults.ClassUID,
		Actor:    event.Actor{User: cmp.Or(vals["actor"], ingest.Unknown), UserAgent: vals["user_agent"]},
		Action:   cmp.Or(vals["action"], ingest.Unknown),
		Resource: event.Resource{Name: vals["resource"], Type: vals["resource_type"]},
		Target:   vals["target"],
		Outcome:  c.outcome(vals["outcome"]),
		Attrs:    map[string]any{},
	}
	if vals["src_ip"] != "" {
		if net.ParseIP(vals["src_ip"]) != nil {
			ev.Actor.SrcIP = vals["src_ip"]
		} else {
			ev.Attrs["jsonl.src"] = vals["src_ip"]
		}
	}
	ev.Activity = vals["activity"]
	if !validActivity(ev.Activity) {
		ev.Activity = activity(ev.Action)
	}
	if id := vals["id"]; id != "" {
		ev.Attrs["jsonl.id"] = id
	}
	if timeVal == nil {
		ev.Attrs["ingest.time_missing"] = true
	} else {
		t, err := readTime(timeVal)
		if err != nil {
			return event.Event{}, fmt.Errorf("field time: %w", err)
		}
		ev.Time = t
	}
	return ev, nil
}

func readTime(v ingest.Lazy) (time.Time, error) {
	s := v.String()
	if v[0] != '"' || strings.IndexFunc(s, func(r rune) bool { return (r < '0' || r > '9') && r != '.' }) < 0 {
		return ingest.EpochTime(json.Number(s))
	}
	return ingest.ParseTime(s)
}

// outcome translates a record's outcome value.
func (c *compiled) outcome(v string) string {
	if v == "" {
		return cmp.Or(c.m.Defaults.Outcome, event.OutcomeUnknown)
	}
	l := strings.ToLower(v)
	if o, ok := c.outcomes[l]; ok {
		return o
	}
	switch l {
	case "success", "succeeded", "successful", "ok", "true", "allow", "allowed", "pass", "passed", "accepted", "complete", "completed":
		return event.OutcomeSuccess
	case "failure", "failed", "fail", "error", "false", "errored":
		return event.OutcomeFailure
	case "denied", "deny", "forbidden", "unauthorized", "blocked", "rejected", "refused":
		return event.OutcomeDenied
	case "pending", "in_progress", "queued":
		return event.OutcomePending
	}
	if n, err := strconv.Atoi(l); err == nil && n >= 100 && n < 600 {
		switch {
		case n == 401 || n == 403:
			return event.OutcomeDenied
		case n >= 400:
			return event.OutcomeFailure
		default:
			return event.OutcomeSuccess
		}
	}
	return event.OutcomeUnknown
}

func validActivity(a string) bool {
	switch a {
	case "create", "read", "update", "delete", "logon", "logoff", "execute", "grant", "revoke", "query",
		"admit", "decide", "approve", "reject", "other":
		return true
	}
	return false
}

// activity derives an activity from the leading verb of the action's last
// part: "user.login" → logon, "DeleteBucket" → delete, "repo.destroy" → delete.
func activity(action string) string {
	if i := strings.LastIndexAny(action, "./:"); i >= 0 {
		action = action[i+1:]
	}
	end := len(action)
	for i, r := range action {
		if r == '_' || r == '-' || r == ' ' || (i > 0 && unicode.IsUpper(r) && !unicode.IsUpper(rune(action[i-1]))) {
			end = i
			break
		}
	}
	word := strings.ToLower(action[:end])
	switch word {
	case "grant":
		return "grant"
	case "revoke":
		return "revoke"
	case "signin", "logon", "authenticate":
		return "logon"
	case "signout", "logoff":
		return "logoff"
	}
	return ingest.Verb(word)
}
