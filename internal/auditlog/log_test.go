package auditlog_test

import (
	"context"
	"fmt"
	"path/filepath"
	"sync"
	"testing"

	"github.com/vigil-audit/vigil/internal/auditlog"
	"github.com/vigil-audit/vigil/internal/event"
	"github.com/vigil-audit/vigil/internal/store"
	"github.com/vigil-audit/vigil/internal/store/sqlite"
)

func openLog(t *testing.T, dir string, every uint64) *auditlog.Log {
	t.Helper()
	st, err := sqlite.Open(context.Background(), filepath.Join(dir, "vigil.db"))
	if err != nil {
		t.Fatal(err)
	}
	s, v, err := auditlog.LoadOrCreateKey(dir, "vigil.test/log")
	if err != nil {
		t.Fatal(err)
	}
	l, err := auditlog.Open(context.Background(), auditlog.Options{Store: st, Signer: s, Verifier: v, CheckpointEvery: every})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close(); st.Close() })
	return l
}

func ev(i int) event.Event {
	return event.Event{Source: "test", Activity: "read", Actor: event.Actor{User: fmt.Sprintf("u%d", i%7)},
		Action: "SELECT", Outcome: "success", Attrs: map[string]any{"i": i}}
}

func TestAppendProveVerify(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	l := openLog(t, dir, 4)
	var wg sync.WaitGroup
	for g := 0; g < 8; g++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < 25; i++ {
				evs := []event.Event{ev(g*100 + i)}
				if i%5 == 0 {
					evs = append(evs, ev(g*100+i+50))
				}
				first, err := l.Append(ctx, evs)
				if err != nil {
					t.Error(err)
					return
				}
				if evs[0].Seq != first || (len(evs) == 2 && evs[1].Seq != first+1) {
					t.Errorf("seqs %d/%d not set from first %d", evs[0].Seq, evs[len(evs)-1].Seq, first)
				}
			}
		}()
	}
	wg.Wait()
	head := l.Head()
	if head.Size != 8*30 {
		t.Fatalf("head size %d; want 240", head.Size)
	}
	// Every inclusion proof at several sizes verifies against the root at that size.
	for _, size := range []uint64{1, 2, 3, 7, 64, 100, 239, 240} {
		root, err := l.RootAt(ctx, size)
		if err != nil {
			t.Fatal(err)
		}
		for seq := uint64(0); seq < size; seq++ {
			lh, p, err := l.InclusionProof(ctx, seq, size)
			if err != nil {
				t.Fatalf("inclusion %d in %d: %v", seq, size, err)
			}
			if err := auditlog.VerifyInclusion(seq, size, lh, p, root); err != nil {
				t.Fatalf("inclusion %d in %d does not verify: %v", seq, size, err)
			}
		}
		for from := uint64(0); from <= size; from += 13 {
			p, err := l.ConsistencyProof(ctx, from, size)
			if err != nil {
				t.Fatal(err)
			}
			r1, _ := l.RootAt(ctx, from)
			if err := auditlog.VerifyConsistency(from, size, p, r1, root); err != nil {
				t.Fatalf("consistency %d..%d: %v", from, size, err)
			}
		}
	}
	// A proof for the wrong leaf fails.
	lh, p, _ := l.InclusionProof(ctx, 5, 240)
	root, _ := l.RootAt(ctx, 240)
	lh[0] ^= 1
	if err := auditlog.VerifyInclusion(5, 240, lh, p, root); err == nil {
		t.Fatal("inclusion proof verified for an altered leaf")
	}
	if _, _, err := l.InclusionProof(ctx, 240, 240); err == nil {
		t.Fatal("inclusion proof for a seq beyond the size succeeded")
	}

	_, v, _ := auditlog.LoadOrCreateKey(dir, "")
	rep, err := auditlog.Verify(ctx, l.Store(), v, nil)
	if err != nil {
		t.Fatal(err)
	}
	if !rep.OK() || rep.Entries != 240 || rep.Head.Size != 240 {
		t.Fatalf("verify: ok=%v entries=%d head=%d problems=%v", rep.OK(), rep.Entries, rep.Head.Size, rep.Problems)
	}
	if rep.Checkpoints < 2 {
		t.Fatalf("verify checked %d checkpoints; want the head and kept ones", rep.Checkpoints)
	}
}

func TestReopenContinues(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	st, _ := sqlite.Open(ctx, filepath.Join(dir, "vigil.db"))
	s, v, _ := auditlog.LoadOrCreateKey(dir, "vigil.test/log")
	l, err := auditlog.Open(ctx, auditlog.Options{Store: st, Signer: s, Verifier: v})
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 5; i++ {
		if _, err := l.Append(ctx, []event.Event{ev(i)}); err != nil {
			t.Fatal(err)
		}
	}
	l.Close()
	if _, err := l.Append(ctx, []event.Event{ev(9)}); err != auditlog.ErrClosed {
		t.Fatalf("append after close: %v; want ErrClosed", err)
	}
	st.Close()

	l2 := openLog(t, dir, 0)
	first, err := l2.Append(ctx, []event.Event{ev(5)})
	if err != nil || first != 5 {
		t.Fatalf("append after reopen: first=%d err=%v; want 5", first, err)
	}
	rep, err := auditlog.Verify(ctx, l2.Store(), v, nil)
	if err != nil || !rep.OK() {
		t.Fatalf("verify after reopen: %v %v", err, rep.Problems)
	}
	e, err := l2.Store().Entry(ctx, 5)
	if err != nil {
		t.Fatal(err)
	}
	got, err := event.Decode(e.Payload)
	if err != nil || got.Seq != 5 || got.Actor.User != "u5" {
		t.Fatalf("decoded entry 5 = %+v, %v", got, err)
	}
	var _ store.Store = l2.Store()
}

func TestAppendRejectsBadEventAtomically(t *testing.T) {
	ctx := context.Background()
	l := openLog(t, t.TempDir(), 0)
	bad := ev(2)
	bad.Outcome = "ok"
	_, err := l.Append(ctx, []event.Event{ev(1), bad})
	if err == nil || err.Error() != `line 2 (record 2): field outcome: must be one of denied, failure, pending, success, unknown (got "ok")` {
		t.Fatalf("err = %v", err)
	}
	if l.Head().Size != 0 {
		t.Fatalf("a rejected batch appended %d events", l.Head().Size)
	}
}

func TestVerifyLive(t *testing.T) {
	ctx := context.Background()
	l := openLog(t, t.TempDir(), 4)
	done := make(chan struct{})
	go func() {
		defer close(done)
		for i := 0; i < 300; i++ {
			if _, err := l.Append(ctx, []event.Event{ev(i)}); err != nil {
				t.Error(err)
				return
			}
		}
	}()
	for i := 0; i < 5; i++ {
		rep, err := l.VerifyLive(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if !rep.OK() {
			t.Fatalf("live verify during appends: %v", rep.Problems)
		}
	}
	<-done
	rep, err := l.VerifyLive(ctx)
	if err != nil || !rep.OK() || rep.Entries != 300 {
		t.Fatalf("after appends: %d entries, %v, %v", rep.Entries, err, rep.Problems)
	}
}
