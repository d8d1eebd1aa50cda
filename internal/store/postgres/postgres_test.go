package postgres

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"math"
	"os"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/vigil-audit/vigil/internal/pgtest"
	"github.com/vigil-audit/vigil/internal/store"
	"github.com/vigil-audit/vigil/internal/store/storetest"
)

func TestMain(m *testing.M) { os.Exit(pgtest.Main(m)) }

func open(t *testing.T, dsn, origin string) *Store {
	t.Helper()
	s, err := Open(context.Background(), dsn, origin)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func TestConformance(t *testing.T) {
	srv := pgtest.Shared(t)
	storetest.Run(t, func(t *testing.T) store.Store {
		return open(t, srv.NewDB(t), "vigil.test/log")
	})
}

// testBatch is a batch of n entries from seq from; each odd one has nodes.
func testBatch(from, n uint64, tag string) *store.Batch {
	b := &store.Batch{KeepCheckpoint: true}
	for s := from; s < from+n; s++ {
		var nodes []byte
		if s%2 == 1 {
			nodes = []byte(fmt.Sprintf("node-%s-%d", tag, s))
		}
		b.Entries = append(b.Entries, store.Entry{
			Seq: s, LeafHash: []byte(fmt.Sprintf("leaf-%s-%d", tag, s)), Nodes: nodes,
			Payload: []byte(fmt.Sprintf(`{"seq":%d,"tag":%q}`, s, tag)),
			Meta:    store.Meta{ID: fmt.Sprint(s), Time: time.Unix(int64(s), 0), ActorUser: tag},
		})
	}
	b.Checkpoint = store.Checkpoint{Size: from + n, Root: []byte(tag), Note: []byte(tag + " note")}
	return b
}

func TestOriginsAreIndependent(t *testing.T) {
	ctx := context.Background()
	dsn := pgtest.Shared(t).NewDB(t)
	a, b := open(t, dsn, "node-a"), open(t, dsn, "node-b")
	defer a.Close()
	defer b.Close()

	// Both logs start at 0 and grow at their own pace, concurrently.
	var wg sync.WaitGroup
	errs := make([]error, 2)
	for i, s := range []*Store{a, b} {
		wg.Add(1)
		go func() {
			defer wg.Done()
			n := uint64(5 + 3*i)
			for from := uint64(0); from < 10*n; from += n {
				if err := s.Append(ctx, testBatch(from, n, s.Origin())); err != nil {
					errs[i] = err
					return
				}
			}
		}()
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		s    *Store
		size uint64
	}{{a, 50}, {b, 80}} {
		origin := c.s.Origin()
		if n, err := c.s.Size(ctx); err != nil || n != c.size {
			t.Errorf("%s: Size = %d, %v; want %d", origin, n, err, c.size)
		}
		cp, ok, err := c.s.Head(ctx)
		if err != nil || !ok || cp.Size != c.size || string(cp.Root) != origin {
			t.Errorf("%s: Head = %+v, %v, %v", origin, cp, ok, err)
		}
		count := 0
		if err := c.s.ScanEntries(ctx, 0, func(e *store.Entry) error {
			if e.Meta.ActorUser != origin || !bytes.Equal(e.LeafHash, []byte(fmt.Sprintf("leaf-%s-%d", origin, e.Seq))) {
				return fmt.Errorf("%s: seq %d belongs to another log: %+v", origin, e.Seq, e.Meta)
			}
			count++
			return nil
		}); err != nil {
			t.Error(err)
		}
		if uint64(count) != c.size {
			t.Errorf("%s: scanned %d entries; want %d", origin, count, c.size)
		}
		th, err := c.s.TreeHashes(ctx, []uint64{3, 2})
		if err != nil || string(th[0].Leaf) != "leaf-"+origin+"-3" || string(th[0].Nodes) != "node-"+origin+"-3" ||
			th[1].Nodes != nil {
			t.Errorf("%s: TreeHashes = %q, %v", origin, th, err)
		}
		got, err := c.s.Query(ctx, store.Query{Limit: store.MaxLimit})
		if err != nil || uint64(len(got)) != c.size {
			t.Errorf("%s: Query returned %d entries, %v; want %d", origin, len(got), err, c.size)
		}
		kept := 0
		c.s.Checkpoints(ctx, func(store.Checkpoint) error { kept++; return nil })
		if kept != 10 {
			t.Errorf("%s: %d kept checkpoints; want 10", origin, kept)
		}
	}
	// A third origin in the same database is still empty.
	c := open(t, dsn, "node-c")
	defer c.Close()
	if _, ok, err := c.Head(ctx); ok || err != nil {
		t.Errorf("new origin: Head ok=%v err=%v; want an empty log", ok, err)
	}
	if n, _ := c.DropPayloads(ctx, time.Now()); n != 0 {
		t.Errorf("DropPayloads on an empty origin changed %d entries of other logs", n)
	}
}

// Two writers racing to start the same empty log: exactly one wins, the other
// gets ErrConflict.
func TestConcurrentFirstAppend(t *testing.T) {
	ctx := context.Background()
	dsn := pgtest.Shared(t).NewDB(t)
	for round := range 5 {
		origin := fmt.Sprintf("race-%d", round)
		stores := []*Store{open(t, dsn, origin), open(t, dsn, origin)}
		var wg sync.WaitGroup
		errs := make([]error, len(stores))
		for i, s := range stores {
			wg.Add(1)
			go func() {
				defer wg.Done()
				errs[i] = s.Append(ctx, testBatch(0, 10, fmt.Sprint(i)))
			}()
		}
		wg.Wait()
		ok := 0
		for _, err := range errs {
			switch {
			case err == nil:
				ok++
			case !errors.Is(err, store.ErrConflict):
				t.Errorf("round %d: loser's error = %v; want ErrConflict", round, err)
			}
		}
		if ok != 1 {
			t.Errorf("round %d: %d appends succeeded; want 1 (errors %v)", round, ok, errs)
		}
		for _, s := range stores {
			s.Close()
		}
	}
}

func TestOpenTwiceAndSchemaVersion(t *testing.T) {
	ctx := context.Background()
	dsn := pgtest.Shared(t).NewDB(t)
	var wg sync.WaitGroup
	errs := make([]error, 4)
	for i := range errs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			s, err := Open(ctx, dsn, "o")
			if err == nil {
				s.Close()
			}
			errs[i] = err
		}()
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		t.Fatalf("concurrent Open: %v", err)
	}
	conn, err := pgx.Connect(ctx, dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	if _, err := conn.Exec(ctx, `UPDATE vigil_schema_version SET version = 99`); err != nil {
		t.Fatal(err)
	}
	if s, err := Open(ctx, dsn, "o"); err == nil {
		s.Close()
		t.Fatal("Open accepted a database with schema version 99")
	}
	if _, err := Open(ctx, dsn, ""); err == nil {
		t.Fatal("Open accepted an empty origin")
	}
}

func TestTimesRoundTripToTheNanosecond(t *testing.T) {
	ctx := context.Background()
	s := open(t, pgtest.Shared(t).NewDB(t), "o")
	defer s.Close()
	at := time.Date(2026, 3, 4, 5, 6, 7, 123456789, time.FixedZone("x", 3600))
	b := testBatch(0, 3, "t")
	for i := range b.Entries {
		b.Entries[i].Meta.Time = at.Add(time.Duration(i) * 100) // 100ns apart, one microsecond
	}
	if err := s.Append(ctx, b); err != nil {
		t.Fatal(err)
	}
	e, err := s.Entry(ctx, 1)
	if err != nil {
		t.Fatal(err)
	}
	if want := at.Add(100).UTC(); e.Meta.Time != want {
		t.Errorf("time = %v; want %v", e.Meta.Time, want)
	}
	seqs := func(q store.Query) string {
		es, err := s.Query(ctx, q)
		if err != nil {
			t.Fatal(err)
		}
		var out []uint64
		for _, e := range es {
			out = append(out, e.Seq)
		}
		return fmt.Sprint(out)
	}
	if got := seqs(store.Query{Since: at.Add(100), Until: at.Add(200)}); got != "[1]" {
		t.Errorf("Since/Until within one microsecond = %s; want [1]", got)
	}
	if n, err := s.DropPayloads(ctx, at.Add(150)); err != nil || n != 2 {
		t.Errorf("DropPayloads = %d, %v; want 2", n, err)
	}
	tok := store.Token{Hash: []byte("h"), User: "u", Role: "r", CreatedAt: at}
	if err := s.PutToken(ctx, tok); err != nil {
		t.Fatal(err)
	}
	got, err := s.TokenByHash(ctx, []byte("h"))
	if err != nil || got.CreatedAt != at.UTC() {
		t.Errorf("token created at %v, %v; want %v", got.CreatedAt, err, at.UTC())
	}
}

func TestAppendRejectsGaps(t *testing.T) {
	s := open(t, pgtest.Shared(t).NewDB(t), "o")
	defer s.Close()
	b := testBatch(0, 3, "g")
	b.Entries[2].Seq = 5
	if err := s.Append(context.Background(), b); err == nil {
		t.Fatal("Append accepted a batch with a gap")
	}
}

// Rows deleted or inserted behind the log's back leave gaps of any size in the
// sequence numbers; scans still visit every stored row, in order.
func TestScansCrossGaps(t *testing.T) {
	ctx := context.Background()
	dsn := pgtest.Shared(t).NewDB(t)
	s := open(t, dsn, "o")
	defer s.Close()
	if err := s.Append(ctx, testBatch(0, 5, "o")); err != nil {
		t.Fatal(err)
	}
	for _, k := range []int64{50_000, 50_001, 1 << 62, math.MaxInt64} {
		if _, err := s.pool.Exec(ctx, `INSERT INTO vigil_entries (origin, seq, leaf_hash, time) VALUES ('o', $1, '\x00', now())`, k); err != nil {
			t.Fatal(err)
		}
	}
	var seqs []uint64
	if err := s.ScanEntries(ctx, 3, func(e *store.Entry) error { seqs = append(seqs, e.Seq); return nil }); err != nil {
		t.Fatal(err)
	}
	if got, want := fmt.Sprint(seqs), fmt.Sprint([]uint64{3, 4, 50_000, 50_001, 1 << 62, math.MaxInt64}); got != want {
		t.Errorf("ScanEntries(3) = %s; want %s", got, want)
	}
}

// TestMigrateTokensWithoutVerifier: a database whose vigil_tokens table
// predates the scram column opens, gains the column, and keeps its tokens.
func TestMigrateTokensWithoutVerifier(t *testing.T) {
	ctx := context.Background()
	dsn := pgtest.Shared(t).NewDB(t)
	conn, err := pgx.Connect(ctx, dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	_, err = conn.Exec(ctx, `CREATE TABLE vigil_tokens (hash bytea PRIMARY KEY, user_name text NOT NULL,
		role text NOT NULL, created_at timestamptz NOT NULL, created_ns smallint NOT NULL DEFAULT 0);
		INSERT INTO vigil_tokens VALUES ('\x0102', 'alice', 'admin', now(), 0)`)
	if err != nil {
		t.Fatal(err)
	}
	s := open(t, dsn, "o")
	old, err := s.TokenByHash(ctx, []byte{1, 2})
	if err != nil || old.User != "alice" || old.SCRAM != "" {
		t.Fatalf("old token = %+v, %v", old, err)
	}
	if err := s.PutToken(ctx, store.Token{Hash: []byte{3}, User: "alice", Role: "user", CreatedAt: time.Now(), SCRAM: "SCRAM-SHA-256$4096:a$b:c"}); err != nil {
		t.Fatal(err)
	}
	toks, err := s.TokensByUser(ctx, "alice")
	if err != nil || len(toks) != 2 || toks[0].SCRAM != "" || toks[1].SCRAM == "" {
		t.Fatalf("TokensByUser after migration = %+v, %v", toks, err)
	}
	// Opening again finds the column in place.
	open(t, dsn, "o2")
}
