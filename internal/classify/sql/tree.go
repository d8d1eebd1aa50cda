package sql

import (
	"encoding/base64"
	"errors"
	"math"
	"strconv"
	"strings"
	"sync"
	"unicode/utf16"
	"unicode/utf8"

	pg_query "github.com/pganalyze/pg_query_go/v6"
	"github.com/pganalyze/pg_query_go/v6/parser"
	"google.golang.org/protobuf/encoding/protowire"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"
)

// parseTree parses text with the PostgreSQL parser, as pg_query.Parse does,
// and returns the same tree.
//
// pg_query.Parse has libpg_query serialize the tree with protobuf-c, which
// costs about 15 µs for a typical statement: protobuf-c visits all ~270
// fields of every Node's oneof, twice. libpg_query's JSON output of the same
// tree takes about 5 µs; it is rewritten here into the protobuf wire format
// and decoded by the same Go protobuf decoder as before. Only the transport
// differs: the tree is built by the same parser from the same text (tests
// compare the two trees with proto.Equal). If the JSON cannot be rewritten
// (not expected; or the tree is larger or deeper than the rewriter takes),
// the text is parsed again with pg_query.Parse, so the result and its errors
// are always those of pg_query.Parse.
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

// Limits of the JSON rewriter. Beyond them pg_query.Parse takes over: nested
// messages are written with a one-byte length that is widened by moving the
// body, which costs depth × size.
const (
	maxTreeJSON  = 256 << 10
	maxTreeDepth = 200
)

var errTreeJSON = errors.New("unexpected parse tree JSON")

var wirePool = sync.Pool{New: func() any { b := make([]byte, 0, 4096); return &b }}

// decodeTree decodes libpg_query's JSON form of a parse tree.
func decodeTree(js string) (*pg_query.ParseResult, error) {
	if len(js) > maxTreeJSON {
		return nil, errTreeJSON
	}
	bp := wirePool.Get().(*[]byte)
	defer wirePool.Put(bp)
	d := treeDecoder{s: js, out: (*bp)[:0]}
	if err := d.message(parseResultInfo(), 0); err != nil {
		return nil, err
	}
	if d.skipSpace() < len(d.s) {
		return nil, errTreeJSON
	}
	*bp = d.out
	tree := &pg_query.ParseResult{}
	if err := (proto.UnmarshalOptions{}).Unmarshal(d.out, tree); err != nil {
		return nil, err
	}
	return tree, nil
}

// msgInfo describes a message for the rewriter: its fields by JSON and by
// proto name.
type msgInfo struct {
	fields map[string]*fieldInfo
}

type fieldInfo struct {
	num  protowire.Number
	kind protoreflect.Kind
	list bool
	enum protoreflect.EnumValueDescriptors
	msg  *msgInfo
}

var (
	infoOnce sync.Once
	rootInfo *msgInfo
)

func parseResultInfo() *msgInfo {
	infoOnce.Do(func() {
		seen := map[protoreflect.FullName]*msgInfo{}
		rootInfo = describe((&pg_query.ParseResult{}).ProtoReflect().Descriptor(), seen)
	})
	return rootInfo
}

func describe(md protoreflect.MessageDescriptor, seen map[protoreflect.FullName]*msgInfo) *msgInfo {
	if mi := seen[md.FullName()]; mi != nil {
		return mi
	}
	mi := &msgInfo{fields: map[string]*fieldInfo{}}
	seen[md.FullName()] = mi
	fds := md.Fields()
	for i := range fds.Len() {
		fd := fds.Get(i)
		if fd.IsMap() {
			continue // pg_query.proto has none; a map key fails the rewrite
		}
		fi := &fieldInfo{num: fd.Number(), kind: fd.Kind(), list: fd.IsList()}
		switch fd.Kind() {
		case protoreflect.EnumKind:
			fi.enum = fd.Enum().Values()
		case protoreflect.MessageKind:
			fi.msg = describe(fd.Message(), seen)
		case protoreflect.GroupKind:
			continue
		}
		mi.fields[fd.JSONName()] = fi
		mi.fields[string(fd.Name())] = fi
	}
	return mi
}

// treeDecoder rewrites libpg_query's JSON output (the protobuf JSON mapping
// of pg_query.proto: JSON or proto field names, enums by name) into the
// protobuf wire format.
type treeDecoder struct {
	s   string
	i   int
	out []byte
}

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

// message rewrites a JSON object as the body of a message.
func (d *treeDecoder) message(mi *msgInfo, depth int) error {
	if depth > maxTreeDepth {
		return errTreeJSON
	}
	if !d.consume('{') {
		return errTreeJSON
	}
	if d.consume('}') {
		return nil
	}
	for {
		key, err := d.rawString()
		if err != nil {
			return err
		}
		if !d.consume(':') {
			return errTreeJSON
		}
		fi := mi.fields[key]
		if fi == nil {
			return errTreeJSON // unknown key: let pg_query.Parse decide
		}
		if err := d.field(fi, depth); err != nil {
			return err
		}
		if d.consume(',') {
			continue
		}
		if d.consume('}') {
			return nil
		}
		return errTreeJSON
	}
}

func (d *treeDecoder) field(fi *fieldInfo, depth int) error {
	if d.word("null") {
		return nil // protobuf JSON: null is the field's default
	}
	if !fi.list {
		return d.value(fi, depth)
	}
	if !d.consume('[') {
		return errTreeJSON
	}
	if d.consume(']') {
		return nil
	}
	for {
		if err := d.value(fi, depth); err != nil {
			return err
		}
		if d.consume(',') {
			continue
		}
		if d.consume(']') {
			return nil
		}
		return errTreeJSON
	}
}

// value rewrites one value of a field (one element of a list), tag
// included. Repeated scalars are written unpacked, which decoders accept.
func (d *treeDecoder) value(fi *fieldInfo, depth int) error {
	switch fi.kind {
	case protoreflect.MessageKind:
		d.out = protowire.AppendTag(d.out, fi.num, protowire.BytesType)
		return d.nested(fi.msg, depth+1)
	case protoreflect.StringKind:
		d.out = protowire.AppendTag(d.out, fi.num, protowire.BytesType)
		return d.str()
	case protoreflect.BytesKind:
		s, err := d.rawString()
		if err != nil {
			return err
		}
		b, err := base64.StdEncoding.DecodeString(s)
		if err != nil {
			return errTreeJSON
		}
		d.out = protowire.AppendTag(d.out, fi.num, protowire.BytesType)
		d.out = protowire.AppendBytes(d.out, b)
		return nil
	case protoreflect.BoolKind:
		var v uint64
		switch {
		case d.word("true"):
			v = 1
		case d.word("false"):
		default:
			return errTreeJSON
		}
		d.out = protowire.AppendTag(d.out, fi.num, protowire.VarintType)
		d.out = protowire.AppendVarint(d.out, v)
		return nil
	case protoreflect.EnumKind:
		var n int64
		if d.skipSpace() < len(d.s) && d.s[d.i] == '"' {
			name, err := d.rawString()
			if err != nil {
				return err
			}
			ev := fi.enum.ByName(protoreflect.Name(name))
			if ev == nil {
				return errTreeJSON
			}
			n = int64(ev.Number())
		} else {
			var err error
			if n, err = d.integer(32, true); err != nil {
				return err
			}
		}
		d.out = protowire.AppendTag(d.out, fi.num, protowire.VarintType)
		d.out = protowire.AppendVarint(d.out, uint64(n))
		return nil
	case protoreflect.Int32Kind, protoreflect.Int64Kind, protoreflect.Sint32Kind, protoreflect.Sint64Kind:
		bits := 64
		if fi.kind == protoreflect.Int32Kind || fi.kind == protoreflect.Sint32Kind {
			bits = 32
		}
		n, err := d.integer(bits, true)
		if err != nil {
			return err
		}
		v := uint64(n)
		if fi.kind == protoreflect.Sint32Kind || fi.kind == protoreflect.Sint64Kind {
			v = protowire.EncodeZigZag(n)
		}
		d.out = protowire.AppendTag(d.out, fi.num, protowire.VarintType)
		d.out = protowire.AppendVarint(d.out, v)
		return nil
	case protoreflect.Uint32Kind, protoreflect.Uint64Kind:
		bits := 64
		if fi.kind == protoreflect.Uint32Kind {
			bits = 32
		}
		n, err := d.integer(bits, false)
		if err != nil {
			return err
		}
		d.out = protowire.AppendTag(d.out, fi.num, protowire.VarintType)
		d.out = protowire.AppendVarint(d.out, uint64(n))
		return nil
	case protoreflect.Fixed32Kind, protoreflect.Sfixed32Kind:
		n, err := d.integer(32, fi.kind == protoreflect.Sfixed32Kind)
		if err != nil {
			return err
		}
		d.out = protowire.AppendTag(d.out, fi.num, protowire.Fixed32Type)
		d.out = protowire.AppendFixed32(d.out, uint32(n))
		return nil
	case protoreflect.Fixed64Kind, protoreflect.Sfixed64Kind:
		n, err := d.integer(64, fi.kind == protoreflect.Sfixed64Kind)
		if err != nil {
			return err
		}
		d.out = protowire.AppendTag(d.out, fi.num, protowire.Fixed64Type)
		d.out = protowire.AppendFixed64(d.out, uint64(n))
		return nil
	case protoreflect.FloatKind, protoreflect.DoubleKind:
		tok, err := d.numberToken()
		if err != nil {
			return err
		}
		bits := 64
		if fi.kind == protoreflect.FloatKind {
			bits = 32
		}
		f, err := strconv.ParseFloat(tok, bits)
		if err != nil || math.IsInf(f, 0) || math.IsNaN(f) {
			return errTreeJSON
		}
		if bits == 32 {
			d.out = protowire.AppendTag(d.out, fi.num, protowire.Fixed32Type)
			d.out = protowire.AppendFixed32(d.out, math.Float32bits(float32(f)))
		} else {
			d.out = protowire.AppendTag(d.out, fi.num, protowire.Fixed64Type)
			d.out = protowire.AppendFixed64(d.out, math.Float64bits(f))
		}
		return nil
	}
	return errTreeJSON
}

// nested writes a length-delimited message body. The length is first given
// one byte and widened afterwards when the body needs more.
func (d *treeDecoder) nested(mi *msgInfo, depth int) error {
	d.out = append(d.out, 0)
	start := len(d.out)
	if err := d.message(mi, depth); err != nil {
		return err
	}
	d.finishLen(start)
	return nil
}

// finishLen writes the length of the bytes from start on into the byte
// reserved before them.
func (d *treeDecoder) finishLen(start int) {
	n := len(d.out) - start
	size := protowire.SizeVarint(uint64(n))
	if size == 1 {
		d.out[start-1] = byte(n)
		return
	}
	d.out = append(d.out, make([]byte, size-1)...)
	copy(d.out[start-1+size:], d.out[start:start+n])
	protowire.AppendVarint(d.out[:start-1], uint64(n))
}

func (d *treeDecoder) word(w string) bool {
	if d.skipSpace() < len(d.s) && strings.HasPrefix(d.s[d.i:], w) {
		d.i += len(w)
		return true
	}
	return false
}

// integer decodes an integer, written as a number or, as protobuf JSON
// allows, as a quoted number.
func (d *treeDecoder) integer(bits int, signed bool) (int64, error) {
	var tok string
	var err error
	if d.skipSpace() < len(d.s) && d.s[d.i] == '"' {
		tok, err = d.rawString()
	} else {
		tok, err = d.numberToken()
	}
	if err != nil {
		return 0, err
	}
	if signed {
		n, err := strconv.ParseInt(tok, 10, bits)
		if err != nil {
			return 0, errTreeJSON
		}
		return n, nil
	}
	n, err := strconv.ParseUint(tok, 10, bits)
	if err != nil {
		return 0, errTreeJSON
	}
	return int64(n), nil
}

func (d *treeDecoder) numberToken() (string, error) {
	start := d.skipSpace()
	for d.i < len(d.s) {
		c := d.s[d.i]
		if c >= '0' && c <= '9' || c == '-' || c == '+' || c == '.' || c == 'e' || c == 'E' {
			d.i++
			continue
		}
		break
	}
	if d.i == start {
		return "", errTreeJSON
	}
	return d.s[start:d.i], nil
}

// rawString decodes a JSON string without escapes (keys, enum names).
func (d *treeDecoder) rawString() (string, error) {
	if !d.consume('"') {
		return "", errTreeJSON
	}
	start := d.i
	for d.i < len(d.s) {
		switch c := d.s[d.i]; {
		case c == '"':
			s := d.s[start:d.i]
			d.i++
			return s, nil
		case c == '\\' || c < 0x20:
			return "", errTreeJSON
		default:
			d.i++
		}
	}
	return "", errTreeJSON
}

// str rewrites a JSON string as a length-delimited string.
func (d *treeDecoder) str() error {
	if !d.consume('"') {
		return errTreeJSON
	}
	d.out = append(d.out, 0)
	start := len(d.out)
	for d.i < len(d.s) {
		c := d.s[d.i]
		switch {
		case c == '"':
			d.i++
			if !utf8.Valid(d.out[start:]) {
				// The protobuf decoder refuses such strings, and so
				// pg_query.Parse is left to report it.
				return errTreeJSON
			}
			d.finishLen(start)
			return nil
		case c < 0x20:
			return errTreeJSON
		case c != '\\':
			// Copy the run of plain bytes at once.
			j := d.i + 1
			for j < len(d.s) && d.s[j] != '"' && d.s[j] != '\\' && d.s[j] >= 0x20 {
				j++
			}
			d.out = append(d.out, d.s[d.i:j]...)
			d.i = j
		default:
			if d.i+1 >= len(d.s) {
				return errTreeJSON
			}
			e := d.s[d.i+1]
			d.i += 2
			switch e {
			case '"', '\\', '/':
				d.out = append(d.out, e)
			case 'b':
				d.out = append(d.out, '\b')
			case 'f':
				d.out = append(d.out, '\f')
			case 'n':
				d.out = append(d.out, '\n')
			case 'r':
				d.out = append(d.out, '\r')
			case 't':
				d.out = append(d.out, '\t')
			case 'u':
				if d.i+4 > len(d.s) {
					return errTreeJSON
				}
				n, err := strconv.ParseUint(d.s[d.i:d.i+4], 16, 32)
				if err != nil || utf16.IsSurrogate(rune(n)) {
					// libpg_query escapes only control characters;
					// anything else is left to pg_query.Parse.
					return errTreeJSON
				}
				d.i += 4
				d.out = utf8.AppendRune(d.out, rune(n))
			default:
				return errTreeJSON
			}
		}
	}
	return errTreeJSON
}
