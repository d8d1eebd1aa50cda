package pgwire

import (
	"context"
	"log/slog"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/vigil-audit/vigil/internal/auditlog"
	"github.com/vigil-audit/vigil/internal/event"
)

// DefaultFlushInterval is the longest a background event (the intent of a
// plain read in the standard audit mode, an outcome) waits in the gateway
// before its append to the audit log starts. It is then durable once that
// group commit ends (a fraction of a millisecond to a few milliseconds on
// SQLite), so within 10 ms on a healthy log.
const DefaultFlushInterval = 5 * time.Millisecond

// MaxFlushInterval bounds Config.FlushInterval.
const MaxFlushInterval = 10 * time.Millisecond

// Appender limits.
const (
	// flushBatch starts an append at once when this many events wait.
	flushBatch = 1024
	// maxQueued makes callers wait (back pressure) while this many events
	// wait for a log that is slow or failing.
	maxQueued = 64 << 10
)

// appender is the Server's one path to the audit log for session events. It
// keeps them in one FIFO and appends them in order, one Log.Append at a
// time, so the log's order is the order in which sessions produced their
// events (an outcome always after its intent; a session's close after all of
// its events). Background events wait at most the flush interval; a
// synchronous event (add with sync set) starts the append at once and its
// caller waits for it, together with every background event queued before
// it.
type appender struct {
	log      *auditlog.Log
	logger   *slog.Logger
	interval time.Duration
	wake     chan struct{}
	done     chan struct{}
	// failing is set when the last append failed: reads then stop taking
	// the background path until an append succeeds again.
	failing atomic.Bool

	mu     sync.Mutex
	space  *sync.Cond
	cur    *bgBatch
	closed bool
}

// bgBatch is the events of one Log.Append.
type bgBatch struct {
	evs    []event.Event
	since  time.Time // when its first event was queued
	urgent bool      // a caller waits for it
	done   chan struct{}
	err    error // valid once done is closed
}

func newBatch() *bgBatch { return &bgBatch{done: make(chan struct{})} }

func newAppender(l *auditlog.Log, logger *slog.Logger, interval time.Duration) *appender {
	if interval <= 0 {
		interval = DefaultFlushInterval
	}
	interval = min(interval, MaxFlushInterval)
	a := &appender{log: l, logger: logger, interval: interval,
		wake: make(chan struct{}, 1), done: make(chan struct{}), cur: newBatch()}
	a.space = sync.NewCond(&a.mu)
	go a.run()
	return a
}

// add queues ev and returns the batch it will be appended with. With sync
// set the append starts at once; wait on the batch for its result.
func (a *appender) add(ev event.Event, sync bool) *bgBatch {
	a.mu.Lock()
	for !a.closed && len(a.cur.evs) >= maxQueued {
		a.space.Wait()
	}
	b := a.cur
	if a.closed {
		a.mu.Unlock()
		b := newBatch()
		b.err = auditlog.ErrClosed
		close(b.done)
		return b
	}
	b.evs = append(b.evs, ev)
	first := len(b.evs) == 1
	if first {
		b.since = time.Now()
	}
	if sync {
		b.urgent = true
	}
	wake := first || sync || len(b.evs) == flushBatch
	a.mu.Unlock()
	if wake {
		select {
		case a.wake <- struct{}{}:
		default:
		}
	}
	return b
}

// wait returns once b's append has ended, with its error.
func (b *bgBatch) wait() error {
	<-b.done
	return b.err
}

// record appends ev durably, after every event queued before it.
func (a *appender) record(ev event.Event) error {
	return a.add(ev, true).wait()
}

// close appends what is queued and stops the appender.
func (a *appender) close() {
	a.mu.Lock()
	a.closed = true
	a.space.Broadcast()
	a.mu.Unlock()
	select {
	case a.wake <- struct{}{}:
	default:
	}
	<-a.done
}

func (a *appender) run() {
	defer close(a.done)
	timer := time.NewTimer(time.Hour)
	timer.Stop()
	for {
		a.mu.Lock()
		b := a.cur
		if len(b.evs) == 0 {
			closed := a.closed
			a.mu.Unlock()
			if closed {
				return
			}
			<-a.wake
			continue
		}
		if !b.urgent && !a.closed && len(b.evs) < flushBatch {
			if wait := a.interval - time.Since(b.since); wait > 0 {
				a.mu.Unlock()
				timer.Reset(wait)
				select {
				case <-a.wake:
					timer.Stop()
				case <-timer.C:
				}
				continue
			}
		}
		a.cur = newBatch()
		// Sized like the last batch: a batch under load grows to hundreds of
		// events, and growing it by doubling copies them again and again.
		a.cur.evs = make([]event.Event, 0, min(max(len(b.evs), 16), flushBatch))
		a.space.Broadcast()
		a.mu.Unlock()

		_, err := a.log.Append(context.Background(), b.evs)
		a.failing.Store(err != nil)
		if err != nil {
			a.logger.Error("audit events not recorded", "events", len(b.evs), keyErr, err)
		}
		b.err = err
		close(b.done)
	}
}

// pureFunctions are the functions a plain read may call: no side effects,
// no access outside the query's own relations, no locks beyond those of a
// SELECT. Names as the SQL classifier reports them (lower case; the
// pg_catalog prefix is stripped before the lookup). Everything else makes
// the statement count as a write.
var pureFunctions = map[string]bool{
	"count": true, "sum": true, "avg": true, "min": true, "max": true,
	"bool_and": true, "bool_or": true, "every": true, "array_agg": true, "string_agg": true,
	"json_agg": true, "jsonb_agg": true, "json_build_object": true, "jsonb_build_object": true,
	"row_number": true, "rank": true, "dense_rank": true, "lag": true, "lead": true,
	"first_value": true, "last_value": true,
	"abs": true, "round": true, "floor": true, "ceil": true, "ceiling": true, "trunc": true, "mod": true,
	"lower": true, "upper": true, "length": true, "char_length": true, "octet_length": true,
	"substr": true, "substring": true, "btrim": true, "ltrim": true, "rtrim": true, "trim": true,
	"concat": true, "concat_ws": true, "replace": true, "left": true, "right": true,
	"position": true, "strpos": true, "split_part": true,
	"to_char": true, "date_trunc": true, "date_part": true, "extract": true, "now": true,
}

// plainRead reports whether sql, with the classifier attributes the policy
// saw, is a plain read: every statement (nested ones included) is a SELECT,
// none has a locking clause or INTO, every function it calls is in
// pureFunctions, and the classifier flagged nothing. Anything else,
// including text the classifier could not parse, is not.
func plainRead(sql string, attrs map[string]any) bool {
	m, ok := attrs["sql"].(map[string]any)
	if !ok {
		return false
	}
	if u, _ := m["unparseable"].(bool); u {
		return false
	}
	for k, v := range m {
		if strings.HasPrefix(k, "any_") {
			if b, ok := v.(bool); !ok || b {
				return false
			}
		}
	}
	stmts, ok := m["statements"].([]any)
	if !ok || len(stmts) == 0 {
		return false
	}
	for _, s := range stmts {
		st, ok := s.(map[string]any)
		if !ok || st["command"] != "SELECT" {
			return false
		}
		for _, k := range []string{"privilege_escalation", "server_access", "dynamic_sql", "safeguard_off"} {
			if l, ok := st[k].([]any); !ok || len(l) > 0 {
				return false
			}
		}
		fns, ok := st["functions"].([]any)
		if !ok {
			return false
		}
		for _, f := range fns {
			name, _ := f.(string)
			if !pureFunctions[strings.TrimPrefix(name, "pg_catalog.")] {
				return false
			}
		}
	}
	// The classifier does not report locking clauses (FOR UPDATE, FOR
	// SHARE, ...) or SELECT INTO: any word "for" or "into" anywhere in the
	// text, even inside a literal or a comment, makes it a write.
	return !hasWord(sql, "for") && !hasWord(sql, "into")
}

// hasWord reports whether a maximal run of ASCII letters in s equals word
// (lower case), ignoring case. A keyword is always such a run: the characters
// around it cannot be ASCII letters.
func hasWord(s, word string) bool {
	n := len(word)
	for i := 0; i+n <= len(s); {
		j := i
		for j < len(s) && isLetter(s[j]) {
			j++
		}
		if j == i {
			i++
			continue
		}
		if j-i == n && strings.EqualFold(s[i:j], word) {
			return true
		}
		i = j
	}
	return false
}

func isLetter(c byte) bool { return c|0x20 >= 'a' && c|0x20 <= 'z' }
