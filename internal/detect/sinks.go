package detect

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"slices"
	"time"
)

// Webhook formats.
const (
	FormatJSON      = "webhook"   // the Alert as JSON
	FormatSlack     = "slack"     // Slack incoming-webhook message
	FormatPagerDuty = "pagerduty" // PagerDuty Events API v2 trigger
)

// SignatureHeader carries "sha256=" and the hex HMAC-SHA256 of the body under
// the sink's secret, so the receiver can check the alert came from Vigil.
const SignatureHeader = "X-Vigil-Signature"

// Webhook posts alerts over HTTP, retrying with backoff.
type Webhook struct {
	URL        string
	Format     string // FormatJSON (default), FormatSlack or FormatPagerDuty
	Secret     []byte // signs the body when set
	RoutingKey string // PagerDuty integration key
	// MinSeverity drops alerts below it: informational < low < medium < high < critical.
	MinSeverity string
	// Rules, when set, limits the sink to alerts of these rule ids.
	Rules   []string
	Client  *http.Client
	Retries int           // attempts after the first (default 3)
	Backoff time.Duration // first wait, doubled each time (default 200ms)
}

// Name implements Sink.
func (w *Webhook) Name() string { return w.Format + " " + w.URL }

var severityRank = map[string]int{"informational": 0, "info": 0, "low": 1, "medium": 2, "high": 3, "critical": 4}

// Send implements Sink.
func (w *Webhook) Send(ctx context.Context, a *Alert) error {
	if w.MinSeverity != "" && severityRank[a.Severity] < severityRank[w.MinSeverity] {
		return nil
	}
	if len(w.Rules) > 0 && !slices.Contains(w.Rules, a.RuleID) {
		return nil
	}
	body, err := w.body(a)
	if err != nil {
		return err
	}
	client := w.Client
	if client == nil {
		client = &http.Client{Timeout: 10 * time.Second}
	}
	retries, backoff := w.Retries, w.Backoff
	if retries == 0 {
		retries = 3
	}
	if backoff == 0 {
		backoff = 200 * time.Millisecond
	}
	var last error
	for attempt := 0; attempt <= retries; attempt++ {
		if attempt > 0 {
			select {
			case <-ctx.Done():
				return ctx.Err()
			case <-time.After(backoff):
			}
			backoff *= 2
		}
		if last = w.post(ctx, client, body); last == nil {
			return nil
		}
	}
	return fmt.Errorf("webhook %s: %d attempts: %w", w.URL, retries+1, last)
}

func (w *Webhook) post(ctx context.Context, client *http.Client, body []byte) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, w.URL, bytes.NewReader(body))
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/json")
	if len(w.Secret) > 0 {
		req.Header.Set(SignatureHeader, Sign(w.Secret, body))
	}
	resp, err := client.Do(req)
	if err != nil {
		return err
	}
	io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
	resp.Body.Close()
	if resp.StatusCode/100 != 2 {
		return fmt.Errorf("answered %s", resp.Status)
	}
	return nil
}

// Sign returns the signature header value of body under secret.
func Sign(secret, body []byte) string {
	m := hmac.New(sha256.New, secret)
	m.Write(body)
	return "sha256=" + hex.EncodeToString(m.Sum(nil))
}

func (w *Webhook) body(a *Alert) ([]byte, error) {
	switch w.Format {
	case FormatSlack:
		return json.Marshal(map[string]any{
			"text": fmt.Sprintf(":rotating_light: *%s* [%s] by `%s` — rule %s, event seq %d", a.Title, a.Severity, a.Group, a.RuleID, evidenceSeq(a)),
		})
	case FormatPagerDuty:
		sev := map[string]string{"critical": "critical", "high": "error", "medium": "warning"}[a.Severity]
		if sev == "" {
			sev = "info"
		}
		return json.Marshal(map[string]any{
			"routing_key":  w.RoutingKey,
			"event_action": "trigger",
			"dedup_key":    a.RuleID + ":" + a.Group,
			"payload": map[string]any{
				"summary": a.Title + " (" + a.Group + ")", "severity": sev, "source": "vigil",
				"timestamp": a.FirstSeen.Format(time.RFC3339), "custom_details": a,
			},
		})
	default:
		return json.Marshal(a)
	}
}

func evidenceSeq(a *Alert) uint64 {
	if len(a.Evidence) == 0 {
		return 0
	}
	return a.Evidence[0].Seq
}

// LogSink writes alerts to a logger.
type LogSink struct{ Logger *slog.Logger }

// Name implements Sink.
func (LogSink) Name() string { return "log" }

// Send implements Sink.
func (s LogSink) Send(_ context.Context, a *Alert) error {
	s.Logger.Warn("ALERT", keyRule, a.RuleID, "title", a.Title, "severity", a.Severity, keyGroup, a.Group, keySeq, evidenceSeq(a))
	return nil
}
