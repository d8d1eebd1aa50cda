package sql

// Attrs returns r as the plain map rules see: exactly what its JSON form
// decodes to (and what classify.Attrs gives: lists as []any, nested
// statements as maps), but built without reflection.
func (r *Result) Attrs() map[string]any {
	stmts := []any(nil)
	if r.Statements != nil {
		stmts = make([]any, len(r.Statements))
		for i := range r.Statements {
			stmts[i] = r.Statements[i].attrs()
		}
	}
	m := make(map[string]any, 19)
	m["statements"] = stmts
	m["unparseable"] = r.Unparseable
	if r.ParseError != "" {
		m["parse_error"] = r.ParseError
	}
	m["fingerprint"] = r.Fingerprint
	m["normalized"] = r.Normalized
	m["literals_matter"] = r.LiteralsMatter
	m["commands"] = strList(r.Commands)
	m["tables"] = strList(r.Tables)
	m["table_names"] = strList(r.TableNames)
	m["functions"] = strList(r.Functions)
	m["any_write_all_rows"] = r.AnyWriteAllRows
	m["any_drop"] = r.AnyDrop
	m["any_truncate"] = r.AnyTruncate
	m["any_drop_column"] = r.AnyDropColumn
	m["any_privilege_escalation"] = r.AnyPrivilegeEscalation
	m["any_server_access"] = r.AnyServerAccess
	m["any_dynamic_sql"] = r.AnyDynamicSQL
	m["any_safeguard_off"] = r.AnySafeguardOff
	return m
}

func (s *Statement) attrs() map[string]any {
	m := make(map[string]any, 17)
	m["command"] = s.Command
	m["nested"] = s.Nested
	m["context"] = s.Context
	m["explain_only"] = s.ExplainOnly
	m["tables"] = strList(s.Tables)
	m["relations"] = strList(s.Relations)
	m["where"] = s.Where
	m["join_without_where"] = s.JoinWithoutWhere
	m["all_rows"] = s.AllRows
	m["drop_object_type"] = s.DropObjectType
	m["cascade"] = s.Cascade
	m["drop_column"] = s.DropColumn
	m["privilege_escalation"] = strList(s.PrivilegeEscalation)
	m["server_access"] = strList(s.ServerAccess)
	m["functions"] = strList(s.Functions)
	m["dynamic_sql"] = strList(s.DynamicSQL)
	m["safeguard_off"] = strList(s.SafeguardOff)
	return m
}

// emptyList is every empty list: shared, since an empty slice cannot be
// changed in place.
var emptyList any = []any{}

// strList is a []string as JSON decodes it: []any, nil for nil.
func strList(l []string) any {
	switch {
	case l == nil:
		return nil
	case len(l) == 0:
		return emptyList
	}
	out := make([]any, len(l))
	for i, s := range l {
		out[i] = s
	}
	return out
}
