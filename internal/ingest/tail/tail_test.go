package tail_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/vigil-audit/vigil/internal/auditlog"
	"github.com/vigil-audit/vigil/internal/event"
	"github.com/vigil-audit/vigil/internal/ingest/cloudtrail"
	"github.com/vigil-audit/vigil/internal/ingest/k8saudit"
	"github.com/vigil-audit/vigil/internal/ingest/tail"
	"github.com/vigil-audit/vigil/internal/store"
	"github.com/vigil-audit/vigil/internal/store/sqlite"
)

func k8sLine(id string) string {
	return fmt.Sprintf(`{"kind":"Event","apiVersion":"audit.k8s.io/v1","level":"Metadata","auditID":%q,"stage":"ResponseComplete","verb":"get","user":{"username":"bob"},"sourceIPs":["10.0.0.9"],"objectRef":{"resource":"pods","namespace":"prod","name":"web"},"responseStatus":{"code":200},"requestReceivedTimestamp":"2026-01-02T03:04:05.000000Z","stageTimestamp":"2026-01-02T03:04:05.100000Z"}`, id)
}

type env struct {
	t   *testing.T
	dir string
	st  store.Store
	log *auditlog.Log
}

func newEnv(t *testing.T) *env {
	dir := t.TempDir()
	st, err := sqlite.Open(context.Background(), filepath.Join(dir, "vigil.db"))
	if err != nil {
		t.Fatal(err)
	}
	s, v, _ := auditlog.LoadOrCreateKey(dir, "vigil.test/tail")
	l, err := auditlog.Open(context.Background(), auditlog.Options{Store: st, Signer: s, Verifier: v})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close(); st.Close() })
	return &env{t: t, dir: dir, st: st, log: l}
}

// ids returns the audit ids in the log, in order.
func (e *env) ids() string {
	var out []string
	e.st.ScanEntries(context.Background(), 0, func(en *store.Entry) error {
		ev, err := event.Decode(en.Payload)
		if err != nil {
			e.t.Fatal(err)
		}
		if id, _ := ev.Attrs["k8s.audit_id"].(string); id != "" {
			out = append(out, id)
		} else if id, _ := ev.Attrs["aws.event_id"].(string); id != "" {
			out = append(out, id)
		}
		return nil
	})
	return strings.Join(out, ",")
}

func appendFile(t *testing.T, path, text string) {
	f, err := os.OpenFile(path, os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o644)
	if err != nil {
		t.Fatal(err)
	}
	f.WriteString(text)
	f.Close()
}

func TestFollowRotateTruncateRestart(t *testing.T) {
	e := newEnv(t)
	logs := t.TempDir()
	path := filepath.Join(logs, "audit.log")
	newTailer := func() *tail.Tailer { return &tail.Tailer{Parser: &k8saudit.Parser{}, Path: logs, Log: e.log} }
	tl := newTailer()
	poll := func(want string) {
		t.Helper()
		if _, err := tl.Poll(context.Background()); err != nil {
			t.Fatal(err)
		}
		if got := e.ids(); got != want {
			t.Fatalf("log holds %s; want %s", got, want)
		}
	}
	poll("") // the file does not exist yet
	appendFile(t, path, k8sLine("a1")+"\n"+k8sLine("a2")+"\n"+k8sLine("a3")[:40])
	poll("a1,a2") // the unfinished third line waits
	appendFile(t, path, k8sLine("a3")[40:]+"\n")
	poll("a1,a2,a3")
	poll("a1,a2,a3") // nothing new

	// A restart: a new tailer continues from the stored offset.
	tl = newTailer()
	appendFile(t, path, k8sLine("a4")+"\n")
	poll("a1,a2,a3,a4")

	// Rotation: the file is renamed and a new one started.
	if err := os.Rename(path, filepath.Join(logs, "audit-1.log")); err != nil {
		t.Fatal(err)
	}
	appendFile(t, path, k8sLine("b1")+"\n")
	poll("a1,a2,a3,a4,b1")

	// Truncation: read again from the start; what was read is not repeated.
	if err := os.WriteFile(path, []byte(k8sLine("b1")+"\n"+k8sLine("b2")+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	poll("a1,a2,a3,a4,b1,b2")

	// A crash after the append but before the offset was stored: the
	// records are read again and recognised.
	if err := e.st.SetOffset(context.Background(), "k8s-audit:"+path, store.Offset{Ident: "lost", Pos: 0}); err != nil {
		t.Fatal(err)
	}
	poll("a1,a2,a3,a4,b1,b2")
}

func TestWholeDocuments(t *testing.T) {
	e := newEnv(t)
	logs := t.TempDir()
	rec := `{"eventVersion":"1.08","userIdentity":{"type":"IAMUser","userName":"alice","arn":"arn:aws:iam::1:user/alice","accountId":"1"},"eventTime":"2026-01-02T03:04:05Z","eventSource":"cloudtrail.amazonaws.com","eventName":"StopLogging","awsRegion":"us-east-1","sourceIPAddress":"198.51.100.7","eventID":"EID","recipientAccountId":"1"}`
	doc := "{\n  \"Records\": [\n    " + strings.Replace(rec, "EID", "c1", 1) + ",\n    " + strings.Replace(rec, "EID", "c2", 1) + "\n  ]\n}\n"
	path := filepath.Join(logs, "trail.json")
	os.WriteFile(path, []byte(doc[:len(doc)/2]), 0o644) // being written
	tl := &tail.Tailer{Parser: &cloudtrail.Parser{}, Path: logs, Log: e.log, Whole: true}
	for i, want := range []string{"", "", "c1,c2", "c1,c2"} {
		if i == 1 {
			os.WriteFile(path, []byte(doc), 0o644) // finished
		}
		st, err := tl.Poll(context.Background())
		if err != nil || st.Rejected != 0 {
			t.Fatalf("poll %d: %v, %d rejected %v", i, err, st.Rejected, st.Rejects)
		}
		if got := e.ids(); got != want {
			t.Fatalf("poll %d: log holds %q; want %q", i, got, want)
		}
	}
}
