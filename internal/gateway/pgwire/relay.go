package pgwire

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"strings"
	"time"

	"github.com/jackc/pgx/v5/pgproto3"

	"github.com/vigil-audit/vigil/internal/classify"
	"github.com/vigil-audit/vigil/internal/event"
	"github.com/vigil-audit/vigil/internal/policy"
	"github.com/vigil-audit/vigil/internal/review"
)

// closeWait bounds how long a terminated session waits for the upstream to
// answer what was forwarded before the Terminate.
const closeWait = 5 * time.Second

// run relays the session until either side ends, then records its close.
// The client's connection is closed only once the close event, and with it
// every event of the session, is durable.
func (ss *session) run() {
	ss.stmts = map[string]*intent{}
	ss.portals = map[string]*intent{}
	ss.cacheIdentity()

	upDone := make(chan struct{})
	go func() {
		defer close(upDone)
		ss.upstreamLoop()
	}()
	ss.clientLoop()
	if ss.terminated.Load() {
		// The upstream ends the connection after the Terminate; its answers
		// to earlier messages are still relayed and their outcomes recorded.
		ss.upConn.SetReadDeadline(time.Now().Add(closeWait))
	} else {
		ss.upConn.Close()
	}
	<-upDone
	ss.upConn.Close()
	attrs := map[string]any{"statements": ss.statements.Load(), "refused": ss.refused.Load()}
	outcome := event.OutcomeSuccess
	ss.mu.Lock()
	if ss.misreadBy != "" {
		// Closed because the upstream now reads statements differently: a
		// failure, and the statements forwarded after the one that switched
		// the setting (pipelined behind it) are suspect.
		outcome, attrs["reason"] = event.OutcomeFailure, "the upstream switched "+ss.misreadBy+
			", so it reads statements differently from the gateway; statements forwarded after the one that switched it may not be what was recorded"
	}
	ss.mu.Unlock()
	ev := ss.sessionEvent("logoff", outcome, attrs)
	if err := ss.record(context.Background(), ev); err != nil {
		ss.srv.logger.Error("session close not recorded", append(ss.log(), keyErr, err)...)
	}
	ss.abort()
}

// clientLoop reads the client's messages, decides and records statements,
// and forwards what is allowed.
func (ss *session) clientLoop() {
	for {
		if !ss.cr.buffered() && ss.uw.Buffered() > 0 {
			if err := ss.uw.Flush(); err != nil {
				return
			}
		}
		typ, body, raw, err := ss.cr.next()
		if err != nil {
			return
		}
		if ss.discard && typ != 'S' && typ != 'X' {
			continue
		}
		switch typ {
		case 'Q':
			err = ss.simpleQuery(body, raw)
		case 'P':
			err = ss.parse(body, raw)
		case 'B':
			portal, rest, _ := cstring(body)
			stmt, _, _ := cstring(rest)
			ss.portals[portal] = ss.stmts[stmt]
			err = ss.forward(raw, pending{typ: 'B'})
		case 'E':
			portal, _, _ := cstring(body)
			err = ss.forward(raw, pending{typ: 'E', x: &execution{in: ss.portals[portal], start: time.Now()}})
		case 'D':
			err = ss.forward(raw, pending{typ: 'D'})
		case 'C':
			if len(body) > 0 {
				name, _, _ := cstring(body[1:])
				if body[0] == 'S' {
					delete(ss.stmts, name)
				} else {
					delete(ss.portals, name)
				}
			}
			err = ss.forward(raw, pending{typ: 'C'})
		case 'S':
			ss.discard = false
			err = ss.forward(raw, pending{typ: 'S'})
		case 'H', 'd', 'c', 'f':
			err = ss.write(raw)
		case 'X':
			ss.terminated.Store(true)
			if ss.write(raw) == nil {
				ss.uw.Flush()
			}
			return
		case 'F':
			ss.refused.Add(1)
			ss.inject(errorMsg("ERROR", codeInsufficientPrivilege,
				"the function call interface is not allowed through Vigil; call the function in SQL", ""), true)
		default:
			ss.inject(errorMsg("FATAL", codeProtocolViolation, fmt.Sprintf("invalid frontend message type %d", typ), ""), false)
			return
		}
		if err != nil {
			return
		}
	}
}

// forward queues what the upstream will answer and writes the message.
func (ss *session) forward(raw []byte, p pending) error {
	ss.mu.Lock()
	ss.queue.push(p)
	ss.mu.Unlock()
	return ss.write(raw)
}

// write writes a message to the upstream (buffered; the client loop flushes
// once no more client input is waiting).
func (ss *session) write(raw []byte) error {
	_, err := ss.uw.Write(raw)
	return err
}

// inject queues an answer of the gateway's own, written as soon as the
// upstream has answered everything forwarded before it.
func (ss *session) inject(msg []byte, rfq bool) {
	ss.mu.Lock()
	defer ss.mu.Unlock()
	ss.queue.push(pending{inject: msg, rfq: rfq})
	ss.writeInjects()
	ss.cw.Flush()
}

// writeInjects writes the injects at the head of the queue. ss.mu is held.
func (ss *session) writeInjects() {
	for ss.queue.len() > 0 && ss.queue.front().typ == 0 {
		p := ss.queue.pop()
		ss.cw.Write(p.inject)
		if p.rfq {
			ss.cw.Write(readyForQuery(ss.txStatus))
		}
	}
}

func (ss *session) simpleQuery(body, raw []byte) error {
	sql, _, _ := cstring(body)
	in, refusal := ss.decide(sql, "simple", "")
	if refusal != nil {
		ss.inject(refusal, true)
		return nil
	}
	if err := ss.flushBeforeWait(); err != nil {
		return err
	}
	return ss.forward(raw, pending{typ: 'Q', x: &execution{in: in, start: time.Now()}})
}

func (ss *session) parse(body, raw []byte) error {
	name, rest, _ := cstring(body)
	sql, _, _ := cstring(rest)
	in, refusal := ss.decide(sql, "extended", name)
	if refusal != nil {
		delete(ss.stmts, name)
		ss.discard = true
		ss.inject(refusal, false)
		return nil
	}
	ss.stmts[name] = in
	return ss.forward(raw, pending{typ: 'P', x: &execution{in: in, start: time.Now()}})
}

func (ss *session) flushBeforeWait() error {
	if ss.uw.Buffered() > 0 {
		return ss.uw.Flush()
	}
	return nil
}

// decide classifies and decides sql, and records the intent durably. It
// returns the recorded intent, or the ErrorResponse refusing the statement.
func (ss *session) decide(raw, protocol, stmtName string) (*intent, []byte) {
	ss.statements.Add(1)
	enc, _ := ss.clientEnc.Load().(string)
	sql := toUTF8(enc, raw) // as PostgreSQL reads it; raw is what is forwarded
	// Earlier messages should not wait for this statement's fsync.
	ss.flushBeforeWait()
	ctx := context.Background()
	a := &classify.Action{
		Kind:        classify.KindSQL,
		Actor:       classify.Actor{User: ss.user, Roles: []string{ss.role}},
		Connection:  ss.conn.Name,
		Environment: ss.conn.Environment,
		SQL:         sql,
	}
	d, derr := ss.srv.deps.Policy.Decide(ctx, a) // on error d is a deny
	if derr != nil {
		ss.srv.logger.Warn("decision failed closed", append(ss.log(), keyErr, derr)...)
	} else if what, ok := parseSettingChange(d.Attrs); ok {
		d = refuseParseSetting(d, what)
	}
	ev := ss.intentEvent(a, d, protocol, stmtName)
	var (
		approved  *review.Review
		reviewKey string // what an approval of this statement covers
	)
	if derr == nil && d.Effect == policy.EffectReview {
		reviewKey = ss.reviewKey(ev, sql, d.Attrs)
	}
	if derr == nil && d.Effect == policy.EffectReview && ss.srv.deps.Reviews != nil {
		r, err := ss.srv.deps.Reviews.Approved(ctx, ss.user, ss.conn.Name, reviewKey)
		if err != nil { // fail closed: the statement waits for review
			ss.srv.logger.Error("review lookup failed", append(ss.log(), keyErr, err)...)
		}
		if r != nil {
			approved = r
			ev.Outcome = event.OutcomeSuccess
			ev.Decision.Effect = policy.EffectAllow
			ev.Decision.Message = fmt.Sprintf("approved in review %s by %s", r.ID, approvers(r))
			ev.Decision.ReviewID = r.ID
		}
	}
	if derr == nil && d.Effect == policy.EffectAllow && ss.standard() &&
		!ss.srv.app.failing.Load() && plainRead(sql, d.Attrs) {
		// A plain read in the standard mode: forwarded at once, its intent
		// group-committed in the background.
		ss.recordLater(ev)
		return &intent{id: ev.ID, sql: sql, verb: ev.Action}, nil
	}
	var reviewRefusal []byte
	if derr == nil && d.Effect == policy.EffectReview && approved == nil {
		reviewRefusal = ss.reviewRefusal(ctx, d, &ev, reviewKey)
	}
	if err := ss.record(ctx, ev); err != nil {
		ss.refused.Add(1)
		ss.srv.logger.Error("statement refused: audit log not writable", append(ss.log(), keyErr, err)...)
		return nil, errorMsg("ERROR", codeSystemError,
			"the statement cannot be recorded in the audit log, so it was not run", "")
	}
	switch d.Effect {
	case policy.EffectDeny:
		ss.refused.Add(1)
		return nil, errorMsg("ERROR", codeInsufficientPrivilege, "denied by Vigil: "+ruleText(d, policy.EffectDeny), "")
	case policy.EffectReview:
		if approved != nil {
			break
		}
		ss.refused.Add(1)
		return nil, reviewRefusal
	}
	return &intent{id: ev.ID, sql: sql, verb: ev.Action}, nil
}

// reviewKey is what an approval of the statement covers. Usually its
// fingerprint, which ignores literal values. When its classification read a
// literal (SET ROLE x, set_config, a function body, SQL handed to dblink),
// the value changes what the statement does, so the key adds a hash of the
// statement's exact text: approving SET ROLE reporting does not approve
// SET ROLE postgres. With redact_literals such a statement gets no key (a
// hash of a short secret can be guessed) and cannot be approved; neither can
// one without a fingerprint.
func (ss *session) reviewKey(ev event.Event, sql string, attrs map[string]any) string {
	fp, _ := ev.Attrs["sql.fingerprint"].(string)
	m, _ := attrs["sql"].(map[string]any)
	if matter, _ := m["literals_matter"].(bool); !matter || fp == "" {
		return fp
	}
	if ss.conn.RedactLiterals {
		return ""
	}
	sum := sha256.Sum256([]byte(sql))
	return fp + ":" + hex.EncodeToString(sum[:16])
}

// reviewRefusal opens (or finds) the review of a statement the policy sent
// to review, notes its id in the statement's intent event ev, and returns the
// ErrorResponse naming it.
func (ss *session) reviewRefusal(ctx context.Context, d *policy.Decision, ev *event.Event, key string) []byte {
	why := ruleText(d, policy.EffectReview)
	if ss.srv.deps.Reviews == nil {
		return errorHint(codeInsufficientPrivilege, "review required by Vigil: "+why,
			"this gateway has no review workflow configured, so the statement cannot be approved here")
	}
	if key == "" {
		return errorHint(codeInsufficientPrivilege, "review required by Vigil: "+why,
			"this statement cannot be approved through a review: it does not parse, or its literals decide what it does and they are redacted")
	}
	text, _ := ev.Attrs["sql.text"].(string)
	req := review.Request{
		Requester: ss.user, SrcIP: ss.remote, SessionID: ss.id,
		Connection: ss.conn.Name, Environment: ss.conn.Environment,
		Kind: "sql", Fingerprint: key, Statement: text,
	}
	if ss.role != "" {
		req.Roles = []string{ss.role}
	}
	for _, r := range d.Rules {
		if r.Effect == policy.EffectReview && !r.DryRun {
			req.Rules = append(req.Rules, review.Rule{ID: r.ID, Message: r.Message})
		}
	}
	r, _, err := ss.srv.deps.Reviews.Open(ctx, req)
	if err != nil {
		ss.srv.logger.Error("review not opened", append(ss.log(), keyErr, err)...)
		return errorHint(codeInsufficientPrivilege, "review required by Vigil: "+why,
			"the review request could not be recorded; try again later")
	}
	ev.Decision.ReviewID = r.ID
	return errorHint(codeInsufficientPrivilege,
		fmt.Sprintf("review required by Vigil (review %s): %s", r.ID, why),
		fmt.Sprintf("ask an approver to run: vigil review approve %s; once approved, run the same statement again within the approval window", r.ID))
}

func approvers(r *review.Review) string {
	names := make([]string, len(r.Approvals))
	for i, v := range r.Approvals {
		names[i] = v.User
	}
	return strings.Join(names, ", ")
}

// ruleText names the rules with the given effect and their messages.
func ruleText(d *policy.Decision, effect string) string {
	var parts []string
	for _, r := range d.Rules {
		if r.Effect == effect && !r.DryRun {
			parts = append(parts, fmt.Sprintf("rule %s: %s", r.ID, r.Message))
		}
	}
	if len(parts) == 0 {
		return d.Message
	}
	return strings.Join(parts, "; ")
}

// upstreamLoop relays the upstream's messages to the client and matches them
// to what was forwarded.
func (ss *session) upstreamLoop() {
	for {
		typ, body, raw, err := ss.ur.next()
		if err != nil {
			ss.upstreamGone(err)
			return
		}
		ss.mu.Lock()
		ss.onUpstream(typ, body, raw)
		if !ss.ur.buffered() {
			err = ss.cw.Flush()
		}
		ss.mu.Unlock()
		if err != nil {
			ss.abort()
			return
		}
	}
}

// head returns the oldest forwarded message not yet answered, valid until
// the next push. ss.mu is held.
func (ss *session) head() *pending { return ss.queue.front() }

func (ss *session) pop() pending { return ss.queue.pop() }

// onUpstream handles one upstream message. ss.mu is held.
func (ss *session) onUpstream(typ byte, body, raw []byte) {
	ss.cw.Write(raw)
	h := ss.head()
	switch typ {
	case 'Z': // ReadyForQuery
		if len(body) > 0 {
			ss.txStatus = body[0]
		}
		for ss.queue.len() > 0 {
			p := ss.pop()
			if p.typ == 'Q' {
				ss.finish(p.x)
			}
			if p.typ == 'Q' || p.typ == 'S' {
				break
			}
		}
	case 'E': // ErrorResponse
		var e pgproto3.ErrorResponse
		e.Decode(body)
		if e.Severity == "FATAL" || e.Severity == "PANIC" {
			ss.fatal = true
		}
		switch {
		case h == nil:
		case h.typ == 'Q':
			h.x.code, h.x.msg = e.Code, e.Message
		default:
			// The upstream skips everything until Sync.
			if (h.typ == 'E' || h.typ == 'P') && h.x != nil {
				h.x.code, h.x.msg = e.Code, e.Message
				ss.finish(h.x)
			}
			for ss.queue.len() > 0 && ss.queue.front().typ != 'S' && ss.queue.front().typ != 'Q' {
				ss.pop()
			}
		}
	case 'C': // CommandComplete
		tag, _, _ := cstring(body)
		if h != nil && (h.typ == 'E' || h.typ == 'Q') {
			h.x.addTag(tag)
			if n := rowsFromTag(tag); n > 0 {
				h.x.rows += n
			}
			if h.typ == 'E' {
				ss.finish(ss.pop().x)
			}
		}
	case 'I', 's': // EmptyQueryResponse, PortalSuspended
		if h != nil && h.typ == 'E' {
			if typ == 's' {
				h.x.addTag("(suspended)")
			}
			ss.finish(ss.pop().x)
		}
	case 'S': // ParameterStatus
		name, rest, _ := cstring(body)
		value, _, _ := cstring(rest)
		if misreadSetting(name, value) {
			ss.misread(name, value)
			return
		}
		if name == "client_encoding" {
			ss.clientEnc.Store(value)
		}
	case '1':
		ss.popIf(h, 'P')
	case '2':
		ss.popIf(h, 'B')
	case '3':
		ss.popIf(h, 'C')
	case 'n', 'T':
		ss.popIf(h, 'D')
	}
	ss.writeInjects()
}

func (ss *session) popIf(h *pending, typ byte) {
	if h != nil && h.typ == typ {
		ss.pop()
	}
}

// upstreamGone ends the session when the upstream connection ends.
func (ss *session) upstreamGone(err error) {
	if ss.terminated.Load() {
		return
	}
	ss.mu.Lock()
	if !ss.fatal {
		ss.cw.Write(errorMsg("FATAL", codeConnectionFailure, "the connection to the upstream database was lost", ""))
		ss.cw.Flush()
	}
	for _, p := range ss.queue.all() {
		if p.x != nil && (p.typ == 'Q' || p.typ == 'E') {
			if p.x.code == "" {
				p.x.code, p.x.msg = codeConnectionFailure, "upstream connection lost"
			}
			ss.finish(p.x)
		}
	}
	ss.queue = fifo{}
	ss.mu.Unlock()
	ss.srv.logger.Warn("upstream connection ended", append(ss.log(), keyErr, err)...)
	ss.abort()
}

// misread closes a session whose upstream now reads statements differently
// from the gateway (see parsesettings.go). ss.mu is held.
func (ss *session) misread(name, value string) {
	ss.fatal = true
	ss.misreadBy = name + " to " + value
	ss.cw.Write(errorMsg("FATAL", codeInvalidParameterValue, misreadRefusal(name, value), ""))
	ss.cw.Flush()
	ss.srv.logger.Error("session closed: the upstream reads statements differently from the gateway",
		append(ss.log(), keySetting, name+"="+value)...)
	ss.abort()
}

// finish records the outcome of an execution (in the background).
func (ss *session) finish(x *execution) {
	if x == nil {
		return
	}
	ss.recordLater(ss.outcomeEvent(x))
}
