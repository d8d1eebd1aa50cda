package sigma

import (
	"encoding/base64"
	"fmt"
	"net/netip"
	"regexp"
	"strconv"
	"strings"
	"unicode/utf16"
)

// Severity says how bad an Issue is.
type Severity string

// Issue severities.
const (
	// SevError is an invalid rule.
	SevError Severity = "error"
	// SevUnsupported is valid Sigma this engine does not evaluate.
	SevUnsupported Severity = "unsupported"
	// SevWarning is a discouraged construct that still works.
	SevWarning Severity = "warning"
)

// Issue is one problem Lint found.
type Issue struct {
	File     string
	Line     int
	Rule     string // the rule's id, or its title
	Severity Severity
	Msg      string
}

func (i Issue) String() string {
	loc := i.File
	if i.Line > 0 {
		loc += ":" + strconv.Itoa(i.Line)
	}
	if i.Rule != "" {
		loc += ": " + i.Rule
	}
	return fmt.Sprintf("%s: %s: %s", loc, i.Severity, i.Msg)
}

// matcher is a compiled condition.
type matcher interface{ eval(d *Doc) bool }

type andMatcher []matcher
type orMatcher []matcher
type notMatcher struct{ m matcher }
type constMatcher bool

func (m andMatcher) eval(d *Doc) bool {
	for _, x := range m {
		if !x.eval(d) {
			return false
		}
	}
	return true
}

func (m orMatcher) eval(d *Doc) bool {
	for _, x := range m {
		if x.eval(d) {
			return true
		}
	}
	return false
}

func (m notMatcher) eval(d *Doc) bool    { return !m.m.eval(d) }
func (m constMatcher) eval(*Doc) bool    { return bool(m) }
func (m *fieldMatcher) eval(d *Doc) bool { return m.evalField(d) }

// fieldPath is a field name interned by an Engine.
type fieldPath struct {
	name string
	id   int
}

// fieldMatcher is one compiled field item.
type fieldMatcher struct {
	id      int
	f       *fieldPath
	keyword bool // search every value of the event
	pats    []pattern
	all     bool  // every pattern must match (some value)
	neq     bool  // the field is present and no pattern matches
	exists  *bool // only presence is checked
	null    bool  // some pattern is null: an absent field matches
}

func (m *fieldMatcher) evalField(d *Doc) bool {
	var vals []value
	present := true
	if m.keyword {
		vals = d.keywords()
	} else {
		vals, present = d.field(m.id, m.f)
	}
	if m.exists != nil {
		return present == *m.exists
	}
	if !present {
		return m.null && !m.neq
	}
	if m.neq {
		return !m.any(vals, d)
	}
	if m.all {
		for _, p := range m.pats {
			if !matchSome(p, vals, d) {
				return false
			}
		}
		return true
	}
	return m.any(vals, d)
}

func (m *fieldMatcher) any(vals []value, d *Doc) bool {
	for _, p := range m.pats {
		if matchSome(p, vals, d) {
			return true
		}
	}
	return false
}

func matchSome(p pattern, vals []value, d *Doc) bool {
	for i := range vals {
		if p.match(&vals[i], d) {
			return true
		}
	}
	return false
}

// compiler compiles one rule, collecting every issue instead of stopping at
// the first.
type compiler struct {
	e      *Engine
	file   string
	rule   string
	opts   *Options
	issues []Issue
}

func (c *compiler) issue(line int, sev Severity, format string, args ...any) {
	c.issues = append(c.issues, Issue{File: c.file, Line: line, Rule: c.rule, Severity: sev, Msg: fmt.Sprintf(format, args...)})
}

// detection compiles a detection section; extra conditions (from filters)
// are ANDed as "not (...)".
func (c *compiler) detection(det *Detection) matcher {
	sels := map[string]matcher{}
	var names []string
	for _, s := range det.Selections {
		names = append(names, s.Name)
		sels[s.Name] = c.selection(s)
	}
	var ors orMatcher
	for _, cs := range det.Conditions {
		n, err := parseCondition(cs)
		if err != nil {
			sev := SevError
			if strings.Contains(err.Error(), "not supported") {
				sev = SevUnsupported
			}
			c.issue(det.Line, sev, "condition %q: %v", cs, err)
			continue
		}
		ors = append(ors, c.cond(n, sels, names, det.Line))
	}
	if det.Timeframe != "" {
		c.issue(det.Line, SevUnsupported, "detection.timeframe is Sigma 1 syntax; use a correlation rule")
	}
	if len(ors) == 1 {
		return ors[0]
	}
	return ors
}

func (c *compiler) cond(n condNode, sels map[string]matcher, names []string, line int) matcher {
	switch n := n.(type) {
	case condAnd:
		return andMatcher{c.cond(n.l, sels, names, line), c.cond(n.r, sels, names, line)}
	case condOr:
		return orMatcher{c.cond(n.l, sels, names, line), c.cond(n.r, sels, names, line)}
	case condNot:
		return notMatcher{c.cond(n.x, sels, names, line)}
	case condIdent:
		m, ok := sels[n.name]
		if !ok {
			if strings.Contains(n.name, "*") {
				c.issue(line, SevError, "condition: wildcard %q must follow \"1 of\" or \"all of\"", n.name)
			} else {
				c.issue(line, SevError, "condition names undefined search identifier %q", n.name)
			}
			return constMatcher(false)
		}
		return m
	case condOf:
		matched := matchNames(n.pattern, names)
		if len(matched) == 0 {
			c.issue(line, SevError, "condition: %q matches no search identifier", n.String())
			return constMatcher(false)
		}
		var ms []matcher
		for _, name := range matched {
			ms = append(ms, sels[name])
		}
		if len(ms) == 1 {
			return ms[0]
		}
		if n.all {
			return andMatcher(ms)
		}
		return orMatcher(ms)
	}
	panic("unreachable")
}

func (c *compiler) selection(s *Selection) matcher {
	var alts orMatcher
	for _, items := range s.Alternatives {
		var and andMatcher
		for _, it := range items {
			and = append(and, c.item(s.Name, it))
		}
		if len(and) == 1 {
			alts = append(alts, and[0])
		} else {
			alts = append(alts, and)
		}
	}
	if len(alts) == 1 {
		return alts[0]
	}
	return alts
}

// Modifiers the engine knows, by role.
var (
	typeModifiers = map[string]bool{"re": true, "cidr": true, "exists": true, "lt": true, "lte": true,
		"gt": true, "gte": true, "fieldref": true, "minute": true, "hour": true, "day": true,
		"week": true, "month": true, "year": true}
	transformModifiers = map[string]bool{"base64": true, "base64offset": true, "utf16le": true,
		"utf16be": true, "utf16": true, "wide": true, "windash": true, "expand": true}
	flagModifiers = map[string]bool{"contains": true, "startswith": true, "endswith": true,
		"all": true, "cased": true, "neq": true, "i": true, "m": true, "s": true}
)

// item compiles one field item.
func (c *compiler) item(sel string, it *FieldItem) matcher {
	where := fmt.Sprintf("detection.%s.%s", sel, strings.Join(append([]string{it.Field}, it.Modifiers...), "|"))
	fail := func(sev Severity, format string, args ...any) matcher {
		c.issue(it.Line, sev, where+": "+format, args...)
		return constMatcher(false)
	}
	m := &fieldMatcher{}
	if it.Field == "" {
		m.keyword = true
	} else {
		m.f = c.e.intern(it.Field)
		m.id = m.f.id
	}
	var typ string
	var wild strKind = strExact
	var cased, reI, reM, reS bool
	var unit string
	for _, mod := range it.Modifiers {
		switch {
		case mod == "contains":
			wild = strContains
		case mod == "startswith":
			wild = strPrefix
		case mod == "endswith":
			wild = strSuffix
		case mod == "all":
			m.all = true
			if len(it.Values) == 1 {
				c.issue(it.Line, SevWarning, "%s: all with a single value", where)
			}
		case mod == "cased":
			cased = true
		case mod == "neq":
			m.neq = true
		case mod == "i" || mod == "m" || mod == "s":
			if typ != "re" {
				return fail(SevError, "modifier %q must follow re", mod)
			}
			reI = reI || mod == "i"
			reM = reM || mod == "m"
			reS = reS || mod == "s"
		case mod == "minute" || mod == "hour" || mod == "day" || mod == "week" || mod == "month" || mod == "year":
			unit = mod
			if typ == "" {
				typ = "time"
			}
		case typeModifiers[mod]:
			if typ != "" && !(typ == "time" && (mod == "lt" || mod == "lte" || mod == "gt" || mod == "gte")) {
				return fail(SevUnsupported, "modifier %q cannot be combined with %q", mod, typ)
			}
			if typ != "time" {
				typ = mod
			} else {
				typ = "time" + mod
			}
		case transformModifiers[mod]:
			// applied below, in order
		case mod == "":
			return fail(SevError, "empty modifier")
		default:
			return fail(SevUnsupported, "unknown modifier %q", mod)
		}
	}
	if m.keyword && typ != "" {
		return fail(SevUnsupported, "modifier %q on a keyword search", typ)
	}
	for _, v := range it.Values {
		if v.Kind == Null {
			if typ != "" || wild != strExact || len(it.Modifiers) > 0 {
				return fail(SevError, "null value with modifiers")
			}
			if len(it.Values) > 1 {
				c.issue(it.Line, SevWarning, "%s: null in a value list (the specification disallows it)", where)
			}
			m.null = true
			m.pats = append(m.pats, nullPattern{})
		}
	}
	switch {
	case typ == "exists":
		if len(it.Values) != 1 || it.Values[0].Kind != Bool {
			return fail(SevError, "exists takes one boolean")
		}
		b := it.Values[0].Text == "true"
		m.exists = &b
		return m
	case typ == "re":
		for _, v := range nonNull(it.Values) {
			flags := ""
			if reI {
				flags += "i"
			}
			if reM {
				flags += "m"
			}
			if reS {
				flags += "s"
			}
			src := v.Text
			if flags != "" {
				src = "(?" + flags + ")" + src
			}
			re, err := regexp.Compile(src)
			if err != nil {
				return fail(SevUnsupported, "regular expression %q: %v", v.Text, err)
			}
			m.pats = append(m.pats, &rePattern{re})
		}
	case typ == "cidr":
		for _, v := range nonNull(it.Values) {
			p, err := netip.ParsePrefix(v.Text)
			if err != nil {
				return fail(SevError, "cidr %q: %v", v.Text, err)
			}
			m.pats = append(m.pats, &cidrPattern{p.Masked()})
		}
	case typ == "lt" || typ == "lte" || typ == "gt" || typ == "gte" || strings.HasPrefix(typ, "time"):
		op := map[string]cmpOp{"lt": opLt, "lte": opLte, "gt": opGt, "gte": opGte}[strings.TrimPrefix(typ, "time")]
		for _, v := range nonNull(it.Values) {
			f, err := strconv.ParseFloat(v.Text, 64)
			if err != nil {
				return fail(SevError, "%q is not a number", v.Text)
			}
			m.pats = append(m.pats, &cmpPattern{op: op, f: f, unit: unit})
		}
	case typ == "fieldref":
		for _, v := range nonNull(it.Values) {
			ref := c.e.intern(v.Text)
			m.pats = append(m.pats, &fieldrefPattern{id: ref.id, ref: ref, kind: wild, cased: cased})
		}
	default:
		pats, err := c.strings(it, wild, cased, m.keyword)
		if err != nil {
			return fail(SevUnsupported, "%v", err)
		}
		m.pats = append(m.pats, pats...)
	}
	if len(m.pats) == 0 {
		return fail(SevError, "no value")
	}
	return m
}

func nonNull(vs []Value) []Value {
	var out []Value
	for _, v := range vs {
		if v.Kind != Null {
			out = append(out, v)
		}
	}
	return out
}

// maxVariants bounds how many values windash, expand and the encodings may
// produce from one rule value.
const maxVariants = 4096

// strings compiles plain (string, number, boolean) values through the
// transformation modifiers, in the order written.
func (c *compiler) strings(it *FieldItem, wild strKind, cased, keyword bool) ([]pattern, error) {
	var out []pattern
	for _, v := range nonNull(it.Values) {
		if v.Kind == Number && len(it.Modifiers) == 0 {
			f, _ := strconv.ParseFloat(v.Text, 64)
			out = append(out, &numEqPattern{text: v.Text, f: f})
			continue
		}
		if v.Kind != String && v.Kind != Number && v.Kind != Bool {
			continue
		}
		// expand works on the written text: `\%` is a plain percent sign.
		texts := []string{v.Text}
		for _, mod := range it.Modifiers {
			if mod == "expand" {
				var err error
				if texts, err = c.expand(v.Text); err != nil {
					return nil, err
				}
			}
		}
		var variants [][]tok
		for _, t := range texts {
			variants = append(variants, parseWildcards(t))
		}
		encoded := false
		for _, mod := range it.Modifiers {
			var err error
			switch mod {
			case "windash":
				variants, err = mapVariants(variants, windash)
			case "utf16le", "wide":
				variants, err = mapVariants(variants, literalMap(utf16le))
			case "utf16be":
				variants, err = mapVariants(variants, literalMap(utf16be))
			case "utf16":
				variants, err = mapVariants(variants, func(ts []tok) ([][]tok, error) {
					ts = append([]tok{{kind: tokLit, s: "\xff\xfe"}}, ts...)
					return literalMap(utf16le)(ts)
				})
			case "base64", "base64offset":
				offset := mod == "base64offset"
				variants, err = mapVariants(variants, func(ts []tok) ([][]tok, error) {
					s, ok := plain(ts)
					if !ok {
						return nil, fmt.Errorf("%s of a value with wildcards", mod)
					}
					var out [][]tok
					for _, e := range encodeBase64(s, offset) {
						out = append(out, []tok{{kind: tokLit, s: e}})
					}
					return out, nil
				})
				encoded = true
			case "contains", "startswith", "endswith":
				w := map[string]strKind{"contains": strContains, "startswith": strPrefix, "endswith": strSuffix}[mod]
				for i := range variants {
					variants[i] = addStars(variants[i], w)
				}
			}
			if err != nil {
				return nil, err
			}
		}
		if keyword && wild == strExact {
			for i := range variants {
				variants[i] = addStars(variants[i], strContains)
			}
		}
		for _, vt := range variants {
			out = append(out, newStrPattern(vt, cased || encoded))
		}
	}
	return out, nil
}

func addStars(ts []tok, w strKind) []tok {
	star := tok{kind: tokStar}
	if (w == strContains || w == strSuffix) && (len(ts) == 0 || ts[0].kind != tokStar) {
		ts = append([]tok{star}, ts...)
	}
	if (w == strContains || w == strPrefix) && (len(ts) == 0 || ts[len(ts)-1].kind != tokStar) {
		ts = append(append([]tok(nil), ts...), star)
	}
	return ts
}

func mapVariants(vs [][]tok, f func([]tok) ([][]tok, error)) ([][]tok, error) {
	var out [][]tok
	for _, v := range vs {
		r, err := f(v)
		if err != nil {
			return nil, err
		}
		out = append(out, r...)
		if len(out) > maxVariants {
			return nil, fmt.Errorf("value expands to more than %d variants", maxVariants)
		}
	}
	return out, nil
}

func literalMap(f func(string) string) func([]tok) ([][]tok, error) {
	return func(ts []tok) ([][]tok, error) {
		out := make([]tok, len(ts))
		for i, t := range ts {
			out[i] = t
			if t.kind == tokLit {
				out[i].s = f(t.s)
			}
		}
		return [][]tok{out}, nil
	}
}

func utf16le(s string) string {
	var b strings.Builder
	for _, u := range utf16.Encode([]rune(s)) {
		b.WriteByte(byte(u))
		b.WriteByte(byte(u >> 8))
	}
	return b.String()
}

func utf16be(s string) string {
	var b strings.Builder
	for _, u := range utf16.Encode([]rune(s)) {
		b.WriteByte(byte(u >> 8))
		b.WriteByte(byte(u))
	}
	return b.String()
}

// encodeBase64 returns the Base64 encoding of s, or with offset the three
// encodings of s shifted by zero, one and two bytes, trimmed to the
// characters that do not depend on the surrounding bytes (as pySigma does).
func encodeBase64(s string, offset bool) []string {
	if !offset {
		return []string{base64.StdEncoding.EncodeToString([]byte(s))}
	}
	starts := [3]int{0, 2, 3}
	ends := [3]int{0, -3, -2} // 0: to the end
	var out []string
	for i := 0; i < 3; i++ {
		enc := base64.StdEncoding.EncodeToString([]byte(strings.Repeat(" ", i) + s))
		end := len(enc)
		if e := ends[(len(s)+i)%3]; e != 0 {
			end += e
		}
		if starts[i] < end {
			out = append(out, enc[starts[i]:end])
		}
	}
	return out
}

// windashChars are the characters windash makes interchangeable.
var windashChars = []string{"-", "/", "–", "—", "―"}

func windash(ts []tok) ([][]tok, error) {
	out := [][]tok{nil}
	for _, t := range ts {
		if t.kind != tokLit {
			for i := range out {
				out[i] = append(out[i], t)
			}
			continue
		}
		// Split the literal at dash characters; each becomes a choice.
		parts := []string{""}
		var dashes int
		for _, r := range t.s {
			if strings.ContainsRune("-/–—―", r) {
				parts = append(parts, "")
				dashes++
				continue
			}
			parts[len(parts)-1] += string(r)
		}
		lits := []string{parts[0]}
		for _, p := range parts[1:] {
			var next []string
			for _, l := range lits {
				for _, d := range windashChars {
					next = append(next, l+d+p)
				}
			}
			lits = next
			if len(lits)*len(out) > maxVariants {
				return nil, fmt.Errorf("windash value expands to more than %d variants", maxVariants)
			}
		}
		var grown [][]tok
		for _, o := range out {
			for _, l := range lits {
				grown = append(grown, append(append([]tok(nil), o...), tok{kind: tokLit, s: l}))
			}
		}
		out = grown
	}
	return out, nil
}

// expand replaces %name% placeholders with each of their values (the
// cartesian product for several); `\%` writes a plain percent sign.
func (c *compiler) expand(s string) ([]string, error) {
	outs := []string{""}
	var lit strings.Builder
	appendAll := func(vals []string) error {
		l := lit.String()
		lit.Reset()
		var next []string
		for _, o := range outs {
			for _, v := range vals {
				next = append(next, o+l+v)
			}
		}
		if len(next) > maxVariants {
			return fmt.Errorf("placeholders expand to more than %d values", maxVariants)
		}
		outs = next
		return nil
	}
	for i := 0; i < len(s); i++ {
		switch {
		case s[i] == '\\' && i+1 < len(s) && s[i+1] == '%':
			lit.WriteByte('%')
			i++
		case s[i] == '%':
			j := strings.IndexByte(s[i+1:], '%')
			if j <= 0 || strings.ContainsAny(s[i+1:i+1+j], " \t") {
				lit.WriteByte('%')
				continue
			}
			name := s[i+1 : i+1+j]
			var vals []string
			if c.opts != nil {
				vals = c.opts.Placeholders[name]
			}
			if len(vals) == 0 {
				if c.opts != nil && !c.opts.lint {
					return nil, fmt.Errorf("placeholder %%%s%% has no values (set Options.Placeholders)", name)
				}
				vals = []string{"*"} // linting: the values come from configuration
			}
			if err := appendAll(vals); err != nil {
				return nil, err
			}
			i += j + 1
		default:
			lit.WriteByte(s[i])
		}
	}
	if err := appendAll([]string{""}); err != nil {
		return nil, err
	}
	return outs, nil
}
