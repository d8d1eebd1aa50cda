package sql

import (
	"strings"

	pg_query "github.com/pganalyze/pg_query_go/v6"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"
)

// walker classifies the parse trees of one Classify call.
type walker struct {
	res     *Result
	tooDeep bool
	// literalRead is set whenever the classification read the value of a
	// constant (a string, number or boolean written in the text), or text
	// parsed again from one: such a Result is never shared between texts
	// that differ only in their literals (see admissible).
	literalRead bool
	// stack holds the children of the messages being visited, the
	// deepest last (appendChildren).
	stack []proto.Message
}

// stmtCtx is the statement being filled while its subtree is walked.
type stmtCtx struct {
	w           *walker
	idx         int    // index in w.res.Statements
	text        string // source text of the statement, for PL/pgSQL bodies
	level       int    // re-parse nesting level
	explainOnly bool
	tablesSet   bool
	ctes        []string // names the statement's WITH defines: not relations
}

func (c *stmtCtx) st() *Statement { return &c.w.res.Statements[c.idx] }

// inner returns the message a Node wraps, or nil.
func inner(n *pg_query.Node) protoreflect.Message {
	if m := nodeInner(n); m != nil {
		return m.ProtoReflect()
	}
	return nil
}

// parsed classifies every statement of tree, parsed from src.
func (w *walker) parsed(tree *pg_query.ParseResult, src string, nested bool, ctx string, level int, explainOnly bool) {
	for _, raw := range tree.GetStmts() {
		m := inner(raw.GetStmt())
		if m == nil {
			continue
		}
		w.statement(m, stmtText(src, raw), nested, ctx, level, explainOnly, 0)
	}
}

// stmtText slices the text of raw out of src.
func stmtText(src string, raw *pg_query.RawStmt) string {
	start := int(raw.GetStmtLocation())
	if start < 0 || start > len(src) {
		return src
	}
	end := len(src)
	if l := int(raw.GetStmtLen()); l > 0 && start+l <= len(src) {
		end = start + l
	}
	return src[start:end]
}

// statement records m as a Statement and walks its subtree.
func (w *walker) statement(m protoreflect.Message, text string, nested bool, ctx string, level int, explainOnly bool, depth int) {
	if depth > MaxDepth {
		w.tooDeep = true
		return
	}
	w.res.Statements = append(w.res.Statements, Statement{
		Command:     command(m),
		Nested:      nested,
		Context:     ctx,
		ExplainOnly: explainOnly,
	})
	c := &stmtCtx{w: w, idx: len(w.res.Statements) - 1, text: text, level: level, explainOnly: explainOnly}
	if wc, ok := m.Interface().(interface{ GetWithClause() *pg_query.WithClause }); ok {
		for _, cte := range wc.GetWithClause().GetCtes() {
			c.ctes = append(c.ctes, cte.GetCommonTableExpr().GetCtename())
		}
	}
	c.specific(m.Interface())
	c.visit(m, depth+1)
	if s := c.st(); !c.tablesSet {
		s.Tables = s.Relations
	}
}

// visit walks the children of m.
func (c *stmtCtx) visit(m protoreflect.Message, depth int) {
	if depth > MaxDepth {
		c.w.tooDeep = true
		return
	}
	w := c.w
	start := len(w.stack)
	w.stack = appendChildren(w.stack, m.Interface())
	// Children push their own children past end and pop them again.
	for i, end := start, len(w.stack); i < end && !w.tooDeep; i++ {
		c.child(w.stack[i].ProtoReflect(), m, depth)
	}
	w.stack = w.stack[:start]
}

// child handles one child message of parent, looking through the Node
// and List wrappers.
func (c *stmtCtx) child(m, parent protoreflect.Message, depth int) {
	switch x := m.Interface().(type) {
	case *pg_query.Node:
		if c.fast(x, depth+1) {
			return
		}
		if m = inner(x); m == nil {
			return
		}
		if l, ok := m.Interface().(*pg_query.List); ok {
			for _, it := range l.GetItems() {
				if c.w.tooDeep {
					return
				}
				c.child(it.ProtoReflect(), parent, depth+1)
			}
			return
		}
	case *pg_query.List:
		for _, it := range x.GetItems() {
			if c.w.tooDeep {
				return
			}
			c.child(it.ProtoReflect(), parent, depth+1)
		}
		return
	}
	c.node(m, parent, depth+1)
}

// node handles one message in the subtree of the current statement.
func (c *stmtCtx) node(m, parent protoreflect.Message, depth int) {
	if depth > MaxDepth {
		c.w.tooDeep = true
		return
	}
	switch x := m.Interface().(type) {
	case *pg_query.FuncCall:
		c.funcCall(x)
	case *pg_query.RangeVar:
		c.relation(x)
	case *pg_query.JsonScalarExpr, *pg_query.JsonSerializeExpr, *pg_query.JsonParseExpr, *pg_query.JsonFuncExpr,
		*pg_query.JsonTable, *pg_query.JsonObjectConstructor, *pg_query.JsonArrayConstructor,
		*pg_query.JsonArrayQueryConstructor, *pg_query.JsonObjectAgg, *pg_query.JsonArrayAgg, *pg_query.MergeSupportFunc:
		c.calls(syntaxFunction(x))
	case *pg_query.VariableSetStmt:
		// SET clauses of CREATE FUNCTION, ALTER SYSTEM, ALTER ROLE ... SET:
		// part of the enclosing statement.
		c.setting(x)
		return
	}
	if isStatement(m) {
		ctx, holder := nestedContext(parent)
		_, isSelect := m.Interface().(*pg_query.SelectStmt)
		if holder || !isSelect {
			explainOnly := c.explainOnly
			if e, ok := parent.Interface().(*pg_query.ExplainStmt); ok {
				if c.explainAnalyze(e) {
					ctx = ContextExplainAnalyze
				} else {
					explainOnly = true
				}
			}
			c.w.statement(m, c.text, true, ctx, c.level, explainOnly, depth)
			return
		}
	}
	c.visit(m, depth)
}

// isStatement reports whether m is a statement node (its type ends in Stmt).
func isStatement(m protoreflect.Message) bool {
	name := string(m.Descriptor().Name())
	return strings.HasSuffix(name, "Stmt") && name != "RawStmt"
}

// nestedContext names where a statement whose parent is parent sits, and
// whether parent holds whole statements (so a SELECT there is a statement of
// its own, not a subquery).
func nestedContext(parent protoreflect.Message) (string, bool) {
	switch parent.Interface().(type) {
	case *pg_query.CommonTableExpr:
		return ContextCTE, true
	case *pg_query.ExplainStmt:
		return ContextExplain, true
	case *pg_query.CopyStmt:
		return ContextCopy, true
	case *pg_query.PrepareStmt:
		return ContextPrepare, true
	case *pg_query.RuleStmt:
		return ContextRule, true
	case *pg_query.CreateTableAsStmt:
		return ContextCreateTableAs, true
	case *pg_query.DeclareCursorStmt:
		return ContextCursor, true
	case *pg_query.ViewStmt:
		return ContextView, true
	case *pg_query.CreateSchemaStmt:
		return ContextSchema, true
	case *pg_query.CreateFunctionStmt:
		return ContextFunctionBody, true
	}
	return ContextStatement, false
}

// explainAnalyze reports whether an EXPLAIN runs its statement. PostgreSQL
// takes the last of repeated analyze options, so (ANALYZE off, ANALYZE)
// runs: any analyze option that is, or may be, true counts, whatever its
// place.
func (c *stmtCtx) explainAnalyze(e *pg_query.ExplainStmt) bool {
	runs := false
	for _, o := range e.GetOptions() {
		d := o.GetDefElem()
		if d == nil || d.GetDefname() != "analyze" {
			continue
		}
		if d.GetArg() == nil {
			runs = true
			continue
		}
		if v, ok := parseBool(c.constString(d.GetArg())); !ok || v { // unreadable: assume it runs
			runs = true
		}
	}
	return runs
}

// relation records a relation reference.
func (c *stmtCtx) relation(r *pg_query.RangeVar) {
	if r.GetRelname() == "" {
		return
	}
	if r.GetSchemaname() == "" && r.GetCatalogname() == "" {
		for _, n := range c.ctes {
			if n == r.GetRelname() {
				return
			}
		}
	}
	s := c.st()
	s.Relations = appendUnique(s.Relations, rangeVarName(r))
}

func rangeVarName(r *pg_query.RangeVar) string {
	return joinName(r.GetCatalogname(), r.GetSchemaname(), r.GetRelname())
}

func joinName(parts ...string) string {
	var b strings.Builder
	for _, p := range parts {
		if p == "" {
			continue
		}
		if b.Len() > 0 {
			b.WriteByte('.')
		}
		b.WriteString(p)
	}
	return b.String()
}

// nameOf joins the String items of a name list ("schema", "table").
func nameOf(nodes []*pg_query.Node) string {
	parts := make([]string, 0, len(nodes))
	for _, n := range nodes {
		if s := n.GetString_(); s != nil {
			parts = append(parts, s.GetSval())
		}
	}
	return joinName(parts...)
}

// objectName names a DROP/GRANT object: a name list, a string, a
// function signature, a type, a relation or a role.
func objectName(n *pg_query.Node) string {
	switch x := n.GetNode().(type) {
	case *pg_query.Node_String_:
		return x.String_.GetSval()
	case *pg_query.Node_List:
		return nameOf(x.List.GetItems())
	case *pg_query.Node_ObjectWithArgs:
		return nameOf(x.ObjectWithArgs.GetObjname())
	case *pg_query.Node_TypeName:
		return nameOf(x.TypeName.GetNames())
	case *pg_query.Node_RangeVar:
		return rangeVarName(x.RangeVar)
	case *pg_query.Node_RoleSpec:
		return roleName(x.RoleSpec)
	}
	return ""
}

func roleName(r *pg_query.RoleSpec) string {
	switch r.GetRoletype() {
	case pg_query.RoleSpecType_ROLESPEC_PUBLIC:
		return "public"
	case pg_query.RoleSpecType_ROLESPEC_CURRENT_USER:
		return "current_user"
	case pg_query.RoleSpecType_ROLESPEC_SESSION_USER:
		return "session_user"
	case pg_query.RoleSpecType_ROLESPEC_CURRENT_ROLE:
		return "current_role"
	}
	return r.GetRolename()
}

// setTables sets the statement's target objects explicitly.
func (c *stmtCtx) setTables(names ...string) {
	s := c.st()
	for _, n := range names {
		if n != "" {
			s.Tables = appendUnique(s.Tables, n)
		}
	}
	c.tablesSet = true
}

func (c *stmtCtx) addTo(list *[]string, v string) { *list = appendUnique(*list, v) }

// constString returns the string value of a constant node (a string or
// numeric constant, an identifier, a boolean), or "".
func constString(n *pg_query.Node) string {
	switch x := n.GetNode().(type) {
	case *pg_query.Node_AConst:
		switch v := x.AConst.GetVal().(type) {
		case *pg_query.A_Const_Sval:
			return v.Sval.GetSval()
		case *pg_query.A_Const_Ival:
			return itoa(int64(v.Ival.GetIval()))
		case *pg_query.A_Const_Fval:
			return v.Fval.GetFval()
		case *pg_query.A_Const_Boolval:
			if v.Boolval.GetBoolval() {
				return "true"
			}
			return "false"
		}
	case *pg_query.Node_String_:
		return x.String_.GetSval()
	case *pg_query.Node_Integer:
		return itoa(int64(x.Integer.GetIval()))
	case *pg_query.Node_Boolean:
		if x.Boolean.GetBoolval() {
			return "true"
		}
		return "false"
	case *pg_query.Node_TypeCast:
		return constString(x.TypeCast.GetArg())
	}
	return ""
}

// constString is constString, noting that a literal was read.
func (c *stmtCtx) constString(n *pg_query.Node) string {
	c.w.literalRead = true
	return constString(n)
}

// stringConst is stringConst, noting that a literal was read.
func (c *stmtCtx) stringConst(n *pg_query.Node) (string, bool) {
	c.w.literalRead = true
	return stringConst(n)
}

// stringConst returns the value of a string constant (possibly cast).
func stringConst(n *pg_query.Node) (string, bool) {
	switch x := n.GetNode().(type) {
	case *pg_query.Node_AConst:
		if v, ok := x.AConst.GetVal().(*pg_query.A_Const_Sval); ok {
			return v.Sval.GetSval(), true
		}
	case *pg_query.Node_TypeCast:
		return stringConst(x.TypeCast.GetArg())
	}
	return "", false
}

func itoa(v int64) string {
	if v == 0 {
		return "0"
	}
	neg := v < 0
	if neg {
		v = -v
	}
	var b [24]byte
	i := len(b)
	for v > 0 {
		i--
		b[i] = byte('0' + v%10)
		v /= 10
	}
	if neg {
		i--
		b[i] = '-'
	}
	return string(b[i:])
}

// parseBool mirrors PostgreSQL's parse_bool: unique prefixes of true,
// false, yes, no, on (2 letters), off (2 letters), and 1, 0.
func parseBool(s string) (bool, bool) {
	s = strings.ToLower(strings.TrimSpace(s))
	switch {
	case s == "":
		return false, false
	case strings.HasPrefix("true", s), strings.HasPrefix("yes", s), s == "1":
		return true, true
	case strings.HasPrefix("false", s), strings.HasPrefix("no", s), s == "0":
		return false, true
	case len(s) >= 2 && strings.HasPrefix("on", s):
		return true, true
	case len(s) >= 2 && strings.HasPrefix("off", s):
		return false, true
	}
	return false, false
}

// fast walks the most common expression nodes without protobuf reflection
// (the walk's main cost). It reports whether it handled n. None of these
// nodes is a statement or holds one directly.
func (c *stmtCtx) fast(n *pg_query.Node, depth int) bool {
	if depth > MaxDepth {
		c.w.tooDeep = true
		return true
	}
	switch x := n.GetNode().(type) {
	case *pg_query.Node_String_, *pg_query.Node_AConst, *pg_query.Node_ParamRef,
		*pg_query.Node_AStar, *pg_query.Node_Integer, *pg_query.Node_Float,
		*pg_query.Node_Boolean, *pg_query.Node_ColumnRef:
		// Leaves: a ColumnRef holds only String and A_Star fields.
	case *pg_query.Node_RangeVar:
		c.relation(x.RangeVar) // its Alias holds only names
	case *pg_query.Node_ResTarget:
		c.fastList(x.ResTarget.GetIndirection(), depth)
		c.fastOne(x.ResTarget.GetVal(), depth)
	case *pg_query.Node_AExpr:
		c.fastOne(x.AExpr.GetLexpr(), depth)
		c.fastOne(x.AExpr.GetRexpr(), depth)
	case *pg_query.Node_BoolExpr:
		c.fastList(x.BoolExpr.GetArgs(), depth)
	case *pg_query.Node_FuncCall:
		f := x.FuncCall
		c.funcCall(f)
		c.fastList(f.GetArgs(), depth)
		c.fastList(f.GetAggOrder(), depth)
		c.fastOne(f.GetAggFilter(), depth)
		if f.GetOver() != nil {
			c.visit(f.GetOver().ProtoReflect(), depth)
		}
	default:
		return false
	}
	return true
}

func (c *stmtCtx) fastOne(n *pg_query.Node, depth int) {
	if n == nil || c.w.tooDeep {
		return
	}
	if !c.fast(n, depth+1) {
		if m := inner(n); m != nil {
			c.node(m, n.ProtoReflect(), depth+1)
		}
	}
}

func (c *stmtCtx) fastList(ns []*pg_query.Node, depth int) {
	for _, n := range ns {
		c.fastOne(n, depth)
	}
}

// syntaxFunction names the function a piece of SQL/JSON syntax stands for.
// The parser here has PostgreSQL 17's grammar, which turns json_scalar(...),
// json_value(...), merge_action() and the like into nodes of their own; a
// server older than their syntax parses the same text as calls of ordinary
// functions of those names, which a user may have created. Recording them in
// Functions keeps them visible to rules either way.
func syntaxFunction(n any) string {
	switch x := n.(type) {
	case *pg_query.JsonScalarExpr:
		return "json_scalar"
	case *pg_query.JsonSerializeExpr:
		return "json_serialize"
	case *pg_query.JsonParseExpr:
		return "json"
	case *pg_query.JsonFuncExpr:
		switch x.GetOp() {
		case pg_query.JsonExprOp_JSON_EXISTS_OP:
			return "json_exists"
		case pg_query.JsonExprOp_JSON_QUERY_OP:
			return "json_query"
		case pg_query.JsonExprOp_JSON_VALUE_OP:
			return "json_value"
		}
		return "json_table"
	case *pg_query.JsonTable:
		return "json_table"
	case *pg_query.JsonObjectConstructor:
		return "json_object"
	case *pg_query.JsonArrayConstructor, *pg_query.JsonArrayQueryConstructor:
		return "json_array"
	case *pg_query.JsonObjectAgg:
		return "json_objectagg"
	case *pg_query.JsonArrayAgg:
		return "json_arrayagg"
	case *pg_query.MergeSupportFunc:
		return "merge_action"
	}
	return ""
}
