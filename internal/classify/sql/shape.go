package sql

import (
	"errors"
	"sort"
	"strings"

	pg_query "github.com/pganalyze/pg_query_go/v6"
	"github.com/pganalyze/pg_query_go/v6/parser"
	"google.golang.org/protobuf/encoding/protowire"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"
)

// Shapes: texts that differ only in the values of their literals.
//
// A Shape's Key is the text as PostgreSQL's own scanner (pg_query.Scan)
// tokenizes it, with the bytes of every constant token (ICONST, FCONST,
// SCONST, BCONST, XCONST) replaced by a NUL byte and the token's kind.
// Everything else (keywords, identifiers, operators, parameters, comments,
// white space) stays byte for byte. Texts with a NUL byte are never shaped
// (checkInput refuses them), so the key is unambiguous: two texts have the
// same key exactly when one is the other with constant tokens replaced by
// constant tokens of the same kind.
//
// Why two such texts parse alike: PostgreSQL's grammar is LALR(1); which
// rules it reduces depends on token kinds alone, never on a token's value.
// The only value-dependent steps between the scanner and the tree are
// (1) parser.c's handling of U&'...' strings, U&"..." identifiers and
// UESCAPE, which decode and can fail — texts with those tokens are not
// shaped — and (2) grammar actions that read a constant's value: FLOAT(p),
// ALTER TABLE ... SET STATISTICS n, option values kept as String or Integer
// nodes, COPY file names, function bodies... Such actions never make an
// A_Const of the token. So a text is admitted only when every constant
// token of it ended up in an A_Const that pg_query.Normalize replaces by $n
// (checked against Normalize's own output, which also proves the
// "normalized" attribute carries no literal). Then the other text's tree is
// the same tree with other A_Const values (and shifted locations).
//
// Why the attributes are then the same: see admissible. The classification
// of an admitted text reads no A_Const value (the walker's literal reads
// are tripwired, and the tree holds only an allow-list of node types and
// pure functions), the fingerprint ignores A_Const values, and the
// normalized text replaces every constant token.

// Shape is the literal-free form of a SQL text, from ScanShape.
type Shape struct {
	// Key is equal for texts that differ only in their constants' values.
	Key  string
	toks []scanToken
}

type scanToken struct {
	start, end int
	tok        pg_query.Token
}

func isConstToken(t pg_query.Token) bool {
	switch t {
	case pg_query.Token_ICONST, pg_query.Token_FCONST, pg_query.Token_SCONST,
		pg_query.Token_BCONST, pg_query.Token_XCONST:
		return true
	}
	return false
}

var errScan = errors.New("unexpected scan output")

// ScanShape scans text with PostgreSQL's scanner and returns its Shape, or
// nil when the text has none: it fails checkInput, does not scan, or holds a
// Unicode-escape string or identifier (decoded, and possibly refused, after
// the scanner); or it has no constant at all, so that its shape is its exact
// text, which the exact-text cache already covers.
func ScanShape(text string) *Shape {
	sh := scanShape(text)
	if sh == nil || sh.Key == text {
		return nil
	}
	return sh
}

func scanShape(text string) *Shape {
	if checkInput(text) != "" {
		return nil
	}
	pb, err := parser.ScanToProtobuf(text)
	if err != nil {
		return nil
	}
	toks, err := decodeScan(pb, len(text))
	if err != nil {
		return nil
	}
	var b strings.Builder
	b.Grow(len(text))
	prev := 0
	for _, t := range toks {
		switch t.tok {
		case pg_query.Token_USCONST, pg_query.Token_UIDENT, pg_query.Token_UESCAPE:
			return nil
		}
		if !isConstToken(t.tok) {
			continue
		}
		b.WriteString(text[prev:t.start])
		b.WriteByte(0)
		b.WriteByte(byte(t.tok - pg_query.Token_UIDENT)) // 1..7
		prev = t.end
	}
	if prev == 0 {
		return &Shape{Key: text, toks: toks} // no constant
	}
	b.WriteString(text[prev:])
	return &Shape{Key: b.String(), toks: toks}
}

// decodeScan decodes pg_query's ScanResult protobuf without building a
// message per token. It insists that tokens are in order, do not overlap
// and lie within the text.
func decodeScan(b []byte, n int) ([]scanToken, error) {
	toks := make([]scanToken, 0, 32)
	last := 0
	for len(b) > 0 {
		num, typ, l := protowire.ConsumeTag(b)
		if l < 0 {
			return nil, errScan
		}
		b = b[l:]
		if num != 2 || typ != protowire.BytesType {
			l = protowire.ConsumeFieldValue(num, typ, b)
			if l < 0 {
				return nil, errScan
			}
			b = b[l:]
			continue
		}
		msg, l := protowire.ConsumeBytes(b)
		if l < 0 {
			return nil, errScan
		}
		b = b[l:]
		var t scanToken
		for len(msg) > 0 {
			num, typ, l := protowire.ConsumeTag(msg)
			if l < 0 {
				return nil, errScan
			}
			msg = msg[l:]
			if typ != protowire.VarintType {
				l = protowire.ConsumeFieldValue(num, typ, msg)
				if l < 0 {
					return nil, errScan
				}
				msg = msg[l:]
				continue
			}
			v, l := protowire.ConsumeVarint(msg)
			if l < 0 {
				return nil, errScan
			}
			msg = msg[l:]
			switch num {
			case 1:
				t.start = int(int32(v))
			case 2:
				t.end = int(int32(v))
			case 4:
				t.tok = pg_query.Token(int32(v))
			}
		}
		if t.start < last || t.end <= t.start || t.end > n {
			return nil, errScan
		}
		last = t.end
		toks = append(toks, t)
	}
	return toks, nil
}

// ClassifyShaped classifies text as Classify does. sh is text's Shape from
// ScanShape (nil if it has none). shared reports that the Result is exactly
// what Classify returns for every text with the same Shape.Key: see
// admissible.
func ClassifyShaped(text string, sh *Shape) (res *Result, shared bool, err error) {
	return classifyText(text, sh)
}

// pureFunctions are the functions an admitted text may call: built-ins that
// neither touch the server nor run SQL, and whose arguments the classifier
// never reads. Anything else (set_config, dblink, pg_read_file, ...) keeps
// the text out of the shape cache.
var pureFunctions = map[string]bool{
	"count": true, "sum": true, "avg": true, "min": true, "max": true,
	"now": true, "lower": true, "upper": true, "length": true,
	"char_length": true, "abs": true, "round": true, "floor": true,
	"ceil": true, "ceiling": true, "trunc": true, "mod": true,
	"date_trunc": true, "date_part": true, "to_char": true,
	"to_timestamp": true, "to_date": true, "substring": true,
	"substr": true, "btrim": true, "ltrim": true, "rtrim": true,
	"concat": true, "concat_ws": true, "array_agg": true,
	"string_agg": true, "bool_and": true, "bool_or": true,
	"row_number": true, "rank": true, "dense_rank": true,
	"timezone": true, "position": true, "replace": true,
	"split_part": true, "left": true, "right": true, "md5": true,
	"array_length": true, "unnest": true, "any_value": true,
}

// allowedNodes are the parse-node types an admitted tree may hold: the
// statements SELECT, INSERT, UPDATE and DELETE and plain expressions. No
// utility statement, no SET, DO, COPY, function definition, option list
// (DefElem) or anything else that carries a constant's value elsewhere than
// in an A_Const.
var allowedNodes = map[protoreflect.Name]bool{
	"Node": true, "List": true, "String": true, "Integer": true, "Float": true,
	"Boolean": true, "BitString": true, "A_Const": true, "A_Star": true,
	"ParamRef": true, "ColumnRef": true, "ResTarget": true, "A_Expr": true,
	"BoolExpr": true, "NullTest": true, "BooleanTest": true, "FuncCall": true,
	"TypeCast": true, "TypeName": true, "RangeVar": true, "Alias": true,
	"JoinExpr": true, "SortBy": true, "SubLink": true, "A_ArrayExpr": true,
	"A_Indirection": true, "A_Indices": true, "CaseExpr": true,
	"CaseWhen": true, "CoalesceExpr": true, "MinMaxExpr": true,
	"SQLValueFunction": true, "RowExpr": true, "MultiAssignRef": true,
	"RangeSubselect": true, "WithClause": true, "CommonTableExpr": true,
	"OnConflictClause": true, "InferClause": true, "IndexElem": true,
	"LockingClause": true, "WindowDef": true, "GroupingSet": true,
	"SetToDefault": true, "CollateClause": true,
	"SelectStmt": true, "InsertStmt": true, "UpdateStmt": true, "DeleteStmt": true,
}

// shapeCheck collects what admissible needs from a tree.
type shapeCheck struct {
	consts   []int // A_Const locations outside type names
	maxParam int32
	ok       bool
	stack    []proto.Message // as walker.stack
}

func (s *shapeCheck) walk(m proto.Message, inType bool, depth int) {
	if !s.ok {
		return
	}
	if depth > MaxDepth || !allowedNodes[m.ProtoReflect().Descriptor().Name()] {
		s.ok = false
		return
	}
	switch x := m.(type) {
	case *pg_query.A_Const:
		if !inType && x.GetLocation() >= 0 {
			s.consts = append(s.consts, int(x.GetLocation()))
		}
		return // its value is a leaf
	case *pg_query.ParamRef:
		s.maxParam = max(s.maxParam, x.GetNumber())
	case *pg_query.FuncCall:
		name := nameOf(x.GetFuncname())
		name = strings.TrimPrefix(name, "pg_catalog.")
		if !pureFunctions[name] {
			s.ok = false
			return
		}
	case *pg_query.TypeName:
		inType = true // Normalize leaves typmods alone
	}
	start := len(s.stack)
	s.stack = appendChildren(s.stack, m)
	for i, end := start, len(s.stack); i < end && s.ok; i++ {
		s.walk(s.stack[i], inType, depth+1)
	}
	s.stack = s.stack[:start]
}

// admissible reports whether res, the classification of text (parsed into
// tree, with literal reads by the walker in literalRead), holds for every
// text of the shape sh. It is conservative: anything it cannot vouch for
// is refused, and the text is then only cached by its exact bytes.
//
//  1. The text parsed; the walker read no literal value (constString,
//     stringConst, bodies, nested SQL and settings set literalRead).
//  2. Every statement, nested ones included, is SELECT, INSERT, UPDATE or
//     DELETE, every node is of an allowed type, every function is pure.
//  3. The A_Const locations, each extended over its token (and over the
//     constant after a leading '-', as the grammar folds it), cover every
//     constant token; replacing these spans by $n in order (after the
//     highest parameter number) gives exactly res.Normalized. So every
//     constant's value went into an A_Const, which Normalize replaced.
func admissible(text string, tree *pg_query.ParseResult, res *Result, literalRead bool, sh *Shape) bool {
	if sh == nil || res.Unparseable || literalRead || len(res.Statements) == 0 {
		return false
	}
	s := shapeCheck{ok: true}
	for _, raw := range tree.GetStmts() {
		m := nodeInner(raw.GetStmt())
		if m == nil {
			return false
		}
		s.walk(m, false, 0)
		if !s.ok {
			return false
		}
	}
	sort.Ints(s.consts)
	toks := sh.toks
	var b strings.Builder
	b.Grow(len(text))
	prev, n, ti := 0, int(s.maxParam), 0
	last := -1
	for _, loc := range s.consts {
		if loc == last {
			continue
		}
		last = loc
		for ti < len(toks) && toks[ti].start < loc {
			if isConstToken(toks[ti].tok) {
				return false // a constant outside every span
			}
			ti++
		}
		if ti == len(toks) || toks[ti].start != loc {
			return false
		}
		end := toks[ti].end
		if toks[ti].tok == pg_query.Token_ASCII_45 { // '-' folded into the constant
			ti++
			if ti == len(toks) || (toks[ti].tok != pg_query.Token_ICONST && toks[ti].tok != pg_query.Token_FCONST) {
				return false
			}
			end = toks[ti].end
		}
		ti++
		n++
		b.WriteString(text[prev:loc])
		b.WriteByte('$')
		b.WriteString(itoa(int64(n)))
		prev = end
	}
	for ; ti < len(toks); ti++ {
		if isConstToken(toks[ti].tok) {
			return false
		}
	}
	b.WriteString(text[prev:])
	return b.String() == res.Normalized
}

// LiteralVariants returns up to 14 texts of text's shape: its constant tokens
// replaced by other constants of the same kind, chosen to matter to a
// classifier that read them (safeguard settings, dynamic SQL, file paths,
// languages). Differential tests use it to check that whatever is shared
// across a shape is the same for every text of it.
func LiteralVariants(text string) []string {
	sh := ScanShape(text)
	if sh == nil {
		return nil
	}
	repl := map[pg_query.Token][]string{
		pg_query.Token_ICONST: {"0", "7", "2147483647", "0x10", "1_000"},
		pg_query.Token_FCONST: {"0.5", "99999999999999999999", "1e3"},
		pg_query.Token_SCONST: {"''", "'replica'", "'off'", "'origin'", "'DROP TABLE users'",
			"$$ BEGIN EXECUTE 'DROP TABLE t'; END $$", "'/etc/passwd'", "'sql'", "'plpythonu'",
			"E'a\\nb'", "'true'", "'0'", "'session_replication_role'", "'pg_read_file'"},
		pg_query.Token_BCONST: {"B''", "B'1'"},
		pg_query.Token_XCONST: {"X'00'", "X''"},
	}
	var out []string
	for v := 0; v < 14; v++ {
		var b strings.Builder
		prev, changed := 0, false
		for i, tk := range sh.toks {
			r := repl[tk.tok]
			if len(r) == 0 {
				continue
			}
			b.WriteString(text[prev:tk.start])
			b.WriteString(r[(v+i)%len(r)])
			prev = tk.end
			changed = true
		}
		if !changed {
			return nil
		}
		b.WriteString(text[prev:])
		out = append(out, b.String())
	}
	return out
}
