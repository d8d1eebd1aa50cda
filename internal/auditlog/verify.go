package auditlog

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"sort"

	"github.com/transparency-dev/merkle/compact"
	"golang.org/x/mod/sumdb/note"

	"github.com/vigil-audit/vigil/internal/event"
	"github.com/vigil-audit/vigil/internal/store"
)

// Kinds of problem Verify reports.
const (
	Modified      = "modified"
	Missing       = "missing"
	Inserted      = "inserted"
	Reordered     = "reordered"
	Truncated     = "truncated"
	BadCheckpoint = "checkpoint"
)

// Problem is one way the stored log differs from what was signed.
type Problem struct {
	// Seq is the first sequence number affected. For a problem the tree can only
	// place within a range (a rewritten leaf hash found through its parent node),
	// End is the range's last sequence number; otherwise End == Seq.
	Seq    uint64
	End    uint64
	Kind   string
	Detail string
	// precise problems name the exact entry; range problems only bound it.
	precise bool
}

func (p Problem) String() string {
	if p.End > p.Seq {
		return fmt.Sprintf("seq %d..%d: %s: %s", p.Seq, p.End, p.Kind, p.Detail)
	}
	return fmt.Sprintf("seq %d: %s: %s", p.Seq, p.Kind, p.Detail)
}

// Report is the outcome of Verify.
type Report struct {
	Entries     uint64 // entries read from the store
	Head        Checkpoint
	Trusted     *Checkpoint
	Checkpoints int // signed checkpoints whose roots were checked, head and trusted included
	Problems    []Problem
	// More is set when Verify stopped recording problems after maxProblems.
	More bool
}

// OK reports whether the log is intact.
func (r *Report) OK() bool { return len(r.Problems) == 0 }

const maxProblems = 100

type verifier struct {
	r        *Report
	problems []Problem
	more     bool
}

func (v *verifier) add(p Problem) {
	if p.End < p.Seq {
		p.End = p.Seq
	}
	if len(v.problems) >= maxProblems {
		v.more = true
		return
	}
	v.problems = append(v.problems, p)
}

// covered reports whether some recorded problem already lies in [a, b].
func (v *verifier) covered(a, b uint64) bool {
	for _, p := range v.problems {
		if p.Seq <= b && p.End >= a {
			return true
		}
	}
	return false
}

type rootTarget struct {
	name string
	root []byte
}

type mismatch struct{ pos, claims uint64 }

// Verify recomputes the log's Merkle tree from the bytes in st and checks it
// against every signed checkpoint the store keeps (the head included), against
// the stored tree nodes, and, if trusted is not nil, against that checkpoint kept
// elsewhere. Checkpoints must be signed by v. The error is for failures to read;
// what is wrong with the log is in the Report.
func Verify(ctx context.Context, st store.Store, v note.Verifier, trusted []byte) (*Report, error) {
	return verify(ctx, st, v, trusted, false)
}

// VerifyLive verifies a log that is being appended to: it checks the entries
// its signed head covers when the check starts and ignores those appended
// since (which Verify, run on a quiet log, reports as not covered).
func (l *Log) VerifyLive(ctx context.Context) (*Report, error) {
	return verify(ctx, l.st, l.verifier, nil, true)
}

var errEnough = errors.New("enough")

func verify(ctx context.Context, st store.Store, v note.Verifier, trusted []byte, live bool) (*Report, error) {
	vr := &verifier{r: &Report{}}
	targets := map[uint64][]rootTarget{}
	var lastKept uint64

	head, hasHead, err := st.Head(ctx)
	if err != nil {
		return nil, fmt.Errorf("verify: %w", err)
	}
	var headCP Checkpoint
	if hasHead {
		c, err := OpenCheckpoint(head.Note, v)
		switch {
		case err != nil:
			vr.add(Problem{Seq: head.Size, Kind: BadCheckpoint, Detail: "head checkpoint: " + err.Error(), precise: true})
		case c.Size != head.Size || !bytes.Equal(c.Root, head.Root):
			vr.add(Problem{Seq: head.Size, Kind: BadCheckpoint, Detail: "head row does not match its signed note", precise: true})
		default:
			headCP = c
			targets[c.Size] = append(targets[c.Size], rootTarget{"signed head checkpoint", c.Root})
		}
	}
	vr.r.Head = headCP

	if err := st.Checkpoints(ctx, func(cp store.Checkpoint) error {
		c, err := OpenCheckpoint(cp.Note, v)
		if err != nil {
			vr.add(Problem{Seq: cp.Size, Kind: BadCheckpoint, Detail: fmt.Sprintf("kept checkpoint at size %d: %v", cp.Size, err), precise: true})
			return nil
		}
		targets[c.Size] = append(targets[c.Size], rootTarget{fmt.Sprintf("signed checkpoint at size %d", c.Size), c.Root})
		return nil
	}); err != nil {
		return nil, fmt.Errorf("verify: %w", err)
	}

	var trustedCP *Checkpoint
	if trusted != nil {
		c, err := OpenCheckpoint(trusted, v)
		if err != nil {
			vr.add(Problem{Seq: 0, Kind: BadCheckpoint, Detail: "trusted checkpoint: " + err.Error(), precise: true})
		} else {
			trustedCP = &c
			vr.r.Trusted = trustedCP
			targets[c.Size] = append(targets[c.Size], rootTarget{"trusted checkpoint", c.Root})
		}
	}
	if rs, ok := targets[0]; ok {
		for _, t := range rs {
			if !bytes.Equal(t.root, hasher.EmptyRoot()) {
				vr.add(Problem{Seq: 0, Kind: BadCheckpoint, Detail: t.name + " of size 0 has a non-empty root", precise: true})
			}
		}
		vr.r.Checkpoints += len(rs)
	}

	// Each leaf's recomputed nodes are compared with the ones stored with it.
	var computed []byte
	visit := func(id compact.NodeID, h []byte) {
		if id.Level > 0 {
			computed = append(computed, h...)
		}
	}
	nodeProblem := false
	checkNodes := func(e *store.Entry) {
		if nodeProblem || bytes.Equal(computed, e.Nodes) {
			return
		}
		nodeProblem = true
		level := 1
		for level*sha256Size <= min(len(computed), len(e.Nodes)) &&
			bytes.Equal(computed[(level-1)*sha256Size:level*sha256Size], e.Nodes[(level-1)*sha256Size:level*sha256Size]) {
			level++
		}
		span := uint64(1) << level
		a := (e.Seq + 1) - span
		b := e.Seq
		if vr.covered(a, b) {
			return
		}
		idx := (e.Seq+1)>>level - 1
		if len(e.Nodes) < level*sha256Size {
			vr.add(Problem{Seq: a, End: b, Kind: Missing, Detail: fmt.Sprintf("tree node (level %d, index %d) over these entries is absent", level, idx)})
			return
		}
		vr.add(Problem{Seq: a, End: b, Kind: Modified, Detail: fmt.Sprintf("entries do not match the stored tree node (level %d, index %d): a leaf hash or a node was rewritten", level, idx)})
	}

	tree := rangeFactory.NewEmptyRange(0)
	var expected uint64
	broken := false // positions no longer line up with the tree: stop comparing roots
	var mism []mismatch
	err = st.ScanEntries(ctx, 0, func(e *store.Entry) error {
		// Live, only what the head read at the start covers counts; with no head
		// yet (the first commit landed after it was read), that is nothing.
		if live && (!hasHead || e.Seq >= head.Size) {
			return errEnough
		}
		vr.r.Entries++
		if e.Seq != expected {
			vr.add(Problem{Seq: expected, End: e.Seq - 1, Kind: Missing, Detail: fmt.Sprintf("no entry at seq %d..%d", expected, e.Seq-1), precise: true})
			broken = true
			expected = e.Seq
		}
		lh := e.LeafHash
		if e.Payload != nil {
			computed := hasher.HashLeaf(e.Payload)
			if !bytes.Equal(computed, e.LeafHash) {
				vr.add(Problem{Seq: e.Seq, Kind: Modified, Detail: "stored event bytes do not match the entry's leaf hash", precise: true})
			}
			lh = computed
			if claims, ok := event.LeafSeq(e.Payload); !ok {
				vr.add(Problem{Seq: e.Seq, Kind: Modified, Detail: "stored bytes are not an encoded Vigil event", precise: true})
			} else if claims != e.Seq {
				if len(mism) < 1<<16 {
					mism = append(mism, mismatch{pos: e.Seq, claims: claims})
				}
				broken = true
			}
		}
		if !broken {
			computed = computed[:0]
			if err := tree.Append(lh, visit); err != nil {
				return fmt.Errorf("recompute tree: %w", err)
			}
			checkNodes(e)
			size := tree.End()
			if ts, ok := targets[size]; ok {
				root, err := tree.GetRootHash(nil)
				if err != nil {
					return fmt.Errorf("recompute root: %w", err)
				}
				for _, t := range ts {
					vr.r.Checkpoints++
					if !bytes.Equal(root, t.root) && !vr.covered(lastKept, size-1) {
						vr.add(Problem{Seq: lastKept, End: size - 1, Kind: Modified, Detail: fmt.Sprintf("recomputed root at size %d differs from the %s", size, t.name)})
					}
				}
				lastKept = size
			}
		}
		expected++
		return nil
	})
	if errors.Is(err, errEnough) {
		err = nil
	}
	if err != nil {
		return nil, fmt.Errorf("verify: %w", err)
	}

	classify(vr, mism)

	if hasHead && headCP.Size == head.Size {
		switch {
		case expected < head.Size:
			vr.add(Problem{Seq: expected, End: head.Size - 1, Kind: Truncated, Detail: fmt.Sprintf("the signed head covers %d entries but the store ends before seq %d", head.Size, expected), precise: true})
		case expected > head.Size:
			vr.add(Problem{Seq: head.Size, End: expected - 1, Kind: Inserted, Detail: fmt.Sprintf("entries %d..%d are not covered by the signed head checkpoint", head.Size, expected-1), precise: true})
		}
	} else if !hasHead && expected > 0 {
		vr.add(Problem{Seq: 0, End: expected - 1, Kind: Inserted, Detail: "the store holds entries but no signed head checkpoint", precise: true})
	}
	if trustedCP != nil && trustedCP.Size > expected {
		vr.add(Problem{Seq: expected, End: trustedCP.Size - 1, Kind: Truncated, Detail: fmt.Sprintf("the trusted checkpoint covers %d entries but the log holds %d", trustedCP.Size, expected), precise: true})
	}
	// The served consistency proof must connect the trusted checkpoint to the head.
	if len(vr.problems) == 0 && trustedCP != nil && hasHead && trustedCP.Size <= headCP.Size {
		p, err := consistencyProof(ctx, st, trustedCP.Size, headCP.Size)
		if err == nil {
			err = VerifyConsistency(trustedCP.Size, headCP.Size, p, trustedCP.Root, headCP.Root)
		}
		if err != nil {
			vr.add(Problem{Seq: trustedCP.Size, Kind: BadCheckpoint, Detail: "the head is not consistent with the trusted checkpoint: " + err.Error(), precise: true})
		}
	}

	// Precise problems first, in log order; range problems only bound where to look.
	sort.SliceStable(vr.problems, func(i, j int) bool {
		a, b := vr.problems[i], vr.problems[j]
		if a.precise != b.precise {
			return a.precise
		}
		return a.Seq < b.Seq
	})
	vr.r.Problems, vr.r.More = vr.problems, vr.more
	return vr.r, nil
}

// classify turns entries that claim another position into what happened to
// them: a swap, a deletion with renumbering, or an insertion with renumbering. A
// shift is recognised when consecutive entries all claim the same offset.
func classify(vr *verifier, mism []mismatch) {
	if len(mism) == 0 {
		return
	}
	claimsAt := make(map[uint64]uint64, len(mism))
	for _, m := range mism {
		claimsAt[m.pos] = m.claims
	}
	shifted := func(i int) bool {
		m := mism[i]
		if i+1 == len(mism) {
			return i > 0 || len(mism) == 1
		}
		n := mism[i+1]
		return n.pos == m.pos+1 && n.claims == m.claims+1
	}
	for i, m := range mism {
		if back, ok := claimsAt[m.claims]; ok && back == m.pos {
			vr.add(Problem{Seq: m.pos, Kind: Reordered, Detail: fmt.Sprintf("seq %d and seq %d hold each other's events", m.pos, m.claims), precise: true})
			return
		}
		if !shifted(i) {
			continue
		}
		if m.claims > m.pos {
			vr.add(Problem{Seq: m.pos, End: m.claims - 1, Kind: Missing, Detail: fmt.Sprintf("the events written at seq %d..%d are gone and later entries were renumbered down", m.pos, m.claims-1), precise: true})
		} else {
			vr.add(Problem{Seq: m.claims, End: m.pos - 1, Kind: Inserted, Detail: fmt.Sprintf("entries were inserted at seq %d: the event written at seq %d now sits at seq %d", m.claims, m.claims, m.pos), precise: true})
		}
		return
	}
	m := mism[0]
	vr.add(Problem{Seq: m.pos, Kind: Reordered, Detail: fmt.Sprintf("seq %d holds the event written at seq %d", m.pos, m.claims), precise: true})
}
