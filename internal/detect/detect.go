// Package detect runs detections over the audit log as a stream: it reads
// events by sequence number from a cursor kept in the store, matches them
// against Sigma rules, and raises alerts. An alert is itself an event in the
// log (source "vigil/detect", OCSF Detection Finding), appended with a dedup
// key derived from the rule and the triggering event, so a restart that reads
// events again does not raise their alerts twice; then it is sent to the
// configured sinks (webhook with an HMAC signature, Slack, PagerDuty, log).
// Repeats of one rule for one group (the actor) within the suppression window
// raise no new alert.
package detect

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/vigil-audit/vigil/internal/auditlog"
	"github.com/vigil-audit/vigil/internal/detect/correlate"
	"github.com/vigil-audit/vigil/internal/detect/sigma"
	"github.com/vigil-audit/vigil/internal/event"
	"github.com/vigil-audit/vigil/internal/store"
)

// Source is the source of alert events.
const Source = "vigil/detect"

// cursorKey names the runner's position in the store's offsets.
const cursorKey = "detect:cursor"

// Log keys.
const (
	keyRule  = "rule"
	keyGroup = "group"
	keySink  = "sink"
	keyErr   = "err"
	keySeq   = "seq"
)

// Alert is what a detection raised.
type Alert struct {
	ID        string     `json:"id"`
	RuleID    string     `json:"rule_id"`
	Title     string     `json:"title"`
	Severity  string     `json:"severity"`
	Group     string     `json:"group"`
	FirstSeen time.Time  `json:"first_seen"`
	LastSeen  time.Time  `json:"last_seen"`
	Count     int        `json:"count"`
	Evidence  []Evidence `json:"evidence"`
	Status    string     `json:"status"` // open, acknowledged, resolved
	// Seq is the alert event's own position in the log.
	Seq uint64 `json:"seq"`
}

// Evidence is an event that raised an alert; its inclusion in the log can be
// proved with GET /v1/proof/inclusion?seq=Seq.
type Evidence struct {
	EventID string `json:"event_id"`
	Seq     uint64 `json:"seq"`
	Action  string `json:"action"`
}

// Sink delivers alerts.
type Sink interface {
	Name() string
	Send(ctx context.Context, a *Alert) error
}

// Runner reads the log and raises alerts.
type Runner struct {
	Log          *auditlog.Log
	Rules        *sigma.Engine
	Correlations *correlate.Engine // may be nil
	Sinks        []Sink
	Logger       *slog.Logger
	// Suppress is how long repeats of a rule for one group raise no new
	// alert (default 10m).
	Suppress time.Duration
	// SuppressRules overrides Suppress for single rules, by rule id.
	SuppressRules map[string]time.Duration
	// Poll is how often the runner looks for new events when idle (default 20ms).
	Poll    time.Duration
	Metrics *Metrics

	once sync.Once
	det  *Detector
}

// Metrics are the runner's Prometheus collectors.
type Metrics struct {
	events, alerts, sinkFailures prometheus.Counter
	lag                          prometheus.Gauge
}

// NewMetrics registers the runner's collectors with reg.
func NewMetrics(reg prometheus.Registerer) *Metrics {
	m := &Metrics{
		events:       prometheus.NewCounter(prometheus.CounterOpts{Name: "vigil_detect_events_total", Help: "Events the detection runner evaluated."}),
		alerts:       prometheus.NewCounter(prometheus.CounterOpts{Name: "vigil_detect_alerts_total", Help: "Alerts raised."}),
		sinkFailures: prometheus.NewCounter(prometheus.CounterOpts{Name: "vigil_detect_sink_failures_total", Help: "Alert deliveries that failed after retries."}),
		lag:          prometheus.NewGauge(prometheus.GaugeOpts{Name: "vigil_detect_lag_events", Help: "Events appended but not yet evaluated."}),
	}
	reg.MustRegister(m.events, m.alerts, m.sinkFailures, m.lag)
	return m
}

func (r *Runner) logger() *slog.Logger {
	if r.Logger == nil {
		return slog.New(slog.DiscardHandler)
	}
	return r.Logger
}

// Run evaluates new events until ctx ends.
func (r *Runner) Run(ctx context.Context) {
	poll := r.Poll
	if poll <= 0 {
		poll = 20 * time.Millisecond
	}
	for ctx.Err() == nil {
		n, err := r.Step(ctx)
		if err != nil && ctx.Err() == nil {
			r.logger().Error("detection step", keyErr, err)
		}
		if n == 0 || err != nil {
			select {
			case <-ctx.Done():
			case <-time.After(poll):
			}
		}
	}
}

var errStop = errors.New("stop")

// stepSize bounds the events one Step evaluates.
const stepSize = 1000

// Step evaluates the events after the cursor (at most stepSize), raises their
// alerts, and advances the cursor. It returns how many events it read.
func (r *Runner) Step(ctx context.Context) (int, error) {
	st := r.Log.Store()
	cur, _, err := st.Offset(ctx, cursorKey)
	if err != nil {
		return 0, err
	}
	from := uint64(cur.Pos)
	head := r.Log.Head().Size
	if r.Metrics != nil {
		r.Metrics.lag.Set(float64(head - min(head, from)))
	}
	if from >= head {
		return 0, nil
	}
	var raised []*Alert
	next := from
	n := 0
	err = st.ScanEntries(ctx, from, func(e *store.Entry) error {
		if n == stepSize || e.Seq >= head {
			return errStop
		}
		n++
		next = e.Seq + 1
		if e.Payload == nil {
			return nil
		}
		ev, err := event.Decode(e.Payload)
		if err != nil || ev.Source == Source {
			return nil // alerts do not raise alerts
		}
		raised = append(raised, r.evaluate(ev)...)
		return nil
	})
	if err != nil && !errors.Is(err, errStop) {
		return 0, err
	}
	if r.Metrics != nil {
		r.Metrics.events.Add(float64(n))
	}
	if err := r.raise(ctx, raised); err != nil {
		return n, err // cursor not advanced: the events are evaluated again
	}
	if err := st.SetOffset(ctx, cursorKey, store.Offset{Ident: "seq", Pos: int64(next)}); err != nil {
		return n, err
	}
	return n, nil
}

// evaluate matches one event and returns the alerts it raises.
func (r *Runner) evaluate(ev *event.Event) []*Alert {
	r.once.Do(func() {
		sup := r.Suppress
		if sup <= 0 {
			sup = 10 * time.Minute
		}
		r.det = &Detector{Rules: r.Rules, Correlations: r.Correlations, Suppress: sup, SuppressRules: r.SuppressRules}
	})
	return r.det.Evaluate(ev)
}

// raise appends the alerts as events, then delivers the new ones.
func (r *Runner) raise(ctx context.Context, alerts []*Alert) error {
	if len(alerts) == 0 {
		return nil
	}
	evs := make([]event.Event, len(alerts))
	keys := make([]string, len(alerts))
	for i, a := range alerts {
		evs[i] = AlertEvent(a)
		keys[i] = "alert:" + a.RuleID + ":" + a.Evidence[len(a.Evidence)-1].EventID
	}
	first, appended, err := r.Log.AppendUnique(ctx, evs, keys)
	if err != nil {
		return fmt.Errorf("record alerts: %w", err)
	}
	for i := range appended {
		a, err := AlertFromEvent(&appended[i])
		if err != nil {
			return err
		}
		a.Seq = first + uint64(i)
		if r.Metrics != nil {
			r.Metrics.alerts.Inc()
		}
		r.logger().Warn("alert", keyRule, a.RuleID, keyGroup, a.Group, keySeq, a.Seq, "title", a.Title)
		for _, s := range r.Sinks {
			if err := s.Send(ctx, a); err != nil {
				if r.Metrics != nil {
					r.Metrics.sinkFailures.Inc()
				}
				r.logger().Error("alert not delivered", keySink, s.Name(), keyRule, a.RuleID, keyErr, err)
				// The failure is recorded in the log too, next to the alert.
				fail := event.Event{
					Source: Source, ClassUID: event.ClassDetectionFinding, Activity: "other",
					Actor:    event.Actor{User: "vigil", Type: "system"},
					Action:   "alert.delivery_failed",
					Resource: event.Resource{Type: "alert_sink", Name: s.Name()},
					Outcome:  event.OutcomeFailure, ParentID: a.ID,
					Attrs: map[string]any{"alert.id": a.ID, "alert.rule_id": a.RuleID, "error": err.Error()},
				}
				if _, err := r.Log.Append(ctx, []event.Event{fail}); err != nil {
					r.logger().Error("delivery failure not recorded", keyErr, err)
				}
			}
		}
	}
	return nil
}

// AlertEvent is the audit event that records an alert.
func AlertEvent(a *Alert) event.Event {
	ids := make([]any, len(a.Evidence))
	seqs := make([]any, len(a.Evidence))
	actions := make([]any, len(a.Evidence))
	for i, e := range a.Evidence {
		ids[i], seqs[i], actions[i] = e.EventID, e.Seq, e.Action
	}
	ev := event.Event{
		Time: a.FirstSeen, Source: Source, ClassUID: event.ClassDetectionFinding, Activity: "create",
		Actor:    event.Actor{User: "vigil", Type: "system"},
		Action:   "alert",
		Resource: event.Resource{Type: "detection_rule", ID: a.RuleID, Name: a.Title},
		Outcome:  event.OutcomeSuccess,
		Attrs: map[string]any{
			"alert.rule_id": a.RuleID, "alert.title": a.Title, "alert.severity": a.Severity, "alert.group": a.Group,
			"alert.event_ids": ids, "alert.seqs": seqs, "alert.actions": actions, "alert.count": a.Count,
		},
	}
	if len(a.Evidence) > 0 {
		ev.ParentID = a.Evidence[0].EventID
	}
	return ev
}

// AlertFromEvent reads an alert back from its event.
func AlertFromEvent(ev *event.Event) (*Alert, error) {
	if ev.Source != Source || ev.Action != "alert" {
		return nil, fmt.Errorf("event %s is not an alert", ev.ID)
	}
	str := func(k string) string { s, _ := ev.Attrs[k].(string); return s }
	a := &Alert{ID: ev.ID, RuleID: str("alert.rule_id"), Title: str("alert.title"), Severity: str("alert.severity"),
		Group: str("alert.group"), FirstSeen: ev.Time, LastSeen: ev.Time, Count: 1, Status: "open", Seq: ev.Seq}
	ids, _ := ev.Attrs["alert.event_ids"].([]any)
	seqs, _ := ev.Attrs["alert.seqs"].([]any)
	actions, _ := ev.Attrs["alert.actions"].([]any)
	for i, id := range ids {
		e := Evidence{}
		e.EventID, _ = id.(string)
		if i < len(actions) {
			e.Action, _ = actions[i].(string)
		}
		if i < len(seqs) {
			switch s := seqs[i].(type) {
			case float64:
				e.Seq = uint64(s)
			case uint64:
				e.Seq = s
			}
		}
		a.Evidence = append(a.Evidence, e)
	}
	return a, nil
}
