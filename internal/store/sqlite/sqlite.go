// Package sqlite is the embedded default backend of store.Store: one SQLite file in
// WAL mode with synchronous=FULL, so that a committed transaction has been fsynced.
// One connection writes; a small pool reads concurrently.
package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"net/url"
	"strings"
	"time"

	"github.com/mattn/go-sqlite3"

	"github.com/vigil-audit/vigil/internal/store"
)

var _ store.Store = (*Store)(nil)

const schemaVersion = 1

var schema = []string{
	`CREATE TABLE IF NOT EXISTS vigil_meta (key TEXT PRIMARY KEY, value TEXT NOT NULL)`,
	`CREATE TABLE IF NOT EXISTS entries (
		seq           INTEGER PRIMARY KEY,
		leaf_hash     BLOB NOT NULL,
		payload       BLOB,
		id            TEXT,
		time          INTEGER NOT NULL,
		source        TEXT,
		actor_user    TEXT,
		action        TEXT,
		resource_id   TEXT,
		resource_name TEXT,
		outcome       TEXT,
		target        TEXT)`,
	`CREATE INDEX IF NOT EXISTS entries_time ON entries(time)`,
	`CREATE INDEX IF NOT EXISTS entries_actor ON entries(actor_user)`,
	`CREATE INDEX IF NOT EXISTS entries_action ON entries(action)`,
	`CREATE TABLE IF NOT EXISTS nodes (
		key   INTEGER PRIMARY KEY,
		level INTEGER NOT NULL,
		idx   INTEGER NOT NULL,
		hash  BLOB NOT NULL)`,
	`CREATE TABLE IF NOT EXISTS head (
		id   INTEGER PRIMARY KEY CHECK (id = 1),
		size INTEGER NOT NULL,
		root BLOB NOT NULL,
		note BLOB NOT NULL)`,
	`CREATE TABLE IF NOT EXISTS checkpoints (
		size INTEGER PRIMARY KEY,
		root BLOB NOT NULL,
		note BLOB NOT NULL)`,
	`CREATE TABLE IF NOT EXISTS tokens (
		hash       BLOB PRIMARY KEY,
		user_name  TEXT NOT NULL,
		role       TEXT NOT NULL,
		created_at INTEGER NOT NULL)`,
}

// Store is a SQLite-backed store.Store.
type Store struct {
	path string
	w    *sql.DB // exactly one connection: SQLite has one writer
	r    *sql.DB
}

// Open opens (creating if needed) the database file at path.
func Open(ctx context.Context, path string) (*Store, error) {
	q := url.Values{}
	q.Set("_journal_mode", "WAL")
	q.Set("_synchronous", "FULL")
	q.Set("_busy_timeout", "10000")
	q.Set("_foreign_keys", "on")
	q.Set("_txlock", "immediate")
	dsn := "file:" + path + "?" + q.Encode()
	w, err := sql.Open("sqlite3", dsn)
	if err != nil {
		return nil, fmt.Errorf("sqlite: open %s: %w", path, err)
	}
	w.SetMaxOpenConns(1)
	w.SetMaxIdleConns(1)
	w.SetConnMaxLifetime(0)
	for _, stmt := range schema {
		if _, err := w.ExecContext(ctx, stmt); err != nil {
			w.Close()
			return nil, fmt.Errorf("sqlite: create schema in %s: %w", path, err)
		}
	}
	var v string
	err = w.QueryRowContext(ctx, `SELECT value FROM vigil_meta WHERE key = 'schema_version'`).Scan(&v)
	switch {
	case errors.Is(err, sql.ErrNoRows):
		if _, err := w.ExecContext(ctx, `INSERT INTO vigil_meta(key, value) VALUES ('schema_version', ?)`, fmt.Sprint(schemaVersion)); err != nil {
			w.Close()
			return nil, fmt.Errorf("sqlite: record schema version: %w", err)
		}
	case err != nil:
		w.Close()
		return nil, fmt.Errorf("sqlite: read schema version: %w", err)
	case v != fmt.Sprint(schemaVersion):
		w.Close()
		return nil, fmt.Errorf("sqlite: %s has schema version %s; this build understands %d", path, v, schemaVersion)
	}
	rq := url.Values{}
	rq.Set("_busy_timeout", "10000")
	rq.Set("mode", "ro")
	r, err := sql.Open("sqlite3", "file:"+path+"?"+rq.Encode())
	if err != nil {
		w.Close()
		return nil, fmt.Errorf("sqlite: open %s for reading: %w", path, err)
	}
	r.SetMaxOpenConns(4)
	return &Store{path: path, w: w, r: r}, nil
}

// Close closes both connection pools.
func (s *Store) Close() error {
	return errors.Join(s.r.Close(), s.w.Close())
}

// Append implements store.Store.
func (s *Store) Append(ctx context.Context, b *store.Batch) (err error) {
	if len(b.Entries) == 0 {
		return errors.New("sqlite: append: empty batch")
	}
	first := b.Entries[0].Seq
	tx, err := s.w.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("sqlite: append at seq %d: begin: %w", first, err)
	}
	defer func() {
		if err != nil {
			tx.Rollback()
		}
	}()
	var size uint64
	switch err := tx.QueryRowContext(ctx, `SELECT size FROM head WHERE id = 1`).Scan(&size); {
	case errors.Is(err, sql.ErrNoRows):
		size = 0
	case err != nil:
		return fmt.Errorf("sqlite: append at seq %d: read head: %w", first, err)
	}
	if size != first {
		return fmt.Errorf("sqlite: append at seq %d, log size is %d: %w", first, size, store.ErrConflict)
	}
	if err := insertEntries(ctx, tx, b.Entries); err != nil {
		return fmt.Errorf("sqlite: append at seq %d: %w", first, err)
	}
	if err := insertNodes(ctx, tx, b.Nodes); err != nil {
		return fmt.Errorf("sqlite: append at seq %d: %w", first, err)
	}
	cp := b.Checkpoint
	if _, err := tx.ExecContext(ctx, `INSERT INTO head(id, size, root, note) VALUES (1, ?, ?, ?)
		ON CONFLICT(id) DO UPDATE SET size = excluded.size, root = excluded.root, note = excluded.note`,
		int64(cp.Size), cp.Root, cp.Note); err != nil {
		return fmt.Errorf("sqlite: append at seq %d: write head: %w", first, err)
	}
	if b.KeepCheckpoint {
		if _, err := tx.ExecContext(ctx, `INSERT OR REPLACE INTO checkpoints(size, root, note) VALUES (?, ?, ?)`,
			int64(cp.Size), cp.Root, cp.Note); err != nil {
			return fmt.Errorf("sqlite: append at seq %d: keep checkpoint: %w", first, err)
		}
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("sqlite: append at seq %d: commit: %w", first, err)
	}
	return nil
}

// rowsPerInsert bounds a multi-row INSERT: 12 columns each, well under SQLite's
// limit of 32766 bound parameters.
const rowsPerInsert = 256

func insertEntries(ctx context.Context, tx *sql.Tx, es []store.Entry) error {
	const cols = 12
	args := make([]any, 0, min(len(es), rowsPerInsert)*cols)
	for start := 0; start < len(es); start += rowsPerInsert {
		chunk := es[start:min(start+rowsPerInsert, len(es))]
		args = args[:0]
		for i := range chunk {
			e := &chunk[i]
			m := &e.Meta
			args = append(args, int64(e.Seq), e.LeafHash, e.Payload, m.ID, m.Time.UnixNano(), m.Source,
				m.ActorUser, m.Action, m.ResourceID, m.ResourceName, m.Outcome, m.Target)
		}
		q := `INSERT INTO entries(seq, leaf_hash, payload, id, time, source, actor_user, action,
			resource_id, resource_name, outcome, target) VALUES ` + placeholders(len(chunk), cols)
		if _, err := tx.ExecContext(ctx, q, args...); err != nil {
			return fmt.Errorf("insert entries: %w", err)
		}
	}
	return nil
}

func insertNodes(ctx context.Context, tx *sql.Tx, ns []store.Node) error {
	const cols = 4
	args := make([]any, 0, min(len(ns), rowsPerInsert)*cols)
	for start := 0; start < len(ns); start += rowsPerInsert {
		chunk := ns[start:min(start+rowsPerInsert, len(ns))]
		args = args[:0]
		for _, n := range chunk {
			args = append(args, n.Key, int64(n.Level), int64(n.Index), n.Hash)
		}
		q := `INSERT INTO nodes(key, level, idx, hash) VALUES ` + placeholders(len(chunk), cols)
		if _, err := tx.ExecContext(ctx, q, args...); err != nil {
			return fmt.Errorf("insert nodes: %w", err)
		}
	}
	return nil
}

var placeholderCache = map[[2]int]string{}

// placeholders returns "(?,?,..),(..)" for rows of cols columns. Only the writer
// connection calls it, under its single-connection pool, so the cache needs no lock.
func placeholders(rows, cols int) string {
	k := [2]int{rows, cols}
	if s, ok := placeholderCache[k]; ok {
		return s
	}
	row := "(" + strings.TrimSuffix(strings.Repeat("?,", cols), ",") + ")"
	s := strings.TrimSuffix(strings.Repeat(row+",", rows), ",")
	placeholderCache[k] = s
	return s
}

// Head implements store.Store.
func (s *Store) Head(ctx context.Context) (store.Checkpoint, bool, error) {
	var cp store.Checkpoint
	var size int64
	err := s.r.QueryRowContext(ctx, `SELECT size, root, note FROM head WHERE id = 1`).Scan(&size, &cp.Root, &cp.Note)
	if errors.Is(err, sql.ErrNoRows) {
		return store.Checkpoint{}, false, nil
	}
	if err != nil {
		return store.Checkpoint{}, false, fmt.Errorf("sqlite: read head: %w", err)
	}
	cp.Size = uint64(size)
	return cp, true, nil
}

// Size implements store.Store.
func (s *Store) Size(ctx context.Context) (uint64, error) {
	var n int64
	if err := s.r.QueryRowContext(ctx, `SELECT count(*) FROM entries`).Scan(&n); err != nil {
		return 0, fmt.Errorf("sqlite: count entries: %w", err)
	}
	return uint64(n), nil
}

// Checkpoints implements store.Store.
func (s *Store) Checkpoints(ctx context.Context, fn func(store.Checkpoint) error) error {
	rows, err := s.r.QueryContext(ctx, `SELECT size, root, note FROM checkpoints ORDER BY size`)
	if err != nil {
		return fmt.Errorf("sqlite: list checkpoints: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var cp store.Checkpoint
		var size int64
		if err := rows.Scan(&size, &cp.Root, &cp.Note); err != nil {
			return fmt.Errorf("sqlite: read checkpoint: %w", err)
		}
		cp.Size = uint64(size)
		if err := fn(cp); err != nil {
			return err
		}
	}
	if err := rows.Err(); err != nil {
		return fmt.Errorf("sqlite: list checkpoints: %w", err)
	}
	return nil
}

const entryCols = `seq, leaf_hash, payload, coalesce(id, ''), time, coalesce(source, ''), coalesce(actor_user, ''),
	coalesce(action, ''), coalesce(resource_id, ''), coalesce(resource_name, ''), coalesce(outcome, ''), coalesce(target, '')`

type scanner interface{ Scan(...any) error }

func scanEntry(r scanner, e *store.Entry) error {
	var seq, t int64
	m := &e.Meta
	if err := r.Scan(&seq, &e.LeafHash, &e.Payload, &m.ID, &t, &m.Source, &m.ActorUser, &m.Action,
		&m.ResourceID, &m.ResourceName, &m.Outcome, &m.Target); err != nil {
		return err
	}
	e.Seq = uint64(seq)
	m.Time = time.Unix(0, t).UTC()
	return nil
}

// ScanEntries implements store.Store.
func (s *Store) ScanEntries(ctx context.Context, from uint64, fn func(*store.Entry) error) error {
	rows, err := s.r.QueryContext(ctx, `SELECT `+entryCols+` FROM entries WHERE seq >= ? ORDER BY seq`, int64(from))
	if err != nil {
		return fmt.Errorf("sqlite: scan entries from %d: %w", from, err)
	}
	defer rows.Close()
	var e store.Entry
	for rows.Next() {
		if err := scanEntry(rows, &e); err != nil {
			return fmt.Errorf("sqlite: scan entries: %w", err)
		}
		if err := fn(&e); err != nil {
			return err
		}
	}
	if err := rows.Err(); err != nil {
		return fmt.Errorf("sqlite: scan entries: %w", err)
	}
	return nil
}

// Entry implements store.Store.
func (s *Store) Entry(ctx context.Context, seq uint64) (store.Entry, error) {
	var e store.Entry
	err := scanEntry(s.r.QueryRowContext(ctx, `SELECT `+entryCols+` FROM entries WHERE seq = ?`, int64(seq)), &e)
	if errors.Is(err, sql.ErrNoRows) {
		return e, fmt.Errorf("sqlite: entry %d: %w", seq, store.ErrNotFound)
	}
	if err != nil {
		return e, fmt.Errorf("sqlite: entry %d: %w", seq, err)
	}
	return e, nil
}

// LeafHashes implements store.Store.
func (s *Store) LeafHashes(ctx context.Context, seqs []uint64) ([][]byte, error) {
	keys := make([]int64, len(seqs))
	for i, q := range seqs {
		keys[i] = int64(q)
	}
	return s.hashes(ctx, `SELECT seq, leaf_hash FROM entries WHERE seq IN `, keys, "leaf")
}

// NodeHashes implements store.Store.
func (s *Store) NodeHashes(ctx context.Context, keys []int64) ([][]byte, error) {
	return s.hashes(ctx, `SELECT key, hash FROM nodes WHERE key IN `, keys, "node")
}

func (s *Store) hashes(ctx context.Context, query string, keys []int64, what string) ([][]byte, error) {
	if len(keys) == 0 {
		return nil, nil
	}
	args := make([]any, len(keys))
	for i, k := range keys {
		args[i] = k
	}
	rows, err := s.r.QueryContext(ctx, query+placeholdersList(len(keys)), args...)
	if err != nil {
		return nil, fmt.Errorf("sqlite: read %s hashes: %w", what, err)
	}
	defer rows.Close()
	got := make(map[int64][]byte, len(keys))
	for rows.Next() {
		var k int64
		var h []byte
		if err := rows.Scan(&k, &h); err != nil {
			return nil, fmt.Errorf("sqlite: read %s hashes: %w", what, err)
		}
		got[k] = h
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("sqlite: read %s hashes: %w", what, err)
	}
	out := make([][]byte, len(keys))
	for i, k := range keys {
		h, ok := got[k]
		if !ok {
			return nil, fmt.Errorf("sqlite: %s hash %d: %w", what, k, store.ErrNotFound)
		}
		out[i] = h
	}
	return out, nil
}

func placeholdersList(n int) string {
	return "(" + strings.TrimSuffix(strings.Repeat("?,", n), ",") + ")"
}

// ScanNodes implements store.Store.
func (s *Store) ScanNodes(ctx context.Context, fn func(*store.Node) error) error {
	rows, err := s.r.QueryContext(ctx, `SELECT key, level, idx, hash FROM nodes ORDER BY key`)
	if err != nil {
		return fmt.Errorf("sqlite: scan nodes: %w", err)
	}
	defer rows.Close()
	var n store.Node
	for rows.Next() {
		var level, idx int64
		if err := rows.Scan(&n.Key, &level, &idx, &n.Hash); err != nil {
			return fmt.Errorf("sqlite: scan nodes: %w", err)
		}
		n.Level, n.Index = uint(level), uint64(idx)
		if err := fn(&n); err != nil {
			return err
		}
	}
	if err := rows.Err(); err != nil {
		return fmt.Errorf("sqlite: scan nodes: %w", err)
	}
	return nil
}

// Query implements store.Store. Text matches case-insensitively (ASCII) anywhere in
// the stored event; entries whose payload retention dropped match no field filter.
func (s *Store) Query(ctx context.Context, q store.Query) ([]store.Entry, error) {
	var where []string
	var args []any
	add := func(cond string, v any) {
		where = append(where, cond)
		args = append(args, v)
	}
	if q.Source != "" {
		add("source = ?", q.Source)
	}
	if q.Actor != "" {
		add("actor_user = ?", q.Actor)
	}
	if q.Action != "" {
		add("action = ?", q.Action)
	}
	if q.Resource != "" {
		where = append(where, "(resource_id = ? OR resource_name = ?)")
		args = append(args, q.Resource, q.Resource)
	}
	if q.Outcome != "" {
		add("outcome = ?", q.Outcome)
	}
	if q.Target != "" {
		add("target = ?", q.Target)
	}
	if q.Text != "" {
		add("instr(lower(CAST(payload AS TEXT)), lower(?)) > 0", q.Text)
	}
	if !q.Since.IsZero() {
		add("time >= ?", q.Since.UnixNano())
	}
	if !q.Until.IsZero() {
		add("time < ?", q.Until.UnixNano())
	}
	if q.HasAfter {
		add("seq > ?", int64(q.AfterSeq))
	}
	sqlText := `SELECT ` + entryCols + ` FROM entries`
	if len(where) > 0 {
		sqlText += ` WHERE ` + strings.Join(where, " AND ")
	}
	sqlText += ` ORDER BY seq LIMIT ?`
	args = append(args, store.ClampLimit(q.Limit))
	rows, err := s.r.QueryContext(ctx, sqlText, args...)
	if err != nil {
		return nil, fmt.Errorf("sqlite: query events: %w", err)
	}
	defer rows.Close()
	var out []store.Entry
	for rows.Next() {
		var e store.Entry
		if err := scanEntry(rows, &e); err != nil {
			return nil, fmt.Errorf("sqlite: query events: %w", err)
		}
		out = append(out, e)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("sqlite: query events: %w", err)
	}
	return out, nil
}

// DropPayloads implements store.Store.
func (s *Store) DropPayloads(ctx context.Context, before time.Time) (int64, error) {
	res, err := s.w.ExecContext(ctx, `UPDATE entries SET payload = NULL, id = NULL, source = NULL,
		actor_user = NULL, action = NULL, resource_id = NULL, resource_name = NULL, outcome = NULL, target = NULL
		WHERE time < ? AND payload IS NOT NULL`, before.UnixNano())
	if err != nil {
		return 0, fmt.Errorf("sqlite: drop payloads before %s: %w", before.Format(time.RFC3339), err)
	}
	n, err := res.RowsAffected()
	if err != nil {
		return 0, fmt.Errorf("sqlite: drop payloads: %w", err)
	}
	return n, nil
}

// PutToken implements store.Store.
func (s *Store) PutToken(ctx context.Context, t store.Token) error {
	_, err := s.w.ExecContext(ctx, `INSERT INTO tokens(hash, user_name, role, created_at) VALUES (?, ?, ?, ?)`,
		t.Hash, t.User, t.Role, t.CreatedAt.UnixNano())
	var se sqlite3.Error
	if errors.As(err, &se) && se.Code == sqlite3.ErrConstraint {
		return fmt.Errorf("sqlite: put token for %s: a token with this hash exists", t.User)
	}
	if err != nil {
		return fmt.Errorf("sqlite: put token for %s: %w", t.User, err)
	}
	return nil
}

// TokenByHash implements store.Store.
func (s *Store) TokenByHash(ctx context.Context, hash []byte) (store.Token, error) {
	t := store.Token{Hash: hash}
	var created int64
	err := s.r.QueryRowContext(ctx, `SELECT user_name, role, created_at FROM tokens WHERE hash = ?`, hash).
		Scan(&t.User, &t.Role, &created)
	if errors.Is(err, sql.ErrNoRows) {
		return store.Token{}, fmt.Errorf("sqlite: token: %w", store.ErrNotFound)
	}
	if err != nil {
		return store.Token{}, fmt.Errorf("sqlite: token: %w", err)
	}
	t.CreatedAt = time.Unix(0, created).UTC()
	return t, nil
}

// CountTokens implements store.Store.
func (s *Store) CountTokens(ctx context.Context, role string) (int, error) {
	var n int
	err := s.r.QueryRowContext(ctx, `SELECT count(*) FROM tokens WHERE ? = '' OR role = ?`, role, role).Scan(&n)
	if err != nil {
		return 0, fmt.Errorf("sqlite: count tokens: %w", err)
	}
	return n, nil
}
