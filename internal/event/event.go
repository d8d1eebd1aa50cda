// Package event defines the Event, the one record shape every part of Vigil writes to
// and reads from the audit log, with its validation and its canonical byte encoding.
//
// Field meanings follow OCSF classes (API Activity 6003, Authentication 3002, Account
// Change 3001, User Access Management 3005, Datastore Activity 6005). The canonical
// encoding is what the audit log hashes into its Merkle tree, so it must never change
// for an event once written: Encode produces it and the stored bytes are kept verbatim.
package event

import (
	"bytes"
	"encoding/json"
	"fmt"
	"slices"
	"strconv"
	"time"
	"unicode/utf8"

	"github.com/oklog/ulid/v2"
)

// OCSF class UIDs that Vigil writes.
const (
	ClassFileActivity       = 1001
	ClassProcessActivity    = 1007
	ClassAccountChange      = 3001
	ClassAuthentication     = 3002
	ClassAuthorizeSession   = 3003
	ClassUserAccessMgmt     = 3005
	ClassAPIActivity        = 6003
	ClassDatastoreActivity  = 6005
	ClassDetectionFinding   = 2004
	ClassComplianceFinding  = 2003
	ClassConfigurationState = 5002
)

var classNames = map[int]string{
	ClassFileActivity:       "File System Activity",
	ClassProcessActivity:    "Process Activity",
	ClassAccountChange:      "Account Change",
	ClassAuthentication:     "Authentication",
	ClassAuthorizeSession:   "Authorize Session",
	ClassUserAccessMgmt:     "User Access Management",
	ClassAPIActivity:        "API Activity",
	ClassDatastoreActivity:  "Datastore Activity",
	ClassDetectionFinding:   "Detection Finding",
	ClassComplianceFinding:  "Compliance Finding",
	ClassConfigurationState: "Device Config State",
}

// ClassName returns the OCSF name of a class UID, or "" if Vigil does not know it.
func ClassName(uid int) string { return classNames[uid] }

// Activities an event may carry.
var activities = set("create", "read", "update", "delete", "logon", "logoff",
	"execute", "grant", "revoke", "query", "admit", "decide", "approve", "reject", "other")

// Outcomes an event may carry.
const (
	OutcomeSuccess = "success"
	OutcomeFailure = "failure"
	OutcomeDenied  = "denied"
	OutcomePending = "pending"
	OutcomeUnknown = "unknown"
)

var outcomes = set(OutcomeSuccess, OutcomeFailure, OutcomeDenied, OutcomePending, OutcomeUnknown)

var actorTypes = set("", "human", "service", "system")

var effects = set("allow", "deny", "review", "alert", "log")

// Limits on what one event may hold.
const (
	MaxEncodedSize = 1 << 20 // bytes of canonical encoding
	maxShortField  = 1024    // bytes of a name-like field
)

// Event is one action, as recorded in the audit log.
type Event struct {
	// Seq is the event's position in the log, assigned by the log when it is
	// appended. Callers leave it zero.
	Seq      uint64          `json:"seq"`
	ID       string          `json:"id"`
	Time     time.Time       `json:"time"`
	Source   string          `json:"source"`
	ClassUID int             `json:"class_uid"`
	Activity string          `json:"activity"`
	Actor    Actor           `json:"actor"`
	Action   string          `json:"action"`
	Resource Resource        `json:"resource"`
	Target   string          `json:"target,omitempty"`
	Outcome  string          `json:"outcome"`
	Decision *Decision       `json:"decision,omitempty"`
	ParentID string          `json:"parent_id,omitempty"`
	Attrs    map[string]any  `json:"attrs,omitempty"`
	Raw      json.RawMessage `json:"raw,omitempty"`
}

// Actor is who acted.
type Actor struct {
	User      string   `json:"user"`
	Roles     []string `json:"roles,omitempty"`
	Groups    []string `json:"groups,omitempty"`
	Type      string   `json:"type,omitempty"` // human | service | system
	SrcIP     string   `json:"src_ip,omitempty"`
	UserAgent string   `json:"user_agent,omitempty"`
	SessionID string   `json:"session_id,omitempty"`
}

// Resource is what was acted on.
type Resource struct {
	Type        string            `json:"type,omitempty"`
	ID          string            `json:"id,omitempty"`
	Name        string            `json:"name,omitempty"`
	Environment string            `json:"environment,omitempty"`
	Labels      map[string]string `json:"labels,omitempty"`
}

// Decision is what the policy engine decided about the action.
type Decision struct {
	Effect   string       `json:"effect"`
	Rules    []RuleResult `json:"rules,omitempty"`
	Message  string       `json:"message,omitempty"`
	ReviewID string       `json:"review_id,omitempty"`
}

// RuleResult is one rule that matched.
type RuleResult struct {
	ID       string `json:"id"`
	Effect   string `json:"effect"`
	Severity string `json:"severity,omitempty"`
	Message  string `json:"message,omitempty"`
	// DryRun marks a rule in dry-run mode: recorded, not enforced.
	DryRun bool `json:"dry_run,omitempty"`
}

// FieldError says which field of an event is wrong and why.
type FieldError struct {
	Field string
	Msg   string
}

func (e *FieldError) Error() string { return fmt.Sprintf("field %s: %s", e.Field, e.Msg) }

func fieldErr(field, format string, args ...any) error {
	return &FieldError{Field: field, Msg: fmt.Sprintf(format, args...)}
}

// Normalize fills what a caller may leave out (ID, Time, ClassUID) and checks the
// event. It returns the first problem found as a *FieldError.
func (e *Event) Normalize(now time.Time) error {
	if e.Seq != 0 {
		return fieldErr("seq", "is assigned by the log and must not be set")
	}
	if e.ID == "" {
		e.ID = ulid.Make().String()
	} else if _, err := ulid.ParseStrict(e.ID); err != nil {
		return fieldErr("id", "must be a ULID (got %q)", clip(e.ID))
	}
	if e.Time.IsZero() {
		e.Time = now
	}
	e.Time = e.Time.UTC()
	if y := e.Time.Year(); y < 1970 || y > 9999 {
		return fieldErr("time", "year %d is out of range", y)
	}
	if err := checkName("source", e.Source, true); err != nil {
		return err
	}
	if e.ClassUID == 0 {
		e.ClassUID = ClassAPIActivity
	} else if _, ok := classNames[e.ClassUID]; !ok {
		return fieldErr("class_uid", "unknown OCSF class %d", e.ClassUID)
	}
	if !activities[e.Activity] {
		return fieldErr("activity", "must be one of %s (got %q)", list(activities), clip(e.Activity))
	}
	if err := checkName("actor.user", e.Actor.User, true); err != nil {
		return err
	}
	if !actorTypes[e.Actor.Type] {
		return fieldErr("actor.type", "must be human, service or system (got %q)", clip(e.Actor.Type))
	}
	for i, r := range e.Actor.Roles {
		if checkName("", r, true) != nil { // name the field only on error
			return checkName(fmt.Sprintf("actor.roles[%d]", i), r, true)
		}
	}
	for i, g := range e.Actor.Groups {
		if checkName("", g, true) != nil {
			return checkName(fmt.Sprintf("actor.groups[%d]", i), g, true)
		}
	}
	for _, f := range []struct{ name, v string }{
		{"actor.src_ip", e.Actor.SrcIP}, {"actor.user_agent", e.Actor.UserAgent},
		{"actor.session_id", e.Actor.SessionID}, {"resource.type", e.Resource.Type},
		{"resource.id", e.Resource.ID}, {"resource.name", e.Resource.Name},
		{"resource.environment", e.Resource.Environment}, {"target", e.Target},
	} {
		if err := checkName(f.name, f.v, false); err != nil {
			return err
		}
	}
	if err := checkName("action", e.Action, true); err != nil {
		return err
	}
	if !outcomes[e.Outcome] {
		return fieldErr("outcome", "must be one of %s (got %q)", list(outcomes), clip(e.Outcome))
	}
	if d := e.Decision; d != nil {
		if !effects[d.Effect] {
			return fieldErr("decision.effect", "must be one of %s (got %q)", list(effects), clip(d.Effect))
		}
		for i, r := range d.Rules {
			if r.ID == "" {
				return fieldErr(fmt.Sprintf("decision.rules[%d].id", i), "is required")
			}
			if !effects[r.Effect] {
				return fieldErr(fmt.Sprintf("decision.rules[%d].effect", i), "must be one of %s (got %q)", list(effects), clip(r.Effect))
			}
		}
	}
	if e.ParentID != "" {
		if _, err := ulid.ParseStrict(e.ParentID); err != nil {
			return fieldErr("parent_id", "must be a ULID (got %q)", clip(e.ParentID))
		}
	}
	if len(e.Raw) > 0 && !json.Valid(e.Raw) {
		return fieldErr("raw", "is not valid JSON")
	}
	return nil
}

func checkName(field, v string, required bool) error {
	switch {
	case v == "" && required:
		return fieldErr(field, "is required")
	case len(v) > maxShortField:
		return fieldErr(field, "is %d bytes long; at most %d are allowed", len(v), maxShortField)
	case !utf8.ValidString(v):
		return fieldErr(field, "is not valid UTF-8")
	}
	return nil
}

// Body is the canonical encoding of an event without its sequence number: the
// bytes that follow `{"seq":N,` in the stored leaf. Callers encode the body once,
// before the log assigns a position, so that the log's critical section only
// splices in the number.
type Body []byte

// EncodeBody returns the canonical encoding of a normalized event, less its seq.
func EncodeBody(e *Event) (Body, error) {
	b, err := AppendBody(make([]byte, 0, 1024), e)
	if err != nil {
		return nil, err
	}
	return Body(b), nil
}

// AppendBody appends the canonical encoding of a normalized event, less its
// seq (what EncodeBody returns), to dst. Callers that encode many events use
// it to share one buffer; on error dst is returned unchanged in length.
func AppendBody(dst []byte, e *Event) ([]byte, error) {
	n := len(dst)
	b, err := appendBody(dst, e)
	if err != nil {
		return dst[:n], err
	}
	if size := len(b) - n; size+len(`{"seq":,`)+20 > MaxEncodedSize {
		return b[:n], fieldErr("(event)", "encodes to %d bytes; at most %d are allowed", size, MaxEncodedSize)
	}
	return b, nil
}

// Leaf returns the stored bytes of an event at position seq: `{"seq":N,` + body.
func (b Body) Leaf(seq uint64) []byte {
	return b.AppendLeaf(make([]byte, 0, len(b)+28), seq)
}

// AppendLeaf appends the stored bytes of the event at position seq to dst.
func (b Body) AppendLeaf(dst []byte, seq uint64) []byte {
	dst = append(dst, `{"seq":`...)
	dst = strconv.AppendUint(dst, seq, 10)
	dst = append(dst, ',')
	return append(dst, b...)
}

// LeafSeq reads the sequence number a stored leaf claims for itself, without
// decoding the rest. It reports false when the leaf does not start as Leaf writes.
func LeafSeq(leaf []byte) (uint64, bool) {
	const prefix = `{"seq":`
	if !bytes.HasPrefix(leaf, []byte(prefix)) {
		return 0, false
	}
	rest := leaf[len(prefix):]
	i := bytes.IndexByte(rest, ',')
	if i <= 0 || i > 20 || (i > 1 && rest[0] == '0') { // Leaf writes no leading zeros
		return 0, false
	}
	n, err := strconv.ParseUint(string(rest[:i]), 10, 64)
	if err != nil {
		return 0, false
	}
	return n, true
}

// Decode parses stored leaf bytes back into an Event.
func Decode(leaf []byte) (*Event, error) {
	var e Event
	if err := json.Unmarshal(leaf, &e); err != nil {
		return nil, fmt.Errorf("decode event: %w", err)
	}
	return &e, nil
}

func set(vs ...string) map[string]bool {
	m := make(map[string]bool, len(vs))
	for _, v := range vs {
		m[v] = true
	}
	return m
}

func list(m map[string]bool) string {
	var keys []string
	for k := range m {
		if k != "" {
			keys = append(keys, k)
		}
	}
	slices.Sort(keys)
	var b bytes.Buffer
	for i, k := range keys {
		if i > 0 {
			b.WriteString(", ")
		}
		b.WriteString(k)
	}
	return b.String()
}

func clip(s string) string {
	if len(s) > 64 {
		return s[:64] + "…"
	}
	return s
}
