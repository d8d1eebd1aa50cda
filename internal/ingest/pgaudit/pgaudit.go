// Package pgaudit parses PostgreSQL server logs written with the pgaudit
// extension into Vigil events.
//
// It reads the two structured log destinations: csvlog (PostgreSQL 15's 26
// columns; the 23 to 25 columns of PostgreSQL 12 to 14 are accepted too) and
// jsonlog (one JSON object per line), and may be given a mix of both, line by
// line. A log line whose message is a pgaudit entry (`AUDIT: SESSION,...` or
// `AUDIT: OBJECT,...`) becomes a Datastore Activity event; a failed login
// (FATAL with SQLSTATE 28P01 or 28000: wrong password, no or a rejecting
// pg_hba.conf entry, unknown role) becomes an Authentication event; every
// other line is skipped. The mapping is documented in docs/sources.md.
//
// The raw record of a csvlog line is the CSV record as written (a JSON string);
// that of a jsonlog line is the JSON object.
package pgaudit

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"strconv"
	"strings"
	"time"

	"github.com/vigil-audit/vigil/internal/event"
	"github.com/vigil-audit/vigil/internal/ingest"
)

// Source is the event source pgaudit events get.
const Source = "pgaudit"

// Parser parses PostgreSQL csvlog and jsonlog input.
type Parser struct {
	// TimeZone resolves zone abbreviations in log times other than UTC and
	// GMT (log_timezone = 'Europe/Berlin' writes "CEST"); numeric zones need
	// none. nil means the local time zone. A time whose abbreviation neither
	// knows is rejected rather than guessed.
	TimeZone *time.Location
	// Now is the time given to Normalize; nil means time.Now.
	Now func() time.Time
}

var _ ingest.Parser = (*Parser)(nil)

// Source returns "pgaudit".
func (p *Parser) Source() string { return Source }

// Parse reads PostgreSQL log records from r; see the package comment.
func (p *Parser) Parse(r io.Reader, name string, emit func(event.Event) error) (ingest.Stats, error) {
	var st ingest.Stats
	now := time.Now
	if p.Now != nil {
		now = p.Now
	}
	reject := func(line int, off int64, reason string) {
		st.Rejected++
		if len(st.Rejects) < ingest.MaxRejects {
			st.Rejects = append(st.Rejects, ingest.Reject{Position: fmt.Sprintf("%s:%d", name, line), Line: line, Offset: off, Reason: reason})
		}
	}
	record := func(data []byte, line int, off int64, json bool) error {
		var ev event.Event
		var err error
		if json {
			ev, err = p.convertJSON(data)
		} else {
			ev, err = p.convertCSV(data)
		}
		if err == nil {
			err = ev.Normalize(now())
		}
		var skip *ingest.SkipError
		switch {
		case errors.As(err, &skip):
			st.Skipped++
			return nil
		case err != nil:
			reject(line, off, err.Error())
			return nil
		}
		if err := emit(ev); err != nil {
			return err
		}
		st.Accepted++
		return nil
	}

	lr := ingest.NewLineReader(r)
	var pending []byte // a csvlog record continued on the next line
	var pendLine int
	var pendOff int64
	for {
		data, line, off, long, err := lr.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			return st, fmt.Errorf("%s: %w", name, err)
		}
		if pending != nil {
			if !recordStart(data) && !long && len(pending)+len(data) < ingest.MaxRecord {
				pending = append(append(pending, '\n'), data...)
				if quotes(pending)%2 == 0 {
					if err := record(pending, pendLine, pendOff, false); err != nil {
						return st, err
					}
					pending = nil
				}
				continue
			}
			reason := "record ends inside a quoted field"
			if !recordStart(data) {
				reason = fmt.Sprintf("record is longer than %d bytes", ingest.MaxRecord)
			}
			reject(pendLine, pendOff, reason)
			pending = nil
		}
		switch {
		case long:
			reject(line, off, fmt.Sprintf("record is longer than %d bytes", ingest.MaxRecord))
		case len(bytes.TrimSpace(data)) == 0:
		case data[0] == '{':
			if err := record(data, line, off, true); err != nil {
				return st, err
			}
		case quotes(data)%2 == 1:
			pending, pendLine, pendOff = append([]byte(nil), data...), line, off
		default:
			if err := record(data, line, off, false); err != nil {
				return st, err
			}
		}
	}
	if pending != nil {
		reject(pendLine, pendOff, "record ends inside a quoted field")
	}
	return st, nil
}

func quotes(b []byte) int { return bytes.Count(b, []byte{'"'}) }

// recordStart reports whether a line starts as a csvlog record does, with a
// log time ("2024-05-01 10:00:00"): a record left open by a missing quote is
// then ended there instead of swallowing the lines after it.
func recordStart(b []byte) bool {
	const pat = "dddd-dd-dd dd:dd:dd"
	if len(b) < len(pat) {
		return false
	}
	for i := range len(pat) {
		if pat[i] == 'd' {
			if b[i] < '0' || b[i] > '9' {
				return false
			}
		} else if b[i] != pat[i] {
			return false
		}
	}
	return true
}

// logRecord is one server log record, from either destination.
type logRecord struct {
	format      string // csvlog | jsonlog
	time        string
	user        string
	db          string
	pid         string
	remoteHost  string
	remotePort  string // jsonlog only; csvlog writes host:port
	sessionID   string
	lineNum     string
	commandTag  string
	severity    string
	sqlstate    string
	message     string
	detail      string
	query       string
	application string
	backendType string
	queryID     string
}

// csvColumns is the number of csvlog columns PostgreSQL 15 writes; 12 wrote
// 23, 13 added backend_type, 14 leader_pid and query_id.
const csvColumns = 26

func (p *Parser) convertCSV(data []byte) (event.Event, error) {
	f, err := splitCSV(string(data))
	if err != nil {
		return event.Event{}, fmt.Errorf("csvlog: %w", err)
	}
	if len(f) < 23 || len(f) > csvColumns {
		return event.Event{}, fmt.Errorf("csvlog: record has %d fields; PostgreSQL writes %d (23 to 25 before version 15)", len(f), csvColumns)
	}
	col := func(i int) string {
		if i < len(f) {
			return f[i]
		}
		return ""
	}
	rec := logRecord{format: "csvlog", time: f[0], user: f[1], db: f[2], pid: f[3], sessionID: f[5],
		lineNum: f[6], commandTag: f[7], severity: f[11], sqlstate: f[12], message: f[13], detail: f[14],
		query: f[19], application: f[22], backendType: col(23), queryID: col(25)}
	rec.remoteHost, rec.remotePort = splitHostPort(f[4])
	raw, err := json.Marshal(string(data))
	if err != nil {
		return event.Event{}, err
	}
	return p.convert(&rec, raw)
}

// splitHostPort splits csvlog's connection_from ("10.0.0.5:5432",
// "::1:5432", "[local]").
func splitHostPort(s string) (string, string) {
	i := strings.LastIndexByte(s, ':')
	if i < 0 || s == "[local]" {
		return s, ""
	}
	host, port := s[:i], s[i+1:]
	if _, err := strconv.Atoi(port); err != nil {
		return s, ""
	}
	if strings.Contains(host, ":") && net.ParseIP(host) == nil {
		return s, "" // an IPv6 address without a port
	}
	return host, port
}

type jsonRecord struct {
	Timestamp   string      `json:"timestamp"`
	User        string      `json:"user"`
	DBName      string      `json:"dbname"`
	PID         ingest.Lazy `json:"pid"`
	RemoteHost  string      `json:"remote_host"`
	RemotePort  ingest.Lazy `json:"remote_port"`
	SessionID   string      `json:"session_id"`
	LineNum     ingest.Lazy `json:"line_num"`
	PS          string      `json:"ps"`
	Severity    string      `json:"error_severity"`
	StateCode   string      `json:"state_code"`
	Message     string      `json:"message"`
	Detail      string      `json:"detail"`
	Statement   string      `json:"statement"`
	Application string      `json:"application_name"`
	BackendType string      `json:"backend_type"`
	QueryID     ingest.Lazy `json:"query_id"`
}

func (p *Parser) convertJSON(data []byte) (event.Event, error) {
	var j jsonRecord
	if err := ingest.Decode(data, &j); err != nil {
		return event.Event{}, fmt.Errorf("jsonlog: %w", err)
	}
	if j.Timestamp == "" && j.Severity == "" && j.Message == "" {
		return event.Event{}, errors.New("jsonlog: no timestamp, error_severity or message: not a PostgreSQL log record")
	}
	rec := logRecord{format: "jsonlog", time: j.Timestamp, user: j.User, db: j.DBName, pid: j.PID.String(),
		remoteHost: j.RemoteHost, remotePort: j.RemotePort.String(), sessionID: j.SessionID,
		lineNum: j.LineNum.String(), commandTag: j.PS, severity: j.Severity, sqlstate: j.StateCode,
		message: j.Message, detail: j.Detail, query: j.Statement, application: j.Application,
		backendType: j.BackendType, queryID: j.QueryID.String()}
	return p.convert(&rec, bytes.Clone(data))
}

func (p *Parser) convert(rec *logRecord, raw []byte) (event.Event, error) {
	var ev event.Event
	var err error
	switch {
	case strings.HasPrefix(rec.message, "AUDIT: "):
		ev, err = audit(rec)
	case authFailure(rec):
		ev = login(rec)
	default:
		return event.Event{}, ingest.Skip("not an audit entry or a failed login")
	}
	if err != nil {
		return event.Event{}, err
	}
	if ev.Time, err = p.parseTime(rec.time); err != nil {
		return event.Event{}, err
	}
	ev.Source = Source
	ev.Raw = raw
	ev.Actor.User = rec.user
	if ev.Actor.User == "" {
		ev.Actor.User = ingest.Unknown
	}
	if net.ParseIP(rec.remoteHost) != nil {
		ev.Actor.SrcIP = rec.remoteHost
	}
	ev.Actor.SessionID = rec.sessionID
	ev.Actor.UserAgent = rec.application
	ev.Target = rec.db
	a := ev.Attrs
	a["postgres.log_format"] = rec.format
	ingest.SetAttr(a, "postgres.database", rec.db)
	ingest.SetAttr(a, "postgres.session_id", rec.sessionID)
	ingest.SetAttr(a, "postgres.session_line_num", rec.lineNum)
	ingest.SetAttr(a, "postgres.pid", rec.pid)
	ingest.SetAttr(a, "postgres.remote_host", rec.remoteHost)
	ingest.SetAttr(a, "postgres.remote_port", rec.remotePort)
	ingest.SetAttr(a, "postgres.application_name", rec.application)
	ingest.SetAttr(a, "postgres.backend_type", rec.backendType)
	ingest.SetAttr(a, "postgres.severity", rec.severity)
	if rec.sqlstate != "00000" { // jsonlog leaves successful completion out
		ingest.SetAttr(a, "postgres.sqlstate", rec.sqlstate)
	}
	if rec.queryID != "0" {
		ingest.SetAttr(a, "postgres.query_id", rec.queryID)
	}
	return ev, nil
}

// Audit classes (pgaudit.log) and the activity each maps to.
var classActivity = map[string]string{
	"READ": "read", "WRITE": "update", "DDL": "update", "ROLE": "grant",
	"FUNCTION": "execute", "MISC": "other", "MISC_SET": "other",
}

// audit maps a pgaudit entry: AUDIT: <audit type>,<statement id>,
// <substatement id>,<class>,<command>,<object type>,<object name>,<statement>,
// <parameter>[,<rows>].
func audit(rec *logRecord) (event.Event, error) {
	f, err := splitCSV(strings.TrimPrefix(rec.message, "AUDIT: "))
	if err != nil {
		return event.Event{}, fmt.Errorf("pgaudit entry: %w", err)
	}
	if len(f) < 9 {
		return event.Event{}, fmt.Errorf("pgaudit entry has %d fields; want 9 (audit type, statement id, substatement id, class, command, object type, object name, statement, parameter)", len(f))
	}
	typ, class, command, objType, objName, stmt, param := f[0], f[3], f[4], f[5], f[6], f[7], f[8]
	if typ != "SESSION" && typ != "OBJECT" {
		return event.Event{}, fmt.Errorf("pgaudit entry: audit type %q is neither SESSION nor OBJECT", ingest.Clip(typ))
	}
	activity, ok := classActivity[class]
	if !ok {
		return event.Event{}, fmt.Errorf("pgaudit entry: unknown class %q", ingest.Clip(class))
	}
	switch {
	case class == "DDL" && strings.HasPrefix(command, "DROP"):
		activity = "delete"
	case class == "ROLE" && strings.HasPrefix(command, "REVOKE"):
		activity = "revoke"
	}
	attrs := map[string]any{
		"pgaudit.audit_type": typ,
		"pgaudit.class":      class,
	}
	for _, x := range []struct {
		k, v string
	}{{"pgaudit.statement_id", f[1]}, {"pgaudit.substatement_id", f[2]}} {
		n, err := strconv.ParseInt(x.v, 10, 64)
		if err != nil {
			return event.Event{}, fmt.Errorf("pgaudit entry: %s %q is not a number", x.k[len("pgaudit."):], ingest.Clip(x.v))
		}
		attrs[x.k] = n
	}
	ingest.SetAttr(attrs, "pgaudit.object_type", objType)
	ingest.SetAttr(attrs, "pgaudit.object_name", objName)
	switch stmt {
	case "<previously logged>":
		attrs["pgaudit.previously_logged"] = true
	case "<not logged>":
	default:
		ingest.SetAttr(attrs, "sql.text", stmt)
	}
	if param != "<not logged>" && param != "<none>" && param != "" {
		attrs["pgaudit.parameter"] = param
	}
	if len(f) > 9 {
		if n, err := strconv.ParseInt(f[9], 10, 64); err == nil {
			attrs["pgaudit.rows"] = n
		}
	}
	ev := event.Event{
		ClassUID: event.ClassDatastoreActivity,
		Activity: activity,
		Action:   command,
		Outcome:  event.OutcomeUnknown, // pgaudit logs a statement before it runs
		Attrs:    attrs,
		Resource: event.Resource{Type: "database", Name: rec.db},
	}
	if ev.Action == "" {
		ev.Action = ingest.Unknown
	}
	if objName != "" {
		ev.Resource = event.Resource{Type: strings.ToLower(objType), Name: objName}
		if ev.Resource.Type == "" {
			ev.Resource.Type = "object"
		}
	}
	return ev, nil
}

// authFailure reports whether rec is a failed login: FATAL with an
// invalid_authorization_specification (28000) or invalid_password (28P01)
// state, or, for logs without the state, one of their messages.
func authFailure(rec *logRecord) bool {
	if rec.severity != "FATAL" {
		return false
	}
	switch rec.sqlstate {
	case "28P01", "28000":
		return true
	case "":
		return strings.HasPrefix(rec.message, "password authentication failed") ||
			strings.HasPrefix(rec.message, "no pg_hba.conf entry") ||
			strings.HasPrefix(rec.message, "pg_hba.conf rejects connection")
	}
	return false
}

func login(rec *logRecord) event.Event {
	if rec.user == "" {
		rec.user = quotedAfter(rec.message, `user "`)
	}
	if rec.db == "" {
		rec.db = quotedAfter(rec.message, `database "`)
	}
	attrs := map[string]any{"postgres.message": rec.message}
	ingest.SetAttr(attrs, "postgres.detail", rec.detail)
	return event.Event{
		ClassUID: event.ClassAuthentication,
		Activity: "logon",
		Action:   "logon",
		Outcome:  event.OutcomeFailure,
		Resource: event.Resource{Type: "database", Name: rec.db},
		Attrs:    attrs,
	}
}

// quotedAfter returns the quoted name after prefix in msg (`user "alice"`),
// with doubled quotes undone.
func quotedAfter(msg, prefix string) string {
	i := strings.Index(msg, prefix)
	if i < 0 {
		return ""
	}
	rest := msg[i+len(prefix):]
	var b strings.Builder
	for j := 0; j < len(rest); j++ {
		if rest[j] == '"' {
			if j+1 < len(rest) && rest[j+1] == '"' {
				b.WriteByte('"')
				j++
				continue
			}
			return b.String()
		}
		b.WriteByte(rest[j])
	}
	return ""
}

// parseTime reads a log time: "2024-05-01 10:00:00.123 UTC" (%m), also with
// a numeric zone ("+02", "-0530") or an abbreviation of p.TimeZone.
func (p *Parser) parseTime(s string) (time.Time, error) {
	if s == "" {
		return time.Time{}, errors.New("no log time")
	}
	const layout = "2006-01-02 15:04:05.999999999"
	sp := strings.LastIndexByte(s, ' ')
	if sp < 0 {
		return time.Time{}, fmt.Errorf("log time %q has no time zone", ingest.Clip(s))
	}
	local, zone := s[:sp], s[sp+1:]
	switch {
	case zone == "UTC" || zone == "GMT" || zone == "UCT" || zone == "Z":
		t, err := time.Parse(layout, local)
		if err != nil {
			return time.Time{}, fmt.Errorf("cannot read log time %q", ingest.Clip(s))
		}
		return t, nil
	case zone[0] == '+' || zone[0] == '-':
		digits := strings.ReplaceAll(zone[1:], ":", "")
		if len(digits) == 2 {
			digits += "00"
		}
		t, err := time.Parse(layout+" -0700", local+" "+zone[:1]+digits)
		if err != nil {
			return time.Time{}, fmt.Errorf("cannot read log time %q", ingest.Clip(s))
		}
		return t.UTC(), nil
	}
	loc := p.TimeZone
	if loc == nil {
		loc = time.Local
	}
	t, err := time.ParseInLocation(layout+" MST", s, loc)
	if err != nil {
		return time.Time{}, fmt.Errorf("cannot read log time %q", ingest.Clip(s))
	}
	if t.Location() != loc {
		return time.Time{}, fmt.Errorf("log time %q: time zone %s is not one of %s; set the parser's TimeZone to the server's log_timezone", ingest.Clip(s), ingest.Clip(zone), loc)
	}
	return t.UTC(), nil
}

// splitCSV splits one CSV record (RFC 4180, as PostgreSQL's csvlog and
// pgaudit write it: fields with commas, quotes or line breaks are quoted, and
// quotes inside doubled).
func splitCSV(s string) ([]string, error) {
	var out []string
	for i := 0; ; {
		if i < len(s) && s[i] == '"' {
			var b strings.Builder
			j := i + 1
			for {
				k := strings.IndexByte(s[j:], '"')
				if k < 0 {
					return nil, fmt.Errorf("field %d: quoted field is not closed", len(out)+1)
				}
				b.WriteString(s[j : j+k])
				j += k + 1
				if j < len(s) && s[j] == '"' {
					b.WriteByte('"')
					j++
					continue
				}
				break
			}
			out = append(out, b.String())
			if j == len(s) {
				return out, nil
			}
			if s[j] != ',' {
				return nil, fmt.Errorf("field %d: unexpected %q after a quoted field", len(out), s[j])
			}
			i = j + 1
			continue
		}
		k := strings.IndexByte(s[i:], ',')
		if k < 0 {
			field := s[i:]
			if strings.IndexByte(field, '"') >= 0 {
				return nil, fmt.Errorf("field %d: quote inside an unquoted field", len(out)+1)
			}
			return append(out, field), nil
		}
		field := s[i : i+k]
		if strings.IndexByte(field, '"') >= 0 {
			return nil, fmt.Errorf("field %d: quote inside an unquoted field", len(out)+1)
		}
		out = append(out, field)
		i += k + 1
	}
}
