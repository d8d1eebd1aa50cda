package config

import (
	"errors"
	"fmt"
	"reflect"
	"strconv"
	"strings"
	"time"

	"go.yaml.in/yaml/v3"

	"github.com/vigil-audit/vigil/internal/suggest"
	"github.com/vigil-audit/vigil/internal/yamlnode"
)

// decoder walks a yaml.Node tree into a Go value, driven by the value's type:
//
//   - a struct is a mapping whose keys are its fields' `yaml:"name"` tags; any
//     other key is an error, and so is a key given twice;
//   - time.Duration reads ParseDuration's spelling;
//   - an int64 field tagged `config:"bytes"` reads ParseByteSize's spelling;
//   - a type whose pointer implements yaml.Unmarshaler decodes itself;
//   - string, bool and integer kinds read scalars; slices read sequences and
//     maps with string keys read mappings.
//
// A null value (an empty key, "~" or "null") leaves the field as it was, so
// defaults set before decoding survive. Every problem is recorded with its line
// and the decoder goes on, so one run reports them all. The line of every key
// it sets is recorded by path for later validation errors.
type decoder struct {
	file  string
	root  reflect.Type
	lines map[string]int
	errs  []error
}

var (
	durationType    = reflect.TypeFor[time.Duration]()
	unmarshalerType = reflect.TypeFor[yaml.Unmarshaler]()
)

func (d *decoder) fail(line int, path, format string, args ...any) {
	d.errs = append(d.errs, &Error{File: d.file, Line: line, Path: path, Msg: fmt.Sprintf(format, args...)})
}

func (d *decoder) failErr(line int, path string, err error) {
	d.errs = append(d.errs, &Error{File: d.file, Line: line, Path: path, Msg: err.Error(), Err: err})
}

func (d *decoder) decode(n *yaml.Node, v reflect.Value, path string, tag reflect.StructTag) {
	n = resolveAlias(n)
	if isNull(n) {
		return
	}
	if v.CanAddr() && v.Addr().Type().Implements(unmarshalerType) {
		if err := v.Addr().Interface().(yaml.Unmarshaler).UnmarshalYAML(n); err != nil {
			d.failErr(n.Line, path, err)
		}
		return
	}
	switch {
	case v.Type() == durationType:
		if s, ok := d.scalar(n, path, "a duration"); ok {
			if dur, err := ParseDuration(s); err != nil {
				d.failErr(n.Line, path, err)
			} else {
				v.SetInt(int64(dur))
			}
		}
		return
	case tag.Get("config") == "bytes":
		if s, ok := d.scalar(n, path, "a byte size"); ok {
			if size, err := ParseByteSize(s); err != nil {
				d.failErr(n.Line, path, err)
			} else {
				v.SetInt(size)
			}
		}
		return
	}
	switch v.Kind() {
	case reflect.Struct:
		d.mapping(n, v, path)
	case reflect.String:
		if s, ok := d.scalar(n, path, "a string"); ok {
			v.SetString(s)
		}
	case reflect.Bool:
		if s, ok := d.scalar(n, path, "true or false"); ok {
			var b bool
			if n.ShortTag() != "!!bool" || n.Decode(&b) != nil {
				d.fail(n.Line, path, "%q is not true or false", s)
				return
			}
			v.SetBool(b)
		}
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		if s, ok := d.scalar(n, path, "an integer"); ok {
			var i int64
			if n.ShortTag() != "!!int" || n.Decode(&i) != nil {
				d.fail(n.Line, path, "%q is not an integer", s)
				return
			}
			if v.OverflowInt(i) {
				d.fail(n.Line, path, "%s is out of range", s)
				return
			}
			v.SetInt(i)
		}
	case reflect.Slice:
		if n.Kind != yaml.SequenceNode {
			d.fail(n.Line, path, "expected a list, found %s", describe(n))
			return
		}
		s := reflect.MakeSlice(v.Type(), len(n.Content), len(n.Content))
		for i, item := range n.Content {
			p := path + "[" + strconv.Itoa(i) + "]"
			d.lines[p] = item.Line
			d.decode(item, s.Index(i), p, "")
		}
		v.Set(s)
	case reflect.Map:
		if v.Type().Key().Kind() != reflect.String {
			panic("config: map keys must be strings, not " + v.Type().Key().String())
		}
		if n.Kind != yaml.MappingNode {
			d.fail(n.Line, path, "expected a mapping (key: value), found %s", describe(n))
			return
		}
		m := reflect.MakeMapWithSize(v.Type(), len(n.Content)/2)
		d.pairs(n, path, func(k, val *yaml.Node) {
			p := join(path, k.Value)
			d.lines[p] = k.Line
			elem := reflect.New(v.Type().Elem()).Elem()
			d.decode(val, elem, p, "")
			m.SetMapIndex(reflect.ValueOf(k.Value).Convert(v.Type().Key()), elem)
		})
		v.Set(m)
	default:
		panic("config: unsupported field type " + v.Type().String() + " at " + path)
	}
}

// scalar returns the text of a scalar node, or records that want was expected.
func (d *decoder) scalar(n *yaml.Node, path, want string) (string, bool) {
	if n.Kind != yaml.ScalarNode {
		d.fail(n.Line, path, "expected %s, found %s", want, describe(n))
		return "", false
	}
	return n.Value, true
}

// mapping decodes a mapping node into the struct v.
func (d *decoder) mapping(n *yaml.Node, v reflect.Value, path string) {
	if n.Kind != yaml.MappingNode {
		d.fail(n.Line, path, "expected a mapping (key: value), found %s", describe(n))
		return
	}
	t := v.Type()
	d.pairs(n, path, func(k, val *yaml.Node) {
		i, ok := fieldIndex(t, k.Value)
		if !ok {
			msg := fmt.Sprintf("unknown key %q %s", k.Value, where(path))
			if hint := d.hint(k.Value, path, t); hint != "" {
				msg += " (" + hint + ")"
			}
			d.fail(k.Line, "", "%s", msg)
			return
		}
		p := join(path, k.Value)
		d.lines[p] = k.Line
		d.decode(val, v.Field(i), p, t.Field(i).Tag)
	})
}

// pairs calls fn for every key and value of a mapping node, rejecting merge keys,
// keys that are not plain scalars, and keys given twice.
func (d *decoder) pairs(n *yaml.Node, path string, fn func(k, v *yaml.Node)) {
	seen := make(map[string]int)
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, val := resolveAlias(n.Content[i]), n.Content[i+1]
		switch {
		case k.ShortTag() == "!!merge":
			d.fail(k.Line, "", "merge keys (<<) are not supported %s", where(path))
			continue
		case k.Kind != yaml.ScalarNode || isNull(k):
			d.fail(k.Line, "", "keys must be plain names, found %s %s", describe(k), where(path))
			continue
		}
		if first, dup := seen[k.Value]; dup {
			d.fail(k.Line, "", "duplicate key %q %s (first at line %d)", k.Value, where(path), first)
			continue
		}
		seen[k.Value] = k.Line
		fn(k, val)
	}
}

// hint suggests what an unknown key in the struct t at path may have meant.
func (d *decoder) hint(key, path string, t reflect.Type) string {
	// A key of a section written at the top level, or a top-level key written
	// inside a section, is almost always an indentation mistake.
	if path == "" {
		for i := range t.NumField() {
			f := t.Field(i)
			if name := yamlName(f); name != "" && f.Type.Kind() == reflect.Struct && f.Type != durationType {
				if _, ok := fieldIndex(f.Type, key); ok {
					return fmt.Sprintf("%q belongs in the %s section; check the indentation", key, name)
				}
			}
		}
	} else if _, ok := fieldIndex(d.root, key); ok {
		return fmt.Sprintf("%q is a top-level key; check the indentation", key)
	}
	var names []string
	for i := range t.NumField() {
		if name := yamlName(t.Field(i)); name != "" {
			names = append(names, name)
		}
	}
	if best := suggest.Closest(key, names); best != "" {
		return fmt.Sprintf("did you mean %q?", best)
	}
	return ""
}

// fieldIndex returns the index of the field of struct t whose yaml tag is name.
func fieldIndex(t reflect.Type, name string) (int, bool) {
	for i := range t.NumField() {
		if yamlName(t.Field(i)) == name {
			return i, true
		}
	}
	return 0, false
}

// yamlName returns the key of an exported struct field, or "" if it has none.
func yamlName(f reflect.StructField) string {
	if !f.IsExported() {
		return ""
	}
	name, _, _ := strings.Cut(f.Tag.Get("yaml"), ",")
	if name == "-" {
		return ""
	}
	return name
}

func join(path, key string) string {
	if path == "" {
		return key
	}
	return path + "." + key
}

func where(path string) string {
	if path == "" {
		return "at top level"
	}
	return "in " + path + " section"
}

func resolveAlias(n *yaml.Node) *yaml.Node {
	for n.Kind == yaml.AliasNode && n.Alias != nil {
		n = n.Alias
	}
	return n
}

func isNull(n *yaml.Node) bool {
	return n.Kind == yaml.ScalarNode && n.ShortTag() == "!!null"
}

// describe names a node for "expected X, found Y" messages.
func describe(n *yaml.Node) string {
	n = resolveAlias(n)
	switch n.Kind {
	case yaml.MappingNode:
		return "a mapping"
	case yaml.SequenceNode:
		return "a list"
	case yaml.ScalarNode:
		return strconv.Quote(n.Value)
	}
	return "an empty value"
}

// syntaxError turns a YAML parser error ("yaml: line 3: did not find expected
// key") into an *Error that names the file and line.
func syntaxError(file string, err error) *Error {
	line, msg := yamlnode.SyntaxError(err)
	return &Error{File: file, Line: line, Msg: "invalid YAML: " + msg, Err: err}
}

// joinErrors returns nil, the one error, or all of them joined one per line.
func joinErrors(errs []error) error {
	switch len(errs) {
	case 0:
		return nil
	case 1:
		return errs[0]
	}
	return errors.Join(errs...)
}
