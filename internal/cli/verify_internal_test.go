package cli

import (
	"context"
	"database/sql"
	"log/slog"
	"path/filepath"
	"testing"

	"github.com/vigil-audit/vigil/internal/auditlog"
	"github.com/vigil-audit/vigil/internal/event"
	"github.com/vigil-audit/vigil/internal/store/sqlite"
)

// TestVerifyOnce: the periodic verification records its result, and a
// tampered store makes it record a failure naming the first bad entry.
func TestVerifyOnce(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	st, err := sqlite.Open(ctx, filepath.Join(dir, "vigil.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	s, v, _ := auditlog.LoadOrCreateKey(dir, "vigil.test/verify")
	lg, err := auditlog.Open(ctx, auditlog.Options{Store: st, Signer: s, Verifier: v})
	if err != nil {
		t.Fatal(err)
	}
	defer lg.Close()
	for i := 0; i < 3; i++ {
		if _, err := lg.Append(ctx, []event.Event{{Source: "t", Activity: "read", Actor: event.Actor{User: "alice"}, Action: "SELECT", Outcome: "success"}}); err != nil {
			t.Fatal(err)
		}
	}
	last := func() *event.Event {
		e, err := st.Entry(ctx, lg.Head().Size-1)
		if err != nil {
			t.Fatal(err)
		}
		ev, _ := event.Decode(e.Payload)
		return ev
	}
	logger := slog.New(slog.DiscardHandler)
	if err := verifyOnce(ctx, lg, logger); err != nil {
		t.Fatal(err)
	}
	if ev := last(); ev.Action != "audit.verify" || ev.Outcome != "success" {
		t.Fatalf("verification event %+v", ev)
	}
	db, err := sql.Open("sqlite3", filepath.Join(dir, "vigil.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if _, err := db.Exec(`UPDATE entries SET payload = CAST(replace(CAST(payload AS TEXT), 'alice', 'mallory') AS BLOB) WHERE seq = 1`); err != nil {
		t.Fatal(err)
	}
	if err := verifyOnce(ctx, lg, logger); err != nil {
		t.Fatal(err)
	}
	ev := last()
	if ev.Outcome != "failure" || ev.Attrs["first_problem"] != "seq 1: modified: stored event bytes do not match the entry's leaf hash" {
		t.Fatalf("verification of a tampered log recorded %+v", ev)
	}
}
