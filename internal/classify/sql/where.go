package sql

import (
	pg_query "github.com/pganalyze/pg_query_go/v6"
	"google.golang.org/protobuf/proto"
)

// whereKind classifies the condition cond of a statement on target.
func (w *walker) whereKind(cond *pg_query.Node, target *pg_query.RangeVar) string {
	if cond == nil || cond.GetNode() == nil {
		return WhereAbsent
	}
	names := targetNames(target)
	if w.constantCond(cond, names, 0) {
		return WhereConstant
	}
	return WherePresent
}

// targetNames are the qualifiers that name the target in column references:
// its alias if it has one, else its name.
func targetNames(r *pg_query.RangeVar) []string {
	if a := r.GetAlias().GetAliasname(); a != "" {
		return []string{a}
	}
	return []string{r.GetRelname()}
}

// constantCond reports whether cond holds (or not) independently of the
// target's rows, as far as the parse tree tells: it refers to no column of
// the target, or it is an OR with such a branch, or it compares a column
// with itself.
func (w *walker) constantCond(cond *pg_query.Node, target []string, depth int) bool {
	if depth > MaxDepth {
		return true
	}
	switch x := cond.GetNode().(type) {
	case *pg_query.Node_BoolExpr:
		args := x.BoolExpr.GetArgs()
		switch x.BoolExpr.GetBoolop() {
		case pg_query.BoolExprType_OR_EXPR:
			for _, a := range args {
				if w.constantCond(a, target, depth+1) {
					return true
				}
			}
			return false
		case pg_query.BoolExprType_AND_EXPR:
			for _, a := range args {
				if !w.constantCond(a, target, depth+1) {
					return false
				}
			}
			return true
		case pg_query.BoolExprType_NOT_EXPR:
			if len(args) == 1 {
				return w.constantCond(args[0], target, depth+1)
			}
		}
	case *pg_query.Node_AExpr:
		e := x.AExpr
		if e.GetKind() == pg_query.A_Expr_Kind_AEXPR_OP && nameOf(e.GetName()) == "=" &&
			sameColumn(e.GetLexpr(), e.GetRexpr()) {
			return true
		}
	}
	return !w.refersTo(cond, target, depth)
}

func sameColumn(a, b *pg_query.Node) bool {
	ca, cb := a.GetColumnRef(), b.GetColumnRef()
	if ca == nil || cb == nil {
		return false
	}
	return columnName(ca) == columnName(cb) && columnName(ca) != ""
}

func columnName(c *pg_query.ColumnRef) string {
	return nameOf(c.GetFields())
}

// refersTo reports whether the subtree m refers to a row of the target: a
// column reference that is unqualified or qualified with a target name, or
// WHERE CURRENT OF. Too deep a tree counts as a reference.
func (w *walker) refersTo(m proto.Message, target []string, depth int) bool {
	if depth > MaxDepth {
		return true
	}
	switch x := m.(type) {
	case *pg_query.ColumnRef:
		fields := x.GetFields()
		if len(fields) < 2 {
			return true
		}
		q := fields[len(fields)-2].GetString_().GetSval()
		for _, t := range target {
			if q == t {
				return true
			}
		}
		return false
	case *pg_query.CurrentOfExpr:
		return true
	}
	start := len(w.stack)
	w.stack = appendChildren(w.stack, m)
	found := false
	for i, end := start, len(w.stack); i < end && !found; i++ {
		found = w.refersTo(w.stack[i], target, depth+1)
	}
	w.stack = w.stack[:start]
	return found
}
