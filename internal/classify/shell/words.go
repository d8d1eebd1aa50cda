package shell

import (
	"path"
	"slices"
	"strconv"
	"strings"
	"unicode/utf8"

	"mvdan.cc/sh/v3/expand"
	"mvdan.cc/sh/v3/syntax"
)

// arg is one argv word after static expansion.
type arg struct {
	val   string       // after quote removal; "" when !lit
	raw   string       // as written
	word  *syntax.Word // the word it came from; nil when synthesized
	lit   bool         // val is the word's value
	glob  bool         // has an unquoted * ? or [
	subst bool         // has a command or process substitution
	proc  bool         // has a process substitution
	home  bool         // has $HOME, kept as written in val
	split bool         // has an unquoted expansion of a known variable
}

// rawText returns the source text of n, or "" when positions are unusable.
func rawText(src string, n syntax.Node) string {
	start, end := n.Pos(), n.End()
	if !start.IsValid() || !end.IsValid() {
		return ""
	}
	s, e := int(start.Offset()), int(end.Offset())
	if s < 0 || e > len(src) || s > e {
		return ""
	}
	return src[s:e]
}

// words expands argv words: quote removal and brace expansion.
// Variables assigned earlier in the line (vars) are expanded, and an
// unquoted word made of one such expansion is split into fields.
func words(ws []*syntax.Word, src string, vars map[string]string) []arg {
	out := make([]arg, 0, len(ws))
	for _, wd := range ws {
		raw := rawText(src, wd)
		if hasBrace(wd) {
			if exp, ok := braces(wd, raw, src, vars); ok {
				out = append(out, exp...)
				continue
			}
		}
		a := literal(wd, src, vars)
		a.raw = raw
		if a.split && len(wd.Parts) == 1 {
			for _, fld := range strings.Fields(a.val) {
				b := a
				b.val = fld
				out = append(out, b)
			}
			continue
		}
		out = append(out, a)
	}
	return out
}

func hasBrace(wd *syntax.Word) bool {
	for _, p := range wd.Parts {
		if l, ok := p.(*syntax.Lit); ok && strings.IndexByte(l.Value, '{') >= 0 {
			return true
		}
	}
	return false
}

// braces brace-expands wd; ok is false when there is nothing to expand or the
// expansion is larger than maxBraceWords.
func braces(wd *syntax.Word, raw, src string, vars map[string]string) ([]arg, bool) {
	cp := *wd
	cp.Parts = slices.Clone(wd.Parts)
	if !syntax.SplitBraces(&cp) {
		return nil, false
	}
	var out []arg
	for ew, err := range expand.BracesSeq(nil, &cp) {
		if err != nil || len(out) == maxBraceWords {
			return nil, false
		}
		a := literal(ew, src, vars)
		a.raw, a.word = raw, wd
		out = append(out, a)
	}
	return out, len(out) > 0
}

// literal performs quote removal on wd, expanding the variables in vars.
func literal(wd *syntax.Word, src string, vars map[string]string) arg {
	a := arg{word: wd, lit: true}
	if len(wd.Parts) == 1 {
		// Fast paths: a plain literal or a single-quoted string.
		switch p := wd.Parts[0].(type) {
		case *syntax.Lit:
			if !strings.ContainsAny(p.Value, "\\*?[") {
				a.val = p.Value
				return a
			}
		case *syntax.SglQuoted:
			if !p.Dollar {
				a.val = p.Value
				return a
			}
		}
	}
	var sb strings.Builder
	parts(&a, &sb, wd.Parts, false, src, vars)
	if a.lit {
		a.val = sb.String()
	}
	return a
}

func parts(a *arg, sb *strings.Builder, ps []syntax.WordPart, quoted bool, src string, vars map[string]string) {
	for _, p := range ps {
		switch p := p.(type) {
		case *syntax.Lit:
			unescape(a, sb, p.Value, quoted)
		case *syntax.SglQuoted:
			if p.Dollar {
				sb.WriteString(ansiC(p.Value, false))
			} else {
				sb.WriteString(p.Value)
			}
		case *syntax.DblQuoted:
			parts(a, sb, p.Parts, true, src, vars)
		case *syntax.ParamExp:
			name := simpleParam(p, src)
			if v, ok := vars[name]; ok && name != "" {
				sb.WriteString(v)
				a.split = a.split || !quoted
			} else if name == "HOME" {
				sb.WriteString("$HOME")
				a.home = true
			} else {
				a.lit = false
			}
		case *syntax.CmdSubst:
			a.lit, a.subst = false, true
		case *syntax.ProcSubst:
			a.lit, a.subst, a.proc = false, true, true
		case *syntax.ExtGlob:
			if r := rawText(src, p); r != "" {
				sb.WriteString(r)
				a.glob = true
			} else {
				a.lit = false
			}
		default: // ArithmExp, BraceExp left after expansion
			a.lit = false
		}
	}
}

// unescape removes backslashes from a literal, the way the shell does outside
// quotes, or inside double quotes when quoted.
func unescape(a *arg, sb *strings.Builder, s string, quoted bool) {
	if !quoted && strings.ContainsAny(s, "*?[") {
		// Escaped glob characters are literal; recheck below.
		for i := 0; i < len(s); i++ {
			if s[i] == '\\' {
				i++
				continue
			}
			if s[i] == '*' || s[i] == '?' || s[i] == '[' && strings.IndexByte(s[i+1:], ']') >= 0 {
				a.glob = true
				break
			}
		}
	}
	if strings.IndexByte(s, '\\') < 0 {
		sb.WriteString(s)
		return
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c != '\\' || i+1 == len(s) {
			sb.WriteByte(c)
			continue
		}
		n := s[i+1]
		switch {
		case n == '\n':
			i++
		case !quoted, n == '$', n == '`', n == '"', n == '\\':
			sb.WriteByte(n)
			i++
		default:
			sb.WriteByte(c)
		}
	}
}

// ansiC decodes the escapes of $'...' (and of echo -e and printf %b when
// echo is set: there \c ends the output).
func ansiC(s string, echo bool) string {
	if strings.IndexByte(s, '\\') < 0 {
		return s
	}
	var sb strings.Builder
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c != '\\' || i+1 == len(s) {
			sb.WriteByte(c)
			continue
		}
		i++
		switch e := s[i]; e {
		case 'a':
			sb.WriteByte(7)
		case 'b':
			sb.WriteByte(8)
		case 'e', 'E':
			sb.WriteByte(27)
		case 'f':
			sb.WriteByte(12)
		case 'n':
			sb.WriteByte('\n')
		case 'r':
			sb.WriteByte('\r')
		case 't':
			sb.WriteByte('\t')
		case 'v':
			sb.WriteByte(11)
		case '\\', '\'', '"', '?':
			sb.WriteByte(e)
		case 'c':
			if echo {
				return sb.String()
			}
			if i+1 < len(s) {
				i++
				sb.WriteByte(s[i] & 0x1f)
			}
		case 'x', 'u', 'U':
			maxDigits := 2
			if e == 'u' {
				maxDigits = 4
			} else if e == 'U' {
				maxDigits = 8
			}
			j := i + 1
			for j < len(s) && j-i-1 < maxDigits && isHex(s[j]) {
				j++
			}
			if j == i+1 {
				sb.WriteByte('\\')
				sb.WriteByte(e)
				continue
			}
			n, _ := strconv.ParseUint(s[i+1:j], 16, 32)
			if e == 'x' {
				sb.WriteByte(byte(n))
			} else if r := rune(n); utf8.ValidRune(r) {
				sb.WriteRune(r)
			}
			i = j - 1
		case '0', '1', '2', '3', '4', '5', '6', '7':
			j := i
			if echo && e == '0' {
				j++ // echo -e: \0NNN
			}
			k := j
			for k < len(s) && k-j < 3 && s[k] >= '0' && s[k] <= '7' {
				k++
			}
			n, _ := strconv.ParseUint(s[j:k], 8, 32)
			sb.WriteByte(byte(n))
			i = k - 1
		default:
			sb.WriteByte('\\')
			sb.WriteByte(e)
		}
	}
	return sb.String()
}

func isHex(c byte) bool {
	return c >= '0' && c <= '9' || c >= 'a' && c <= 'f' || c >= 'A' && c <= 'F'
}

// cleanTarget cleans a path operand, joining a relative one to dir when dir
// is known. "~" and "$HOME" are kept as written, unless ".." climbs out of
// them: the home directory is not known here, and root's (/root) is one
// level below /, so ~/.. may be / itself. Such a path is resolved as if the
// home were /root (~/.. is /, ~/../etc is /etc), the worst place it can
// reach, so that rules see that.
func cleanTarget(p, dir string) string {
	if p == "" || strings.Contains(p, "://") {
		return p
	}
	if dir != "" && !isAbsish(p) {
		p = dir + "/" + p
	}
	if rest, ok := homeRelative(p); ok {
		if c := path.Clean("/root/" + rest); c != "/root" && !strings.HasPrefix(c, "/root/") {
			return c
		}
	}
	return path.Clean(p)
}

// homeRelative returns what follows the home directory in p (~, ~user,
// $HOME or ${HOME}, then / or the end), and whether p starts with one.
func homeRelative(p string) (string, bool) {
	for _, h := range []string{"$HOME", "${HOME}"} {
		if rest, ok := strings.CutPrefix(p, h); ok && (rest == "" || rest[0] == '/') {
			return rest, true
		}
	}
	if !strings.HasPrefix(p, "~") {
		return "", false
	}
	if i := strings.IndexByte(p, '/'); i >= 0 {
		return p[i:], true
	}
	return "", true
}

// isAbsish reports whether p does not depend on the working directory.
func isAbsish(p string) bool {
	return strings.HasPrefix(p, "/") || p == "~" || strings.HasPrefix(p, "~/") ||
		strings.HasPrefix(p, "~") || strings.HasPrefix(p, "$HOME")
}

// simpleParam returns the name of a plain $name or ${name} expansion, or "".
func simpleParam(p *syntax.ParamExp, src string) string {
	if p.Param == nil {
		return ""
	}
	n := p.Param.Value
	if r := rawText(src, p); r == "$"+n || r == "${"+n+"}" {
		return n
	}
	return ""
}
