package server_test

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"golang.org/x/mod/sumdb/note"

	"github.com/vigil-audit/vigil/internal/auditlog"
	"github.com/vigil-audit/vigil/internal/auth"
	"github.com/vigil-audit/vigil/internal/event"
	"github.com/vigil-audit/vigil/internal/policy"
	"github.com/vigil-audit/vigil/internal/policy/builtin"
	"github.com/vigil-audit/vigil/internal/review"
	"github.com/vigil-audit/vigil/internal/server"
	"github.com/vigil-audit/vigil/internal/store"
	"github.com/vigil-audit/vigil/internal/store/sqlite"
)

const origin = "vigil.test/api"

// env is a server over a real audit log on a temporary SQLite store.
type env struct {
	t        *testing.T
	st       *sqlite.Store
	log      *auditlog.Log
	verifier note.Verifier
	srv      *httptest.Server
	logs     *syncBuffer // the server's own log output
	reviews  *review.Manager

	admin, auditor, user string // token secrets
}

type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.String()
}

func newEnv(t *testing.T, maxBody int64) *env {
	t.Helper()
	ctx := context.Background()
	dir := t.TempDir()
	st, err := sqlite.Open(ctx, filepath.Join(dir, "vigil.db"))
	if err != nil {
		t.Fatal(err)
	}
	s, v, err := auditlog.LoadOrCreateKey(dir, origin)
	if err != nil {
		t.Fatal(err)
	}
	reg := prometheus.NewRegistry()
	l, err := auditlog.Open(ctx, auditlog.Options{Store: st, Signer: s, Verifier: v, Metrics: auditlog.NewMetrics(reg)})
	if err != nil {
		t.Fatal(err)
	}
	e := &env{t: t, st: st, log: l, verifier: v, logs: &syncBuffer{}}
	for _, tok := range []struct {
		dst        *string
		user, role string
	}{{&e.admin, "admin-al", auth.RoleAdmin}, {&e.auditor, "auditor-ann", auth.RoleAuditor}, {&e.user, "user-ugo", auth.RoleUser}} {
		if *tok.dst, err = auth.Create(ctx, st, tok.user, tok.role); err != nil {
			t.Fatal(err)
		}
	}
	rs, err := builtin.Load()
	if err != nil {
		t.Fatal(err)
	}
	eng := policy.NewEngine(rs, policy.Defaults{})
	policy.RegisterClassifiers(eng)
	e.reviews = review.New(l, review.Config{})
	e.srv = httptest.NewServer(server.New(server.Options{
		Log: l, Auth: auth.NewAuthenticator(st), Gatherer: reg, MaxBody: maxBody,
		Logger: slog.New(slog.NewTextHandler(e.logs, nil)), Policy: eng, Reviews: e.reviews,
	}))
	t.Cleanup(func() {
		e.srv.Close()
		l.Close()
		st.Close()
	})
	return e
}

type response struct {
	status int
	header http.Header
	body   []byte
}

// do sends a request; token "" sends no Authorization header.
func (e *env) do(method, path, token string, body []byte) response {
	e.t.Helper()
	req, err := http.NewRequest(method, e.srv.URL+path, bytes.NewReader(body))
	if err != nil {
		e.t.Fatal(err)
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := e.srv.Client().Do(req)
	if err != nil {
		e.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		e.t.Fatal(err)
	}
	return response{status: resp.StatusCode, header: resp.Header, body: b}
}

func (e *env) get(path, token string) response { e.t.Helper(); return e.do("GET", path, token, nil) }

// wantError checks an error response: status and exact message.
func (r response) wantError(t *testing.T, status int, msg string) {
	t.Helper()
	want, _ := json.Marshal(map[string]string{"error": msg})
	if r.status != status || strings.TrimSpace(string(r.body)) != string(want) {
		t.Fatalf("got %d %s\nwant %d %s", r.status, r.body, status, want)
	}
	if ct := r.header.Get("Content-Type"); ct != "application/json" {
		t.Fatalf("error Content-Type %q", ct)
	}
}

func (e *env) size() uint64 { return e.log.Head().Size }

// entries returns every stored entry, decoded.
func (e *env) entries() []*event.Event {
	e.t.Helper()
	var out []*event.Event
	err := e.st.ScanEntries(context.Background(), 0, func(en *store.Entry) error {
		ev, err := event.Decode(en.Payload)
		if err != nil {
			return err
		}
		out = append(out, ev)
		return nil
	})
	if err != nil {
		e.t.Fatal(err)
	}
	return out
}

func (e *env) last() *event.Event {
	e.t.Helper()
	all := e.entries()
	if len(all) == 0 {
		e.t.Fatal("empty log")
	}
	return all[len(all)-1]
}

func rec(user, extra string) string {
	r := fmt.Sprintf(`{"source":"test/api","activity":"read","actor":{"user":%q},"action":"SELECT","outcome":"success"`, user)
	if extra != "" {
		r += "," + extra
	}
	return r + "}"
}

func TestHealthzAndMetrics(t *testing.T) {
	e := newEnv(t, 0)
	r := e.get("/healthz", "")
	if r.status != 200 || string(r.body) != "ok\n" {
		t.Fatalf("/healthz: %d %q", r.status, r.body)
	}
	if r := e.do("POST", "/v1/events", e.user, []byte(rec("a", "")+"\n"+rec("b", "")+"\n"+rec("c", ""))); r.status != 200 {
		t.Fatalf("append: %d %s", r.status, r.body)
	}
	r = e.get("/metrics", "")
	if r.status != 200 {
		t.Fatalf("/metrics: %d", r.status)
	}
	for _, want := range []string{"\nvigil_auditlog_appended_events_total 3\n", "\nvigil_auditlog_size 3\n", "# TYPE vigil_auditlog_commit_seconds histogram"} {
		if !strings.Contains(string(r.body), want) {
			t.Errorf("/metrics lacks %q:\n%s", want, r.body)
		}
	}
}

func TestAuthentication(t *testing.T) {
	e := newEnv(t, 0)
	endpoints := []struct{ method, path string }{
		{"POST", "/v1/events"},
		{"GET", "/v1/events"},
		{"GET", "/v1/checkpoint"},
		{"GET", "/v1/proof/inclusion?seq=0"},
		{"GET", "/v1/proof/consistency?from=0"},
	}
	creds := []struct {
		name, header, msg string
		audited           bool
	}{
		{"no header", "", "missing bearer token", false},
		{"basic auth", "Basic YWxpY2U6cHc=", "missing bearer token", false},
		{"empty bearer", "Bearer ", "missing bearer token", false},
		{"malformed token", "Bearer hunter2", "invalid token", true},
		{"unknown token", "Bearer vgl_" + strings.Repeat("Z", 43), "invalid token", true},
		{"altered token", "Bearer " + e.admin + "x", "invalid token", true},
	}
	audited := 0
	for _, ep := range endpoints {
		for _, c := range creds {
			t.Run(ep.method+ep.path+"/"+c.name, func(t *testing.T) {
				before := e.size()
				req, _ := http.NewRequest(ep.method, e.srv.URL+ep.path, strings.NewReader(rec("x", "")))
				if c.header != "" {
					req.Header.Set("Authorization", c.header)
				}
				req.Header.Set("User-Agent", "vigil-test/1")
				resp, err := e.srv.Client().Do(req)
				if err != nil {
					t.Fatal(err)
				}
				b, _ := io.ReadAll(resp.Body)
				resp.Body.Close()
				response{resp.StatusCode, resp.Header, b}.wantError(t, 401, c.msg)
				if got := resp.Header.Get("WWW-Authenticate"); got != `Bearer realm="vigil"` {
					t.Fatalf("WWW-Authenticate = %q", got)
				}
				// Nothing the request carried was appended; a bad token is recorded.
				want := before
				if c.audited {
					want++
					audited++
					ev := e.last()
					if ev.Source != "vigil/api" || ev.Outcome != event.OutcomeFailure || ev.Actor.User != "unknown" ||
						ev.ClassUID != event.ClassAuthentication || ev.Activity != "logon" ||
						ev.Action != ep.method+" "+strings.SplitN(ep.path, "?", 2)[0] ||
						ev.Actor.SrcIP != "127.0.0.1" || ev.Actor.UserAgent != "vigil-test/1" || ev.Attrs["reason"] != "invalid token" {
						t.Fatalf("recorded failure = %+v", ev)
					}
				}
				if got := e.size(); got != want {
					t.Fatalf("log size %d -> %d; want %d", before, got, want)
				}
			})
		}
	}
	// The failed attempts can be found by source and outcome.
	got, err := e.st.Query(context.Background(), store.Query{Source: "vigil/api", Outcome: "failure", Limit: store.MaxLimit})
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != audited || audited != 15 {
		t.Fatalf("%d failure events stored for %d bad tokens", len(got), audited)
	}
}

func TestAppendEvents(t *testing.T) {
	e := newEnv(t, 0)
	for i, tt := range []struct {
		name, token, body string
		users             []string
	}{
		{"json array, admin", e.admin, "[" + rec("a0", "") + "," + rec("a1", "") + ",\n" + rec("a2", "") + "]", []string{"a0", "a1", "a2"}},
		{"json lines, user", e.user, rec("l0", "") + "\n\n" + rec("l1", "") + "\n", []string{"l0", "l1"}},
		{"json lines, auditor", e.auditor, rec("x0", `"raw":{"sql":"SELECT 1 < 2"}`), []string{"x0"}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			first := e.size()
			r := e.do("POST", "/v1/events", tt.token, []byte(tt.body))
			want := fmt.Sprintf(`{"appended":%d,"first_seq":%d,"last_seq":%d}`, len(tt.users), first, first+uint64(len(tt.users))-1)
			if r.status != 200 || strings.TrimSpace(string(r.body)) != want {
				t.Fatalf("got %d %s; want 200 %s", r.status, r.body, want)
			}
			if r.header.Get("Content-Type") != "application/json" {
				t.Fatalf("Content-Type %q", r.header.Get("Content-Type"))
			}
			all := e.entries()
			if uint64(len(all)) != first+uint64(len(tt.users)) {
				t.Fatalf("log holds %d entries", len(all))
			}
			for j, u := range tt.users {
				ev := all[first+uint64(j)]
				if ev.Actor.User != u || ev.Seq != first+uint64(j) || ev.Source != "test/api" {
					t.Fatalf("entry %d = %+v; want user %s", first+uint64(j), ev, u)
				}
			}
			if i == 2 && string(all[first].Raw) != `{"sql":"SELECT 1 < 2"}` {
				t.Fatalf("raw = %s", all[first].Raw)
			}
		})
	}
}

func TestAppendEventsRejected(t *testing.T) {
	const maxBody = 4096
	e := newEnv(t, maxBody)
	big := make([]string, 0, 60)
	for i := range 60 {
		big = append(big, rec(fmt.Sprint("u", i), ""))
	}
	tests := []struct {
		name, body string
		status     int
		msg        string
	}{
		{"bad record on line 2", rec("a", "") + "\n" + rec("b", `"outcome":"ok"`) + "\n" + rec("c", ""), 400,
			`line 2 (record 2): field outcome: must be one of denied, failure, pending, success, unknown (got "ok"); nothing appended`},
		{"bad record on line 2 of an array", "[" + rec("a", "") + ",\n" + rec("b", `"actor":{"user":""}`) + "]", 400,
			`line 2 (record 2): field actor.user: is required; nothing appended`},
		{"bad time", rec("a", `"time":"now"`), 400,
			`line 1 (record 1): field time: must be an RFC 3339 time (got "now"); nothing appended`},
		{"unknown field", rec("a", `"severity":"high"`), 400, `line 1 (record 1): unknown field "severity"; nothing appended`},
		{"wrong type", rec("a", `"class_uid":"6003"`), 400, `line 1 (record 1): field class_uid: must be int, not JSON string; nothing appended`},
		{"seq set", rec("a", `"seq":4`), 400, `line 1 (record 1): field seq: is assigned by the log and must not be set; nothing appended`},
		{"trailing garbage", "[" + rec("a", "") + "]]", 400, `line 1 (record 2): unexpected data after the closing ]; nothing appended`},
		{"empty body", "", 400, "no events in the request body"},
		{"white space only", "\n \n", 400, "no events in the request body"},
		{"empty array", "[]", 400, "no events in the request body"},
		{"body over MaxBody, lines", strings.Join(big, "\n"), 413, "request body is larger than 4096 bytes; nothing appended"},
		{"body over MaxBody, array", "[" + strings.Join(big, ",") + "]", 413, "request body is larger than 4096 bytes; nothing appended"},
	}
	if len(strings.Join(big, "\n")) <= maxBody {
		t.Fatal("test body is not over MaxBody")
	}
	if r := e.do("POST", "/v1/events", e.admin, []byte(rec("seed", ""))); r.status != 200 {
		t.Fatalf("seed: %d %s", r.status, r.body)
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			before := e.size()
			e.do("POST", "/v1/events", e.admin, []byte(tt.body)).wantError(t, tt.status, tt.msg)
			if got := e.size(); got != before {
				t.Fatalf("log size %d -> %d after a rejected append", before, got)
			}
			if n, err := e.st.Size(context.Background()); err != nil || n != before {
				t.Fatalf("store holds %d entries; want %d", n, before)
			}
		})
	}
}

// An event that parses but would encode beyond event.MaxEncodedSize is the
// client's error, named by line, not an internal error.
func TestAppendEventTooLarge(t *testing.T) {
	e := newEnv(t, 0)
	huge := rec("a", `"attrs":{"s":"`+strings.Repeat("\u2028", event.MaxEncodedSize/4)+`"}`)
	r := e.do("POST", "/v1/events", e.admin, []byte("["+rec("ok", "")+",\n"+huge+"]"))
	if r.status != 400 || !strings.HasPrefix(string(r.body), `{"error":"line 2 (record 2): field (event): encodes to `) ||
		!strings.HasSuffix(string(r.body), `bytes; at most 1048576 are allowed; nothing appended"}`+"\n") {
		t.Fatalf("got %d %.300s", r.status, r.body)
	}
	if e.size() != 0 {
		t.Fatalf("log size %d", e.size())
	}
}

func TestAppendConcurrent(t *testing.T) {
	e := newEnv(t, 0)
	type result struct {
		First uint64 `json:"first_seq"`
		Last  uint64 `json:"last_seq"`
	}
	var mu sync.Mutex
	var got []result
	var wg sync.WaitGroup
	for g := range 8 {
		wg.Go(func() {
			for i := range 5 {
				body := rec(fmt.Sprintf("g%d-%d", g, i), "") + "\n" + rec(fmt.Sprintf("g%d-%d", g, i), "")
				r := e.do("POST", "/v1/events", e.user, []byte(body))
				var res result
				if r.status != 200 || json.Unmarshal(r.body, &res) != nil {
					t.Errorf("append: %d %s", r.status, r.body)
					return
				}
				mu.Lock()
				got = append(got, res)
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	slices.SortFunc(got, func(a, b result) int { return int(a.First) - int(b.First) })
	all := e.entries()
	for i, r := range got {
		if r.First != uint64(2*i) || r.Last != r.First+1 {
			t.Fatalf("append %d got seqs %d..%d; runs must be contiguous and disjoint", i, r.First, r.Last)
		}
		if all[r.First].Actor.User != all[r.Last].Actor.User {
			t.Fatalf("one request's events were split: %s, %s", all[r.First].Actor.User, all[r.Last].Actor.User)
		}
	}
	if len(got) != 40 || len(all) != 80 {
		t.Fatalf("%d appends, %d entries", len(got), len(all))
	}
}

// seed appends the query test's events straight to the log, at seqs 0..4.
func seed(t *testing.T, e *env) {
	t.Helper()
	at := func(s string) time.Time {
		tm, err := time.Parse(time.RFC3339Nano, s)
		if err != nil {
			t.Fatal(err)
		}
		return tm
	}
	evs := []event.Event{
		{Source: "test/db", Activity: "delete", Actor: event.Actor{User: "alice"}, Action: "DELETE",
			Resource: event.Resource{ID: "public.users", Name: "users"}, Outcome: "success", Target: "prod-db",
			Time: at("2024-01-01T00:00:00Z"), Raw: json.RawMessage(`{"query":"DELETE FROM users WHERE id < 10"}`)},
		{Source: "test/db", Activity: "read", Actor: event.Actor{User: "bob"}, Action: "SELECT",
			Resource: event.Resource{ID: "public.orders", Name: "orders"}, Outcome: "success", Target: "prod-db",
			Time: at("2024-01-02T00:00:00Z")},
		{Source: "test/k8s", Activity: "delete", Actor: event.Actor{User: "alice"}, Action: "delete",
			Resource: event.Resource{ID: "pod/web-1", Name: "web-1"}, Outcome: "denied", Target: "cluster-eu",
			Time: at("2024-01-03T00:00:00Z"), Attrs: map[string]any{"note": "A Needle In the haystack"}},
		{Source: "test/k8s", Activity: "read", Actor: event.Actor{User: "carol"}, Action: "get",
			Resource: event.Resource{Name: "users"}, Outcome: "failure", Target: "cluster-eu",
			Time: at("2024-01-04T00:00:00Z")},
		{Source: "test/aws", Activity: "delete", Actor: event.Actor{User: "bob"}, Action: "TerminateInstances",
			Resource: event.Resource{ID: "i-123"}, Outcome: "pending", Target: "acct-1",
			Time: at("2024-01-05T00:00:00.5Z")},
	}
	first, err := e.log.Append(context.Background(), evs)
	if err != nil || first != 0 {
		t.Fatalf("seed: first=%d err=%v", first, err)
	}
}

type page struct {
	Events     []json.RawMessage `json:"events"`
	NextCursor string            `json:"next_cursor"`
}

// query runs GET /v1/events as the auditor and returns the page and its seqs.
func (e *env) query(t *testing.T, params string) (page, []uint64) {
	t.Helper()
	r := e.get("/v1/events?"+params, e.auditor)
	if r.status != 200 {
		t.Fatalf("GET /v1/events?%s: %d %s", params, r.status, r.body)
	}
	var p page
	if err := json.Unmarshal(r.body, &p); err != nil {
		t.Fatal(err)
	}
	if p.Events == nil {
		t.Fatalf("events is not a list: %s", r.body)
	}
	seqs := []uint64{}
	for _, raw := range p.Events {
		n, ok := event.LeafSeq(raw)
		if !ok {
			t.Fatalf("returned event is not a stored leaf: %s", raw)
		}
		// The stored bytes come back verbatim.
		en, err := e.st.Entry(context.Background(), n)
		if err != nil || !bytes.Equal(en.Payload, raw) {
			t.Fatalf("returned event %d differs from the stored one (%v):\n%s\n%s", n, err, raw, en.Payload)
		}
		seqs = append(seqs, n)
	}
	return p, seqs
}

func TestQueryEventsFilters(t *testing.T) {
	e := newEnv(t, 0)
	seed(t, e)
	tests := []struct {
		params string
		want   []uint64
	}{
		{"source=test/k8s", []uint64{2, 3}},
		{"source=test/nope", []uint64{}},
		{"actor=alice", []uint64{0, 2}},
		{"action=DELETE", []uint64{0}},
		{"action=delete", []uint64{2}},
		{"resource=users", []uint64{0, 3}}, // id or name
		{"resource=public.orders", []uint64{1}},
		{"outcome=denied", []uint64{2}},
		{"outcome=pending", []uint64{4}},
		{"target=prod-db", []uint64{0, 1}},
		{"target=cluster-eu&actor=carol", []uint64{3}},
		// Free text, case-insensitive, anywhere in the stored event. (The space
		// is %20 in this request's own audit record, so that does not match.)
		{"q=needle%20in", []uint64{2}},
		{"q=" + url.QueryEscape("WHERE id < 10"), []uint64{0}},
		{"since=2024-01-02T00:00:00Z&until=2024-01-04T00:00:00Z", []uint64{1, 2}}, // since inclusive, until exclusive
		{"until=2024-01-03T00:00:00Z", []uint64{0, 1}},
		{"since=" + url.QueryEscape("2024-01-02T01:00:00+01:00") + "&until=2024-01-03T00:00:00Z", []uint64{1}},
		{"since=2024-01-04T00:00:00Z&source=test/k8s", []uint64{3}},
		{"since=2024-01-05T00:00:00.5Z&actor=bob", []uint64{4}},
		{"since=2024-01-05T00:00:00.500000001Z&actor=bob", []uint64{}},
		{"limit=2", []uint64{0, 1}},
		{"limit=2&actor=bob", []uint64{1, 4}},
		{"cursor=1&actor=alice", []uint64{2}},
		{"cursor=0&limit=3", []uint64{1, 2, 3}},
		{"cursor=4&source=test/db", []uint64{}},
	}
	for _, tt := range tests {
		t.Run(tt.params, func(t *testing.T) {
			p, seqs := e.query(t, tt.params)
			if !reflect.DeepEqual(seqs, tt.want) {
				t.Fatalf("seqs %v; want %v", seqs, tt.want)
			}
			// A cursor is offered exactly when the page is full.
			limit := 100
			if v, _ := url.ParseQuery(tt.params); v.Get("limit") != "" {
				fmt.Sscan(v.Get("limit"), &limit)
			}
			wantCursor := ""
			if len(seqs) == limit {
				wantCursor = fmt.Sprint(seqs[len(seqs)-1])
			}
			if p.NextCursor != wantCursor {
				t.Fatalf("next_cursor %q; want %q", p.NextCursor, wantCursor)
			}
		})
	}
}

func TestQueryEventsPaging(t *testing.T) {
	e := newEnv(t, 0)
	seed(t, e)
	// Filtered: the pages hold each match once, in order.
	var got []uint64
	cursor, requests := "", 0
	for {
		params := "source=test/db&limit=1"
		if cursor != "" {
			params += "&cursor=" + cursor
		}
		p, seqs := e.query(t, params)
		requests++
		got = append(got, seqs...)
		if p.NextCursor == "" {
			break
		}
		cursor = p.NextCursor
	}
	if !reflect.DeepEqual(got, []uint64{0, 1}) || requests != 3 {
		t.Fatalf("paged seqs %v in %d requests; want [0 1] in 3", got, requests)
	}

	// Unfiltered: each read appends its own audit record, yet paging visits
	// every entry exactly once and ends.
	got, cursor = nil, ""
	for i := 0; ; i++ {
		if i > 50 {
			t.Fatal("paging does not end")
		}
		params := "limit=3"
		if cursor != "" {
			params += "&cursor=" + cursor
		}
		p, seqs := e.query(t, params)
		got = append(got, seqs...)
		if p.NextCursor == "" {
			break
		}
		cursor = p.NextCursor
	}
	for i, s := range got {
		if s != uint64(i) {
			t.Fatalf("paged seqs %v: want 0, 1, 2, ... each once", got)
		}
	}
	if uint64(len(got)) != e.size() {
		t.Fatalf("paging saw %d entries of %d", len(got), e.size())
	}
}

func TestQueryEventsBadParameters(t *testing.T) {
	e := newEnv(t, 0)
	seed(t, e)
	tests := []struct{ params, msg string }{
		{"sort=time", `unknown parameter "sort"`},
		{"actor=alice&Actor=bob", `unknown parameter "Actor"`},
		{"since=yesterday", `parameter since: "yesterday" is not an RFC 3339 time`},
		{"since=2024-01-01", `parameter since: "2024-01-01" is not an RFC 3339 time`},
		{"until=2024-01-01T00:00:00", `parameter until: "2024-01-01T00:00:00" is not an RFC 3339 time`},
		{"limit=0", `parameter limit: "0" is not a number from 1 to 1000`},
		{"limit=1001", `parameter limit: "1001" is not a number from 1 to 1000`},
		{"limit=ten", `parameter limit: "ten" is not a number from 1 to 1000`},
		{"cursor=-1", `parameter cursor: "-1" is not a cursor returned by this API`},
		{"cursor=abc", `parameter cursor: "abc" is not a cursor returned by this API`},
	}
	for _, tt := range tests {
		t.Run(tt.params, func(t *testing.T) {
			e.get("/v1/events?"+tt.params, e.auditor).wantError(t, 400, tt.msg)
		})
	}
}

// Only admins and auditors read the log; a refusal is itself recorded.
func TestReadAccess(t *testing.T) {
	e := newEnv(t, 0)
	seed(t, e)
	paths := []string{"/v1/events", "/v1/checkpoint", "/v1/proof/inclusion?seq=0", "/v1/proof/consistency?from=1"}
	for _, path := range paths {
		t.Run(path, func(t *testing.T) {
			before := e.size()
			e.get(path, e.user).wantError(t, 403, "role user may not read the audit log")
			if e.size() != before+1 {
				t.Fatalf("log size %d -> %d; want the refusal recorded", before, e.size())
			}
			ev := e.last()
			action := "GET " + strings.SplitN(path, "?", 2)[0]
			if ev.Source != "vigil/api" || ev.Outcome != event.OutcomeDenied || ev.Actor.User != "user-ugo" ||
				!reflect.DeepEqual(ev.Actor.Roles, []string{"user"}) || ev.Action != action ||
				ev.ClassUID != event.ClassAuthentication || ev.Attrs["reason"] != "role user may not read the audit log" {
				t.Fatalf("recorded refusal = %+v", ev)
			}
			for _, reader := range []struct{ token, user, role string }{{e.auditor, "auditor-ann", "auditor"}, {e.admin, "admin-al", "admin"}} {
				before := e.size()
				if r := e.get(path, reader.token); r.status != 200 {
					t.Fatalf("%s: %d %s", reader.role, r.status, r.body)
				}
				if e.size() != before+1 {
					t.Fatalf("log size %d -> %d; want the read recorded", before, e.size())
				}
				ev := e.last()
				wantQuery := ""
				if _, q, ok := strings.Cut(path, "?"); ok {
					wantQuery = q
				}
				if ev.Seq != before || ev.Source != "vigil/api" || ev.Outcome != event.OutcomeSuccess || ev.Actor.User != reader.user ||
					!reflect.DeepEqual(ev.Actor.Roles, []string{reader.role}) || ev.Action != action ||
					ev.ClassUID != event.ClassAPIActivity || ev.Activity != "read" ||
					ev.Resource.Type != "audit_log" || ev.Resource.Name != origin || ev.Attrs["query"] != wantQuery {
					t.Fatalf("recorded read = %+v", ev)
				}
			}
		})
	}
}

// Every successful read of events is in the log afterwards, found by actor and action.
func TestReadsAreAudited(t *testing.T) {
	e := newEnv(t, 0)
	seed(t, e)
	queries := []string{"actor=alice", "source=test/k8s&limit=5", "q=needle"}
	for _, q := range queries {
		e.query(t, q)
	}
	got, err := e.st.Query(context.Background(), store.Query{Actor: "auditor-ann", Action: "GET /v1/events"})
	if err != nil {
		t.Fatal(err)
	}
	var seen []string
	for _, en := range got {
		ev, err := event.Decode(en.Payload)
		if err != nil {
			t.Fatal(err)
		}
		seen = append(seen, ev.Attrs["query"].(string))
	}
	if !reflect.DeepEqual(seen, queries) {
		t.Fatalf("audited reads %q; want %q", seen, queries)
	}
	// The audit record of a read is written before the read: the q=needle
	// search finds its own record too.
	_, seqs := e.query(t, "q=needle")
	if !reflect.DeepEqual(seqs, []uint64{2, got[2].Seq, e.size() - 1}) {
		t.Fatalf("q=needle seqs %v", seqs)
	}
}

func TestCheckpoint(t *testing.T) {
	e := newEnv(t, 0)
	seed(t, e)
	r := e.get("/v1/checkpoint", e.auditor)
	if r.status != 200 || r.header.Get("Content-Type") != "text/plain; charset=utf-8" {
		t.Fatalf("%d %s %s", r.status, r.header.Get("Content-Type"), r.body)
	}
	cp, err := auditlog.OpenCheckpoint(r.body, e.verifier)
	if err != nil {
		t.Fatalf("OpenCheckpoint: %v\n%s", err, r.body)
	}
	head := e.log.Head()
	if cp.Origin != origin || cp.Size != head.Size || cp.Size != 6 || !bytes.Equal(cp.Root, head.Root) {
		t.Fatalf("checkpoint %s/%d/%x; head %d/%x; want size 6 (5 events and this read)", cp.Origin, cp.Size, cp.Root, head.Size, head.Root)
	}
	root, err := e.log.RootAt(context.Background(), cp.Size)
	if err != nil || !bytes.Equal(root, cp.Root) {
		t.Fatalf("root at %d = %x, %v; checkpoint says %x", cp.Size, root, err, cp.Root)
	}
	// Another key's verifier does not accept it.
	_, other, err := auditlog.LoadOrCreateKey(t.TempDir(), origin)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := auditlog.OpenCheckpoint(r.body, other); err == nil {
		t.Fatal("checkpoint verified with another key")
	}
}

type inclusion struct {
	Seq        uint64   `json:"seq"`
	Size       uint64   `json:"size"`
	LeafHash   []byte   `json:"leaf_hash"`
	Proof      [][]byte `json:"proof"`
	Checkpoint *string  `json:"checkpoint"`
}

func TestInclusionProof(t *testing.T) {
	ctx := context.Background()
	e := newEnv(t, 0)
	seed(t, e)
	for range 4 { // grow the log to a size that is not a power of two
		e.do("POST", "/v1/events", e.user, []byte(rec("more", "")))
	}
	tests := []struct {
		seq, size uint64 // size 0: the head
	}{
		{0, 0}, {4, 0}, {8, 0}, {0, 1}, {0, 3}, {2, 3}, {4, 7}, {6, 7}, {8, 9},
	}
	for _, tt := range tests {
		t.Run(fmt.Sprintf("seq=%d,size=%d", tt.seq, tt.size), func(t *testing.T) {
			path := fmt.Sprintf("/v1/proof/inclusion?seq=%d", tt.seq)
			if tt.size != 0 {
				path += fmt.Sprintf("&size=%d", tt.size)
			}
			r := e.get(path, e.auditor)
			var p inclusion
			if r.status != 200 || json.Unmarshal(r.body, &p) != nil {
				t.Fatalf("%d %s", r.status, r.body)
			}
			var root []byte
			if tt.size == 0 {
				// Against the head, the response carries the signed checkpoint.
				if p.Checkpoint == nil {
					t.Fatalf("no checkpoint in %s", r.body)
				}
				cp, err := auditlog.OpenCheckpoint([]byte(*p.Checkpoint), e.verifier)
				if err != nil {
					t.Fatal(err)
				}
				if cp.Size != p.Size || cp.Size != e.size() {
					t.Fatalf("proof size %d, checkpoint size %d, head %d", p.Size, cp.Size, e.size())
				}
				root = cp.Root
			} else {
				if p.Size != tt.size || p.Checkpoint != nil {
					t.Fatalf("size %d, checkpoint %v; want %d and none", p.Size, p.Checkpoint, tt.size)
				}
				var err error
				if root, err = e.log.RootAt(ctx, tt.size); err != nil {
					t.Fatal(err)
				}
			}
			en, err := e.st.Entry(ctx, tt.seq)
			if err != nil {
				t.Fatal(err)
			}
			if p.Seq != tt.seq || !bytes.Equal(p.LeafHash, auditlog.LeafHash(en.Payload)) {
				t.Fatalf("seq %d leaf_hash %x; want %d %x", p.Seq, p.LeafHash, tt.seq, auditlog.LeafHash(en.Payload))
			}
			if err := auditlog.VerifyInclusion(p.Seq, p.Size, p.LeafHash, p.Proof, root); err != nil {
				t.Fatalf("proof does not verify: %v", err)
			}
			// The proof is specific to the leaf.
			other := auditlog.LeafHash(append([]byte{}, en.Payload[:len(en.Payload)-1]...))
			if err := auditlog.VerifyInclusion(p.Seq, p.Size, other, p.Proof, root); err == nil {
				t.Fatal("proof verifies for another leaf")
			}
		})
	}
}

func TestInclusionProofErrors(t *testing.T) {
	e := newEnv(t, 0)
	seed(t, e)
	tests := []struct {
		path string
		msg  func() string
	}{
		{"/v1/proof/inclusion", func() string { return "parameter seq is required" }},
		{"/v1/proof/inclusion?size=3", func() string { return "parameter seq is required" }},
		{"/v1/proof/inclusion?seq=x", func() string { return `parameter seq: "x" is not a non-negative integer` }},
		{"/v1/proof/inclusion?seq=-1", func() string { return `parameter seq: "-1" is not a non-negative integer` }},
		{"/v1/proof/inclusion?seq=1&size=x", func() string { return `parameter size: "x" is not a non-negative integer` }},
		{"/v1/proof/inclusion?seq=3&size=3", func() string { return "out of range: seq 3 is not in a tree of size 3" }},
		{"/v1/proof/inclusion?seq=100", func() string { return fmt.Sprintf("out of range: seq 100 is not in a tree of size %d", e.size()) }},
		{"/v1/proof/inclusion?seq=1&size=100", func() string { return fmt.Sprintf("out of range: size 100 is beyond the log's size %d", e.size()) }},
	}
	for _, tt := range tests {
		t.Run(tt.path, func(t *testing.T) {
			r := e.get(tt.path, e.admin)
			r.wantError(t, 400, tt.msg())
		})
	}
}

type consistency struct {
	From       uint64   `json:"from"`
	To         uint64   `json:"to"`
	Proof      [][]byte `json:"proof"`
	Checkpoint *string  `json:"checkpoint"`
}

func TestConsistencyProof(t *testing.T) {
	ctx := context.Background()
	e := newEnv(t, 0)
	seed(t, e)
	for range 6 {
		e.do("POST", "/v1/events", e.user, []byte(rec("more", "")))
	}
	tests := []struct{ from, to uint64 }{ // to 0: the head
		{0, 5}, {1, 5}, {3, 7}, {4, 8}, {5, 5}, {7, 11}, {1, 0}, {6, 0}, {11, 0},
	}
	for _, tt := range tests {
		t.Run(fmt.Sprintf("from=%d,to=%d", tt.from, tt.to), func(t *testing.T) {
			path := fmt.Sprintf("/v1/proof/consistency?from=%d", tt.from)
			if tt.to != 0 {
				path += fmt.Sprintf("&to=%d", tt.to)
			}
			r := e.get(path, e.admin)
			var p consistency
			if r.status != 200 || json.Unmarshal(r.body, &p) != nil {
				t.Fatalf("%d %s", r.status, r.body)
			}
			to := tt.to
			if to == 0 {
				to = e.size()
				if p.Checkpoint == nil {
					t.Fatalf("no checkpoint in %s", r.body)
				}
				cp, err := auditlog.OpenCheckpoint([]byte(*p.Checkpoint), e.verifier)
				if err != nil || cp.Size != to {
					t.Fatalf("checkpoint %+v, %v; want size %d", cp, err, to)
				}
			}
			if p.From != tt.from || p.To != to {
				t.Fatalf("from %d to %d; want %d..%d", p.From, p.To, tt.from, to)
			}
			r1, err := e.log.RootAt(ctx, tt.from)
			if err != nil {
				t.Fatal(err)
			}
			r2, err := e.log.RootAt(ctx, to)
			if err != nil {
				t.Fatal(err)
			}
			if err := auditlog.VerifyConsistency(p.From, p.To, p.Proof, r1, r2); err != nil {
				t.Fatalf("proof does not verify: %v", err)
			}
			// It does not verify a different old tree (unless there is nothing to prove).
			if tt.from > 0 && tt.from < to {
				bad := bytes.Clone(r1)
				bad[0] ^= 1
				if err := auditlog.VerifyConsistency(p.From, p.To, p.Proof, bad, r2); err == nil {
					t.Fatal("proof verifies against an altered old root")
				}
			}
		})
	}
	for _, tt := range []struct{ path, msg string }{
		{"/v1/proof/consistency?from=5&to=3", "out of range: from 5 is greater than to 3"},
		{"/v1/proof/consistency", "parameter from is required"},
		{"/v1/proof/consistency?to=3", "parameter from is required"},
		{"/v1/proof/consistency?from=1&to=x", `parameter to: "x" is not a non-negative integer`},
		{"/v1/proof/consistency?from=1&to=1000", "out of range: size 1000 is beyond the log's size "},
	} {
		t.Run(tt.path, func(t *testing.T) {
			r := e.get(tt.path, e.admin)
			msg := tt.msg
			if strings.HasSuffix(msg, " ") {
				msg += fmt.Sprint(e.size())
			}
			r.wantError(t, 400, msg)
		})
	}
}

// Internal errors are mapped in one place and never show Go error text.
func TestInternalErrorsDoNotLeak(t *testing.T) {
	t.Run("log closed", func(t *testing.T) {
		e := newEnv(t, 0)
		seed(t, e)
		e.log.Close()
		for _, r := range []response{
			e.do("POST", "/v1/events", e.user, []byte(rec("a", ""))),
			e.get("/v1/events", e.auditor),
			e.get("/v1/checkpoint", e.admin),
		} {
			r.wantError(t, 503, "shutting down")
		}
		if n, _ := e.st.Size(context.Background()); n != 5 {
			t.Fatalf("store holds %d entries after close; want 5", n)
		}
	})
	t.Run("store failed", func(t *testing.T) {
		e := newEnv(t, 0)
		seed(t, e)
		// Authenticate both tokens once, so that they are cached when the store goes.
		e.do("POST", "/v1/events", e.user, []byte(rec("a", "")))
		e.get("/v1/checkpoint", e.auditor)
		e.st.Close()
		for _, r := range []response{
			e.do("POST", "/v1/events", e.user, []byte(rec("a", ""))),
			e.get("/v1/events", e.auditor),
			e.get("/v1/proof/inclusion?seq=0", e.auditor),
			e.do("POST", "/v1/events", e.admin, []byte(rec("a", ""))), // not cached: authentication fails
		} {
			r.wantError(t, 500, "internal error")
		}
		if logs := e.logs.String(); !strings.Contains(logs, "request failed") || !strings.Contains(logs, "database is closed") {
			t.Fatalf("the server log lacks the error:\n%s", logs)
		}
	})
}

// The JSON response encodes leaf hashes and proofs as standard base64.
func TestProofEncoding(t *testing.T) {
	e := newEnv(t, 0)
	seed(t, e)
	r := e.get("/v1/proof/inclusion?seq=1&size=5", e.admin)
	var raw map[string]any
	if err := json.Unmarshal(r.body, &raw); err != nil {
		t.Fatal(err)
	}
	lh, err := base64.StdEncoding.DecodeString(raw["leaf_hash"].(string))
	if err != nil || len(lh) != 32 {
		t.Fatalf("leaf_hash %v: %v", raw["leaf_hash"], err)
	}
	if n := len(raw["proof"].([]any)); n != 3 { // seq 1 in a tree of 5: sibling 0, node [2,4), leaf 4
		t.Fatalf("proof of %d hashes; want 3: %s", n, r.body)
	}
}
