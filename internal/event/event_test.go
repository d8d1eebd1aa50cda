package event_test

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/oklog/ulid/v2"

	"github.com/vigil-audit/vigil/internal/event"
)

var now = time.Date(2025, 3, 4, 5, 6, 7, 891011121, time.FixedZone("CET", 3600))

// valid returns a minimal valid event.
func valid() event.Event {
	return event.Event{
		Source:   "gateway/postgres",
		Activity: "delete",
		Actor:    event.Actor{User: "alice"},
		Action:   "DELETE",
		Outcome:  event.OutcomeSuccess,
	}
}

// full returns a valid event with every field set, already normalized, whose
// attrs hold only values that JSON decoding gives back unchanged.
func full() event.Event {
	return event.Event{
		ID:       "01JNHG0000000000000000000A",
		Time:     time.Date(2025, 1, 2, 3, 4, 5, 6, time.UTC),
		Source:   "gateway/postgres",
		ClassUID: event.ClassDatastoreActivity,
		Activity: "delete",
		Actor: event.Actor{User: "alice", Roles: []string{"dba", "oncall"}, Groups: []string{"eng"}, Type: "human",
			SrcIP: "10.0.0.7", UserAgent: "psql/16", SessionID: "s-1"},
		Action:   "DELETE",
		Resource: event.Resource{Type: "table", ID: "public.users", Name: "users", Environment: "prod", Labels: map[string]string{"team": "core", "pii": "yes"}},
		Target:   "prod-db",
		Outcome:  event.OutcomeDenied,
		Decision: &event.Decision{Effect: "deny", Message: "no unbounded deletes", ReviewID: "r-9",
			Rules: []event.RuleResult{{ID: "sql.delete-no-where", Effect: "deny", Severity: "high", Message: "DELETE without WHERE"}}},
		ParentID: "01JNHG0000000000000000000B",
		Attrs: map[string]any{
			"sql.command": "DELETE", "sql.where": false, "sql.rows": float64(12),
			"sql.tables": []any{"users"}, "nested": map[string]any{"a": "<b>&</b>", "n": nil},
		},
		Raw: json.RawMessage(`{"query":"DELETE FROM users","n":12345678901234567890123}`),
	}
}

func TestNormalizeDefaults(t *testing.T) {
	e := valid()
	if err := e.Normalize(now); err != nil {
		t.Fatal(err)
	}
	if _, err := ulid.ParseStrict(e.ID); err != nil {
		t.Errorf("generated id %q is not a ULID: %v", e.ID, err)
	}
	if !e.Time.Equal(now) || e.Time.Location() != time.UTC {
		t.Errorf("time = %v; want %v in UTC", e.Time, now)
	}
	if e.ClassUID != 6003 {
		t.Errorf("class_uid = %d; want 6003", e.ClassUID)
	}
	e2 := valid()
	if err := e2.Normalize(now); err != nil {
		t.Fatal(err)
	}
	if e2.ID == e.ID {
		t.Errorf("two events got the same generated id %s", e.ID)
	}

	// What the caller set is kept (time converted to UTC, same instant).
	set := valid()
	set.ID = "01JNHG0000000000000000000A"
	set.Time = time.Date(2024, 6, 1, 12, 0, 0, 5, time.FixedZone("X", -7*3600))
	set.ClassUID = event.ClassAuthentication
	want := set.Time
	if err := set.Normalize(now); err != nil {
		t.Fatal(err)
	}
	if set.ID != "01JNHG0000000000000000000A" || set.ClassUID != 3002 {
		t.Errorf("normalize changed id or class: %s %d", set.ID, set.ClassUID)
	}
	if !set.Time.Equal(want) || set.Time.Location() != time.UTC || set.Time.Hour() != 19 {
		t.Errorf("time = %v; want %v in UTC", set.Time, want)
	}
	if n := event.ClassName(3002); n != "Authentication" {
		t.Errorf("ClassName(3002) = %q", n)
	}
	if n := event.ClassName(42); n != "" {
		t.Errorf("ClassName(42) = %q; want empty", n)
	}
}

func TestNormalizeErrors(t *testing.T) {
	long := strings.Repeat("x", 1025)
	tests := []struct {
		name  string
		edit  func(e *event.Event)
		field string // "" means valid
		want  string
	}{
		{"seq set", func(e *event.Event) { e.Seq = 1 }, "seq", "field seq: is assigned by the log and must not be set"},
		{"bad id", func(e *event.Event) { e.ID = "not-a-ulid" }, "id", `field id: must be a ULID (got "not-a-ulid")`},
		{"id overflows", func(e *event.Event) { e.ID = "80000000000000000000000000" }, "id", `field id: must be a ULID (got "80000000000000000000000000")`},
		{"year too late", func(e *event.Event) { e.Time = time.Date(10000, 1, 1, 0, 0, 0, 0, time.UTC) }, "time", "field time: year 10000 is out of range"},
		{"year before 1970 in UTC", func(e *event.Event) { e.Time = time.Date(1970, 1, 1, 0, 30, 0, 0, time.FixedZone("", 3600)) }, "time", "field time: year 1969 is out of range"},
		{"missing source", func(e *event.Event) { e.Source = "" }, "source", "field source: is required"},
		{"unknown class_uid", func(e *event.Event) { e.ClassUID = 42 }, "class_uid", "field class_uid: unknown OCSF class 42"},
		{"bad activity", func(e *event.Event) { e.Activity = "fly" }, "activity",
			`field activity: must be one of admit, approve, create, decide, delete, execute, grant, logoff, logon, other, query, read, reject, revoke, update (got "fly")`},
		{"missing activity", func(e *event.Event) { e.Activity = "" }, "activity",
			`field activity: must be one of admit, approve, create, decide, delete, execute, grant, logoff, logon, other, query, read, reject, revoke, update (got "")`},
		{"long value is clipped in the message", func(e *event.Event) { e.Activity = strings.Repeat("a", 100) }, "activity",
			`field activity: must be one of admit, approve, create, decide, delete, execute, grant, logoff, logon, other, query, read, reject, revoke, update (got "` + strings.Repeat("a", 64) + `…")`},
		{"missing actor.user", func(e *event.Event) { e.Actor.User = "" }, "actor.user", "field actor.user: is required"},
		{"bad actor.type", func(e *event.Event) { e.Actor.Type = "robot" }, "actor.type", `field actor.type: must be human, service or system (got "robot")`},
		{"empty role", func(e *event.Event) { e.Actor.Roles = []string{"dba", ""} }, "actor.roles[1]", "field actor.roles[1]: is required"},
		{"bad group", func(e *event.Event) { e.Actor.Groups = []string{"\xff"} }, "actor.groups[0]", "field actor.groups[0]: is not valid UTF-8"},
		{"missing action", func(e *event.Event) { e.Action = "" }, "action", "field action: is required"},
		{"bad outcome", func(e *event.Event) { e.Outcome = "ok" }, "outcome", `field outcome: must be one of denied, failure, pending, success, unknown (got "ok")`},
		{"bad decision.effect", func(e *event.Event) { e.Decision = &event.Decision{Effect: "maybe"} }, "decision.effect",
			`field decision.effect: must be one of alert, allow, deny, log, review (got "maybe")`},
		{"rule without id", func(e *event.Event) {
			e.Decision = &event.Decision{Effect: "deny", Rules: []event.RuleResult{{ID: "r1", Effect: "deny"}, {Effect: "deny"}}}
		}, "decision.rules[1].id", "field decision.rules[1].id: is required"},
		{"rule with bad effect", func(e *event.Event) {
			e.Decision = &event.Decision{Effect: "deny", Rules: []event.RuleResult{{ID: "r1", Effect: "block"}}}
		}, "decision.rules[0].effect", `field decision.rules[0].effect: must be one of alert, allow, deny, log, review (got "block")`},
		{"too-long resource.name", func(e *event.Event) { e.Resource.Name = long }, "resource.name", "field resource.name: is 1025 bytes long; at most 1024 are allowed"},
		{"too-long actor.user", func(e *event.Event) { e.Actor.User = long }, "actor.user", "field actor.user: is 1025 bytes long; at most 1024 are allowed"},
		{"too-long actor.src_ip", func(e *event.Event) { e.Actor.SrcIP = long }, "actor.src_ip", "field actor.src_ip: is 1025 bytes long; at most 1024 are allowed"},
		{"invalid UTF-8 target", func(e *event.Event) { e.Target = "db\xc3" }, "target", "field target: is not valid UTF-8"},
		{"invalid UTF-8 source", func(e *event.Event) { e.Source = "\xfe\xff" }, "source", "field source: is not valid UTF-8"},
		{"bad parent_id", func(e *event.Event) { e.ParentID = "parent" }, "parent_id", `field parent_id: must be a ULID (got "parent")`},
		{"invalid raw JSON", func(e *event.Event) { e.Raw = json.RawMessage(`{"a":`) }, "raw", "field raw: is not valid JSON"},

		{"1024-byte field is allowed", func(e *event.Event) { e.Resource.Name = long[:1024] }, "", ""},
		{"optional fields may be empty", func(e *event.Event) { e.Actor.Type = ""; e.Target = "" }, "", ""},
		{"every outcome and class", func(e *event.Event) { e.Outcome = event.OutcomeUnknown; e.ClassUID = event.ClassDetectionFinding }, "", ""},
		{"decision without rules", func(e *event.Event) { e.Decision = &event.Decision{Effect: "review"} }, "", ""},
		{"full event", func(e *event.Event) { *e = full() }, "", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := valid()
			tt.edit(&e)
			err := e.Normalize(now)
			if tt.want == "" {
				if err != nil {
					t.Fatalf("Normalize: %v; want no error", err)
				}
				return
			}
			if err == nil || err.Error() != tt.want {
				t.Fatalf("Normalize error = %v\nwant %s", err, tt.want)
			}
			var fe *event.FieldError
			if !errors.As(err, &fe) || fe.Field != tt.field {
				t.Fatalf("error %v is not a *FieldError for field %q", err, tt.field)
			}
		})
	}
}

func TestEncodeLeafDecodeRoundTrip(t *testing.T) {
	for _, seq := range []uint64{0, 1, 7, 1 << 40, 1<<64 - 1} {
		t.Run(fmt.Sprint(seq), func(t *testing.T) {
			e := full()
			if err := e.Normalize(now); err != nil {
				t.Fatal(err)
			}
			body, err := event.EncodeBody(&e)
			if err != nil {
				t.Fatal(err)
			}
			leaf := body.Leaf(seq)
			if want := fmt.Sprintf(`{"seq":%d,`, seq); !bytes.HasPrefix(leaf, []byte(want)) {
				t.Fatalf("leaf starts %.40q; want %q", leaf, want)
			}
			if !json.Valid(leaf) {
				t.Fatalf("leaf is not valid JSON: %s", leaf)
			}
			got, ok := event.LeafSeq(leaf)
			if !ok || got != seq {
				t.Fatalf("LeafSeq = %d, %v; want %d, true", got, ok, seq)
			}
			d, err := event.Decode(leaf)
			if err != nil {
				t.Fatal(err)
			}
			want := e
			want.Seq = seq
			if !reflect.DeepEqual(*d, want) {
				t.Fatalf("decoded event differs:\n got %+v\nwant %+v", *d, want)
			}
			// The decoded event encodes to the same body: the encoding is stable
			// through a store round trip.
			again, err := event.EncodeBody(d)
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(again, body) {
				t.Fatalf("re-encoded body differs:\n got %s\nwant %s", again, body)
			}
		})
	}
}

func TestEncodeBodyIgnoresSeq(t *testing.T) {
	e := full()
	a, err := event.EncodeBody(&e)
	if err != nil {
		t.Fatal(err)
	}
	e.Seq = 99
	b, err := event.EncodeBody(&e)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(a, b) {
		t.Fatalf("body depends on Seq:\n%s\n%s", a, b)
	}
	if e.Seq != 99 {
		t.Fatalf("EncodeBody changed the caller's Seq to %d", e.Seq)
	}
	if bytes.Contains(a, []byte(`"seq"`)) {
		t.Fatalf("body holds a seq: %s", a)
	}
	// HTML is not escaped: the bytes say what the event says.
	if !bytes.Contains(a, []byte(`"a":"<b>&</b>"`)) {
		t.Fatalf("HTML was escaped: %s", a)
	}
}

func TestEncodeDeterministic(t *testing.T) {
	// Two events equal in content, with maps filled in opposite orders.
	build := func(reverse bool) event.Event {
		e := full()
		e.Attrs = map[string]any{}
		e.Resource.Labels = map[string]string{}
		for i := range 64 {
			k := i
			if reverse {
				k = 63 - i
			}
			e.Attrs[fmt.Sprintf("k%02d", k)] = map[string]any{"z": k, "a": fmt.Sprint(k)}
			e.Resource.Labels[fmt.Sprintf("l%02d", k)] = fmt.Sprint(k)
		}
		return e
	}
	e1, e2 := build(false), build(true)
	var first event.Body
	for i := range 5 {
		for _, e := range []*event.Event{&e1, &e2} {
			b, err := event.EncodeBody(e)
			if err != nil {
				t.Fatal(err)
			}
			if i == 0 && first == nil {
				first = b
			}
			if !bytes.Equal(b, first) {
				t.Fatalf("encoding differs:\n%s\n%s", b, first)
			}
		}
	}
	if !bytes.Contains(first, []byte(`"attrs":{"k00":{"a":"0","z":0},"k01":`)) {
		t.Fatalf("attrs are not in key order: %.200s", first)
	}
}

func TestRawKept(t *testing.T) {
	tests := []struct {
		name string
		raw  string
	}{
		{"compact object", `{"eventName":"TerminateInstances","n":12345678901234567890123,"f":1.50}`},
		{"with white space", "{ \"a\" : [ 1 ,\n 2.0e3 , \"\\u00e9\\n\" ] ,\t\"b\": null }"},
		{"array", `[1,"two",{"three":3}]`},
		{"string", `"a \"quoted\" <string>"`},
		{"number", `-0.000000000000000000001`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := valid()
			e.Raw = json.RawMessage(tt.raw)
			if err := e.Normalize(now); err != nil {
				t.Fatal(err)
			}
			body, err := event.EncodeBody(&e)
			if err != nil {
				t.Fatal(err)
			}
			d, err := event.Decode(body.Leaf(3))
			if err != nil {
				t.Fatal(err)
			}
			// Semantically identical, numbers digit for digit.
			if got, want := decodeNumbers(t, d.Raw), decodeNumbers(t, []byte(tt.raw)); !reflect.DeepEqual(got, want) {
				t.Fatalf("raw = %s; want %s", d.Raw, tt.raw)
			}
			// Only insignificant white space may change.
			var c bytes.Buffer
			if err := json.Compact(&c, []byte(tt.raw)); err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(d.Raw, c.Bytes()) {
				t.Fatalf("raw = %s; want %s", d.Raw, c.Bytes())
			}
		})
	}
}

func decodeNumbers(t *testing.T, b []byte) any {
	t.Helper()
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil {
		t.Fatalf("decode %s: %v", b, err)
	}
	return v
}

func TestEncodeBodyTooLarge(t *testing.T) {
	e := valid()
	e.Attrs = map[string]any{"blob": strings.Repeat("x", event.MaxEncodedSize)}
	if err := e.Normalize(now); err != nil {
		t.Fatal(err)
	}
	_, err := event.EncodeBody(&e)
	var fe *event.FieldError
	if !errors.As(err, &fe) || fe.Field != "(event)" || !strings.HasSuffix(err.Error(), "bytes; at most 1048576 are allowed") {
		t.Fatalf("EncodeBody of an oversized event: %v", err)
	}
}

func TestLeafSeq(t *testing.T) {
	tests := []struct {
		leaf string
		want uint64
		ok   bool
	}{
		{`{"seq":0,"id":"x"}`, 0, true},
		{`{"seq":42,`, 42, true},
		{`{"seq":18446744073709551615,"id":"x"}`, 1<<64 - 1, true},
		{``, 0, false},
		{`{"seq":`, 0, false},
		{`{"seq":,"id":"x"}`, 0, false},
		{`{"seq":12}`, 0, false},
		{`{"seq":-1,`, 0, false},
		{`{"seq":+1,`, 0, false},
		{`{"seq": 1,`, 0, false},
		{`{"seq":1 ,`, 0, false},
		{`{"seq":0x1,`, 0, false},
		{`{"seq":1e3,`, 0, false},
		{`{"seq":007,`, 0, false},
		{`{"seq":18446744073709551616,`, 0, false},
		{`{"seq":123456789012345678901,`, 0, false},
		{`{"seq":"1",`, 0, false},
		{` {"seq":1,`, 0, false},
		{`{"id":"x","seq":1,`, 0, false},
		{`{"Seq":1,`, 0, false},
	}
	for _, tt := range tests {
		got, ok := event.LeafSeq([]byte(tt.leaf))
		if got != tt.want || ok != tt.ok {
			t.Errorf("LeafSeq(%q) = %d, %v; want %d, %v", tt.leaf, got, ok, tt.want, tt.ok)
		}
	}
}

func TestDecodeRejectsGarbage(t *testing.T) {
	for _, leaf := range []string{``, `{`, `[]`, `{"seq":"x"}`} {
		if e, err := event.Decode([]byte(leaf)); err == nil || !strings.HasPrefix(err.Error(), "decode event: ") {
			t.Errorf("Decode(%q) = %+v, %v; want a decode error", leaf, e, err)
		}
	}
}

// rec is a valid input record with the given extra fields spliced in.
func rec(extra string) string {
	r := `{"source":"cloudtrail","activity":"read","actor":{"user":"bob"},"action":"GetObject","outcome":"success"`
	if extra != "" {
		r += "," + extra
	}
	return r + "}"
}

func TestParseBatch(t *testing.T) {
	tests := []struct {
		name  string
		in    string
		users []string // actor.user of each event, in order
	}{
		{"array", `[` + rec(`"actor":{"user":"a"}`) + `,` + rec(`"actor":{"user":"b"}`) + `]`, []string{"a", "b"}},
		{"multi-line array", "[\n  " + rec(`"actor":{"user":"a"}`) + ",\n\n  " + rec(`"actor":{"user":"b"}`) + "\n]\n", []string{"a", "b"}},
		{"array after white space", " \n\t[" + rec("") + "]", []string{"bob"}},
		{"json lines", rec(`"actor":{"user":"a"}`) + "\n" + rec(`"actor":{"user":"b"}`) + "\n" + rec(`"actor":{"user":"c"}`) + "\n", []string{"a", "b", "c"}},
		{"json lines, no final newline", rec(`"actor":{"user":"a"}`) + "\n" + rec(`"actor":{"user":"b"}`), []string{"a", "b"}},
		{"json lines, blank lines and CRLF", "\r\n\n" + rec(`"actor":{"user":"a"}`) + "\r\n   \r\n\t\n" + rec(`"actor":{"user":"b"}`) + "\r\n\n", []string{"a", "b"}},
		{"empty", "", nil},
		{"only white space", " \n\r\n\t ", nil},
		{"empty array", "[]", nil},
		{"empty array with white space", "\n[ \n ]\n", nil},
		{"long leading white space", strings.Repeat(" \n", 70_000) + rec(""), []string{"bob"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			evs, err := event.ParseBatch(strings.NewReader(tt.in), now)
			if err != nil {
				t.Fatalf("ParseBatch: %v", err)
			}
			var users []string
			for _, e := range evs {
				users = append(users, e.Actor.User)
				// Every event comes back normalized.
				if _, err := ulid.ParseStrict(e.ID); err != nil || !e.Time.Equal(now) || e.ClassUID != 6003 || e.Time.Location() != time.UTC {
					t.Errorf("event not normalized: %+v", e)
				}
			}
			if !reflect.DeepEqual(users, tt.users) {
				t.Fatalf("users = %q; want %q", users, tt.users)
			}
		})
	}
}

func TestParseBatchKeepsFields(t *testing.T) {
	in := rec(`"id":"01JNHG0000000000000000000A","time":"2024-02-03T04:05:06.123456789+02:00","class_uid":3002,"target":"acct-1","raw":{"k": [1, 2]},"attrs":{"n":1.5}`)
	evs, err := event.ParseBatch(strings.NewReader(in), now)
	if err != nil {
		t.Fatal(err)
	}
	e := evs[0]
	if e.ID != "01JNHG0000000000000000000A" || e.ClassUID != 3002 || e.Target != "acct-1" || e.Attrs["n"] != 1.5 {
		t.Fatalf("fields lost: %+v", e)
	}
	if want := time.Date(2024, 2, 3, 2, 5, 6, 123456789, time.UTC); !e.Time.Equal(want) || e.Time.Location() != time.UTC {
		t.Fatalf("time = %v; want %v", e.Time, want)
	}
	if string(e.Raw) != `{"k": [1, 2]}` {
		t.Fatalf("raw = %s", e.Raw)
	}
}

func TestParseBatchErrors(t *testing.T) {
	bad := func(extra string) string { return rec(extra) }
	arr := func(recs ...string) string { return "[" + strings.Join(recs, ",") + "]" }
	lines := func(ls ...string) string { return strings.Join(ls, "\n") + "\n" }
	tests := []struct {
		name  string
		in    string
		line  int
		index int
		field string // the *FieldError's field, if any
		want  string
	}{
		{"bad outcome on line 3", lines(rec(""), rec(""), bad(`"outcome":"ok"`)), 3, 2, "outcome",
			`line 3 (record 3): field outcome: must be one of denied, failure, pending, success, unknown (got "ok")`},
		{"blank lines count", "\n\n" + lines(rec(""), "", bad(`"outcome":"ok"`)), 5, 1, "outcome",
			`line 5 (record 2): field outcome: must be one of denied, failure, pending, success, unknown (got "ok")`},
		{"unknown field", lines(bad(`"colour":"red"`)), 1, 0, "",
			`line 1 (record 1): unknown field "colour"`},
		{"unknown nested field", lines(rec(""), bad(`"actor":{"user":"u","nmae":"x"}`)), 2, 1, "",
			`line 2 (record 2): unknown field "nmae"`},
		{"wrong type, nested", lines(bad(`"actor":{"user":5}`)), 1, 0, "actor.user",
			`line 1 (record 1): field actor.user: must be string, not JSON number`},
		{"wrong type, int", lines(bad(`"class_uid":"6003"`)), 1, 0, "class_uid",
			`line 1 (record 1): field class_uid: must be int, not JSON string`},
		{"wrong type, list", lines(bad(`"actor":{"user":"u","roles":"dba"}`)), 1, 0, "actor.roles",
			`line 1 (record 1): field actor.roles: must be []string, not JSON string`},
		{"bad time", lines(bad(`"time":"yesterday"`)), 1, 0, "time",
			`line 1 (record 1): field time: must be an RFC 3339 time (got "yesterday")`},
		{"time out of range", lines(bad(`"time":"2024-13-01T00:00:00Z"`)), 1, 0, "time",
			`line 1 (record 1): field time: must be an RFC 3339 time (got "2024-13-01T00:00:00Z"): month out of range`},
		{"time not a string", lines(bad(`"time":1700000000`)), 1, 0, "time",
			`line 1 (record 1): field time: must be an RFC 3339 time string`},
		{"bad time in an array", arr(rec(""), bad(`"time":"2024-01-01"`)), 1, 1, "time",
			`line 1 (record 2): field time: must be an RFC 3339 time (got "2024-01-01")`},
		{"time year out of range", lines(bad(`"time":"1969-12-31T23:59:59Z"`)), 1, 0, "time",
			`line 1 (record 1): field time: year 1969 is out of range`},
		{"not an object", lines(rec(""), `"x"`), 2, 1, "",
			`line 2 (record 2): an event must be a JSON object, not JSON string`},
		{"array of numbers", `[1]`, 1, 0, "",
			`line 1 (record 1): an event must be a JSON object, not JSON number`},
		{"syntax error", lines(rec(""), `{"source":}`), 2, 1, "",
			`line 2 (record 2): invalid JSON at byte 11: invalid character '}' looking for beginning of value`},
		{"truncated line", lines(`{"source":"s"`), 1, 0, "", `line 1 (record 1): unexpected EOF`},
		{"two values on a line", lines(rec("") + " " + rec("")), 1, 0, "", `line 1 (record 1): more than one JSON value on the line`},
		{"multi-line array, bad record on line 4", "[\n  " + rec("") + ",\n\n  " + bad(`"actor":{"user":""}`) + "\n]", 4, 1, "actor.user",
			`line 4 (record 2): field actor.user: is required`},
		{"multi-line array, record spans lines", "[\n" + rec("") + ",\n{\n\"source\":\"s\",\n\"bogus\":1}\n]", 3, 1, "",
			`line 3 (record 2): unknown field "bogus"`},
		{"trailing garbage after ]", arr(rec("")) + " x", 1, 1, "", `line 1 (record 2): unexpected data after the closing ]`},
		{"trailing ] after ]", arr(rec("")) + "]", 1, 1, "", `line 1 (record 2): unexpected data after the closing ]`},
		{"trailing } after ]", arr(rec("")) + "\n}", 2, 1, "", `line 2 (record 2): unexpected data after the closing ]`},
		{"second array", arr(rec("")) + "\n\n" + arr(rec("")), 3, 1, "", `line 3 (record 2): unexpected data after the closing ]`},
		{"unterminated array", "[" + rec(""), 1, 1, "", `line 1 (record 2): invalid JSON: EOF`},
		{"missing comma", "[" + rec("") + " " + rec("") + "]", 1, 1, "", `line 1 (record 2): invalid JSON at byte ` + fmt.Sprint(len("["+rec("")+" ")) + `: expected comma after array element`},
		{"line offset after long leading white space", strings.Repeat("\n", 70_000) + bad(`"outcome":""`), 70_001, 0, "outcome",
			`line 70001 (record 1): field outcome: must be one of denied, failure, pending, success, unknown (got "")`},
		{"array after long leading white space", strings.Repeat("\n", 70_000) + "[\n" + bad(`"outcome":""`) + "]", 70_002, 0, "outcome",
			`line 70002 (record 1): field outcome: must be one of denied, failure, pending, success, unknown (got "")`},
		{"line too long", lines(rec(""), rec(`"target":"`+strings.Repeat("x", event.MaxEncodedSize+1024)+`"`)), 2, 1, "",
			`line 2 (record 2): line is longer than 1048576 bytes`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			evs, err := event.ParseBatch(strings.NewReader(tt.in), now)
			if err == nil || err.Error() != tt.want {
				t.Fatalf("ParseBatch error = %v\nwant %s", err, tt.want)
			}
			if evs != nil {
				t.Errorf("ParseBatch returned %d events with an error", len(evs))
			}
			var ie *event.InputError
			if !errors.As(err, &ie) || ie.Line != tt.line || ie.Index != tt.index {
				t.Fatalf("error %#v; want an *InputError at line %d index %d", err, tt.line, tt.index)
			}
			var fe *event.FieldError
			if got := errors.As(err, &fe); got != (tt.field != "") || (got && fe.Field != tt.field) {
				t.Fatalf("error %v: *FieldError %v (%+v); want field %q", err, got, fe, tt.field)
			}
		})
	}
}

// An event that decodes but would not fit the log is refused by ParseBatch, at
// its own line, rather than later by the log.
func TestParseBatchEventTooLarge(t *testing.T) {
	// U+2028 is 3 bytes in the input and 6 (\u2028) once encoded.
	huge := rec(`"attrs":{"s":"` + strings.Repeat("\u2028", event.MaxEncodedSize/4) + `"}`)
	for _, in := range []string{"[" + rec("") + ",\n" + huge + "]", rec("") + "\n" + huge + "\n"} {
		_, err := event.ParseBatch(strings.NewReader(in), now)
		var ie *event.InputError
		var fe *event.FieldError
		if !errors.As(err, &ie) || ie.Line != 2 || ie.Index != 1 || !errors.As(err, &fe) || fe.Field != "(event)" {
			t.Fatalf("ParseBatch of an oversized event: %v", err)
		}
		if !strings.HasPrefix(err.Error(), "line 2 (record 2): field (event): encodes to ") {
			t.Fatalf("error = %v", err)
		}
	}
}

// failingReader returns its data, then err.
type failingReader struct {
	data []byte
	err  error
}

func (r *failingReader) Read(p []byte) (int, error) {
	if len(r.data) == 0 {
		return 0, r.err
	}
	n := copy(p, r.data)
	r.data = r.data[n:]
	return n, nil
}

// A read error wins over the half line read before it: that line is cut short,
// not malformed.
func TestParseBatchReadError(t *testing.T) {
	boom := errors.New("boom")
	for _, in := range []string{
		"",
		rec("") + "\n" + rec("")[:20],
		rec("") + "\n" + rec(""),
		"[" + rec("") + ",",
	} {
		evs, err := event.ParseBatch(&failingReader{data: []byte(in), err: boom}, now)
		var ie *event.InputError
		if !errors.Is(err, boom) || errors.As(err, &ie) || evs != nil || err.Error() != "read events: boom" {
			t.Errorf("ParseBatch(%.30q + error) = %d events, %v; want the read error", in, len(evs), err)
		}
	}
}

func FuzzParseBatch(f *testing.F) {
	for _, s := range []string{
		"",
		"[]",
		rec(""),
		rec(`"raw":{"a": [1, 2.5e10, "\u00e9"]},"attrs":{"x":{"y":[null,true]}}`) + "\n\n" + rec(`"time":"2024-01-01T00:00:00.5+05:30"`),
		"[" + rec(`"decision":{"effect":"deny","rules":[{"id":"r","effect":"deny"}]}`) + ",\n" + rec(`"id":"01JNHG0000000000000000000A"`) + "]",
		rec(`"outcome":"ok"`),
		rec(`"time":"yesterday"`),
		"[" + rec("") + "] ]",
		`[1]`,
		`{"seq":1}`,
		"\xff\xfe",
		`[{"source":"s","activity":"read","actor":{"user":"\ud800"},"action":"a","outcome":"success","raw":"\udfff"}]`,
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, in string) {
		evs, err := event.ParseBatch(strings.NewReader(in), now)
		if err != nil {
			if evs != nil {
				t.Fatalf("%d events returned with error %v", len(evs), err)
			}
			return
		}
		for i := range evs {
			e := &evs[i]
			body, err := event.EncodeBody(e)
			if err != nil {
				t.Fatalf("event %d does not encode: %v", i, err)
			}
			leaf := body.Leaf(7)
			if n, ok := event.LeafSeq(leaf); !ok || n != 7 {
				t.Fatalf("LeafSeq(Leaf(7)) = %d, %v", n, ok)
			}
			d, err := event.Decode(leaf)
			if err != nil {
				t.Fatalf("leaf %s does not decode: %v", leaf, err)
			}
			if d.Seq != 7 {
				t.Fatalf("decoded seq %d", d.Seq)
			}
			d.Seq = 0
			if err := d.Normalize(now); err != nil {
				t.Fatalf("decoded event no longer valid: %v\n%s", err, leaf)
			}
			again, err := event.EncodeBody(d)
			if err != nil || !bytes.Equal(again, body) {
				t.Fatalf("encoding is not stable through decode (%v):\n%s\n%s", err, body, again)
			}
		}
	})
}
