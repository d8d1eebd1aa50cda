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
	"sync/atomic"
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

	mu     sync.RWMutex // guards closed and sends on reqs
	closed bool
	reqs   chan *request
	writes chan *pending
	ready  chan struct{} // the writer is free for the next batch
	done   chan struct{}
	failed atomic.Bool // a batch failed; the sequencer must resynchronise

	// Owned by the sequencer goroutine (run).
	tree  *compact.Range
	stale bool // the in-memory tree may not match the store; reload before the next batch

	headMu sync.RWMutex
	head   store.Checkpoint
}

type request struct {
	bodies []event.Body
	metas  []store.Meta
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
		reqs:     make(chan *request, 4096),
		writes:   make(chan *pending),
		ready:    make(chan struct{}, 1),
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
	l.metrics.setSize(l.tree.End())
	go l.run()
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
		l.stale = false
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
	l.stale = false
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
	if len(evs) == 0 {
		return 0, errors.New("auditlog: append: no events")
	}
	now := time.Now()
	req := &request{
		bodies: make([]event.Body, len(evs)),
		metas:  make([]store.Meta, len(evs)),
		err:    make(chan error, 1),
	}
	for i := range evs {
		e := &evs[i]
		if err := e.Normalize(now); err != nil {
			return 0, &event.InputError{Line: i + 1, Index: i, Err: err}
		}
		body, err := event.EncodeBody(e)
		if err != nil {
			return 0, &event.InputError{Line: i + 1, Index: i, Err: err}
		}
		req.bodies[i] = body
		req.metas[i] = store.Meta{
			ID: e.ID, Time: e.Time, Source: e.Source, ActorUser: e.Actor.User, Action: e.Action,
			ResourceID: e.Resource.ID, ResourceName: e.Resource.Name, Outcome: e.Outcome, Target: e.Target,
		}
	}
	l.mu.RLock()
	if l.closed {
		l.mu.RUnlock()
		return 0, ErrClosed
	}
	select {
	case l.reqs <- req:
	case <-ctx.Done():
		l.mu.RUnlock()
		return 0, fmt.Errorf("auditlog: append: %w", ctx.Err())
	}
	l.mu.RUnlock()
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
	if l.closed {
		l.mu.Unlock()
		<-l.done
		return nil
	}
	l.closed = true
	close(l.reqs)
	l.mu.Unlock()
	<-l.done
	return nil
}

// pending is a batch being built by the sequencer, then written by the writer.
type pending struct {
	reqs    []*request
	batch   *store.Batch
	n       int
	start   time.Time
	nodeBuf []byte // node hashes of the batch's entries, one allocation
}

// run is the sequencer, the first stage of the commit pipeline. While the
// writer makes one batch durable, it builds the next from every request that
// arrives (sequence numbers, leaf hashes, tree nodes); when the writer is free
// it signs the checkpoint and hands the whole batch over. So batches grow with
// the load (one fsync for all that queued during the last one), and hashing
// overlaps with the store's work.
func (l *Log) run() {
	defer close(l.writes)
	var cur *pending
	writerFree := false
	reqs := l.reqs
	for {
		if writerFree && cur != nil {
			if l.failed.Load() {
				// The batch cur was built on failed; the writer is idle, so the
				// store is settled: refuse cur and rebuild from the store.
				l.answer(cur, errors.New("auditlog: append refused: an earlier batch failed to commit"))
				l.failed.Store(false)
				l.stale = true
				cur = nil
				continue
			}
			if err := l.seal(cur); err != nil {
				l.answer(cur, err)
				l.stale = true
				cur = nil
				continue
			}
			l.writes <- cur
			cur, writerFree = nil, false
			continue
		}
		if reqs == nil && cur == nil {
			return
		}
		in := reqs
		if cur != nil && cur.n >= l.maxBatch {
			in = nil // full: wait for the writer
		}
		select {
		case r, ok := <-in:
			if !ok {
				reqs = nil
				continue
			}
			if cur == nil {
				if l.failed.Load() || l.stale {
					// Reload only once the writer is idle and the store settled.
					if !writerFree {
						<-l.ready
						writerFree = true
					}
					l.failed.Store(false)
					l.stale = true
				}
				cur = &pending{start: time.Now(), batch: &store.Batch{}}
				if l.stale {
					if err := l.reload(context.Background()); err != nil {
						r.err <- fmt.Errorf("auditlog: append refused, the log could not be reloaded: %w", err)
						cur = nil
						continue
					}
				}
			}
			if err := l.add(cur, r); err != nil {
				l.stale = true
				l.answer(cur, err)
				r.err <- err
				cur = nil
			}
		case <-l.ready:
			writerFree = true
		}
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
		leaf := body.Leaf(seq)
		lh := hasher.HashLeaf(leaf)
		start := len(p.nodeBuf)
		if err := l.tree.Append(lh, visit); err != nil {
			return fmt.Errorf("auditlog: extend tree: %w", err)
		}
		var nodes []byte
		if len(p.nodeBuf) > start {
			nodes = p.nodeBuf[start:len(p.nodeBuf):len(p.nodeBuf)]
		}
		p.batch.Entries = append(p.batch.Entries, store.Entry{Seq: seq, LeafHash: lh, Nodes: nodes, Payload: leaf, Meta: r.metas[i]})
		seq++
	}
	p.reqs = append(p.reqs, r)
	p.n += len(r.bodies)
	return nil
}

// seal signs the checkpoint for the tree as it stands after the batch.
func (l *Log) seal(p *pending) error {
	size := p.batch.Entries[0].Seq
	end := l.tree.End()
	root, err := l.tree.GetRootHash(nil)
	if err != nil {
		return fmt.Errorf("auditlog: compute root: %w", err)
	}
	signed, err := SignCheckpoint(Checkpoint{Origin: l.origin, Size: end, Root: root}, l.signer)
	if err != nil {
		return err
	}
	p.batch.Checkpoint = store.Checkpoint{Size: end, Root: root, Note: signed}
	p.batch.KeepCheckpoint = size/l.cpEvery != end/l.cpEvery || size == 0
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

// write is the writer, the second stage: it makes each batch durable in one
// store transaction, asks for the next, and then answers the batch's callers.
func (l *Log) write() {
	defer close(l.done)
	ctx := context.Background()
	l.ready <- struct{}{}
	for p := range l.writes {
		first := p.batch.Entries[0].Seq
		err := l.st.Append(ctx, p.batch)
		if err != nil {
			// The store may or may not have committed (a lost connection during
			// COMMIT is ambiguous): the sequencer reloads from it.
			l.failed.Store(true)
			l.log.Error("audit log append failed", "first_seq", first, "events", p.n, "err", err)
			err = fmt.Errorf("auditlog: append %d events at seq %d: %w", p.n, first, err)
		} else {
			l.setHead(p.batch.Checkpoint)
			l.metrics.committed(p.n, time.Since(p.start), p.batch.Checkpoint.Size)
		}
		l.ready <- struct{}{}
		l.answer(p, err)
	}
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
