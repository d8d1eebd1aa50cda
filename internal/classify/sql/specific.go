package sql

import (
	"strings"

	pg_query "github.com/pganalyze/pg_query_go/v6"
	"google.golang.org/protobuf/proto"
)

// predefinedRoles are PostgreSQL's predefined roles that grant server-level
// powers.
var predefinedRoles = map[string]bool{
	"pg_read_server_files":         true,
	"pg_write_server_files":        true,
	"pg_execute_server_program":    true,
	"pg_signal_backend":            true,
	"pg_signal_autovacuum_worker":  true,
	"pg_read_all_data":             true,
	"pg_write_all_data":            true,
	"pg_read_all_settings":         true,
	"pg_read_all_stats":            true,
	"pg_stat_scan_tables":          true,
	"pg_monitor":                   true,
	"pg_checkpoint":                true,
	"pg_maintain":                  true,
	"pg_create_subscription":       true,
	"pg_use_reserved_connections":  true,
	"pg_database_owner":            true,
	"pg_manage_replication_origin": true,
}

// roleAttributes maps CREATE/ALTER ROLE option names to the attribute.
var roleAttributes = map[string]string{
	"superuser":     "SUPERUSER",
	"createrole":    "CREATEROLE",
	"createdb":      "CREATEDB",
	"isreplication": "REPLICATION",
	"bypassrls":     "BYPASSRLS",
}

// serverAccessFunctions read or write server files, or reach the network.
var serverAccessFunctions = map[string]bool{
	"pg_read_file": true, "pg_read_binary_file": true, "pg_stat_file": true,
	"pg_ls_dir": true, "pg_ls_logdir": true, "pg_ls_waldir": true,
	"pg_ls_tmpdir": true, "pg_ls_archive_statusdir": true,
	"pg_ls_logicalsnapdir": true, "pg_ls_logicalmapdir": true,
	"pg_ls_replslotdir": true, "pg_ls_summariesdir": true,
	"lo_import": true, "lo_export": true,
	// adminpack
	"pg_file_write": true, "pg_file_rename": true, "pg_file_unlink": true,
	"pg_file_sync": true, "pg_logdir_ls": true, "pg_file_read": true,
}

// sqlTextFunctions run SQL given as an argument.
var sqlTextFunctions = map[string]bool{
	"dblink": true, "dblink_exec": true, "dblink_send_query": true,
	"dblink_open": true, "query_to_xml": true, "query_to_xmlschema": true,
	"query_to_xml_and_xmlschema": true,
}

// untrustedLanguages run code with the server's operating-system rights.
var untrustedLanguages = map[string]bool{
	"c": true, "internal": true, "plperlu": true, "plpythonu": true,
	"plpython2u": true, "plpython3u": true, "pltclu": true, "plsh": true,
	"plr": true, "javau": true,
}

// serverExtensions give file, program or network access.
var serverExtensions = map[string]bool{
	"adminpack": true, "dblink": true, "file_fdw": true, "postgres_fdw": true,
	"plperlu": true, "plpythonu": true, "plpython2u": true, "plpython3u": true,
	"pltclu": true, "plsh": true, "plr": true,
}

// specific fills the attributes that depend on the statement's type.
func (c *stmtCtx) specific(m proto.Message) {
	s := c.st()
	switch x := m.(type) {
	case *pg_query.DeleteStmt:
		c.setTables(rangeVarName(x.GetRelation()))
		s.Where = c.w.whereKind(x.GetWhereClause(), x.GetRelation())
		s.JoinWithoutWhere = len(x.GetUsingClause()) > 0 && s.Where == WhereAbsent
		s.AllRows = s.Where != WherePresent || s.JoinWithoutWhere
	case *pg_query.UpdateStmt:
		c.setTables(rangeVarName(x.GetRelation()))
		s.Where = c.w.whereKind(x.GetWhereClause(), x.GetRelation())
		s.JoinWithoutWhere = len(x.GetFromClause()) > 0 && s.Where == WhereAbsent
		s.AllRows = s.Where != WherePresent || s.JoinWithoutWhere
	case *pg_query.MergeStmt:
		c.setTables(rangeVarName(x.GetRelation()))
		s.Where = c.w.whereKind(x.GetJoinCondition(), x.GetRelation())
		for _, n := range x.GetMergeWhenClauses() {
			w := n.GetMergeWhenClause()
			ct := w.GetCommandType()
			if ct != pg_query.CmdType_CMD_UPDATE && ct != pg_query.CmdType_CMD_DELETE {
				continue
			}
			switch w.GetMatchKind() {
			case pg_query.MergeMatchKind_MERGE_WHEN_MATCHED:
				if s.Where != WherePresent {
					s.AllRows = true
				}
			case pg_query.MergeMatchKind_MERGE_WHEN_NOT_MATCHED_BY_SOURCE:
				if c.w.whereKind(w.GetCondition(), x.GetRelation()) != WherePresent {
					s.AllRows = true
				}
			}
		}
	case *pg_query.InsertStmt:
		c.setTables(rangeVarName(x.GetRelation()))
	case *pg_query.DropStmt:
		s.DropObjectType = objectTypeName(x.GetRemoveType())
		s.Cascade = x.GetBehavior() == pg_query.DropBehavior_DROP_CASCADE
		for _, o := range x.GetObjects() {
			c.setTables(objectName(o))
		}
		c.tablesSet = true
	case *pg_query.DropdbStmt:
		s.DropObjectType = "DATABASE"
		c.setTables(x.GetDbname())
	case *pg_query.DropRoleStmt:
		s.DropObjectType = "ROLE"
		for _, r := range x.GetRoles() {
			c.setTables(objectName(r))
		}
		c.tablesSet = true
	case *pg_query.DropOwnedStmt:
		s.DropObjectType = "OWNED"
		s.Cascade = x.GetBehavior() == pg_query.DropBehavior_DROP_CASCADE
		c.tablesSet = true
	case *pg_query.DropTableSpaceStmt:
		s.DropObjectType = "TABLESPACE"
		c.setTables(x.GetTablespacename())
	case *pg_query.DropSubscriptionStmt:
		s.DropObjectType = "SUBSCRIPTION"
		s.Cascade = x.GetBehavior() == pg_query.DropBehavior_DROP_CASCADE
		c.setTables(x.GetSubname())
	case *pg_query.DropUserMappingStmt:
		s.DropObjectType = "USER MAPPING"
		c.setTables(x.GetServername())
	case *pg_query.TruncateStmt:
		s.Cascade = x.GetBehavior() == pg_query.DropBehavior_DROP_CASCADE
		for _, r := range x.GetRelations() {
			c.setTables(objectName(r))
		}
	case *pg_query.AlterTableStmt:
		c.setTables(rangeVarName(x.GetRelation()))
		for _, n := range x.GetCmds() {
			c.alterTableCmd(n.GetAlterTableCmd())
		}
	case *pg_query.AlterOwnerStmt:
		c.addTo(&s.PrivilegeEscalation, "OWNER TO")
		if x.GetRelation() != nil {
			c.setTables(rangeVarName(x.GetRelation()))
		} else {
			c.setTables(objectName(x.GetObject()))
		}
	case *pg_query.GrantStmt:
		c.grant(x)
	case *pg_query.GrantRoleStmt:
		if x.GetIsGrant() {
			for _, r := range x.GetGrantedRoles() {
				c.grantRole(r.GetAccessPriv().GetPrivName())
			}
			for _, o := range x.GetOpt() {
				d := o.GetDefElem()
				if d.GetDefname() == "admin" && c.defBool(d) {
					c.addTo(&s.PrivilegeEscalation, "WITH ADMIN OPTION")
				}
			}
		}
		c.tablesSet = true
	case *pg_query.CreateRoleStmt:
		c.roleOptions(x.GetOptions(), x.GetRole(), true)
		c.setTables()
	case *pg_query.AlterRoleStmt:
		c.roleOptions(x.GetOptions(), roleName(x.GetRole()), x.GetAction() >= 0)
		c.setTables()
	case *pg_query.AlterSystemStmt:
		c.addTo(&s.SafeguardOff, "ALTER SYSTEM")
	case *pg_query.VariableSetStmt:
		c.setting(x)
	case *pg_query.AlterDefaultPrivilegesStmt:
		if x.GetAction().GetIsGrant() {
			c.addTo(&s.PrivilegeEscalation, "ALTER DEFAULT PRIVILEGES")
		}
	case *pg_query.ReassignOwnedStmt:
		c.addTo(&s.PrivilegeEscalation, "REASSIGN OWNED")
	case *pg_query.CopyStmt:
		c.w.literalRead = true // the file name is a literal
		if x.GetRelation() != nil {
			c.setTables(rangeVarName(x.GetRelation()))
		}
		switch {
		case x.GetIsProgram():
			c.addTo(&s.ServerAccess, "COPY PROGRAM")
		case x.GetFilename() != "" && x.GetIsFrom():
			c.addTo(&s.ServerAccess, "COPY FROM file")
		case x.GetFilename() != "":
			c.addTo(&s.ServerAccess, "COPY TO file")
		}
	case *pg_query.CreateFunctionStmt:
		c.createFunction(x)
	case *pg_query.AlterFunctionStmt:
		for _, a := range x.GetActions() {
			if d := a.GetDefElem(); d.GetDefname() == "security" && c.defBool(d) {
				c.addTo(&s.PrivilegeEscalation, "SECURITY DEFINER")
			}
		}
		c.setTables(nameOf(x.GetFunc().GetObjname()))
	case *pg_query.DoStmt:
		c.doBlock(x)
	case *pg_query.CreateExtensionStmt:
		if serverExtensions[x.GetExtname()] {
			c.addTo(&s.ServerAccess, "extension "+x.GetExtname())
		}
		c.setTables(x.GetExtname())
	case *pg_query.CreatePLangStmt:
		if !x.GetPltrusted() || untrustedLanguages[x.GetPlname()] {
			c.addTo(&s.ServerAccess, "language "+x.GetPlname())
		}
		c.setTables(x.GetPlname())
	case *pg_query.LoadStmt:
		c.addTo(&s.ServerAccess, "LOAD")
	case *pg_query.CreateTrigStmt:
		c.calls(nameOf(x.GetFuncname()))
	case *pg_query.CreateEventTrigStmt:
		c.calls(nameOf(x.GetFuncname()))
		c.setTables(x.GetTrigname())
	case *pg_query.AlterEventTrigStmt:
		if x.GetTgenabled() == "D" {
			c.addTo(&s.SafeguardOff, "DISABLE EVENT TRIGGER")
		}
		c.setTables(x.GetTrigname())
	case *pg_query.CreateCastStmt:
		if f := x.GetFunc(); f != nil {
			c.calls(nameOf(f.GetObjname()))
		}
	case *pg_query.DefineStmt:
		for _, d := range x.GetDefinition() {
			de := d.GetDefElem()
			switch de.GetDefname() {
			case "function", "procedure":
				c.calls(nameOf(de.GetArg().GetTypeName().GetNames()))
			}
		}
		c.setTables(nameOf(x.GetDefnames()))
	case *pg_query.AlterRoleSetStmt:
		c.setTables(roleName(x.GetRole()))
	case *pg_query.AlterDatabaseSetStmt:
		c.setTables(x.GetDbname())
	}
}

func (c *stmtCtx) alterTableCmd(cmd *pg_query.AlterTableCmd) {
	if cmd == nil {
		return
	}
	s := c.st()
	if cmd.GetBehavior() == pg_query.DropBehavior_DROP_CASCADE {
		s.Cascade = true
	}
	switch cmd.GetSubtype() {
	case pg_query.AlterTableType_AT_DropColumn:
		s.DropColumn = true
	case pg_query.AlterTableType_AT_DisableTrig, pg_query.AlterTableType_AT_DisableTrigAll,
		pg_query.AlterTableType_AT_DisableTrigUser:
		c.addTo(&s.SafeguardOff, "DISABLE TRIGGER")
	case pg_query.AlterTableType_AT_DisableRule:
		c.addTo(&s.SafeguardOff, "DISABLE RULE")
	case pg_query.AlterTableType_AT_DisableRowSecurity:
		c.addTo(&s.SafeguardOff, "DISABLE ROW LEVEL SECURITY")
	case pg_query.AlterTableType_AT_NoForceRowSecurity:
		c.addTo(&s.SafeguardOff, "NO FORCE ROW LEVEL SECURITY")
	case pg_query.AlterTableType_AT_SetUnLogged:
		c.addTo(&s.SafeguardOff, "SET UNLOGGED")
	case pg_query.AlterTableType_AT_ChangeOwner:
		c.addTo(&s.PrivilegeEscalation, "OWNER TO")
	}
}

func (c *stmtCtx) grant(x *pg_query.GrantStmt) {
	s := c.st()
	for _, o := range x.GetObjects() {
		c.setTables(objectName(o))
	}
	c.tablesSet = true
	if !x.GetIsGrant() {
		return
	}
	if len(x.GetPrivileges()) == 0 {
		c.addTo(&s.PrivilegeEscalation, "GRANT ALL")
	}
	for _, g := range x.GetGrantees() {
		if g.GetRoleSpec().GetRoletype() == pg_query.RoleSpecType_ROLESPEC_PUBLIC {
			c.addTo(&s.PrivilegeEscalation, "GRANT to PUBLIC")
		}
	}
	if x.GetGrantOption() {
		c.addTo(&s.PrivilegeEscalation, "WITH GRANT OPTION")
	}
}

// grantRole records that membership in role is granted.
func (c *stmtCtx) grantRole(role string) {
	s := c.st()
	c.addTo(&s.PrivilegeEscalation, "GRANT ROLE "+role)
	if predefinedRoles[role] {
		c.addTo(&s.PrivilegeEscalation, "predefined role "+role)
	}
}

// roleOptions reads CREATE/ALTER ROLE options; adding is false for
// ALTER GROUP ... DROP USER.
func (c *stmtCtx) roleOptions(opts []*pg_query.Node, role string, adding bool) {
	s := c.st()
	for _, o := range opts {
		d := o.GetDefElem()
		if attr, ok := roleAttributes[d.GetDefname()]; ok && c.defBool(d) {
			c.addTo(&s.PrivilegeEscalation, attr)
		}
		switch d.GetDefname() {
		case "addroleto": // CREATE ROLE x IN ROLE r
			for _, r := range d.GetArg().GetList().GetItems() {
				c.grantRole(objectName(r))
			}
		case "rolemembers": // ALTER GROUP role ADD USER x
			if adding && s.Command == "ALTER ROLE" {
				c.grantRole(role)
			}
		}
	}
}

// defBool reads a DefElem's boolean argument; a missing argument is true.
func (c *stmtCtx) defBool(d *pg_query.DefElem) bool {
	if d.GetArg() == nil {
		return true
	}
	v, ok := parseBool(c.constString(d.GetArg()))
	return v || !ok
}

// calls records a function call by name.
func (c *stmtCtx) calls(name string) {
	if name == "" {
		return
	}
	s := c.st()
	c.addTo(&s.Functions, name)
	base := baseName(name)
	if serverAccessFunctions[base] || strings.HasPrefix(base, "dblink") {
		c.addTo(&s.ServerAccess, base)
	}
}

func (c *stmtCtx) funcCall(f *pg_query.FuncCall) {
	name := nameOf(f.GetFuncname())
	c.calls(name)
	base := baseName(name)
	switch {
	case sqlTextFunctions[base]:
		found := false
		for _, a := range f.GetArgs() {
			if text, ok := c.stringConst(a); ok && c.nestedSQL(text, ContextDynamic) {
				found = true
			}
		}
		if !found {
			c.addTo(&c.st().DynamicSQL, base+"(...)")
		}
	case base == "set_config":
		args := f.GetArgs()
		name, ok := c.stringConst(firstArg(args))
		if !ok {
			c.addTo(&c.st().SafeguardOff, "set_config(<non-constant>)")
			return
		}
		value := ""
		if len(args) > 1 {
			if v, ok := c.stringConst(args[1]); ok {
				value = v
			} else {
				value = nonConstant
			}
		}
		c.checkSetting(name, value, false)
	}
}

func firstArg(args []*pg_query.Node) *pg_query.Node {
	if len(args) == 0 {
		return nil
	}
	return args[0]
}

// nestedSQL parses text found inside the statement and classifies its
// statements as nested ones. It reports whether text parsed.
func (c *stmtCtx) nestedSQL(text, ctx string) bool {
	c.w.literalRead = true
	if c.level+1 > MaxNesting {
		c.addTo(&c.st().DynamicSQL, "nesting limit reached")
		return true
	}
	tree, err := parseTree(text)
	if err != nil {
		return false
	}
	c.w.parsed(tree, text, true, ctx, c.level+1, c.explainOnly)
	return true
}

// setting checks a SET-like statement for safeguards switched off and
// role switches.
func (c *stmtCtx) setting(v *pg_query.VariableSetStmt) {
	c.w.literalRead = true
	if v.GetKind() != pg_query.VariableSetKind_VAR_SET_VALUE {
		return
	}
	var parts []string
	for _, a := range v.GetArgs() {
		parts = append(parts, c.constString(a))
	}
	c.checkSetting(v.GetName(), strings.Join(parts, ","), true)
}

// nonConstant stands for a setting's value that is not a constant
// (set_config with a parameter or an expression): it may be anything.
const nonConstant = "<non-constant>"

// checkSetting records name=value if it switches a safeguard off. A value
// that is not a constant counts as the unsafe one.
func (c *stmtCtx) checkSetting(name, value string, fromSet bool) {
	c.w.literalRead = true
	s := c.st()
	name = strings.ToLower(name)
	lv := strings.ToLower(strings.TrimSpace(value))
	unknown := value == nonConstant
	off := func() bool { b, ok := parseBool(lv); return unknown || ok && !b }
	switch {
	case name == "session_replication_role":
		if lv != "origin" && lv != "default" && lv != "" {
			c.addTo(&s.SafeguardOff, name+"="+lv)
		}
	case name == "row_security", name == "fsync", name == "full_page_writes":
		if off() {
			c.addTo(&s.SafeguardOff, name+"=off")
		}
	case name == "zero_damaged_pages", name == "allow_system_table_mods", name == "ignore_checksum_failure":
		if b, ok := parseBool(lv); unknown || ok && b {
			c.addTo(&s.SafeguardOff, name+"=on")
		}
	case name == "standard_conforming_strings":
		// Off, a backslash escapes a quote in '...' strings, which this
		// parser (standard_conforming_strings on) does not read so.
		if off() {
			c.addTo(&s.SafeguardOff, name+"=off")
		}
	case name == "client_encoding":
		// SET client_encoding, SET NAMES, set_config: an encoding whose
		// multibyte characters may end in an ASCII byte (a backslash, a
		// semicolon) makes PostgreSQL read the following statements
		// differently from this parser, which reads UTF-8.
		if unknown || UnsafeClientEncoding(lv) {
			c.addTo(&s.SafeguardOff, name+"="+lv)
		}
	case name == "log_statement" && (lv == "none" || unknown),
		strings.HasPrefix(name, "pgaudit."):
		c.addTo(&s.SafeguardOff, name+"="+lv)
	case name == "role" && fromSet && lv != "none":
		c.addTo(&s.PrivilegeEscalation, "SET ROLE")
	case name == "role" && !fromSet:
		c.addTo(&s.PrivilegeEscalation, "SET ROLE")
	case name == "session_authorization":
		c.addTo(&s.PrivilegeEscalation, "SET SESSION AUTHORIZATION")
	}
}

// unsafeEncodings are PostgreSQL's client-only encodings, by every name
// PostgreSQL accepts for them (encnames.c), cleaned as PostgreSQL cleans
// them: lower case, letters and digits only. Their multibyte characters may
// end in a byte below 0x80 (a backslash; for JOHAB also digits and ';'),
// which UTF-8 never does, so text in them is not read as this parser reads
// it.
var unsafeEncodings = map[string]bool{
	"sjis": true, "mskanji": true, "shiftjis": true, "win932": true, "windows932": true,
	"shiftjis2004": true, "big5": true, "win950": true, "windows950": true,
	"gbk": true, "win936": true, "windows936": true, "uhc": true, "win949": true,
	"windows949": true, "gb18030": true, "johab": true,
}

// UnsafeClientEncoding reports whether name (as given to SET client_encoding,
// or as PostgreSQL reports it) is a client-only encoding whose text
// PostgreSQL reads differently from this UTF-8 parser.
func UnsafeClientEncoding(name string) bool {
	var b strings.Builder
	for _, r := range strings.ToLower(name) {
		if r >= 'a' && r <= 'z' || r >= '0' && r <= '9' {
			b.WriteRune(r)
		}
	}
	return unsafeEncodings[b.String()]
}
