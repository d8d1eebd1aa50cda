// Package sql classifies PostgreSQL text for the policy engine. It parses the
// text with the PostgreSQL parser itself (libpg_query, through
// github.com/pganalyze/pg_query_go/v6) and walks the typed parse tree; it never
// matches regexes or word lists against raw SQL text, so case, comments,
// quoting, unicode escapes and dollar quoting change nothing.
//
// Classify returns one Statement per statement in the text, including
// statements nested in CTEs, EXPLAIN, COPY (query), PREPARE, CREATE RULE
// actions, CREATE TABLE AS, DECLARE CURSOR, views, SQL-language function
// bodies, PL/pgSQL function and DO bodies (parsed with libpg_query's PL/pgSQL
// parser), and constant SQL strings handed to dblink or query_to_xml. Text that
// builds SQL at run time is reported in Statement.DynamicSQL instead.
//
// The Result is plain data with snake_case JSON names: the policy engine
// evaluates CEL over its JSON form (as `sql`). Slices are never nil, so rules
// can call size() and `in` on every list field without has() checks.
//
// # Commands
//
// Statement.Command is upper case with a stable spelling. Explicitly named:
// SELECT, INSERT, UPDATE, DELETE, MERGE, VALUES, DROP (see DropObjectType:
// TABLE, SCHEMA, DATABASE, ROLE, OWNED, TABLESPACE, SUBSCRIPTION, ...),
// TRUNCATE, ALTER TABLE (and ALTER INDEX, ALTER VIEW, ALTER MATERIALIZED VIEW,
// ALTER SEQUENCE, ALTER FOREIGN TABLE, ALTER TYPE), ALTER <OBJECT> OWNER,
// RENAME, GRANT, REVOKE (privileges and role membership), CREATE ROLE,
// ALTER ROLE, ALTER ROLE SET, ALTER DATABASE SET, ALTER DEFAULT PRIVILEGES,
// REASSIGN OWNED, COPY, DO, SET, RESET, SHOW, ALTER SYSTEM, CREATE FUNCTION,
// CREATE PROCEDURE, ALTER FUNCTION, CALL, PREPARE, EXECUTE, DEALLOCATE,
// EXPLAIN, CREATE TABLE, CREATE TABLE AS, CREATE MATERIALIZED VIEW, CREATE VIEW,
// CREATE INDEX, CREATE SCHEMA, CREATE DATABASE, CREATE EXTENSION, CREATE RULE,
// CREATE TRIGGER, CREATE EVENT TRIGGER, ALTER EVENT TRIGGER, CREATE POLICY,
// ALTER POLICY, DECLARE CURSOR, FETCH, CLOSE, LOAD, LISTEN, NOTIFY, VACUUM,
// ANALYZE, CLUSTER, REINDEX, LOCK, CHECKPOINT, DISCARD, COMMENT,
// SECURITY LABEL, REFRESH MATERIALIZED VIEW, BEGIN, START TRANSACTION, COMMIT,
// ROLLBACK, SAVEPOINT, RELEASE SAVEPOINT, ROLLBACK TO SAVEPOINT,
// PREPARE TRANSACTION, COMMIT PREPARED, ROLLBACK PREPARED. Every other
// statement is named after its parse node: CreateForeignServerStmt becomes
// "CREATE FOREIGN SERVER", AlterSubscriptionStmt "ALTER SUBSCRIPTION".
//
// # Limits
//
// Input larger than MaxInputSize, input containing a NUL byte or invalid
// UTF-8, and parse trees nested deeper than MaxDepth are reported as
// Unparseable (fail closed) rather than analysed partially.
package sql

import (
	"errors"
	"fmt"
	"strings"
	"unicode/utf8"

	pg_query "github.com/pganalyze/pg_query_go/v6"
	"github.com/pganalyze/pg_query_go/v6/parser"
)

// Limits that keep Classify fast and bounded on hostile input.
const (
	// MaxInputSize is the largest SQL text Classify analyses, in bytes.
	MaxInputSize = 1 << 20
	// MaxDepth bounds the depth of the parse-tree walk.
	MaxDepth = 1000
	// MaxNesting bounds how often text found inside the SQL (function and
	// DO bodies, constant dynamic SQL) is parsed again, one inside another.
	MaxNesting = 8
)

// Where values of Statement.Where.
const (
	WhereAbsent   = "absent"
	WhereConstant = "constant"
	WherePresent  = "present"
)

// Contexts of nested statements (Statement.Context).
const (
	ContextCTE            = "cte"
	ContextExplain        = "explain"         // EXPLAIN without ANALYZE: planned, not run
	ContextExplainAnalyze = "explain_analyze" // EXPLAIN ANALYZE: run
	ContextCopy           = "copy"
	ContextPrepare        = "prepare"
	ContextRule           = "rule"
	ContextCreateTableAs  = "create_table_as"
	ContextCursor         = "cursor"
	ContextView           = "view"
	ContextSchema         = "schema"        // CREATE SCHEMA ... CREATE TABLE ...
	ContextFunctionBody   = "function_body" // SQL, BEGIN ATOMIC or PL/pgSQL function bodies
	ContextDoBlock        = "do_block"
	ContextDynamic        = "dynamic" // constant string given to EXECUTE, dblink, query_to_xml, ...
	ContextStatement      = "statement"
)

// Result is the classification of one SQL text.
type Result struct {
	// Statements holds every statement, top-level and nested, parents
	// before their children.
	Statements []Statement `json:"statements"`
	// Unparseable is true when the text does not parse (or exceeds a
	// limit); ParseError then holds the parser's message.
	Unparseable bool   `json:"unparseable"`
	ParseError  string `json:"parse_error,omitempty"`
	// Fingerprint is pg_query's fingerprint: equal for statements that
	// differ only in literals, whitespace, comments and case.
	Fingerprint string `json:"fingerprint"`
	// Normalized is the text with literals replaced by $n.
	Normalized string `json:"normalized"`
	// LiteralsMatter is true when the classification read a literal's
	// value (SET ROLE x, set_config, COPY's file, a function body, SQL
	// handed to dblink): texts with the same Fingerprint may then do
	// different things.
	LiteralsMatter bool `json:"literals_matter"`

	// Aggregates over the statements that run (ExplainOnly excluded).
	Commands   []string `json:"commands"`    // distinct Statement.Command values
	Tables     []string `json:"tables"`      // distinct Statement.Tables
	TableNames []string `json:"table_names"` // Tables without schema or catalog
	Functions  []string `json:"functions"`   // distinct Statement.Functions

	AnyWriteAllRows        bool `json:"any_write_all_rows"` // some Statement.AllRows
	AnyDrop                bool `json:"any_drop"`
	AnyTruncate            bool `json:"any_truncate"`
	AnyDropColumn          bool `json:"any_drop_column"`
	AnyPrivilegeEscalation bool `json:"any_privilege_escalation"`
	AnyServerAccess        bool `json:"any_server_access"`
	AnyDynamicSQL          bool `json:"any_dynamic_sql"`
	AnySafeguardOff        bool `json:"any_safeguard_off"`
}

// Statement is one statement and what it does.
type Statement struct {
	// Command is the statement's command (see the package documentation).
	Command string `json:"command"`
	// Nested is true for statements found inside another one; Context
	// says where (the Context* constants).
	Nested  bool   `json:"nested"`
	Context string `json:"context"`
	// ExplainOnly is true for statements under a plain EXPLAIN: planned,
	// never run. The Result aggregates skip them.
	ExplainOnly bool `json:"explain_only"`

	// Tables are the relations the statement acts on: the target of
	// INSERT/UPDATE/DELETE/MERGE/COPY/TRUNCATE/ALTER, the objects of DROP,
	// GRANT and CREATE; for other statements (SELECT) every relation read.
	// Names are as PostgreSQL resolves them: unquoted identifiers folded to
	// lower case, quoted ones kept, unicode escapes decoded; schema (and
	// catalog) prefixed when written.
	Tables []string `json:"tables"`
	// Relations is every relation referenced anywhere in the statement.
	Relations []string `json:"relations"`

	// Where is set for DELETE, UPDATE and MERGE (its ON condition):
	// "absent"; "constant" when the condition refers to no column of the
	// target (WHERE true, 1=1, NOT false, 'a'='a', $1, a subquery with no
	// reference to the target), is an OR with such a branch, or compares a
	// column with itself; otherwise "present".
	Where string `json:"where"`
	// JoinWithoutWhere is DELETE ... USING or UPDATE ... FROM with no WHERE.
	JoinWithoutWhere bool `json:"join_without_where"`
	// AllRows is true when a DELETE, UPDATE or MERGE can reach every row:
	// Where absent or constant, or JoinWithoutWhere; for MERGE also a
	// WHEN NOT MATCHED BY SOURCE clause that updates or deletes.
	AllRows bool `json:"all_rows"`

	// DropObjectType is the object type of a DROP: TABLE, SCHEMA,
	// DATABASE, ROLE, FUNCTION, ...
	DropObjectType string `json:"drop_object_type"`
	// Cascade is DROP/TRUNCATE/ALTER TABLE DROP ... CASCADE.
	Cascade bool `json:"cascade"`
	// DropColumn is ALTER TABLE ... DROP COLUMN.
	DropColumn bool `json:"drop_column"`

	// PrivilegeEscalation lists privilege changes: "GRANT ALL",
	// "GRANT to PUBLIC", "WITH GRANT OPTION", "GRANT ROLE <name>",
	// "WITH ADMIN OPTION", "predefined role <pg_...>", role attributes
	// ("SUPERUSER", "CREATEROLE", "CREATEDB", "REPLICATION", "BYPASSRLS"),
	// "ALTER DEFAULT PRIVILEGES", "SECURITY DEFINER", "OWNER TO",
	// "REASSIGN OWNED", "SET ROLE", "SET SESSION AUTHORIZATION".
	PrivilegeEscalation []string `json:"privilege_escalation"`
	// ServerAccess lists server-side program, file and network access:
	// "COPY PROGRAM", "COPY TO file", "COPY FROM file", file and large
	// object functions ("pg_read_file", "lo_import", ...), dblink
	// functions, "LOAD", "language <untrusted>", "extension <name>".
	ServerAccess []string `json:"server_access"`
	// Functions is every function called: lower case per identifier
	// rules, schema-qualified when written so. Also the functions bound by
	// CREATE TRIGGER, CREATE EVENT TRIGGER, CREATE CAST and CREATE OPERATOR,
	// and SQL/JSON syntax by its function's name (json_value, json_table,
	// merge_action, ...: calls of ordinary functions to a server older than
	// the syntax).
	Functions []string `json:"functions"`
	// DynamicSQL lists SQL that cannot be checked statically: "EXECUTE"
	// (PL/pgSQL EXECUTE, FOR ... IN EXECUTE, OPEN ... FOR EXECUTE,
	// RETURN QUERY EXECUTE of a non-constant string), "<function>(...)" for
	// dblink_exec, dblink, query_to_xml and the like without a constant SQL
	// argument, "<language> body" for DO and function bodies in languages
	// other than SQL and PL/pgSQL, and "unparsed ...: <message>" for
	// bodies the parser rejected.
	DynamicSQL []string `json:"dynamic_sql"`
	// SafeguardOff lists settings that switch safeguards off:
	// "session_replication_role=replica", "row_security=off",
	// "fsync=off", "pgaudit.log=...", "ALTER SYSTEM", "DISABLE TRIGGER",
	// "DISABLE RULE", "DISABLE ROW LEVEL SECURITY", "NO FORCE ROW LEVEL
	// SECURITY", "SET UNLOGGED", "DISABLE EVENT TRIGGER",
	// "set_config(<non-constant>)" for a name that is not a constant,
	// "<name>=<non-constant>" for such a setting given a value that is not
	// a constant, "standard_conforming_strings=off" (a backslash then
	// escapes a quote, which this parser does not read so), and
	// "client_encoding=<name>" for a switch to a
	// client-only encoding (SJIS, BIG5, GBK, UHC, GB18030, JOHAB: see
	// UnsafeClientEncoding), in which PostgreSQL would read the following
	// statements differently from this parser.
	SafeguardOff []string `json:"safeguard_off"`
}

// errInternal marks failures that are not about the SQL text.
var errInternal = errors.New("sql classifier")

// Classify parses sql (PostgreSQL dialect, possibly several statements) and
// returns one Statement per statement found, nested ones included. Text that
// does not parse is not an error: it is a Result with Unparseable set and
// the parser's message in ParseError. The error is for internal failures only.
func Classify(sql string) (*Result, error) {
	res, _, err := classifyText(sql, nil)
	return res, err
}

// classifyText is Classify; with the text's Shape it also reports whether the
// Result may be shared by every text of that shape (see admissible).
func classifyText(sql string, sh *Shape) (*Result, bool, error) {
	res := &Result{}
	if msg := checkInput(sql); msg != "" {
		res.unparseable(msg)
		return res, false, nil
	}
	tree, err := parseTree(sql)
	if err != nil {
		var perr *parser.Error
		if errors.As(err, &perr) {
			res.unparseable(perr.Message)
			return res, false, nil
		}
		// The protobuf decoder refuses trees nested deeper than its
		// recursion limit: too deep to analyse, so fail closed.
		res.unparseable("parse tree too deep: " + err.Error())
		return res, false, nil
	}
	w := walker{res: res}
	w.parsed(tree, sql, false, ContextStatement, 0, false)
	if w.tooDeep {
		*res = Result{}
		res.unparseable(fmt.Sprintf("parse tree nested deeper than %d levels", MaxDepth))
		return res, false, nil
	}
	if res.Fingerprint, err = pg_query.Fingerprint(sql); err != nil {
		return nil, false, fmt.Errorf("%w: fingerprint: %w", errInternal, err)
	}
	if res.Normalized, err = pg_query.Normalize(sql); err != nil {
		return nil, false, fmt.Errorf("%w: normalize: %w", errInternal, err)
	}
	res.LiteralsMatter = w.literalRead
	res.aggregate()
	return res, admissible(sql, tree, res, w.literalRead, sh), nil
}

// checkInput returns why sql cannot be analysed, or "".
func checkInput(sql string) string {
	switch {
	case len(sql) > MaxInputSize:
		return fmt.Sprintf("input of %d bytes exceeds the %d byte limit", len(sql), MaxInputSize)
	case !utf8.ValidString(sql):
		return "input is not valid UTF-8"
	}
	for i := 0; i < len(sql); i++ {
		if sql[i] == 0 {
			return "input contains a NUL byte"
		}
	}
	return ""
}

func (r *Result) unparseable(msg string) {
	r.Unparseable = true
	r.ParseError = msg
	r.normalize()
}

// aggregate fills the Result aggregates and replaces nil slices.
func (r *Result) aggregate() {
	for i := range r.Statements {
		s := &r.Statements[i]
		s.normalize()
		s.own()
		if s.ExplainOnly {
			continue
		}
		r.Commands = appendUnique(r.Commands, s.Command)
		for _, t := range s.Tables {
			r.Tables = appendUnique(r.Tables, t)
			r.TableNames = appendUnique(r.TableNames, baseName(t))
		}
		for _, f := range s.Functions {
			r.Functions = appendUnique(r.Functions, f)
		}
		r.AnyWriteAllRows = r.AnyWriteAllRows || s.AllRows
		r.AnyDrop = r.AnyDrop || s.Command == "DROP"
		r.AnyTruncate = r.AnyTruncate || s.Command == "TRUNCATE"
		r.AnyDropColumn = r.AnyDropColumn || s.DropColumn
		r.AnyPrivilegeEscalation = r.AnyPrivilegeEscalation || len(s.PrivilegeEscalation) > 0
		r.AnyServerAccess = r.AnyServerAccess || len(s.ServerAccess) > 0
		r.AnyDynamicSQL = r.AnyDynamicSQL || len(s.DynamicSQL) > 0
		r.AnySafeguardOff = r.AnySafeguardOff || len(s.SafeguardOff) > 0
	}
	r.normalize()
}

func (r *Result) normalize() {
	if r.Statements == nil {
		r.Statements = []Statement{}
	}
	nonNil(&r.Commands)
	nonNil(&r.Tables)
	nonNil(&r.TableNames)
	nonNil(&r.Functions)
}

func (s *Statement) normalize() {
	nonNil(&s.Tables)
	nonNil(&s.Relations)
	nonNil(&s.PrivilegeEscalation)
	nonNil(&s.ServerAccess)
	nonNil(&s.Functions)
	nonNil(&s.DynamicSQL)
	nonNil(&s.SafeguardOff)
}

// own gives the Statement copies of the strings it took from the parse
// tree. The tree's strings share the memory of libpg_query's JSON output
// (decodeTree), about ten times the size of the text, which a cached
// classification must not keep alive.
func (s *Statement) own() {
	s.DropObjectType = strings.Clone(s.DropObjectType)
	lists := [...][]string{s.Relations, s.Tables, s.PrivilegeEscalation, s.ServerAccess, s.Functions, s.DynamicSQL, s.SafeguardOff}
	if len(s.Tables) > 0 && len(s.Relations) > 0 && &s.Tables[0] == &s.Relations[0] {
		lists[1] = nil // Tables is Relations
	}
	for _, l := range lists {
		for i, v := range l {
			l[i] = strings.Clone(v)
		}
	}
}

func nonNil(p *[]string) {
	if *p == nil {
		*p = []string{}
	}
}

func appendUnique(list []string, v string) []string {
	for _, x := range list {
		if x == v {
			return list
		}
	}
	return append(list, v)
}

// baseName strips the schema and catalog from a name the classifier built
// by joining parts with ".".
func baseName(name string) string {
	for i := len(name) - 1; i >= 0; i-- {
		if name[i] == '.' {
			return name[i+1:]
		}
	}
	return name
}
