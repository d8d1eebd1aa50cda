// Package ingesttest holds what the ingest parsers' tests share: finding the
// shared corpora next to the repository, golden files, and a compact view of
// events for comparing them.
package ingesttest

import (
	"bytes"
	"encoding/json"
	"flag"
	"github.com/vigil-audit/vigil/internal/corpora"
	"os"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"github.com/vigil-audit/vigil/internal/event"
	"github.com/vigil-audit/vigil/internal/ingest"
)

var update = flag.Bool("update", false, "rewrite the golden files")

// Corpus returns the directory shared/corpora/sub, found by walking up from the
// working directory (the repository is a sibling of shared/). When it is
// absent the test is skipped, except under CI=true, where it fails.
func Corpus(t testing.TB, sub string) string {
	t.Helper()
	return corpora.Dir(t, sub)
}

// Now is the fixed time tests give parsers, so that records without a time
// get a stable one.
func Now() time.Time { return time.Date(2030, 1, 2, 3, 4, 5, 0, time.UTC) }

// View is an event without its random ID and its raw record: what golden files
// hold.
type View struct {
	Pos      string         `json:"pos"`
	Time     time.Time      `json:"time"`
	Source   string         `json:"source"`
	ClassUID int            `json:"class_uid"`
	Activity string         `json:"activity"`
	Actor    event.Actor    `json:"actor"`
	Action   string         `json:"action"`
	Resource event.Resource `json:"resource"`
	Target   string         `json:"target,omitempty"`
	Outcome  string         `json:"outcome"`
	Attrs    map[string]any `json:"attrs,omitempty"`
	RawBytes int            `json:"raw_bytes"`
}

// ViewOf returns the view of ev. String attributes are cut at 80 bytes, so
// that golden files hold the mapping, not copies of the corpora.
func ViewOf(pos string, ev event.Event) View {
	attrs := make(map[string]any, len(ev.Attrs))
	for k, v := range ev.Attrs {
		if s, ok := v.(string); ok && len(s) > 80 {
			v = s[:80] + "…"
		}
		attrs[k] = v
	}
	ev.Attrs = attrs
	return View{Pos: pos, Time: ev.Time, Source: ev.Source, ClassUID: ev.ClassUID,
		Activity: ev.Activity, Actor: ev.Actor, Action: ev.Action, Resource: ev.Resource,
		Target: ev.Target, Outcome: ev.Outcome, Attrs: ev.Attrs, RawBytes: len(ev.Raw)}
}

// Golden compares views, one JSON line each, with the file path, or rewrites
// the file under -update.
func Golden(t testing.TB, path string, views []View) {
	t.Helper()
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	for _, v := range views {
		if err := enc.Encode(v); err != nil {
			t.Fatal(err)
		}
	}
	if *update {
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, b.Bytes(), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run go test -update to create it)", err)
	}
	if bytes.Equal(want, b.Bytes()) {
		return
	}
	wl, gl := bytes.Split(want, []byte("\n")), bytes.Split(b.Bytes(), []byte("\n"))
	for i := range max(len(wl), len(gl)) {
		var w, g []byte
		if i < len(wl) {
			w = wl[i]
		}
		if i < len(gl) {
			g = gl[i]
		}
		if !bytes.Equal(w, g) {
			t.Fatalf("%s differs at line %d (run go test -update after checking):\nwant %s\ngot  %s", path, i+1, w, g)
		}
	}
}

// CPUTime returns the user and system CPU time the process has used so far.
// Benchmarks report throughput per CPU second with it, which stays meaningful
// on a machine that other work keeps busy (wall-clock MB/s does not).
func CPUTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// Labelled turns a labelled corpus file (one {"rule_id", ..., "log": {...}} per
// line, as in the Panther-derived corpora) into JSON lines of the logs alone,
// line for line, so that positions still name the corpus line.
func Labelled(t testing.TB, path string) []byte {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var out bytes.Buffer
	for i, line := range bytes.Split(bytes.TrimRight(data, "\n"), []byte("\n")) {
		var rec struct {
			Log json.RawMessage `json:"log"`
		}
		if err := json.Unmarshal(line, &rec); err != nil || len(rec.Log) == 0 {
			t.Fatalf("%s:%d: not a labelled record: %v", path, i+1, err)
		}
		out.Write(rec.Log)
		out.WriteByte('\n')
	}
	return out.Bytes()
}

// CorpusResult is what parsing one corpus file gave.
type CorpusResult struct {
	Name   string
	Stats  ingest.Stats
	Events []event.Event
	Pos    []string // position of each event: name:LINE or name#INDEX
}

// ParseAll parses data as the file name with p, checking that every emitted
// event passes Normalize again and encodes.
func ParseAll(t testing.TB, p ingest.Parser, name string, data []byte) CorpusResult {
	t.Helper()
	res := CorpusResult{Name: name}
	st, err := p.Parse(bytes.NewReader(data), name, func(ev event.Event) error {
		if err := ev.Normalize(time.Now()); err != nil {
			t.Errorf("%s: event %d fails Normalize: %v", name, len(res.Events), err)
		}
		if _, err := event.EncodeBody(&ev); err != nil {
			t.Errorf("%s: event %d: EncodeBody: %v", name, len(res.Events), err)
		}
		if !json.Valid(ev.Raw) || ev.Raw[0] != '{' {
			t.Errorf("%s: event %d: raw is not a JSON object", name, len(res.Events))
		}
		res.Events = append(res.Events, ev)
		return nil
	})
	if err != nil {
		t.Fatalf("%s: %v", name, err)
	}
	res.Stats = st
	return res
}
