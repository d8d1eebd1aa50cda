// Package cli implements the vigil command's subcommands. cmd/vigil only calls Main.
package cli

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"runtime/debug"
	"sort"
	"strings"
)

// Exit codes.
const (
	exitOK    = 0
	exitFail  = 1 // the command ran and found a problem (verify: tampering)
	exitUsage = 2 // bad arguments, unreadable input, an operational error
)

// Version is set at build time with -ldflags "-X .../internal/cli.Version=v1.2.3".
var Version = ""

// env is what a command reads and writes besides its arguments.
type env struct {
	stdin  io.Reader
	stdout io.Writer
	stderr io.Writer
}

type command struct {
	name    string
	summary string
	run     func(ctx context.Context, e *env, args []string) error
}

// usageError marks errors in how a command was called.
type usageError struct{ msg string }

func (u *usageError) Error() string { return u.msg }

func usagef(format string, args ...any) error { return &usageError{fmt.Sprintf(format, args...)} }

// exitError carries a specific exit code with an already-printed outcome.
type exitError struct{ code int }

func (e *exitError) Error() string { return fmt.Sprintf("exit %d", e.code) }

func commands() []command {
	return []command{
		{"serve", "run the Vigil server (HTTP API, audit log)", runServe},
		{"token", "create API tokens (token create --user NAME --role admin|auditor|user)", runToken},
		{"audit", "verify, export and inspect the audit log (audit verify|checkpoint|export|pubkey)", runAudit},
		{"detect", "run detections over log files or an audit export offline (--source S PATH...)", runDetect},
		{"rules", "check Sigma rules and run detection fixtures (rules lint|test PATH...)", runRules},
		{"ingest", "read external audit logs into the audit log (--source cloudtrail|k8s-audit|github|pgaudit|auditd|jsonl)", runIngest},
		{"policy", "decide actions offline and run rule tests (policy eval|test)", runPolicy},
		{"review", "list, approve and deny review requests on a running server (review list|show|approve|deny)", runReview},
		{"check", "decide one action for a CI pipeline: exit 0 allow, 1 deny or review (check sql|shell|tfplan)", runCheck},
		{"version", "print the version", runVersion},
	}
}

// Main runs the vigil command with args (without the program name) and returns
// the process exit code.
func Main(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	e := &env{stdin: stdin, stdout: stdout, stderr: stderr}
	if len(args) == 0 || args[0] == "-h" || args[0] == "--help" || args[0] == "help" {
		printUsage(stdout)
		if len(args) == 0 {
			return exitUsage
		}
		return exitOK
	}
	for _, c := range commands() {
		if c.name == args[0] {
			return exitCode(stderr, c.run(ctx, e, args[1:]))
		}
	}
	fmt.Fprintf(stderr, "vigil: unknown command %q (see vigil --help)\n", args[0])
	return exitUsage
}

func exitCode(stderr io.Writer, err error) int {
	var ue *usageError
	var ee *exitError
	switch {
	case err == nil:
		return exitOK
	case errors.Is(err, flag.ErrHelp):
		return exitOK
	case errors.As(err, &ee):
		return ee.code
	case errors.As(err, &ue):
		fmt.Fprintf(stderr, "vigil: %v\n", err)
		return exitUsage
	default:
		fmt.Fprintf(stderr, "vigil: %v\n", err)
		return exitUsage
	}
}

func printUsage(w io.Writer) {
	fmt.Fprintf(w, "Vigil: an audit-first access gateway.\n\nUsage: vigil <command> [flags]\n\nCommands:\n")
	cs := commands()
	sort.Slice(cs, func(i, j int) bool { return cs[i].name < cs[j].name })
	for _, c := range cs {
		fmt.Fprintf(w, "  %-9s %s\n", c.name, c.summary)
	}
	fmt.Fprintf(w, "\nRun 'vigil <command> --help' for a command's flags.\n")
}

// newFlags returns a FlagSet that reports errors instead of exiting.
func newFlags(e *env, name, usage string) *flag.FlagSet {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(e.stderr)
	fs.Usage = func() {
		fmt.Fprintf(e.stderr, "Usage: vigil %s\n\nFlags:\n", usage)
		fs.PrintDefaults()
	}
	return fs
}

// parse parses flags; a bad flag is a usage error (the flag package already
// printed what was wrong).
func parse(fs *flag.FlagSet, args []string) error {
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return err
		}
		return &exitError{code: exitUsage}
	}
	if fs.NArg() > 0 {
		return usagef("%s: unexpected argument %q", fs.Name(), fs.Arg(0))
	}
	return nil
}

func runVersion(_ context.Context, e *env, args []string) error {
	fs := newFlags(e, "version", "version")
	if err := parse(fs, args); err != nil {
		return err
	}
	v := Version
	if v == "" {
		v = "devel"
		if bi, ok := debug.ReadBuildInfo(); ok && bi.Main.Version != "" && bi.Main.Version != "(devel)" {
			v = bi.Main.Version
		}
	}
	fmt.Fprintf(e.stdout, "vigil %s\n", v)
	return nil
}

func subcommand(ctx context.Context, e *env, group string, args []string, subs map[string]func(context.Context, *env, []string) error) error {
	var names []string
	for n := range subs {
		names = append(names, n)
	}
	sort.Strings(names)
	if len(args) == 0 || args[0] == "-h" || args[0] == "--help" {
		fmt.Fprintf(e.stderr, "Usage: vigil %s %s [flags]\n", group, strings.Join(names, "|"))
		if len(args) == 0 {
			return &exitError{code: exitUsage}
		}
		return nil
	}
	fn, ok := subs[args[0]]
	if !ok {
		return usagef("%s: unknown subcommand %q (want %s)", group, args[0], strings.Join(names, ", "))
	}
	return fn(ctx, e, args[1:])
}

// Stdio runs Main on the process's standard streams.
func Stdio(ctx context.Context) int {
	return Main(ctx, os.Args[1:], os.Stdin, os.Stdout, os.Stderr)
}
