// Package storetest is the conformance suite every store.Store backend must pass.
// A backend's test calls Run with a function that opens a fresh, empty store.
package storetest

import (
	"bytes"
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/vigil-audit/vigil/internal/store"
)

// Open returns a fresh, empty store. The suite closes it.
type Open func(t *testing.T) store.Store

// Run runs the conformance suite.
func Run(t *testing.T, open Open) {
	tests := []struct {
		name string
		fn   func(*testing.T, store.Store)
	}{
		{"Empty", testEmpty},
		{"AppendAndRead", testAppendAndRead},
		{"AppendConflict", testAppendConflict},
		{"AppendAtomic", testAppendAtomic},
		{"Checkpoints", testCheckpoints},
		{"Query", testQuery},
		{"DropPayloads", testDropPayloads},
		{"Tokens", testTokens},
		{"TokensByUser", testTokensByUser},
		{"ScanLarge", testScanLarge},
		{"DedupKeys", testDedupKeys},
		{"Offsets", testOffsets},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s := open(t)
			t.Cleanup(func() {
				if err := s.Close(); err != nil {
					t.Errorf("close: %v", err)
				}
			})
			tc.fn(t, s)
		})
	}
}

var base = time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)

func hash(parts ...any) []byte {
	h := sha256.Sum256([]byte(fmt.Sprint(parts...)))
	return h[:]
}

// entry builds a test entry whose payload names its fields, so text search has
// something to find.
func entry(seq uint64, actor, action string) store.Entry {
	m := store.Meta{
		ID: fmt.Sprintf("01J%023d", seq), Time: base.Add(time.Duration(seq) * time.Minute),
		Source: "test", ActorUser: actor, Action: action, ResourceID: fmt.Sprintf("res-%d", seq%3),
		ResourceName: fmt.Sprintf("name-%d", seq%2), Outcome: "success", Target: "prod",
	}
	if seq%4 == 3 {
		m.Outcome, m.Source = "denied", "gateway/postgres"
	}
	// The payload is an event as the log stores it, agreeing with m: a backend
	// may read the metadata from it rather than from m.
	payload := []byte(fmt.Sprintf(`{"seq":%d,"id":%q,"time":%q,"source":%q,"actor":{"user":%q},"action":%q,`+
		`"resource":{"id":%q,"name":%q},"target":%q,"outcome":%q,"attrs":{"note":"Needle-%d"}}`,
		seq, m.ID, m.Time.Format(time.RFC3339Nano), m.Source, actor, action, m.ResourceID, m.ResourceName, m.Target, m.Outcome, seq%5))
	// Odd leaves complete nodes; the store does not interpret them.
	var nodes []byte
	if seq%2 == 1 {
		nodes = append(hash("node", seq), hash("node2", seq)...)
	}
	return store.Entry{Seq: seq, LeafHash: hash("leaf", seq), Nodes: nodes, Payload: payload, Meta: m}
}

func batch(from, n uint64, keep bool) *store.Batch {
	b := &store.Batch{KeepCheckpoint: keep}
	for s := from; s < from+n; s++ {
		actor := []string{"alice", "bob"}[s%2]
		b.Entries = append(b.Entries, entry(s, actor, []string{"SELECT", "DELETE", "GRANT"}[s%3]))
	}
	size := from + n
	b.Checkpoint = store.Checkpoint{Size: size, Root: hash("root", size), Note: []byte(fmt.Sprintf("origin\n%d\nroot\n", size))}
	return b
}

func mustAppend(t *testing.T, s store.Store, b *store.Batch) {
	t.Helper()
	if err := s.Append(context.Background(), b); err != nil {
		t.Fatalf("append at %d: %v", b.Entries[0].Seq, err)
	}
}

func testEmpty(t *testing.T, s store.Store) {
	ctx := context.Background()
	if _, ok, err := s.Head(ctx); err != nil || ok {
		t.Fatalf("Head on empty store = ok %v, err %v; want false, nil", ok, err)
	}
	if n, err := s.Size(ctx); err != nil || n != 0 {
		t.Fatalf("Size = %d, %v; want 0", n, err)
	}
	called := false
	if err := s.ScanEntries(ctx, 0, func(*store.Entry) error { called = true; return nil }); err != nil || called {
		t.Fatalf("ScanEntries on empty store: called=%v err=%v", called, err)
	}
	if _, err := s.Entry(ctx, 0); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("Entry(0) on empty store: err = %v; want ErrNotFound", err)
	}
	if err := s.Append(ctx, &store.Batch{}); err == nil {
		t.Fatal("Append of an empty batch succeeded; want an error")
	}
}

func testAppendAndRead(t *testing.T, s store.Store) {
	ctx := context.Background()
	mustAppend(t, s, batch(0, 3, false))
	mustAppend(t, s, batch(3, 4, false))

	cp, ok, err := s.Head(ctx)
	if err != nil || !ok {
		t.Fatalf("Head: ok=%v err=%v", ok, err)
	}
	want := batch(3, 4, false).Checkpoint
	if cp.Size != 7 || !bytes.Equal(cp.Root, want.Root) || !bytes.Equal(cp.Note, want.Note) {
		t.Fatalf("Head = %+v; want %+v", cp, want)
	}
	if n, err := s.Size(ctx); err != nil || n != 7 {
		t.Fatalf("Size = %d, %v; want 7", n, err)
	}

	var seqs []uint64
	err = s.ScanEntries(ctx, 2, func(e *store.Entry) error {
		w := entry(e.Seq, "", "")
		if !bytes.Equal(e.LeafHash, w.LeafHash) {
			t.Errorf("seq %d: leaf hash differs", e.Seq)
		}
		seqs = append(seqs, e.Seq)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if fmt.Sprint(seqs) != "[2 3 4 5 6]" {
		t.Fatalf("ScanEntries(2) seqs = %v; want [2 3 4 5 6]", seqs)
	}
	stop := errors.New("stop")
	n := 0
	if err := s.ScanEntries(ctx, 0, func(*store.Entry) error { n++; return stop }); !errors.Is(err, stop) || n != 1 {
		t.Fatalf("ScanEntries did not stop on the callback's error: n=%d err=%v", n, err)
	}

	e, err := s.Entry(ctx, 4)
	if err != nil {
		t.Fatal(err)
	}
	w := entry(4, "alice", "DELETE")
	if !bytes.Equal(e.Payload, w.Payload) || e.Meta.ID != w.Meta.ID || !e.Meta.Time.Equal(w.Meta.Time) ||
		e.Meta.ActorUser != "alice" || e.Meta.Action != "DELETE" || e.Meta.Target != "prod" {
		t.Fatalf("Entry(4) = %+v (payload %s); want %+v", e.Meta, e.Payload, w.Meta)
	}
	if e.Meta.Time.Location() != time.UTC {
		t.Errorf("Entry time location = %v; want UTC", e.Meta.Time.Location())
	}
	if _, err := s.Entry(ctx, 7); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("Entry(7) err = %v; want ErrNotFound", err)
	}

	th, err := s.TreeHashes(ctx, []uint64{5, 0, 3})
	if err != nil {
		t.Fatal(err)
	}
	for i, q := range []uint64{5, 0, 3} {
		w := entry(q, "", "")
		if !bytes.Equal(th[i].Leaf, w.LeafHash) || !bytes.Equal(th[i].Nodes, w.Nodes) {
			t.Errorf("TreeHashes[%d] (seq %d) = %x/%x; want %x/%x", i, q, th[i].Leaf, th[i].Nodes, w.LeafHash, w.Nodes)
		}
	}
	if len(th[0].Nodes) != 64 || len(th[1].Nodes) != 0 {
		t.Errorf("TreeHashes node lengths = %d, %d; want 64, 0", len(th[0].Nodes), len(th[1].Nodes))
	}
	if _, err := s.TreeHashes(ctx, []uint64{1, 99}); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("TreeHashes with a missing seq: err = %v; want ErrNotFound", err)
	}
	if err := s.ScanEntries(ctx, 0, func(e *store.Entry) error {
		if w := entry(e.Seq, "", ""); !bytes.Equal(e.Nodes, w.Nodes) {
			t.Errorf("ScanEntries: seq %d nodes = %x; want %x", e.Seq, e.Nodes, w.Nodes)
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
}

func testAppendConflict(t *testing.T, s store.Store) {
	ctx := context.Background()
	if err := s.Append(ctx, batch(1, 2, false)); !errors.Is(err, store.ErrConflict) {
		t.Fatalf("append at 1 on an empty log: err = %v; want ErrConflict", err)
	}
	mustAppend(t, s, batch(0, 2, false))
	for _, from := range []uint64{0, 1, 3} {
		if err := s.Append(ctx, batch(from, 2, false)); !errors.Is(err, store.ErrConflict) {
			t.Fatalf("append at %d on a log of size 2: err = %v; want ErrConflict", from, err)
		}
	}
	if n, _ := s.Size(ctx); n != 2 {
		t.Fatalf("Size after conflicts = %d; want 2", n)
	}
}

func testAppendAtomic(t *testing.T, s store.Store) {
	ctx := context.Background()
	mustAppend(t, s, batch(0, 2, false))
	bad := batch(2, 3, true)
	bad.Entries = append(bad.Entries, bad.Entries[0]) // duplicate seq: the insert must fail
	if err := s.Append(ctx, bad); err == nil {
		t.Fatal("append with a duplicate node key succeeded")
	}
	if n, _ := s.Size(ctx); n != 2 {
		t.Fatalf("Size after a failed append = %d; want 2 (nothing half-written)", n)
	}
	cp, _, _ := s.Head(ctx)
	if cp.Size != 2 {
		t.Fatalf("head size after a failed append = %d; want 2", cp.Size)
	}
	n := 0
	s.Checkpoints(ctx, func(store.Checkpoint) error { n++; return nil })
	if n != 0 {
		t.Fatalf("failed append left %d kept checkpoints", n)
	}
	if _, err := s.Entry(ctx, 2); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("failed append left entry 2 behind (err %v)", err)
	}
	mustAppend(t, s, batch(2, 3, true)) // the same batch, valid, now goes in
}

func testCheckpoints(t *testing.T, s store.Store) {
	ctx := context.Background()
	mustAppend(t, s, batch(0, 2, true))
	mustAppend(t, s, batch(2, 2, false))
	mustAppend(t, s, batch(4, 3, true))
	var sizes []uint64
	if err := s.Checkpoints(ctx, func(cp store.Checkpoint) error {
		if !bytes.Equal(cp.Root, hash("root", cp.Size)) {
			t.Errorf("checkpoint %d root differs", cp.Size)
		}
		sizes = append(sizes, cp.Size)
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	if fmt.Sprint(sizes) != "[2 7]" {
		t.Fatalf("kept checkpoints = %v; want [2 7]", sizes)
	}
}

func testQuery(t *testing.T, s store.Store) {
	ctx := context.Background()
	mustAppend(t, s, batch(0, 20, false))
	seqsOf := func(q store.Query) string {
		t.Helper()
		es, err := s.Query(ctx, q)
		if err != nil {
			t.Fatalf("Query(%+v): %v", q, err)
		}
		var out []uint64
		for _, e := range es {
			out = append(out, e.Seq)
		}
		return fmt.Sprint(out)
	}
	cases := []struct {
		name string
		q    store.Query
		want string
	}{
		{"all", store.Query{}, "[0 1 2 3 4 5 6 7 8 9 10 11 12 13 14 15 16 17 18 19]"},
		{"limit", store.Query{Limit: 3}, "[0 1 2]"},
		{"cursor", store.Query{HasAfter: true, AfterSeq: 16}, "[17 18 19]"},
		{"cursor zero", store.Query{HasAfter: true, AfterSeq: 0, Limit: 2}, "[1 2]"},
		{"actor", store.Query{Actor: "bob", Limit: 4}, "[1 3 5 7]"},
		{"action", store.Query{Action: "GRANT"}, "[2 5 8 11 14 17]"},
		{"actor and action", store.Query{Actor: "alice", Action: "GRANT"}, "[2 8 14]"},
		{"source", store.Query{Source: "gateway/postgres"}, "[3 7 11 15 19]"},
		{"outcome", store.Query{Outcome: "denied", Limit: 2}, "[3 7]"},
		{"resource id", store.Query{Resource: "res-1"}, "[1 4 7 10 13 16 19]"},
		{"resource name", store.Query{Resource: "name-1", Limit: 3}, "[1 3 5]"},
		{"target", store.Query{Target: "prod", Limit: 1}, "[0]"},
		{"target none", store.Query{Target: "staging"}, "[]"},
		{"text", store.Query{Text: "needle-4"}, "[4 9 14 19]"},
		{"text exact case", store.Query{Text: "Needle-4", Limit: 1}, "[4]"},
		{"since", store.Query{Since: base.Add(17 * time.Minute)}, "[17 18 19]"},
		{"until", store.Query{Until: base.Add(2 * time.Minute)}, "[0 1]"},
		{"since until", store.Query{Since: base.Add(5 * time.Minute), Until: base.Add(7 * time.Minute)}, "[5 6]"},
		{"injection is a value", store.Query{Actor: "alice' OR '1'='1"}, "[]"},
	}
	for _, c := range cases {
		if got := seqsOf(c.q); got != c.want {
			t.Errorf("%s: seqs = %s; want %s", c.name, got, c.want)
		}
	}
	big, err := s.Query(ctx, store.Query{Limit: store.MaxLimit + 500})
	if err != nil || len(big) != 20 {
		t.Fatalf("Query with a huge limit: %d rows, %v", len(big), err)
	}
}

func testDropPayloads(t *testing.T, s store.Store) {
	ctx := context.Background()
	mustAppend(t, s, batch(0, 6, false))
	n, err := s.DropPayloads(ctx, base.Add(3*time.Minute))
	if err != nil || n != 3 {
		t.Fatalf("DropPayloads = %d, %v; want 3", n, err)
	}
	if n, err := s.DropPayloads(ctx, base.Add(3*time.Minute)); err != nil || n != 0 {
		t.Fatalf("second DropPayloads = %d, %v; want 0", n, err)
	}
	err = s.ScanEntries(ctx, 0, func(e *store.Entry) error {
		if w := entry(e.Seq, "", ""); !bytes.Equal(e.LeafHash, w.LeafHash) || !bytes.Equal(e.Nodes, w.Nodes) {
			t.Errorf("seq %d lost its leaf or node hashes", e.Seq)
		}
		dropped := e.Seq < 3
		if dropped != (e.Payload == nil) {
			t.Errorf("seq %d: payload nil = %v; want %v", e.Seq, e.Payload == nil, dropped)
		}
		if dropped && (e.Meta.ActorUser != "" || e.Meta.Action != "") {
			t.Errorf("seq %d: metadata kept after retention: %+v", e.Seq, e.Meta)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if n, _ := s.Size(ctx); n != 6 {
		t.Fatalf("Size after retention = %d; want 6", n)
	}
	if got, _ := s.Query(ctx, store.Query{Actor: "alice"}); len(got) != 1 || got[0].Seq != 4 {
		t.Fatalf("Query after retention matched dropped entries: %d rows", len(got))
	}
}

func testTokens(t *testing.T, s store.Store) {
	ctx := context.Background()
	if _, err := s.TokenByHash(ctx, hash("x")); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("TokenByHash on empty store: %v; want ErrNotFound", err)
	}
	tok := store.Token{Hash: hash("t1"), User: "alice", Role: "admin", CreatedAt: base}
	if err := s.PutToken(ctx, tok); err != nil {
		t.Fatal(err)
	}
	if err := s.PutToken(ctx, store.Token{Hash: hash("t2"), User: "bob", Role: "user", CreatedAt: base}); err != nil {
		t.Fatal(err)
	}
	if err := s.PutToken(ctx, tok); err == nil {
		t.Fatal("PutToken with a duplicate hash succeeded")
	}
	got, err := s.TokenByHash(ctx, hash("t1"))
	if err != nil {
		t.Fatal(err)
	}
	if got.User != "alice" || got.Role != "admin" || !got.CreatedAt.Equal(base) {
		t.Fatalf("TokenByHash = %+v; want alice/admin", got)
	}
	for role, want := range map[string]int{"": 2, "admin": 1, "user": 1, "auditor": 0} {
		if n, err := s.CountTokens(ctx, role); err != nil || n != want {
			t.Errorf("CountTokens(%q) = %d, %v; want %d", role, n, err, want)
		}
	}
}

func testTokensByUser(t *testing.T, s store.Store) {
	ctx := context.Background()
	if got, err := s.TokensByUser(ctx, "alice"); err != nil || len(got) != 0 {
		t.Fatalf("TokensByUser on empty store = %v, %v; want none", got, err)
	}
	const v1 = "SCRAM-SHA-256$4096:c2FsdA==$c3RvcmVk:c2VydmVy"
	const v2 = "SCRAM-SHA-256$4096:c2FsdA==$b3RoZXI=:a2V5"
	toks := []store.Token{
		// Inserted out of order: TokensByUser sorts by creation time.
		{Hash: hash("a2"), User: "alice", Role: "user", CreatedAt: base.Add(time.Minute + 7), SCRAM: v2},
		{Hash: hash("a1"), User: "alice", Role: "admin", CreatedAt: base, SCRAM: v1},
		{Hash: hash("a0"), User: "alice", Role: "auditor", CreatedAt: base.Add(-time.Hour)}, // no verifier
		{Hash: hash("b1"), User: "bob", Role: "user", CreatedAt: base, SCRAM: v1},
		{Hash: hash("al"), User: "alicia", Role: "user", CreatedAt: base, SCRAM: v1},
	}
	for _, tok := range toks {
		if err := s.PutToken(ctx, tok); err != nil {
			t.Fatal(err)
		}
	}
	got, err := s.TokensByUser(ctx, "alice")
	if err != nil {
		t.Fatal(err)
	}
	want := []store.Token{toks[2], toks[1], toks[0]}
	if len(got) != len(want) {
		t.Fatalf("TokensByUser(alice) = %d tokens; want %d: %+v", len(got), len(want), got)
	}
	for i := range want {
		g, w := got[i], want[i]
		if !bytes.Equal(g.Hash, w.Hash) || g.User != w.User || g.Role != w.Role || !g.CreatedAt.Equal(w.CreatedAt) || g.SCRAM != w.SCRAM {
			t.Errorf("TokensByUser(alice)[%d] = %+v; want %+v", i, g, w)
		}
	}
	// The verifier round-trips through TokenByHash as well; a token without
	// one reads back with an empty verifier.
	if tok, err := s.TokenByHash(ctx, hash("a2")); err != nil || tok.SCRAM != v2 {
		t.Errorf("TokenByHash(a2).SCRAM = %q, %v; want %q", tok.SCRAM, err, v2)
	}
	if tok, err := s.TokenByHash(ctx, hash("a0")); err != nil || tok.SCRAM != "" {
		t.Errorf("TokenByHash(a0).SCRAM = %q, %v; want empty", tok.SCRAM, err)
	}
	if got, err := s.TokensByUser(ctx, "ALICE"); err != nil || len(got) != 0 {
		t.Errorf("TokensByUser(ALICE) = %v, %v; user names are case-sensitive", got, err)
	}
	if got, err := s.TokensByUser(ctx, "ali%"); err != nil || len(got) != 0 {
		t.Errorf("TokensByUser(ali%%) = %v, %v; want none", got, err)
	}
}

func testScanLarge(t *testing.T, s store.Store) {
	ctx := context.Background()
	const total = 25000
	for from := uint64(0); from < total; from += 1000 {
		mustAppend(t, s, batch(from, 1000, false))
	}
	next := uint64(0)
	err := s.ScanEntries(ctx, 0, func(e *store.Entry) error {
		if e.Seq != next {
			return fmt.Errorf("scan order: got seq %d, want %d", e.Seq, next)
		}
		next++
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if next != total {
		t.Fatalf("ScanEntries visited %d entries; want %d", next, total)
	}
}

func testDedupKeys(t *testing.T, s store.Store) {
	ctx := context.Background()
	b := batch(0, 3, false)
	b.Entries[0].DedupKey = "cloudtrail:e1"
	b.Entries[2].DedupKey = "cloudtrail:e3"
	mustAppend(t, s, b)
	got, err := s.HasKeys(ctx, []string{"cloudtrail:e1", "cloudtrail:e2", "cloudtrail:e3", "k8s-audit:e1"})
	if err != nil {
		t.Fatal(err)
	}
	if fmt.Sprint(got) != "map[cloudtrail:e1:true cloudtrail:e3:true]" {
		t.Fatalf("HasKeys = %v; want e1 and e3 of cloudtrail", got)
	}
	if got, err := s.HasKeys(ctx, nil); err != nil || len(got) != 0 {
		t.Fatalf("HasKeys(nil) = %v, %v", got, err)
	}
	again := batch(3, 2, false)
	again.Entries[1].DedupKey = "cloudtrail:e3"
	if err := s.Append(ctx, again); err == nil {
		t.Fatal("a batch repeating a recorded dedup key was appended")
	}
	if n, _ := s.Size(ctx); n != 3 {
		t.Fatalf("size after the refused batch = %d; want 3", n)
	}
	if _, err := s.DropPayloads(ctx, base.Add(time.Hour)); err != nil {
		t.Fatal(err)
	}
	if got, _ := s.HasKeys(ctx, []string{"cloudtrail:e1"}); !got["cloudtrail:e1"] {
		t.Fatal("retention forgot a dedup key: the record could be ingested again")
	}
}

func testOffsets(t *testing.T, s store.Store) {
	ctx := context.Background()
	if _, ok, err := s.Offset(ctx, "k8s-audit:/var/log/audit.log"); err != nil || ok {
		t.Fatalf("Offset of an unread file: ok=%v err=%v", ok, err)
	}
	for _, o := range []store.Offset{{Ident: "2049:77", Pos: 1234}, {Ident: "2049:78", Pos: 0}} {
		if err := s.SetOffset(ctx, "k8s-audit:/var/log/audit.log", o); err != nil {
			t.Fatal(err)
		}
		got, ok, err := s.Offset(ctx, "k8s-audit:/var/log/audit.log")
		if err != nil || !ok || got != o {
			t.Fatalf("Offset = %+v, %v, %v; want %+v", got, ok, err, o)
		}
	}
	if _, ok, _ := s.Offset(ctx, "github:/other"); ok {
		t.Fatal("an offset leaked to another key")
	}
}
