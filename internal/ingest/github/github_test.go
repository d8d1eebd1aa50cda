package github

import (
	"strings"
	"testing"

	"github.com/vigil-audit/vigil/internal/event"
	"github.com/vigil-audit/vigil/internal/ingest/ingesttest"
)

// An export as the audit log API returns it (hand-written): a JSON array.
const export = `[
  {"@timestamp": 1714557600000, "_document_id": "doc-1", "action": "repo.destroy", "actor": "mallory", "actor_ip": "198.51.100.3", "org": "acme", "repo": "acme/payments", "user_agent": "curl/8"},
  {"created_at": 1714557660123, "action": "org.remove_member", "actor": "deploy-bot[bot]", "org": "acme", "user": "erin"},
  {"@timestamp": "soon", "action": "repo.create", "actor": "x"},
  {"actor": "x"},
  {"created_at": "2024-05-01 10:02:00.000", "action": "git.clone", "actor": "frank", "repository": "acme/web", "programmatic_access_type": "OAuth access token"}
]`

func TestExport(t *testing.T) {
	var evs []event.Event
	st, err := (&Parser{Now: ingesttest.Now}).Parse(strings.NewReader(export), "export.json", func(ev event.Event) error {
		evs = append(evs, ev)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if st.Accepted != 3 || st.Rejected != 2 || st.Rejects[0].Position != "export.json#2" ||
		!strings.Contains(st.Rejects[0].Reason, "@timestamp") || !strings.Contains(st.Rejects[1].Reason, "no action") {
		t.Fatalf("stats %+v", st)
	}
	d := evs[0]
	if d.Actor.User != "mallory" || d.Actor.SrcIP != "198.51.100.3" || d.Action != "repo.destroy" || d.Activity != "delete" ||
		d.Resource.Type != "repository" || d.Resource.Name != "acme/payments" || d.Target != "acme" ||
		d.Attrs["github.document_id"] != "doc-1" || d.Time.UnixMilli() != 1714557600000 || d.Outcome != "success" {
		t.Errorf("repo.destroy: %+v", d)
	}
	r := evs[1]
	if r.Actor.Type != "service" || r.ClassUID != event.ClassUserAccessMgmt || r.Activity != "revoke" ||
		r.Resource.Type != "organization" || r.Attrs["github.user"] != "erin" || r.Time.UnixMilli() != 1714557660123 {
		t.Errorf("org.remove_member: %+v", r)
	}
	if c := evs[2]; c.Activity != "read" || c.Resource.Name != "acme/web" || c.Time.Format("15:04") != "10:02" {
		t.Errorf("git.clone: %+v", c)
	}
}
