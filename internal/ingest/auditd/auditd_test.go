package auditd

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/vigil-audit/vigil/internal/event"
	"github.com/vigil-audit/vigil/internal/ingest"
	"github.com/vigil-audit/vigil/internal/ingest/ingesttest"
)

func parse(t *testing.T, p *Parser, name string, data []byte) (ingest.Stats, []event.Event) {
	t.Helper()
	var evs []event.Event
	st, err := p.Parse(bytes.NewReader(data), name, func(ev event.Event) error {
		if err := ev.Normalize(time.Now()); err != nil {
			t.Errorf("event %d fails Normalize: %v", len(evs), err)
		}
		if _, err := event.EncodeBody(&ev); err != nil {
			t.Errorf("event %d: EncodeBody: %v", len(evs), err)
		}
		evs = append(evs, ev)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return st, evs
}

func rejects(st ingest.Stats) string {
	var b strings.Builder
	for _, r := range st.Rejects {
		fmt.Fprintf(&b, "%s (offset %d)\n", r, r.Offset)
	}
	return b.String()
}

func TestAuditLog(t *testing.T) {
	data, err := os.ReadFile("testdata/audit.log")
	if err != nil {
		t.Fatal(err)
	}
	st, evs := parse(t, &Parser{}, "audit.log", data)
	if st.Accepted != 9 || st.Rejected != 2 || st.Skipped != 0 {
		t.Fatalf("stats %d accepted, %d rejected:\n%s", st.Accepted, st.Rejected, rejects(st))
	}
	if r := st.Rejects[0]; !strings.HasPrefix(r.String(), `audit.log:21: cannot read the audit stamp "garbage"`) || r.Line != 21 || r.Offset == 0 {
		t.Errorf("reject 0: %+v", r)
	}
	if !strings.HasPrefix(st.Rejects[1].String(), `audit.log:22: not an audit record: want type=TYPE msg=audit(TIME:SERIAL): ..., got "hello world"`) {
		t.Errorf("reject 1: %s", st.Rejects[1])
	}
	byID := map[string]event.Event{}
	for _, ev := range evs {
		byID[ev.Attrs["auditd.event_id"].(string)] = ev
	}

	rm := byID["1700000000.123:4567"]
	var raw string
	if err := json.Unmarshal(rm.Raw, &raw); err != nil || len(strings.Split(raw, "\n")) != 7 || !strings.HasPrefix(raw, "type=SYSCALL msg=audit(1700000000.123:4567)") {
		t.Errorf("raw: %s (%v)", rm.Raw, err)
	}
	if rm.ClassUID != event.ClassProcessActivity || rm.Activity != "execute" || rm.Actor.User != "alice" || rm.Actor.Type != "human" ||
		rm.Actor.SessionID != "3" || rm.Action != "rm" || rm.Outcome != event.OutcomeSuccess ||
		rm.Resource.Type+"|"+rm.Resource.Name != "executable|/usr/bin/rm" ||
		rm.Attrs["auditd.cmdline"] != "rm -rf /tmp/x" || fmt.Sprint(rm.Attrs["auditd.argv"]) != "[rm -rf /tmp/x]" ||
		rm.Attrs["auditd.proctitle"] != "rm -rf /tmp/x" || rm.Attrs["auditd.cwd"] != "/home/alice" || rm.Attrs["auditd.key"] != "exec" ||
		rm.Attrs["auditd.syscall"] != "execve" || rm.Attrs["auditd.arch"] != "x86_64" || rm.Attrs["auditd.uid"] != "0" ||
		!rm.Time.Equal(time.Unix(1700000000, 123e6)) ||
		fmt.Sprint(rm.Attrs["auditd.records"]) != "[SYSCALL EXECVE CWD PATH PATH PROCTITLE]" {
		t.Errorf("execve: %+v", rm)
	}
	if k := ingest.DedupKey(&rm); k != "auditd:1700000000.123:4567" {
		t.Errorf("dedup key %q", k)
	}

	// Interleaved records are grouped by serial.
	cat, del := byID["1700000001.500:4568"], byID["1700000001.501:4569"]
	if cat.ClassUID != event.ClassFileActivity || cat.Outcome != event.OutcomeDenied || cat.Actor.User != "uid:1001" ||
		cat.Resource.Name != "/etc/shadow" || cat.Action != "cat" || cat.Attrs["auditd.cmdline"] != "cat /etc/shadow" ||
		cat.Attrs["auditd.key"] != "shadow" || len(cat.Attrs["auditd.records"].([]any)) != 4 {
		t.Errorf("openat: %+v", cat)
	}
	if del.Activity != "delete" || del.Resource.Name != "/var/log/sys 1.gz" || del.Actor.User != "uid:0" || del.Actor.Type != "system" ||
		del.Actor.SessionID != "" || del.Outcome != event.OutcomeSuccess {
		t.Errorf("unlink: %+v", del)
	}

	ssh := byID["1700000002.000:4570"]
	if ssh.ClassUID != event.ClassAuthentication || ssh.Activity != "logon" || ssh.Outcome != event.OutcomeFailure ||
		ssh.Actor.User != "root" || ssh.Actor.SrcIP != "203.0.113.9" || ssh.Action != "sshd" ||
		ssh.Resource.Type+"|"+ssh.Resource.Name != "account|root" || ssh.Attrs["auditd.op"] != "PAM:authentication" {
		t.Errorf("USER_AUTH failed: %+v", ssh)
	}
	if sudo := byID["1700000003.000:4571"]; sudo.Outcome != event.OutcomeSuccess || sudo.Actor.User != "uid:1000" || sudo.Action != "sudo" {
		t.Errorf("USER_AUTH success: %+v", sudo)
	}
	cmd := byID["1700000003.100:4572"]
	if cmd.ClassUID != event.ClassProcessActivity || cmd.Activity != "execute" || cmd.Attrs["auditd.cmdline"] != "systemctl restart nginx" ||
		cmd.Resource.Type+"|"+cmd.Resource.Name != "command|systemctl restart nginx" {
		t.Errorf("USER_CMD: %+v", cmd)
	}
	login := byID["1700000004.000:4573"]
	if login.Target != "web-1" || login.Attrs["auditd.node"] != "web-1" || login.Actor.User != "uid:1002" ||
		ingest.DedupKey(&login) != "auditd:web-1:1700000004.000:4573" {
		t.Errorf("node: %+v", login)
	}
	if add := byID["1700000005.000:4574"]; add.ClassUID != event.ClassAccountChange || add.Activity != "create" || add.Resource.Name != "carol" {
		t.Errorf("ADD_USER: %+v", add)
	}
	echo := byID["1700000006.000:4575"] // no EOE: closed at the end of the input
	if echo.Attrs["auditd.argv"].([]any)[1] != strings.Repeat("A", 20)+strings.Repeat("B", 10) ||
		echo.Attrs["auditd.argv"].([]any)[2] != "r\uFFFDsum\uFFFD \x01" || echo.Attrs["auditd.key"] != nil {
		t.Errorf("long args: %+v", echo.Attrs)
	}

	views := make([]ingesttest.View, len(evs))
	for i, ev := range evs {
		views[i] = ingesttest.ViewOf(ev.Attrs["auditd.event_id"].(string), ev)
	}
	ingesttest.Golden(t, "testdata/audit.golden.jsonl", views)
}

func TestWindow(t *testing.T) {
	var b strings.Builder
	b.WriteString("type=SYSCALL msg=audit(1700000000.000:1): arch=c000003e syscall=59 success=yes exit=0 auid=1000 uid=1000 exe=\"/usr/bin/ls\"\n")
	for i := 2; i <= 5; i++ {
		fmt.Fprintf(&b, "type=USER_CMD msg=audit(1700000000.000:%d): pid=1 uid=0 auid=1000 msg='cmd=6C73 res=success'\n", i)
	}
	b.WriteString("type=EXECVE msg=audit(1700000000.000:1): argc=1 a0=\"ls\"\n")
	st, evs := parse(t, &Parser{Window: 10}, "w", []byte(b.String()))
	if st.Accepted != 5 || len(evs[len(evs)-1].Attrs["auditd.records"].([]any)) != 2 {
		t.Errorf("within the window: %+v", st)
	}
	st, evs = parse(t, &Parser{Window: 2}, "w", []byte(b.String()))
	if st.Accepted != 6 || evs[0].Attrs["auditd.argv"] != nil {
		t.Errorf("beyond the window: %+v", st)
	}
}

func TestEmitErrorStops(t *testing.T) {
	data, _ := os.ReadFile("testdata/audit.log")
	st, err := (&Parser{}).Parse(bytes.NewReader(data), "x", func(event.Event) error { return fmt.Errorf("log down") })
	if err == nil || st.Accepted != 0 {
		t.Errorf("%+v %v", st, err)
	}
}

func TestParseFields(t *testing.T) {
	m := map[string]string{}
	parseFields(`pid=1 msg='op=x acct="a b" cmd=6C73' key=(null) a0=41 name=2F`, m, false)
	if m["pid"] != "1" || m["op"] != "x" || m["acct"] != "a b" || m["cmd"] != "ls" || m["key"] != "(null)" || m["a0"] != "41" || m["name"] != "/" {
		t.Errorf("%q", m)
	}
}
