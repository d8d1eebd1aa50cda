package pgaudit

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"strings"
	"testing"
	"time"
	_ "time/tzdata"

	"github.com/vigil-audit/vigil/internal/event"
	"github.com/vigil-audit/vigil/internal/ingest"
	"github.com/vigil-audit/vigil/internal/ingest/ingesttest"
)

// parse parses the test file name and checks what every emitted event must
// satisfy: it passes Normalize again, encodes, and keeps its raw record.
func parse(t *testing.T, p *Parser, name string) (ingest.Stats, []event.Event) {
	t.Helper()
	data, err := os.ReadFile("testdata/" + name)
	if err != nil {
		t.Fatal(err)
	}
	var evs []event.Event
	st, err := p.Parse(bytes.NewReader(data), name, func(ev event.Event) error {
		if err := ev.Normalize(time.Now()); err != nil {
			t.Errorf("event %d fails Normalize: %v", len(evs), err)
		}
		if _, err := event.EncodeBody(&ev); err != nil {
			t.Errorf("event %d: EncodeBody: %v", len(evs), err)
		}
		if !json.Valid(ev.Raw) {
			t.Errorf("event %d: raw is not JSON", len(evs))
		}
		evs = append(evs, ev)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return st, evs
}

func golden(t *testing.T, path string, evs []event.Event) {
	t.Helper()
	views := make([]ingesttest.View, len(evs))
	for i, ev := range evs {
		views[i] = ingesttest.ViewOf(fmt.Sprint(i), ev)
	}
	ingesttest.Golden(t, path, views)
}

func rejects(st ingest.Stats) string {
	var b strings.Builder
	for _, r := range st.Rejects {
		fmt.Fprintf(&b, "%s (offset %d)\n", r, r.Offset)
	}
	return b.String()
}

func TestCSVLog(t *testing.T) {
	st, evs := parse(t, &Parser{TimeZone: time.UTC}, "handwritten.csv")
	if st.Accepted != 11 || st.Skipped != 2 || st.Rejected != 6 {
		t.Fatalf("stats %d accepted, %d skipped, %d rejected:\n%s", st.Accepted, st.Skipped, st.Rejected, rejects(st))
	}
	want := []string{
		"handwritten.csv:14: pgaudit entry has 8 fields; want 9",
		`handwritten.csv:15: pgaudit entry: unknown class "BROWSE"`,
		`handwritten.csv:16: cannot read log time "yesterday at noon"`,
		"handwritten.csv:17: csvlog: record has 4 fields",
		"handwritten.csv:18: record ends inside a quoted field",
		"handwritten.csv:19: log time \"2024-05-01 10:00:16.000 CEST\": time zone CEST is not one of UTC",
	}
	for i, w := range want {
		if i >= len(st.Rejects) || !strings.HasPrefix(st.Rejects[i].String(), w) {
			t.Errorf("reject %d: want %s…, got:\n%s", i, w, rejects(st))
		}
	}
	if st.Rejects[4].Line != 18 || st.Rejects[4].Offset == 0 {
		t.Errorf("reject position: %+v", st.Rejects[4])
	}

	sel, del, drop, grant, revoke, fn, sub, set, pw, hba := evs[0], evs[1], evs[2], evs[3], evs[4], evs[5], evs[6], evs[7], evs[8], evs[9]
	if sel.ClassUID != event.ClassDatastoreActivity || sel.Source != Source || sel.Actor.User != "alice" ||
		sel.Actor.SrcIP != "10.0.0.5" || sel.Actor.SessionID != "6631f2a0.1005" || sel.Action != "SELECT" ||
		sel.Activity != "read" || sel.Resource.Type != "database" || sel.Resource.Name != "appdb" || sel.Target != "appdb" ||
		sel.Outcome != event.OutcomeUnknown || sel.Attrs["sql.text"] != "select 1" || sel.Attrs["pgaudit.class"] != "READ" ||
		sel.Attrs["pgaudit.statement_id"] != int64(1) || !sel.Time.Equal(time.Date(2024, 5, 1, 10, 0, 0, 101e6, time.UTC)) {
		t.Errorf("select: %+v", sel)
	}
	var raw string
	if err := json.Unmarshal(sel.Raw, &raw); err != nil || !strings.HasPrefix(raw, "2024-05-01 10:00:00.101 UTC,") || !strings.HasSuffix(raw, ",0") {
		t.Errorf("raw is not the CSV record: %s", sel.Raw)
	}
	if del.Action != "DELETE" || del.Activity != "update" || del.Resource.Type != "table" || del.Resource.Name != "public.orders" ||
		del.Attrs["pgaudit.audit_type"] != "OBJECT" || del.Attrs["sql.text"] != "delete from orders\nwhere created < now() - interval '1 year'" ||
		del.Attrs["postgres.query_id"] != "-7230982365447512207" {
		t.Errorf("delete: %+v", del)
	}
	if drop.Activity != "delete" || drop.Actor.SrcIP != "" || drop.Attrs["postgres.remote_host"] != "[local]" {
		t.Errorf("drop: %+v", drop)
	}
	if grant.Activity != "grant" || grant.Attrs["sql.text"] != "grant select, update on orders to reporting" || revoke.Activity != "revoke" {
		t.Errorf("grant/revoke: %+v / %+v", grant, revoke)
	}
	if fn.Activity != "execute" || fn.Action != "EXECUTE" || fn.Resource.Type != "function" || fn.Actor.UserAgent != "etl-job" {
		t.Errorf("function: %+v", fn)
	}
	if sub.Attrs["pgaudit.substatement_id"] != int64(2) || sub.Attrs["pgaudit.previously_logged"] != true || sub.Attrs["sql.text"] != nil {
		t.Errorf("substatement: %+v", sub)
	}
	if set.Activity != "other" || set.Attrs["pgaudit.rows"] != int64(0) {
		t.Errorf("set: %+v", set)
	}
	if pw.ClassUID != event.ClassAuthentication || pw.Activity != "logon" || pw.Outcome != event.OutcomeFailure ||
		pw.Actor.User != "mallory" || pw.Actor.SrcIP != "203.0.113.7" || pw.Attrs["postgres.sqlstate"] != "28P01" ||
		!strings.Contains(pw.Attrs["postgres.detail"].(string), "pg_hba.conf line 99") {
		t.Errorf("password failure: %+v", pw)
	}
	if hba.ClassUID != event.ClassAuthentication || hba.Actor.User != "eve" || hba.Target != "payroll" || hba.Attrs["postgres.sqlstate"] != "28000" {
		t.Errorf("pg_hba failure: %+v", hba)
	}
	if k := ingest.DedupKey(&pw); k != "pgaudit:6631f2a7.1008/1" {
		t.Errorf("dedup key %q", k)
	}
	golden(t, "testdata/handwritten.csv.golden.jsonl", evs)

	// With the server's log_timezone, CEST is read.
	berlin, err := time.LoadLocation("Europe/Berlin")
	if err != nil {
		t.Fatal(err)
	}
	st, evs = parse(t, &Parser{TimeZone: berlin}, "handwritten.csv")
	if st.Accepted != 12 || !evs[10].Time.Equal(time.Date(2024, 5, 1, 8, 0, 16, 0, time.UTC)) ||
		!evs[11].Time.Equal(time.Date(2024, 5, 1, 8, 0, 17, 0, time.UTC)) {
		t.Errorf("CEST: %d accepted; times %v", st.Accepted, evs[len(evs)-1].Time)
	}
}

func TestJSONLog(t *testing.T) {
	st, evs := parse(t, &Parser{}, "handwritten.json")
	if st.Accepted != 4 || st.Skipped != 1 || st.Rejected != 2 {
		t.Fatalf("stats %d accepted, %d skipped, %d rejected:\n%s", st.Accepted, st.Skipped, st.Rejected, rejects(st))
	}
	if !strings.HasPrefix(st.Rejects[0].String(), "handwritten.json:5: jsonlog: invalid JSON") ||
		!strings.HasPrefix(st.Rejects[1].String(), "handwritten.json:6: jsonlog: field user: JSON array") {
		t.Errorf("rejects:\n%s", rejects(st))
	}
	sel, pw := evs[0], evs[2]
	if sel.Actor.User != "alice" || sel.Actor.SrcIP != "10.0.0.5" || sel.Attrs["postgres.remote_port"] != "51234" ||
		sel.Attrs["sql.text"] != "select 1" || sel.Attrs["postgres.log_format"] != "jsonlog" || sel.Raw[0] != '{' {
		t.Errorf("select: %+v", sel)
	}
	if pw.ClassUID != event.ClassAuthentication || pw.Actor.User != "mallory" || pw.Outcome != event.OutcomeFailure {
		t.Errorf("password failure: %+v", pw)
	}
	// The same record in csvlog and jsonlog has the same dedup key.
	_, csv := parse(t, &Parser{TimeZone: time.UTC}, "handwritten.csv")
	if a, b := ingest.DedupKey(&csv[0]), ingest.DedupKey(&sel); a != b || a == "" {
		t.Errorf("dedup keys differ: %q %q", a, b)
	}
	golden(t, "testdata/handwritten.json.golden.jsonl", evs)
}

// TestRealFixture reads logs a PostgreSQL 15.18 with pgaudit 1.7 wrote (see
// TestGenerateRealFixture): both destinations give the same events.
func TestRealFixture(t *testing.T) {
	stc, csv := parse(t, &Parser{}, "real.csv")
	stj, jsn := parse(t, &Parser{}, "real.json")
	if stc.Rejected != 0 || stj.Rejected != 0 || stc.Accepted != 15 || stj.Accepted != 15 || stc.Skipped != 7 {
		t.Fatalf("csv %+v\njson %+v", stc, stj)
	}
	for i := range csv {
		c, j := ingesttest.ViewOf("", csv[i]), ingesttest.ViewOf("", jsn[i])
		c.RawBytes, j.RawBytes = 0, 0
		delete(c.Attrs, "postgres.log_format")
		delete(j.Attrs, "postgres.log_format")
		cb, _ := json.Marshal(c)
		jb, _ := json.Marshal(j)
		if !bytes.Equal(cb, jb) {
			t.Errorf("event %d differs:\ncsv  %s\njson %s", i, cb, jb)
		}
		if ingest.DedupKey(&csv[i]) != ingest.DedupKey(&jsn[i]) {
			t.Errorf("event %d: dedup keys differ", i)
		}
	}
	obj := csv[8]
	if obj.Attrs["pgaudit.audit_type"] != "OBJECT" || obj.Resource.Name != "public.account" ||
		obj.Attrs["sql.text"] != `SELECT id, password FROM account WHERE name = 'x, "y"'` {
		t.Errorf("object audit: %+v", obj)
	}
	if last := csv[len(csv)-1]; last.ClassUID != event.ClassAuthentication || last.Actor.User != "mallory" {
		t.Errorf("unknown role: %+v", last)
	}
	golden(t, "testdata/real.golden.jsonl", csv)
}

func TestSplitCSV(t *testing.T) {
	for _, c := range []struct {
		in   string
		want []string
		err  string
	}{
		{`a,,"b,c","d""e"`, []string{"a", "", "b,c", `d"e`}, ""},
		{`""`, []string{""}, ""},
		{`a,`, []string{"a", ""}, ""},
		{`"a`, nil, "field 1: quoted field is not closed"},
		{`"a"b`, nil, `field 1: unexpected 'b' after a quoted field`},
		{`a"b,c`, nil, "field 1: quote inside an unquoted field"},
	} {
		got, err := splitCSV(c.in)
		if c.err != "" {
			if err == nil || err.Error() != c.err {
				t.Errorf("%s: error %v, want %s", c.in, err, c.err)
			}
			continue
		}
		if err != nil || fmt.Sprint(got) != fmt.Sprint(c.want) || len(got) != len(c.want) {
			t.Errorf("%s: %q %v", c.in, got, err)
		}
	}
}

func TestSplitHostPort(t *testing.T) {
	for in, want := range map[string]string{
		"10.0.0.5:5432": "10.0.0.5", "::1:5432": "::1", "[local]": "[local]", "fe80::1": "fe80::1", "db.example:5432": "db.example",
	} {
		if got, _ := splitHostPort(in); got != want {
			t.Errorf("%s: %s, want %s", in, got, want)
		}
	}
}

var _ ingest.Parser = (*Parser)(nil)
