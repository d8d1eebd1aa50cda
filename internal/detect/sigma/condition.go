package sigma

import (
	"fmt"
	"path"
	"strings"
)

// condNode is a parsed condition expression.
type condNode interface{ String() string }

type condAnd struct{ l, r condNode }
type condOr struct{ l, r condNode }
type condNot struct{ x condNode }
type condIdent struct{ name string }
type condOf struct {
	all     bool
	pattern string // "them" for all identifiers not starting with "_"
}

func (c condAnd) String() string   { return "(" + c.l.String() + " and " + c.r.String() + ")" }
func (c condOr) String() string    { return "(" + c.l.String() + " or " + c.r.String() + ")" }
func (c condNot) String() string   { return "not " + c.x.String() }
func (c condIdent) String() string { return c.name }
func (c condOf) String() string {
	if c.all {
		return "all of " + c.pattern
	}
	return "1 of " + c.pattern
}

type condParser struct {
	toks []string
	pos  int
}

func tokenize(s string) []string {
	var toks []string
	var cur strings.Builder
	flush := func() {
		if cur.Len() > 0 {
			toks = append(toks, cur.String())
			cur.Reset()
		}
	}
	for _, r := range s {
		switch r {
		case '(', ')', '|':
			flush()
			toks = append(toks, string(r))
		case ' ', '\t', '\n', '\r':
			flush()
		default:
			cur.WriteRune(r)
		}
	}
	flush()
	return toks
}

// parseCondition parses one condition expression. Operators are, from least
// to most binding: or, and, not, "1 of"/"all of", parentheses.
func parseCondition(s string) (condNode, error) {
	p := &condParser{toks: tokenize(s)}
	if len(p.toks) == 0 {
		return nil, fmt.Errorf("empty condition")
	}
	for _, t := range p.toks {
		if t == "|" {
			return nil, fmt.Errorf("aggregation (`| count() ...`) is Sigma 1 syntax and is not supported; use a correlation rule")
		}
	}
	n, err := p.or()
	if err != nil {
		return nil, err
	}
	if p.pos < len(p.toks) {
		return nil, fmt.Errorf("unexpected %q at token %d", p.toks[p.pos], p.pos+1)
	}
	return n, nil
}

func (p *condParser) peek() string {
	if p.pos < len(p.toks) {
		return p.toks[p.pos]
	}
	return ""
}

func (p *condParser) or() (condNode, error) {
	l, err := p.and()
	if err != nil {
		return nil, err
	}
	for strings.EqualFold(p.peek(), "or") {
		p.pos++
		r, err := p.and()
		if err != nil {
			return nil, err
		}
		l = condOr{l, r}
	}
	return l, nil
}

func (p *condParser) and() (condNode, error) {
	l, err := p.not()
	if err != nil {
		return nil, err
	}
	for strings.EqualFold(p.peek(), "and") {
		p.pos++
		r, err := p.not()
		if err != nil {
			return nil, err
		}
		l = condAnd{l, r}
	}
	return l, nil
}

func (p *condParser) not() (condNode, error) {
	if strings.EqualFold(p.peek(), "not") {
		p.pos++
		x, err := p.not()
		if err != nil {
			return nil, err
		}
		return condNot{x}, nil
	}
	return p.primary()
}

func (p *condParser) primary() (condNode, error) {
	t := p.peek()
	switch {
	case t == "":
		return nil, fmt.Errorf("condition ends where an expression is expected")
	case t == "(":
		p.pos++
		n, err := p.or()
		if err != nil {
			return nil, err
		}
		if p.peek() != ")" {
			return nil, fmt.Errorf("missing )")
		}
		p.pos++
		return n, nil
	case t == ")":
		return nil, fmt.Errorf("unexpected )")
	case isOperator(t):
		return nil, fmt.Errorf("unexpected %q", t)
	}
	if p.pos+1 < len(p.toks) && strings.EqualFold(p.toks[p.pos+1], "of") {
		var all bool
		switch strings.ToLower(t) {
		case "1":
		case "all":
			all = true
		default:
			return nil, fmt.Errorf("%q of is not supported: only \"1 of\" and \"all of\"", t)
		}
		p.pos += 2
		pat := p.peek()
		if pat == "" || pat == "(" || pat == ")" || isOperator(pat) {
			return nil, fmt.Errorf("%s of needs a search identifier pattern or \"them\"", t)
		}
		p.pos++
		if strings.EqualFold(pat, "them") {
			pat = "them"
		}
		return condOf{all: all, pattern: pat}, nil
	}
	p.pos++
	return condIdent{t}, nil
}

func isOperator(t string) bool {
	switch strings.ToLower(t) {
	case "and", "or", "not", "of":
		return true
	}
	return false
}

// matchNames returns the search identifiers a "1 of"/"all of" pattern names.
func matchNames(pattern string, names []string) []string {
	var out []string
	for _, n := range names {
		if pattern == "them" {
			if !strings.HasPrefix(n, "_") {
				out = append(out, n)
			}
			continue
		}
		// Only * is a wildcard in identifier patterns; escape the others
		// path.Match knows.
		pat := strings.NewReplacer(`\`, `\\`, `?`, `\?`, `[`, `\[`).Replace(pattern)
		if ok, _ := path.Match(pat, n); ok {
			out = append(out, n)
		}
	}
	return out
}
