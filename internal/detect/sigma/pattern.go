package sigma

import (
	"net/netip"
	"regexp"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"
)

// pattern matches one value of a field.
type pattern interface {
	match(v *value, d *Doc) bool
}

type tokKind uint8

const (
	tokLit tokKind = iota
	tokStar
	tokAny
)

// tok is one part of a Sigma string: a literal, `*` or `?`.
type tok struct {
	kind tokKind
	s    string
}

// parseWildcards splits a Sigma string into literals and wildcards. `\*`,
// `\?` and `\\` escape; a backslash before anything else is a plain backslash.
func parseWildcards(s string) []tok {
	var toks []tok
	var lit strings.Builder
	flush := func() {
		if lit.Len() > 0 {
			toks = append(toks, tok{kind: tokLit, s: lit.String()})
			lit.Reset()
		}
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch c {
		case '\\':
			if i+1 < len(s) && (s[i+1] == '*' || s[i+1] == '?' || s[i+1] == '\\') {
				lit.WriteByte(s[i+1])
				i++
			} else {
				lit.WriteByte('\\')
			}
		case '*':
			flush()
			if len(toks) == 0 || toks[len(toks)-1].kind != tokStar {
				toks = append(toks, tok{kind: tokStar})
			}
		case '?':
			flush()
			toks = append(toks, tok{kind: tokAny})
		default:
			lit.WriteByte(c)
		}
	}
	flush()
	return toks
}

func plain(toks []tok) (string, bool) {
	var b strings.Builder
	for _, t := range toks {
		if t.kind != tokLit {
			return "", false
		}
		b.WriteString(t.s)
	}
	return b.String(), true
}

type strKind uint8

const (
	strExact strKind = iota
	strPrefix
	strSuffix
	strContains
	strGlob
)

// strPattern matches text with Sigma wildcards, case-insensitively unless
// cased.
type strPattern struct {
	kind  strKind
	s     string
	toks  []tok
	cased bool
}

func newStrPattern(toks []tok, cased bool) *strPattern {
	if !cased {
		low := make([]tok, len(toks))
		for i, t := range toks {
			low[i] = t
			if t.kind == tokLit {
				low[i].s = strings.ToLower(t.s)
			}
		}
		toks = low
	}
	p := &strPattern{toks: toks, cased: cased, kind: strGlob}
	n := len(toks)
	switch {
	case n == 0:
		p.kind = strExact
	case n == 1 && toks[0].kind == tokLit:
		p.kind, p.s = strExact, toks[0].s
	case n == 1 && toks[0].kind == tokStar:
		p.kind = strContains // matches any text
	case n == 2 && toks[0].kind == tokLit && toks[1].kind == tokStar:
		p.kind, p.s = strPrefix, toks[0].s
	case n == 2 && toks[0].kind == tokStar && toks[1].kind == tokLit:
		p.kind, p.s = strSuffix, toks[1].s
	case n == 3 && toks[0].kind == tokStar && toks[1].kind == tokLit && toks[2].kind == tokStar:
		p.kind, p.s = strContains, toks[1].s
	}
	return p
}

func (p *strPattern) match(v *value, _ *Doc) bool {
	s, ok := v.text()
	if !ok {
		return false
	}
	if !p.cased {
		s = v.lowered()
	}
	return p.matchText(s)
}

func (p *strPattern) matchText(s string) bool {
	switch p.kind {
	case strExact:
		return s == p.s
	case strPrefix:
		return strings.HasPrefix(s, p.s)
	case strSuffix:
		return strings.HasSuffix(s, p.s)
	case strContains:
		return strings.Contains(s, p.s)
	}
	return globMatch(p.toks, s)
}

func globMatch(toks []tok, s string) bool {
	for len(toks) > 0 {
		t := toks[0]
		switch t.kind {
		case tokLit:
			if !strings.HasPrefix(s, t.s) {
				return false
			}
			s = s[len(t.s):]
		case tokAny:
			if s == "" {
				return false
			}
			_, n := utf8.DecodeRuneInString(s)
			s = s[n:]
		case tokStar:
			rest := toks[1:]
			if len(rest) == 0 {
				return true
			}
			if rest[0].kind == tokLit {
				for i := 0; ; {
					j := strings.Index(s[i:], rest[0].s)
					if j < 0 {
						return false
					}
					if globMatch(rest, s[i+j:]) {
						return true
					}
					i += j + 1
				}
			}
			for i := 0; i <= len(s); i++ {
				if globMatch(rest, s[i:]) {
					return true
				}
			}
			return false
		}
		toks = toks[1:]
	}
	return s == ""
}

// numEqPattern matches a rule number against a number or numeric string,
// by text or by value (1 matches 1.0).
type numEqPattern struct {
	text string
	f    float64
}

func (p *numEqPattern) match(v *value, _ *Doc) bool {
	s, ok := v.text()
	if !ok {
		return false
	}
	if s == p.text {
		return true
	}
	f, ok := v.number()
	return ok && f == p.f
}

// nullPattern matches a null value; fieldMatcher also lets it match an
// absent field.
type nullPattern struct{}

func (nullPattern) match(v *value, _ *Doc) bool { return v.kind == kindNull }

type rePattern struct{ re *regexp.Regexp }

func (p *rePattern) match(v *value, _ *Doc) bool {
	s, ok := v.text()
	return ok && p.re.MatchString(s)
}

type cidrPattern struct{ prefix netip.Prefix }

func (p *cidrPattern) match(v *value, _ *Doc) bool {
	s, ok := v.text()
	if !ok {
		return false
	}
	a, err := netip.ParseAddr(s)
	if err != nil {
		return false
	}
	return p.prefix.Contains(a.Unmap())
}

type cmpOp uint8

const (
	opEq cmpOp = iota
	opLt
	opLte
	opGt
	opGte
)

type cmpPattern struct {
	op   cmpOp
	f    float64
	unit string // "" or a time modifier: minute, hour, day, week, month, year
}

func (p *cmpPattern) match(v *value, _ *Doc) bool {
	var f float64
	if p.unit != "" {
		s, ok := v.text()
		if !ok {
			return false
		}
		t, ok := parseTime(s)
		if !ok {
			return false
		}
		f = float64(timePart(t, p.unit))
	} else {
		var ok bool
		if f, ok = v.number(); !ok {
			return false
		}
	}
	switch p.op {
	case opLt:
		return f < p.f
	case opLte:
		return f <= p.f
	case opGt:
		return f > p.f
	case opGte:
		return f >= p.f
	}
	return f == p.f
}

func parseTime(s string) (time.Time, bool) {
	for _, layout := range []string{time.RFC3339Nano, "2006-01-02T15:04:05", "2006-01-02 15:04:05", "2006-01-02"} {
		if t, err := time.Parse(layout, s); err == nil {
			return t, true
		}
	}
	if n, err := strconv.ParseInt(s, 10, 64); err == nil { // epoch seconds or milliseconds
		if n > 1e12 {
			return time.UnixMilli(n).UTC(), true
		}
		return time.Unix(n, 0).UTC(), true
	}
	return time.Time{}, false
}

func timePart(t time.Time, unit string) int {
	switch unit {
	case "minute":
		return t.Minute()
	case "hour":
		return t.Hour()
	case "day":
		return t.Day()
	case "week":
		_, w := t.ISOWeek()
		return w
	case "month":
		return int(t.Month())
	}
	return t.Year()
}

// fieldrefPattern compares a value with the values of another field of the
// same event.
type fieldrefPattern struct {
	id    int
	ref   *fieldPath
	kind  strKind // exact, prefix, suffix or contains
	cased bool
}

func (p *fieldrefPattern) match(v *value, d *Doc) bool {
	s, ok := v.text()
	if !ok {
		return false
	}
	if !p.cased {
		s = v.lowered()
	}
	refs, _ := d.field(p.id, p.ref)
	for i := range refs {
		r, ok := refs[i].text()
		if !ok {
			continue
		}
		if !p.cased {
			r = refs[i].lowered()
		}
		var m bool
		switch p.kind {
		case strPrefix:
			m = strings.HasPrefix(s, r)
		case strSuffix:
			m = strings.HasSuffix(s, r)
		case strContains:
			m = strings.Contains(s, r)
		default:
			m = s == r
		}
		if m {
			return true
		}
	}
	return false
}
