package shell

import (
	"encoding/base32"
	"encoding/base64"
	"encoding/hex"
	"path"
	"slices"
	"strings"

	"mvdan.cc/sh/v3/syntax"
)

// Static evaluation: the output of the few commands whose output is known
// without running anything (echo and printf of literal words), passed through
// the decoders attackers use to hide a command (base64 -d, base32 -d,
// xxd -r -p, rev) and cat. It lets `echo cm0gLXJmIC8= | base64 -d | sh` and
// `eval "$(echo ... | base64 -d)"` be classified as what they run.

// staticWord returns the value of a word whose command substitutions are
// statically known.
func (w *walker) staticWord(wd *syntax.Word, src string) (text string, decoded, ok bool) {
	var sb strings.Builder
	if !w.staticParts(&sb, wd.Parts, false, src, &decoded) {
		return "", false, false
	}
	return sb.String(), decoded, true
}

func (w *walker) staticParts(sb *strings.Builder, ps []syntax.WordPart, quoted bool, src string, decoded *bool) bool {
	for _, p := range ps {
		switch p := p.(type) {
		case *syntax.Lit:
			var a arg
			unescape(&a, sb, p.Value, quoted)
		case *syntax.SglQuoted:
			if p.Dollar {
				sb.WriteString(ansiC(p.Value, false))
			} else {
				sb.WriteString(p.Value)
			}
		case *syntax.DblQuoted:
			if !w.staticParts(sb, p.Parts, true, src, decoded) {
				return false
			}
		case *syntax.CmdSubst:
			if len(p.Stmts) != 1 {
				return false
			}
			out, dec, ok := w.staticOut(p.Stmts[0], nil, src)
			if !ok {
				return false
			}
			*decoded = *decoded || dec
			sb.WriteString(strings.TrimRight(out, "\n"))
		default:
			return false
		}
		if sb.Len() > MaxInputBytes {
			return false
		}
	}
	return true
}

// staticOut returns the output of a statement when it is statically known.
func (w *walker) staticOut(s *syntax.Stmt, in *input, src string) (out string, decoded, ok bool) {
	if s == nil || len(s.Redirs) > 0 || s.Negated || s.Background {
		return "", false, false
	}
	switch c := s.Cmd.(type) {
	case *syntax.BinaryCmd:
		if c.Op != syntax.Pipe {
			return "", false, false
		}
		left, d1, ok := w.staticOut(c.X, in, src)
		if !ok {
			return "", false, false
		}
		next := &input{kind: "pipe", text: left, known: true, decoded: d1}
		out, d2, ok := w.staticOut(c.Y, next, src)
		return out, d1 && ok || d2, ok
	case *syntax.CallExpr:
		if len(c.Args) == 0 || len(c.Assigns) > 0 {
			return "", false, false
		}
		argv := make([]string, 0, len(c.Args))
		for _, wd := range c.Args {
			a := literal(wd, src, nil)
			if !a.lit || a.home || a.glob {
				return "", false, false
			}
			argv = append(argv, a.val)
		}
		out, decoded, ok = staticCommand(argv, in)
		if len(out) > MaxInputBytes {
			return "", false, false
		}
		return out, decoded, ok
	}
	return "", false, false
}

// staticCommand evaluates one known command on a known input.
func staticCommand(argv []string, in *input) (out string, decoded, ok bool) {
	name, args := path.Base(argv[0]), argv[1:]
	in = in.get()
	input := func() (string, bool) {
		if in == nil || !in.known {
			return "", false
		}
		return in.text, true
	}
	switch name {
	case "echo":
		newline, escapes := true, false
		for len(args) > 0 && len(args[0]) > 1 && args[0][0] == '-' && strings.Trim(args[0][1:], "neE") == "" {
			newline = newline && !strings.Contains(args[0], "n")
			escapes = strings.Contains(args[0], "e")
			args = args[1:]
		}
		out = strings.Join(args, " ")
		if escapes {
			out = ansiC(out, true)
		}
		if newline {
			out += "\n"
		}
		return out, false, true
	case "printf":
		if len(args) == 0 {
			return "", false, false
		}
		format, rest := args[0], args[1:]
		switch format {
		case "%s":
			return strings.Join(rest, ""), false, true
		case "%s\\n", "%s\n":
			var sb strings.Builder
			for _, r := range rest {
				sb.WriteString(r + "\n")
			}
			return sb.String(), false, true
		case "%b":
			return ansiC(strings.Join(rest, ""), true), false, true
		}
		if len(rest) > 0 || strings.Contains(strings.ReplaceAll(format, "%%", ""), "%") {
			return "", false, false
		}
		return strings.ReplaceAll(ansiC(format, true), "%%", "%"), false, true
	case "cat":
		if len(args) > 0 && !(len(args) == 1 && args[0] == "-") {
			return "", false, false
		}
		text, ok := input()
		return text, in != nil && in.decoded, ok
	case "base64", "base32":
		text, ok := input()
		if !ok || !slices.ContainsFunc(args, func(a string) bool {
			return a == "--decode" || len(a) > 1 && a[0] == '-' && a[1] != '-' && strings.ContainsAny(a[1:], "dD")
		}) {
			return "", false, false
		}
		clean := strings.Map(func(r rune) rune {
			if r == ' ' || r == '\n' || r == '\r' || r == '\t' {
				return -1
			}
			return r
		}, text)
		var b []byte
		var err error
		if name == "base64" {
			b, err = base64.StdEncoding.DecodeString(clean)
			if err != nil {
				b, err = base64.RawStdEncoding.DecodeString(strings.TrimRight(clean, "="))
			}
			if err != nil {
				b, err = base64.URLEncoding.DecodeString(clean)
			}
		} else {
			b, err = base32.StdEncoding.DecodeString(clean)
		}
		if err != nil {
			return "", false, false
		}
		return string(b), true, true
	case "xxd":
		text, ok := input()
		var r, p bool
		for _, a := range args {
			if len(a) > 1 && a[0] == '-' {
				r = r || strings.Contains(a, "r") && !strings.HasPrefix(a, "--")
				p = p || a == "-p" || a == "-ps" || a == "-plain" || a == "-postscript" || strings.Contains(a[1:], "p") && len(a) <= 4
			} else {
				return "", false, false
			}
		}
		if !ok || !r || !p {
			return "", false, false
		}
		clean := strings.Map(func(r rune) rune {
			if isHex(byte(r)) && r < 128 {
				return r
			}
			return -1
		}, text)
		if len(clean)%2 == 1 {
			clean = clean[:len(clean)-1]
		}
		b, err := hex.DecodeString(clean)
		if err != nil {
			return "", false, false
		}
		return string(b), true, true
	case "rev":
		text, ok := input()
		if !ok || len(args) > 0 {
			return "", false, false
		}
		lines := strings.SplitAfter(text, "\n")
		var sb strings.Builder
		for _, l := range lines {
			body := strings.TrimSuffix(l, "\n")
			r := []rune(body)
			slices.Reverse(r)
			sb.WriteString(string(r))
			if len(body) < len(l) {
				sb.WriteByte('\n')
			}
		}
		return sb.String(), true, true
	}
	return "", false, false
}
