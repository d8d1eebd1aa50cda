package sqlite_test

import (
	"context"
	"crypto/sha256"
	"fmt"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/vigil-audit/vigil/internal/store"
	"github.com/vigil-audit/vigil/internal/store/sqlite"
)

// BenchmarkAppendBatch measures the store alone: one durable transaction of 256
// ~500-byte entries per op.
func BenchmarkAppendBatch(b *testing.B) {
	s, err := sqlite.Open(context.Background(), filepath.Join(b.TempDir(), "vigil.db"))
	if err != nil {
		b.Fatal(err)
	}
	defer s.Close()
	const n = 256
	payload := []byte(`{"seq":0,` + strings.Repeat("x", 480) + `}`)
	seq := uint64(0)
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		bt := &store.Batch{}
		for k := 0; k < n; k++ {
			h := sha256.Sum256([]byte(fmt.Sprint(seq)))
			var nodes []byte
			if seq%2 == 1 {
				nodes = h[:]
			}
			bt.Entries = append(bt.Entries, store.Entry{Seq: seq, LeafHash: h[:], Nodes: nodes, Payload: payload, Meta: store.Meta{
				ID: "01J00000000000000000000000", Time: time.Now(), Source: "gateway/postgres", ActorUser: fmt.Sprintf("user-%d", k%50),
				Action: "UPDATE", ResourceName: "public.accounts", Outcome: "success", Target: "prod-db"}})
			seq++
		}
		bt.Checkpoint = store.Checkpoint{Size: seq, Root: make([]byte, 32), Note: []byte("note")}
		if err := s.Append(context.Background(), bt); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.N*n)/b.Elapsed().Seconds(), "entries/s")
}
