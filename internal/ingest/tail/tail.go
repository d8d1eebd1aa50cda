// Package tail follows files and directories of external audit logs and
// appends their new records to the audit log as they are written.
//
// A file's read offset is kept in the store under the source and the file's
// path, with the file's identity (device and inode): a file replaced by
// rotation, or truncated, is read again from its start. Records are appended
// with their source's dedup key (Log.AppendUnique) before the offset is
// recorded, so a crash between the two re-reads records that the log then
// recognises: a restart neither loses nor repeats a record. Plain files are
// read up to their last complete line; a last line without a newline is read
// once the file has stopped growing for one interval. Gzip files are read
// whole, once.
package tail

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"syscall"
	"time"

	"github.com/vigil-audit/vigil/internal/auditlog"
	"github.com/vigil-audit/vigil/internal/event"
	"github.com/vigil-audit/vigil/internal/ingest"
	"github.com/vigil-audit/vigil/internal/store"
)

// Log keys.
const (
	keyPath     = "path"
	keySource   = "source"
	keyAppended = "appended"
	keyRejected = "rejected"
	keyErr      = "err"
)

// maxChunk bounds what one read of a file takes in.
const maxChunk = 16 << 20

// Tailer follows one configured path.
type Tailer struct {
	Parser   ingest.Parser
	Path     string
	Interval time.Duration
	Log      *auditlog.Log
	Logger   *slog.Logger
	// Whole makes plain files whole documents (CloudTrail delivers one JSON
	// document per file): a file is read once it has stopped growing for one
	// interval, from its start; records read before are recognised by their
	// dedup keys.
	Whole bool

	// last sizes seen per file, for a final line without a newline.
	last map[string]int64
}

// Run polls until ctx ends.
func (t *Tailer) Run(ctx context.Context) {
	iv := t.Interval
	if iv <= 0 {
		iv = 2 * time.Second
	}
	tick := time.NewTicker(iv)
	defer tick.Stop()
	for {
		if _, err := t.Poll(ctx); err != nil && ctx.Err() == nil {
			t.logger().Error("tail", keySource, t.Parser.Source(), keyPath, t.Path, keyErr, err)
		}
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
	}
}

func (t *Tailer) logger() *slog.Logger {
	if t.Logger == nil {
		return slog.New(slog.DiscardHandler)
	}
	return t.Logger
}

// Poll reads what is new in every file under the path once.
func (t *Tailer) Poll(ctx context.Context) (ingest.Stats, error) {
	var total ingest.Stats
	if _, err := os.Stat(t.Path); errors.Is(err, os.ErrNotExist) {
		return total, nil // not there yet
	}
	files, err := ingest.Files(t.Path)
	if err != nil {
		return total, err
	}
	if t.last == nil {
		t.last = map[string]int64{}
	}
	for _, f := range files {
		st, err := t.pollFile(ctx, f)
		total.Add(st)
		if err != nil {
			return total, fmt.Errorf("tail %s: %w", f, err)
		}
	}
	return total, nil
}

func (t *Tailer) pollFile(ctx context.Context, path string) (ingest.Stats, error) {
	var stats ingest.Stats
	abs, err := filepath.Abs(path)
	if err != nil {
		return stats, err
	}
	key := t.Parser.Source() + ":" + abs
	f, err := os.Open(path)
	if err != nil {
		return stats, err
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return stats, err
	}
	ident := fileIdent(fi)
	st := t.Log.Store()
	off, ok, err := st.Offset(ctx, key)
	if err != nil {
		return stats, err
	}
	pos := off.Pos
	if !ok || off.Ident != ident || fi.Size() < pos {
		pos = 0 // new, replaced or truncated
	}
	size := fi.Size()
	if size == pos {
		return stats, nil
	}
	var head [2]byte
	n, _ := f.ReadAt(head[:], 0)
	gz := n == 2 && head[0] == 0x1f && head[1] == 0x8b
	var chunk io.Reader
	end := size
	grown := t.last[key] != size
	t.last[key] = size
	if t.Whole && !gz {
		if grown {
			return stats, nil // still being written
		}
		gz, pos = true, 0 // read it whole, as below
	}
	if gz {
		if pos > 0 {
			return stats, nil // read whole already
		}
		if _, err := f.Seek(0, io.SeekStart); err != nil {
			return stats, err
		}
		if chunk, err = ingest.Decompress(f); err != nil {
			return stats, err
		}
	} else {
		end = min(size, pos+maxChunk)
		buf := make([]byte, end-pos)
		if _, err := f.ReadAt(buf, pos); err != nil && !errors.Is(err, io.EOF) {
			return stats, err
		}
		cut := bytes.LastIndexByte(buf, '\n') + 1
		if cut == 0 && (grown || end < size) {
			return stats, nil // an unfinished line: wait for it
		}
		if cut > 0 && (grown || cut == len(buf) || end < size) {
			buf = buf[:cut]
		}
		end = pos + int64(len(buf))
		chunk = bytes.NewReader(buf)
	}
	var evs []event.Event
	stats, err = t.Parser.Parse(chunk, fmt.Sprintf("%s@%d", path, pos), func(e event.Event) error {
		evs = append(evs, e)
		return nil
	})
	if err != nil {
		return stats, err
	}
	appended := 0
	for start := 0; start < len(evs); start += 1000 {
		batch := evs[start:min(start+1000, len(evs))]
		keys := make([]string, len(batch))
		for i := range batch {
			keys[i] = ingest.DedupKey(&batch[i])
		}
		_, got, err := t.Log.AppendUnique(ctx, batch, keys)
		if err != nil {
			return stats, err // offset not advanced: read again next time
		}
		appended += len(got)
	}
	for _, r := range stats.Rejects {
		t.logger().Warn("tail rejected a record", keySource, t.Parser.Source(), keyPath, r.Position, "reason", r.Reason)
	}
	if stats.Rejected > 0 {
		if _, err := t.Log.Append(ctx, ingest.DeadLetters(t.Parser.Source(), stats)); err != nil {
			return stats, err
		}
	}
	if appended > 0 || stats.Rejected > 0 {
		t.logger().Info("tail read", keySource, t.Parser.Source(), keyPath, path, keyAppended, appended, keyRejected, stats.Rejected)
	}
	if err := st.SetOffset(ctx, key, store.Offset{Ident: ident, Pos: end}); err != nil {
		return stats, err
	}
	return stats, nil
}

// fileIdent names the file itself: device and inode where the system has them.
func fileIdent(fi os.FileInfo) string {
	if s, ok := fi.Sys().(*syscall.Stat_t); ok {
		return fmt.Sprintf("%d:%d", s.Dev, s.Ino)
	}
	return fi.ModTime().String()
}
