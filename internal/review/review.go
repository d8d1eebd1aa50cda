// Package review is Vigil's approval workflow for actions the policy engine
// sends to review. A refused action opens a review request; users holding an
// approver role, other than the requester, approve or deny it; once the
// configured number of approvals is reached, the same action (same SQL
// fingerprint, same user, same connection) may run until the approval window
// ends.
//
// The audit log is the only state: every request, approval and denial is an
// event (source vigil/review, actions review.request, review.approve,
// review.deny), and a Manager folds those events into the reviews' current
// state. Folding is incremental and idempotent, so several Vigil nodes
// sharing one log see each other's approvals, and a restart loses nothing.
package review

import (
	"context"
	"crypto/rand"
	"encoding/base32"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/vigil-audit/vigil/internal/auditlog"
	"github.com/vigil-audit/vigil/internal/event"
	"github.com/vigil-audit/vigil/internal/store"
)

// Source is the source of every review event.
const Source = "vigil/review"

// Actions of review events.
const (
	ActionRequest = "review.request"
	ActionApprove = "review.approve"
	ActionDeny    = "review.deny"
)

// Statuses of a review.
const (
	StatusPending  = "pending"
	StatusApproved = "approved"
	StatusDenied   = "denied"
	StatusExpired  = "expired"
)

// Errors the Manager returns; callers map them to statuses.
var (
	ErrNotFound  = errors.New("no such review")
	ErrForbidden = errors.New("not allowed to decide this review")
	ErrConflict  = errors.New("review is not pending")
)

// Config tunes the workflow.
type Config struct {
	// Approvers is how many distinct approvals a request needs (default 1).
	Approvers int
	// Expiry is how long a request stays open for approval (default 24h).
	Expiry time.Duration
	// Window is how long an approved action may run after the approval that
	// completed it (default 1h).
	Window time.Duration
	// ApproverRoles are the token roles allowed to approve or deny (default
	// admin).
	ApproverRoles []string
}

func (c Config) withDefaults() Config {
	if c.Approvers <= 0 {
		c.Approvers = 1
	}
	if c.Expiry <= 0 {
		c.Expiry = 24 * time.Hour
	}
	if c.Window <= 0 {
		c.Window = time.Hour
	}
	if len(c.ApproverRoles) == 0 {
		c.ApproverRoles = []string{"admin"}
	}
	return c
}

// Rule is a rule that sent the action to review.
type Rule struct {
	ID      string `json:"id"`
	Message string `json:"message,omitempty"`
}

// Vote is one approval or denial.
type Vote struct {
	User    string    `json:"user"`
	Time    time.Time `json:"time"`
	Comment string    `json:"comment,omitempty"`
}

// Review is one request and what became of it.
type Review struct {
	ID          string    `json:"id"`
	Status      string    `json:"status"`
	Requester   string    `json:"requester"`
	Connection  string    `json:"connection"`
	Environment string    `json:"environment,omitempty"`
	Kind        string    `json:"kind"`
	Fingerprint string    `json:"fingerprint"`
	Statement   string    `json:"statement"`
	Rules       []Rule    `json:"rules,omitempty"`
	Created     time.Time `json:"created"`
	Expires     time.Time `json:"expires"`
	Required    int       `json:"approvals_required"`
	Approvals   []Vote    `json:"approvals"`
	Denial      *Vote     `json:"denial,omitempty"`
	// ApprovedUntil is the end of the approval window, once approved.
	ApprovedUntil time.Time `json:"approved_until,omitzero"`
}

// status is the review's status at now.
func (r *Review) status(now time.Time) string {
	switch {
	case r.Denial != nil:
		return StatusDenied
	case !r.ApprovedUntil.IsZero():
		if now.After(r.ApprovedUntil) {
			return StatusExpired
		}
		return StatusApproved
	case now.After(r.Expires):
		return StatusExpired
	}
	return StatusPending
}

// Request is what a gateway knows of an action sent to review.
type Request struct {
	Requester   string
	Roles       []string
	SrcIP       string
	SessionID   string
	Connection  string
	Environment string
	Kind        string
	Fingerprint string
	// Statement is the action's text as the audit log records it (redacted
	// when the connection redacts literals).
	Statement string
	Rules     []Rule
}

// Principal is who approves or denies.
type Principal struct {
	User string
	Role string
}

type key struct{ user, conn, fp string }

// maxComment bounds a vote's comment, in bytes.
const maxComment = 4096

// Manager folds the log's review events and records new ones.
type Manager struct {
	cfg Config
	log *auditlog.Log
	now func() time.Time

	mu       sync.Mutex
	byID     map[string]*Review
	byKey    map[key][]*Review
	order    []*Review
	after    uint64
	hasAfter bool
}

// New returns a Manager recording in lg.
func New(lg *auditlog.Log, cfg Config) *Manager {
	return &Manager{cfg: cfg.withDefaults(), log: lg, now: time.Now, byID: map[string]*Review{}, byKey: map[key][]*Review{}}
}

// SetClock replaces the clock (for tests).
func (m *Manager) SetClock(now func() time.Time) { m.now = now }

// Config returns the effective configuration.
func (m *Manager) Config() Config { return m.cfg }

// Refresh folds the review events appended since the last fold.
func (m *Manager) Refresh(ctx context.Context) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.refresh(ctx)
}

func (m *Manager) refresh(ctx context.Context) error {
	q := store.Query{Source: Source, Limit: store.MaxLimit, AfterSeq: m.after, HasAfter: m.hasAfter}
	for {
		entries, err := m.log.Store().Query(ctx, q)
		if err != nil {
			return fmt.Errorf("read review events: %w", err)
		}
		for _, en := range entries {
			if en.Payload != nil {
				if ev, err := event.Decode(en.Payload); err == nil && ev != nil {
					m.apply(ev)
				}
			}
			m.after, m.hasAfter = en.Seq, true
		}
		if len(entries) < store.MaxLimit {
			return nil
		}
		q.AfterSeq, q.HasAfter = m.after, true
	}
}

func attr(ev *event.Event, k string) string {
	s, _ := ev.Attrs[k].(string)
	return s
}

func attrTime(ev *event.Event, k string) time.Time {
	t, _ := time.Parse(time.RFC3339Nano, attr(ev, k))
	return t
}

// apply folds one event. It is idempotent: the fold reads back the events
// this Manager appended itself.
func (m *Manager) apply(ev *event.Event) {
	id := attr(ev, "review.id")
	if id == "" {
		return
	}
	switch ev.Action {
	case ActionRequest:
		if m.byID[id] != nil {
			return
		}
		r := &Review{
			ID: id, Requester: ev.Actor.User, Connection: ev.Target, Environment: ev.Resource.Environment,
			Kind: attr(ev, "review.kind"), Fingerprint: attr(ev, "review.fingerprint"),
			Statement: attr(ev, "review.statement"), Created: ev.Time,
			Expires: attrTime(ev, "review.expires"), Approvals: []Vote{},
		}
		r.Required, _ = intAttr(ev.Attrs["review.approvals_required"])
		if r.Required <= 0 {
			r.Required = 1
		}
		rules, _ := ev.Attrs["review.rules"].([]any)
		for _, x := range rules {
			if m, ok := x.(map[string]any); ok {
				id, _ := m["id"].(string)
				msg, _ := m["message"].(string)
				r.Rules = append(r.Rules, Rule{ID: id, Message: msg})
			}
		}
		m.byID[id] = r
		k := key{r.Requester, r.Connection, r.Fingerprint}
		m.byKey[k] = append(m.byKey[k], r)
		m.order = append(m.order, r)
	case ActionApprove:
		r := m.byID[id]
		if r == nil || r.Denial != nil || !r.ApprovedUntil.IsZero() {
			return
		}
		if slices.ContainsFunc(r.Approvals, func(v Vote) bool { return v.User == ev.Actor.User }) {
			return
		}
		r.Approvals = append(r.Approvals, Vote{User: ev.Actor.User, Time: ev.Time, Comment: attr(ev, "review.comment")})
		if until := attrTime(ev, "review.approved_until"); !until.IsZero() {
			r.ApprovedUntil = until
		}
	case ActionDeny:
		r := m.byID[id]
		if r == nil || r.Denial != nil || !r.ApprovedUntil.IsZero() {
			return
		}
		r.Denial = &Vote{User: ev.Actor.User, Time: ev.Time, Comment: attr(ev, "review.comment")}
	}
}

func intAttr(v any) (int, bool) {
	switch n := v.(type) {
	case float64:
		return int(n), true
	case int:
		return n, true
	case int64:
		return int(n), true
	}
	return 0, false
}

// snapshot copies r with its status at now.
func (m *Manager) snapshot(r *Review, now time.Time) *Review {
	c := *r
	c.Status = r.status(now)
	c.Approvals = slices.Clone(r.Approvals)
	if c.Approvals == nil {
		c.Approvals = []Vote{}
	}
	c.Rules = slices.Clone(r.Rules)
	return &c
}

// Approved returns the approved review that lets user run the action with
// fingerprint fp on conn now, or nil.
func (m *Manager) Approved(ctx context.Context, user, conn, fp string) (*Review, error) {
	if fp == "" {
		return nil, nil
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if err := m.refresh(ctx); err != nil {
		return nil, err
	}
	now := m.now()
	for _, r := range m.byKey[key{user, conn, fp}] {
		if r.status(now) == StatusApproved {
			return m.snapshot(r, now), nil
		}
	}
	return nil, nil
}

// Open returns the pending review for the request's user, connection and
// fingerprint, or records a new one. created reports which.
func (m *Manager) Open(ctx context.Context, req Request) (r *Review, created bool, err error) {
	if req.Fingerprint == "" {
		return nil, false, errors.New("open review: the action has no fingerprint")
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if err := m.refresh(ctx); err != nil {
		return nil, false, err
	}
	now := m.now()
	for _, r := range m.byKey[key{req.Requester, req.Connection, req.Fingerprint}] {
		if r.status(now) == StatusPending {
			return m.snapshot(r, now), false, nil
		}
	}
	id, err := newID()
	if err != nil {
		return nil, false, err
	}
	expires := now.Add(m.cfg.Expiry).UTC()
	// The rules go in attrs, not in a Decision: the statement's own intent
	// event carries the decision, and detections on decisions should see it
	// once.
	rules := make([]any, 0, len(req.Rules))
	for _, rr := range req.Rules {
		rules = append(rules, map[string]any{"id": rr.ID, "message": rr.Message})
	}
	ev := event.Event{
		Source: Source, ClassUID: event.ClassAPIActivity, Activity: "create",
		Actor:    event.Actor{User: req.Requester, Roles: req.Roles, SrcIP: req.SrcIP, SessionID: req.SessionID},
		Action:   ActionRequest,
		Resource: event.Resource{Type: "review", ID: id, Name: req.Connection, Environment: req.Environment},
		Target:   req.Connection,
		Outcome:  event.OutcomePending,
		Attrs: map[string]any{
			"review.rules": rules,
			"review.id":    id, "review.kind": req.Kind, "review.fingerprint": req.Fingerprint,
			"review.statement": req.Statement, "review.requester": req.Requester,
			"review.expires": expires.Format(time.RFC3339Nano), "review.approvals_required": m.cfg.Approvers,
		},
	}
	if err := m.record(ctx, &ev); err != nil {
		return nil, false, fmt.Errorf("open review: %w", err)
	}
	m.apply(&ev)
	return m.snapshot(m.byID[id], now), true, nil
}

// record appends ev durably, normalizing it first.
func (m *Manager) record(ctx context.Context, ev *event.Event) error {
	if err := ev.Normalize(m.now()); err != nil {
		return err
	}
	_, err := m.log.Append(ctx, []event.Event{*ev})
	return err
}

// Approve records by's approval of review id. The requester cannot approve
// their own review, and by must hold an approver role.
func (m *Manager) Approve(ctx context.Context, id string, by Principal, comment string) (*Review, error) {
	return m.vote(ctx, id, by, comment, ActionApprove)
}

// Deny records by's denial of review id; one denial closes the review.
func (m *Manager) Deny(ctx context.Context, id string, by Principal, comment string) (*Review, error) {
	return m.vote(ctx, id, by, comment, ActionDeny)
}

func (m *Manager) vote(ctx context.Context, id string, by Principal, comment, action string) (*Review, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	r, err := m.lookup(ctx, id)
	if err != nil {
		return nil, err
	}
	now := m.now()
	verb := strings.TrimPrefix(action, "review.")
	switch {
	case by.User == r.Requester:
		return nil, fmt.Errorf("review %s: %w: %s requested it and cannot %s it", id, ErrForbidden, by.User, verb)
	case !slices.Contains(m.cfg.ApproverRoles, by.Role):
		return nil, fmt.Errorf("review %s: %w: role %q is not an approver role (%s)", id, ErrForbidden, by.Role, strings.Join(m.cfg.ApproverRoles, ", "))
	}
	if st := r.status(now); st != StatusPending {
		return nil, fmt.Errorf("review %s: %w: it is %s", id, ErrConflict, st)
	}
	if action == ActionApprove && slices.ContainsFunc(r.Approvals, func(v Vote) bool { return v.User == by.User }) {
		return nil, fmt.Errorf("review %s: %w: %s has already approved it", id, ErrConflict, by.User)
	}
	if len(comment) > maxComment {
		comment = strings.ToValidUTF8(comment[:maxComment], "")
	}
	status := StatusDenied
	attrs := map[string]any{
		"review.id": id, "review.requester": r.Requester, "review.fingerprint": r.Fingerprint,
		"review.approvals_required": r.Required,
	}
	outcome := event.OutcomeSuccess
	if action == ActionApprove {
		status = StatusPending
		attrs["review.approvals"] = len(r.Approvals) + 1
		if len(r.Approvals)+1 >= r.Required {
			status = StatusApproved
			attrs["review.approved_until"] = now.Add(m.cfg.Window).UTC().Format(time.RFC3339Nano)
		}
	}
	attrs["review.status"] = status
	if comment != "" {
		attrs["review.comment"] = comment
	}
	ev := event.Event{
		Source: Source, ClassUID: event.ClassAPIActivity, Activity: "update",
		Actor:    event.Actor{User: by.User, Roles: []string{by.Role}, Type: "human"},
		Action:   action,
		Resource: event.Resource{Type: "review", ID: id, Name: r.Connection, Environment: r.Environment},
		Target:   r.Connection,
		Outcome:  outcome,
		Attrs:    attrs,
	}
	if err := m.record(ctx, &ev); err != nil {
		return nil, fmt.Errorf("record review %s: %w", verb, err)
	}
	m.apply(&ev)
	return m.snapshot(r, now), nil
}

// Get returns one review.
func (m *Manager) Get(ctx context.Context, id string) (*Review, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	r, err := m.lookup(ctx, id)
	if err != nil {
		return nil, err
	}
	return m.snapshot(r, m.now()), nil
}

// lookup folds what is new and finds review id. m.mu is held.
func (m *Manager) lookup(ctx context.Context, id string) (*Review, error) {
	if err := m.refresh(ctx); err != nil {
		return nil, err
	}
	r := m.byID[id]
	if r == nil {
		return nil, fmt.Errorf("review %q: %w", id, ErrNotFound)
	}
	return r, nil
}

// List returns the reviews with the given status ("" for all) requested by
// requester ("" for anyone), newest first.
func (m *Manager) List(ctx context.Context, status, requester string) ([]*Review, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if err := m.refresh(ctx); err != nil {
		return nil, err
	}
	now := m.now()
	out := []*Review{}
	for i := len(m.order) - 1; i >= 0; i-- {
		r := m.order[i]
		if requester != "" && r.Requester != requester {
			continue
		}
		if s := m.snapshot(r, now); status == "" || s.Status == status {
			out = append(out, s)
		}
	}
	return out, nil
}

// ValidStatus reports whether s is a status List filters on.
func ValidStatus(s string) bool {
	switch s {
	case "", StatusPending, StatusApproved, StatusDenied, StatusExpired:
		return true
	}
	return false
}

var idEncoding = base32.NewEncoding("abcdefghijkmnpqrstuvwxyz23456789").WithPadding(base32.NoPadding)

// newID returns a short random review id such as "rv-3kq9x7md2a".
func newID() (string, error) {
	var b [7]byte
	if _, err := rand.Read(b[:]); err != nil {
		return "", fmt.Errorf("review id: %w", err)
	}
	return "rv-" + idEncoding.EncodeToString(b[:]), nil
}
