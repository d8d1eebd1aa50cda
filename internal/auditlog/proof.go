package auditlog

import (
	"context"
	"fmt"

	"github.com/transparency-dev/merkle/proof"

	"github.com/vigil-audit/vigil/internal/store"
)

// InclusionProof proves that entry seq is in the tree of the first size entries
// (size 0 means the current head). It returns the entry's leaf hash and the proof,
// reading only the O(log n) stored nodes the proof needs.
func (l *Log) InclusionProof(ctx context.Context, seq, size uint64) (leafHash []byte, p [][]byte, err error) {
	if size == 0 {
		size = l.Head().Size
	}
	if size > l.Head().Size {
		return nil, nil, fmt.Errorf("%w: size %d is beyond the log's size %d", ErrOutOfRange, size, l.Head().Size)
	}
	if seq >= size {
		return nil, nil, fmt.Errorf("%w: seq %d is not in a tree of size %d", ErrOutOfRange, seq, size)
	}
	nodes, err := proof.Inclusion(seq, size)
	if err != nil {
		return nil, nil, fmt.Errorf("inclusion proof: %w", err)
	}
	hashes, err := l.nodeHashes(ctx, nodes.IDs)
	if err != nil {
		return nil, nil, fmt.Errorf("inclusion proof for %d in %d: %w", seq, size, err)
	}
	p, err = nodes.Rehash(hashes, hasher.HashChildren)
	if err != nil {
		return nil, nil, fmt.Errorf("inclusion proof: %w", err)
	}
	th, err := l.st.TreeHashes(ctx, []uint64{seq})
	if err != nil {
		return nil, nil, fmt.Errorf("inclusion proof: %w", err)
	}
	return th[0].Leaf, p, nil
}

// ConsistencyProof proves that the tree of size from is a prefix of the tree of
// size to.
func (l *Log) ConsistencyProof(ctx context.Context, from, to uint64) ([][]byte, error) {
	if to > l.Head().Size {
		return nil, fmt.Errorf("%w: size %d is beyond the log's size %d", ErrOutOfRange, to, l.Head().Size)
	}
	if from > to {
		return nil, fmt.Errorf("%w: from %d is greater than to %d", ErrOutOfRange, from, to)
	}
	return consistencyProof(ctx, l.st, from, to)
}

func consistencyProof(ctx context.Context, st store.Store, from, to uint64) ([][]byte, error) {
	nodes, err := proof.Consistency(from, to)
	if err != nil {
		return nil, fmt.Errorf("consistency proof: %w", err)
	}
	hashes, err := fetchNodes(ctx, st, nodes.IDs)
	if err != nil {
		return nil, fmt.Errorf("consistency proof %d..%d: %w", from, to, err)
	}
	p, err := nodes.Rehash(hashes, hasher.HashChildren)
	if err != nil {
		return nil, fmt.Errorf("consistency proof: %w", err)
	}
	return p, nil
}

// VerifyInclusion checks an inclusion proof against a root.
func VerifyInclusion(seq, size uint64, leafHash []byte, p [][]byte, root []byte) error {
	return proof.VerifyInclusion(hasher, seq, size, leafHash, p, root)
}

// VerifyConsistency checks a consistency proof between two roots.
func VerifyConsistency(size1, size2 uint64, p [][]byte, root1, root2 []byte) error {
	return proof.VerifyConsistency(hasher, size1, size2, p, root1, root2)
}

// LeafHash returns the RFC 6962 leaf hash of stored entry bytes.
func LeafHash(leaf []byte) []byte { return hasher.HashLeaf(leaf) }
