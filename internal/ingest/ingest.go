// Package ingest turns external audit logs (CloudTrail, Kubernetes audit, GitHub
// audit log, ...) into Vigil events, keeping every original record verbatim in
// the event's Raw field.
//
// Each source is a subpackage with a Parser. Parsers read a stream that may hold
// JSON lines, concatenated JSON values, JSON arrays of records, or containers the
// source defines (CloudTrail's {"Records":[...]}, Kubernetes' EventList). A
// malformed record is counted and reported with its position and the reason, and
// never stops the stream: only a read error or an error returned by emit does.
// Every event a parser emits has passed event.Normalize.
package ingest

import (
	"bufio"
	"bytes"
	"compress/gzip"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/vigil-audit/vigil/internal/event"
)

// Parser reads one source's records from r and calls emit once for every event.
// name identifies the input in positions ("cloudtrail/x.json.gz", "-"). Parse
// returns early only when reading fails or emit returns an error; bad records
// are counted in Stats instead.
type Parser interface {
	Source() string
	Parse(r io.Reader, name string, emit func(event.Event) error) (Stats, error)
}

// Stats counts what one or more inputs held.
type Stats struct {
	Accepted int      // records turned into events and emitted
	Rejected int      // malformed records: each is listed in Rejects
	Skipped  int      // well-formed records deliberately not turned into events
	Rejects  []Reject // at most MaxRejects; Rejected keeps counting beyond
}

// MaxRejects bounds Stats.Rejects, so that a file of garbage does not hold its
// whole content in memory a second time.
const MaxRejects = 1000

// Reject is one malformed record.
type Reject struct {
	// Position is "name:LINE" for a record standing alone in the stream (JSON
	// lines, a single object), and "name#INDEX" for the INDEX-th (0-based) element
	// of an array or container, counted across the whole stream.
	Position string
	Line     int   // 1-based line where the record starts
	Offset   int64 // byte offset where the record starts (after decompression)
	Reason   string
}

func (r Reject) String() string { return r.Position + ": " + r.Reason }

// Add adds the counts of o to s.
func (s *Stats) Add(o Stats) {
	s.Accepted += o.Accepted
	s.Rejected += o.Rejected
	s.Skipped += o.Skipped
	room := MaxRejects - len(s.Rejects)
	s.Rejects = append(s.Rejects, o.Rejects[:min(room, len(o.Rejects))]...)
}

func (s *Stats) reject(r Reject) {
	s.Rejected++
	if len(s.Rejects) < MaxRejects {
		s.Rejects = append(s.Rejects, r)
	}
}

// SkipError is returned by a Format's Convert for a record that is well formed
// but not for this source (a CloudTrail digest file, a GCP entry of another
// service), or excluded by configuration. It is counted as skipped.
type SkipError struct{ Reason string }

func (e *SkipError) Error() string { return "skipped: " + e.Reason }

// Skip returns a *SkipError.
func Skip(format string, args ...any) error {
	return &SkipError{Reason: fmt.Sprintf(format, args...)}
}

// Format is what a source's parser plugs into Run.
type Format struct {
	// Container returns the array of records an object holds when the object is
	// a container rather than a record ({"Records":[...]}, an EventList), and nil
	// otherwise. It may be nil.
	Container func(obj []byte) []byte
	// Convert maps one record to an event. It need not set Raw (Run sets it to a
	// copy of raw), ID, or a missing Time (Normalize fills it).
	Convert func(raw []byte) (event.Event, error)
	// Now is the time given to Normalize; nil means time.Now.
	Now func() time.Time
}

// Run reads the stream r and converts every record with f, normalizes the
// event, and emits it.
func Run(r io.Reader, name string, f Format, emit func(event.Event) error) (Stats, error) {
	var st Stats
	now := time.Now
	if f.Now != nil {
		now = f.Now
	}
	sp := newSplitter(r)
	index := 0
	record := func(raw []byte, pos string, line int, off int64) error {
		var ev event.Event
		var err error
		if raw[0] != '{' {
			err = errors.New("record is not a JSON object")
		} else {
			ev, err = f.Convert(raw)
			var skip *SkipError
			if err != nil && !errors.As(err, &skip) && !json.Valid(raw) {
				err = Decode(raw, new(struct{})) // the syntax error says more
			}
		}
		if err == nil {
			if len(ev.Raw) == 0 {
				ev.Raw = bytes.Clone(raw)
			}
			err = ev.Normalize(now())
			var fe *event.FieldError
			if errors.As(err, &fe) && fe.Field == "raw" {
				// Say where: parsers that do not decode with encoding/json
				// leave validation to Normalize.
				if derr := Decode(raw, new(struct{})); derr != nil {
					err = derr
				}
			}
		}
		if err == nil && len(ev.Raw) > event.MaxEncodedSize-64<<10 {
			err = fmt.Errorf("record is %d bytes; at most %d are stored", len(ev.Raw), event.MaxEncodedSize-64<<10)
		}
		var skip *SkipError
		switch {
		case errors.As(err, &skip):
			st.Skipped++
			return nil
		case err != nil:
			st.reject(Reject{Position: pos, Line: line, Offset: off, Reason: err.Error()})
			return nil
		}
		if err := emit(ev); err != nil {
			return err
		}
		st.Accepted++
		return nil
	}
	for {
		tok, err := sp.next()
		if err == io.EOF {
			return st, nil
		}
		if err != nil {
			return st, fmt.Errorf("read %s: %w", name, err)
		}
		pos := fmt.Sprintf("%s:%d", name, tok.line)
		if tok.element {
			pos = fmt.Sprintf("%s#%d", name, index)
			index++
		}
		if tok.bad != "" {
			st.reject(Reject{Position: pos, Line: tok.line, Offset: tok.off, Reason: tok.bad})
			continue
		}
		if !tok.element && f.Container != nil && len(tok.data) > 0 && tok.data[0] == '{' {
			if arr := f.Container(tok.data); arr != nil {
				// Lines are counted from the previous element on, not from the
				// container's start: a delivered file is one large container.
				lastRel, line := 0, tok.line
				err := elements(arr, func(el []byte, rel int, bad string) error {
					pos := fmt.Sprintf("%s#%d", name, index)
					index++
					if rel >= lastRel {
						line += bytes.Count(tok.data[lastRel:rel], []byte{'\n'})
						lastRel = rel
					}
					off := tok.off + int64(rel)
					if bad != "" {
						st.reject(Reject{Position: pos, Line: line, Offset: off, Reason: bad})
						return nil
					}
					return record(el, pos, line, off)
				}, tok.data)
				if err != nil {
					return st, err
				}
				continue
			}
		}
		if err := record(tok.data, pos, tok.line, tok.off); err != nil {
			return st, err
		}
	}
}

// Open opens a file for reading, "-" meaning standard input. Gzip-compressed
// content (recognised by its magic number, whatever the name) is decompressed.
func Open(path string) (io.ReadCloser, error) {
	var f io.ReadCloser
	if path == "-" {
		f = io.NopCloser(os.Stdin)
	} else {
		var err error
		if f, err = os.Open(path); err != nil {
			return nil, fmt.Errorf("open input: %w", err)
		}
	}
	r, err := Decompress(f)
	if err != nil {
		f.Close()
		return nil, fmt.Errorf("open input %s: %w", path, err)
	}
	if zr, ok := r.(*gzip.Reader); ok {
		return &gzipFile{zr: zr, f: f}, nil
	}
	return struct {
		io.Reader
		io.Closer
	}{r, f}, nil
}

// Decompress returns r, decompressed if its content is gzip (recognised by its
// magic number).
func Decompress(r io.Reader) (io.Reader, error) {
	br := bufio.NewReaderSize(r, 64<<10)
	magic, _ := br.Peek(2)
	if len(magic) == 2 && magic[0] == 0x1f && magic[1] == 0x8b {
		zr, err := gzip.NewReader(br)
		if err != nil {
			return nil, fmt.Errorf("gzip: %w", err)
		}
		return zr, nil
	}
	return br, nil
}

type gzipFile struct {
	zr *gzip.Reader
	f  io.Closer
}

func (g *gzipFile) Read(p []byte) (int, error) { return g.zr.Read(p) }

func (g *gzipFile) Close() error {
	err := g.zr.Close()
	if cerr := g.f.Close(); err == nil {
		err = cerr
	}
	return err
}

// Files expands paths into the files they name: a directory stands for every
// regular log file below it (in lexical order): names ending in .json, .jsonl,
// .ndjson, .log or .gz, not starting with "." — so that a LICENSE or README
// beside the logs is not read as records. A file named explicitly is always
// read; "-" is standard input.
func Files(paths ...string) ([]string, error) {
	var out []string
	for _, p := range paths {
		if p == "-" {
			out = append(out, p)
			continue
		}
		fi, err := os.Stat(p)
		if err != nil {
			return nil, fmt.Errorf("input: %w", err)
		}
		if !fi.IsDir() {
			out = append(out, p)
			continue
		}
		var found []string
		err = filepath.WalkDir(p, func(path string, d fs.DirEntry, err error) error {
			if err != nil {
				return err
			}
			if path != p && strings.HasPrefix(d.Name(), ".") {
				if d.IsDir() {
					return filepath.SkipDir
				}
				return nil
			}
			if d.Type().IsRegular() && isLogFile(d.Name()) {
				found = append(found, path)
			}
			return nil
		})
		if err != nil {
			return nil, fmt.Errorf("walk %s: %w", p, err)
		}
		slices.Sort(found)
		out = append(out, found...)
	}
	return out, nil
}

// logExts are the endings of the files a directory walk reads.
var logExts = []string{".json", ".jsonl", ".ndjson", ".log", ".gz"}

func isLogFile(name string) bool {
	for _, ext := range logExts {
		if strings.HasSuffix(strings.ToLower(name), ext) {
			return true
		}
	}
	return false
}

// ParsePaths parses every file that paths name (see Files) with p, in order,
// and returns the sum of their stats. It stops at the first file that cannot be
// read or at the first error from emit.
func ParsePaths(p Parser, paths []string, emit func(event.Event) error) (Stats, error) {
	var total Stats
	files, err := Files(paths...)
	if err != nil {
		return total, err
	}
	for _, path := range files {
		rc, err := Open(path)
		if err != nil {
			return total, err
		}
		st, err := p.Parse(rc, path, emit)
		rc.Close()
		total.Add(st)
		if err != nil {
			return total, err
		}
	}
	return total, nil
}

// DedupKey returns the key that identifies ev's original record across
// deliveries, "" when its source gives none: CloudTrail's eventID, the
// Kubernetes auditID with its stage (one request is logged once per stage),
// GitHub's _document_id, PostgreSQL's session id and session line number (the
// same in csvlog and jsonlog, so a record read from both is stored once),
// auditd's event timestamp and serial (with the node name when the records carry
// one: serials are per host), and the id a jsonl mapping names. A record
// ingested twice has the same key.
func DedupKey(ev *event.Event) string {
	str := func(k string) string {
		s, _ := ev.Attrs[k].(string)
		return s
	}
	switch {
	case str("aws.event_id") != "":
		return ev.Source + ":" + str("aws.event_id")
	case str("k8s.audit_id") != "":
		return ev.Source + ":" + str("k8s.audit_id") + "/" + str("k8s.stage")
	case str("github.document_id") != "":
		return ev.Source + ":" + str("github.document_id")
	case str("postgres.session_id") != "" && str("postgres.session_line_num") != "":
		return ev.Source + ":" + str("postgres.session_id") + "/" + str("postgres.session_line_num")
	case str("auditd.event_id") != "":
		if node := str("auditd.node"); node != "" {
			return ev.Source + ":" + node + ":" + str("auditd.event_id")
		}
		return ev.Source + ":" + str("auditd.event_id")
	case str("jsonl.id") != "":
		return ev.Source + ":" + str("jsonl.id")
	}
	return ""
}

// DeadLetterSource is the source of the events that record rejected records.
const DeadLetterSource = "vigil/ingest"

// DeadLetters returns one event per rejected record of st, for the audit log:
// the source, the record's position and the reason, so that nothing malformed
// disappears silently. (Stats keeps at most MaxRejects; the last event counts
// the rest.)
func DeadLetters(source string, st Stats) []event.Event {
	out := make([]event.Event, 0, len(st.Rejects))
	for _, r := range st.Rejects {
		out = append(out, event.Event{
			Source: DeadLetterSource, ClassUID: event.ClassAPIActivity, Activity: "other",
			Actor:    event.Actor{User: "vigil", Type: "system"},
			Action:   "ingest.reject",
			Resource: event.Resource{Type: "ingest_source", Name: source},
			Outcome:  event.OutcomeFailure,
			Attrs: map[string]any{"ingest.source": source, "ingest.position": r.Position, "ingest.line": r.Line,
				"ingest.offset": r.Offset, "ingest.reason": r.Reason},
		})
	}
	if n := st.Rejected - len(st.Rejects); n > 0 && len(out) > 0 {
		out[len(out)-1].Attrs["ingest.more_rejected"] = n
	}
	return out
}
