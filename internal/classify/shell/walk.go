package shell

import (
	"fmt"
	"path"
	"slices"
	"strings"

	"mvdan.cc/sh/v3/syntax"
)

type walker struct {
	res    *Result
	funcs  map[string]bool // functions defined in the line
	parsed int             // bytes parsed so far, nested text included
	work   int             // commands classified so far, synthesized ones included
}

// Budgets on the total work for one line, so that nesting and fan-out
// (xargs, find -exec) cannot multiply it without bound.
const (
	maxParsedBytes = 16 * MaxInputBytes
	maxWork        = 20000
	maxMentions    = 512 // nodes mentions looks at
)

// scope is the state of one shell: a subshell gets a copy.
type scope struct {
	cwd string // set by a literal cd; "" when unknown
	// vars are variables assigned literal values earlier in the line,
	// unconditionally. A variable assigned anything else, or under a
	// condition, is unknown and absent. Copied on write.
	vars  map[string]string
	owned bool // vars belongs to this scope
}

func (sc *scope) set(name, val string) {
	if !sc.owned {
		m := make(map[string]string, len(sc.vars)+1)
		for k, v := range sc.vars {
			m[k] = v
		}
		sc.vars, sc.owned = m, true
	}
	sc.vars[name] = val
}

// forget makes every variable and the directory unknown: after source, a
// call of a function defined in the line, or eval of unknown text.
func (sc *scope) forget() {
	sc.vars, sc.owned, sc.cwd = nil, false, ""
}

func (sc *scope) unset(name string) {
	if _, ok := sc.vars[name]; !ok {
		return
	}
	sc.set(name, "")
	delete(sc.vars, name)
}

// assign records an assignment made in the current shell.
func (sc *scope) assign(a *syntax.Assign, f frame) {
	if a.Name == nil {
		return
	}
	name := a.Name.Value
	if f.cond || a.Index != nil || a.Array != nil || a.Append {
		sc.unset(name)
		return
	}
	if a.Value == nil {
		sc.set(name, "")
		return
	}
	if v := literal(a.Value, f.src, sc.vars); v.lit && !v.glob {
		sc.set(name, v.val)
	} else {
		sc.unset(name)
	}
}

// frame is the context a node is walked in.
type frame struct {
	src      string // the text the current AST was parsed from
	nested   string
	wrappers []string
	depth    int // how many times text was parsed again
	sc       *scope
	stdin    *input // what the current command reads; nil when unknown
	inFunc   bool   // inside a function body already scanned for fork bombs
	cond     bool   // may not run: right of && or ||, inside if, loops, case, functions
}

// sub returns the frame of a nested shell environment.
func (f frame) sub(nested string) frame {
	f.nested = nested
	sc := *f.sc
	sc.owned = false
	f.sc = &sc
	return f
}

func appendClip(s []string, v ...string) []string {
	return append(slices.Clip(s), v...)
}

// input is the standard input of a command.
type input struct {
	kind     string // "pipe", "heredoc", "procsubst"
	text     string
	known    bool // text is statically known
	decoded  bool // text went through a decoder
	download bool // an upstream command downloads
	decoder  bool // an upstream command decodes

	// For a pipe, the fields above are computed on first use from the
	// stage that writes it and that stage's own input.
	w     *walker
	stage *syntax.Stmt
	prev  *input
	src   string
	done  bool
}

// get resolves a lazily computed pipe input.
func (in *input) get() *input {
	if in == nil || in.done || in.stage == nil {
		return in
	}
	in.done = true
	prev := in.prev.get()
	if prev != nil {
		in.download, in.decoder = prev.download, prev.decoder
	}
	in.text, in.decoded, in.known = in.w.staticOut(in.stage, prev, in.src)
	in.download = in.download || mentions(in.stage, downloaders, in.src)
	in.decoder = in.decoder || mentions(in.stage, decoders, in.src)
	return in
}

// text parses src and walks it. what names the text in error messages.
func (w *walker) text(src string, f frame, what string, zsh bool) {
	if f.depth > MaxDepth {
		w.res.unparseable(fmt.Sprintf("%s: text nested more than %d levels deep", what, MaxDepth))
		return
	}
	w.parsed += len(src)
	if w.parsed > maxParsedBytes {
		w.res.unparseable(fmt.Sprintf("%s: line expands to more than %d bytes of shell text", what, maxParsedBytes))
		return
	}
	pool := &parsers
	if zsh {
		pool = &zshParsers
	}
	p := pool.Get().(*syntax.Parser)
	file, err := p.Parse(strings.NewReader(src), "")
	pool.Put(p)
	if err != nil {
		msg := err.Error()
		if what != "" {
			msg = what + ": " + msg
		}
		w.res.unparseable(msg)
		return
	}
	f.src = src
	w.stmts(file.Stmts, f)
}

// nestedText parses text found inside the line (sh -c, eval, ...).
func (w *walker) nestedText(src string, f frame, nested, what string, wrappers []string, zsh bool) {
	g := frame{src: src, nested: nested, wrappers: wrappers, depth: f.depth + 1, sc: &scope{cwd: f.sc.cwd}}
	if what == "eval" || what == "alias" || what == "trap" {
		// Run by the current shell: same variables and directory.
		g.sc, g.cond = f.sc, f.cond || what != "eval"
	}
	w.text(src, g, what, zsh)
}

func (w *walker) stmts(list []*syntax.Stmt, f frame) {
	for _, s := range list {
		w.stmt(s, f)
	}
}

func (w *walker) add(c Command) {
	w.res.Commands = append(w.res.Commands, c)
}

func (w *walker) stmt(s *syntax.Stmt, f frame) {
	redirs := w.redirects(s.Redirs, f)
	switch c := s.Cmd.(type) {
	case nil:
		if len(redirs) > 0 {
			w.add(Command{Redirects: redirs, Nested: f.nested, Wrappers: f.wrappers, Dir: f.sc.cwd})
		}
	case *syntax.CallExpr:
		w.call(c, s, redirs, f)
	case *syntax.BinaryCmd:
		if c.Op == syntax.Pipe || c.Op == syntax.PipeAll {
			w.pipeline(s, f)
		} else {
			w.stmt(c.X, f)
			g := f
			g.cond = true
			w.stmt(c.Y, g)
		}
	case *syntax.Subshell:
		w.stmts(c.Stmts, f.sub(NestedSubshell))
	case *syntax.Block:
		w.stmts(c.Stmts, f)
	case *syntax.FuncDecl:
		w.funcDecl(c, f)
	case *syntax.TimeClause:
		if c.Stmt != nil {
			g := f
			g.wrappers = appendClip(f.wrappers, "time")
			w.stmt(c.Stmt, g)
		}
	default:
		// if, while, for, case, [[ ]], (( )), declare, let, coproc: walk
		// every statement and every substitution inside.
		switch c := c.(type) {
		case *syntax.DeclClause:
			for _, a := range c.Args {
				w.scan(a, f)
				if c.Variant != nil && c.Variant.Value != "local" {
					f.sc.assign(a, f)
				}
			}
			return
		case *syntax.ForClause:
			if wi, ok := c.Loop.(*syntax.WordIter); ok && wi.Name != nil {
				f.sc.unset(wi.Name.Value)
			}
		}
		f.cond = true
		syntax.Walk(c, func(n syntax.Node) bool {
			switch n := n.(type) {
			case *syntax.Stmt:
				w.stmt(n, f)
				return false
			case *syntax.CmdSubst:
				w.stmts(n.Stmts, f.sub(NestedCmdSubst))
				return false
			case *syntax.ProcSubst:
				w.stmts(n.Stmts, f.sub(NestedProcSubst))
				return false
			}
			return true
		})
	}
}

// scan walks the command and process substitutions inside a node.
func (w *walker) scan(n syntax.Node, f frame) {
	if wd, ok := n.(*syntax.Word); ok && plainWord(wd) {
		return
	}
	syntax.Walk(n, func(n syntax.Node) bool {
		switch n := n.(type) {
		case *syntax.CmdSubst:
			g := f.sub(NestedCmdSubst)
			g.stdin = nil
			w.stmts(n.Stmts, g)
			return false
		case *syntax.ProcSubst:
			g := f.sub(NestedProcSubst)
			g.stdin = nil
			if n.Op == syntax.CmdOut {
				// >(cmd) reads what the enclosing command writes.
				g.stdin = &input{kind: "pipe"}
			}
			w.stmts(n.Stmts, g)
			return false
		}
		return true
	})
}

// plainWord reports whether a word has no part that can hold a substitution.
func plainWord(wd *syntax.Word) bool {
	for _, p := range wd.Parts {
		switch p.(type) {
		case *syntax.Lit, *syntax.SglQuoted:
		default:
			return false
		}
	}
	return true
}

// harmlessDevs are redirection targets that are not files.
var harmlessDevs = map[string]bool{"/dev/null": true, "/dev/stdout": true, "/dev/stderr": true, "/dev/tty": true, "/dev/zero": true}

func (w *walker) redirects(rs []*syntax.Redirect, f frame) []Redirect {
	if len(rs) == 0 {
		return nil
	}
	out := make([]Redirect, 0, len(rs))
	for _, r := range rs {
		if r.Word != nil {
			w.scan(r.Word, f)
		}
		if r.Hdoc != nil {
			w.scan(r.Hdoc, f)
		}
		rd := Redirect{Op: r.Op.String()}
		if r.N != nil {
			rd.Fd = r.N.Value
		}
		var a arg
		if r.Word != nil {
			a = literal(r.Word, f.src, f.sc.vars)
		}
		switch r.Op {
		case syntax.RdrOut, syntax.RdrClob, syntax.RdrAll, syntax.RdrAllClob,
			syntax.AppOut, syntax.AppClob, syntax.AppAll, syntax.AppAllClob, syntax.RdrIn, syntax.RdrInOut:
			if a.lit {
				rd.Target = cleanTarget(a.val, f.sc.cwd)
			}
		default:
			if a.lit {
				rd.Target = a.val
			}
		}
		switch r.Op {
		case syntax.RdrOut, syntax.RdrClob, syntax.RdrAll, syntax.RdrAllClob:
			if !a.lit {
				rd.TruncatesFile = true
			} else if !harmlessDevs[rd.Target] && !strings.HasPrefix(rd.Target, "/dev/fd/") {
				rd.TruncatesFile = true
				w.res.TruncatedFiles = append(w.res.TruncatedFiles, rd.Target)
			}
		}
		out = append(out, rd)
	}
	return out
}

func (w *walker) call(c *syntax.CallExpr, s *syntax.Stmt, redirs []Redirect, f frame) {
	for _, a := range c.Assigns {
		w.scan(a, f)
		if len(c.Args) == 0 && !s.Background {
			f.sc.assign(a, f)
		}
	}
	if len(c.Args) == 0 {
		if len(redirs) > 0 {
			w.add(Command{Redirects: redirs, Nested: f.nested, Wrappers: f.wrappers, Dir: f.sc.cwd})
		}
		return
	}
	for _, a := range c.Args {
		w.scan(a, f)
	}
	argv := words(c.Args, f.src, f.sc.vars)
	stdin := f.stdin
	for _, r := range s.Redirs {
		switch r.Op {
		case syntax.Hdoc, syntax.DashHdoc, syntax.WordHdoc:
			wd := r.Hdoc
			if r.Op == syntax.WordHdoc {
				wd = r.Word
			}
			in := &input{kind: "heredoc"}
			if wd == nil {
				in.known = true
			} else if text, decoded, ok := w.staticWord(wd, f.src); ok {
				in.text, in.known, in.decoded = text, true, decoded
				if r.Op == syntax.WordHdoc {
					in.text += "\n"
				}
			}
			stdin = in
		case syntax.RdrIn:
			if r.Word != nil && len(r.Word.Parts) == 1 {
				if ps, ok := r.Word.Parts[0].(*syntax.ProcSubst); ok {
					stdin = &input{kind: "procsubst", download: mentions(ps, downloaders, f.src), decoder: mentions(ps, decoders, f.src)}
					continue
				}
			}
			stdin = nil
		}
	}
	w.exec(argv, redirs, stdin, f)
}

// pipeline walks the stages of a | b | c, each in its own subshell, feeding
// each stage what is known of the output of the one before.
func (w *walker) pipeline(s *syntax.Stmt, f frame) {
	var stages []*syntax.Stmt
	var flatten func(s *syntax.Stmt)
	flatten = func(s *syntax.Stmt) {
		if b, ok := s.Cmd.(*syntax.BinaryCmd); ok && (b.Op == syntax.Pipe || b.Op == syntax.PipeAll) &&
			len(s.Redirs) == 0 && !s.Negated && !s.Background {
			flatten(b.X)
			flatten(b.Y)
			return
		}
		stages = append(stages, s)
	}
	b := s.Cmd.(*syntax.BinaryCmd)
	flatten(b.X)
	flatten(b.Y)
	in := f.stdin
	for i, st := range stages {
		g := f.sub(NestedPipeline)
		g.stdin = in
		w.stmt(st, g)
		if i == len(stages)-1 {
			break
		}
		in = &input{kind: "pipe", w: w, stage: st, prev: in, src: f.src}
	}
}

// funcDecl detects fork bombs and walks the body.
func (w *walker) funcDecl(fd *syntax.FuncDecl, f frame) {
	if w.funcs == nil {
		w.funcs = map[string]bool{}
	}
	if fd.Name != nil {
		w.funcs[fd.Name.Value] = true
	}
	for _, n := range fd.Names {
		w.funcs[n.Value] = true
	}
	if !f.inFunc && forkBomb(fd, f.src) {
		w.res.ForkBomb = true
	}
	if fd.Body != nil {
		g := f.sub(NestedFunction)
		g.inFunc, g.cond = true, true
		w.stmt(fd.Body, g)
	}
}

// forkBomb reports whether fd, or a function defined inside it, calls itself
// at least twice with a call in a pipeline or in the background. It walks fd
// once, whatever the nesting of function definitions.
func forkBomb(fd *syntax.FuncDecl, src string) bool {
	type fn struct {
		name   string
		calls  int
		hot    bool
		depth0 int
	}
	const (
		kHot  = 1
		kFunc = 2
	)
	var fns []fn
	var stack []byte
	depth, found := 0, false
	syntax.Walk(fd, func(n syntax.Node) bool {
		if n == nil {
			k := stack[len(stack)-1]
			stack = stack[:len(stack)-1]
			if k&kHot != 0 {
				depth--
			}
			if k&kFunc != 0 {
				top := fns[len(fns)-1]
				found = found || top.calls >= 2 && top.hot
				fns = fns[:len(fns)-1]
			}
			return true
		}
		var k byte
		switch n := n.(type) {
		case *syntax.FuncDecl:
			name := ""
			if n.Name != nil {
				name = n.Name.Value
			} else if len(n.Names) > 0 {
				name = n.Names[0].Value
			}
			fns = append(fns, fn{name: name, depth0: depth})
			k |= kFunc
		case *syntax.BinaryCmd:
			if n.Op == syntax.Pipe || n.Op == syntax.PipeAll {
				k |= kHot
			}
		case *syntax.Stmt:
			if n.Background || n.Coprocess || n.Disown {
				k |= kHot
			}
		case *syntax.CallExpr:
			if len(n.Args) > 0 {
				if a := literal(n.Args[0], src, nil); a.lit {
					for i := len(fns) - 1; i >= 0; i-- {
						if fns[i].name == a.val {
							fns[i].calls++
							if depth > fns[i].depth0 {
								fns[i].hot = true
							}
							break
						}
					}
				}
			}
		}
		if k&kHot != 0 {
			depth++
		}
		stack = append(stack, k)
		return true
	})
	return found
}

// Commands whose input or output says something about what is piped on.
var (
	downloaders = set("curl wget fetch aria2c axel http https xh lwp-request lwp-download GET nc ncat netcat socat tftp ftp")
	decoders    = set("base64 base32 basenc xxd openssl gpg uudecode gunzip gzip zcat bzip2 bunzip2 bzcat xz unxz xzcat zstd unzstd rev tr od hexdump")
	shellNames  = set(strings.Join(shells, " "))
	interpreter = set("python python2 python3 perl ruby node nodejs php lua")
	// destructive commands: a non-literal argument to one of them makes the
	// line Dynamic.
	destructive = set("rm rmdir unlink shred wipefs dd mke2fs mkswap fdisk sfdisk parted sgdisk " +
		"chmod chown chgrp chattr kill pkill killall systemctl service iptables ip6tables nft ufw " +
		"shutdown reboot halt poweroff init telinit truncate mv cp find userdel usermod passwd " +
		"crontab mount umount swapoff source . sudo")
	wrapperNames = set("sudo doas env nice nohup timeout xargs time command exec busybox stdbuf ionice chroot watch setsid pkexec")
)

var shells = []string{"sh", "bash", "zsh", "dash", "ksh", "mksh", "ash", "yash", "rbash"}

func set(s string) map[string]bool {
	m := map[string]bool{}
	for _, f := range strings.Fields(s) {
		m[f] = true
	}
	return m
}

func isDestructive(name string) bool {
	return destructive[name] || strings.HasPrefix(name, "mkfs") || shellNames[name] || isInterpreter(name)
}

func isInterpreter(name string) bool {
	return interpreter[name] || strings.HasPrefix(name, "python")
}

// mentions reports whether a node runs one of the commands in set, directly
// or behind a wrapper.
func mentions(n syntax.Node, names map[string]bool, src string) bool {
	found, budget := false, maxMentions
	syntax.Walk(n, func(n syntax.Node) bool {
		budget--
		if found || budget < 0 {
			return false
		}
		c, ok := n.(*syntax.CallExpr)
		if !ok {
			return true
		}
		for _, wd := range c.Args {
			a := literal(wd, src, nil)
			if !a.lit {
				break
			}
			base := path.Base(a.val)
			if names[base] {
				found = true
				return false
			}
			if !wrapperNames[base] && !strings.HasPrefix(a.val, "-") && !strings.Contains(a.val, "=") {
				break
			}
		}
		return true
	})
	return found
}
