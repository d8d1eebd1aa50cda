package ingest

import (
	"bytes"
	"compress/gzip"
	stdjson "encoding/json"
	"errors"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/vigil-audit/vigil/internal/event"
)

// testParser maps {"who":..., "what":...} records.
type testParser struct{}

func (testParser) Source() string { return "test" }

func (testParser) Parse(r io.Reader, name string, emit func(event.Event) error) (Stats, error) {
	return Run(r, name, Format{Container: func(obj []byte) []byte {
		if rs := Member(obj, "Records"); len(rs) > 0 && rs[0] == '[' {
			return rs
		}
		return nil
	}, Convert: func(raw []byte) (event.Event, error) {
		var rec struct{ Who, What string }
		if err := Decode(raw, &rec); err != nil {
			return event.Event{}, err
		}
		if rec.What == "skip" {
			return event.Event{}, Skip("told to")
		}
		if rec.What == "" {
			return event.Event{}, errors.New("no what")
		}
		return event.Event{Source: "test", Activity: "other", Actor: event.Actor{User: rec.Who}, Action: rec.What, Outcome: "success"}, nil
	}}, emit)
}

func parse(t *testing.T, input string) (Stats, []event.Event) {
	t.Helper()
	var evs []event.Event
	st, err := testParser{}.Parse(strings.NewReader(input), "in", func(ev event.Event) error {
		evs = append(evs, ev)
		return nil
	})
	if err != nil {
		t.Fatalf("Parse: %v", err)
	}
	if st.Accepted != len(evs) {
		t.Fatalf("accepted %d, emitted %d", st.Accepted, len(evs))
	}
	return st, evs
}

func checkRejects(t *testing.T, st Stats, want map[string]string) {
	t.Helper()
	if st.Rejected != len(want) || len(st.Rejects) != len(want) {
		t.Errorf("rejected %d (%v), want %d", st.Rejected, st.Rejects, len(want))
	}
	for _, r := range st.Rejects {
		w, ok := want[r.Position]
		if !ok || !strings.Contains(r.Reason, w) {
			t.Errorf("reject %s: want reason containing %q", r, w)
		}
	}
}

func TestMalformedLines(t *testing.T) {
	input := `{"who":"a","what":"one"}
{"who":"b","what":
{"who":"c","what":"two"}
not json at all
{"who":"d","what":"three",}
{"who":"e"}
["x"]
{"who":"f","what":"skip"}
{"who":"g","what":"unterminated
{"who":"h","what":42}
{"who":"i","what":"four"}
`
	st, evs := parse(t, input)
	var got []string
	for _, ev := range evs {
		got = append(got, ev.Action)
		if !isRecord(ev.Raw) {
			t.Errorf("raw %q is not the record", ev.Raw)
		}
	}
	if strings.Join(got, ",") != "one,two,four" {
		t.Errorf("events %v, want one,two,four", got)
	}
	if st.Skipped != 1 {
		t.Errorf("skipped %d, want 1", st.Skipped)
	}
	checkRejects(t, st, map[string]string{
		"in:2":  "line ends before the JSON value does",
		"in:4":  "not a JSON object",
		"in:5":  "invalid JSON",
		"in:6":  "no what",
		"in#0":  "not a JSON object", // ["x"]: an array of one non-object record
		"in:9":  "inside a JSON string",
		"in:10": "field What",
	})
	for _, r := range st.Rejects {
		if r.Position == "in:5" && (r.Line != 5 || r.Offset != int64(strings.Index(input, `{"who":"d"`))) {
			t.Errorf("reject %s: line %d offset %d", r.Position, r.Line, r.Offset)
		}
	}
}

func isRecord(b []byte) bool {
	return bytes.HasPrefix(b, []byte(`{"who"`)) && bytes.HasSuffix(b, []byte("}"))
}

func TestArraysAndContainers(t *testing.T) {
	input := `[
  {"who": "a", "what": "one"},
  {"who": "b"},
  7,
  {"who": "c", "what": "two"}
]
{"Records": [{"who": "d", "what": "three"}, {"what": ""}]}
{"who": "e",
 "what": "pretty"}
`
	st, evs := parse(t, input)
	if len(evs) != 4 || evs[3].Action != "pretty" || evs[2].Action != "three" {
		t.Fatalf("events %+v", evs)
	}
	if string(evs[0].Raw) != `{"who": "a", "what": "one"}` {
		t.Errorf("raw not verbatim: %s", evs[0].Raw)
	}
	checkRejects(t, st, map[string]string{"in#1": "no what", "in#2": "not a JSON object", "in#5": "no what"})
	for _, r := range st.Rejects {
		if r.Position == "in#1" && r.Line != 3 {
			t.Errorf("in#1 on line %d, want 3", r.Line)
		}
		if r.Position == "in#5" && r.Line != 7 {
			t.Errorf("in#5 on line %d, want 7", r.Line)
		}
	}
	// A broken array: what follows is still read.
	st, evs = parse(t, `[{"who":"a","what":"one"} {"who":"b","what":"two"}]`+"\n"+`{"who":"c","what":"three"}`)
	if len(evs) < 2 || evs[len(evs)-1].Action != "three" || st.Rejected == 0 {
		t.Errorf("broken array: %d events, %v", len(evs), st.Rejects)
	}
	// Input ending inside a record.
	st, evs = parse(t, `{"who":"a","what":"one"}`+"\n"+`{"who":"b","what":"tw`)
	if len(evs) != 1 || st.Rejected != 1 {
		t.Errorf("truncated input: %d events, %v", len(evs), st.Rejects)
	}
}

func TestEmitErrorStops(t *testing.T) {
	boom := errors.New("log unavailable")
	n := 0
	_, err := testParser{}.Parse(strings.NewReader("{\"who\":\"a\",\"what\":\"x\"}\n{\"who\":\"a\",\"what\":\"y\"}\n"), "in",
		func(event.Event) error { n++; return boom })
	if !errors.Is(err, boom) || n != 1 {
		t.Errorf("err %v after %d emits, want %v after 1", err, n, boom)
	}
}

func TestLargeValueAcrossReads(t *testing.T) {
	big := strings.Repeat("x", 300<<10)
	input := `{"who":"a","what":"one","pad":"` + big + `"}` + "\n" + `{"who":"b","what":"two"}`
	st, evs := parse(t, input)
	if len(evs) != 2 || st.Rejected != 0 {
		t.Fatalf("%d events, %v", len(evs), st.Rejects)
	}
}

func TestOpenGzipAndFiles(t *testing.T) {
	dir := t.TempDir()
	plain := "{\"who\":\"a\",\"what\":\"one\"}\n"
	var zbuf bytes.Buffer
	zw := gzip.NewWriter(&zbuf)
	zw.Write([]byte(`{"Records":[{"who":"b","what":"two"},{"who":"c","what":"three"}]}`))
	zw.Close()
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	must(os.MkdirAll(filepath.Join(dir, "sub", ".hidden"), 0o755))
	must(os.WriteFile(filepath.Join(dir, "a.json"), []byte(plain), 0o644))
	must(os.WriteFile(filepath.Join(dir, "sub", "b.json.gz"), zbuf.Bytes(), 0o644))
	must(os.WriteFile(filepath.Join(dir, "sub", "noext"), zbuf.Bytes(), 0o644)) // gzip found by content
	must(os.WriteFile(filepath.Join(dir, "LICENSE"), []byte("Apache License\n"), 0o644))
	must(os.WriteFile(filepath.Join(dir, "sub", ".hidden", "c.json"), []byte(plain), 0o644))
	must(os.WriteFile(filepath.Join(dir, ".d.json"), []byte(plain), 0o644))

	files, err := Files(dir)
	must(err)
	if len(files) != 2 {
		t.Fatalf("files %v, want a.json and sub/b.json.gz (a walk skips files not named like logs)", files)
	}
	var actions []string
	st, err := ParsePaths(testParser{}, []string{dir, filepath.Join(dir, "sub", "noext")}, func(ev event.Event) error {
		actions = append(actions, ev.Action)
		return nil
	})
	must(err)
	// The explicitly named file is read whatever its name; gzip is found by content.
	if st.Accepted != 5 || strings.Join(actions, ",") != "one,two,three,two,three" {
		t.Errorf("accepted %d: %v", st.Accepted, actions)
	}
	if _, err := Open(filepath.Join(dir, "missing")); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("Open(missing) = %v, want ErrNotExist", err)
	}
	must(os.WriteFile(filepath.Join(dir, "bad.gz"), []byte{0x1f, 0x8b, 1, 2, 3}, 0o644))
	if rc, err := Open(filepath.Join(dir, "bad.gz")); err == nil {
		rc.Close()
		t.Error("Open(corrupt gzip) succeeded")
	}
}

func TestParseTime(t *testing.T) {
	for in, want := range map[string]string{
		"2024-08-01T13:33:28Z":          "2024-08-01T13:33:28Z",
		"2018-10-26T13:42:46.764713Z":   "2018-10-26T13:42:46.764713Z",
		"2022-11-29 00:09:04.38":        "2022-11-29T00:09:04.38Z",
		"2024-12-17 00:00:00000000":     "2024-12-17T00:00:00Z",
		"2020-01-01T01:00:00+01:00":     "2020-01-01T00:00:00Z",
		"2025-10-15 18:41:19.605000000": "2025-10-15T18:41:19.605Z",
	} {
		got, err := ParseTime(in)
		if err != nil || got.Format("2006-01-02T15:04:05.999999999Z07:00") != want {
			t.Errorf("ParseTime(%q) = %v, %v; want %s", in, got, err, want)
		}
	}
	if _, err := ParseTime("yesterday"); err == nil {
		t.Error("ParseTime(yesterday) succeeded")
	}
	for in, want := range map[string]string{"1583364251067": "2020-03-04T23:24:11.067Z", "1583364251": "2020-03-04T23:24:11Z"} {
		got, err := EpochTime(jsonNumber(in))
		if err != nil || got.Format("2006-01-02T15:04:05.999Z07:00") != want {
			t.Errorf("EpochTime(%s) = %v, %v; want %s", in, got, err, want)
		}
	}
}

func TestMemberAndLazy(t *testing.T) {
	obj := []byte(`{"a": {"b": "x\"y"}, "list": ["p", "q"], "n": 12, "Records": [1]}`)
	if got := Lazy(Member(obj, "a")).Member("b").String(); got != `x"y` {
		t.Errorf("a.b = %q", got)
	}
	if got := Lazy(Member(obj, "list")).Strings(); len(got) != 2 || got[1] != "q" {
		t.Errorf("list = %v", got)
	}
	if got := Lazy(Member(obj, "n")).String(); got != "12" {
		t.Errorf("n = %q", got)
	}
	if Member(obj, "missing") != nil || Member([]byte(`[1]`), "a") != nil {
		t.Error("Member found what is not there")
	}
}

func jsonNumber(s string) stdjson.Number { return stdjson.Number(s) }
