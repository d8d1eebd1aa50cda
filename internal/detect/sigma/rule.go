// Package sigma parses Sigma detection rules (https://sigmahq.io, specification
// v2.1) and matches them against Vigil events.
//
// Parse and ParseAll read rule documents; NewEngine compiles rules once into
// matchers and Engine.Match evaluates all of them against an event, resolving
// each field the rules name at most once per event: first as a dotted path into
// the event's raw record (arrays match when any element does), then against
// Vigil's normalized fields (source, action, outcome, actor.user,
// resource.name, attrs.KEY, ...). A rule only sees events of its logsource
// (see SourceFor). Lint reports every construct the engine does not support.
//
// Sigma filters (the "filter" documents of the filters specification) are
// applied at compile time through Options.Filters. Correlation documents are
// parsed by ParseAll and reported as unsupported: correlations are not
// evaluated by this package.
package sigma

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"strings"

	"github.com/vigil-audit/vigil/internal/yamlnode"
	"go.yaml.in/yaml/v3"
)

// Rule is one Sigma detection rule.
type Rule struct {
	ID             string
	Title          string
	Name           string
	Status         string
	Level          string
	Description    string
	Author         string
	Date           string
	Modified       string
	References     []string
	Tags           []string
	FalsePositives []string
	Fields         []string
	Logsource      Logsource
	Detection      Detection

	// File and Line say where the rule was read from.
	File string
	Line int
}

// Logsource is a rule's logsource.
type Logsource struct {
	Product    string
	Service    string
	Category   string
	Definition string
}

// Detection is a rule's detection section.
type Detection struct {
	// Selections are the search identifiers, in the order written.
	Selections []*Selection
	// Conditions are the condition expressions; several are joined with OR.
	Conditions []string
	// Timeframe is the deprecated Sigma 1 timeframe, kept so Lint can report it.
	Timeframe string
	// Line is the line of the condition.
	Line int
}

// Selection is one search identifier: a list of alternatives (OR), each a
// map of field items (AND). A keyword list is one alternative holding one
// item with an empty field name.
type Selection struct {
	Name         string
	Line         int
	Alternatives [][]*FieldItem
}

// FieldItem is one `field|modifier|...: values` entry.
type FieldItem struct {
	Field     string // "" for keyword searches
	Modifiers []string
	Values    []Value
	Line      int
}

// ValueKind is the YAML type of a detection value.
type ValueKind int

// Value kinds.
const (
	String ValueKind = iota
	Number
	Bool
	Null
)

// Value is one detection value, with its text as written.
type Value struct {
	Kind ValueKind
	Text string
}

// Filter is a Sigma filter document: a selection and condition that is
// negated and added to the condition of the rules it names.
type Filter struct {
	ID        string
	Title     string
	Rules     []string // rule ids, names or titles
	Logsource Logsource
	Detection Detection
	File      string
	Line      int
}

// Document is one document of a multi-document file that is neither a rule
// nor a filter (e.g. a correlation), which this package does not evaluate.
type Document struct {
	Kind  string // "correlation", "unknown"
	Title string
	ID    string
	File  string
	Line  int
}

// Collection is what ParseAll read from one file.
type Collection struct {
	Rules       []*Rule
	Filters     []*Filter
	Unsupported []Document
}

// Error is a problem with a rule, located in its file.
type Error struct {
	File string
	Line int
	Msg  string
	Err  error
}

func (e *Error) Error() string {
	var b strings.Builder
	b.WriteString(e.File)
	if e.Line > 0 {
		fmt.Fprintf(&b, ":%d", e.Line)
	}
	b.WriteString(": ")
	b.WriteString(e.Msg)
	if e.Err != nil {
		if e.Msg != "" {
			b.WriteString(": ")
		}
		b.WriteString(e.Err.Error())
	}
	return b.String()
}

func (e *Error) Unwrap() error { return e.Err }

func errAt(file string, line int, format string, args ...any) error {
	return &Error{File: file, Line: line, Msg: fmt.Sprintf(format, args...)}
}

// ErrNotRule is returned by Parse for a document that is not a detection rule.
var ErrNotRule = errors.New("not a detection rule")

// Parse reads the single Sigma rule in data; name is the file name used in
// errors. A file holding several documents must be read with ParseAll.
func Parse(data []byte, name string) (*Rule, error) {
	docs, err := documents(data, name)
	if err != nil {
		return nil, err
	}
	if len(docs) != 1 {
		return nil, errAt(name, 0, "holds %d YAML documents; read it with ParseAll", len(docs))
	}
	kind := docKind(docs[0])
	if kind != "rule" {
		return nil, &Error{File: name, Line: docs[0].Line, Msg: fmt.Sprintf("%s document", kind), Err: ErrNotRule}
	}
	return parseRule(docs[0], name)
}

// ParseAll reads every document of a file: rules, filters, and the documents
// this package does not evaluate (correlations), which are listed in
// Collection.Unsupported. Documents are separated by `---`.
func ParseAll(data []byte, name string) (*Collection, error) {
	docs, err := documents(data, name)
	if err != nil {
		return nil, err
	}
	c := &Collection{}
	var errs []error
	for _, d := range docs {
		switch kind := docKind(d); kind {
		case "rule":
			r, err := parseRule(d, name)
			if err != nil {
				errs = append(errs, err)
				continue
			}
			c.Rules = append(c.Rules, r)
		case "filter":
			f, err := parseFilter(d, name)
			if err != nil {
				errs = append(errs, err)
				continue
			}
			c.Filters = append(c.Filters, f)
		default:
			c.Unsupported = append(c.Unsupported, Document{Kind: kind, Title: scalarOf(d, "title"),
				ID: scalarOf(d, "id"), File: name, Line: d.Line})
		}
	}
	return c, errors.Join(errs...)
}

func documents(data []byte, name string) ([]*yaml.Node, error) {
	dec := yaml.NewDecoder(bytes.NewReader(data))
	var docs []*yaml.Node
	for {
		var n yaml.Node
		err := dec.Decode(&n)
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return nil, &Error{File: name, Msg: "parse yaml", Err: err}
		}
		if len(n.Content) == 0 {
			continue
		}
		d := n.Content[0]
		if d.Kind != yaml.MappingNode {
			return nil, errAt(name, d.Line, "document is not a mapping")
		}
		docs = append(docs, d)
	}
	if len(docs) == 0 {
		return nil, errAt(name, 0, "holds no YAML document")
	}
	return docs, nil
}

func docKind(d *yaml.Node) string {
	switch {
	case yamlnode.Get(d, "correlation") != nil:
		return "correlation"
	case yamlnode.Get(d, "filter") != nil:
		return "filter"
	case yamlnode.Get(d, "detection") != nil:
		return "rule"
	case yamlnode.Get(d, "action") != nil:
		return "rule collection action (Sigma 1 `action: global/reset/repeat`)"
	}
	return "unknown"
}

func scalarOf(m *yaml.Node, key string) string {
	if n := yamlnode.Get(m, key); n != nil && n.Kind == yaml.ScalarNode {
		return n.Value
	}
	return ""
}

func stringsOf(m *yaml.Node, key string) []string {
	n := yamlnode.Get(m, key)
	if n == nil {
		return nil
	}
	if n.Kind == yaml.ScalarNode {
		if n.Tag == "!!null" {
			return nil
		}
		return []string{n.Value}
	}
	var out []string
	for _, c := range n.Content {
		if c.Kind == yaml.ScalarNode {
			out = append(out, c.Value)
		}
	}
	return out
}

func parseLogsource(d *yaml.Node, name string) (Logsource, error) {
	n := yamlnode.Get(d, "logsource")
	if n == nil {
		return Logsource{}, errAt(name, d.Line, "logsource is required")
	}
	if n.Kind != yaml.MappingNode {
		return Logsource{}, errAt(name, n.Line, "logsource must be a mapping")
	}
	return Logsource{Product: scalarOf(n, "product"), Service: scalarOf(n, "service"),
		Category: scalarOf(n, "category"), Definition: scalarOf(n, "definition")}, nil
}

func parseRule(d *yaml.Node, name string) (*Rule, error) {
	r := &Rule{
		ID: scalarOf(d, "id"), Title: scalarOf(d, "title"), Name: scalarOf(d, "name"),
		Status: scalarOf(d, "status"), Level: scalarOf(d, "level"),
		Description: scalarOf(d, "description"), Author: scalarOf(d, "author"),
		Date: scalarOf(d, "date"), Modified: scalarOf(d, "modified"),
		References: stringsOf(d, "references"), Tags: stringsOf(d, "tags"),
		FalsePositives: stringsOf(d, "falsepositives"), Fields: stringsOf(d, "fields"),
		File: name, Line: d.Line,
	}
	if r.Title == "" {
		return nil, errAt(name, d.Line, "title is required")
	}
	ls, err := parseLogsource(d, name)
	if err != nil {
		return nil, err
	}
	r.Logsource = ls
	det, err := parseDetection(yamlnode.Get(d, "detection"), name, true)
	if err != nil {
		return nil, err
	}
	r.Detection = det
	return r, nil
}

func parseFilter(d *yaml.Node, name string) (*Filter, error) {
	f := &Filter{ID: scalarOf(d, "id"), Title: scalarOf(d, "title"), File: name, Line: d.Line}
	ls, err := parseLogsource(d, name)
	if err != nil {
		return nil, err
	}
	f.Logsource = ls
	fn := yamlnode.Get(d, "filter")
	f.Rules = stringsOf(fn, "rules")
	if len(f.Rules) == 0 {
		return nil, errAt(name, fn.Line, "filter.rules is required")
	}
	det, err := parseDetection(fn, name, false)
	if err != nil {
		return nil, err
	}
	f.Detection = det
	return f, nil
}

// parseDetection reads a detection mapping; in a filter, "rules" is not a
// search identifier.
func parseDetection(n *yaml.Node, name string, rule bool) (Detection, error) {
	var det Detection
	if n == nil || n.Kind != yaml.MappingNode {
		return det, errAt(name, lineOf(n), "detection must be a mapping")
	}
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, v := n.Content[i], n.Content[i+1]
		switch {
		case k.Value == "condition":
			det.Line = k.Line
			switch v.Kind {
			case yaml.ScalarNode:
				det.Conditions = []string{v.Value}
			case yaml.SequenceNode:
				for _, c := range v.Content {
					if c.Kind != yaml.ScalarNode {
						return det, errAt(name, c.Line, "condition list items must be strings")
					}
					det.Conditions = append(det.Conditions, c.Value)
				}
			default:
				return det, errAt(name, v.Line, "condition must be a string or a list of strings")
			}
		case k.Value == "timeframe":
			det.Timeframe = v.Value
		case !rule && k.Value == "rules":
		default:
			sel, err := parseSelection(k.Value, v, name)
			if err != nil {
				return det, err
			}
			det.Selections = append(det.Selections, sel)
		}
	}
	if len(det.Conditions) == 0 {
		return det, errAt(name, n.Line, "detection.condition is required")
	}
	if len(det.Selections) == 0 {
		return det, errAt(name, n.Line, "detection has no search identifier")
	}
	return det, nil
}

func lineOf(n *yaml.Node) int {
	if n == nil {
		return 0
	}
	return n.Line
}

func parseSelection(id string, v *yaml.Node, name string) (*Selection, error) {
	s := &Selection{Name: id, Line: v.Line}
	switch v.Kind {
	case yaml.MappingNode:
		items, err := parseMap(v, name, id)
		if err != nil {
			return nil, err
		}
		s.Alternatives = [][]*FieldItem{items}
	case yaml.SequenceNode:
		var kw *FieldItem
		for _, e := range v.Content {
			switch e.Kind {
			case yaml.MappingNode:
				items, err := parseMap(e, name, id)
				if err != nil {
					return nil, err
				}
				s.Alternatives = append(s.Alternatives, items)
			case yaml.ScalarNode:
				if kw == nil {
					kw = &FieldItem{Line: e.Line}
					s.Alternatives = append(s.Alternatives, []*FieldItem{kw})
				}
				kw.Values = append(kw.Values, scalarValue(e))
			default:
				return nil, errAt(name, e.Line, "detection.%s: list items must be maps or values", id)
			}
		}
		if len(s.Alternatives) == 0 {
			return nil, errAt(name, v.Line, "detection.%s: empty list", id)
		}
	case yaml.ScalarNode:
		s.Alternatives = [][]*FieldItem{{{Line: v.Line, Values: []Value{scalarValue(v)}}}}
	default:
		return nil, errAt(name, v.Line, "detection.%s: must be a map, a list or a value", id)
	}
	return s, nil
}

func parseMap(m *yaml.Node, name, id string) ([]*FieldItem, error) {
	var items []*FieldItem
	for i := 0; i+1 < len(m.Content); i += 2 {
		k, v := m.Content[i], m.Content[i+1]
		parts := strings.Split(k.Value, "|")
		it := &FieldItem{Field: parts[0], Modifiers: parts[1:], Line: k.Line}
		switch v.Kind {
		case yaml.ScalarNode:
			it.Values = []Value{scalarValue(v)}
		case yaml.SequenceNode:
			for _, e := range v.Content {
				if e.Kind != yaml.ScalarNode {
					return nil, errAt(name, e.Line, "detection.%s.%s: values must be scalars", id, k.Value)
				}
				it.Values = append(it.Values, scalarValue(e))
			}
			if len(it.Values) == 0 {
				return nil, errAt(name, v.Line, "detection.%s.%s: empty value list", id, k.Value)
			}
		default:
			return nil, errAt(name, v.Line, "detection.%s.%s: values must be scalars or a list of scalars", id, k.Value)
		}
		items = append(items, it)
	}
	if len(items) == 0 {
		return nil, errAt(name, m.Line, "detection.%s: empty map", id)
	}
	return items, nil
}

func scalarValue(n *yaml.Node) Value {
	switch n.Tag {
	case "!!null":
		return Value{Kind: Null}
	case "!!int", "!!float":
		return Value{Kind: Number, Text: n.Value}
	case "!!bool":
		return Value{Kind: Bool, Text: strings.ToLower(n.Value)}
	}
	return Value{Kind: String, Text: n.Value}
}
