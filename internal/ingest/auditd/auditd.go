// Package auditd parses the Linux audit log (/var/log/audit/audit.log, as
// auditd writes it in its RAW or ENRICHED format, or as audisp forwards it with
// a node= prefix) into Vigil events.
//
// The kernel writes one event as several records with the same
// msg=audit(TIME:SERIAL) stamp (SYSCALL, EXECVE, CWD, PATH, PROCTITLE, ended by
// EOE); they are grouped into one event. Records of one event arrive together
// but may interleave with another event's: groups stay open for a bounded
// window of records (Parser.Window), and are closed by EOE, by a userspace
// record (USER_*, CRED_*, ..., which are single records), or by the end of the
// input. The event's raw record is the original lines joined by "\n", as a
// JSON string. The mapping is documented in docs/sources.md.
package auditd

import (
	"bytes"
	"cmp"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"path"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/vigil-audit/vigil/internal/event"
	"github.com/vigil-audit/vigil/internal/ingest"
)

// Source is the event source auditd events get.
const Source = "auditd"

// DefaultWindow is the number of records a group of records stays open for
// after its last record, unless Parser.Window says otherwise.
const DefaultWindow = 64

// maxOpen bounds the groups open at once.
const maxOpen = 1024

// Parser parses Linux audit logs.
type Parser struct {
	// Window is how many records after its last one an event's group is closed
	// (0 means DefaultWindow): records of one event that arrive further apart
	// give two events.
	Window int
	// Now is the time given to Normalize; nil means time.Now.
	Now func() time.Time
}

var _ ingest.Parser = (*Parser)(nil)

// Source returns "auditd".
func (p *Parser) Source() string { return Source }

// record is one line of the log.
type record struct {
	typ    string
	fields map[string]string // values unquoted, hex-encoded strings decoded
	enr    map[string]string // ENRICHED: the interpreted values after 0x1d
	line   []byte
}

// group is the records of one event.
type group struct {
	key      string // node|time:serial
	node     string
	stamp    string // time:serial
	time     time.Time
	recs     []record
	line     int   // of the first record
	off      int64 // of the first record
	lastSeen int   // number of the last record added, counted over the stream
}

// Parse reads audit records from r; see the package comment.
func (p *Parser) Parse(r io.Reader, name string, emit func(event.Event) error) (ingest.Stats, error) {
	var st ingest.Stats
	now := time.Now
	if p.Now != nil {
		now = p.Now
	}
	window := p.Window
	if window <= 0 {
		window = DefaultWindow
	}
	reject := func(line int, off int64, reason string) {
		st.Rejected++
		if len(st.Rejects) < ingest.MaxRejects {
			st.Rejects = append(st.Rejects, ingest.Reject{Position: fmt.Sprintf("%s:%d", name, line), Line: line, Offset: off, Reason: reason})
		}
	}
	open := map[string]*group{}
	var order []*group // open groups, oldest first
	flush := func(g *group) error {
		delete(open, g.key)
		ev, err := convert(g)
		if err == nil {
			err = ev.Normalize(now())
		}
		if err == nil && len(ev.Raw) > ingest.MaxRecord {
			err = fmt.Errorf("event is %d bytes; at most %d are stored", len(ev.Raw), ingest.MaxRecord)
		}
		if err != nil {
			reject(g.line, g.off, err.Error())
			return nil
		}
		if err := emit(ev); err != nil {
			return err
		}
		st.Accepted++
		return nil
	}
	// flushOld closes the groups that are complete or out of the window.
	flushOld := func(n int, all bool) error {
		kept := order[:0]
		var err error
		for _, g := range order {
			if open[g.key] != g {
				continue // closed already
			}
			if err == nil && (all || n-g.lastSeen > window || len(open) > maxOpen) {
				err = flush(g)
				continue
			}
			kept = append(kept, g)
		}
		clear(order[len(kept):])
		order = kept
		return err
	}

	lr := ingest.NewLineReader(r)
	n := 0
	for {
		data, line, off, long, err := lr.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			return st, fmt.Errorf("%s: %w", name, err)
		}
		if long {
			reject(line, off, fmt.Sprintf("record is longer than %d bytes", ingest.MaxRecord))
			continue
		}
		if len(bytes.TrimSpace(data)) == 0 {
			continue
		}
		node, rec, t, stamp, err := parseRecord(data)
		if err != nil {
			reject(line, off, err.Error())
			continue
		}
		n++
		key := node + "|" + stamp
		g := open[key]
		if g == nil {
			g = &group{key: key, node: node, stamp: stamp, time: t, line: line, off: off}
			open[key] = g
			order = append(order, g)
		}
		g.recs = append(g.recs, rec)
		g.lastSeen = n
		if rec.typ == "EOE" || (len(g.recs) == 1 && standalone(rec.typ)) {
			if err := flush(g); err != nil {
				return st, err
			}
		}
		if err := flushOld(n, false); err != nil {
			return st, err
		}
	}
	if err := flushOld(n, true); err != nil {
		return st, err
	}
	return st, nil
}

// standalone reports whether records of type typ are events of their own:
// userspace messages, which the kernel never follows with further records.
func standalone(typ string) bool {
	for _, p := range []string{"USER_", "CRED_", "DAEMON_", "SERVICE_", "ADD_", "DEL_", "GRP_", "ACCT_", "SYSTEM_", "LOGIN"} {
		if strings.HasPrefix(typ, p) {
			return true
		}
	}
	return false
}

// parseRecord reads one line: [node=N ]type=T msg=audit(SEC.MS:SERIAL): fields
// [0x1d ENRICHED fields].
func parseRecord(line []byte) (node string, rec record, t time.Time, stamp string, err error) {
	s := string(line)
	var enriched string
	if i := strings.IndexByte(s, 0x1d); i >= 0 {
		s, enriched = s[:i], s[i+1:]
	}
	if strings.HasPrefix(s, "node=") {
		sp := strings.IndexByte(s, ' ')
		if sp < 0 {
			return "", rec, t, "", errors.New("not an audit record: node= and nothing else")
		}
		node, s = s[len("node="):sp], s[sp+1:]
	}
	bad := func() error {
		return fmt.Errorf("not an audit record: want type=TYPE msg=audit(TIME:SERIAL): ..., got %q", ingest.Clip(s))
	}
	if !strings.HasPrefix(s, "type=") {
		return "", rec, t, "", bad()
	}
	sp := strings.IndexByte(s, ' ')
	if sp < 0 {
		return "", rec, t, "", bad()
	}
	rec.typ, s = s[len("type="):sp], s[sp+1:]
	if !strings.HasPrefix(s, "msg=audit(") {
		return "", rec, t, "", bad()
	}
	end := strings.Index(s, "):")
	if end < 0 {
		return "", rec, t, "", bad()
	}
	stamp, s = s[len("msg=audit("):end], s[end+2:]
	if t, err = stampTime(stamp); err != nil {
		return "", rec, t, "", err
	}
	rec.fields = map[string]string{}
	parseFields(s, rec.fields, rec.typ == "EXECVE")
	if enriched != "" {
		rec.enr = map[string]string{}
		parseFields(enriched, rec.enr, false)
	}
	rec.line = bytes.Clone(line)
	return node, rec, t, stamp, nil
}

// stampTime reads "1700000000.123:4567".
func stampTime(stamp string) (time.Time, error) {
	ts, serial, ok := strings.Cut(stamp, ":")
	sec, frac, _ := strings.Cut(ts, ".")
	s, err1 := strconv.ParseInt(sec, 10, 64)
	_, err2 := strconv.ParseUint(serial, 10, 64)
	if !ok || err1 != nil || err2 != nil || len(frac) > 9 {
		return time.Time{}, fmt.Errorf("cannot read the audit stamp %q (want SECONDS.MILLIS:SERIAL)", ingest.Clip(stamp))
	}
	var ns int64
	if frac != "" {
		f, err := strconv.ParseInt(frac, 10, 64)
		if err != nil {
			return time.Time{}, fmt.Errorf("cannot read the audit stamp %q (want SECONDS.MILLIS:SERIAL)", ingest.Clip(stamp))
		}
		ns = f
		for range 9 - len(frac) {
			ns *= 10
		}
	}
	return time.Unix(s, ns).UTC(), nil
}

// parseFields reads key=value pairs separated by spaces into m. Values are
// "quoted", 'quoted' (a userspace message: its fields are read too), or bare;
// bare values of the fields auditd hex-encodes are decoded; args (a0, a1[2])
// are such fields only in EXECVE records (SYSCALL's a0..a3 are numbers).
func parseFields(s string, m map[string]string, args bool) {
	for s != "" {
		s = strings.TrimLeft(s, " ")
		eq := strings.IndexByte(s, '=')
		if eq < 0 {
			return
		}
		key := s[:eq]
		if sp := strings.IndexByte(key, ' '); sp >= 0 { // a word without a value
			s = s[sp+1:]
			continue
		}
		s = s[eq+1:]
		var val string
		switch {
		case strings.HasPrefix(s, `"`):
			end := strings.IndexByte(s[1:], '"')
			if end < 0 {
				end = len(s) - 1
				val, s = s[1:], ""
			} else {
				val, s = s[1:end+1], s[end+2:]
			}
			setField(m, key, val)
			continue
		case strings.HasPrefix(s, `'`):
			end := strings.IndexByte(s[1:], '\'')
			if end < 0 {
				val, s = s[1:], ""
			} else {
				val, s = s[1:end+1], s[end+2:]
			}
			parseFields(val, m, args)
			continue
		}
		end := strings.IndexByte(s, ' ')
		if end < 0 {
			end = len(s)
		}
		val, s = s[:end], s[end:]
		if encoded(key, args) {
			if b, ok := unhex(val); ok {
				val = string(b)
			}
		}
		setField(m, key, val)
	}
}

// setField keeps the first value of a key: a userspace message's msg='...'
// may repeat a field (pid, uid) the record carries.
func setField(m map[string]string, k, v string) {
	if _, ok := m[k]; !ok {
		m[k] = v
	}
}

// encoded reports whether auditd writes the field key as an untrusted string:
// quoted when it is printable, hex-encoded otherwise. args says whether the
// record is an EXECVE, whose a0, a1... are such strings.
func encoded(key string, args bool) bool {
	switch key {
	case "name", "cwd", "proctitle", "comm", "exe", "cmd", "key", "acct", "path", "data", "ocomm", "watch", "grp", "new-disk", "old-disk":
		return true
	}
	if args && len(key) >= 2 && key[0] == 'a' && key[1] >= '0' && key[1] <= '9' { // a0, a1[2]
		return !strings.HasSuffix(key, "_len")
	}
	return false
}

func unhex(s string) ([]byte, bool) {
	if len(s) == 0 || len(s)%2 != 0 {
		return nil, false
	}
	b, err := hex.DecodeString(s)
	return b, err == nil
}

// Syscall numbers of execve and execveat by audit arch.
var execSyscalls = map[string][2]string{
	"c000003e": {"59", "322"},  // x86_64
	"c00000b7": {"221", "281"}, // aarch64
	"40000003": {"11", "358"},  // i386
	"40000028": {"11", "387"},  // arm
}

func convert(g *group) (event.Event, error) {
	var prim *record
	for i := range g.recs {
		if g.recs[i].typ == "SYSCALL" {
			prim = &g.recs[i]
			break
		}
	}
	if prim == nil {
		prim = &g.recs[0]
	}
	find := func(typ string) *record {
		for i := range g.recs {
			if g.recs[i].typ == typ {
				return &g.recs[i]
			}
		}
		return nil
	}
	f := prim.fields
	attrs := map[string]any{
		"auditd.event_id": g.stamp,
		"auditd.type":     prim.typ,
	}
	var types []any
	lines := make([]string, len(g.recs))
	for i, r := range g.recs {
		lines[i] = string(r.line)
		if r.typ != "EOE" {
			types = append(types, r.typ)
		}
	}
	attrs["auditd.records"] = types
	ingest.SetAttr(attrs, "auditd.node", g.node)
	for _, k := range []string{"pid", "ppid", "auid", "uid", "euid", "gid", "ses", "tty", "comm", "exe", "exit",
		"success", "op", "acct", "terminal", "hostname", "addr", "res", "items"} {
		ingest.SetAttr(attrs, "auditd."+k, f[k])
	}
	if k := f["key"]; k != "" && k != "(null)" {
		attrs["auditd.key"] = k
	}
	if prim.typ == "SYSCALL" {
		ingest.SetAttr(attrs, "auditd.arch", cmp.Or(prim.enr["ARCH"], f["arch"]))
		ingest.SetAttr(attrs, "auditd.syscall", cmp.Or(prim.enr["SYSCALL"], f["syscall"]))
	}

	ev := event.Event{
		Source:  Source,
		Time:    g.time,
		Attrs:   attrs,
		Outcome: event.OutcomeUnknown,
		Target:  g.node,
	}
	ev.Actor = actor(prim)
	if ses := f["ses"]; ses != "" && ses != "4294967295" {
		ev.Actor.SessionID = ses
	}
	if a := f["addr"]; net.ParseIP(a) != nil {
		ev.Actor.SrcIP = a
	}
	ev.Action = prim.typ
	if exe := f["exe"]; exe != "" && exe != "?" && exe != "(null)" {
		ev.Action = path.Base(exe)
	}

	// Command line: EXECVE's arguments, else the process title, else sudo's cmd.
	var argv []string
	if ex := find("EXECVE"); ex != nil {
		argv = execArgs(ex.fields)
		list := make([]any, len(argv))
		for i, a := range argv {
			list[i] = a
		}
		attrs["auditd.argv"] = list
	}
	if pt := find("PROCTITLE"); pt != nil && pt.fields["proctitle"] != "" {
		attrs["auditd.proctitle"] = strings.ReplaceAll(strings.TrimRight(pt.fields["proctitle"], "\x00"), "\x00", " ")
	}
	switch {
	case argv != nil:
		attrs["auditd.cmdline"] = strings.Join(argv, " ")
	case attrs["auditd.proctitle"] != nil:
		attrs["auditd.cmdline"] = attrs["auditd.proctitle"]
	case f["cmd"] != "":
		attrs["auditd.cmdline"] = f["cmd"]
	}
	if cwd := find("CWD"); cwd != nil {
		ingest.SetAttr(attrs, "auditd.cwd", cwd.fields["cwd"])
	}
	var paths []any
	var file, nametype string
	for _, r := range g.recs {
		if r.typ != "PATH" || r.fields["name"] == "" || r.fields["name"] == "(null)" {
			continue
		}
		paths = append(paths, r.fields["name"])
		if nt := r.fields["nametype"]; file == "" || (nametype == "PARENT" && nt != "PARENT") {
			file, nametype = r.fields["name"], nt
		}
	}
	if paths != nil {
		attrs["auditd.paths"] = paths
	}

	// Outcome.
	switch strings.ToLower(cmp.Or(f["success"], f["res"])) {
	case "yes", "success", "1":
		ev.Outcome = event.OutcomeSuccess
	case "no", "failed", "0":
		ev.Outcome = event.OutcomeFailure
		if x := f["exit"]; x == "-13" || x == "-1" || x == "EACCES" || x == "EPERM" {
			ev.Outcome = event.OutcomeDenied
		}
	}

	// Class, activity and resource.
	acct := f["acct"]
	if acct == "?" || acct == "(unknown)" {
		acct = ""
	}
	exec := find("EXECVE") != nil
	if prim.typ == "SYSCALL" {
		sc := cmp.Or(prim.enr["SYSCALL"], f["syscall"])
		if nums, ok := execSyscalls[f["arch"]]; ok && (sc == nums[0] || sc == nums[1]) || sc == "execve" || sc == "execveat" {
			exec = true
		}
	}
	switch {
	case prim.typ == "SYSCALL" && exec:
		ev.ClassUID, ev.Activity = event.ClassProcessActivity, "execute"
		ev.Resource = event.Resource{Type: "executable", Name: short(cmp.Or(f["exe"], file))}
	case prim.typ == "SYSCALL" && file != "":
		ev.ClassUID, ev.Activity = event.ClassFileActivity, "other"
		switch nametype {
		case "CREATE":
			ev.Activity = "create"
		case "DELETE":
			ev.Activity = "delete"
		}
		ev.Resource = event.Resource{Type: "file", Name: short(file)}
	case prim.typ == "SYSCALL":
		ev.ClassUID, ev.Activity = event.ClassProcessActivity, "other"
	case prim.typ == "USER_AUTH" || prim.typ == "USER_LOGIN" || prim.typ == "USER_ERR" || prim.typ == "USER_ACCT" ||
		prim.typ == "USER_LOGOUT" || prim.typ == "LOGIN" || prim.typ == "ANOM_LOGIN_FAILURES":
		ev.ClassUID, ev.Activity = event.ClassAuthentication, "logon"
		if prim.typ == "USER_LOGOUT" {
			ev.Activity = "logoff"
		}
		if acct != "" {
			ev.Resource = event.Resource{Type: "account", Name: short(acct)}
		}
	case prim.typ == "USER_CMD":
		ev.ClassUID, ev.Activity = event.ClassProcessActivity, "execute"
		ev.Resource = event.Resource{Type: "command", Name: short(f["cmd"])}
	case strings.HasPrefix(prim.typ, "ADD_") || strings.HasPrefix(prim.typ, "DEL_") || prim.typ == "USER_MGMT" ||
		prim.typ == "GRP_MGMT" || prim.typ == "USER_CHAUTHTOK" || prim.typ == "GRP_CHAUTHTOK" ||
		strings.HasPrefix(prim.typ, "ACCT_") || prim.typ == "USER_ROLE_CHANGE":
		ev.ClassUID, ev.Activity = event.ClassAccountChange, "update"
		switch {
		case strings.HasPrefix(prim.typ, "ADD_"):
			ev.Activity = "create"
		case strings.HasPrefix(prim.typ, "DEL_"):
			ev.Activity = "delete"
		}
		if name := cmp.Or(acct, f["id"]); name != "" {
			ev.Resource = event.Resource{Type: "account", Name: short(name)}
		}
	default:
		ev.ClassUID, ev.Activity = event.ClassAPIActivity, "other"
	}

	sanitize(&ev)
	var raw bytes.Buffer
	enc := json.NewEncoder(&raw)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(strings.Join(lines, "\n")); err != nil {
		return event.Event{}, err
	}
	ev.Raw = bytes.TrimSuffix(raw.Bytes(), []byte{'\n'})
	return ev, nil
}

// actor is the login user (auid) that the kernel keeps through su and sudo,
// by the name the ENRICHED format gives or as uid:N; for records without one
// (a daemon, a login attempt) the account authenticated (acct), else the
// uid.
func actor(r *record) event.Actor {
	f := r.fields
	if auid := f["auid"]; auid != "" && auid != "4294967295" && auid != "-1" && auid != "unset" {
		name := r.enr["AUID"]
		if name == "" || name == "unset" || strings.HasPrefix(name, "unknown(") {
			name = "uid:" + auid
		}
		return event.Actor{User: name, Type: "human"}
	}
	if acct := f["acct"]; acct != "" && acct != "?" && acct != "(unknown)" {
		return event.Actor{User: acct}
	}
	if uid := f["uid"]; uid != "" {
		name := r.enr["UID"]
		if name == "" || strings.HasPrefix(name, "unknown(") {
			name = "uid:" + uid
		}
		return event.Actor{User: name, Type: "system"}
	}
	return event.Actor{User: ingest.Unknown}
}

// execArgs returns EXECVE's arguments a0..a(argc-1), joining the pieces
// (a1[0], a1[1], ...) auditd splits long arguments into.
func execArgs(f map[string]string) []string {
	argc, err := strconv.Atoi(f["argc"])
	if err != nil || argc < 0 || argc > 1<<16 {
		argc = 0
		for {
			if _, ok := f["a"+strconv.Itoa(argc)]; !ok {
				if _, ok := f["a"+strconv.Itoa(argc)+"[0]"]; !ok {
					break
				}
			}
			argc++
		}
	}
	out := make([]string, 0, argc)
	for i := range argc {
		k := "a" + strconv.Itoa(i)
		if v, ok := f[k]; ok {
			out = append(out, v)
			continue
		}
		var b strings.Builder
		for j := 0; ; j++ {
			v, ok := f[k+"["+strconv.Itoa(j)+"]"]
			if !ok {
				break
			}
			b.WriteString(v)
		}
		out = append(out, b.String())
	}
	return out
}

// sanitize makes every string of ev valid UTF-8 (hex-decoded values are
// bytes).
func sanitize(ev *event.Event) {
	fix := func(s *string) {
		if !utf8.ValidString(*s) {
			*s = strings.ToValidUTF8(*s, "\uFFFD")
		}
	}
	fix(&ev.Actor.User)
	fix(&ev.Action)
	fix(&ev.Resource.Name)
	fix(&ev.Target)
	for k, v := range ev.Attrs {
		switch v := v.(type) {
		case string:
			fix(&v)
			ev.Attrs[k] = v
		case []any:
			for i, x := range v {
				if s, ok := x.(string); ok {
					fix(&s)
					v[i] = s
				}
			}
		}
	}
}

// short cuts s to the 1024 bytes a name-like field may hold.
func short(s string) string {
	const max = 1024
	if len(s) <= max {
		return s
	}
	s = s[:max-len("…")]
	for !utf8.ValidString(s) && len(s) > 0 {
		s = s[:len(s)-1]
	}
	return s + "…"
}
