// Package auditlog is Vigil's tamper-evident, append-only audit log.
//
// Every event's stored bytes are a leaf of an RFC 6962 Merkle tree. Appends are
// group-committed: concurrent callers' events share one store transaction (one
// fsync), which also writes the tree nodes the batch completes and a checkpoint,
// signed in the C2SP signed-note format, for the new size. A caller returns only
// once its events are durable. Inclusion and consistency proofs are built from
// stored nodes, without reading the log; Verify recomputes the whole tree from the
// stored bytes and names the first entry that was modified, removed, inserted or
// reordered, or the truncation relative to a trusted checkpoint.
package auditlog

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/transparency-dev/merkle/compact"
	"github.com/transparency-dev/merkle/rfc6962"
	"golang.org/x/mod/sumdb/note"

	"github.com/vigil-audit/vigil/internal/event"
	"github.com/vigil-audit/vigil/internal/store"
)

// ErrClosed is returned by Append after Close.
var ErrClosed = errors.New("audit log is closed")

// ErrOutOfRange is returned for a proof request beyond the log's size.
var ErrOutOfRange = errors.New("out of range")

var hasher = rfc6962.DefaultHasher

var rangeFactory = compact.RangeFactory{Hash: hasher.HashChildren}

// Options configure a Log.
type Options struct {
	Store  store.Store
	Signer note.Signer
	// Verifier is the signer's public half; it checks the head on Open.
	Verifier note.Verifier
	Logger   *slog.Logger
	// Metrics may be nil.
	Metrics *Metrics
	// MaxBatch bounds the events in one group commit (default 1024).
	MaxBatch int
	// CheckpointEvery keeps a checkpoint in the store's history each time the log
	// grows past a multiple of this many entries (default 1024).
	CheckpointEvery uint64
}

// Log is an open audit log. It is safe for concurrent use.
type Log struct {
	st       store.Store
	signer   note.Signer
	verifier note.Verifier
	origin   string
	log      *slog.Logger
	metrics  *Metrics
	maxBatch int
	cpEvery  uint64

	// mu guards the batch being built, the tree and the flags below. Appenders
	// add their events to cur under it (assigning sequence numbers, hashing,
	// extending the tree); the writer takes cur whenever it is free.
	mu     sync.Mutex
	work   *sync.Cond // the writer waits here for a batch or for Close
	space  *sync.Cond // appenders wait here while cur is full
	cur    *pending
	closed bool
	broken error // the tree could not be rebuilt after a failure
	tree   *compact.Range
	done   chan struct{}

	headMu sync.RWMutex
	head   store.Checkpoint

	uniq sync.Mutex // serializes AppendUnique: check and record keys as one
}

type request struct {
	bodies []event.Body
	metas  []store.Meta
	keys   []string // dedup keys, parallel to bodies; nil when none
	first  uint64
	err    chan error
}

// Open opens the log kept in opts.Store. It checks that the store's head
// checkpoint is signed by opts.Signer's key and matches the stored tree, and
// refuses to open a log whose stored entries disagree with its head: run Verify
// to find out what happened.
func Open(ctx context.Context, opts Options) (*Log, error) {
	if opts.Store == nil || opts.Signer == nil || opts.Verifier == nil {
		return nil, errors.New("auditlog: open: store, signer and verifier are required")
	}
	if opts.Signer.Name() != opts.Verifier.Name() || opts.Signer.KeyHash() != opts.Verifier.KeyHash() {
		return nil, errors.New("auditlog: open: signer and verifier keys differ")
	}
	l := &Log{
		st:       opts.Store,
		signer:   opts.Signer,
		verifier: opts.Verifier,
		origin:   opts.Signer.Name(),
		log:      opts.Logger,
		metrics:  opts.Metrics,
		maxBatch: opts.MaxBatch,
		cpEvery:  opts.CheckpointEvery,
		done:     make(chan struct{}),
	}
	if l.log == nil {
		l.log = slog.New(slog.DiscardHandler)
	}
	if l.maxBatch <= 0 {
		l.maxBatch = 1024
	}
	if l.cpEvery == 0 {
		l.cpEvery = 1024
	}
	if err := l.reload(ctx); err != nil {
		return nil, err
	}
	n, err := l.st.Size(ctx)
	if err != nil {
		return nil, fmt.Errorf("auditlog: open: %w", err)
	}
	if n != l.tree.End() {
		return nil, fmt.Errorf("auditlog: open: the store holds %d entries but its signed head covers %d; the log was altered outside Vigil (run `vigil audit verify`)", n, l.tree.End())
	}
	l.work = sync.NewCond(&l.mu)
	l.space = sync.NewCond(&l.mu)
	l.metrics.setSize(l.tree.End())
	go l.write()
	return l, nil
}

// reload rebuilds the in-memory tree edge from the store's head.
func (l *Log) reload(ctx context.Context) error {
	cp, ok, err := l.st.Head(ctx)
	if err != nil {
		return fmt.Errorf("auditlog: read head: %w", err)
	}
	if !ok {
		l.tree = rangeFactory.NewEmptyRange(0)
		l.setHead(store.Checkpoint{})
		return nil
	}
	c, err := OpenCheckpoint(cp.Note, l.verifier)
	if err != nil {
		return fmt.Errorf("auditlog: head checkpoint: %w", err)
	}
	if c.Size != cp.Size || !bytes.Equal(c.Root, cp.Root) {
		return fmt.Errorf("auditlog: head checkpoint note says size %d but the head row says %d", c.Size, cp.Size)
	}
	tree, err := l.rangeAt(ctx, cp.Size)
	if err != nil {
		return fmt.Errorf("auditlog: rebuild tree at size %d: %w", cp.Size, err)
	}
	root, err := tree.GetRootHash(nil)
	if err != nil {
		return fmt.Errorf("auditlog: rebuild tree: %w", err)
	}
	if !bytes.Equal(root, cp.Root) {
		return fmt.Errorf("auditlog: stored tree nodes do not match the signed head at size %d; the log was altered outside Vigil (run `vigil audit verify`)", cp.Size)
	}
	l.tree = tree
	l.setHead(cp)
	return nil
}

func (l *Log) setHead(cp store.Checkpoint) {
	l.headMu.Lock()
	l.head = cp
	l.headMu.Unlock()
}

// Head returns the latest signed checkpoint (Size 0 and no note for an empty log).
func (l *Log) Head() store.Checkpoint {
	l.headMu.RLock()
	defer l.headMu.RUnlock()
	return l.head
}

// Origin is the log's checkpoint origin, the name of its signing key.
func (l *Log) Origin() string { return l.origin }

// Store returns the store the log writes to.
func (l *Log) Store() store.Store { return l.st }

// Append normalizes and validates evs, then appends them as one contiguous run
// and returns the sequence number of the first. It returns only once they are
// durable. Either all of evs are appended or none is. On success each event's Seq
// (and any defaulted ID and Time) is filled in.
func (l *Log) Append(ctx context.Context, evs []event.Event) (first uint64, err error) {
	return l.append(ctx, evs, nil)
}

// AppendUnique appends the events whose dedup key (keys[i] for evs[i]; "" for
// none) the log has not recorded yet, and records their keys with them, in the
// same transaction. It returns the first sequence number and the events
// appended, in order; duplicates, also within evs, are left out. Concurrent
// AppendUnique calls are serialized, so a key is stored once.
func (l *Log) AppendUnique(ctx context.Context, evs []event.Event, keys []string) (first uint64, appended []event.Event, err error) {
	if len(keys) != len(evs) {
		return 0, nil, fmt.Errorf("auditlog: append unique: %d keys for %d events", len(keys), len(evs))
	}
	l.uniq.Lock()
	defer l.uniq.Unlock()
	var ask []string
	for _, k := range keys {
		if k != "" {
			ask = append(ask, k)
		}
	}
	seen, err := l.st.HasKeys(ctx, ask)
	if err != nil {
		return 0, nil, fmt.Errorf("auditlog: append unique: %w", err)
	}
	var outKeys []string
	for i, k := range keys {
		if k != "" && seen[k] {
			continue
		}
		if k != "" {
			seen[k] = true
		}
		appended = append(appended, evs[i])
		outKeys = append(outKeys, k)
	}
	if len(appended) == 0 {
		return 0, nil, nil
	}
	first, err = l.append(ctx, appended, outKeys)
	if err != nil {
		return 0, nil, err
	}
	return first, appended, nil
}

func (l *Log) append(ctx context.Context, evs []event.Event, keys []string) (first uint64, err error) {
	if len(evs) == 0 {
		return 0, errors.New("auditlog: append: no events")
	}
	now := time.Now()
	req := &request{
		bodies: make([]event.Body, len(evs)),
		metas:  make([]store.Meta, len(evs)),
		err:    make(chan error, 1),
		keys:   keys,
	}
	// One buffer for the request's bodies (an event is typically well under
	// 1 KiB): add copies each into the batch's leaves.
	buf := make([]byte, 0, min(len(evs), 1024)*768)
	for i := range evs {
		e := &evs[i]
		if err := e.Normalize(now); err != nil {
			return 0, &event.InputError{Line: i + 1, Index: i, Err: err}
		}
		start := len(buf)
		buf, err = event.AppendBody(buf, e)
		if err != nil {
			return 0, &event.InputError{Line: i + 1, Index: i, Err: err}
		}
		req.bodies[i] = event.Body(buf[start:len(buf):len(buf)])
		req.metas[i] = store.Meta{
			ID: e.ID, Time: e.Time, Source: e.Source, ActorUser: e.Actor.User, Action: e.Action,
			ResourceID: e.Resource.ID, ResourceName: e.Resource.Name, Outcome: e.Outcome, Target: e.Target,
		}
	}
	if err := l.enqueue(req); err != nil {
		return 0, err
	}
	// Once queued, wait for the outcome whatever ctx says: the events may already
	// be on their way to disk, and the caller must learn whether they are.
	if err := <-req.err; err != nil {
		return 0, err
	}
	for i := range evs {
		evs[i].Seq = req.first + uint64(i)
	}
	return req.first, nil
}

// Close stops accepting appends, waits until every queued append is committed
// or failed, and returns. It does not close the store.
func (l *Log) Close() error {
	l.mu.Lock()
	l.closed = true
	l.work.Broadcast()
	l.space.Broadcast()
	l.mu.Unlock()
	<-l.done
	return nil
}

// pending is a batch: built by appenders under mu, then written by the writer.
type pending struct {
	reqs    []*request
	batch   *store.Batch
	n       int
	start   time.Time
	nodeBuf []byte // node hashes of the batch's entries
	arena   []byte // the batch's leaves are carved from chunks of this
}

// leafChunk is the size of the chunks a batch's leaves are carved from: one
// allocation for many events instead of one each.
const leafChunk = 64 << 10

// leaf returns the stored bytes of body at seq, carved from p's arena.
func (p *pending) leaf(body event.Body, seq uint64) []byte {
	need := len(body) + 28
	if cap(p.arena)-len(p.arena) < need {
		p.arena = make([]byte, 0, max(leafChunk, need))
	}
	start := len(p.arena)
	p.arena = body.AppendLeaf(p.arena, seq)
	return p.arena[start:len(p.arena):len(p.arena)]
}

var errEarlierFailed = errors.New("auditlog: append refused: an earlier batch failed to commit")

// enqueue adds a request's events to the batch being built: while the writer
// makes one batch durable, everything that arrives goes into the next, so
// batches grow with the load and share one fsync.
func (l *Log) enqueue(r *request) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	for !l.closed && l.cur != nil && l.cur.n >= l.maxBatch {
		l.space.Wait()
	}
	if l.closed {
		return ErrClosed
	}
	if l.broken != nil {
		// Nothing is in flight while broken (the writer has no batch), so the
		// store is settled: try to rebuild the tree from it again.
		if err := l.reload(context.Background()); err != nil {
			return fmt.Errorf("auditlog: append refused, the log could not be reloaded: %w", err)
		}
		l.broken = nil
	}
	if l.cur == nil {
		l.cur = &pending{start: time.Now(), batch: &store.Batch{}}
		l.work.Signal()
	}
	if err := l.add(l.cur, r); err != nil {
		// The tree may be half extended: fail the whole batch and rebuild.
		l.fail(l.cur, err)
		l.cur = nil
		return err
	}
	return nil
}

// fail refuses a batch that will not be written and rebuilds the tree from the
// store. The caller holds mu, and no batch is being written on top of p.
func (l *Log) fail(p *pending, err error) {
	l.answer(p, err)
	if rerr := l.reload(context.Background()); rerr != nil {
		l.broken = rerr
	}
}

// add appends a request's events to the batch being built.
func (l *Log) add(p *pending, r *request) error {
	visit := func(id compact.NodeID, h []byte) {
		if id.Level > 0 {
			p.nodeBuf = append(p.nodeBuf, h...)
		}
	}
	seq := l.tree.End()
	r.first = seq
	for i, body := range r.bodies {
		leaf := p.leaf(body, seq)
		lh := hasher.HashLeaf(leaf)
		start := len(p.nodeBuf)
		if err := l.tree.Append(lh, visit); err != nil {
			return fmt.Errorf("auditlog: extend tree: %w", err)
		}
		var nodes []byte
		if len(p.nodeBuf) > start {
			nodes = p.nodeBuf[start:len(p.nodeBuf):len(p.nodeBuf)]
		}
		var key string
		if r.keys != nil {
			key = r.keys[i]
		}
		p.batch.Entries = append(p.batch.Entries, store.Entry{Seq: seq, LeafHash: lh, Nodes: nodes, Payload: leaf, Meta: r.metas[i], DedupKey: key})
		seq++
	}
	p.reqs = append(p.reqs, r)
	p.n += len(r.bodies)
	return nil
}

// answer tells every caller in p the outcome.
func (l *Log) answer(p *pending, err error) {
	if err != nil {
		l.metrics.commitFailed()
	}
	for _, r := range p.reqs {
		r.err <- err
	}
}

// write is the writer: it takes the batch built so far, signs the checkpoint
// for it, makes it durable in one store transaction, and answers its callers.
func (l *Log) write() {
	defer close(l.done)
	ctx := context.Background()
	for {
		l.mu.Lock()
		for l.cur == nil && !l.closed {
			l.work.Wait()
		}
		p := l.cur
		if p == nil { // closed and drained
			l.mu.Unlock()
			return
		}
		l.cur = nil
		l.space.Broadcast()
		end := l.tree.End()
		root, err := l.tree.GetRootHash(nil)
		l.mu.Unlock()

		first := p.batch.Entries[0].Seq
		if err == nil {
			err = l.seal(p, first, end, root)
		}
		if err == nil {
			t0 := time.Now()
			err = l.st.Append(ctx, p.batch)
			l.metrics.stored(time.Since(t0))
			if err != nil {
				l.log.Error("audit log append failed", "first_seq", first, "events", p.n, "err", err)
				err = fmt.Errorf("auditlog: append %d events at seq %d: %w", p.n, first, err)
			}
		}
		if err != nil {
			// The next batch was built on this one: refuse it too, and rebuild
			// the tree from what the store really holds (a lost connection
			// during COMMIT is ambiguous; the store now knows).
			l.mu.Lock()
			if l.cur != nil {
				l.answer(l.cur, errEarlierFailed)
				l.cur = nil
				l.space.Broadcast()
			}
			if rerr := l.reload(ctx); rerr != nil {
				l.broken = rerr
			}
			l.mu.Unlock()
		} else {
			l.setHead(p.batch.Checkpoint)
			l.metrics.committed(p.n, time.Since(p.start), end)
		}
		l.answer(p, err)
	}
}

// seal signs the checkpoint for the tree of size end with the given root.
func (l *Log) seal(p *pending, first, end uint64, root []byte) error {
	signed, err := SignCheckpoint(Checkpoint{Origin: l.origin, Size: end, Root: root}, l.signer)
	if err != nil {
		return err
	}
	p.batch.Checkpoint = store.Checkpoint{Size: end, Root: root, Note: signed}
	p.batch.KeepCheckpoint = first/l.cpEvery != end/l.cpEvery || first == 0
	return nil
}

// rangeAt returns the compact range [0, size) built from stored nodes.
func (l *Log) rangeAt(ctx context.Context, size uint64) (*compact.Range, error) {
	ids := compact.RangeNodes(0, size, nil)
	hashes, err := l.nodeHashes(ctx, ids)
	if err != nil {
		return nil, err
	}
	return rangeFactory.NewRange(0, size, hashes)
}

// nodeHashes fetches the hashes of perfect-subtree nodes: leaves from the entries,
// higher levels from the node table.
func (l *Log) nodeHashes(ctx context.Context, ids []compact.NodeID) ([][]byte, error) {
	return fetchNodes(ctx, l.st, ids)
}

const sha256Size = 32

// fetchNodes reads perfect-subtree node hashes: a leaf's from its entry, node
// (l, i) from the entry of the leaf that completed it, (i+1)<<l - 1.
func fetchNodes(ctx context.Context, st store.Store, ids []compact.NodeID) ([][]byte, error) {
	seqs := make([]uint64, len(ids))
	for i, id := range ids {
		seqs[i] = (id.Index+1)<<id.Level - 1
	}
	ths, err := st.TreeHashes(ctx, seqs)
	if err != nil {
		return nil, err
	}
	out := make([][]byte, len(ids))
	for i, id := range ids {
		if id.Level == 0 {
			out[i] = ths[i].Leaf
			continue
		}
		off := int(id.Level-1) * sha256Size
		if len(ths[i].Nodes) < off+sha256Size {
			return nil, fmt.Errorf("tree node (level %d, index %d) is not stored with seq %d", id.Level, id.Index, seqs[i])
		}
		out[i] = ths[i].Nodes[off : off+sha256Size]
	}
	return out, nil
}

// RootAt returns the root hash of the tree of the first size entries.
func (l *Log) RootAt(ctx context.Context, size uint64) ([]byte, error) {
	if size > l.Head().Size {
		return nil, fmt.Errorf("size %d is beyond the log's size %d", size, l.Head().Size)
	}
	if size == 0 {
		return hasher.EmptyRoot(), nil
	}
	r, err := l.rangeAt(ctx, size)
	if err != nil {
		return nil, err
	}
	return r.GetRootHash(nil)
}
