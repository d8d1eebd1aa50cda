package correlate

import (
	"github.com/vigil-audit/vigil/internal/corpora"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

var t0 = time.Date(2025, 3, 1, 12, 0, 0, 0, time.UTC)

func at(d time.Duration) time.Time { return t0.Add(d) }

func engine(t *testing.T, src string, opts Options) *Engine {
	t.Helper()
	cs, err := Parse([]byte(src), "test.yml")
	if err != nil {
		t.Fatal(err)
	}
	e, err := New(cs, opts)
	if err != nil {
		t.Fatal(err)
	}
	return e
}

var seq uint64

// obs feeds a match of rule (by name) with the given fields ("k=v" pairs).
func obs(e *Engine, rule string, ts time.Time, kv ...string) []Alert {
	m := map[string]string{}
	for _, s := range kv {
		k, v, _ := strings.Cut(s, "=")
		m[k] = v
	}
	seq++
	return e.Observe(Match{RuleName: rule, Time: ts, Fields: FieldMap(m), Seq: seq, EventID: rule + "-" + ts.Format("150405.000")})
}

// The specification's brute-force example: ten failed logins by one user
// (event_count) followed by a successful login (temporal_ordered) within
// 10 minutes.
const bruteForce = `
title: Correlation - Multiple Failed Logins Followed by Successful Login
id: b180ead8-d58f-40b2-ae54-c8940995b9b6
level: high
correlation:
    type: temporal_ordered
    rules:
        - multiple_failed_login
        - successful_login
    group-by:
        - User
        - SourceIP
    timespan: 10m
---
title: Multiple failed logons
id: a8418a5a-5fc4-46b5-b23b-6c73beb19d41
name: multiple_failed_login
correlation:
    type: event_count
    rules:
        - failed_login
    group-by:
        - User
        - SourceIP
    timespan: 10m
    condition:
        gte: 10
---
title: Single failed login
name: failed_login
logsource: {product: vigil}
detection: {sel: {outcome: failure}, condition: sel}
`

func TestBruteForceChain(t *testing.T) {
	e := engine(t, bruteForce, Options{})
	who := []string{"User=alice", "SourceIP=203.0.113.7"}
	for i := 0; i < 10; i++ {
		if a := obs(e, "failed_login", at(time.Duration(i)*10*time.Second), who...); len(a) != 0 {
			t.Fatalf("failure %d: intermediate correlation alerted on its own: %+v", i, a)
		}
	}
	// A success from another IP is another group.
	if a := obs(e, "successful_login", at(100*time.Second), "User=alice", "SourceIP=198.51.100.1"); len(a) != 0 {
		t.Fatalf("other source: %+v", a)
	}
	a := obs(e, "successful_login", at(2*time.Minute), who...)
	if len(a) != 1 {
		t.Fatalf("got %d alerts, want 1", len(a))
	}
	al := a[0]
	if al.Correlation.ID != "b180ead8-d58f-40b2-ae54-c8940995b9b6" || al.Group["User"] != "alice" ||
		al.GroupKey != "User=alice, SourceIP=203.0.113.7" || al.Value != 2 || al.Count != 2 {
		t.Errorf("alert: %+v", al)
	}
	if len(al.Evidence) != 11 || al.Evidence[0].Rule != "failed_login" || al.Evidence[10].Rule != "successful_login" {
		t.Errorf("evidence: %+v", al.Evidence)
	}
	if !al.First.Equal(at(90*time.Second)) || !al.Last.Equal(at(2*time.Minute)) {
		t.Errorf("first %v last %v", al.First, al.Last)
	}
	// Another success in the same window is the same incident.
	if a := obs(e, "successful_login", at(3*time.Minute), who...); len(a) != 0 {
		t.Errorf("repeated: %+v", a)
	}
}

func TestBruteForceNegative(t *testing.T) {
	e := engine(t, bruteForce, Options{})
	who := []string{"User=bob", "SourceIP=203.0.113.8"}
	for i := 0; i < 9; i++ { // one failure short
		obs(e, "failed_login", at(time.Duration(i)*time.Second), who...)
	}
	if a := obs(e, "successful_login", at(time.Minute), who...); len(a) != 0 {
		t.Fatalf("9 failures: %+v", a)
	}
	// The tenth failure comes after the success: wrong order.
	obs(e, "failed_login", at(70*time.Second), who...)
	if a := obs(e, "successful_login", at(11*time.Minute), who...); len(a) != 1 {
		t.Fatalf("success after the 10th failure: %d alerts", len(a))
	}
	// Ten failures, then a success more than 10 minutes later.
	who = []string{"User=carol", "SourceIP=203.0.113.9"}
	for i := 0; i < 10; i++ {
		obs(e, "failed_login", at(time.Hour+time.Duration(i)*time.Second), who...)
	}
	if a := obs(e, "successful_login", at(time.Hour+9*time.Second+10*time.Minute+time.Second), who...); len(a) != 0 {
		t.Fatalf("success outside timespan: %+v", a)
	}
}

// With generate: true the intermediate correlation alerts too.
func TestChainGenerate(t *testing.T) {
	src := strings.Replace(bruteForce, "level: high\n", "level: high\ngenerate: true\n", 1)
	e := engine(t, src, Options{})
	var got []string
	for i := 0; i < 10; i++ {
		for _, a := range obs(e, "failed_login", at(time.Duration(i)*time.Second), "User=u", "SourceIP=ip") {
			got = append(got, a.Correlation.Title)
		}
	}
	for _, a := range obs(e, "successful_login", at(time.Minute), "User=u", "SourceIP=ip") {
		got = append(got, a.Correlation.Title)
	}
	if len(got) != 2 || got[0] != "Multiple failed logons" || !strings.HasPrefix(got[1], "Correlation - ") {
		t.Errorf("alerts: %q", got)
	}
	// generate is per level: the outer correlation's generate: true lets
	// the inner correlation and successful_login alert, not failed_login.
	if !e.StandAlone("", "successful_login") || e.StandAlone("", "failed_login") {
		t.Error("StandAlone with generate: true")
	}
	e = engine(t, bruteForce, Options{})
	if e.StandAlone("", "failed_login") || !e.StandAlone("", "unrelated") {
		t.Error("StandAlone without generate")
	}
	if refs := e.References(); len(refs) != 2 || refs[0] != "failed_login" || refs[1] != "successful_login" {
		t.Errorf("References: %q", refs)
	}
}

const absence = `
title: Privilege grant without an approved review
id: 6f1c7d0e-0000-4000-8000-000000000001
level: high
correlation:
    type: absence
    rules:
        - approved_review
        - access_request
        - privilege_grant
    group-by:
        - actor
    timespan: 24h
    aliases:
        actor:
            privilege_grant: target.user
            approved_review: request.user
`

func TestAbsence(t *testing.T) {
	e := engine(t, absence, Options{})
	if f := e.Fields("privilege_grant"); len(f) != 1 || f[0] != "target.user" {
		t.Errorf("Fields(privilege_grant) = %q", f)
	}
	// Reviewed: no alert.
	obs(e, "approved_review", at(0), "request.user=alice")
	if a := obs(e, "privilege_grant", at(3*time.Hour), "target.user=alice"); len(a) != 0 {
		t.Errorf("reviewed grant alerted: %+v", a)
	}
	// An access request also counts (no alias: field actor read as is).
	obs(e, "access_request", at(time.Hour), "actor=dave")
	if a := obs(e, "privilege_grant", at(2*time.Hour), "target.user=dave"); len(a) != 0 {
		t.Errorf("requested grant alerted: %+v", a)
	}
	// Exactly 24h after the review: still preceded.
	obs(e, "approved_review", at(time.Hour), "request.user=erin")
	if a := obs(e, "privilege_grant", at(25*time.Hour), "target.user=erin"); len(a) != 0 {
		t.Errorf("grant exactly timespan after review alerted: %+v", a)
	}
	// No review at all.
	a := obs(e, "privilege_grant", at(4*time.Hour), "target.user=bob")
	if len(a) != 1 || a[0].Group["actor"] != "bob" || a[0].Count != 1 || len(a[0].Evidence) != 1 ||
		a[0].Evidence[0].Rule != "privilege_grant" || !a[0].First.Equal(at(4*time.Hour)) {
		t.Fatalf("unreviewed grant: %+v", a)
	}
	// A review of someone else does not count.
	obs(e, "approved_review", at(5*time.Hour), "request.user=mallory")
	if a := obs(e, "privilege_grant", at(6*time.Hour), "target.user=carol"); len(a) != 1 {
		t.Errorf("grant reviewed for another actor: %d alerts", len(a))
	}
	// A review older than the timespan does not count.
	obs(e, "approved_review", at(7*time.Hour), "request.user=frank")
	if a := obs(e, "privilege_grant", at(31*time.Hour+time.Second), "target.user=frank"); len(a) != 1 {
		t.Errorf("stale review: %d alerts", len(a))
	}
	// Deduplicated: bob's second unreviewed grant within 24h of the first.
	if a := obs(e, "privilege_grant", at(32*time.Hour), "target.user=bob"); len(a) != 1 {
		t.Errorf("bob, 28h after his first alert: %d alerts", len(a))
	}
	if a := obs(e, "privilege_grant", at(33*time.Hour), "target.user=bob"); len(a) != 0 {
		t.Errorf("bob, 1h after: %d alerts", len(a))
	}
	// A grant without the actor field is ignored, not grouped under "".
	if a := obs(e, "privilege_grant", at(34*time.Hour)); len(a) != 0 || e.Stats().MissingFields != 1 {
		t.Errorf("missing field: %+v %+v", a, e.Stats())
	}
}

func TestValueCount(t *testing.T) {
	e := engine(t, `
title: Password spraying
correlation:
    type: value_count
    rules: [failed_login]
    group-by: [SourceIP]
    timespan: 5m
    condition:
        field: User
        gte: 3
`, Options{})
	ip := "SourceIP=192.0.2.1"
	for i, u := range []string{"a", "a", "b", "b"} {
		if a := obs(e, "failed_login", at(time.Duration(i)*time.Second), ip, "User="+u); len(a) != 0 {
			t.Fatalf("%d: %+v", i, a)
		}
	}
	if a := obs(e, "failed_login", at(time.Minute), "SourceIP=192.0.2.2", "User=c"); len(a) != 0 {
		t.Fatalf("other IP: %+v", a)
	}
	a := obs(e, "failed_login", at(2*time.Minute), ip, "User=c")
	if len(a) != 1 || a[0].Value != 3 || a[0].Count != 5 || a[0].Group["SourceIP"] != "192.0.2.1" {
		t.Fatalf("3 users: %+v", a)
	}
	// After the "a" and "b" logins slide out, two users are not enough.
	e = engine(t, `
title: spray
correlation: {type: value_count, rules: [f], group-by: [ip], timespan: 5m, condition: {field: user, gte: 3}}`, Options{})
	obs(e, "f", at(0), "ip=x", "user=a")
	obs(e, "f", at(time.Minute), "ip=x", "user=b")
	if a := obs(e, "f", at(5*time.Minute+time.Nanosecond), "ip=x", "user=c"); len(a) != 0 {
		t.Errorf("a slid out: %+v", a)
	}
	if a := obs(e, "f", at(5*time.Minute+2*time.Nanosecond), "ip=x", "user=a"); len(a) != 1 {
		t.Errorf("a again: %d", len(a))
	}
}

func TestValueSumAvg(t *testing.T) {
	e := engine(t, `
title: exfil
correlation: {type: value_sum, rules: [web], group-by: [user], timespan: 1h, condition: {field: bytes, gt: 1000}}
---
title: avg
correlation: {type: value_avg, rules: [web], group-by: [user], timespan: 1h, condition: {field: bytes, gte: 600}}
`, Options{})
	if a := obs(e, "web", at(0), "user=u", "bytes=600"); len(a) != 1 || a[0].Correlation.Title != "avg" {
		t.Fatalf("first: %+v", a)
	}
	if a := obs(e, "web", at(time.Minute), "user=u", "bytes=500"); len(a) != 1 || a[0].Correlation.Title != "exfil" || a[0].Value != 1100 {
		t.Fatalf("second: %+v", a)
	}
	if obs(e, "web", at(2*time.Minute), "user=u", "bytes=lots"); e.Stats().MissingFields != 2 {
		t.Errorf("non-numeric value: %+v", e.Stats())
	}
}

func TestTemporal(t *testing.T) {
	src := `
title: Recon
correlation:
    type: %s
    rules: [recon_a, recon_b, recon_c]
    group-by: [host, user]
    timespan: 5m
`
	hu := []string{"host=h1", "user=u1"}
	// Any order.
	e := engine(t, strings.Replace(src, "%s", "temporal", 1), Options{})
	obs(e, "recon_c", at(0), hu...)
	obs(e, "recon_a", at(time.Minute), hu...)
	obs(e, "recon_a", at(time.Minute), "host=h2", "user=u1")
	if a := obs(e, "recon_b", at(2*time.Minute), hu...); len(a) != 1 || a[0].Value != 3 || len(a[0].Evidence) != 3 {
		t.Fatalf("temporal: %+v", a)
	}
	// Ordered: c, a, b is out of order; a then b then c completes.
	e = engine(t, strings.Replace(src, "%s", "temporal_ordered", 1), Options{})
	obs(e, "recon_c", at(0), hu...)
	obs(e, "recon_a", at(time.Minute), hu...)
	if a := obs(e, "recon_b", at(2*time.Minute), hu...); len(a) != 0 {
		t.Fatalf("out of order: %+v", a)
	}
	a := obs(e, "recon_c", at(3*time.Minute), hu...)
	if len(a) != 1 || len(a[0].Evidence) != 3 || !a[0].First.Equal(at(time.Minute)) {
		t.Fatalf("in order: %+v", a)
	}
	// A late (out-of-order) match within the window is placed by its time:
	// b arrives after c but happened before it.
	e = engine(t, strings.Replace(src, "%s", "temporal_ordered", 1), Options{})
	obs(e, "recon_a", at(0), hu...)
	obs(e, "recon_c", at(2*time.Minute), hu...)
	if a := obs(e, "recon_b", at(time.Minute), hu...); len(a) != 1 {
		t.Fatalf("late b: %+v", a)
	}
	// Beyond the window, a late match is ignored and counted.
	obs(e, "recon_a", at(-3*time.Minute-time.Nanosecond), hu...) // newest is 2m, window 5m
	if s := e.Stats(); s.Late != 1 {
		t.Errorf("late: %+v", s)
	}
	// A condition on temporal counts distinct rules.
	e = engine(t, strings.Replace(src, "%s", "temporal", 1)+"    condition: {gte: 2}\n", Options{})
	obs(e, "recon_a", at(0), hu...)
	obs(e, "recon_a", at(time.Second), hu...)
	if a := obs(e, "recon_c", at(2*time.Second), hu...); len(a) != 1 || a[0].Value != 2 {
		t.Fatalf("temporal gte 2: %+v", a)
	}
}

// Sliding-window edges: the window [t-timespan, t] is closed.
func TestWindowEdges(t *testing.T) {
	src := `
title: Two denials
correlation: {type: event_count, rules: [denied], group-by: [actor], timespan: 1m, condition: {gte: 2}}`
	for _, c := range []struct {
		name string
		gap  time.Duration
		want int
	}{
		{"exactly at timespan", time.Minute, 1},
		{"just inside", time.Minute - time.Nanosecond, 1},
		{"well inside", 59 * time.Second, 1},
		{"just outside", time.Minute + time.Nanosecond, 0},
		{"outside", 61 * time.Second, 0},
	} {
		e := engine(t, src, Options{})
		obs(e, "denied", at(0), "actor=a")
		if a := obs(e, "denied", at(c.gap), "actor=a"); len(a) != c.want {
			t.Errorf("%s: %d alerts, want %d", c.name, len(a), c.want)
		}
	}
	// Three events 40s apart never fit in one minute.
	e := engine(t, strings.Replace(src, "gte: 2", "gte: 3", 1), Options{})
	for _, s := range []int{0, 40, 80} {
		if a := obs(e, "denied", at(time.Duration(s)*time.Second), "actor=a"); len(a) != 0 {
			t.Errorf("40s apart: %+v", a)
		}
	}
	e = engine(t, strings.Replace(src, "gte: 2", "gte: 3", 1), Options{})
	var n int
	// Windows slide: 0:50, 1:10 and 1:40 fit in one minute although a
	// tumbling one-minute window would split them.
	for _, s := range []int{50, 70, 100} {
		n += len(obs(e, "denied", at(time.Duration(s)*time.Second), "actor=a"))
	}
	if n != 1 {
		t.Errorf("across a minute boundary: %d alerts", n)
	}
}

// Deduplication: a sustained burst fires once per timespan, and alerts do
// not share evidence.
func TestDedup(t *testing.T) {
	e := engine(t, `
title: Many failures
correlation: {type: event_count, rules: [f], group-by: [ip], timespan: 10m, condition: {gte: 10}}`, Options{MaxEvidence: 1000})
	var fired []time.Duration
	var prevLast time.Time
	for s := 0; s <= 1500; s++ {
		for _, a := range obs(e, "f", at(time.Duration(s)*time.Second), "ip=x") {
			fired = append(fired, a.Last.Sub(t0))
			if !a.First.After(prevLast) && !prevLast.IsZero() {
				t.Errorf("alert at %v shares evidence with the previous one", a.Last.Sub(t0))
			}
			prevLast = a.Last
		}
	}
	want := []time.Duration{9 * time.Second, 610 * time.Second, 1211 * time.Second}
	if len(fired) != len(want) {
		t.Fatalf("fired at %v, want %v", fired, want)
	}
	for i := range want {
		if fired[i] != want[i] {
			t.Errorf("fired at %v, want %v", fired, want)
		}
	}
	// After a quiet period the group re-arms.
	for i := 0; i < 10; i++ {
		if a := obs(e, "f", at(time.Hour+time.Duration(i)*time.Second), "ip=x"); (len(a) == 1) != (i == 9) {
			t.Errorf("after quiet, failure %d: %d alerts", i, len(a))
		}
	}
}

func TestGroupCap(t *testing.T) {
	e := engine(t, `
title: Two failures
correlation: {type: event_count, rules: [f], group-by: [actor], timespan: 1h, condition: {gte: 2}}
---
title: Two denials
correlation: {type: event_count, rules: [d], group-by: [actor], timespan: 1h, condition: {gte: 2}}`, Options{MaxGroups: 3})
	obs(e, "f", at(0), "actor=a1")
	obs(e, "d", at(time.Second), "actor=a2")
	obs(e, "f", at(2*time.Second), "actor=a3")
	obs(e, "f", at(3*time.Second), "actor=a1") // touches a1: a2 is now the oldest
	if a := obs(e, "f", at(4*time.Second), "actor=a4"); len(a) != 0 || e.CapEvictions() != 1 {
		t.Fatalf("a4: %+v, evictions %d", a, e.CapEvictions())
	}
	// a2 (the other correlation's group) was evicted: its count restarted.
	if a := obs(e, "d", at(5*time.Second), "actor=a2"); len(a) != 0 {
		t.Errorf("a2 kept its state: %+v", a)
	}
	if s := e.Stats(); s.Groups != 3 || s.CapEvictions != 2 {
		t.Errorf("stats: %+v", s)
	}
	// a1 survived (it was touched) and fired already; a4 still counts.
	if a := obs(e, "f", at(6*time.Second), "actor=a4"); len(a) != 1 {
		t.Errorf("a4 lost its state: %d alerts", len(a))
	}
}

func TestExpiry(t *testing.T) {
	e := engine(t, `
title: Two failures
correlation: {type: event_count, rules: [f], group-by: [actor], timespan: 1m, condition: {gte: 2}}`, Options{})
	for i := 0; i < 100; i++ {
		obs(e, "f", at(time.Duration(i)*time.Second), "actor=u"+string(rune('a'+i%26))+string(rune('a'+i/26)))
	}
	s := e.Stats()
	if s.Groups != 61 || s.Expired != 39 {
		t.Errorf("stats: %+v", s)
	}
	obs(e, "f", at(time.Hour), "actor=z")
	if s := e.Stats(); s.Groups != 1 || s.Expired != 100 {
		t.Errorf("after an hour: %+v", s)
	}
}

func TestNewErrors(t *testing.T) {
	for _, c := range []struct{ src, want string }{
		{`
title: A
name: a
correlation: {type: event_count, rules: [b], timespan: 1m, condition: {gte: 1}}
---
title: B
name: b
correlation: {type: event_count, rules: [a], timespan: 1m, condition: {gte: 1}}`, "cycle"},
		{`
title: A
name: a
correlation: {type: event_count, rules: [a], timespan: 1m, condition: {gte: 1}}`, "refers to itself"},
		{`
title: A
id: x
correlation: {type: event_count, rules: [r], timespan: 1m, condition: {gte: 1}}
---
title: B
id: x
correlation: {type: event_count, rules: [r], timespan: 1m, condition: {gte: 1}}`, `"x" is also the id or name`},
		{`
title: A
correlation: {type: absence, rules: [grant, review, grant], timespan: 1m}`, "trigger"},
	} {
		cs, err := Parse([]byte(c.src), "new.yml")
		if err != nil {
			t.Fatal(err)
		}
		if _, err := New(cs, Options{}); err == nil || !strings.Contains(err.Error(), c.want) || !strings.Contains(err.Error(), "new.yml:") {
			t.Errorf("want error %q, got %v", c.want, err)
		}
	}
}

func TestParseErrors(t *testing.T) {
	head := "title: T\ncorrelation:\n"
	for _, c := range []struct{ body, want string }{
		{"    type: event_count\n    rules: [r]\n    timespan: 1m\n", "c.yml:2: correlation \"T\": event_count requires a condition"},
		{"    type: value_count\n    rules: [r]\n    timespan: 1m\n    condition: {gte: 3}\n", "c.yml:6: correlation \"T\": value_count requires condition.field"},
		{"    type: value_percentile\n    rules: [r]\n", "c.yml:3: correlation \"T\": correlation type value_percentile is not supported"},
		{"    type: sequence\n", "c.yml:3: correlation \"T\": unknown correlation type"},
		{"    type: temporal\n    rules: [r]\n    timespan: 90\n", "c.yml:5: correlation \"T\": correlation.timespan"},
		{"    type: temporal\n    rules: [r]\n    timespan: 1w\n", "c.yml:5:"},
		{"    type: temporal\n    rules: [r]\n    timespan: 1m\n", "needs at least two rules"},
		{"    type: event_count\n    rules: [r]\n    timespan: 1m\n    condition: {gte: ten}\n", "c.yml:6: correlation.condition.gte: \"ten\" is not a number"},
		{"    type: event_count\n    rules: [r]\n    timespan: 1m\n    condition: {between: 3}\n", "c.yml:6: correlation.condition: unknown key \"between\""},
		{"    type: event_count\n    rules: [r]\n    timespan: 1m\n    timeframe: 1m\n    condition: {gte: 1}\n", "c.yml:6: correlation \"T\": unknown key correlation.timeframe"},
		{"    type: event_count\n    timespan: 1m\n    condition: {gte: 1}\n", "correlation.rules is required"},
		{"    type: event_count\n    rules: [r]\n    condition: {gte: 1}\n", "correlation.timespan is required"},
		{"    rules: [r]\n", "correlation.type is required"},
		{"    type: absence\n    rules: [a, b]\n    timespan: 1m\n    condition: {gte: 1}\n", "absence takes no condition"},
		{"    type: temporal\n    rules: [a, b]\n    timespan: 1m\n    aliases: {x: {c: f}}\n", "aliases.x names rule \"c\""},
		{"    type: temporal\n    rules: [a, b]\n    timespan: 1m\n    generate: maybe\n", "generate: must be true or false"},
	} {
		_, err := Parse([]byte(head+c.body), "c.yml")
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%q:\n got %v\nwant %q", c.body, err, c.want)
		}
	}
	if _, err := Parse([]byte("correlation: {type: temporal}\n"), "c.yml"); err == nil || !strings.Contains(err.Error(), "c.yml:1: correlation: title is required") {
		t.Errorf("no title: %v", err)
	}
	// Rules and filters in the same file are skipped; all errors reported.
	cs, err := Parse([]byte("title: r\nlogsource: {product: vigil}\ndetection: {s: {a: 1}, condition: s}\n---\n"+
		"title: bad\ncorrelation: {type: nope}\n---\ntitle: ok\ncorrelation: {type: temporal, rules: [a, b], timespan: 1s}\n"), "m.yml")
	if len(cs) != 1 || cs[0].Title != "ok" || cs[0].Line != 8 || err == nil || !strings.Contains(err.Error(), "m.yml:6:") {
		t.Errorf("multi: %v %v", cs, err)
	}
}

// The specification's examples parse: the example files, and the YAML blocks
// of the specification text with a correlation section.
func TestSpecExamples(t *testing.T) {
	root := filepath.Join(corpora.Dir(t), "sigma", "spec")
	files, err := filepath.Glob(filepath.Join(root, "examples", "correlation", "*.yml"))
	if err != nil || len(files) == 0 {
		t.Fatalf("no examples: %v", err)
	}
	for _, f := range files {
		data, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		cs, err := Parse(data, filepath.Base(f))
		if strings.Contains(f, "value_percentile") {
			if err == nil || !strings.Contains(err.Error(), "value_percentile.yml:3:") || !strings.Contains(err.Error(), "not supported") {
				t.Errorf("%s: %v", f, err)
			}
			continue
		}
		if err != nil || len(cs) != 1 {
			t.Errorf("%s: %v", f, err)
			continue
		}
		if _, err := New(cs, Options{}); err != nil {
			t.Errorf("%s: %v", f, err)
		}
	}
	spec, err := os.ReadFile(filepath.Join(root, "sigma-correlation-rules-specification.md"))
	if err != nil {
		t.Fatal(err)
	}
	var blocks int
	for _, part := range strings.Split(string(spec), "```")[1:] {
		body, ok := strings.CutPrefix(part, "yml\n")
		if !ok {
			body, ok = strings.CutPrefix(part, "yaml\n")
		}
		if !ok || !strings.Contains(body, "\ncorrelation:") && !strings.HasPrefix(body, "correlation:") {
			continue
		}
		if !strings.Contains(body, "title:") { // a fragment
			body = "title: fragment\n" + body
		}
		blocks++
		cs, err := Parse([]byte(body), "spec.md")
		if strings.Contains(body, "value_percentile") {
			if err == nil {
				t.Errorf("value_percentile block parsed")
			}
			continue
		}
		if err != nil && !strings.Contains(body, "type:") { // the "Related rules" fragment has no type
			continue
		}
		if err != nil {
			t.Errorf("spec block:\n%s\n%v", body, err)
			continue
		}
		if _, err := New(cs, Options{}); err != nil {
			t.Errorf("spec block:\n%s\n%v", body, err)
		}
	}
	if blocks < 8 {
		t.Errorf("only %d correlation blocks found in the specification", blocks)
	}
}
