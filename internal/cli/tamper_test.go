package cli_test

import (
	"bytes"
	"context"
	"database/sql"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/vigil-audit/vigil/internal/auditlog"
	"github.com/vigil-audit/vigil/internal/cli"
	"github.com/vigil-audit/vigil/internal/event"
	"github.com/vigil-audit/vigil/internal/pgtest"
	"github.com/vigil-audit/vigil/internal/store"
	"github.com/vigil-audit/vigil/internal/store/postgres"
	"github.com/vigil-audit/vigil/internal/store/sqlite"
)

func TestMain(m *testing.M) { os.Exit(pgtest.Main(m)) }

// run runs the vigil command in-process.
func run(t *testing.T, args ...string) (code int, stdout, stderr string) {
	t.Helper()
	var out, errb bytes.Buffer
	code = cli.Main(context.Background(), args, strings.NewReader(""), &out, &errb)
	return code, out.String(), errb.String()
}

const seedEvents = 50

// seed appends seedEvents events one at a time (so a checkpoint is kept every 8
// entries) to a log in st whose keys live in dir.
func seed(t *testing.T, st store.Store, dir string) {
	t.Helper()
	signer, verifier, err := auditlog.LoadOrCreateKey(dir, "vigil.test/tamper")
	if err != nil {
		t.Fatal(err)
	}
	l, err := auditlog.Open(context.Background(), auditlog.Options{Store: st, Signer: signer, Verifier: verifier, CheckpointEvery: 8})
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i < seedEvents; i++ {
		e := event.Event{Source: "test", Activity: "update", Actor: event.Actor{User: fmt.Sprintf("user-%d", i)},
			Action: "UPDATE", Resource: event.Resource{Name: "accounts"}, Outcome: "success"}
		if _, err := l.Append(context.Background(), []event.Event{e}); err != nil {
			t.Fatal(err)
		}
	}
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
}

// forgedLeaf returns the bytes and leaf hash of a well-formed event claiming seq.
func forgedLeaf(t *testing.T, seq uint64, user string) ([]byte, []byte) {
	e := event.Event{Source: "test", Activity: "update", Actor: event.Actor{User: user}, Action: "UPDATE", Outcome: "success"}
	if err := e.Normalize(seedTime); err != nil {
		t.Fatal(err)
	}
	body, err := event.EncodeBody(&e)
	if err != nil {
		t.Fatal(err)
	}
	leaf := body.Leaf(seq)
	return leaf, auditlog.LeafHash(leaf)
}

// backend is a store the tamper cases run against: how to open a seeded copy,
// the verify flags that reach it, and SQL in its dialect.
type backend struct {
	name string
	// setup seeds a fresh log and returns the flags naming it and a function
	// that runs a tampering statement. Statements use the names entries,
	// checkpoints, head; ?N placeholders; and ORIGIN for the log's origin filter.
	setup func(t *testing.T) (flags []string, exec func(q string, args ...any))
}

var seedTime = mustTime("2026-01-02T03:04:05Z")

func sqliteBackend() backend {
	return backend{name: "sqlite", setup: func(t *testing.T) ([]string, func(string, ...any)) {
		dir := t.TempDir()
		st, err := sqlite.Open(context.Background(), filepath.Join(dir, "vigil.db"))
		if err != nil {
			t.Fatal(err)
		}
		seed(t, st, dir)
		st.Close()
		db, err := sql.Open("sqlite3", filepath.Join(dir, "vigil.db"))
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { db.Close() })
		exec := func(q string, args ...any) {
			t.Helper()
			q = strings.NewReplacer("ORIGIN", "1=1", "?1", "?", "?2", "?").Replace(q)
			if _, err := db.Exec(q, args...); err != nil {
				t.Fatalf("tamper %q: %v", q, err)
			}
		}
		return []string{"--data", dir}, exec
	}}
}

func postgresBackend() backend {
	return backend{name: "postgres", setup: func(t *testing.T) ([]string, func(string, ...any)) {
		dsn := pgtest.Shared(t).NewDB(t)
		dir := t.TempDir()
		ctx := context.Background()
		st, err := postgres.Open(ctx, dsn, "vigil.test/tamper")
		if err != nil {
			t.Fatal(err)
		}
		seed(t, st, dir)
		st.Close()
		conn, err := pgx.Connect(ctx, dsn)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { conn.Close(ctx) })
		exec := func(q string, args ...any) {
			t.Helper()
			q = strings.NewReplacer(
				"ORIGIN", "origin = 'vigil.test/tamper'",
				"entries", "vigil_entries", "checkpoints", "vigil_checkpoints", "head", "vigil_head", "nodes", "vigil_nodes",
				"?1", "$1", "?2", "$2",
				"CAST(payload AS TEXT)", "convert_from(payload, 'UTF8')",
				"AS BLOB)", "AS bytea)",
			).Replace(q)
			q = strings.ReplaceAll(q, "CAST(replace(", "convert_to(replace(")
			q = strings.ReplaceAll(q, ") AS bytea)", "), 'UTF8')")
			if _, err := conn.Exec(ctx, q, args...); err != nil {
				t.Fatalf("tamper %q: %v", q, err)
			}
		}
		return []string{"--store", dsn, "--pubkey", filepath.Join(dir, auditlog.VerifierKeyFile)}, exec
	}}
}

func TestTamperDetected(t *testing.T) {
	type tc struct {
		name    string
		tamper  func(t *testing.T, exec func(string, ...any))
		trusted bool
		want    string // the FAIL line's text after "first bad entry: "
	}
	cases := []tc{
		{
			name: "edit payload",
			tamper: func(t *testing.T, exec func(string, ...any)) {
				exec(`UPDATE entries SET payload = CAST(replace(CAST(payload AS TEXT), '"user-17"', '"mallory"') AS BLOB) WHERE ORIGIN AND seq = 17`)
			},
			want: "seq 17: modified: stored event bytes do not match the entry's leaf hash",
		},
		{
			name: "edit payload and rehash leaf",
			tamper: func(t *testing.T, exec func(string, ...any)) {
				leaf, lh := forgedLeaf(t, 21, "mallory")
				exec(`UPDATE entries SET payload = ?1, leaf_hash = ?2 WHERE ORIGIN AND seq = 21`, leaf, lh)
			},
			want: "seq 20..21: modified: entries do not match the stored tree node (level 1, index 10)",
		},
		{
			name: "delete a row",
			tamper: func(t *testing.T, exec func(string, ...any)) {
				exec(`DELETE FROM entries WHERE ORIGIN AND seq = 23`)
			},
			want: "seq 23: missing: no entry at seq 23..23",
		},
		{
			name: "swap two rows",
			tamper: func(t *testing.T, exec func(string, ...any)) {
				exec(`UPDATE entries SET seq = -1 WHERE ORIGIN AND seq = 10`)
				exec(`UPDATE entries SET seq = 10 WHERE ORIGIN AND seq = 11`)
				exec(`UPDATE entries SET seq = 11 WHERE ORIGIN AND seq = -1`)
			},
			want: "seq 10: reordered: seq 10 and seq 11 hold each other's events",
		},
		{
			name: "insert a row",
			tamper: func(t *testing.T, exec func(string, ...any)) {
				exec(`UPDATE entries SET seq = -seq - 1 WHERE ORIGIN AND seq >= 30`)
				exec(`UPDATE entries SET seq = -seq WHERE ORIGIN AND seq < 0`)
				leaf, lh := forgedLeaf(t, 30, "mallory")
				exec(`INSERT INTO entries (ORIGINCOL seq, leaf_hash, payload, time) VALUES (ORIGINVAL 30, ?1, ?2, 0)`, lh, leaf)
			},
			want: "seq 30: inserted: entries were inserted at seq 30",
		},
		{
			name: "delete the newest rows",
			tamper: func(t *testing.T, exec func(string, ...any)) {
				exec(`DELETE FROM entries WHERE ORIGIN AND seq >= 45`)
			},
			want: "seq 45..49: truncated: the signed head covers 50 entries but the store ends before seq 45",
		},
		{
			name: "truncate to an old checkpoint",
			tamper: func(t *testing.T, exec func(string, ...any)) {
				truncateToCheckpoint(exec, 40)
			},
			trusted: true,
			want:    "seq 40..49: truncated: the trusted checkpoint covers 50 entries but the log holds 40",
		},
	}
	for _, b := range []backend{sqliteBackend(), postgresBackend()} {
		t.Run(b.name, func(t *testing.T) {
			for _, c := range cases {
				t.Run(c.name, func(t *testing.T) {
					flags, exec := b.setup(t)
					code, out, errs := run(t, append([]string{"audit", "verify"}, flags...)...)
					if code != 0 {
						t.Fatalf("verify before tampering: exit %d\n%s%s", code, out, errs)
					}
					trustedFile := filepath.Join(t.TempDir(), "trusted.checkpoint")
					code, cp, errs := run(t, append([]string{"audit", "checkpoint"}, flags...)...)
					if code != 0 || !strings.HasPrefix(cp, "vigil.test/tamper\n50\n") {
						t.Fatalf("audit checkpoint: exit %d, %q %s", code, cp, errs)
					}
					if err := os.WriteFile(trustedFile, []byte(cp), 0o600); err != nil {
						t.Fatal(err)
					}

					c.tamper(t, withOriginColumns(b.name, exec))

					args := append([]string{"audit", "verify"}, flags...)
					if c.trusted {
						// Without the trusted checkpoint this attack is invisible: the
						// store is a consistent, signed, shorter log.
						if code, out, _ := run(t, args...); code != 0 {
							t.Fatalf("verify without --trusted: exit %d; a truncation to a kept checkpoint should look intact without one\n%s", code, out)
						}
						args = append(args, "--trusted", trustedFile)
					}
					code, out, errs = run(t, args...)
					if code != 1 {
						t.Fatalf("verify after %s: exit %d, want 1\nstdout: %s\nstderr: %s", c.name, code, out, errs)
					}
					first, _, _ := strings.Cut(out, "\n")
					if want := "FAIL: first bad entry: " + c.want; !strings.HasPrefix(first, want) {
						t.Fatalf("verify after %s:\n got: %s\nwant: %s…\nfull output:\n%s", c.name, first, want, out)
					}
				})
			}
		})
	}
}

// withOriginColumns fills the INSERT column placeholders of a backend.
func withOriginColumns(backend string, exec func(string, ...any)) func(string, ...any) {
	col, val := "", ""
	if backend == "postgres" {
		col, val = "origin, ", "'vigil.test/tamper', "
	}
	return func(q string, args ...any) {
		q = strings.ReplaceAll(q, "ORIGINCOL ", col)
		q = strings.ReplaceAll(q, "ORIGINVAL ", val)
		if backend == "postgres" {
			q = strings.ReplaceAll(q, ", 0)", ", now())")
		}
		exec(q, args...)
	}
}

// truncateToCheckpoint rolls the log back to a kept checkpoint as a careful
// attacker would: rows, nodes, later checkpoints and the head all agree.
func truncateToCheckpoint(exec func(string, ...any), size int) {
	exec(fmt.Sprintf(`DELETE FROM entries WHERE ORIGIN AND seq >= %d`, size))
	exec(fmt.Sprintf(`UPDATE head SET size = c.size, root = c.root, note = c.note FROM (SELECT size, root, note FROM checkpoints WHERE ORIGIN AND size = %d) AS c WHERE ORIGIN`, size))
	exec(fmt.Sprintf(`DELETE FROM checkpoints WHERE ORIGIN AND size > %d`, size))
}

func mustTime(s string) time.Time {
	t, err := time.Parse(time.RFC3339, s)
	if err != nil {
		panic(err)
	}
	return t
}
