package event

import (
	"bytes"
	"encoding/json"
	"testing"
	"time"
)

// reflectBody is encoding/json's encoding less the `{"seq":0,` prefix.
func reflectBody(t testing.TB, e *Event) []byte {
	t.Helper()
	b, err := encodeReflect(e)
	if err != nil {
		t.Fatal(err)
	}
	const prefix = `{"seq":0,`
	if !bytes.HasPrefix(b, []byte(prefix)) {
		t.Fatalf("reflect encoding starts %q", b[:min(len(b), 20)])
	}
	return b[len(prefix):]
}

func checkSame(t testing.TB, e *Event) {
	t.Helper()
	got, err := EncodeBody(e)
	if err != nil {
		t.Fatal(err)
	}
	want := reflectBody(t, e)
	if !bytes.Equal(got, want) {
		t.Fatalf("EncodeBody differs from encoding/json:\n got: %s\nwant: %s", got, want)
	}
}

func TestEncodingMatchesEncodingJSON(t *testing.T) {
	tm := time.Date(2026, 3, 4, 5, 6, 7, 890000000, time.UTC)
	weird := "a\"b\\c\n\r\t\b\f\x00\x1f\x7f<>&\u2028\u2029é😀\xff\xfe end"
	cases := []Event{
		{ID: "01J0000000000000000000000A", Time: tm, Source: "s", ClassUID: 6003, Activity: "read", Actor: Actor{User: "u"}, Action: "a", Outcome: "success"},
		{ID: "01J0000000000000000000000A", Time: tm.Add(1), Source: weird, ClassUID: 3002, Activity: "logon",
			Actor:    Actor{User: weird, Roles: []string{"r1", weird}, Groups: []string{"g"}, Type: "human", SrcIP: "::1", UserAgent: weird, SessionID: "s"},
			Action:   weird,
			Resource: Resource{Type: "t", ID: "i", Name: weird, Environment: "production", Labels: map[string]string{"z": "1", "a": weird, weird: "x"}},
			Target:   "prod", Outcome: "denied",
			Decision: &Decision{Effect: "deny", Rules: []RuleResult{{ID: "r", Effect: "deny", Severity: "high", Message: weird}, {ID: "q", Effect: "log"}, {ID: "d", Effect: "deny", DryRun: true}}, Message: "m", ReviewID: "rv"},
			ParentID: "01J0000000000000000000000B",
			Attrs: map[string]any{"b": []any{1, "x", nil, true, int64(-7), uint64(1 << 63), 1e21, 1e-7, 3.0}, "a": map[string]any{"y": 2.5, "x": weird},
				"html": "<a href='x'>&</a>", "list": []string{weird, ""}, "nil list": []string(nil), "nil map": map[string]any(nil),
				"nested": map[string]any{"deeper": []any{map[string]any{"k": []string{"v"}}}}, "i32": int32(-3), "u32": uint32(9),
				"bool": false, "num": json.Number("12.50"), "struct": struct{ A int }{A: 1}},
			Raw: json.RawMessage("{ \"k\" : [1, 2,\n 3], \"s\": \"<&>\" }"),
		},
		{ID: "01J0000000000000000000000A", Time: tm, Source: "s", Activity: "read", Actor: Actor{User: "u"}, Action: "a", Outcome: "success",
			Resource: Resource{Labels: map[string]string{"only": "labels"}}, Decision: &Decision{Effect: "allow"}},
		{ID: "01J0000000000000000000000A", Time: tm, Source: "s", Activity: "read", Actor: Actor{User: "u"}, Action: "a", Outcome: "success",
			Resource: Resource{Environment: "staging"}, Raw: json.RawMessage(`"a plain string"`)},
	}
	for i := range cases {
		checkSame(t, &cases[i])
	}
}

func FuzzEncoding(f *testing.F) {
	f.Add("user", "action", "name", "k", "v", int64(0))
	f.Add("\xff\u2028", "\x00\"\\", "<&>", "\t", "é", int64(123456789))
	f.Fuzz(func(t *testing.T, user, action, name, k, v string, ns int64) {
		e := Event{ID: "01J0000000000000000000000A", Time: time.Unix(1700000000, ns%1e9).UTC(), Source: name, Activity: "read",
			Actor: Actor{User: user, Roles: []string{k}}, Action: action, Outcome: "success",
			Resource: Resource{Name: name, Labels: map[string]string{k: v}},
			Attrs:    map[string]any{k: v, "n": ns, "f": float64(ns) / 7, "l": []any{v, ns, nil}, "m": map[string]any{v: []string{k}}}}
		checkSame(t, &e)
	})
}
