package jsonl_test

import (
	"strings"
	"testing"

	"github.com/vigil-audit/vigil/internal/event"
	"github.com/vigil-audit/vigil/internal/ingest/sources"
)

// The new sources are registered by name, and jsonl takes its mapping after a
// colon.
func TestSources(t *testing.T) {
	for _, name := range []string{"pgaudit", "auditd", "jsonl"} {
		if p, ok := sources.Parser(name); !ok || p.Source() != name {
			t.Errorf("%s not registered", name)
		}
	}
	p, ok := sources.Parser("jsonl:actor=who,action=what,default.target=prod")
	if !ok {
		t.Fatal("jsonl:SPEC not accepted")
	}
	var got event.Event
	st, err := p.Parse(strings.NewReader(`{"who":"a","what":"delete_user"}`), "x", func(ev event.Event) error { got = ev; return nil })
	if err != nil || st.Accepted != 1 || got.Actor.User != "a" || got.Action != "delete_user" || got.Target != "prod" || got.Activity != "delete" {
		t.Errorf("%+v %v %+v", st, err, got)
	}
	p, ok = sources.Parser("jsonl:who=x")
	if !ok {
		t.Fatal("a bad mapping is not reported")
	}
	if _, err := p.Parse(strings.NewReader(`{}`), "x", nil); err == nil || !strings.Contains(err.Error(), `unknown field "who"`) {
		t.Errorf("bad mapping: %v", err)
	}
}
