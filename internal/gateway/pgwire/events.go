package pgwire

import (
	"context"
	"time"

	"github.com/vigil-audit/vigil/internal/classify"
	"github.com/vigil-audit/vigil/internal/event"
	"github.com/vigil-audit/vigil/internal/policy"
)

// Source is the source of every event the gateway records.
const Source = "gateway/postgres"

// record appends one event durably, after every event queued before it.
func (ss *session) record(_ context.Context, ev event.Event) error {
	return ss.srv.app.record(ev)
}

// recordLater queues one event for the background appender: it is durable
// within the flush interval (plus one group commit), and before the
// session's close event.
func (ss *session) recordLater(ev event.Event) {
	ss.srv.app.add(ev, false)
}

// cacheIdentity fills the actor, resource and target every statement event
// shares, once the session's login is complete. The events share the actor's
// Roles slice; nothing modifies it.
func (ss *session) cacheIdentity() {
	ss.act, ss.res, ss.target = ss.actor(), ss.resource(), clip(ss.conn.Name)
}

func (ss *session) actor() event.Actor {
	a := event.Actor{User: clip(ss.user), SrcIP: ss.remote, UserAgent: clip(ss.appName), SessionID: ss.id}
	if a.User == "" {
		a.User = "unknown"
	}
	if ss.role != "" {
		a.Roles = []string{ss.role}
	}
	return a
}

func (ss *session) resource() event.Resource {
	return event.Resource{Type: "postgres", Name: clip(ss.conn.Name), Environment: clip(ss.conn.Environment)}
}

// sessionEvent is a session's open (logon) or close (logoff).
func (ss *session) sessionEvent(activity, outcome string, attrs map[string]any) event.Event {
	if attrs == nil {
		attrs = map[string]any{}
	}
	attrs["tls"] = ss.secure
	if ss.method != "" {
		attrs["auth_method"] = ss.method
	}
	if ss.channelBound {
		attrs["channel_binding"] = true
	}
	if ss.conn.Upstream.Database != "" {
		attrs["database"] = ss.conn.Upstream.Database
	}
	return event.Event{
		ID: newID(), Source: Source, ClassUID: event.ClassAuthentication, Activity: activity,
		Actor: ss.actor(), Action: activity, Resource: ss.resource(), Target: clip(ss.conn.Name),
		Outcome: outcome, Attrs: attrs,
	}
}

// authFailed records a refused login attempt.
func (ss *session) authFailed(reason string) {
	ev := ss.sessionEvent("logon", event.OutcomeFailure, map[string]any{"reason": reason})
	ev.Actor.SessionID = ""
	if err := ss.record(context.Background(), ev); err != nil {
		ss.srv.logger.Error("failed login not recorded", append(ss.log(), keyErr, err)...)
	}
}

// intentEvent is the decision about a statement, recorded before it runs.
// Its shape follows internal/server's decisionEvent.
func (ss *session) intentEvent(a *classify.Action, d *policy.Decision, protocol, stmtName string) event.Event {
	outcome, ed := d.Record()
	attrs := make(map[string]any, 6)
	attrs["sql.text"], attrs["sql.protocol"] = a.SQL, protocol
	if stmtName != "" {
		attrs["sql.statement_name"] = stmtName
	}
	if ss.conn.Upstream.Database != "" {
		attrs["database"] = ss.conn.Upstream.Database
	}
	verb := "SQL"
	if m, ok := d.Attrs["sql"].(map[string]any); ok {
		if fp, ok := m["fingerprint"].(string); ok && fp != "" {
			attrs["sql.fingerprint"] = fp
		}
		if cmds, ok := m["commands"].([]any); ok && len(cmds) > 0 {
			if c, ok := cmds[0].(string); ok && c != "" {
				verb = c
			}
		}
		if u, ok := m["unparseable"].(bool); ok && u {
			attrs["sql.unparseable"] = true
		}
	}
	if ss.conn.RedactLiterals {
		// The classifier's normalized text when its attributes carry one;
		// otherwise redactSQL normalizes the text itself (and withholds
		// it when it does not parse).
		var normalized string
		var unparseable bool
		if m, ok := d.Attrs["sql"].(map[string]any); ok {
			normalized, _ = m["normalized"].(string)
			unparseable, _ = m["unparseable"].(bool)
		}
		ss.redactAttrs(attrs, a.SQL, normalized, unparseable)
	}
	return event.Event{
		ID: newID(), Source: Source, ClassUID: event.ClassDatastoreActivity, Activity: "query",
		Actor: ss.act, Action: clip(verb), Resource: ss.res, Target: ss.target,
		Outcome: outcome, Decision: ed, Attrs: attrs,
	}
}

// outcomeEvent is what came of a statement that ran, linked to its intent.
func (ss *session) outcomeEvent(x *execution) event.Event {
	attrs := make(map[string]any, 4)
	attrs["duration_us"] = time.Since(x.start).Microseconds()
	verb := "SQL"
	ev := event.Event{
		ID: newID(), Source: Source, ClassUID: event.ClassDatastoreActivity, Activity: "query",
		Actor: ss.act, Resource: ss.res, Target: ss.target,
		Outcome: event.OutcomeSuccess, Attrs: attrs,
	}
	if x.in != nil {
		ev.ParentID = x.in.id
		verb = x.in.verb
	}
	ev.Action = verb
	if x.tagged {
		attrs["sql.command_tag"] = x.tag
		if len(x.tags) > 0 {
			attrs["sql.command_tags"] = append(x.tags, x.tag)
		}
		attrs["sql.rows"] = x.rows
	}
	if x.code != "" {
		ev.Outcome = event.OutcomeFailure
		attrs["sql.sqlstate"] = x.code
		attrs["sql.error"] = x.msg
		if ss.conn.RedactLiterals {
			attrs["sql.error"] = withheldError(x.code)
		}
	}
	return ev
}

// clip bounds a name-like field to what an event accepts.
func clip(s string) string {
	const max = 1024
	if len(s) <= max {
		return s
	}
	s = s[:max]
	for len(s) > 0 && s[len(s)-1]&0xc0 == 0x80 {
		s = s[:len(s)-1]
	}
	if len(s) > 0 && s[len(s)-1] >= 0xc0 {
		s = s[:len(s)-1]
	}
	return s
}
