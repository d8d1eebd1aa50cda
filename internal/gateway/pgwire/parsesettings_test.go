package pgwire_test

import (
	"context"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgproto3"

	"github.com/vigil-audit/vigil/internal/event"
	"github.com/vigil-audit/vigil/internal/gateway/pgwire"
)

// TestParseSettings: no session runs with a client_encoding or a
// standard_conforming_strings under which PostgreSQL reads statements
// differently from the gateway. The connection is a staging one, where the
// built-in rules do not apply: the gateway refuses on its own.
func TestParseSettings(t *testing.T) {
	e := newEnvWith(t, envOptions{audit: pgwire.AuditStrict, auth: pgwire.AuthPassword, conns: func(m map[string]pgwire.Connection) {
		c := m["prod"]
		c.Name, c.Environment = "staging", "staging"
		m["staging"] = c
	}})
	setupTable(t, e)
	ctx := context.Background()
	c := mustConnect(t, e.dsn("alice", e.alice, "staging"))

	// The bypass that needs SJIS: read as UTF-8 (the gateway, and this
	// session) it is one string.
	var s string
	if err := c.QueryRow(ctx, "SELECT E'\xc3\x81\\'; DROP TABLE t; --'", pgx.QueryExecModeSimpleProtocol).Scan(&s); err != nil {
		t.Fatal(err)
	}
	if s != "Á'; DROP TABLE t; --" {
		t.Fatalf("got %q", s)
	}
	// The one that needs standard_conforming_strings off: two strings.
	var s1, s2 string
	if err := c.QueryRow(ctx, `SELECT 'a\' , '; DROP TABLE t; --'`, pgx.QueryExecModeSimpleProtocol).Scan(&s1, &s2); err != nil {
		t.Fatal(err)
	}
	if s1 != `a\` || s2 != "; DROP TABLE t; --" {
		t.Fatalf("got %q, %q", s1, s2)
	}

	for _, tc := range []struct {
		sql  string
		args []any
	}{
		{sql: "SET client_encoding = 'SJIS'"},
		{sql: "SET NAMES 'big5'"},
		{sql: "BEGIN; SET LOCAL client_encoding TO 'Windows936'; COMMIT"},
		{sql: "SELECT set_config('client_encoding', 'GB18030', false)"},
		{sql: "SELECT set_config($1, 'JOHAB', false)", args: []any{"client_encoding"}},
		{sql: "SET standard_conforming_strings = off"},
		{sql: "SET SESSION standard_conforming_strings TO false"},
		{sql: "SELECT set_config('standard_conforming_strings', 'off', false)"},
		{sql: "SELECT set_config('standard_conforming_strings', $1, false)", args: []any{"off"}},
	} {
		_, err := c.Exec(ctx, tc.sql, tc.args...)
		if sqlstate(err) != "42501" || !strings.Contains(err.Error(), "gateway.parse-settings") {
			t.Errorf("%s: %v; want 42501 naming gateway.parse-settings", tc.sql, err)
		}
	}
	if err := c.QueryRow(ctx, "SHOW client_encoding").Scan(&s); err != nil || s != "UTF8" {
		t.Fatalf("client_encoding after the refusals: %q, %v", s, err)
	}
	if err := c.QueryRow(ctx, "SHOW standard_conforming_strings").Scan(&s); err != nil || s != "on" {
		t.Fatalf("standard_conforming_strings after the refusals: %q, %v", s, err)
	}
	if _, err := c.Exec(ctx, "SET standard_conforming_strings = on"); err != nil {
		t.Fatalf("SET standard_conforming_strings = on: %v", err)
	}
	if _, err := c.Exec(ctx, "SET client_encoding = 'UTF8'"); err != nil {
		t.Fatalf("SET client_encoding = 'UTF8': %v", err)
	}
	if n := e.count("t"); n != 10 {
		t.Fatalf("t has %d rows", n)
	}

	// A startup parameter asking for SJIS: refused at login, recorded.
	fe, _ := dialStartup(t, e, map[string]string{"user": "alice", "database": "staging", "client_encoding": "SJIS"})
	msg := passwordLogin(t, e, fe)
	if er, ok := msg.(*pgproto3.ErrorResponse); !ok || er.Severity != "FATAL" || er.Code != "22023" {
		t.Fatalf("login with client_encoding SJIS: %#v; want FATAL 22023", msg)
	}
	failed := false
	for _, ev := range e.events() {
		if ev.Activity == "logon" && ev.Outcome == event.OutcomeFailure && strings.Contains(ev.Attrs["reason"].(string), "SJIS") {
			failed = true
		}
	}
	if !failed {
		t.Error("no failed logon event naming SJIS")
	}

	// A client encoding the gateway decodes: LATIN1 text is classified and
	// recorded as the UTF-8 it means, so a byte that is a letter to
	// PostgreSQL does not make the text unparseable.
	for _, tc := range []struct{ conn, sql, code, rule string }{
		{"staging", "SELECT 'caf\xe9' AS w", "", ""},
		{"prod", "DROP TABLE t -- \xe9t\xe9", "42501", "sql.drop"},
	} {
		fe, _ := dialStartup(t, e, map[string]string{"user": "alice", "database": tc.conn, "client_encoding": "LATIN1"})
		if _, ok := passwordLogin(t, e, fe).(*pgproto3.ReadyForQuery); !ok {
			t.Fatalf("login with client_encoding LATIN1 refused")
		}
		fe.Send(&pgproto3.Query{String: tc.sql})
		if err := fe.Flush(); err != nil {
			t.Fatal(err)
		}
		var row, code, message string
		for done := false; !done; {
			msg, err := fe.Receive()
			if err != nil {
				t.Fatal(err)
			}
			switch m := msg.(type) {
			case *pgproto3.DataRow:
				row = string(m.Values[0])
			case *pgproto3.ErrorResponse:
				code, message = m.Code, m.Message
			case *pgproto3.ReadyForQuery:
				done = true
			}
		}
		if code != tc.code || !strings.Contains(message, tc.rule) {
			t.Errorf("%q in LATIN1 on %s: %s %s; want %q naming %q", tc.sql, tc.conn, code, message, tc.code, tc.rule)
		}
		if tc.code == "" && row != "caf\xe9" {
			t.Errorf("%q: row %q", tc.sql, row)
		}
	}
	recorded := false
	for _, ev := range e.events() {
		if ev.Attrs["sql.text"] == "SELECT 'café' AS w" {
			recorded = true
		}
	}
	if !recorded {
		t.Error("no intent event with the LATIN1 statement as UTF-8")
	}

	// A default of the database (set behind the gateway's back) that it
	// cannot read with: refused at login too.
	var db string
	if err := e.directConn().QueryRow(ctx, "SELECT current_database()").Scan(&db); err != nil {
		t.Fatal(err)
	}
	if _, err := e.directConn().Exec(ctx, "ALTER DATABASE "+pgx.Identifier{db}.Sanitize()+" SET standard_conforming_strings = off"); err != nil {
		t.Fatal(err)
	}
	_, err := connectDSN(t, e.dsn("alice", e.alice, "staging"))
	if sqlstate(err) != "22023" || !strings.Contains(err.Error(), "standard_conforming_strings") {
		t.Fatalf("login with the database's standard_conforming_strings off: %v; want FATAL 22023", err)
	}
	if _, err := e.directConn().Exec(ctx, "ALTER DATABASE "+pgx.Identifier{db}.Sanitize()+" RESET standard_conforming_strings"); err != nil {
		t.Fatal(err)
	}

	// Functions the classifier cannot see into switch a setting: the
	// upstream reports it, and the gateway closes the session.
	if _, err := e.directConn().Exec(ctx, `
		CREATE FUNCTION to_sjis() RETURNS text LANGUAGE sql AS $$ SELECT set_config('client_encoding', 'SJIS', false) $$;
		CREATE FUNCTION scs_off() RETURNS text LANGUAGE sql AS $$ SELECT set_config('standard_conforming_strings', 'off', false) $$`); err != nil {
		t.Fatal(err)
	}
	for _, call := range []string{"SELECT to_sjis()", "SELECT scs_off()"} {
		c2 := mustConnect(t, e.dsn("alice", e.alice, "staging"))
		_, err := c2.Exec(ctx, call)
		if sqlstate(err) != "22023" {
			t.Fatalf("%s: %v; want FATAL 22023", call, err)
		}
		if _, err := c2.Exec(ctx, "SELECT 1"); err == nil {
			t.Fatalf("the session goes on after %s", call)
		}
	}
	// Each of those sessions ends with a failed logoff saying why.
	evs := e.waitEvents(func(evs []*event.Event) bool {
		n := 0
		for _, ev := range evs {
			if ev.Activity == "logoff" && ev.Outcome == event.OutcomeFailure {
				n++
			}
		}
		return n == 2
	})
	var why []string
	for _, ev := range evs {
		if ev.Activity == "logoff" && ev.Outcome == event.OutcomeFailure {
			r, _ := ev.Attrs["reason"].(string)
			why = append(why, r)
		}
	}
	if len(why) != 2 || !strings.Contains(why[0], "client_encoding to SJIS") || !strings.Contains(why[1], "standard_conforming_strings to off") {
		t.Errorf("failed logoffs: %q", why)
	}
	// Others are not affected.
	if err := c.QueryRow(ctx, "SELECT 'still here'").Scan(&s); err != nil {
		t.Fatal(err)
	}
}
