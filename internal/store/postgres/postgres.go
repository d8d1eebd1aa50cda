// Package postgres is the PostgreSQL backend of store.Store, for deployments
// where several Vigil nodes share one database.
//
// Each Store is bound to one log origin. Every log table has an origin column
// leading its primary key, so nodes with different origins append to one
// database without contending; API tokens are shared by all origins. An append
// is one transaction, committed with the server's synchronous_commit (on by
// default), so it is durable when Append returns.
//
// PostgreSQL keeps timestamps to the microsecond; the nanoseconds below that are
// kept in a separate column, so event and token times round-trip exactly.
//
// Queries are prepared and cached per connection (pgx's default); behind a
// pooler in transaction mode, add default_query_exec_mode=exec to the DSN.
package postgres

import (
	"context"
	"errors"
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgtype"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/vigil-audit/vigil/internal/store"
)

var _ store.Store = (*Store)(nil)

// schemaVersion is the version of the schema below; Open refuses a database
// with another.
const schemaVersion = 1

// schemaLock is the advisory lock key that serializes schema creation by
// concurrently starting nodes ("vigil" in ASCII).
const schemaLock = 0x7669676c

var schema = []string{
	`CREATE TABLE IF NOT EXISTS vigil_offsets (
		origin text NOT NULL,
		key    text NOT NULL,
		ident  text NOT NULL,
		pos    bigint NOT NULL,
		PRIMARY KEY (origin, key))`,
	`CREATE TABLE IF NOT EXISTS vigil_dedup (
		origin text NOT NULL,
		key    text NOT NULL,
		seq    bigint NOT NULL,
		PRIMARY KEY (origin, key))`,
	`CREATE TABLE IF NOT EXISTS vigil_schema_version (
		one     boolean PRIMARY KEY DEFAULT true CHECK (one),
		version integer NOT NULL)`,
	// nodes holds the tree node hashes the leaf completed (store.Entry.Nodes).
	// time is the event time to the microsecond and time_ns the nanoseconds
	// within that microsecond. Retention (DropPayloads) sets payload and every
	// metadata column except time to NULL; leaf_hash and nodes stay.
	`CREATE TABLE IF NOT EXISTS vigil_entries (
		origin        text NOT NULL,
		seq           bigint NOT NULL,
		leaf_hash     bytea NOT NULL,
		nodes         bytea,
		payload       bytea,
		id            text,
		time          timestamptz NOT NULL,
		time_ns       smallint NOT NULL DEFAULT 0,
		source        text,
		actor_user    text,
		action        text,
		resource_id   text,
		resource_name text,
		outcome       text,
		target        text,
		PRIMARY KEY (origin, seq))`,
	`CREATE INDEX IF NOT EXISTS vigil_entries_time ON vigil_entries (origin, time)`,
	`CREATE INDEX IF NOT EXISTS vigil_entries_source ON vigil_entries (origin, source, seq)`,
	`CREATE INDEX IF NOT EXISTS vigil_entries_actor ON vigil_entries (origin, actor_user, seq)`,
	`CREATE INDEX IF NOT EXISTS vigil_entries_action ON vigil_entries (origin, action, seq)`,
	`CREATE TABLE IF NOT EXISTS vigil_head (
		origin text PRIMARY KEY,
		size   bigint NOT NULL,
		root   bytea NOT NULL,
		note   bytea NOT NULL)`,
	`CREATE TABLE IF NOT EXISTS vigil_checkpoints (
		origin text NOT NULL,
		size   bigint NOT NULL,
		root   bytea NOT NULL,
		note   bytea NOT NULL,
		PRIMARY KEY (origin, size))`,
	`CREATE TABLE IF NOT EXISTS vigil_tokens (
		hash       bytea PRIMARY KEY,
		user_name  text NOT NULL,
		role       text NOT NULL,
		created_at timestamptz NOT NULL,
		created_ns smallint NOT NULL DEFAULT 0)`,
	// Added after schema version 1 was released: a nullable column, which
	// builds without it ignore.
	`ALTER TABLE vigil_tokens ADD COLUMN IF NOT EXISTS scram text`,
	`CREATE INDEX IF NOT EXISTS vigil_tokens_user ON vigil_tokens (user_name)`,
}

// Store is a PostgreSQL-backed store.Store for one log origin.
type Store struct {
	pool   *pgxpool.Pool
	origin string
}

// Open connects to the database at dsn (a postgres:// URL or key=value string,
// as pgxpool.ParseConfig reads it), creates the schema if it is absent, and
// returns a store for the log named origin.
func Open(ctx context.Context, dsn string, origin string) (*Store, error) {
	if origin == "" {
		return nil, errors.New("postgres: open: empty log origin")
	}
	cfg, err := pgxpool.ParseConfig(dsn)
	if err != nil {
		// The error may quote the DSN, password included; say only what failed.
		return nil, errors.New("postgres: open: cannot parse the connection string")
	}
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		return nil, fmt.Errorf("postgres: open: %w", err)
	}
	if err := createSchema(ctx, pool); err != nil {
		pool.Close()
		return nil, err
	}
	return &Store{pool: pool, origin: origin}, nil
}

func createSchema(ctx context.Context, pool *pgxpool.Pool) error {
	return pgx.BeginFunc(ctx, pool, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, `SELECT pg_advisory_xact_lock($1)`, int64(schemaLock)); err != nil {
			return fmt.Errorf("postgres: create schema: lock: %w", err)
		}
		for _, stmt := range schema {
			if _, err := tx.Exec(ctx, stmt); err != nil {
				return fmt.Errorf("postgres: create schema: %w", err)
			}
		}
		var v int
		err := tx.QueryRow(ctx, `SELECT version FROM vigil_schema_version`).Scan(&v)
		switch {
		case errors.Is(err, pgx.ErrNoRows):
			if _, err := tx.Exec(ctx, `INSERT INTO vigil_schema_version (version) VALUES ($1)`, schemaVersion); err != nil {
				return fmt.Errorf("postgres: record schema version: %w", err)
			}
		case err != nil:
			return fmt.Errorf("postgres: read schema version: %w", err)
		case v != schemaVersion:
			return fmt.Errorf("postgres: the database has schema version %d; this build understands %d", v, schemaVersion)
		}
		return nil
	})
}

// Origin returns the log origin the store is bound to.
func (s *Store) Origin() string { return s.origin }

// Close closes the connection pool.
func (s *Store) Close() error {
	s.pool.Close()
	return nil
}

// splitTime returns t to the microsecond, as PostgreSQL keeps it, and the
// nanoseconds below.
func splitTime(t time.Time) (time.Time, int16) {
	return t.Truncate(time.Microsecond), int16(t.Nanosecond() % 1000)
}

func joinTime(t time.Time, ns int16) time.Time {
	return t.Add(time.Duration(ns)).UTC()
}

// Append implements store.Store. The head row of the origin, locked for the
// transaction, serializes appends to one origin; a first append inserts it.
// Entries are written with COPY, which measured faster than INSERT ... SELECT
// FROM unnest(...) for batches of 64 rows and more, and as fast below. A batch
// whose sequence numbers are not consecutive is refused before anything is
// written.
func (s *Store) Append(ctx context.Context, b *store.Batch) error {
	if len(b.Entries) == 0 {
		return errors.New("postgres: append: empty batch")
	}
	first := b.Entries[0].Seq
	for i := range b.Entries {
		if b.Entries[i].Seq != first+uint64(i) {
			return fmt.Errorf("postgres: append batch at seq %d: entry %d has seq %d", first, i, b.Entries[i].Seq)
		}
	}
	err := pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error { return s.appendTx(ctx, tx, b) })
	if err != nil {
		return fmt.Errorf("postgres: append batch at seq %d: %w", first, err)
	}
	return nil
}

func (s *Store) appendTx(ctx context.Context, tx pgx.Tx, b *store.Batch) error {
	first := b.Entries[0].Seq
	var size int64
	err := tx.QueryRow(ctx, `SELECT size FROM vigil_head WHERE origin = $1 FOR UPDATE`, s.origin).Scan(&size)
	if errors.Is(err, pgx.ErrNoRows) {
		// An empty log. A placeholder head row, replaced below, makes a
		// concurrent first append wait for this one and then see its size.
		// Nobody else ever sees the placeholder: it commits only replaced.
		_, err = tx.Exec(ctx, `INSERT INTO vigil_head (origin, size, root, note) VALUES ($1, 0, '', '')
			ON CONFLICT (origin) DO NOTHING`, s.origin)
		if err != nil {
			return fmt.Errorf("create head: %w", err)
		}
		err = tx.QueryRow(ctx, `SELECT size FROM vigil_head WHERE origin = $1 FOR UPDATE`, s.origin).Scan(&size)
	}
	if err != nil {
		return fmt.Errorf("lock head: %w", err)
	}
	if uint64(size) != first {
		return fmt.Errorf("log size is %d: %w", size, store.ErrConflict)
	}
	var keys [][]any
	for i := range b.Entries {
		if k := b.Entries[i].DedupKey; k != "" {
			keys = append(keys, []any{s.origin, k, int64(b.Entries[i].Seq)})
		}
	}
	if len(keys) > 0 {
		if _, err := tx.CopyFrom(ctx, pgx.Identifier{"vigil_dedup"}, []string{"origin", "key", "seq"}, pgx.CopyFromRows(keys)); err != nil {
			return fmt.Errorf("postgres: append batch at seq %d: record dedup keys: %w", b.Entries[0].Seq, err)
		}
	}
	if err := s.insertEntries(ctx, tx, b.Entries); err != nil {
		return err
	}
	cp := &b.Checkpoint
	if _, err := tx.Exec(ctx, `UPDATE vigil_head SET size = $2, root = $3, note = $4 WHERE origin = $1`,
		s.origin, int64(cp.Size), nonNil(cp.Root), nonNil(cp.Note)); err != nil {
		return fmt.Errorf("write head: %w", err)
	}
	if b.KeepCheckpoint {
		if _, err := tx.Exec(ctx, `INSERT INTO vigil_checkpoints (origin, size, root, note) VALUES ($1, $2, $3, $4)
			ON CONFLICT (origin, size) DO UPDATE SET root = excluded.root, note = excluded.note`,
			s.origin, int64(cp.Size), nonNil(cp.Root), nonNil(cp.Note)); err != nil {
			return fmt.Errorf("keep checkpoint: %w", err)
		}
	}
	return nil
}

// nonNil keeps a nil slice from becoming NULL in a NOT NULL column.
func nonNil(b []byte) []byte {
	if b == nil {
		return []byte{}
	}
	return b
}

var entryColumns = []string{"origin", "seq", "leaf_hash", "nodes", "payload", "id", "time", "time_ns", "source",
	"actor_user", "action", "resource_id", "resource_name", "outcome", "target"}

func (s *Store) insertEntries(ctx context.Context, tx pgx.Tx, es []store.Entry) error {
	_, err := tx.CopyFrom(ctx, pgx.Identifier{"vigil_entries"}, entryColumns,
		pgx.CopyFromSlice(len(es), func(i int) ([]any, error) {
			e := &es[i]
			m := &e.Meta
			t, ns := splitTime(m.Time)
			return []any{s.origin, int64(e.Seq), nonNil(e.LeafHash), e.Nodes, e.Payload, m.ID, t, ns, m.Source,
				m.ActorUser, m.Action, m.ResourceID, m.ResourceName, m.Outcome, m.Target}, nil
		}))
	if err != nil {
		return fmt.Errorf("insert %d entries: %w", len(es), err)
	}
	return nil
}

// Head implements store.Store.
func (s *Store) Head(ctx context.Context) (store.Checkpoint, bool, error) {
	var cp store.Checkpoint
	var size int64
	err := s.pool.QueryRow(ctx, `SELECT size, root, note FROM vigil_head WHERE origin = $1`, s.origin).
		Scan(&size, &cp.Root, &cp.Note)
	if errors.Is(err, pgx.ErrNoRows) {
		return store.Checkpoint{}, false, nil
	}
	if err != nil {
		return store.Checkpoint{}, false, fmt.Errorf("postgres: read head: %w", err)
	}
	cp.Size = uint64(size)
	return cp, true, nil
}

// Size implements store.Store: it counts the rows, so that deleted rows show.
func (s *Store) Size(ctx context.Context) (uint64, error) {
	var n int64
	if err := s.pool.QueryRow(ctx, `SELECT count(*) FROM vigil_entries WHERE origin = $1`, s.origin).Scan(&n); err != nil {
		return 0, fmt.Errorf("postgres: count entries: %w", err)
	}
	return uint64(n), nil
}

// Checkpoints implements store.Store.
func (s *Store) Checkpoints(ctx context.Context, fn func(store.Checkpoint) error) error {
	rows, err := s.pool.Query(ctx, `SELECT size, root, note FROM vigil_checkpoints WHERE origin = $1 ORDER BY size`, s.origin)
	if err != nil {
		return fmt.Errorf("postgres: list checkpoints: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var cp store.Checkpoint
		var size int64
		if err := rows.Scan(&size, &cp.Root, &cp.Note); err != nil {
			return fmt.Errorf("postgres: read checkpoint: %w", err)
		}
		cp.Size = uint64(size)
		if err := fn(cp); err != nil {
			return err
		}
	}
	if err := rows.Err(); err != nil {
		return fmt.Errorf("postgres: list checkpoints: %w", err)
	}
	return nil
}

// entryCols selects an entry; metadata that retention dropped reads as "".
const entryCols = `seq, leaf_hash, nodes, payload, coalesce(id, ''), time, time_ns, coalesce(source, ''),
	coalesce(actor_user, ''), coalesce(action, ''), coalesce(resource_id, ''), coalesce(resource_name, ''),
	coalesce(outcome, ''), coalesce(target, '')`

// entryScan holds the scan targets of one row of entryCols that need
// converting into an Entry.
type entryScan struct {
	seq int64
	t   time.Time
	ns  int16
}

// targets returns the scan targets of a row of entryCols: the byte columns go
// to leaf, nodes and payload, the metadata to m.
func (r *entryScan) targets(leaf, nodes, payload any, m *store.Meta) []any {
	return []any{&r.seq, leaf, nodes, payload, &m.ID, &r.t, &r.ns, &m.Source, &m.ActorUser,
		&m.Action, &m.ResourceID, &m.ResourceName, &m.Outcome, &m.Target}
}

// fill sets the converted fields of e.
func (r *entryScan) fill(e *store.Entry) {
	e.Seq = uint64(r.seq)
	e.Meta.Time = joinTime(r.t, r.ns)
}

// scanWidth is the span of sequence numbers one query of a streaming scan
// reads. Scans go range by range rather than by LIMIT so that
// every query is cheap whatever plan the planner picks: right after a bulk
// load, before autovacuum has analyzed the table, it picks a bitmap scan of
// everything after the cursor plus a sort, which made a LIMIT-paged scan of 1M
// entries quadratic. Short queries also hold no snapshot for the whole scan.
const scanWidth = 10000

// scanRanges calls page for consecutive ranges [lo, hi] of sequence numbers
// starting at from, until no entry at or after a range remains. page reports
// how many rows it saw; after an empty range, the next stored sequence number
// is looked up, so that a gap left by tampering costs one query.
func (s *Store) scanRanges(ctx context.Context, from int64, page func(lo, hi int64) (int, error)) error {
	lo := from
	for {
		hi := lo + (scanWidth - 1)
		if hi < lo { // overflow
			hi = math.MaxInt64
		}
		n, err := page(lo, hi)
		if err != nil {
			return err
		}
		if hi == math.MaxInt64 {
			return nil
		}
		lo = hi + 1
		if n > 0 {
			continue
		}
		var k *int64
		if err := s.pool.QueryRow(ctx, `SELECT min(seq) FROM vigil_entries WHERE origin = $1 AND seq >= $2`,
			s.origin, lo).Scan(&k); err != nil {
			return err
		}
		if k == nil {
			return nil
		}
		lo = *k
	}
}

// ScanEntries implements store.Store. The entry passed to fn points into the
// driver's buffers and is valid only during the call.
func (s *Store) ScanEntries(ctx context.Context, from uint64, fn func(*store.Entry) error) error {
	if from > math.MaxInt64 {
		return nil
	}
	var (
		r                    entryScan
		e                    store.Entry
		leaf, nodes, payload pgtype.DriverBytes
		fnErr                error
	)
	targets := r.targets(&leaf, &nodes, &payload, &e.Meta)
	err := s.scanRanges(ctx, int64(from), func(lo, hi int64) (int, error) {
		rows, err := s.pool.Query(ctx, `SELECT `+entryCols+` FROM vigil_entries
			WHERE origin = $1 AND seq >= $2 AND seq <= $3 ORDER BY seq`, s.origin, lo, hi)
		if err != nil {
			return 0, err
		}
		defer rows.Close()
		n := 0
		for rows.Next() {
			if err := rows.Scan(targets...); err != nil {
				return n, err
			}
			n++
			r.fill(&e)
			e.LeafHash, e.Nodes, e.Payload = leaf, nodes, payload
			if fnErr = fn(&e); fnErr != nil {
				return n, fnErr
			}
		}
		return n, rows.Err()
	})
	switch {
	case fnErr != nil:
		return fnErr
	case err != nil:
		return fmt.Errorf("postgres: scan entries from %d: %w", from, err)
	}
	return nil
}

// Entry implements store.Store.
func (s *Store) Entry(ctx context.Context, seq uint64) (store.Entry, error) {
	rows, err := s.pool.Query(ctx, `SELECT `+entryCols+` FROM vigil_entries WHERE origin = $1 AND seq = $2`,
		s.origin, int64(seq))
	if err != nil {
		return store.Entry{}, fmt.Errorf("postgres: entry %d: %w", seq, err)
	}
	es, err := collectEntries(rows)
	if err != nil {
		return store.Entry{}, fmt.Errorf("postgres: entry %d: %w", seq, err)
	}
	if len(es) == 0 {
		return store.Entry{}, fmt.Errorf("postgres: entry %d: %w", seq, store.ErrNotFound)
	}
	return es[0], nil
}

// collectEntries reads rows of entryCols into entries that own their bytes.
func collectEntries(rows pgx.Rows) ([]store.Entry, error) {
	defer rows.Close()
	var out []store.Entry
	var r entryScan
	for rows.Next() {
		var e store.Entry
		if err := rows.Scan(r.targets(&e.LeafHash, &e.Nodes, &e.Payload, &e.Meta)...); err != nil {
			return nil, err
		}
		r.fill(&e)
		out = append(out, e)
	}
	return out, rows.Err()
}

// TreeHashes implements store.Store.
func (s *Store) TreeHashes(ctx context.Context, seqs []uint64) ([]store.TreeHashes, error) {
	if len(seqs) == 0 {
		return nil, nil
	}
	keys := make([]int64, 0, len(seqs))
	for _, q := range seqs {
		if q <= math.MaxInt64 {
			keys = append(keys, int64(q))
		}
	}
	rows, err := s.pool.Query(ctx, `SELECT seq, leaf_hash, nodes FROM vigil_entries WHERE origin = $1 AND seq = ANY($2)`,
		s.origin, keys)
	if err != nil {
		return nil, fmt.Errorf("postgres: read tree hashes: %w", err)
	}
	defer rows.Close()
	out, err := store.ReadTreeHashes(rows, seqs)
	if err != nil {
		return nil, fmt.Errorf("postgres: %w", err)
	}
	return out, nil
}

// Query implements store.Store.
//
// Field filters match exactly. Text matches anywhere in the stored event (its
// UTF-8 JSON), ignoring the case of ASCII letters only, as the SQLite backend
// does; its other characters match exactly. Since is inclusive and Until
// exclusive. Entries whose payload retention dropped keep only their sequence
// number, leaf hash and time: they match time and cursor filters, and no other.
func (s *Store) Query(ctx context.Context, q store.Query) ([]store.Entry, error) {
	where := []string{"origin = $1"}
	args := []any{s.origin}
	arg := func(v any) string {
		args = append(args, v)
		return "$" + strconv.Itoa(len(args))
	}
	eq := func(col, v string) {
		if v != "" {
			where = append(where, col+" = "+arg(v))
		}
	}
	eq("source", q.Source)
	eq("actor_user", q.Actor)
	eq("action", q.Action)
	eq("outcome", q.Outcome)
	eq("target", q.Target)
	if q.Resource != "" {
		p := arg(q.Resource)
		where = append(where, "(resource_id = "+p+" OR resource_name = "+p+")")
	}
	if q.Text != "" {
		// lower() under the "C" collation folds ASCII letters only, whatever
		// the database's locale, and is fast (translate() was 50 times slower).
		where = append(where, `strpos(lower(convert_from(payload, 'UTF8') COLLATE "C"), `+arg(asciiLower(q.Text))+`) > 0`)
	}
	// A time t is (time, time_ns); the first conjunct of each comparison lets
	// the index on time narrow the scan.
	if !q.Since.IsZero() {
		t, ns := splitTime(q.Since)
		pt, pns := arg(t), arg(ns)
		where = append(where, "time >= "+pt+" AND (time > "+pt+" OR time_ns >= "+pns+")")
	}
	if !q.Until.IsZero() {
		t, ns := splitTime(q.Until)
		pt, pns := arg(t), arg(ns)
		where = append(where, "time <= "+pt+" AND (time < "+pt+" OR time_ns < "+pns+")")
	}
	if q.HasAfter {
		if q.AfterSeq >= math.MaxInt64 {
			return nil, nil // no sequence number is stored after it
		}
		where = append(where, "seq > "+arg(int64(q.AfterSeq)))
	}
	sql := `SELECT ` + entryCols + ` FROM vigil_entries WHERE ` + strings.Join(where, " AND ") +
		` ORDER BY seq LIMIT ` + arg(store.ClampLimit(q.Limit))
	rows, err := s.pool.Query(ctx, sql, args...)
	if err != nil {
		return nil, fmt.Errorf("postgres: query events: %w", err)
	}
	out, err := collectEntries(rows)
	if err != nil {
		return nil, fmt.Errorf("postgres: query events: %w", err)
	}
	return out, nil
}

// asciiLower lowers ASCII letters only, as the Text filter's SQL does.
func asciiLower(s string) string {
	return strings.Map(func(r rune) rune {
		if 'A' <= r && r <= 'Z' {
			return r + ('a' - 'A')
		}
		return r
	}, s)
}

// DropPayloads implements store.Store.
func (s *Store) DropPayloads(ctx context.Context, before time.Time) (int64, error) {
	t, ns := splitTime(before)
	tag, err := s.pool.Exec(ctx, `UPDATE vigil_entries SET payload = NULL, id = NULL, source = NULL,
		actor_user = NULL, action = NULL, resource_id = NULL, resource_name = NULL, outcome = NULL, target = NULL
		WHERE origin = $1 AND time <= $2 AND (time < $2 OR time_ns < $3) AND payload IS NOT NULL`,
		s.origin, t, ns)
	if err != nil {
		return 0, fmt.Errorf("postgres: drop payloads before %s: %w", before.Format(time.RFC3339Nano), err)
	}
	return tag.RowsAffected(), nil
}

// Offset implements store.Store.
func (s *Store) Offset(ctx context.Context, key string) (store.Offset, bool, error) {
	var o store.Offset
	err := s.pool.QueryRow(ctx, `SELECT ident, pos FROM vigil_offsets WHERE origin = $1 AND key = $2`, s.origin, key).Scan(&o.Ident, &o.Pos)
	if errors.Is(err, pgx.ErrNoRows) {
		return o, false, nil
	}
	if err != nil {
		return o, false, fmt.Errorf("postgres: read offset of %s: %w", key, err)
	}
	return o, true, nil
}

// SetOffset implements store.Store.
func (s *Store) SetOffset(ctx context.Context, key string, o store.Offset) error {
	if _, err := s.pool.Exec(ctx, `INSERT INTO vigil_offsets (origin, key, ident, pos) VALUES ($1, $2, $3, $4)
		ON CONFLICT (origin, key) DO UPDATE SET ident = excluded.ident, pos = excluded.pos`, s.origin, key, o.Ident, o.Pos); err != nil {
		return fmt.Errorf("postgres: record offset of %s: %w", key, err)
	}
	return nil
}

// HasKeys implements store.Store.
func (s *Store) HasKeys(ctx context.Context, keys []string) (map[string]bool, error) {
	found := map[string]bool{}
	if len(keys) == 0 {
		return found, nil
	}
	rows, err := s.pool.Query(ctx, `SELECT key FROM vigil_dedup WHERE origin = $1 AND key = ANY($2)`, s.origin, keys)
	if err != nil {
		return nil, fmt.Errorf("postgres: look up dedup keys: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var k string
		if err := rows.Scan(&k); err != nil {
			return nil, fmt.Errorf("postgres: look up dedup keys: %w", err)
		}
		found[k] = true
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("postgres: look up dedup keys: %w", err)
	}
	return found, nil
}

// PutToken implements store.Store.
func (s *Store) PutToken(ctx context.Context, t store.Token) error {
	at, ns := splitTime(t.CreatedAt)
	var scram *string
	if t.SCRAM != "" {
		scram = &t.SCRAM
	}
	_, err := s.pool.Exec(ctx, `INSERT INTO vigil_tokens (hash, user_name, role, created_at, created_ns, scram)
		VALUES ($1, $2, $3, $4, $5, $6)`, nonNil(t.Hash), t.User, t.Role, at, ns, scram)
	var pe *pgconn.PgError
	if errors.As(err, &pe) && pe.Code == "23505" { // unique_violation
		return fmt.Errorf("postgres: put token for %s: a token with this hash exists", t.User)
	}
	if err != nil {
		return fmt.Errorf("postgres: put token for %s: %w", t.User, err)
	}
	return nil
}

// TokenByHash implements store.Store.
func (s *Store) TokenByHash(ctx context.Context, hash []byte) (store.Token, error) {
	t := store.Token{Hash: hash}
	var at time.Time
	var ns int16
	var scram *string
	err := s.pool.QueryRow(ctx, `SELECT user_name, role, created_at, created_ns, scram FROM vigil_tokens WHERE hash = $1`,
		nonNil(hash)).Scan(&t.User, &t.Role, &at, &ns, &scram)
	if errors.Is(err, pgx.ErrNoRows) {
		return store.Token{}, fmt.Errorf("postgres: token: %w", store.ErrNotFound)
	}
	if err != nil {
		return store.Token{}, fmt.Errorf("postgres: token: %w", err)
	}
	t.CreatedAt = joinTime(at, ns)
	if scram != nil {
		t.SCRAM = *scram
	}
	return t, nil
}

// TokensByUser implements store.Store.
func (s *Store) TokensByUser(ctx context.Context, user string) ([]store.Token, error) {
	rows, err := s.pool.Query(ctx, `SELECT hash, role, created_at, created_ns, scram FROM vigil_tokens
		WHERE user_name = $1 ORDER BY created_at, created_ns, hash`, user)
	if err != nil {
		return nil, fmt.Errorf("postgres: tokens of %s: %w", user, err)
	}
	defer rows.Close()
	var out []store.Token
	for rows.Next() {
		t := store.Token{User: user}
		var at time.Time
		var ns int16
		var scram *string
		if err := rows.Scan(&t.Hash, &t.Role, &at, &ns, &scram); err != nil {
			return nil, fmt.Errorf("postgres: tokens of %s: %w", user, err)
		}
		t.CreatedAt = joinTime(at, ns)
		if scram != nil {
			t.SCRAM = *scram
		}
		out = append(out, t)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("postgres: tokens of %s: %w", user, err)
	}
	return out, nil
}

// CountTokens implements store.Store.
func (s *Store) CountTokens(ctx context.Context, role string) (int, error) {
	var n int
	err := s.pool.QueryRow(ctx, `SELECT count(*) FROM vigil_tokens WHERE $1 = '' OR role = $1`, role).Scan(&n)
	if err != nil {
		return 0, fmt.Errorf("postgres: count tokens: %w", err)
	}
	return n, nil
}
