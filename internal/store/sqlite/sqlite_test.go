package sqlite_test

import (
	"context"
	"path/filepath"
	"testing"

	"github.com/vigil-audit/vigil/internal/store"
	"github.com/vigil-audit/vigil/internal/store/sqlite"
	"github.com/vigil-audit/vigil/internal/store/storetest"
)

func TestConformance(t *testing.T) {
	storetest.Run(t, func(t *testing.T) store.Store {
		s, err := sqlite.Open(context.Background(), filepath.Join(t.TempDir(), "vigil.db"))
		if err != nil {
			t.Fatal(err)
		}
		return s
	})
}

func TestReopenKeepsData(t *testing.T) {
	path := filepath.Join(t.TempDir(), "vigil.db")
	ctx := context.Background()
	s, err := sqlite.Open(ctx, path)
	if err != nil {
		t.Fatal(err)
	}
	b := &store.Batch{
		Entries:    []store.Entry{{Seq: 0, LeafHash: []byte("h"), Payload: []byte(`{"seq":0}`)}},
		Checkpoint: store.Checkpoint{Size: 1, Root: []byte("r"), Note: []byte("n")},
	}
	if err := s.Append(ctx, b); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	s, err = sqlite.Open(ctx, path)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	cp, ok, err := s.Head(ctx)
	if err != nil || !ok || cp.Size != 1 {
		t.Fatalf("after reopen: head %+v ok=%v err=%v; want size 1", cp, ok, err)
	}
}
