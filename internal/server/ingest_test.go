package server_test

import (
	"bytes"
	"compress/gzip"
	"context"
	"encoding/json"
	"net/http"
	"strings"
	"testing"

	"github.com/vigil-audit/vigil/internal/event"
)

const trailRecord = `{"eventVersion":"1.08","userIdentity":{"type":"IAMUser","userName":"alice","arn":"arn:aws:iam::1:user/alice","accountId":"1"},"eventTime":"2026-01-02T03:04:05Z","eventSource":"cloudtrail.amazonaws.com","eventName":"StopLogging","awsRegion":"us-east-1","sourceIPAddress":"198.51.100.7","requestParameters":{"name":"main-trail"},"eventID":"EID","recipientAccountId":"1"}`

type ingestResp struct {
	Accepted, Rejected, Skipped, Duplicates, Appended int
	FirstSeq                                          *uint64 `json:"first_seq"`
	LastSeq                                           *uint64 `json:"last_seq"`
	Rejects                                           []struct{ Position, Reason string }
}

// TestIngestEndpoint: a source's native body in; good records appended, bad
// ones listed with their position, gzip taken by content.
func TestIngestEndpoint(t *testing.T) {
	e := newEnv(t, 0)
	records := func(a, b string) string {
		return `{"Records":[` + strings.Replace(trailRecord, "EID", a, 1) + `,{"eventTime":"not a time"},` +
			strings.Replace(trailRecord, "EID", b, 1) + `]}`
	}
	body := records("e1", "e2")
	var gz bytes.Buffer
	zw := gzip.NewWriter(&gz)
	zw.Write([]byte(records("e3", "e4")))
	zw.Close()
	for _, in := range [][]byte{[]byte(body), gz.Bytes()} {
		before := e.size()
		r := e.do("POST", "/v1/ingest/cloudtrail", e.user, in)
		var got ingestResp
		if err := json.Unmarshal(r.body, &got); err != nil || r.status != http.StatusOK {
			t.Fatalf("status %d %s", r.status, r.body)
		}
		if got.Accepted != 2 || got.Rejected != 1 || len(got.Rejects) != 1 || got.Rejects[0].Position != "body#1" ||
			got.FirstSeq == nil || *got.FirstSeq != before || *got.LastSeq != before+1 {
			t.Fatalf("ingest answer %s", r.body)
		}
		if e.size() != before+3 {
			t.Fatalf("log grew by %d; want the 2 records and 1 dead letter", e.size()-before)
		}
		if dl := e.last(); dl.Source != "vigil/ingest" || dl.Action != "ingest.reject" || dl.Attrs["ingest.position"] != "body#1" {
			t.Fatalf("dead letter %+v", dl)
		}
		en, _ := e.st.Entry(context.Background(), e.size()-2)
		ev, _ := event.Decode(en.Payload)
		if ev.Source != "cloudtrail" || ev.Action != "StopLogging" || ev.Actor.User != "alice" || !bytes.Contains(ev.Raw, []byte(`"eventID":"e`)) {
			t.Fatalf("stored event %+v", ev)
		}
	}
	// The same records delivered again are stored once: only e5 is new.
	before := e.size()
	r := e.do("POST", "/v1/ingest/cloudtrail", e.user, []byte(records("e2", "e5")))
	var again ingestResp
	json.Unmarshal(r.body, &again)
	if r.status != 200 || again.Appended != 1 || again.Duplicates != 1 || e.size() != before+2 {
		t.Fatalf("re-delivery: %s; log grew by %d", r.body, e.size()-before)
	}
	// The Kubernetes API server's webhook backend posts an EventList.
	list := `{"kind":"EventList","apiVersion":"audit.k8s.io/v1","items":[{"kind":"Event","apiVersion":"audit.k8s.io/v1","level":"Metadata","auditID":"a1","stage":"ResponseComplete","requestURI":"/api/v1/namespaces/prod/secrets/db","verb":"delete","user":{"username":"bob","groups":["system:authenticated"]},"sourceIPs":["10.0.0.9"],"objectRef":{"resource":"secrets","namespace":"prod","name":"db","apiVersion":"v1"},"responseStatus":{"code":200},"requestReceivedTimestamp":"2026-01-02T03:04:05.000000Z","stageTimestamp":"2026-01-02T03:04:05.100000Z"}]}`
	r = e.do("POST", "/v1/ingest/k8s-audit", e.user, []byte(list))
	if r.status != http.StatusOK || !strings.Contains(string(r.body), `"accepted":1`) {
		t.Fatalf("k8s webhook: %d %s", r.status, r.body)
	}
	if ev := e.last(); ev.Source != "k8s-audit" || ev.Action != "delete" || ev.Actor.User != "bob" {
		t.Fatalf("stored k8s event %+v", ev)
	}
	e.do("POST", "/v1/ingest/syslog", e.user, []byte("x")).wantError(t, 404, `unknown source "syslog" (want one of auditd, cloudtrail, github, jsonl, k8s-audit, pgaudit)`)
	if r := e.do("POST", "/v1/ingest/cloudtrail", "", []byte(body)); r.status != 401 {
		t.Fatalf("no token: %d", r.status)
	}
}
