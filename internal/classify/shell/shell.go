// Package shell classifies one shell command line, as a person would type it,
// into plain data the policy engine can decide on (CEL over the JSON form of
// [Result], bound as `shell`).
//
// The line is parsed with a real shell parser (mvdan.cc/sh/v3/syntax, bash
// dialect); nothing here matches regular expressions or word lists against raw
// text. Every simple command is reported: the stages of pipelines, both sides
// of && || and ; lists, subshells, command and process substitutions, bodies of
// functions, loops and conditionals, and the text given to `sh -c`, `bash -c`,
// `zsh -c`, `eval`, `su -c`, `watch`, `ssh host CMD`, `alias` and `trap`,
// which is parsed again, recursively, up to [MaxDepth] levels. Wrappers (sudo,
// doas, env, nice, nohup, timeout, xargs, time, command, exec, busybox, stdbuf,
// ionice, chroot, setsid, pkexec, runuser, watch -x) are unwrapped, so that the
// reported command is the one that really runs, and the wrappers are listed.
//
// Words are resolved statically: quote removal (`r\m`, `'rm'`, `"rm"`,
// `$'\x72m'`), brace expansion (`/{etc,var}`, at most 64 words), variables
// assigned a literal value earlier in the same shell (`c=rm; $c -rf /`, an
// unquoted expansion split into fields: `c="rm -rf /"; $c`), and `$HOME`,
// which is kept as written unless the line assigns it. A variable assigned
// under a condition (right of && or ||, in if, loops, case, function bodies)
// is unknown, and so is every variable after source, eval of unknown text or
// a call of a function defined in the line. A word that needs run-time
// information (an unknown variable, a command substitution, arithmetic) is not
// literal: it is "" in [Command.Args] and marks the command [Command.Dynamic]. Text that a shell
// reads from a pipe or a here-document is parsed too when it is statically
// known: `echo 'rm -rf /' | sh`, and text decoded on the way
// (`echo cm0gLXJmIC8= | base64 -d | sh`, `xxd -r -p`, `base32 -d`, `rev`).
//
// # Flag normalization
//
//   - A short cluster is split into letters: -rf is r and f.
//   - A long flag loses its dashes: --recursive is recursive; --name=value
//     records value in [Command.Options] under name.
//   - "--" ends the flags; a lone "-" is an operand.
//   - For the commands with a flag table (rm, rmdir, chmod, chown, chgrp, cp,
//     mv, ln, kill, pkill, killall, systemctl, shutdown, iptables, ip6tables,
//     tail, head, grep, find, ...; see flagTables) every spelling is mapped to
//     one canonical name, the long one: for rm, -r, -R and --recursive are all
//     "recursive", -f and --force are "force", -i is "interactive", -d is
//     "dir", -v is "verbose"; for chmod/chown/chgrp -R is "recursive", -f is
//     "silent", -h is "no-dereference"; for cp/mv -f "force", -r/-R
//     "recursive", -a "archive", -n "no-clobber", -t "target-directory" (with
//     its value in Options). Flags that take a value consume it (attached or as
//     the next word) and record it in Options, so it is not taken for a path.
//   - kill, pkill, killall: -9, -KILL, -SIGKILL, -s KILL, -s 9, -n 9,
//     --signal=KILL are all flag "signal" with Options["signal"] = "KILL"
//     (numbers mapped to names, the SIG prefix removed, upper case).
//   - chmod: a mode that looks like a flag (-w, -x) is a mode, not a flag.
//   - dd: key=value operands go to Options (if, of, bs, ...); Targets is of=.
//   - find: single-dash primaries are flags (-delete is "delete"); -exec,
//     -execdir, -ok and -okdir run their command, reported with Nested
//     "find -exec" and {} replaced by each starting point.
//   - Flags are sorted and de-duplicated: -rf, -fr, -r -f and
//     --recursive --force all give ["force", "recursive"] for rm.
//
// Commands without a table get the generic rules only.
//
// # Targets
//
// Targets are the operands (non-flag arguments) cleaned with path.Clean, `~` and
// `$HOME` kept as written unless `..` climbs out of them: the home directory
// is unknown and root's is /root, so `~/..` is taken as `/` and `~/../etc` as
// `/etc`, the worst they can reach. A relative operand is joined to the working
// directory when a literal `cd DIR` ran earlier in the same shell
// ([Command.Dir]) and not under a condition: `(cd / && rm -rf *)` targets
// "/*". URLs are kept as written. Per command: chmod's mode and chown's owner
// are not targets but Options["mode"] and Options["owner"] (chgrp:
// Options["group"]); dd's target is of=; the pattern or script of grep, sed
// and awk is not a target; echo and printf have none; systemctl, service, nft,
// git, docker, kubectl, apt and similar report their verb in
// [Command.Subcommand] and the rest as targets; for kill, pkill and killall the
// targets are the process ids or names, not cleaned.
package shell

import (
	"fmt"
	"path"
	"slices"
	"strings"
	"sync"

	"mvdan.cc/sh/v3/syntax"
)

// Limits that keep classification bounded on hostile input. Besides these,
// one line may parse at most 16*MaxInputBytes of text in all and classify at
// most 20000 commands (xargs and find -exec fan-out included); beyond that it
// is Unparseable.
const (
	// MaxInputBytes is the longest line Classify parses; longer lines are
	// Unparseable.
	MaxInputBytes = 64 << 10
	// MaxDepth bounds how deep text is parsed again (sh -c inside eval inside
	// sh -c ...). Deeper text makes the line Unparseable.
	MaxDepth = 8
	// maxReasons bounds DynamicReasons.
	maxReasons = 32
	// maxBraceWords bounds the words one brace expansion may produce; a
	// larger expansion is kept as written.
	maxBraceWords = 64
	// maxFanout bounds the commands synthesized from xargs input and
	// find -exec starting points.
	maxFanout = 16
)

// Nested values: where a command sits. The innermost context wins.
const (
	NestedNone      = ""
	NestedSubshell  = "subshell"   // ( ... )
	NestedCmdSubst  = "cmdsubst"   // $( ... ) or `...`
	NestedProcSubst = "procsubst"  // <( ... ) or >( ... )
	NestedShellC    = "sh -c"      // text given to sh/bash/zsh -c, su -c, watch, env -S
	NestedEval      = "eval"       // text given to eval, alias, trap
	NestedXargs     = "xargs"      // the command xargs runs
	NestedFindExec  = "find -exec" // the command find -exec runs
	NestedPipeline  = "pipeline"   // a stage of a pipeline a | b
	NestedStdin     = "stdin"      // text a shell reads from a pipe or here-document
	NestedFunction  = "function"   // body of a function definition
	NestedSSH       = "ssh"        // remote command of ssh host CMD
)

// Result is the classification of one command line. It is plain data: the
// policy engine evaluates CEL over its JSON form. Lists are never null.
type Result struct {
	// Commands is every simple command in the line, in source order, nested
	// ones after the command that contains them.
	Commands []Command `json:"commands"`
	// Unparseable is set when the line, or text parsed from it, is not valid
	// shell, is longer than MaxInputBytes or nests deeper than MaxDepth;
	// ParseError says why. Commands found before the failure are kept.
	Unparseable bool   `json:"unparseable"`
	ParseError  string `json:"parse_error"`
	// Dynamic is set when something that matters cannot be resolved
	// statically; DynamicReasons says what (at most 32 reasons).
	Dynamic        bool     `json:"dynamic"`
	DynamicReasons []string `json:"dynamic_reasons"`
	// PipedIntoShell is set when a shell or an interpreter (sh, bash, zsh,
	// python, perl, ruby, node, ...) reads its program from a pipe.
	PipedIntoShell bool `json:"piped_into_shell"`
	// ForkBomb is set when a function calls itself at least twice with a
	// call in a pipeline or in the background (`:(){ :|:& };:` and renamed
	// variants).
	ForkBomb bool `json:"fork_bomb"`
	// RecursiveDeletes lists the targets removed recursively: rm -r and
	// find ... -delete.
	RecursiveDeletes []string `json:"recursive_deletes"`
	// TruncatedFiles lists the files truncated or overwritten: > and >|
	// redirections (not /dev/null, /dev/stdout, /dev/stderr, /dev/fd/N), tee
	// without -a, truncate, dd of=.
	TruncatedFiles []string `json:"truncated_files"`
}

// Command is one simple command.
type Command struct {
	// Name is the basename of argv[0] after unwrapping ("/bin/rm" -> "rm"),
	// "" when argv[0] is not literal or when the statement is only
	// redirections (`> /etc/passwd`).
	Name string `json:"name"`
	// Path is argv[0] as written.
	Path string `json:"path"`
	// Args is argv[1:] after quote removal; "" for a non-literal word.
	Args []string `json:"args"`
	// Flags is the normalized flag set (see the package documentation).
	Flags []string `json:"flags"`
	// Options holds flag values by canonical flag name, and dd operands.
	Options map[string]string `json:"options"`
	// Subcommand is the verb of commands that take one (systemctl stop).
	Subcommand string `json:"subcommand"`
	// Targets are the operands, cleaned (see the package documentation).
	Targets []string `json:"targets"`
	// Dir is the working directory set by an earlier literal cd, or "".
	Dir string `json:"dir"`
	// Wrappers are the unwrapped commands, outermost first: ["sudo", "env"].
	Wrappers []string `json:"wrappers"`
	// Redirects are the command's redirections.
	Redirects []Redirect `json:"redirects"`
	// Nested is where the command sits: one of the Nested constants.
	Nested string `json:"nested"`
	// Dynamic is set when argv has a word that cannot be resolved statically.
	Dynamic bool `json:"dynamic"`

	readsStdin bool // a shell or interpreter reading its program from stdin
}

// Redirect is one redirection.
type Redirect struct {
	// Op is the operator as written: ">", ">>", "<", ">|", "&>", "<<", ...
	Op string `json:"op"`
	// Fd is the file descriptor written before the operator, or "".
	Fd string `json:"fd"`
	// Target is the file (or here-document delimiter, or fd for >&), "" when
	// not literal.
	Target string `json:"target"`
	// TruncatesFile is set for > >| &> &>| to a file other than /dev/null,
	// /dev/stdout, /dev/stderr, /dev/tty and /dev/fd/N.
	TruncatesFile bool `json:"truncates_file"`
}

// HasFlag reports whether the command has the flag, in its canonical spelling
// or any spelling the command's flag table maps to it ("r", "R" and
// "recursive" for rm).
func (c *Command) HasFlag(name string) bool {
	canon := canonicalFlag(c.Name, name)
	return slices.Contains(c.Flags, canon)
}

// DeletesRecursively reports whether the line removes target, or a path that
// contains it, recursively. target is compared after path.Clean; a deleted
// glob such as "/*" counts for every path under its directory.
func (r *Result) DeletesRecursively(target string) bool {
	t := path.Clean(target)
	for _, d := range r.RecursiveDeletes {
		if covers(d, t) {
			return true
		}
	}
	return false
}

// Truncates reports whether the line truncates or overwrites file.
func (r *Result) Truncates(file string) bool {
	return slices.Contains(r.TruncatedFiles, path.Clean(file))
}

// Names returns the names of all commands, in order.
func (r *Result) Names() []string {
	names := make([]string, 0, len(r.Commands))
	for i := range r.Commands {
		names = append(names, r.Commands[i].Name)
	}
	return names
}

// covers reports whether deleting d removes t.
func covers(d, t string) bool {
	if d == t {
		return true
	}
	dir, file := path.Split(d)
	if strings.ContainsAny(file, "*?[") {
		dir = path.Clean(dir)
		// "/*" removes everything directly under "/", and so below.
		return t != dir && (dir == "/" && strings.HasPrefix(t, "/") || strings.HasPrefix(t, dir+"/"))
	}
	if d == "/" {
		return strings.HasPrefix(t, "/")
	}
	return strings.HasPrefix(t, d+"/")
}

var parsers = sync.Pool{New: func() any { return syntax.NewParser(syntax.Variant(syntax.LangBash)) }}

var zshParsers = sync.Pool{New: func() any { return syntax.NewParser(syntax.Variant(syntax.LangZsh)) }}

// Classify parses line and reports every command in it. A line that does not
// parse is a Result with Unparseable set and the parser's message; the error
// is only for an internal failure.
func Classify(line string) (res *Result, err error) {
	res = &Result{}
	defer func() {
		if r := recover(); r != nil {
			if e, ok := r.(error); ok {
				res, err = nil, fmt.Errorf("shell: classify: internal error: %w", e)
			} else {
				res, err = nil, fmt.Errorf("shell: classify: internal error: %v", r)
			}
		}
	}()
	if len(line) > MaxInputBytes {
		res.unparseable(fmt.Sprintf("input is %d bytes, over the limit of %d", len(line), MaxInputBytes))
		res.finish()
		return res, nil
	}
	w := &walker{res: res}
	w.text(line, frame{sc: &scope{}}, "", false)
	res.finish()
	return res, nil
}

func (r *Result) unparseable(msg string) {
	if !r.Unparseable {
		r.Unparseable = true
		r.ParseError = msg
	}
}

func (r *Result) dynamic(reason string) {
	r.Dynamic = true
	if len(r.DynamicReasons) < maxReasons && !slices.Contains(r.DynamicReasons, reason) {
		r.DynamicReasons = append(r.DynamicReasons, reason)
	}
}

// finish makes every list non-null, so that CEL can use them without checks.
func (r *Result) finish() {
	r.Commands = nonNil(r.Commands)
	r.DynamicReasons = nonNil(r.DynamicReasons)
	r.RecursiveDeletes = nonNil(dedupe(r.RecursiveDeletes))
	r.TruncatedFiles = nonNil(dedupe(r.TruncatedFiles))
	for i := range r.Commands {
		c := &r.Commands[i]
		c.Args = nonNil(c.Args)
		c.Flags = nonNil(c.Flags)
		c.Targets = nonNil(c.Targets)
		c.Wrappers = nonNil(c.Wrappers)
		c.Redirects = nonNil(c.Redirects)
		if c.Options == nil {
			c.Options = map[string]string{}
		}
	}
}

func nonNil[T any](s []T) []T {
	if s == nil {
		return []T{}
	}
	return s
}

func dedupe(s []string) []string {
	if len(s) < 2 {
		return s
	}
	seen := make(map[string]bool, len(s))
	out := make([]string, 0, len(s))
	for _, v := range s {
		if !seen[v] {
			seen[v] = true
			out = append(out, v)
		}
	}
	return out
}
