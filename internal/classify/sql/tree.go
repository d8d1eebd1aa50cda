package sql

import (
	"errors"
	"math"
	"slices"
	"strconv"
	"strings"
	"sync"
	"unicode/utf16"
	"unicode/utf8"

	pg_query "github.com/pganalyze/pg_query_go/v6"
	"github.com/pganalyze/pg_query_go/v6/parser"
)

// parseTree parses text with the PostgreSQL parser, as pg_query.Parse does,
// and returns the same tree.
//
// pg_query.Parse has libpg_query serialize the tree with protobuf-c, which
// costs about 15 µs for a typical statement: protobuf-c visits all ~270
// fields of every Node's oneof, twice. libpg_query's JSON output of the same
// tree takes about 2 µs; it is decoded here straight into pg_query's Go
// types by code generated from the bindings' own protobuf descriptors
// (tree_gen.go, written by ./treegen). Only the transport differs: the tree
// is built by the same parser from the same text (tests compare the two
// trees with proto.Equal). If the JSON cannot be decoded (not expected; or
// the tree is larger or deeper than the decoder takes), the text is parsed
// again with pg_query.Parse, so the result and its errors are always those
// of pg_query.Parse.
func parseTree(text string) (*pg_query.ParseResult, error) {
	js, err := parser.ParseToJSON(text)
	if err != nil {
		return nil, err // a *parser.Error, as from pg_query.Parse
	}
	tree, err := decodeTree(js)
	if err != nil {
		return pg_query.Parse(text)
	}
	return tree, nil
}

//go:generate go run ./treegen -o tree_gen.go

// Limits of the JSON decoder. Beyond them pg_query.Parse takes over, and
// its protobuf decoder's own limits apply.
const (
	maxTreeJSON  = 256 << 10
	maxTreeDepth = 200 // nested JSON objects
)

var errTreeJSON = errors.New("unexpected parse tree JSON")

// decodeTree decodes libpg_query's JSON form of a parse tree: the protobuf
// JSON mapping of pg_query.proto, with JSON or proto field names and enums
// by name. Strings without escapes share js's memory.
func decodeTree(js string) (*pg_query.ParseResult, error) {
	if len(js) > maxTreeJSON {
		return nil, errTreeJSON
	}
	sp := nodeStacks.Get().(*[]*pg_query.Node)
	defer nodeStacks.Put(sp)
	d := treeDecoder{s: js, nodeStack: (*sp)[:0]}
	tree := &pg_query.ParseResult{}
	d.fillParseResult(tree)
	*sp = d.nodeStack[:0]
	if d.err || d.skipSpace() < len(d.s) {
		return nil, errTreeJSON
	}
	return tree, nil
}

var nodeStacks = sync.Pool{New: func() any { s := make([]*pg_query.Node, 0, 64); return &s }}

// treeDecoder reads the JSON the generated fill and new functions decode.
// Anything unexpected sets err, after which every read returns at once with
// a zero value: the caller discards the tree.
type treeDecoder struct {
	s     string
	i     int
	depth int
	err   bool
	// nodeStack holds the elements of the Node lists being decoded, the
	// innermost last, so that each list is allocated once, at its size.
	nodeStack []*pg_query.Node
}

func (d *treeDecoder) fail() { d.err = true }

func (d *treeDecoder) skipSpace() int {
	for d.i < len(d.s) {
		switch d.s[d.i] {
		case ' ', '\t', '\n', '\r':
			d.i++
		default:
			return d.i
		}
	}
	return d.i
}

// consume skips spaces and the byte c, reporting whether it was there.
func (d *treeDecoder) consume(c byte) bool {
	if d.skipSpace() < len(d.s) && d.s[d.i] == c {
		d.i++
		return true
	}
	return false
}

// null consumes a JSON null, reporting whether there was one: the field's
// default value, as in protobuf JSON.
func (d *treeDecoder) null() bool {
	if !d.err && d.skipSpace()+4 <= len(d.s) && d.s[d.i:d.i+4] == "null" {
		d.i += 4
		return true
	}
	return false
}

// first opens an object and returns its first key, or "" for an empty
// object (or an error).
func (d *treeDecoder) first() string {
	if d.err {
		return ""
	}
	if !d.consume('{') {
		d.fail()
		return ""
	}
	if d.depth++; d.depth > maxTreeDepth {
		d.fail()
		return ""
	}
	if d.consume('}') {
		d.depth--
		return ""
	}
	return d.key()
}

// more returns the object's next key, or "" at its end (or an error).
func (d *treeDecoder) more() string {
	if d.err {
		return ""
	}
	if d.consume(',') {
		return d.key()
	}
	if d.consume('}') {
		d.depth--
		return ""
	}
	d.fail()
	return ""
}

func (d *treeDecoder) key() string {
	k := d.rawString()
	if k == "" || !d.consume(':') {
		d.fail()
		return ""
	}
	return k
}

// firstElem opens an array (null is an empty one) and reports whether an
// element follows.
func (d *treeDecoder) firstElem() bool {
	if d.err || d.null() {
		return false
	}
	if !d.consume('[') {
		d.fail()
		return false
	}
	return !d.consume(']')
}

// moreElem reports whether another element of the array follows.
func (d *treeDecoder) moreElem() bool {
	switch {
	case d.err:
		return false
	case d.consume(','):
		return true
	case d.consume(']'):
		return false
	}
	d.fail()
	return false
}

// nodes decodes a list of Nodes.
func (d *treeDecoder) nodes() []*pg_query.Node {
	start := len(d.nodeStack)
	for ok := d.firstElem(); ok; ok = d.moreElem() {
		n := d.node() // may push and pop the elements of inner lists
		if n == nil {
			d.fail() // a list holds no nulls
		}
		d.nodeStack = append(d.nodeStack, n)
	}
	if len(d.nodeStack) == start {
		return nil
	}
	out := slices.Clone(d.nodeStack[start:])
	clear(d.nodeStack[start:])
	d.nodeStack = d.nodeStack[:start]
	return out
}

func (d *treeDecoder) bool() bool {
	switch {
	case d.err || d.null():
		return false
	case d.word("true"):
		return true
	case d.word("false"):
		return false
	}
	d.fail()
	return false
}

func (d *treeDecoder) word(w string) bool {
	if d.skipSpace() < len(d.s) && strings.HasPrefix(d.s[d.i:], w) {
		d.i += len(w)
		return true
	}
	return false
}

// int decodes a signed integer, written as a number or, as protobuf JSON
// allows, as a quoted number.
func (d *treeDecoder) int(bits int) int64 {
	tok := d.numeric()
	if tok == "" {
		return 0
	}
	n, err := strconv.ParseInt(tok, 10, bits)
	if err != nil {
		d.fail()
	}
	return n
}

// uint decodes an unsigned integer, like int.
func (d *treeDecoder) uint(bits int) uint64 {
	tok := d.numeric()
	if tok == "" {
		return 0
	}
	n, err := strconv.ParseUint(tok, 10, bits)
	if err != nil {
		d.fail()
	}
	return n
}

// float decodes a finite floating-point number.
func (d *treeDecoder) float(bits int) float64 {
	tok := d.numeric()
	if tok == "" {
		return 0
	}
	f, err := strconv.ParseFloat(tok, bits)
	if err != nil || math.IsInf(f, 0) || math.IsNaN(f) {
		d.fail()
	}
	return f
}

// enum decodes an enum value, by name (looked up in values) or by number.
func (d *treeDecoder) enum(values map[string]int32) int32 {
	if d.err || d.null() {
		return 0
	}
	if d.skipSpace() < len(d.s) && d.s[d.i] == '"' {
		v, ok := values[d.rawString()]
		if !ok {
			d.fail()
		}
		return v
	}
	return int32(d.int(32))
}

// numeric returns the token of a number, quoted or not, or "" for null and
// errors.
func (d *treeDecoder) numeric() string {
	if d.err || d.null() {
		return ""
	}
	if d.skipSpace() < len(d.s) && d.s[d.i] == '"' {
		tok := d.rawString()
		if tok == "" {
			d.fail()
		}
		return tok
	}
	start := d.i
	for d.i < len(d.s) {
		c := d.s[d.i]
		if c >= '0' && c <= '9' || c == '-' || c == '+' || c == '.' || c == 'e' || c == 'E' {
			d.i++
			continue
		}
		break
	}
	if d.i == start {
		d.fail()
		return ""
	}
	return d.s[start:d.i]
}

// rawString decodes a JSON string without escapes (keys, enum names).
func (d *treeDecoder) rawString() string {
	if d.err || !d.consume('"') {
		d.fail()
		return ""
	}
	start := d.i
	for d.i < len(d.s) {
		switch c := d.s[d.i]; {
		case c == '"':
			s := d.s[start:d.i]
			d.i++
			return s
		case c == '\\' || c < 0x20:
			d.fail()
			return ""
		default:
			d.i++
		}
	}
	d.fail()
	return ""
}

// str decodes a JSON string. One without escapes is a slice of the JSON.
func (d *treeDecoder) str() string {
	if d.err || d.null() {
		return ""
	}
	if !d.consume('"') {
		d.fail()
		return ""
	}
	start := d.i
	for d.i < len(d.s) {
		c := d.s[d.i]
		switch {
		case c == '"':
			s := d.s[start:d.i]
			d.i++
			if !utf8.ValidString(s) {
				// The protobuf decoder refuses such strings, and so
				// pg_query.Parse is left to report it.
				d.fail()
			}
			return s
		case c == '\\':
			return d.escaped(start)
		case c < 0x20:
			d.fail()
			return ""
		}
		d.i++
	}
	d.fail()
	return ""
}

// escaped decodes the rest of a string that has escapes, from d.i on; its
// plain start begins at start.
func (d *treeDecoder) escaped(start int) string {
	b := make([]byte, 0, d.i-start+16)
	b = append(b, d.s[start:d.i]...)
	for d.i < len(d.s) {
		c := d.s[d.i]
		switch {
		case c == '"':
			d.i++
			if !utf8.Valid(b) {
				d.fail()
			}
			return string(b)
		case c < 0x20:
			d.fail()
			return ""
		case c != '\\':
			// Copy the run of plain bytes at once.
			j := d.i + 1
			for j < len(d.s) && d.s[j] != '"' && d.s[j] != '\\' && d.s[j] >= 0x20 {
				j++
			}
			b = append(b, d.s[d.i:j]...)
			d.i = j
			continue
		}
		if d.i+1 >= len(d.s) {
			d.fail()
			return ""
		}
		e := d.s[d.i+1]
		d.i += 2
		switch e {
		case '"', '\\', '/':
			b = append(b, e)
		case 'b':
			b = append(b, '\b')
		case 'f':
			b = append(b, '\f')
		case 'n':
			b = append(b, '\n')
		case 'r':
			b = append(b, '\r')
		case 't':
			b = append(b, '\t')
		case 'u':
			if d.i+4 > len(d.s) {
				d.fail()
				return ""
			}
			n, err := strconv.ParseUint(d.s[d.i:d.i+4], 16, 32)
			if err != nil || utf16.IsSurrogate(rune(n)) {
				// libpg_query escapes only control characters;
				// anything else is left to pg_query.Parse.
				d.fail()
				return ""
			}
			d.i += 4
			b = utf8.AppendRune(b, rune(n))
		default:
			d.fail()
			return ""
		}
	}
	d.fail()
	return ""
}
