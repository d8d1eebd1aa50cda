package sql

import (
	"strings"
	"unicode"

	pg_query "github.com/pganalyze/pg_query_go/v6"
	"google.golang.org/protobuf/reflect/protoreflect"
)

// fixedCommands names statements whose command does not depend on fields.
var fixedCommands = map[protoreflect.Name]string{
	"SelectStmt":                 "SELECT",
	"InsertStmt":                 "INSERT",
	"UpdateStmt":                 "UPDATE",
	"DeleteStmt":                 "DELETE",
	"MergeStmt":                  "MERGE",
	"DropStmt":                   "DROP",
	"DropdbStmt":                 "DROP",
	"DropRoleStmt":               "DROP",
	"DropOwnedStmt":              "DROP",
	"DropTableSpaceStmt":         "DROP",
	"DropSubscriptionStmt":       "DROP",
	"DropUserMappingStmt":        "DROP",
	"TruncateStmt":               "TRUNCATE",
	"RenameStmt":                 "RENAME",
	"CreateRoleStmt":             "CREATE ROLE",
	"AlterRoleStmt":              "ALTER ROLE",
	"AlterRoleSetStmt":           "ALTER ROLE SET",
	"AlterDatabaseSetStmt":       "ALTER DATABASE SET",
	"AlterDefaultPrivilegesStmt": "ALTER DEFAULT PRIVILEGES",
	"ReassignOwnedStmt":          "REASSIGN OWNED",
	"CopyStmt":                   "COPY",
	"DoStmt":                     "DO",
	"AlterSystemStmt":            "ALTER SYSTEM",
	"AlterFunctionStmt":          "ALTER FUNCTION",
	"CallStmt":                   "CALL",
	"PrepareStmt":                "PREPARE",
	"ExecuteStmt":                "EXECUTE",
	"DeallocateStmt":             "DEALLOCATE",
	"ExplainStmt":                "EXPLAIN",
	"CreateStmt":                 "CREATE TABLE",
	"ViewStmt":                   "CREATE VIEW",
	"IndexStmt":                  "CREATE INDEX",
	"CreateSchemaStmt":           "CREATE SCHEMA",
	"CreatedbStmt":               "CREATE DATABASE",
	"CreateExtensionStmt":        "CREATE EXTENSION",
	"RuleStmt":                   "CREATE RULE",
	"CreateTrigStmt":             "CREATE TRIGGER",
	"CreateEventTrigStmt":        "CREATE EVENT TRIGGER",
	"AlterEventTrigStmt":         "ALTER EVENT TRIGGER",
	"CreatePolicyStmt":           "CREATE POLICY",
	"AlterPolicyStmt":            "ALTER POLICY",
	"DeclareCursorStmt":          "DECLARE CURSOR",
	"ClosePortalStmt":            "CLOSE",
	"LoadStmt":                   "LOAD",
	"ListenStmt":                 "LISTEN",
	"UnlistenStmt":               "UNLISTEN",
	"NotifyStmt":                 "NOTIFY",
	"ClusterStmt":                "CLUSTER",
	"ReindexStmt":                "REINDEX",
	"LockStmt":                   "LOCK",
	"CheckPointStmt":             "CHECKPOINT",
	"DiscardStmt":                "DISCARD",
	"CommentStmt":                "COMMENT",
	"SecLabelStmt":               "SECURITY LABEL",
	"RefreshMatViewStmt":         "REFRESH MATERIALIZED VIEW",
	"VariableShowStmt":           "SHOW",
	"CreatePLangStmt":            "CREATE LANGUAGE",
	"CreateCastStmt":             "CREATE CAST",
	"ReturnStmt":                 "RETURN",
	"PLAssignStmt":               "ASSIGN",
	"ConstraintsSetStmt":         "SET CONSTRAINTS",
}

var transactionCommands = map[pg_query.TransactionStmtKind]string{
	pg_query.TransactionStmtKind_TRANS_STMT_BEGIN:             "BEGIN",
	pg_query.TransactionStmtKind_TRANS_STMT_START:             "START TRANSACTION",
	pg_query.TransactionStmtKind_TRANS_STMT_COMMIT:            "COMMIT",
	pg_query.TransactionStmtKind_TRANS_STMT_ROLLBACK:          "ROLLBACK",
	pg_query.TransactionStmtKind_TRANS_STMT_SAVEPOINT:         "SAVEPOINT",
	pg_query.TransactionStmtKind_TRANS_STMT_RELEASE:           "RELEASE SAVEPOINT",
	pg_query.TransactionStmtKind_TRANS_STMT_ROLLBACK_TO:       "ROLLBACK TO SAVEPOINT",
	pg_query.TransactionStmtKind_TRANS_STMT_PREPARE:           "PREPARE TRANSACTION",
	pg_query.TransactionStmtKind_TRANS_STMT_COMMIT_PREPARED:   "COMMIT PREPARED",
	pg_query.TransactionStmtKind_TRANS_STMT_ROLLBACK_PREPARED: "ROLLBACK PREPARED",
}

// command names the statement m.
func command(m protoreflect.Message) string {
	switch x := m.Interface().(type) {
	case *pg_query.SelectStmt:
		if len(x.GetValuesLists()) > 0 {
			return "VALUES"
		}
	case *pg_query.AlterTableStmt:
		return "ALTER " + objectTypeName(x.GetObjtype())
	case *pg_query.AlterOwnerStmt:
		return "ALTER " + objectTypeName(x.GetObjectType()) + " OWNER"
	case *pg_query.GrantStmt:
		return grantWord(x.GetIsGrant())
	case *pg_query.GrantRoleStmt:
		return grantWord(x.GetIsGrant())
	case *pg_query.VariableSetStmt:
		switch x.GetKind() {
		case pg_query.VariableSetKind_VAR_RESET, pg_query.VariableSetKind_VAR_RESET_ALL:
			return "RESET"
		}
		return "SET"
	case *pg_query.CreateFunctionStmt:
		if x.GetIsProcedure() {
			return "CREATE PROCEDURE"
		}
		return "CREATE FUNCTION"
	case *pg_query.CreateTableAsStmt:
		if x.GetObjtype() == pg_query.ObjectType_OBJECT_MATVIEW {
			return "CREATE MATERIALIZED VIEW"
		}
		return "CREATE TABLE AS"
	case *pg_query.TransactionStmt:
		if c, ok := transactionCommands[x.GetKind()]; ok {
			return c
		}
	case *pg_query.FetchStmt:
		if x.GetIsmove() {
			return "MOVE"
		}
		return "FETCH"
	case *pg_query.VacuumStmt:
		if x.GetIsVacuumcmd() {
			return "VACUUM"
		}
		return "ANALYZE"
	case *pg_query.DefineStmt:
		return "CREATE " + objectTypeName(x.GetKind())
	}
	name := m.Descriptor().Name()
	if c, ok := fixedCommands[name]; ok {
		return c
	}
	return derivedCommand(string(name))
}

func grantWord(isGrant bool) string {
	if isGrant {
		return "GRANT"
	}
	return "REVOKE"
}

// derivedCommand turns a parse node name into a command:
// "CreateForeignServerStmt" becomes "CREATE FOREIGN SERVER".
func derivedCommand(name string) string {
	name = strings.TrimSuffix(name, "Stmt")
	var b strings.Builder
	for i, r := range name {
		if i > 0 && unicode.IsUpper(r) {
			b.WriteByte(' ')
		}
		b.WriteRune(unicode.ToUpper(r))
	}
	return b.String()
}

var objectTypeNames = map[pg_query.ObjectType]string{
	pg_query.ObjectType_OBJECT_MATVIEW:         "MATERIALIZED VIEW",
	pg_query.ObjectType_OBJECT_FDW:             "FOREIGN DATA WRAPPER",
	pg_query.ObjectType_OBJECT_FOREIGN_SERVER:  "SERVER",
	pg_query.ObjectType_OBJECT_LARGEOBJECT:     "LARGE OBJECT",
	pg_query.ObjectType_OBJECT_TABCONSTRAINT:   "CONSTRAINT",
	pg_query.ObjectType_OBJECT_STATISTIC_EXT:   "STATISTICS",
	pg_query.ObjectType_OBJECT_DEFACL:          "DEFAULT PRIVILEGES",
	pg_query.ObjectType_OBJECT_TSCONFIGURATION: "TEXT SEARCH CONFIGURATION",
	pg_query.ObjectType_OBJECT_TSDICTIONARY:    "TEXT SEARCH DICTIONARY",
	pg_query.ObjectType_OBJECT_TSPARSER:        "TEXT SEARCH PARSER",
	pg_query.ObjectType_OBJECT_TSTEMPLATE:      "TEXT SEARCH TEMPLATE",
	pg_query.ObjectType_OBJECT_OPCLASS:         "OPERATOR CLASS",
	pg_query.ObjectType_OBJECT_OPFAMILY:        "OPERATOR FAMILY",
}

// objectTypeName spells an ObjectType as SQL does: OBJECT_FOREIGN_TABLE
// becomes "FOREIGN TABLE".
func objectTypeName(t pg_query.ObjectType) string {
	if n, ok := objectTypeNames[t]; ok {
		return n
	}
	return strings.ReplaceAll(strings.TrimPrefix(t.String(), "OBJECT_"), "_", " ")
}
