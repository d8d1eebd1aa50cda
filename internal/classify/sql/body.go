package sql

import (
	"encoding/json"
	"sort"
	"strings"

	pg_query "github.com/pganalyze/pg_query_go/v6"
)

// createFunction classifies CREATE FUNCTION/PROCEDURE: its options and
// its body, by language.
func (c *stmtCtx) createFunction(x *pg_query.CreateFunctionStmt) {
	c.w.literalRead = true // the body and the language are literals
	s := c.st()
	c.setTables(nameOf(x.GetFuncname()))
	lang := "sql"
	var body []string
	for _, o := range x.GetOptions() {
		d := o.GetDefElem()
		switch d.GetDefname() {
		case "language":
			lang = strings.ToLower(c.constString(d.GetArg()))
		case "as":
			for _, it := range d.GetArg().GetList().GetItems() {
				body = append(body, it.GetString_().GetSval())
			}
		case "security":
			if c.defBool(d) {
				c.addTo(&s.PrivilegeEscalation, "SECURITY DEFINER")
			}
		}
	}
	if x.GetSqlBody() != nil || len(body) == 0 {
		return // BEGIN ATOMIC / RETURN bodies are walked as nested statements
	}
	switch {
	case lang == "sql":
		if !c.nestedSQL(body[0], ContextFunctionBody) {
			_, err := parseTree(body[0])
			c.addTo(&c.st().DynamicSQL, "unparsed SQL function body: "+errText(err))
		}
	case lang == "plpgsql":
		c.plpgsql(c.text, ContextFunctionBody)
	default:
		c.language(lang)
	}
}

// doBlock classifies DO: the body by language.
func (c *stmtCtx) doBlock(x *pg_query.DoStmt) {
	c.w.literalRead = true // the body and the language are literals
	lang, body := "plpgsql", ""
	for _, a := range x.GetArgs() {
		d := a.GetDefElem()
		switch d.GetDefname() {
		case "language":
			lang = strings.ToLower(c.constString(d.GetArg()))
		case "as":
			body = c.constString(d.GetArg())
		}
	}
	if lang != "plpgsql" {
		c.language(lang)
		return
	}
	c.plpgsql("CREATE FUNCTION vigil_do_block() RETURNS void LANGUAGE plpgsql AS "+dollarQuote(body), ContextDoBlock)
}

// language flags a body in a language the classifier cannot read.
func (c *stmtCtx) language(lang string) {
	s := c.st()
	if untrustedLanguages[lang] {
		c.addTo(&s.ServerAccess, "language "+lang)
	}
	c.addTo(&s.DynamicSQL, lang+" body")
}

// dollarQuote quotes body with a dollar-quote tag that body does not contain.
func dollarQuote(body string) string {
	tag := "$vigil$"
	for i := 0; strings.Contains(body, tag); i++ {
		tag = "$vigil" + itoa(int64(i)) + "$"
	}
	return tag + body + tag
}

func errText(err error) string {
	if err == nil {
		return "unknown error"
	}
	return err.Error()
}

// plpgsql parses a CREATE FUNCTION statement in PL/pgSQL and classifies
// every SQL statement and expression of its body.
func (c *stmtCtx) plpgsql(createFunction, ctx string) {
	c.w.literalRead = true
	if c.level+1 > MaxNesting {
		c.addTo(&c.st().DynamicSQL, "nesting limit reached")
		return
	}
	js, err := pg_query.ParsePlPgSqlToJSON(createFunction)
	if err != nil {
		c.addTo(&c.st().DynamicSQL, "unparsed PL/pgSQL body: "+err.Error())
		return
	}
	var tree any
	if err := json.Unmarshal([]byte(js), &tree); err != nil {
		c.addTo(&c.st().DynamicSQL, "unparsed PL/pgSQL body: "+err.Error())
		return
	}
	c.plWalk(tree, "", "", ctx, 0)
}

// plWalk walks libpg_query's PL/pgSQL JSON. stmt is the enclosing
// PLpgSQL_stmt_* kind and field the key under which v sits.
func (c *stmtCtx) plWalk(v any, stmt, field, ctx string, depth int) {
	if depth > MaxDepth {
		c.w.tooDeep = true
		return
	}
	switch x := v.(type) {
	case map[string]any:
		keys := make([]string, 0, len(x))
		for k := range x {
			keys = append(keys, k)
		}
		sort.Strings(keys) // deterministic order of nested statements
		for _, k := range keys {
			val := x[k]
			switch {
			case k == "PLpgSQL_expr":
				e, _ := val.(map[string]any)
				q, _ := e["query"].(string)
				mode, _ := e["parseMode"].(float64)
				c.plExpr(q, int(mode), isDynamic(stmt, field), ctx)
			case strings.HasPrefix(k, "PLpgSQL_stmt_"):
				c.plWalk(val, k, "", ctx, depth+1)
			default:
				c.plWalk(val, stmt, k, ctx, depth+1)
			}
		}
	case []any:
		for _, e := range x {
			c.plWalk(e, stmt, field, ctx, depth+1)
		}
	}
}

// isDynamic reports whether the expression under field of a PL/pgSQL
// statement kind is SQL text executed at run time.
func isDynamic(stmt, field string) bool {
	switch stmt {
	case "PLpgSQL_stmt_dynexecute", "PLpgSQL_stmt_dynfors":
		return field == "query"
	case "PLpgSQL_stmt_return_query", "PLpgSQL_stmt_open":
		return field == "dynquery"
	}
	return false
}

// PL/pgSQL expression parse modes (PostgreSQL's RawParseMode).
const (
	parseModeDefault = 0
	parseModeExpr    = 2
)

// plExpr classifies one PL/pgSQL expression or statement.
func (c *stmtCtx) plExpr(q string, mode int, dynamic bool, ctx string) {
	if mode == parseModeDefault {
		if !c.nestedSQL(q, ctx) {
			_, err := parseTree(q)
			c.addTo(&c.st().DynamicSQL, "unparsed PL/pgSQL statement: "+errText(err))
		}
		return
	}
	if mode != parseModeExpr {
		q = assignedExpr(q) // "target := expr"
	}
	tree, err := parseTree("SELECT " + q)
	if err != nil || len(tree.GetStmts()) != 1 {
		c.addTo(&c.st().DynamicSQL, "unparsed PL/pgSQL expression: "+errText(err))
		return
	}
	sel := tree.GetStmts()[0].GetStmt().GetSelectStmt()
	if dynamic {
		targets := sel.GetTargetList()
		text, ok := "", false
		if len(targets) == 1 {
			text, ok = c.stringConst(targets[0].GetResTarget().GetVal())
		}
		if !ok || !c.nestedSQL(text, ContextDynamic) {
			c.addTo(&c.st().DynamicSQL, "EXECUTE")
		}
	}
	// Functions and subqueries in the expression belong to the block.
	if sel != nil {
		c.visit(sel.ProtoReflect(), 1)
	}
}

// assignedExpr returns the expression of a PL/pgSQL assignment
// "target := expr" (or "target = expr"), found with the SQL scanner.
func assignedExpr(q string) string {
	scan, err := pg_query.Scan(q)
	if err != nil {
		return q
	}
	for _, t := range scan.GetTokens() {
		switch t.GetToken() {
		case pg_query.Token_COLON_EQUALS, pg_query.Token_ASCII_61:
			if end := int(t.GetEnd()); end <= len(q) {
				return q[end:]
			}
		}
	}
	return q
}
