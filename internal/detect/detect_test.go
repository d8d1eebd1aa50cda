package detect_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/vigil-audit/vigil/internal/auditlog"
	"github.com/vigil-audit/vigil/internal/detect"
	"github.com/vigil-audit/vigil/internal/detect/sigma"
	"github.com/vigil-audit/vigil/internal/event"
	"github.com/vigil-audit/vigil/internal/store"
	"github.com/vigil-audit/vigil/internal/store/sqlite"
)

const stopLoggingRule = `title: CloudTrail logging stopped
id: 11111111-2222-3333-4444-555555555555
level: high
logsource: {product: aws, service: cloudtrail}
detection:
  selection:
    eventSource: cloudtrail.amazonaws.com
    eventName: [StopLogging, DeleteTrail]
  condition: selection
`

type env struct {
	t   testing.TB
	st  store.Store
	log *auditlog.Log
	eng *sigma.Engine
}

func newEnv(t testing.TB) *env {
	dir := t.TempDir()
	st, err := sqlite.Open(context.Background(), filepath.Join(dir, "vigil.db"))
	if err != nil {
		t.Fatal(err)
	}
	s, v, _ := auditlog.LoadOrCreateKey(dir, "vigil.test/detect")
	l, err := auditlog.Open(context.Background(), auditlog.Options{Store: st, Signer: s, Verifier: v})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close(); st.Close() })
	r, err := sigma.Parse([]byte(stopLoggingRule), "stop.yml")
	if err != nil {
		t.Fatal(err)
	}
	eng, err := sigma.NewEngine([]*sigma.Rule{r}, sigma.Options{})
	if err != nil {
		t.Fatal(err)
	}
	return &env{t: t, st: st, log: l, eng: eng}
}

func (e *env) trail(user, name string, at time.Time) {
	e.t.Helper()
	raw := `{"eventSource":"cloudtrail.amazonaws.com","eventName":"` + name + `","userIdentity":{"userName":"` + user + `"}}`
	ev := event.Event{Time: at, Source: "cloudtrail", Activity: "update", Actor: event.Actor{User: user}, Action: name,
		Outcome: "success", Raw: json.RawMessage(raw)}
	if _, err := e.log.Append(context.Background(), []event.Event{ev}); err != nil {
		e.t.Fatal(err)
	}
}

func (e *env) alerts() []*detect.Alert {
	var out []*detect.Alert
	e.st.ScanEntries(context.Background(), 0, func(en *store.Entry) error {
		ev, _ := event.Decode(en.Payload)
		if ev.Source == detect.Source && ev.Action == "alert" {
			a, err := detect.AlertFromEvent(ev)
			if err != nil {
				e.t.Fatal(err)
			}
			out = append(out, a)
		}
		return nil
	})
	return out
}

type hook struct {
	mu     sync.Mutex
	bodies [][]byte
	sigs   []string
	fail   int // answer 500 this many times first
	got    chan struct{}
}

func (h *hook) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	b, _ := io.ReadAll(r.Body)
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.fail > 0 {
		h.fail--
		w.WriteHeader(500)
		return
	}
	h.bodies = append(h.bodies, b)
	h.sigs = append(h.sigs, r.Header.Get(detect.SignatureHeader))
	select {
	case h.got <- struct{}{}:
	default:
	}
}

func TestRunnerRaisesOnceAndDelivers(t *testing.T) {
	e := newEnv(t)
	h := &hook{fail: 2, got: make(chan struct{}, 16)}
	srv := httptest.NewServer(h)
	defer srv.Close()
	secret := []byte("s3cret")
	sink := &detect.Webhook{URL: srv.URL, Secret: secret, Backoff: time.Millisecond}
	runner := &detect.Runner{Log: e.log, Rules: e.eng, Sinks: []detect.Sink{sink}, Suppress: time.Hour}
	t0 := time.Date(2026, 3, 1, 10, 0, 0, 0, time.UTC)
	e.trail("mallory", "StopLogging", t0)
	e.trail("alice", "DescribeTrails", t0.Add(time.Second))
	e.trail("mallory", "DeleteTrail", t0.Add(2*time.Second)) // same rule, same group: suppressed
	e.trail("bob", "StopLogging", t0.Add(3*time.Second))     // another group: a new alert
	if n, err := runner.Step(context.Background()); err != nil || n != 4 {
		t.Fatalf("step: %d events, %v", n, err)
	}
	as := e.alerts()
	if len(as) != 2 || as[0].Group != "mallory" || as[1].Group != "bob" || as[0].Evidence[0].Seq != 0 || as[1].Evidence[0].Seq != 3 ||
		as[0].RuleID != "11111111-2222-3333-4444-555555555555" || as[0].Severity != "high" {
		t.Fatalf("alerts %+v", as)
	}
	// Delivered after two failed attempts, signed.
	if len(h.bodies) != 2 {
		t.Fatalf("webhook received %d alerts; want 2", len(h.bodies))
	}
	for i, b := range h.bodies {
		if h.sigs[i] != detect.Sign(secret, b) {
			t.Fatalf("signature %q does not match the body", h.sigs[i])
		}
		var a detect.Alert
		if err := json.Unmarshal(b, &a); err != nil || a.Title != "CloudTrail logging stopped" || len(a.Evidence) != 1 {
			t.Fatalf("webhook body %s", b)
		}
	}
	// Nothing new: nothing raised. A restarted runner resumes from the cursor.
	if n, _ := runner.Step(context.Background()); n != 2 { // the two alert events, skipped
		t.Fatalf("second step read %d events; want the 2 alert events", n)
	}
	restarted := &detect.Runner{Log: e.log, Rules: e.eng}
	if n, _ := restarted.Step(context.Background()); n != 0 {
		t.Fatalf("a restarted runner read %d events again", n)
	}
	// Read again from the start (a lost cursor): the alerts are recognised.
	if err := e.st.SetOffset(context.Background(), "detect:cursor", store.Offset{Ident: "seq", Pos: 0}); err != nil {
		t.Fatal(err)
	}
	if _, err := restarted.Step(context.Background()); err != nil {
		t.Fatal(err)
	}
	if got := len(e.alerts()); got != 2 {
		t.Fatalf("%d alerts after re-reading; want 2", got)
	}
}

func TestRunLatency(t *testing.T) {
	e := newEnv(t)
	h := &hook{got: make(chan struct{}, 64)}
	srv := httptest.NewServer(h)
	defer srv.Close()
	runner := &detect.Runner{Log: e.log, Rules: e.eng, Sinks: []detect.Sink{&detect.Webhook{URL: srv.URL}}, Suppress: time.Nanosecond}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go runner.Run(ctx)
	for i := 0; i < 5; i++ {
		start := time.Now()
		e.trail("u"+strings.Repeat("x", i), "StopLogging", time.Now())
		select {
		case <-h.got:
		case <-time.After(5 * time.Second):
			t.Fatalf("alert %d not delivered within 5s", i)
		}
		if d := time.Since(start); d > time.Second {
			t.Errorf("alert %d took %s from append to webhook", i, d)
		}
	}
}

func TestWebhookRouting(t *testing.T) {
	h := &hook{got: make(chan struct{}, 4)}
	srv := httptest.NewServer(h)
	defer srv.Close()
	w := &detect.Webhook{URL: srv.URL, MinSeverity: "high", Rules: []string{"r1"}}
	for _, a := range []*detect.Alert{
		{RuleID: "r1", Severity: "critical"}, // sent
		{RuleID: "r1", Severity: "medium"},   // below min_severity
		{RuleID: "r2", Severity: "critical"}, // another rule
	} {
		if err := w.Send(context.Background(), a); err != nil {
			t.Fatal(err)
		}
	}
	if len(h.bodies) != 1 || !strings.Contains(string(h.bodies[0]), `"rule_id":"r1"`) {
		t.Fatalf("routed %d alerts: %q", len(h.bodies), h.bodies)
	}
}

func TestSuppressPerRule(t *testing.T) {
	e := newEnv(t)
	t0 := time.Date(2026, 3, 1, 10, 0, 0, 0, time.UTC)
	count := func(d *detect.Detector) int {
		n := 0
		for i, at := range []time.Time{t0, t0.Add(time.Minute)} {
			raw := `{"eventSource":"cloudtrail.amazonaws.com","eventName":"StopLogging"}`
			ev := event.Event{ID: fmt.Sprintf("01J00000000000000000000%03d", i), Time: at, Source: "cloudtrail", Actor: event.Actor{User: "m"}, Raw: json.RawMessage(raw)}
			n += len(d.Evaluate(&ev))
		}
		return n
	}
	if n := count(&detect.Detector{Rules: e.eng, Suppress: 10 * time.Minute}); n != 1 {
		t.Fatalf("two matches a minute apart, 10m window: %d alerts; want 1", n)
	}
	if n := count(&detect.Detector{Rules: e.eng, Suppress: 10 * time.Minute,
		SuppressRules: map[string]time.Duration{"11111111-2222-3333-4444-555555555555": 30 * time.Second}}); n != 2 {
		t.Fatalf("with a 30s window for the rule: %d alerts; want 2", n)
	}
}

func TestDeliveryFailureRecorded(t *testing.T) {
	e := newEnv(t)
	down := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(503) }))
	defer down.Close()
	runner := &detect.Runner{Log: e.log, Rules: e.eng, Sinks: []detect.Sink{&detect.Webhook{URL: down.URL, Retries: 1, Backoff: time.Millisecond}}}
	e.trail("mallory", "StopLogging", time.Date(2026, 3, 1, 10, 0, 0, 0, time.UTC))
	if _, err := runner.Step(context.Background()); err != nil {
		t.Fatal(err)
	}
	var failed *event.Event
	e.st.ScanEntries(context.Background(), 0, func(en *store.Entry) error {
		ev, _ := event.Decode(en.Payload)
		if ev.Action == "alert.delivery_failed" {
			failed = ev
		}
		return nil
	})
	if failed == nil || failed.Outcome != "failure" || !strings.Contains(failed.Attrs["error"].(string), "503") {
		t.Fatalf("delivery failure not recorded: %+v", failed)
	}
}
