package shell

import (
	"fmt"
	"path"
	"slices"
	"strings"
)

func vals(args []arg) []string {
	out := make([]string, len(args))
	for i, a := range args {
		out[i] = a.val
	}
	return out
}

// joinLit joins literal words with spaces; ok is false when one is not
// literal.
func joinLit(args []arg) (string, bool) {
	if len(args) == 1 {
		return args[0].val, args[0].lit
	}
	var sb strings.Builder
	for i, a := range args {
		if !a.lit {
			return "", false
		}
		if i > 0 {
			sb.WriteByte(' ')
		}
		sb.WriteString(a.val)
	}
	return sb.String(), true
}

// skipAssigns skips NAME=value words (env, sudo).
func skipAssigns(args []arg) []arg {
	for len(args) > 0 && args[0].lit && isAssign(args[0].val) {
		args = args[1:]
	}
	return args
}

func isAssign(s string) bool {
	name, _, ok := strings.Cut(s, "=")
	if !ok || name == "" {
		return false
	}
	for i, r := range name {
		if !(r == '_' || r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || i > 0 && r >= '0' && r <= '9') {
			return false
		}
	}
	return true
}

// exec classifies one argv: it unwraps wrappers, records the command, and
// follows whatever the command runs in turn.
func (w *walker) exec(argv []arg, redirs []Redirect, stdin *input, f frame) {
	w.work++
	if w.work > maxWork {
		w.res.unparseable(fmt.Sprintf("line too complex: more than %d commands", maxWork))
		return
	}
	wrappers := f.wrappers
	nested := f.nested
unwrap:
	for len(argv) > 1 && argv[0].lit && !argv[0].glob {
		name := path.Base(argv[0].val)
		if !wrapperNames[name] && name != "su" && name != "runuser" && name != "ssh" {
			break
		}
		args := argv[1:]
		var rest []arg
		switch name {
		case "sudo", "env":
			p := parseFlags(tableFor(name), args, true)
			if s, ok := p.opt("split-string"); ok && name == "env" {
				// env -S 'cmd args': split like a shell would.
				w.recordAndText(name, argv, redirs, f, wrappers, nested, s, true, NestedShellC, "env -S")
				return
			}
			if name == "sudo" && p.has("list", "l", "v", "validate", "k", "K", "e", "edit") {
				break unwrap
			}
			rest = skipAssigns(args[p.next:])
		case "doas", "nice", "time", "exec", "stdbuf", "setsid", "pkexec":
			p := parseFlags(tableFor(name), args, true)
			rest = args[p.next:]
		case "nohup":
			rest = args
		case "command":
			p := parseFlags(tableFor(name), args, true)
			if p.has("v", "V") {
				break unwrap // a lookup, not a run
			}
			rest = args[p.next:]
		case "timeout", "chroot":
			p := parseFlags(tableFor(name), args, true)
			if p.next < len(args) {
				rest = args[p.next+1:] // skip DURATION / NEWROOT
			}
		case "ionice":
			p := parseFlags(tableFor(name), args, true)
			if p.has("pid", "pgid", "uid") {
				break unwrap
			}
			rest = args[p.next:]
		case "busybox":
			if !strings.HasPrefix(args[0].val, "-") {
				rest = args
			}
		case "watch":
			p := parseFlags(tableFor(name), args, true)
			if p.has("exec") {
				rest = args[p.next:]
				break
			}
			if len(args[p.next:]) == 0 {
				break unwrap
			}
			// watch runs its arguments with sh -c.
			text, ok := joinLit(args[p.next:])
			w.recordAndText(name, argv, redirs, f, wrappers, nested, text, ok, NestedShellC, "watch")
			return
		case "su", "runuser":
			p := parseFlags(tableFor(name), args, false)
			text, ok := p.opt("command")
			if !ok {
				text, ok = p.opt("session-command")
			}
			if ok {
				w.recordAndText(name, argv, redirs, f, wrappers, nested, text, true, NestedShellC, name+" -c")
				return
			}
			if name == "runuser" {
				p = parseFlags(tableFor(name), args, true)
				rest = args[p.next:]
				break
			}
			break unwrap
		case "ssh":
			p := parseFlags(tableFor(name), args, true)
			if len(args) <= p.next+1 {
				break unwrap // interactive login
			}
			text, ok := joinLit(args[p.next+1:])
			w.recordAndText(name, argv, redirs, f, wrappers, nested, text, ok, NestedSSH, "ssh")
			return
		case "xargs":
			w.xargs(argv, redirs, stdin, f, wrappers)
			return
		}
		if len(rest) == 0 {
			break
		}
		wrappers = appendClip(wrappers, name)
		argv = rest
	}
	if len(argv) == 0 {
		return
	}
	w.command(argv, redirs, stdin, f, wrappers, nested)
}

// recordAndText records a command that runs shell text, then walks the text.
func (w *walker) recordAndText(name string, argv []arg, redirs []Redirect, f frame, wrappers []string, nested, text string, ok bool, kind, what string) {
	c := w.newCommand(argv, redirs, f, wrappers, nested)
	p := parseFlags(tableFor(name), argv[1:], false)
	c.Flags, c.Options = p.flags, p.opts
	w.add(c)
	inner := appendClip(wrappers, name)
	if !ok {
		w.res.dynamic(fmt.Sprintf("%s runs text that cannot be resolved statically", what))
		return
	}
	w.nestedText(text, f, kind, what, inner, false)
}

func (w *walker) newCommand(argv []arg, redirs []Redirect, f frame, wrappers []string, nested string) Command {
	c := Command{Path: argv[0].raw, Wrappers: wrappers, Nested: nested, Redirects: redirs, Dir: f.sc.cwd}
	if c.Path == "" {
		c.Path = argv[0].val
	}
	a0 := argv[0]
	switch {
	case a0.lit && !a0.glob:
		if a0.val != "" {
			c.Name = path.Base(a0.val)
		}
	case a0.subst:
		c.Dynamic = true
		w.res.dynamic("command substitution used as command name: " + a0.raw)
	case a0.glob:
		c.Dynamic = true
		w.res.dynamic("glob used as command name: " + a0.raw)
	default:
		c.Dynamic = true
		w.res.dynamic("variable used as command name: " + a0.raw)
	}
	c.Args = vals(argv[1:])
	for _, a := range argv[1:] {
		if !a.lit {
			c.Dynamic = true
		}
	}
	return c
}

// xargs runs its command with arguments read from stdin.
func (w *walker) xargs(argv []arg, redirs []Redirect, stdin *input, f frame, wrappers []string) {
	p := parseFlags(tableFor("xargs"), argv[1:], true)
	inner := argv[1+p.next:]
	g := f
	g.wrappers = appendClip(wrappers, "xargs")
	g.nested = NestedXargs
	g.stdin = nil
	if len(inner) == 0 {
		inner = []arg{{val: "echo", raw: "echo", lit: true}}
	}
	stdin = stdin.get()
	if stdin == nil || !stdin.known {
		// The arguments come from input nobody can see statically.
		unknown := arg{raw: "<xargs input>"}
		w.exec(append(inner[:len(inner):len(inner)], unknown), redirs, nil, g)
		return
	}
	repl, hasRepl := p.opt("I")
	if !hasRepl && p.has("replace") {
		repl, hasRepl = "{}", true
		if v, ok := p.opt("replace"); ok {
			repl = v
		}
	}
	var items []string
	switch {
	case hasRepl:
		for _, l := range strings.Split(stdin.text, "\n") {
			if l = strings.TrimLeft(l, " \t"); l != "" {
				items = append(items, l)
			}
		}
	case p.has("null"):
		items = strings.FieldsFunc(stdin.text, func(r rune) bool { return r == 0 })
	default:
		if d, ok := p.opt("delimiter"); ok && ansiC(d, false) != "" {
			d = ansiC(d, false)
			items = strings.Split(strings.TrimSuffix(stdin.text, "\n"), d[:1])
		} else {
			items = strings.Fields(stdin.text)
		}
	}
	if len(items) > maxFanout*16 {
		items = items[:maxFanout*16]
	}
	if !hasRepl {
		full := inner[:len(inner):len(inner)]
		for _, it := range items {
			full = append(full, arg{val: it, raw: it, lit: true})
		}
		w.exec(full, redirs, nil, g)
		return
	}
	for i, it := range items {
		if i == maxFanout {
			break
		}
		sub := make([]arg, len(inner))
		for j, a := range inner {
			sub[j] = a
			if a.lit && repl != "" {
				sub[j].val = strings.ReplaceAll(a.val, repl, it)
			}
		}
		w.exec(sub, redirs, nil, g)
	}
}

// command records one unwrapped command and follows what it runs.
func (w *walker) command(argv []arg, redirs []Redirect, stdin *input, f frame, wrappers []string, nested string) {
	c := w.newCommand(argv, redirs, f, wrappers, nested)
	args := argv[1:]
	name := c.Name
	t := tableFor(name)
	var execs [][]arg // find -exec commands
	var shellText *arg
	var operands []arg

	switch {
	case name == "chmod":
		// A mode that looks like a flag (-w, -x) is the mode.
		mode := -1
		for i, a := range args {
			if a.lit && isDashMode(a.val) {
				mode = i
				break
			}
			if !a.lit || !strings.HasPrefix(a.val, "-") {
				break
			}
		}
		rest := args
		if mode >= 0 {
			rest = append(append([]arg{}, args[:mode]...), args[mode+1:]...)
		}
		p := parseFlags(t, rest, false)
		c.Flags, c.Options, operands = p.flags, p.opts, p.operands
		_, ref := p.opt("reference")
		switch {
		case mode >= 0:
			setOpt(&c, "mode", args[mode].val)
		case !ref && len(operands) > 0:
			setOpt(&c, "mode", operands[0].val)
			operands = operands[1:]
		}
	case name == "chown" || name == "chgrp":
		p := parseFlags(t, args, false)
		c.Flags, c.Options, operands = p.flags, p.opts, p.operands
		if _, ref := p.opt("reference"); !ref && len(operands) > 0 {
			setOpt(&c, map[bool]string{true: "owner", false: "group"}[name == "chown"], operands[0].val)
			operands = operands[1:]
		}
	case name == "dd":
		for _, a := range args {
			if k, v, ok := strings.Cut(a.val, "="); ok && a.lit {
				setOpt(&c, k, v)
			}
		}
		if of, ok := c.Options["of"]; ok {
			t := cleanTarget(of, f.sc.cwd)
			c.Targets = []string{t}
			if !harmlessDevs[t] {
				w.res.TruncatedFiles = append(w.res.TruncatedFiles, t)
			}
		}
	case name == "find":
		c.Flags, c.Targets, execs = w.find(args, &c, f)
	default:
		if name == "tar" && len(args) > 0 && args[0].lit && isLetters(args[0].val) {
			// Old-style bundled options: tar czf FILE ...
			args = append([]arg{args[0]}, args[1:]...)
			args[0].val = "-" + args[0].val
		}
		p := parseFlags(t, args, false)
		c.Flags, c.Options, operands = p.flags, p.opts, p.operands
	}

	switch {
	case subcommandCmds[name]:
		if len(operands) > 0 {
			c.Subcommand = operands[0].val
			operands = operands[1:]
		}
	case name == "service":
		if len(operands) > 1 {
			c.Subcommand = operands[1].val
			operands = append(operands[:1:1], operands[2:]...)
		}
	case name == "grep" || name == "egrep" || name == "fgrep" || name == "zgrep" || name == "rg" ||
		name == "sed" || name == "awk" || name == "gawk" || name == "mawk":
		_, e := c.Options["regexp"]
		_, ff := c.Options["file"]
		_, ex := c.Options["expression"]
		if !e && !ff && !ex && len(operands) > 0 {
			operands = operands[1:] // the pattern or script
		}
	case name == "echo" || name == "printf" || name == "test" || name == "[" || name == ":" ||
		name == "true" || name == "false" || name == "alias" || name == "trap" || name == "eval":
		operands = nil
	case shellNames[name]:
		if c.hasFlag("c") && len(operands) > 0 {
			shellText = &operands[0]
			operands = operands[1:]
		} else if len(operands) == 0 || c.hasFlag("s") || operands[0].val == "-" || operands[0].val == "/dev/stdin" {
			c.readsStdin = true
		}
	case isInterpreter(name):
		code := false
		for _, k := range []string{"c", "e", "E", "m", "r", "eval", "print"} {
			if _, ok := c.Options[k]; ok {
				code = true
				if k != "m" {
					// python -c 'shutil.rmtree("/")': code in a language
					// this classifier does not read (python -m runs a
					// named module, not inline code).
					w.res.dynamic(fmt.Sprintf("%s runs inline code (-%s) that is not shell and is not checked", name, k))
				}
			}
		}
		if !code && (len(operands) == 0 || operands[0].val == "-" || operands[0].val == "/dev/stdin") {
			c.readsStdin = true
		}
	}

	for _, o := range operands {
		if !o.lit {
			continue
		}
		if name == "kill" || name == "pkill" || name == "killall" {
			c.Targets = append(c.Targets, o.val)
			continue
		}
		c.Targets = append(c.Targets, cleanTarget(o.val, f.sc.cwd))
	}

	switch name {
	case "rm":
		if c.hasFlag("recursive") {
			w.res.RecursiveDeletes = append(w.res.RecursiveDeletes, c.Targets...)
		}
	case "tee":
		if !c.hasFlag("append") {
			w.res.TruncatedFiles = append(w.res.TruncatedFiles, c.Targets...)
		}
	case "truncate":
		w.res.TruncatedFiles = append(w.res.TruncatedFiles, c.Targets...)
	case "cd", "pushd":
		switch {
		case f.cond:
			f.sc.cwd = ""
		case len(args) == 0:
			f.sc.cwd = "~"
		case len(operands) == 1 && operands[0].lit && operands[0].val != "-":
			if d := cleanTarget(operands[0].val, f.sc.cwd); isAbsish(d) {
				f.sc.cwd = d
			} else {
				f.sc.cwd = ""
			}
		default:
			f.sc.cwd = ""
		}
	case "popd":
		f.sc.cwd = ""
	case "read", "unset", "mapfile", "readarray", "getopts":
		for _, o := range operands {
			f.sc.unset(o.val)
		}
	case "printf":
		if v, ok := c.Options["v"]; ok {
			f.sc.unset(v)
		}
	case "source", ".":
		f.sc.forget()
	}
	if w.funcs[name] {
		f.sc.forget()
	}

	if c.Dynamic && name != "" && isDestructive(name) && shellText == nil {
		for _, a := range args {
			if !a.lit {
				w.res.dynamic(fmt.Sprintf("%s has an argument that cannot be resolved statically: %s", name, a.raw))
				break
			}
		}
	}
	for _, a := range args {
		if a.proc && (shellNames[name] || name == "source" || name == ".") {
			w.res.dynamic(fmt.Sprintf("process substitution run by %s: %s", name, a.raw))
			if a.word != nil && mentions(a.word, downloaders, f.src) {
				w.res.dynamic(fmt.Sprintf("download run by %s", name))
			}
		}
	}
	readsStdin := c.readsStdin
	inner := appendClip(c.Wrappers, name)
	w.add(c)

	// Follow what the command runs.
	switch {
	case shellText != nil:
		w.shellString(*shellText, f, c.Wrappers, name, NestedShellC, name+" -c")
	case name == "eval":
		w.evalArgs(args, f, c.Wrappers)
	case name == "alias":
		for _, a := range args {
			if _, v, ok := strings.Cut(a.val, "="); ok && a.lit {
				w.nestedText(v, f, NestedEval, "alias", c.Wrappers, false)
			} else if !a.lit {
				w.res.dynamic("alias of text that cannot be resolved statically: " + a.raw)
			}
		}
	case name == "trap":
		p := parseFlags(generic, args, false)
		if len(p.operands) > 1 {
			if a := p.operands[0]; a.lit {
				w.nestedText(a.val, f, NestedEval, "trap", c.Wrappers, false)
			} else {
				w.res.dynamic("trap of text that cannot be resolved statically: " + a.raw)
			}
		}
	}
	for _, ex := range execs {
		g := f
		g.wrappers = inner
		g.nested = NestedFindExec
		g.stdin = nil
		starts := c.Targets
		if len(starts) == 0 {
			starts = []string{"."}
		}
		for i, s := range starts {
			if i == maxFanout {
				break
			}
			sub := make([]arg, len(ex))
			for j, a := range ex {
				sub[j] = a
				if a.lit {
					sub[j].val = strings.ReplaceAll(a.val, "{}", s)
				}
			}
			w.exec(sub, nil, nil, g)
		}
	}
	if readsStdin && stdin != nil {
		w.shellStdin(name, stdin, f, c.Wrappers)
	}
}

func setOpt(c *Command, k, v string) {
	if c.Options == nil {
		c.Options = map[string]string{}
	}
	c.Options[k] = v
}

func (c *Command) hasFlag(f string) bool {
	for _, x := range c.Flags {
		if x == f {
			return true
		}
	}
	return false
}

// subcommandCmds take a verb as their first operand.
var subcommandCmds = set("systemctl nft git docker podman kubectl helm apt apt-get yum dnf zypper apk pacman " +
	"ip npm pip pip3 snap brew launchctl firewall-cmd ufw crictl nerdctl terraform aws gcloud az sv rc-service")

// isDashMode reports whether s is a chmod mode written like a flag (-w, -x,
// -rwx, -o+w).
func isDashMode(s string) bool {
	if len(s) < 2 || s[0] != '-' {
		return false
	}
	for _, r := range s[1:] {
		if !strings.ContainsRune("rwxXstugoa+-=,01234567", r) {
			return false
		}
	}
	return true
}

// find parses find's arguments: starting points, primaries (flags) and the
// commands of -exec, -execdir, -ok and -okdir.
func (w *walker) find(args []arg, c *Command, f frame) (flags, targets []string, execs [][]arg) {
	i := 0
	for i < len(args) && args[i].lit && (args[i].val == "-H" || args[i].val == "-L" || args[i].val == "-P") {
		flags = append(flags, args[i].val[1:])
		i++
	}
	for ; i < len(args); i++ {
		a := args[i]
		if a.lit && (strings.HasPrefix(a.val, "-") && len(a.val) > 1 || a.val == "(" || a.val == "!") {
			break
		}
		if a.lit {
			targets = append(targets, cleanTarget(a.val, f.sc.cwd))
		}
	}
	if len(targets) == 0 {
		targets = []string{cleanTarget(".", f.sc.cwd)}
	}
	for ; i < len(args); i++ {
		a := args[i]
		if !a.lit || !strings.HasPrefix(a.val, "-") || len(a.val) < 2 {
			continue
		}
		p := strings.TrimLeft(a.val, "-")
		flags = append(flags, p)
		switch p {
		case "exec", "execdir", "ok", "okdir":
			j := i + 1
			for j < len(args) && !(args[j].lit && (args[j].val == ";" || args[j].val == "+")) {
				j++
			}
			if j > i+1 {
				execs = append(execs, args[i+1:j])
			}
			i = j
		case "delete":
			w.res.RecursiveDeletes = append(w.res.RecursiveDeletes, targets...)
		}
	}
	return sortedSet(flags), targets, execs
}

func sortedSet(s []string) []string {
	slices.Sort(s)
	return slices.Compact(s)
}

// shellString follows the text given to sh -c.
func (w *walker) shellString(a arg, f frame, wrappers []string, name, nested, what string) {
	if a.lit {
		w.nestedText(a.val, f, nested, what, wrappers, name == "zsh")
		return
	}
	if a.word != nil {
		if text, decoded, ok := w.staticWord(a.word, f.src); ok {
			if decoded {
				w.res.dynamic(what + " of decoded text")
			}
			w.nestedText(text, f, nested, what, wrappers, name == "zsh")
			return
		}
	}
	w.res.dynamic(fmt.Sprintf("%s of text that cannot be resolved statically: %s", what, a.raw))
	if a.word != nil && mentions(a.word, downloaders, f.src) {
		w.res.dynamic(what + " of downloaded text")
	}
}

// evalArgs follows the text given to eval.
func (w *walker) evalArgs(args []arg, f frame, wrappers []string) {
	if len(args) == 0 {
		return
	}
	var sb strings.Builder
	decoded := false
	for i, a := range args {
		if i > 0 {
			sb.WriteByte(' ')
		}
		if a.lit {
			sb.WriteString(a.val)
			continue
		}
		if a.word != nil {
			if text, dec, ok := w.staticWord(a.word, f.src); ok {
				decoded = decoded || dec
				sb.WriteString(text)
				continue
			}
		}
		f.sc.forget()
		w.res.dynamic("eval of text that cannot be resolved statically: " + a.raw)
		if a.word != nil && mentions(a.word, downloaders, f.src) {
			w.res.dynamic("eval of downloaded text")
		}
		return
	}
	if decoded {
		w.res.dynamic("eval of decoded text")
	}
	w.nestedText(sb.String(), f, NestedEval, "eval", wrappers, false)
}

// shellStdin follows the program a shell or interpreter reads from stdin.
func (w *walker) shellStdin(name string, in *input, f frame, wrappers []string) {
	in = in.get()
	if in.kind == "pipe" {
		w.res.PipedIntoShell = true
	}
	if in.known {
		if in.decoded {
			w.res.dynamic(fmt.Sprintf("decoded text piped into %s", name))
		}
		if shellNames[name] {
			w.nestedText(in.text, f, NestedStdin, name+" stdin", wrappers, name == "zsh")
		}
		return
	}
	switch {
	case in.download:
		w.res.dynamic(fmt.Sprintf("download piped into %s", name))
	case in.decoder:
		w.res.dynamic(fmt.Sprintf("decoded text piped into %s", name))
	case in.kind == "heredoc":
		w.res.dynamic(fmt.Sprintf("here-document that cannot be resolved statically fed to %s", name))
	default:
		w.res.dynamic(fmt.Sprintf("text that cannot be resolved statically piped into %s", name))
	}
}

func isLetters(s string) bool {
	if s == "" {
		return false
	}
	for _, r := range s {
		if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z') {
			return false
		}
	}
	return true
}
