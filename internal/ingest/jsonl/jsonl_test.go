package jsonl

import (
	"fmt"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/vigil-audit/vigil/internal/event"
	"github.com/vigil-audit/vigil/internal/ingest"
	"github.com/vigil-audit/vigil/internal/ingest/ingesttest"
)

func read(t *testing.T, name string) []byte {
	t.Helper()
	b, err := os.ReadFile("testdata/" + name)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func rejects(st ingest.Stats) string {
	var b strings.Builder
	for _, r := range st.Rejects {
		fmt.Fprintf(&b, "%s\n", r)
	}
	return b.String()
}

func TestDefaultMapping(t *testing.T) {
	m, err := ParseMapping("")
	if err != nil {
		t.Fatal(err)
	}
	res := ingesttest.ParseAll(t, &Parser{Mapping: m, Now: ingesttest.Now}, "app.jsonl", read(t, "app.jsonl"))
	st, evs := res.Stats, res.Events
	if st.Accepted != 6 || st.Rejected != 6 {
		t.Fatalf("%d accepted, %d rejected:\n%s", st.Accepted, st.Rejected, rejects(st))
	}
	for i, w := range []string{
		"app.jsonl:6: field action: required, and the record has no value at action|event.action|eventName|event.type|event|verb|operation",
		`app.jsonl:7: field time: cannot parse time "yesterday"`,
		"app.jsonl:8: ",
		"app.jsonl:9: field action: required, and the record has no value at action|event.action|eventName|event.type|event|verb|operation; action is a JSON object",
		"app.jsonl#0: record is not a JSON object",
		"app.jsonl#1: record is not a JSON object",
	} {
		if !strings.HasPrefix(st.Rejects[i].String(), w) {
			t.Errorf("reject %d: want %s…, got:\n%s", i, w, rejects(st))
		}
	}
	login, del, grant, export, dave, destroy := evs[0], evs[1], evs[2], evs[3], evs[4], evs[5]
	if login.Source != Source || login.Actor.User != "alice" || login.Action != "user.login" || login.Activity != "logon" ||
		login.Outcome != event.OutcomeSuccess || login.Actor.SrcIP != "10.0.0.5" || login.Attrs["jsonl.id"] != "evt-1" ||
		!login.Time.Equal(time.Date(2024, 5, 1, 10, 0, 0, 5e8, time.UTC)) {
		t.Errorf("login: %+v", login)
	}
	if k := ingest.DedupKey(&login); k != "jsonl:evt-1" {
		t.Errorf("dedup key %q", k)
	}
	if del.Actor.User != "bob" || del.Activity != "delete" || del.Resource.Name != "logs-prod" || del.Outcome != event.OutcomeDenied ||
		del.Actor.SrcIP != "192.0.2.1" || del.Actor.UserAgent != "cli/1.2" || !del.Time.Equal(time.UnixMilli(1714557601000)) {
		t.Errorf("delete: %+v", del)
	}
	if grant.Activity != "grant" || grant.Resource.Name != "db/payroll" || grant.Resource.Type != "database" ||
		grant.Outcome != event.OutcomeDenied || !grant.Time.Equal(time.Date(2024, 5, 1, 10, 0, 2, 0, time.UTC)) {
		t.Errorf("grant: %+v", grant)
	}
	if export.Activity != "read" || export.Outcome != event.OutcomeSuccess || !export.Time.Equal(time.Unix(1714557603, 0)) {
		t.Errorf("export: %+v", export)
	}
	if dave.Action != "config.update" || dave.Activity != "update" || dave.Attrs["ingest.time_missing"] != true ||
		!dave.Time.Equal(ingesttest.Now()) || dave.Outcome != event.OutcomeUnknown {
		t.Errorf("no time: %+v", dave)
	}
	if destroy.Activity != "delete" || destroy.Outcome != event.OutcomeFailure {
		t.Errorf("destroy: %+v", destroy)
	}
	views := make([]ingesttest.View, len(evs))
	for i, ev := range evs {
		views[i] = ingesttest.ViewOf(fmt.Sprint(i), ev)
	}
	ingesttest.Golden(t, "testdata/app.golden.jsonl", views)
}

func TestCustomMapping(t *testing.T) {
	m, err := ParseMapping("actor=who.login, action=what, resource=on, target=env, time=meta.when, id=meta.uid, outcome=res," +
		"outcome.ok=success, outcome.nope=denied, source=app, default.target=staging, default.class=3005, require=actor|action")
	if err != nil {
		t.Fatal(err)
	}
	res := ingesttest.ParseAll(t, &Parser{Mapping: m}, "custom.jsonl", read(t, "custom.jsonl"))
	st, evs := res.Stats, res.Events
	if st.Accepted != 2 || st.Rejected != 1 ||
		st.Rejects[0].String() != "custom.jsonl:3: field actor: required, and the record has no value at who.login" {
		t.Fatalf("%+v", st)
	}
	a, b := evs[0], evs[1]
	if a.Source != "deployer" || a.Actor.User != "alice" || a.Action != "approve_deploy" || a.Activity != "approve" ||
		a.Resource.Name != "svc/api" || a.Target != "prod" || a.Outcome != event.OutcomeSuccess || a.ClassUID != event.ClassUserAccessMgmt ||
		ingest.DedupKey(&a) != "deployer:a-1" {
		t.Errorf("a: %+v", a)
	}
	if b.Target != "staging" || b.Outcome != event.OutcomeDenied || b.Resource.Type != "" {
		t.Errorf("b: %+v", b)
	}
}

func TestParseMappingErrors(t *testing.T) {
	for spec, want := range map[string]string{
		"actor":                   `"actor" is not KEY=VALUE`,
		"who=user":                `unknown field "who"`,
		"outcome.ok=fine":         "outcome.ok=fine: want success",
		"default.outcome=maybe":   "default.outcome=maybe",
		"default.class=42":        "default.class=42 is not an OCSF class",
		"default.time=now":        "default.time: no default",
		"require=actor|nickname":  `unknown field "nickname"`,
		"actor=a.b|c,action=verb": "",
	} {
		_, err := ParseMapping(spec)
		if (want == "") != (err == nil) || (err != nil && !strings.Contains(err.Error(), want)) {
			t.Errorf("%s: %v, want %q", spec, err, want)
		}
	}
}

func TestUnmappedRequired(t *testing.T) {
	m := Mapping{Actor: "user"}
	st, err := (&Parser{Mapping: m}).Parse(strings.NewReader(`{"user":"a","action":"x"}`), "x", func(event.Event) error { return nil })
	if err != nil || st.Rejected != 1 || st.Rejects[0].String() != "x:1: field action: required but not mapped (set action=PATH)" {
		t.Errorf("%+v %v", st, err)
	}
	m.Defaults.Action = "log"
	st, _ = (&Parser{Mapping: m}).Parse(strings.NewReader(`{"user":"a","action":"x"}`), "x", func(ev event.Event) error {
		if ev.Action != "log" || ev.Actor.User != "a" {
			t.Errorf("%+v", ev)
		}
		return nil
	})
	if st.Accepted != 1 {
		t.Errorf("%+v", st)
	}
	if _, err := (&Parser{Mapping: Mapping{OutcomeMap: map[string]string{"x": "y"}}}).Parse(strings.NewReader(`{}`), "x", nil); err == nil {
		t.Error("an invalid mapping parsed")
	}
}

func TestActivity(t *testing.T) {
	for action, want := range map[string]string{
		"user.login": "logon", "DeleteBucket": "delete", "repo.destroy": "delete", "GET": "read", "role-grant": "other",
		"grant_role": "grant", "api:CreateUser": "create", "frobnicate": "other", "": "other",
	} {
		if got := activity(action); got != want {
			t.Errorf("%q: %s, want %s", action, got, want)
		}
	}
}

var _ ingest.Parser = (*Parser)(nil)
