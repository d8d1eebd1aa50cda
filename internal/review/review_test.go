package review_test

import (
	"context"
	"errors"
	"path/filepath"
	"testing"
	"time"

	"github.com/vigil-audit/vigil/internal/auditlog"
	"github.com/vigil-audit/vigil/internal/event"
	"github.com/vigil-audit/vigil/internal/review"
	"github.com/vigil-audit/vigil/internal/store"
	"github.com/vigil-audit/vigil/internal/store/sqlite"
)

func openLog(t *testing.T, dir string) *auditlog.Log {
	t.Helper()
	ctx := context.Background()
	st, err := sqlite.Open(ctx, filepath.Join(dir, "vigil.db"))
	if err != nil {
		t.Fatal(err)
	}
	s, v, err := auditlog.LoadOrCreateKey(dir, "test.vigil/log")
	if err != nil {
		t.Fatal(err)
	}
	l, err := auditlog.Open(ctx, auditlog.Options{Store: st, Signer: s, Verifier: v})
	if err != nil {
		t.Fatal(err)
	}
	return l
}

type clock struct{ t time.Time }

func (c *clock) now() time.Time { return c.t }

func req(user, fp string) review.Request {
	return review.Request{
		Requester: user, Roles: []string{"user"}, Connection: "prod-db", Environment: "production",
		Kind: "sql", Fingerprint: fp, Statement: "DROP TABLE accounts",
		Rules: []review.Rule{{ID: "sql.drop", Message: "DROP in production"}},
	}
}

var (
	alice = review.Principal{User: "alice", Role: "user"}
	bob   = review.Principal{User: "bob", Role: "admin"}
	carol = review.Principal{User: "carol", Role: "admin"}
	dave  = review.Principal{User: "dave", Role: "user"}
)

func TestReviewLifecycle(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	l := openLog(t, dir)
	c := &clock{t: time.Date(2026, 11, 28, 10, 0, 0, 0, time.UTC)}
	m := review.New(l, review.Config{Approvers: 2, Expiry: time.Hour, Window: 30 * time.Minute})
	m.SetClock(c.now)

	r, created, err := m.Open(ctx, req("alice", "fp1"))
	if err != nil || !created || r.Status != review.StatusPending || r.Required != 2 {
		t.Fatalf("open = %+v, %v, %v", r, created, err)
	}
	again, created, err := m.Open(ctx, req("alice", "fp1"))
	if err != nil || created || again.ID != r.ID {
		t.Fatalf("second open of the same statement = %+v, %v, %v; want the pending review %s", again, created, err, r.ID)
	}
	if got, _ := m.Approved(ctx, "alice", "prod-db", "fp1"); got != nil {
		t.Fatalf("pending review counts as approved: %+v", got)
	}

	// Who may not decide it, and why.
	for _, tc := range []struct {
		by   review.Principal
		want error
	}{{alice, review.ErrForbidden}, {review.Principal{User: "alice", Role: "admin"}, review.ErrForbidden}, {dave, review.ErrForbidden}} {
		if _, err := m.Approve(ctx, r.ID, tc.by, ""); !errors.Is(err, tc.want) {
			t.Errorf("approve by %+v: err = %v, want %v", tc.by, err, tc.want)
		}
	}
	if _, err := m.Approve(ctx, "rv-nope", bob, ""); !errors.Is(err, review.ErrNotFound) {
		t.Errorf("approve of an unknown id: %v", err)
	}

	r1, err := m.Approve(ctx, r.ID, bob, "looks fine")
	if err != nil || r1.Status != review.StatusPending || len(r1.Approvals) != 1 {
		t.Fatalf("first of two approvals = %+v, %v", r1, err)
	}
	if _, err := m.Approve(ctx, r.ID, bob, ""); !errors.Is(err, review.ErrConflict) {
		t.Fatalf("bob approving twice: %v", err)
	}
	if got, _ := m.Approved(ctx, "alice", "prod-db", "fp1"); got != nil {
		t.Fatal("one approval of two counts as approved")
	}
	c.t = c.t.Add(10 * time.Minute)
	r2, err := m.Approve(ctx, r.ID, carol, "")
	if err != nil || r2.Status != review.StatusApproved || !r2.ApprovedUntil.Equal(c.t.Add(30*time.Minute)) {
		t.Fatalf("second approval = %+v, %v", r2, err)
	}
	if _, err := m.Deny(ctx, r.ID, bob, "too late"); !errors.Is(err, review.ErrConflict) {
		t.Fatalf("denying an approved review: %v", err)
	}

	// The approval covers the same user, connection and fingerprint only.
	for _, tc := range []struct {
		user, conn, fp string
		want           bool
	}{
		{"alice", "prod-db", "fp1", true},
		{"mallory", "prod-db", "fp1", false},
		{"alice", "other-db", "fp1", false},
		{"alice", "prod-db", "fp2", false},
	} {
		got, err := m.Approved(ctx, tc.user, tc.conn, tc.fp)
		if err != nil || (got != nil) != tc.want {
			t.Errorf("Approved(%s, %s, %s) = %v, %v; want %v", tc.user, tc.conn, tc.fp, got, err, tc.want)
		}
	}

	// A second Manager over the same log (a restart, or another node) folds
	// the same state from the events alone.
	m2 := review.New(l, review.Config{})
	m2.SetClock(c.now)
	if got, err := m2.Get(ctx, r.ID); err != nil || got.Status != review.StatusApproved || len(got.Approvals) != 2 || got.Statement != "DROP TABLE accounts" ||
		len(got.Rules) != 1 || got.Rules[0].ID != "sql.drop" || got.Rules[0].Message != "DROP in production" {
		t.Fatalf("refolded review = %+v, %v", got, err)
	}

	// The window closes.
	c.t = c.t.Add(31 * time.Minute)
	if got, _ := m.Approved(ctx, "alice", "prod-db", "fp1"); got != nil {
		t.Fatal("approval outlived its window")
	}
	if got, _ := m.Get(ctx, r.ID); got.Status != review.StatusExpired {
		t.Fatalf("status after the window = %s", got.Status)
	}
	// A new request for the same statement is a new review.
	r3, created, err := m.Open(ctx, req("alice", "fp1"))
	if err != nil || !created || r3.ID == r.ID {
		t.Fatalf("open after expiry = %+v, %v, %v", r3, created, err)
	}

	// Denial closes a review at once; pending requests expire.
	d, err := m.Deny(ctx, r3.ID, carol, "no")
	if err != nil || d.Status != review.StatusDenied || d.Denial.User != "carol" || d.Denial.Comment != "no" {
		t.Fatalf("deny = %+v, %v", d, err)
	}
	if _, err := m.Approve(ctx, r3.ID, bob, ""); !errors.Is(err, review.ErrConflict) {
		t.Fatalf("approving a denied review: %v", err)
	}
	r4, _, err := m.Open(ctx, req("alice", "fp4"))
	if err != nil {
		t.Fatal(err)
	}
	c.t = c.t.Add(61 * time.Minute)
	if _, err := m.Approve(ctx, r4.ID, bob, ""); !errors.Is(err, review.ErrConflict) {
		t.Fatalf("approving an expired request: %v", err)
	}
	for status, want := range map[string]int{"": 3, review.StatusExpired: 2, review.StatusDenied: 1, review.StatusPending: 0} {
		list, err := m.List(ctx, status, "")
		if err != nil || len(list) != want {
			t.Errorf("List(%q) = %d reviews, %v; want %d", status, len(list), err, want)
		}
	}
	if list, _ := m.List(ctx, "", "bob"); len(list) != 0 {
		t.Errorf("bob requested nothing, List gives %d", len(list))
	}

	// Every step is in the log, and the log verifies.
	entries, err := l.Store().Query(ctx, store.Query{Source: review.Source, Limit: store.MaxLimit})
	if err != nil {
		t.Fatal(err)
	}
	var actions []string
	for _, en := range entries {
		ev, err := event.Decode(en.Payload)
		if err != nil {
			t.Fatal(err)
		}
		actions = append(actions, ev.Actor.User+":"+ev.Action)
	}
	want := []string{"alice:review.request", "bob:review.approve", "carol:review.approve", "alice:review.request", "carol:review.deny", "alice:review.request"}
	if len(actions) != len(want) {
		t.Fatalf("review events = %v, want %v", actions, want)
	}
	for i := range want {
		if actions[i] != want[i] {
			t.Fatalf("review events = %v, want %v", actions, want)
		}
	}
	rep, err := l.VerifyLive(ctx)
	if err != nil || !rep.OK() {
		t.Fatalf("verify: %v %v", err, rep.Problems)
	}
}

func TestApproveEventFeedsDetection(t *testing.T) {
	// The completing approval carries the requester and the status that the
	// built-in absence correlations read.
	ctx := context.Background()
	l := openLog(t, t.TempDir())
	m := review.New(l, review.Config{})
	r, _, err := m.Open(ctx, req("alice", "fp"))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := m.Approve(ctx, r.ID, bob, ""); err != nil {
		t.Fatal(err)
	}
	entries, err := l.Store().Query(ctx, store.Query{Source: review.Source, Action: review.ActionApprove})
	if err != nil || len(entries) != 1 {
		t.Fatalf("approve events: %d, %v", len(entries), err)
	}
	ev, err := event.Decode(entries[0].Payload)
	if err != nil {
		t.Fatal(err)
	}
	if ev.Actor.User != "bob" || ev.Attrs["review.requester"] != "alice" || ev.Attrs["review.status"] != review.StatusApproved {
		t.Fatalf("approve event = actor %s, attrs %v", ev.Actor.User, ev.Attrs)
	}
}
