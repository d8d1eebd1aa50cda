// Package server is Vigil's HTTP API: appending events, querying them, checkpoints
// and Merkle proofs, health and Prometheus metrics. Every read of the audit log is
// itself recorded in the log, with who asked and what for.
package server

import (
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/vigil-audit/vigil/internal/auditlog"
	"github.com/vigil-audit/vigil/internal/auth"
	"github.com/vigil-audit/vigil/internal/classify"
	"github.com/vigil-audit/vigil/internal/detect"
	"github.com/vigil-audit/vigil/internal/event"
	"github.com/vigil-audit/vigil/internal/ingest"
	"github.com/vigil-audit/vigil/internal/ingest/sources"
	"github.com/vigil-audit/vigil/internal/policy"
	"github.com/vigil-audit/vigil/internal/review"
	"github.com/vigil-audit/vigil/internal/store"
)

// Log keys.
const (
	keyMethod = "method"
	keyPath   = "path"
	keyStatus = "status"
	keyUser   = "user"
	keyErr    = "err"
)

// Options configure a Server.
type Options struct {
	Log      *auditlog.Log
	Auth     *auth.Authenticator
	Logger   *slog.Logger
	Gatherer prometheus.Gatherer
	// MaxBody bounds a request body in bytes (default 16 MiB).
	MaxBody int64
	// Policy decides actions for POST /v1/decide; nil leaves the route out.
	Policy *policy.Engine
	// Reviews serves /v1/reviews; nil leaves the routes out.
	Reviews *review.Manager
}

// Server serves the HTTP API.
type Server struct {
	log     *auditlog.Log
	auth    *auth.Authenticator
	logger  *slog.Logger
	maxBody int64
	policy  *policy.Engine
	reviews *review.Manager
	mux     *http.ServeMux
}

// New returns a Server.
func New(o Options) *Server {
	s := &Server{log: o.Log, auth: o.Auth, logger: o.Logger, maxBody: o.MaxBody, policy: o.Policy, reviews: o.Reviews, mux: http.NewServeMux()}
	if s.logger == nil {
		s.logger = slog.New(slog.DiscardHandler)
	}
	if s.maxBody <= 0 {
		s.maxBody = 16 << 20
	}
	gather := o.Gatherer
	if gather == nil {
		gather = prometheus.DefaultGatherer
	}
	s.mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		fmt.Fprintln(w, "ok")
	})
	s.mux.Handle("GET /metrics", promhttp.HandlerFor(gather, promhttp.HandlerOpts{}))
	s.handle("POST /v1/events", anyRole, s.appendEvents)
	s.handle("GET /v1/events", readers, s.queryEvents)
	s.handle("GET /v1/checkpoint", readers, s.checkpoint)
	s.handle("GET /v1/proof/inclusion", readers, s.inclusionProof)
	s.handle("GET /v1/proof/consistency", readers, s.consistencyProof)
	if s.policy != nil {
		s.handle("POST /v1/decide", anyRole, s.decide)
		s.handle("POST /v1/k8s/admit", anyRole, s.admit)
	}
	if s.reviews != nil {
		s.handle("GET /v1/reviews", anyRole, s.listReviews)
		s.handle("GET /v1/reviews/{id}", anyRole, s.getReview)
		s.handle("POST /v1/reviews/{id}/approve", anyRole, s.reviewVote(true))
		s.handle("POST /v1/reviews/{id}/deny", anyRole, s.reviewVote(false))
	}
	s.handle("POST /v1/ingest/{source}", anyRole, s.ingest)
	s.handle("GET /v1/alerts", readers, s.listAlerts)
	s.handle("POST /v1/alerts/{id}/ack", readers, s.alertStatus("acknowledged"))
	s.handle("POST /v1/alerts/{id}/resolve", readers, s.alertStatus("resolved"))
	return s
}

// ServeHTTP implements http.Handler.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) { s.mux.ServeHTTP(w, r) }

// Error is an error with the HTTP status and the message a client may see.
type Error struct {
	Status int
	Msg    string
}

func (e *Error) Error() string { return e.Msg }

func errorf(status int, format string, args ...any) error {
	return &Error{Status: status, Msg: fmt.Sprintf(format, args...)}
}

type access int

const (
	anyRole access = iota
	readers
)

type handlerFunc func(w http.ResponseWriter, r *http.Request, p auth.Principal) error

// handle registers h behind authentication and maps its error to a status in one
// place. Internal errors are logged and never shown to the client.
func (s *Server) handle(pattern string, acc access, h handlerFunc) {
	s.mux.HandleFunc(pattern, func(w http.ResponseWriter, r *http.Request) {
		p, err := s.authenticate(r, acc)
		if err == nil {
			err = h(w, r, p)
		}
		if err == nil {
			return
		}
		var he *Error
		if !errors.As(err, &he) {
			s.logger.Error("request failed", keyMethod, r.Method, keyPath, r.URL.Path, keyUser, p.User, keyErr, err)
			he = &Error{Status: http.StatusInternalServerError, Msg: "internal error"}
			if errors.Is(err, auditlog.ErrClosed) {
				he = &Error{Status: http.StatusServiceUnavailable, Msg: "shutting down"}
			}
		}
		if he.Status == http.StatusUnauthorized {
			w.Header().Set("WWW-Authenticate", `Bearer realm="vigil"`)
		}
		writeJSON(w, he.Status, map[string]string{"error": he.Msg})
	})
}

func (s *Server) authenticate(r *http.Request, acc access) (auth.Principal, error) {
	h := r.Header.Get("Authorization")
	secret, ok := strings.CutPrefix(h, "Bearer ")
	if !ok || secret == "" {
		return auth.Principal{}, errorf(http.StatusUnauthorized, "missing bearer token")
	}
	p, err := s.auth.Authenticate(r.Context(), secret)
	if errors.Is(err, auth.ErrInvalidToken) {
		s.auditAccess(r, auth.Principal{User: "unknown"}, event.OutcomeFailure, "invalid token")
		return auth.Principal{}, errorf(http.StatusUnauthorized, "invalid token")
	}
	if err != nil {
		return auth.Principal{}, err
	}
	if acc == readers && !auth.CanRead(p.Role) {
		s.auditAccess(r, p, event.OutcomeDenied, "role "+p.Role+" may not read the audit log")
		return p, errorf(http.StatusForbidden, "role %s may not read the audit log", p.Role)
	}
	return p, nil
}

// auditAccess records a refused request. A failure to record is logged: the
// request is refused either way.
func (s *Server) auditAccess(r *http.Request, p auth.Principal, outcome, reason string) {
	e := s.accessEvent(r, p, outcome)
	e.ClassUID = event.ClassAuthentication
	e.Activity = "logon"
	e.Attrs["reason"] = reason
	if _, err := s.log.Append(r.Context(), []event.Event{e}); err != nil {
		s.logger.Error("record refused request", keyPath, r.URL.Path, keyErr, err)
	}
}

func (s *Server) accessEvent(r *http.Request, p auth.Principal, outcome string) event.Event {
	role := []string(nil)
	if p.Role != "" {
		role = []string{p.Role}
	}
	return event.Event{
		Source: "vigil/api", ClassUID: event.ClassAPIActivity, Activity: "read",
		Actor:    event.Actor{User: p.User, Roles: role, Type: "human", SrcIP: remoteIP(r), UserAgent: r.UserAgent()},
		Action:   r.Method + " " + r.URL.Path,
		Resource: event.Resource{Type: "audit_log", Name: s.log.Origin()},
		Outcome:  outcome,
		Attrs:    map[string]any{"query": r.URL.RawQuery},
	}
}

// auditRead records a read before its result is returned; if it cannot be
// recorded, the read is refused (fail closed).
func (s *Server) auditRead(r *http.Request, p auth.Principal, attrs map[string]any) error {
	e := s.accessEvent(r, p, event.OutcomeSuccess)
	for k, v := range attrs {
		e.Attrs[k] = v
	}
	if _, err := s.log.Append(r.Context(), []event.Event{e}); err != nil {
		return fmt.Errorf("record read of the audit log: %w", err)
	}
	return nil
}

func remoteIP(r *http.Request) string {
	host := r.RemoteAddr
	if i := strings.LastIndexByte(host, ':'); i >= 0 {
		host = host[:i]
	}
	return strings.Trim(host, "[]")
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	enc := json.NewEncoder(w)
	enc.SetEscapeHTML(false)
	enc.Encode(v)
}

func (s *Server) appendEvents(w http.ResponseWriter, r *http.Request, p auth.Principal) error {
	body := http.MaxBytesReader(w, r.Body, s.maxBody)
	evs, err := event.ParseBatch(body, time.Now())
	var mbe *http.MaxBytesError
	switch {
	case errors.As(err, &mbe):
		return errorf(http.StatusRequestEntityTooLarge, "request body is larger than %d bytes; nothing appended", s.maxBody)
	case err != nil:
		var ie *event.InputError
		if errors.As(err, &ie) {
			return errorf(http.StatusBadRequest, "%v; nothing appended", err)
		}
		return errorf(http.StatusBadRequest, "read request body: %v; nothing appended", err)
	case len(evs) == 0:
		return errorf(http.StatusBadRequest, "no events in the request body")
	}
	first, err := s.log.Append(r.Context(), evs)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, map[string]uint64{
		"appended": uint64(len(evs)), "first_seq": first, "last_seq": first + uint64(len(evs)) - 1,
	})
	return nil
}

func parseQuery(r *http.Request) (store.Query, error) {
	v := r.URL.Query()
	q := store.Query{
		Source: v.Get("source"), Actor: v.Get("actor"), Action: v.Get("action"), Resource: v.Get("resource"),
		Outcome: v.Get("outcome"), Target: v.Get("target"), Text: v.Get("q"),
	}
	for _, f := range []struct {
		name string
		dst  *time.Time
	}{{"since", &q.Since}, {"until", &q.Until}} {
		if s := v.Get(f.name); s != "" {
			t, err := time.Parse(time.RFC3339Nano, s)
			if err != nil {
				return q, errorf(http.StatusBadRequest, "parameter %s: %q is not an RFC 3339 time", f.name, s)
			}
			*f.dst = t
		}
	}
	if s := v.Get("limit"); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil || n < 1 || n > store.MaxLimit {
			return q, errorf(http.StatusBadRequest, "parameter limit: %q is not a number from 1 to %d", s, store.MaxLimit)
		}
		q.Limit = n
	}
	if s := v.Get("cursor"); s != "" {
		n, err := strconv.ParseUint(s, 10, 64)
		if err != nil {
			return q, errorf(http.StatusBadRequest, "parameter cursor: %q is not a cursor returned by this API", s)
		}
		q.AfterSeq, q.HasAfter = n, true
	}
	for name := range v {
		switch name {
		case "source", "actor", "action", "resource", "outcome", "target", "q", "since", "until", "limit", "cursor":
		default:
			return q, errorf(http.StatusBadRequest, "unknown parameter %q", name)
		}
	}
	return q, nil
}

// storedEvent is how an entry is returned: the stored event bytes verbatim, or,
// for an entry whose payload retention dropped, its position and leaf hash.
func storedEvent(e store.Entry) json.RawMessage {
	if e.Payload != nil {
		return e.Payload
	}
	b, _ := json.Marshal(map[string]any{
		"seq": e.Seq, "time": e.Meta.Time, "leaf_hash": e.LeafHash, "payload_dropped": true,
	})
	return b
}

func (s *Server) queryEvents(w http.ResponseWriter, r *http.Request, p auth.Principal) error {
	q, err := parseQuery(r)
	if err != nil {
		return err
	}
	if err := s.auditRead(r, p, nil); err != nil {
		return err
	}
	entries, err := s.log.Store().Query(r.Context(), q)
	if err != nil {
		return err
	}
	out := struct {
		Events     []json.RawMessage `json:"events"`
		NextCursor string            `json:"next_cursor,omitempty"`
	}{Events: make([]json.RawMessage, 0, len(entries))}
	for _, e := range entries {
		out.Events = append(out.Events, storedEvent(e))
	}
	if len(entries) == store.ClampLimit(q.Limit) && len(entries) > 0 {
		out.NextCursor = strconv.FormatUint(entries[len(entries)-1].Seq, 10)
	}
	writeJSON(w, http.StatusOK, out)
	return nil
}

func (s *Server) checkpoint(w http.ResponseWriter, r *http.Request, p auth.Principal) error {
	if err := s.auditRead(r, p, nil); err != nil {
		return err
	}
	// The checkpoint read is itself an event, so the head now covers it.
	head := s.log.Head()
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.Write(head.Note)
	return nil
}

func uintParam(r *http.Request, name string, required bool) (uint64, error) {
	s := r.URL.Query().Get(name)
	if s == "" {
		if required {
			return 0, errorf(http.StatusBadRequest, "parameter %s is required", name)
		}
		return 0, nil
	}
	n, err := strconv.ParseUint(s, 10, 64)
	if err != nil {
		return 0, errorf(http.StatusBadRequest, "parameter %s: %q is not a non-negative integer", name, s)
	}
	return n, nil
}

func b64s(hs [][]byte) []string {
	out := make([]string, len(hs))
	for i, h := range hs {
		out[i] = base64.StdEncoding.EncodeToString(h)
	}
	return out
}

func (s *Server) inclusionProof(w http.ResponseWriter, r *http.Request, p auth.Principal) error {
	seq, err := uintParam(r, "seq", true)
	if err != nil {
		return err
	}
	size, err := uintParam(r, "size", false)
	if err != nil {
		return err
	}
	if err := s.auditRead(r, p, nil); err != nil {
		return err
	}
	head := s.log.Head()
	if size == 0 {
		size = head.Size
	}
	lh, proof, err := s.log.InclusionProof(r.Context(), seq, size)
	if errors.Is(err, auditlog.ErrOutOfRange) {
		return errorf(http.StatusBadRequest, "%v", err)
	}
	if err != nil {
		return err
	}
	resp := map[string]any{
		"seq": seq, "size": size, "leaf_hash": base64.StdEncoding.EncodeToString(lh), "proof": b64s(proof),
	}
	if size == head.Size {
		resp["checkpoint"] = string(head.Note)
	}
	writeJSON(w, http.StatusOK, resp)
	return nil
}

func (s *Server) consistencyProof(w http.ResponseWriter, r *http.Request, p auth.Principal) error {
	from, err := uintParam(r, "from", true)
	if err != nil {
		return err
	}
	to, err := uintParam(r, "to", false)
	if err != nil {
		return err
	}
	if err := s.auditRead(r, p, nil); err != nil {
		return err
	}
	head := s.log.Head()
	if to == 0 {
		to = head.Size
	}
	proof, err := s.log.ConsistencyProof(r.Context(), from, to)
	if errors.Is(err, auditlog.ErrOutOfRange) {
		return errorf(http.StatusBadRequest, "%v", err)
	}
	if err != nil {
		return err
	}
	resp := map[string]any{"from": from, "to": to, "proof": b64s(proof)}
	if to == head.Size {
		resp["checkpoint"] = string(head.Note)
	}
	writeJSON(w, http.StatusOK, resp)
	return nil
}

// decide answers POST /v1/decide: an Action in, its Decision out. The decision
// is recorded in the audit log before it is returned; if it cannot be
// recorded, the request fails and the caller must not act (fail closed).
func (s *Server) decide(w http.ResponseWriter, r *http.Request, p auth.Principal) error {
	dec := json.NewDecoder(http.MaxBytesReader(w, r.Body, s.maxBody))
	dec.DisallowUnknownFields()
	var a classify.Action
	if err := dec.Decode(&a); err != nil {
		return errorf(http.StatusBadRequest, "request body is not an action: %s", strings.TrimPrefix(err.Error(), "json: "))
	}
	switch a.Kind {
	case classify.KindSQL, classify.KindShell, classify.KindKubernetes, classify.KindAWS, classify.KindTerraform:
	default:
		return errorf(http.StatusBadRequest, "field kind: must be sql, shell, kubernetes, aws or terraform (got %q)", a.Kind)
	}
	if a.Actor.User == "" {
		a.Actor.User = p.User
	}
	d, derr := s.policy.Decide(r.Context(), &a) // on error d is a deny decision
	e := decisionEvent(r, p, &a, d)
	if _, err := s.log.Append(r.Context(), []event.Event{e}); err != nil {
		var ie *event.InputError
		if errors.As(err, &ie) {
			return errorf(http.StatusBadRequest, "the action cannot be recorded: %v", ie.Err)
		}
		return fmt.Errorf("record decision: %w", err)
	}
	if derr != nil {
		s.logger.Warn("decision failed closed", keyUser, p.User, keyErr, derr)
	}
	writeJSON(w, http.StatusOK, d)
	return nil
}

func decisionEvent(r *http.Request, p auth.Principal, a *classify.Action, d *policy.Decision) event.Event {
	outcome, ed := d.Record()
	class := event.ClassAPIActivity
	if a.Kind == classify.KindSQL {
		class = event.ClassDatastoreActivity
	}
	attrs := map[string]any{"requested_by": p.User}
	switch a.Kind {
	case classify.KindSQL:
		attrs["sql.text"] = a.SQL
	case classify.KindShell:
		attrs["shell.command"] = a.Command
	}
	return event.Event{
		Source: "vigil/decide", ClassUID: class, Activity: "decide",
		Actor:    event.Actor{User: a.Actor.User, Roles: a.Actor.Roles, Groups: a.Actor.Groups, SrcIP: remoteIP(r), UserAgent: r.UserAgent()},
		Action:   a.Kind,
		Resource: event.Resource{Type: a.Kind, Name: a.Connection, Environment: a.Environment},
		Target:   a.Connection,
		Outcome:  outcome,
		Decision: ed,
		Attrs:    attrs,
	}
}

// ingest answers POST /v1/ingest/{source}: a body in the source's own format
// (a CloudTrail log file, a Kubernetes audit EventList as the API server's
// webhook backend sends it, GitHub audit events). Well-formed records are
// appended, durably, before the answer; malformed ones are counted and listed
// with their position and reason, and do not stop the rest.
func (s *Server) ingest(w http.ResponseWriter, r *http.Request, p auth.Principal) error {
	name := r.PathValue("source")
	parser, ok := sources.Parser(name)
	if !ok {
		return errorf(http.StatusNotFound, "unknown source %q (want one of %s)", name, strings.Join(sources.Names(), ", "))
	}
	body, err := ingest.Decompress(http.MaxBytesReader(w, r.Body, s.maxBody))
	if err != nil {
		return errorf(http.StatusBadRequest, "read request body: %v", err)
	}
	var evs []event.Event
	stats, err := parser.Parse(body, "body", func(e event.Event) error {
		evs = append(evs, e)
		return nil
	})
	var mbe *http.MaxBytesError
	if errors.As(err, &mbe) {
		return errorf(http.StatusRequestEntityTooLarge, "request body is larger than %d bytes; nothing appended", s.maxBody)
	}
	if err != nil {
		return errorf(http.StatusBadRequest, "read request body: %v; nothing appended", err)
	}
	type reject struct {
		Position string `json:"position"`
		Reason   string `json:"reason"`
	}
	resp := struct {
		Accepted   int      `json:"accepted"`
		Rejected   int      `json:"rejected"`
		Skipped    int      `json:"skipped"`
		Duplicates int      `json:"duplicates"`
		Appended   int      `json:"appended"`
		FirstSeq   *uint64  `json:"first_seq,omitempty"`
		LastSeq    *uint64  `json:"last_seq,omitempty"`
		Rejects    []reject `json:"rejects,omitempty"`
	}{Accepted: stats.Accepted, Rejected: stats.Rejected, Skipped: stats.Skipped}
	for _, rj := range stats.Rejects {
		resp.Rejects = append(resp.Rejects, reject{rj.Position, rj.Reason})
	}
	if len(evs) > 0 {
		keys := make([]string, len(evs))
		for i := range evs {
			keys[i] = ingest.DedupKey(&evs[i])
		}
		first, appended, err := s.log.AppendUnique(r.Context(), evs, keys)
		if err != nil {
			return err
		}
		resp.Appended, resp.Duplicates = len(appended), len(evs)-len(appended)
		if len(appended) > 0 {
			last := first + uint64(len(appended)) - 1
			resp.FirstSeq, resp.LastSeq = &first, &last
		}
	}
	if stats.Rejected > 0 {
		s.logger.Warn("ingest rejected records", "source", name, keyUser, p.User, "rejected", stats.Rejected)
		if _, err := s.log.Append(r.Context(), ingest.DeadLetters(name, stats)); err != nil {
			return fmt.Errorf("record rejected records: %w", err)
		}
	}
	writeJSON(w, http.StatusOK, resp)
	return nil
}

// admissionReview is the part of an AdmissionReview v1 the webhook reads.
type admissionReview struct {
	APIVersion string          `json:"apiVersion"`
	Kind       string          `json:"kind"`
	Request    json.RawMessage `json:"request"`
}

// admit answers POST /v1/k8s/admit as a Kubernetes ValidatingAdmissionWebhook:
// an AdmissionReview v1 in, the same with its response out, uid echoed. The
// environment comes from the webhook URL's query (?environment=...&connection=...)
// and is production when absent, so that a misconfigured URL fails closed.
// Deny and review both refuse the request; the decision is in the audit log
// before the answer.
func (s *Server) admit(w http.ResponseWriter, r *http.Request, p auth.Principal) error {
	var ar admissionReview
	if err := json.NewDecoder(http.MaxBytesReader(w, r.Body, s.maxBody)).Decode(&ar); err != nil {
		return errorf(http.StatusBadRequest, "request body is not an AdmissionReview: %s", strings.TrimPrefix(err.Error(), "json: "))
	}
	var req struct {
		UID      string `json:"uid"`
		UserInfo struct {
			Username string   `json:"username"`
			Groups   []string `json:"groups"`
		} `json:"userInfo"`
	}
	if ar.Kind != "AdmissionReview" || len(ar.Request) == 0 || json.Unmarshal(ar.Request, &req) != nil || req.UID == "" {
		return errorf(http.StatusBadRequest, "request body is not an AdmissionReview v1 with a request and its uid")
	}
	env := r.URL.Query().Get("environment")
	if env == "" {
		env = "production"
	}
	a := classify.Action{Kind: classify.KindKubernetes, Kubernetes: ar.Request, Environment: env,
		Connection: r.URL.Query().Get("connection"),
		Actor:      classify.Actor{User: req.UserInfo.Username, Groups: req.UserInfo.Groups}}
	if a.Actor.User == "" {
		a.Actor.User = "system:unknown"
	}
	d, derr := s.policy.Decide(r.Context(), &a)
	e := decisionEvent(r, p, &a, d)
	if _, err := s.log.Append(r.Context(), []event.Event{e}); err != nil {
		return fmt.Errorf("record admission decision: %w", err)
	}
	if derr != nil {
		s.logger.Warn("admission decision failed closed", keyUser, p.User, keyErr, derr)
	}
	resp := map[string]any{"uid": req.UID, "allowed": d.Effect == policy.EffectAllow}
	if d.Effect != policy.EffectAllow {
		msg := "denied by Vigil: " + d.Message
		if d.Effect == policy.EffectReview {
			msg = "review required by Vigil: " + d.Message
		}
		resp["status"] = map[string]any{"code": http.StatusForbidden, "reason": "Forbidden", "message": msg}
	}
	apiVersion := ar.APIVersion
	if apiVersion == "" {
		apiVersion = "admission.k8s.io/v1"
	}
	writeJSON(w, http.StatusOK, map[string]any{"apiVersion": apiVersion, "kind": "AdmissionReview", "response": resp})
	return nil
}

// maxAlertEvents bounds how many alert events GET /v1/alerts folds.
const maxAlertEvents = 10000

// alerts folds the alert events of the log: raised alerts, then their status
// changes, in log order.
func (s *Server) alerts(r *http.Request) ([]*detect.Alert, map[string]*detect.Alert, error) {
	var list []*detect.Alert
	byID := map[string]*detect.Alert{}
	q := store.Query{Source: detect.Source, Limit: store.MaxLimit}
	for read := 0; read < maxAlertEvents; {
		entries, err := s.log.Store().Query(r.Context(), q)
		if err != nil {
			return nil, nil, err
		}
		for _, en := range entries {
			ev, err := event.Decode(en.Payload)
			if err != nil || ev == nil {
				continue
			}
			switch ev.Action {
			case "alert":
				a, err := detect.AlertFromEvent(ev)
				if err != nil {
					continue
				}
				list = append(list, a)
				byID[a.ID] = a
			case "alert.acknowledged", "alert.resolved":
				id, _ := ev.Attrs["alert.id"].(string)
				if a := byID[id]; a != nil {
					a.Status = strings.TrimPrefix(ev.Action, "alert.")
				}
			}
		}
		read += len(entries)
		if len(entries) < store.MaxLimit {
			break
		}
		q.AfterSeq, q.HasAfter = entries[len(entries)-1].Seq, true
	}
	return list, byID, nil
}

func (s *Server) listAlerts(w http.ResponseWriter, r *http.Request, p auth.Principal) error {
	status := r.URL.Query().Get("status")
	switch status {
	case "", "open", "acknowledged", "resolved":
	default:
		return errorf(http.StatusBadRequest, "parameter status: %q is not one of open, acknowledged, resolved", status)
	}
	if err := s.auditRead(r, p, nil); err != nil {
		return err
	}
	list, _, err := s.alerts(r)
	if err != nil {
		return err
	}
	out := make([]*detect.Alert, 0, len(list))
	for _, a := range list {
		if status == "" || a.Status == status {
			out = append(out, a)
		}
	}
	writeJSON(w, http.StatusOK, map[string]any{"alerts": out})
	return nil
}

// alertStatus records an acknowledgement or resolution as an event of its own.
func (s *Server) alertStatus(status string) handlerFunc {
	return func(w http.ResponseWriter, r *http.Request, p auth.Principal) error {
		id := r.PathValue("id")
		_, byID, err := s.alerts(r)
		if err != nil {
			return err
		}
		a := byID[id]
		if a == nil {
			return errorf(http.StatusNotFound, "no alert %q", id)
		}
		ev := event.Event{
			Source: detect.Source, ClassUID: event.ClassDetectionFinding, Activity: "update",
			Actor:    event.Actor{User: p.User, Roles: []string{p.Role}, Type: "human", SrcIP: remoteIP(r), UserAgent: r.UserAgent()},
			Action:   "alert." + status,
			Resource: event.Resource{Type: "alert", ID: a.ID, Name: a.Title},
			Outcome:  event.OutcomeSuccess,
			ParentID: a.ID,
			Attrs:    map[string]any{"alert.id": a.ID, "alert.rule_id": a.RuleID},
		}
		if _, err := s.log.Append(r.Context(), []event.Event{ev}); err != nil {
			return fmt.Errorf("record alert status: %w", err)
		}
		a.Status = status
		writeJSON(w, http.StatusOK, a)
		return nil
	}
}
