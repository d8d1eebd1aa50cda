package sqlite_test

import (
	"context"
	"crypto/sha256"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
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
	n, _ := strconv.Atoi(os.Getenv("BATCH"))
	if n == 0 {
		n = 256
	}
	payload := []byte(`{"seq":0,"id":"01KB6Z9V1Q8QX3S2J6Y0XW4N7M","time":"2026-11-28T09:21:07.123456789Z","source":"gateway/postgres",` +
		`"class_uid":6005,"activity":"update","actor":{"user":"user-7","roles":["developer"],"type":"human","src_ip":"10.1.2.3",` +
		`"session_id":"s-0123456789abcdef"},"action":"UPDATE","resource":{"type":"table","name":"public.accounts",` +
		`"environment":"production"},"target":"prod-db","outcome":"success","decision":{"effect":"allow"},"attrs":{"sql.fingerprint":` +
		`"a1b2c3d4e5f60718","sql.statement":"UPDATE accounts SET balance = balance - $1 WHERE id = $2","sql.tables":["public.accounts"]}}`)
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
