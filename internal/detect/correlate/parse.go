package correlate

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"math"
	"strconv"
	"strings"
	"time"

	"github.com/vigil-audit/vigil/internal/detect/sigma"
	"github.com/vigil-audit/vigil/internal/yamlnode"
	"go.yaml.in/yaml/v3"
)

// Type is a correlation type.
type Type string

// Correlation types. Absence is a Vigil extension (see the package
// documentation).
const (
	EventCount      Type = "event_count"
	ValueCount      Type = "value_count"
	ValueSum        Type = "value_sum"
	ValueAvg        Type = "value_avg"
	Temporal        Type = "temporal"
	TemporalOrdered Type = "temporal_ordered"
	Absence         Type = "absence"
)

// Comparison is one criterion of a condition, e.g. gte: 10.
type Comparison struct {
	Op    string // gt, gte, lt, lte, eq, neq
	Value float64
}

func (c Comparison) holds(x float64) bool {
	switch c.Op {
	case "gt":
		return x > c.Value
	case "gte":
		return x >= c.Value
	case "lt":
		return x < c.Value
	case "lte":
		return x <= c.Value
	case "eq":
		return x == c.Value
	case "neq":
		return x != c.Value
	}
	return false
}

// Condition is a correlation's condition: every comparison must hold (AND).
// Field names the field(s) value_count, value_sum and value_avg aggregate;
// several fields of value_count are counted as distinct tuples.
type Condition struct {
	Field       []string
	Comparisons []Comparison
}

// Holds reports whether x satisfies every comparison.
func (c Condition) Holds(x float64) bool {
	for _, cmp := range c.Comparisons {
		if !cmp.holds(x) {
			return false
		}
	}
	return true
}

// Correlation is one Sigma correlation rule (or a Vigil absence rule).
type Correlation struct {
	ID          string
	Name        string
	Title       string
	Level       string
	Status      string
	Description string

	Type Type
	// Rules are the ids or names of the Sigma rules or correlations this one
	// correlates, in the order written.
	Rules []string
	// GroupBy are field names or aliases; matches are correlated only with
	// matches having the same values for all of them.
	GroupBy  []string
	Timespan time.Duration
	// Condition is the zero value when the rule has none (temporal types
	// then require every rule; absence never has one).
	Condition Condition
	// Aliases map an alias used in GroupBy (or Condition.Field) to the field
	// it stands for in the matches of each rule (by rule name or id).
	Aliases map[string]map[string]string
	// Generate says the rules referred to also alert on their own.
	Generate bool

	// File and Line say where the correlation was read from.
	File string
	Line int
}

// String names the correlation for messages.
func (c *Correlation) String() string {
	switch {
	case c.ID != "":
		return c.ID
	case c.Name != "":
		return c.Name
	}
	return c.Title
}

// Parse reads every correlation document of a (multi-document) Sigma file;
// rules, filters and other documents are skipped. name is the file name used
// in errors. Every malformed or unsupported correlation is reported, with its
// file and line, in the returned (joined) error; the others are returned.
func Parse(data []byte, name string) ([]*Correlation, error) {
	dec := yaml.NewDecoder(bytes.NewReader(data))
	var out []*Correlation
	var errs []error
	for {
		var n yaml.Node
		err := dec.Decode(&n)
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return out, errors.Join(append(errs, &sigma.Error{File: name, Msg: "parse yaml", Err: err})...)
		}
		if len(n.Content) == 0 || n.Content[0].Kind != yaml.MappingNode || yamlnode.Get(n.Content[0], "correlation") == nil {
			continue
		}
		c, err := parseDoc(n.Content[0], name)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		out = append(out, c)
	}
	return out, errors.Join(errs...)
}

func errAt(file string, line int, format string, args ...any) error {
	return &sigma.Error{File: file, Line: line, Msg: fmt.Sprintf(format, args...)}
}

func scalar(m *yaml.Node, key string) string {
	if n := yamlnode.Get(m, key); n != nil && n.Kind == yaml.ScalarNode && n.Tag != "!!null" {
		return n.Value
	}
	return ""
}

// stringList reads a scalar or a list of scalars.
func stringList(n *yaml.Node, file, what string) ([]string, error) {
	switch n.Kind {
	case yaml.ScalarNode:
		if n.Tag == "!!null" || n.Value == "" {
			return nil, nil
		}
		return []string{n.Value}, nil
	case yaml.SequenceNode:
		var out []string
		for _, e := range n.Content {
			if e.Kind != yaml.ScalarNode || e.Value == "" {
				return nil, errAt(file, e.Line, "%s: items must be non-empty strings", what)
			}
			out = append(out, e.Value)
		}
		return out, nil
	}
	return nil, errAt(file, n.Line, "%s must be a string or a list of strings", what)
}

var knownTypes = map[string]Type{
	"event_count": EventCount, "value_count": ValueCount, "value_sum": ValueSum,
	"value_avg": ValueAvg, "temporal": Temporal, "temporal_ordered": TemporalOrdered,
	"absence": Absence,
}

func parseDoc(d *yaml.Node, file string) (*Correlation, error) {
	c := &Correlation{
		ID: scalar(d, "id"), Name: scalar(d, "name"), Title: scalar(d, "title"),
		Level: scalar(d, "level"), Status: scalar(d, "status"), Description: scalar(d, "description"),
		File: file, Line: d.Line,
	}
	if c.Title == "" {
		return nil, errAt(file, d.Line, "correlation: title is required")
	}
	where := func(line int, format string, args ...any) error {
		return errAt(file, line, "correlation %q: %s", c.String(), fmt.Sprintf(format, args...))
	}
	if g := yamlnode.Get(d, "generate"); g != nil {
		b, err := parseBool(g)
		if err != nil {
			return nil, where(g.Line, "generate: %v", err)
		}
		c.Generate = b
	}
	sec := yamlnode.Get(d, "correlation")
	secLine := sec.Line
	for i := 0; i+1 < len(d.Content); i += 2 {
		if d.Content[i+1] == sec {
			secLine = d.Content[i].Line
		}
	}
	if sec.Kind != yaml.MappingNode {
		return nil, where(secLine, "correlation must be a mapping")
	}
	var condNode, typeNode *yaml.Node
	for i := 0; i+1 < len(sec.Content); i += 2 {
		k, v := sec.Content[i], sec.Content[i+1]
		var err error
		switch k.Value {
		case "type":
			typeNode = v
			t, ok := knownTypes[v.Value]
			switch {
			case v.Kind != yaml.ScalarNode:
				return nil, where(v.Line, "correlation.type must be a string")
			case v.Value == "value_percentile":
				return nil, where(v.Line, "correlation type value_percentile is not supported")
			case !ok:
				return nil, where(v.Line, "unknown correlation type %q (want event_count, value_count, value_sum, value_avg, temporal, temporal_ordered or absence)", v.Value)
			}
			c.Type = t
		case "rules":
			c.Rules, err = stringList(v, file, "correlation.rules")
		case "group-by":
			c.GroupBy, err = stringList(v, file, "correlation.group-by")
		case "timespan":
			if v.Kind != yaml.ScalarNode {
				return nil, where(v.Line, "correlation.timespan must be a string like 5m")
			}
			if c.Timespan, err = ParseTimespan(v.Value); err != nil {
				return nil, where(v.Line, "correlation.timespan: %v", err)
			}
		case "condition":
			condNode = v
		case "aliases":
			if c.Aliases, err = parseAliases(v, file); err != nil {
				return nil, err
			}
		case "generate":
			b, err := parseBool(v)
			if err != nil {
				return nil, where(v.Line, "correlation.generate: %v", err)
			}
			c.Generate = b
		default:
			return nil, where(k.Line, "unknown key correlation.%s", k.Value)
		}
		if err != nil {
			return nil, err
		}
	}
	if typeNode == nil {
		return nil, where(secLine, "correlation.type is required")
	}
	if len(c.Rules) == 0 {
		return nil, where(secLine, "correlation.rules is required")
	}
	if c.Timespan == 0 {
		return nil, where(secLine, "correlation.timespan is required")
	}
	if condNode != nil {
		cond, err := parseCondition(condNode, file)
		if err != nil {
			return nil, err
		}
		c.Condition = cond
	}
	return c, checkShape(c, condNode, secLine, where)
}

// checkShape checks what each type requires.
func checkShape(c *Correlation, condNode *yaml.Node, line int, where func(int, string, ...any) error) error {
	if condNode != nil {
		line = condNode.Line
	}
	cond := c.Condition
	switch c.Type {
	case EventCount:
		if condNode == nil {
			return where(line, "event_count requires a condition")
		}
		if len(cond.Field) > 0 {
			return where(line, "event_count: condition.field is not allowed")
		}
	case ValueCount, ValueSum, ValueAvg:
		if condNode == nil {
			return where(line, "%s requires a condition", c.Type)
		}
		if len(cond.Field) == 0 {
			return where(line, "%s requires condition.field", c.Type)
		}
		if c.Type != ValueCount && len(cond.Field) > 1 {
			return where(line, "%s: condition.field must be one field", c.Type)
		}
	case Temporal, TemporalOrdered, Absence:
		if len(c.Rules) < 2 {
			return where(line, "%s needs at least two rules", c.Type)
		}
		if c.Type == Absence && condNode != nil {
			return where(line, "absence takes no condition")
		}
		if len(cond.Field) > 0 {
			return where(line, "%s: condition.field is not allowed", c.Type)
		}
	}
	if condNode != nil && len(cond.Comparisons) == 0 {
		return where(line, "condition has no comparison (gt, gte, lt, lte, eq, neq)")
	}
	for alias, m := range c.Aliases {
		for rule := range m {
			if !contains(c.Rules, rule) {
				return where(line, "aliases.%s names rule %q, which is not in correlation.rules", alias, rule)
			}
		}
	}
	return nil
}

func contains(xs []string, x string) bool {
	for _, y := range xs {
		if y == x {
			return true
		}
	}
	return false
}

func parseBool(n *yaml.Node) (bool, error) {
	if n.Kind != yaml.ScalarNode || n.Tag != "!!bool" {
		return false, fmt.Errorf("must be true or false")
	}
	return strconv.ParseBool(strings.ToLower(n.Value))
}

// ParseTimespan reads a Sigma timespan: a positive integer followed by s, m,
// h or d (e.g. 90m).
func ParseTimespan(s string) (time.Duration, error) {
	if len(s) < 2 {
		return 0, fmt.Errorf("%q: want a number followed by s, m, h or d", s)
	}
	unit := map[byte]time.Duration{'s': time.Second, 'm': time.Minute, 'h': time.Hour, 'd': 24 * time.Hour}[s[len(s)-1]]
	n, err := strconv.ParseUint(s[:len(s)-1], 10, 32)
	if unit == 0 || err != nil || n == 0 {
		return 0, fmt.Errorf("%q: want a positive number followed by s, m, h or d", s)
	}
	return time.Duration(n) * unit, nil
}

func parseCondition(n *yaml.Node, file string) (Condition, error) {
	var c Condition
	if n.Kind != yaml.MappingNode {
		return c, errAt(file, n.Line, "correlation.condition must be a mapping like {gte: 10}")
	}
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, v := n.Content[i], n.Content[i+1]
		switch k.Value {
		case "field":
			f, err := stringList(v, file, "correlation.condition.field")
			if err != nil {
				return c, err
			}
			c.Field = f
		case "gt", "gte", "lt", "lte", "eq", "neq":
			if v.Kind != yaml.ScalarNode || (v.Tag != "!!int" && v.Tag != "!!float") {
				return c, errAt(file, v.Line, "correlation.condition.%s: %q is not a number", k.Value, v.Value)
			}
			f, err := strconv.ParseFloat(v.Value, 64)
			if err != nil {
				if i, ierr := strconv.ParseInt(v.Value, 0, 64); ierr == nil {
					f, err = float64(i), nil
				}
			}
			if err != nil || math.IsNaN(f) || math.IsInf(f, 0) {
				return c, errAt(file, v.Line, "correlation.condition.%s: %q is not a number", k.Value, v.Value)
			}
			c.Comparisons = append(c.Comparisons, Comparison{Op: k.Value, Value: f})
		default:
			return c, errAt(file, k.Line, "correlation.condition: unknown key %q (want gt, gte, lt, lte, eq, neq or field)", k.Value)
		}
	}
	return c, nil
}

func parseAliases(n *yaml.Node, file string) (map[string]map[string]string, error) {
	if n.Kind != yaml.MappingNode {
		return nil, errAt(file, n.Line, "correlation.aliases must be a mapping of alias to {rule: field}")
	}
	out := map[string]map[string]string{}
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, v := n.Content[i], n.Content[i+1]
		if v.Kind != yaml.MappingNode {
			return nil, errAt(file, v.Line, "correlation.aliases.%s must be a mapping of rule name to field", k.Value)
		}
		m := map[string]string{}
		for j := 0; j+1 < len(v.Content); j += 2 {
			r, f := v.Content[j], v.Content[j+1]
			if f.Kind != yaml.ScalarNode || f.Value == "" {
				return nil, errAt(file, f.Line, "correlation.aliases.%s.%s must be a field name", k.Value, r.Value)
			}
			m[r.Value] = f.Value
		}
		out[k.Value] = m
	}
	return out, nil
}
