// Package store defines the Store interface that holds Vigil's audit log (entries,
// Merkle tree nodes, signed checkpoints), its API tokens, and the queries over them.
//
// Backends live in subpackages (sqlite, postgres) and all pass one conformance suite,
// storetest. A store knows nothing about hashing or signing: the auditlog package
// computes every hash and signature and hands the store whole batches to write
// atomically.
package store

import (
	"context"
	"errors"
	"fmt"
	"time"
)

// ErrNotFound is returned when a requested record does not exist.
var ErrNotFound = errors.New("not found")

// ErrConflict is returned by Append when the batch does not start at the store's
// current size: another writer appended to the same log, or the caller's view of
// the log is stale.
var ErrConflict = errors.New("append does not continue the log")

// Entry is one stored leaf of the log. Payload is nil once retention has dropped it;
// LeafHash and Nodes are kept forever.
type Entry struct {
	Seq      uint64
	LeafHash []byte
	// Nodes holds the hashes of the Merkle tree nodes that appending this leaf
	// completed, 32 bytes each, from level 1 upwards: node (level l, index i) is
	// completed by leaf (i+1)<<l - 1, so leaf s completes levels 1 to the number
	// of trailing zero bits of s+1. Storing them with the leaf keeps one row per
	// event and lets proofs read any node by its completing leaf.
	Nodes   []byte
	Payload []byte
	Meta    Meta
	// DedupKey, when set, is a key the event's source gives it (a CloudTrail
	// eventID, a Kubernetes auditID): Append records it with the entry, and
	// HasKeys finds it, so that a record ingested twice is stored once.
	DedupKey string
}

// TreeHashes are the hashes an entry contributes to the Merkle tree.
type TreeHashes struct {
	Leaf  []byte
	Nodes []byte
}

// Meta is the part of an event that queries filter on. It must agree with the
// payload, which is authoritative: a backend may store it as columns or read it
// from the payload. It is not part of what the log proves.
type Meta struct {
	ID           string
	Time         time.Time
	Source       string
	ActorUser    string
	Action       string
	ResourceID   string
	ResourceName string
	Outcome      string
	Target       string
}

// Checkpoint is a signed statement of the log's size and root hash.
type Checkpoint struct {
	Size uint64
	Root []byte
	// Note is the signed note in the C2SP checkpoint format, as it was signed.
	Note []byte
}

// Batch is what one group commit writes, atomically: entries (with the tree nodes
// they complete) continuing the log from its current size, and the checkpoint
// signing the new size. KeepCheckpoint also adds the checkpoint to the history.
type Batch struct {
	Entries        []Entry
	Checkpoint     Checkpoint
	KeepCheckpoint bool
}

// Query selects events. Empty fields do not filter. Results come in ascending
// sequence order, starting after AfterSeq when HasAfter is set.
type Query struct {
	Source   string
	Actor    string
	Action   string
	Resource string // matches the resource's id or name
	Outcome  string
	Target   string
	Text     string // free text, matched as a substring of the stored event
	Since    time.Time
	Until    time.Time
	AfterSeq uint64
	HasAfter bool
	Limit    int
}

// Offset is how far a tailer has read one file: Ident names the file itself
// (device and inode), so that a rotated or replaced file is read afresh.
type Offset struct {
	Ident string
	Pos   int64
}

// Token is an API token, stored by the SHA-256 of its secret.
type Token struct {
	Hash      []byte
	User      string
	Role      string
	CreatedAt time.Time
	// SCRAM is the token's SCRAM-SHA-256 verifier in PostgreSQL's text form
	// ("SCRAM-SHA-256$<iterations>:<salt>$<StoredKey>:<ServerKey>", base64),
	// which lets the PostgreSQL gateway check a SCRAM login without the
	// secret. Empty for tokens created before verifiers were kept.
	SCRAM string
}

// Store is the persistence of one audit log and its tokens.
type Store interface {
	// Append writes a batch in one transaction and returns only once it is
	// durable. The batch's first entry must have Seq equal to the current size,
	// or Append returns ErrConflict and writes nothing. An entry's DedupKey that
	// is already recorded fails the whole batch.
	Append(ctx context.Context, b *Batch) error

	// Head returns the latest checkpoint. ok is false for an empty log.
	Head(ctx context.Context) (cp Checkpoint, ok bool, err error)
	// Size returns the number of stored entries. It differs from the head's size
	// only if the store was altered behind the log's back.
	Size(ctx context.Context) (uint64, error)
	// Checkpoints calls fn for each kept checkpoint in increasing size.
	Checkpoints(ctx context.Context, fn func(Checkpoint) error) error

	// ScanEntries calls fn for every stored entry with Seq >= from, in Seq order,
	// Nodes included. Of Meta only Time is guaranteed to be filled.
	// The entry passed to fn is only valid during the call.
	ScanEntries(ctx context.Context, from uint64, fn func(*Entry) error) error
	// Entry returns one entry.
	Entry(ctx context.Context, seq uint64) (Entry, error)
	// TreeHashes returns the leaf and node hashes of the given entries, in the
	// order asked, or ErrNotFound naming the first that is absent.
	TreeHashes(ctx context.Context, seqs []uint64) ([]TreeHashes, error)

	// Query returns the entries that match q.
	Query(ctx context.Context, q Query) ([]Entry, error)
	// DropPayloads removes the payload and the indexed metadata of every entry
	// whose event time is before t, keeping sequence numbers and leaf hashes. It
	// returns the number of entries changed.
	DropPayloads(ctx context.Context, before time.Time) (int64, error)

	// HasKeys reports which of keys are recorded as dedup keys of entries.
	HasKeys(ctx context.Context, keys []string) (map[string]bool, error)

	// Offset returns where a tailer stopped reading the input named key; ok is
	// false if it never read it.
	Offset(ctx context.Context, key string) (o Offset, ok bool, err error)
	// SetOffset records where a tailer stopped reading the input named key.
	SetOffset(ctx context.Context, key string, o Offset) error

	// PutToken stores a new token.
	PutToken(ctx context.Context, t Token) error
	// TokenByHash looks a token up; ErrNotFound if there is none.
	TokenByHash(ctx context.Context, hash []byte) (Token, error)
	// CountTokens returns how many tokens have the given role ("" for all).
	CountTokens(ctx context.Context, role string) (int, error)
	// TokensByUser returns every token of user, oldest first (by CreatedAt,
	// then by hash); none is not an error.
	TokensByUser(ctx context.Context, user string) ([]Token, error)

	// Close releases the store.
	Close() error
}

// Query limits.
const (
	DefaultLimit = 100
	MaxLimit     = 1000
)

// ClampLimit returns the number of rows a query with the given Limit returns at most.
func ClampLimit(n int) int {
	switch {
	case n <= 0:
		return DefaultLimit
	case n > MaxLimit:
		return MaxLimit
	}
	return n
}

// Rows is what the backends' query results (database/sql's and pgx's) offer
// to the readers here.
type Rows interface {
	Next() bool
	Scan(dest ...any) error
	Err() error
}

// ReadTreeHashes reads rows of (seq, leaf hash, nodes) and returns the tree
// hashes of seqs in the order asked; ErrNotFound names the first seq that is
// missing.
func ReadTreeHashes(rows Rows, seqs []uint64) ([]TreeHashes, error) {
	got := make(map[uint64]TreeHashes, len(seqs))
	for rows.Next() {
		var seq int64
		var th TreeHashes
		if err := rows.Scan(&seq, &th.Leaf, &th.Nodes); err != nil {
			return nil, fmt.Errorf("read tree hashes: %w", err)
		}
		got[uint64(seq)] = th
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("read tree hashes: %w", err)
	}
	out := make([]TreeHashes, len(seqs))
	for i, q := range seqs {
		th, ok := got[q]
		if !ok {
			return nil, fmt.Errorf("tree hashes of seq %d: %w", q, ErrNotFound)
		}
		out[i] = th
	}
	return out, nil
}
