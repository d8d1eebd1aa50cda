package sqlite_test

import (
	"context"
	"database/sql"
	"path/filepath"
	"testing"
	"time"

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

// TestMigrateTokensWithoutVerifier: a database whose tokens table predates
// the scram column opens, gains the column, and keeps its tokens (read back
// with an empty verifier).
func TestMigrateTokensWithoutVerifier(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "vigil.db")
	db, err := sql.Open("sqlite3", "file:"+path)
	if err != nil {
		t.Fatal(err)
	}
	for _, stmt := range []string{
		`CREATE TABLE vigil_meta (key TEXT PRIMARY KEY, value TEXT NOT NULL)`,
		`INSERT INTO vigil_meta VALUES ('schema_version', '1')`,
		`CREATE TABLE tokens (hash BLOB PRIMARY KEY, user_name TEXT NOT NULL, role TEXT NOT NULL, created_at INTEGER NOT NULL)`,
		`INSERT INTO tokens VALUES (x'0102', 'alice', 'admin', 1000)`,
	} {
		if _, err := db.Exec(stmt); err != nil {
			t.Fatal(err)
		}
	}
	db.Close()
	for i := range 2 { // the second open finds the column there
		s, err := sqlite.Open(ctx, path)
		if err != nil {
			t.Fatal(err)
		}
		old, err := s.TokenByHash(ctx, []byte{1, 2})
		if err != nil || old.User != "alice" || old.SCRAM != "" {
			t.Fatalf("old token = %+v, %v", old, err)
		}
		if i == 0 {
			if err := s.PutToken(ctx, store.Token{Hash: []byte{3}, User: "alice", Role: "user", CreatedAt: time.Unix(2, 0), SCRAM: "SCRAM-SHA-256$4096:a$b:c"}); err != nil {
				t.Fatal(err)
			}
		}
		toks, err := s.TokensByUser(ctx, "alice")
		if err != nil || len(toks) != 2 || toks[0].SCRAM != "" || toks[1].SCRAM == "" {
			t.Fatalf("TokensByUser after migration = %+v, %v", toks, err)
		}
		s.Close()
	}
}
