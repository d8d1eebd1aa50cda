package shell

import (
	"slices"
	"strconv"
	"strings"
)

// flagTable describes one command's flags.
type flagTable struct {
	alias    map[string]string // spelling -> canonical name
	valued   map[string]bool   // canonical names that take a value
	optional map[string]bool   // canonical names that take an attached value, if any
	// singleDash: -name is one flag (find's primaries).
	singleDash bool
	// plus: +x is a flag too (shells).
	plus bool
	// signals: -9 and -KILL are signals (kill).
	signals bool
}

// table builds a flagTable from a compact spec: groups separated by spaces;
// each group is comma-separated spellings whose last one is the canonical
// name; a trailing ':' on the group marks a flag that takes a value, a
// trailing '?' one that takes an optional attached value.
func table(spec string) *flagTable {
	t := &flagTable{alias: map[string]string{}, valued: map[string]bool{}, optional: map[string]bool{}}
	for _, g := range strings.Fields(spec) {
		valued, optional := strings.HasSuffix(g, ":"), strings.HasSuffix(g, "?")
		g = strings.TrimRight(g, ":?")
		names := strings.Split(g, ",")
		canon := names[len(names)-1]
		for _, n := range names {
			t.alias[n] = canon
		}
		if valued {
			t.valued[canon] = true
		}
		if optional {
			t.optional[canon] = true
		}
	}
	return t
}

func (t *flagTable) canon(name string) string {
	if c, ok := t.alias[name]; ok {
		return c
	}
	return name
}

var generic = table("")

// flagTables maps command names to their flag tables. Canonical names are the
// long spellings.
var flagTables = map[string]*flagTable{}

func init() {
	rm := "r,R,recursive f,force i,interactive I,interactive-once d,dir v,verbose"
	cp := "r,R,recursive f,force i,interactive n,no-clobber v,verbose a,archive u,update b,backup " +
		"l,link s,symbolic-link p,preserve T,no-target-directory x,one-file-system " +
		"t,target-directory: S,suffix:"
	own := "R,recursive f,silent,quiet v,verbose c,changes h,no-dereference reference: from:"
	kill := "s,n,signal: l,list L,table"
	for names, spec := range map[string]string{
		"rm":                        rm,
		"rmdir":                     "p,parents v,verbose",
		"shred":                     "f,force u,remove z,zero v,verbose n,iterations: s,size:",
		"chmod":                     own,
		"chown chgrp":               own,
		"cp":                        cp,
		"mv":                        "f,force i,interactive n,no-clobber v,verbose u,update b,backup T,no-target-directory t,target-directory: S,suffix:",
		"ln":                        "s,symbolic f,force n,no-dereference v,verbose r,relative t,target-directory: S,suffix:",
		"kill pkill killall":        kill,
		"systemctl":                 "f,force q,quiet a,all l,full now user system no-block runtime global n,lines: t,type: s,signal: H,host: M,machine: p,property: o,output: kill-whom:",
		"shutdown":                  "r,reboot H,halt P,h,poweroff c,cancel k",
		"iptables ip6tables":        "F,flush X,delete-chain Z,zero L,list P,policy: A,append: D,delete: I,insert: R,replace: N,new-chain: E,rename-chain: t,table: j,jump: s,source: d,destination: p,protocol: i,in-interface: o,out-interface: m,match: w,wait?",
		"tail head":                 "n,lines: c,bytes: f,follow? F s,sleep-interval: pid:",
		"grep egrep fgrep zgrep rg": "r,R,recursive i,ignore-case e,regexp: f,file: m,max-count: A,after-context: B,before-context: C,context: include: exclude: exclude-dir: g,glob: t,type:",
		"sed":                       "e,expression: f,file: i,in-place? n,quiet E,r,regexp-extended",
		"awk gawk mawk":             "f,file: v,assign: F,field-separator:",
		"tee":                       "a,append i,ignore-interrupts p",
		"truncate":                  "s,size: r,reference: c,no-create o,io-blocks",
		"dd":                        "",
		"printf":                    "v:",
		"sh bash zsh dash ksh mksh ash yash rbash": "c o: O: rcfile: init-file:",
		"tar":        "f,file: C,directory: x,extract c,create z,gzip j,bzip2 J,xz v,verbose t,list",
		"curl":       "o,output: O,remote-name d,data: H,header: X,request: u,user: A,user-agent: e,referer: b,cookie: c,cookie-jar: F,form: T,upload-file: x,proxy: m,max-time: w,write-out: s,silent S,show-error L,location f,fail k,insecure",
		"wget":       "O,output-document: o,output-file: P,directory-prefix: U,user-agent: q,quiet b,background c,continue header: t,tries: T,timeout:",
		"ssh":        "b: c: D: E: e: F: I: i: J: L: l: m: O: o: p: Q: R: S: W: w: B:",
		"su runuser": "c,command: s,shell: g,group: G,supp-group: u,user: session-command: w,whitelist-environment: l,login m,p,preserve-environment",
		"xargs":      "a,arg-file: d,delimiter: E: e,eof? I: i,replace? L,max-lines: l? n,max-args: P,max-procs: s,max-chars: process-slot-var: 0,null r,no-run-if-empty t,verbose p,interactive x,exit o,open-tty",
		"sudo":       "u,user: g,group: h,host: p,prompt: C,close-from: D,chdir: r,role: t,type: U,other-user: T,command-timeout: R,chroot:",
		"doas":       "u: C:",
		"env":        "u,unset: C,chdir: S,split-string: i,ignore-environment 0,null v,debug",
		"nice":       "n,adjustment:",
		"timeout":    "s,signal: k,kill-after: v,verbose preserve-status foreground",
		"time":       "f,format: o,output: p,portability v,verbose a,append q,quiet",
		"command":    "p v V",
		"exec":       "a: c l",
		"stdbuf":     "i,input: o,output: e,error:",
		"ionice":     "c,class: n,classdata: p,pid: P,pgid: u,uid: t,ignore",
		"chroot":     "userspec: groups: skip-chdir",
		"watch":      "n,interval: d,differences? t,no-title b,beep e,errexit g,chgexit c,color x,exec p,precise w,no-wrap q,equexit:",
		"setsid":     "c,ctty f,fork w,wait",
		"pkexec":     "user: disable-internal-agent keep-cwd",
		"python python2 python3 perl ruby node nodejs php lua": "c: e: E: m: r: eval: print: p",
	} {
		t := table(spec)
		for _, n := range strings.Fields(names) {
			flagTables[n] = t
		}
	}
	flagTables["kill"].signals = true
	flagTables["find"] = &flagTable{alias: map[string]string{}, valued: map[string]bool{}, optional: map[string]bool{}, singleDash: true}
	for _, sh := range shells {
		flagTables[sh].plus = true
	}
}

// tableFor returns the flag table of a command.
func tableFor(name string) *flagTable {
	if t, ok := flagTables[name]; ok {
		return t
	}
	if strings.HasPrefix(name, "python") {
		return flagTables["python"]
	}
	return generic
}

// canonicalFlag maps a spelling to the command's canonical flag name.
func canonicalFlag(cmd, spelling string) string {
	return tableFor(cmd).canon(strings.TrimLeft(spelling, "-"))
}

// parsed is the result of parsing argv[1:] against a flag table.
type parsed struct {
	flags    []string
	opts     map[string]string
	operands []arg
	next     int // with stop: index of the first operand (after "--")
}

func (p *parsed) has(names ...string) bool {
	for _, n := range names {
		if slices.Contains(p.flags, n) {
			return true
		}
	}
	return false
}

func (p *parsed) opt(name string) (string, bool) {
	v, ok := p.opts[name]
	return v, ok
}

func (p *parsed) setOpt(k, v string) {
	if p.opts == nil {
		p.opts = map[string]string{}
	}
	p.opts[k] = v
}

// parseFlags parses args with t. With stop, it stops at the first operand
// (wrappers: the rest is the wrapped command).
func parseFlags(t *flagTable, args []arg, stop bool) parsed {
	var p parsed
	dashdash := false
	i := 0
	for ; i < len(args); i++ {
		a := args[i]
		isFlag := !dashdash && a.lit && len(a.val) > 1 &&
			(a.val[0] == '-' || t.plus && a.val[0] == '+')
		if !isFlag {
			if stop {
				break
			}
			p.operands = append(p.operands, a)
			continue
		}
		if a.val == "--" {
			dashdash = true
			if stop {
				i++
				break
			}
			continue
		}
		if strings.HasPrefix(a.val, "--") || t.singleDash {
			name, val, hasVal := strings.Cut(strings.TrimLeft(a.val, "-"), "=")
			c := t.canon(name)
			p.flags = append(p.flags, c)
			switch {
			case hasVal:
				p.setOpt(c, val)
			case t.valued[c] && i+1 < len(args):
				i++
				p.setOpt(c, args[i].val)
			}
			continue
		}
		if t.signals {
			if _, seen := p.opts["signal"]; seen && isNumber(a.val[1:]) {
				p.operands = append(p.operands, a) // kill -9 -1: a process group
				continue
			}
			if sig, ok := signalName(a.val[1:]); ok {
				p.flags = append(p.flags, "signal")
				p.setOpt("signal", sig)
				continue
			}
		}
		cluster := a.val[1:]
		for j, r := range cluster {
			c := t.canon(string(r))
			p.flags = append(p.flags, c)
			rest := cluster[j+len(string(r)):]
			if t.valued[c] {
				if rest != "" {
					p.setOpt(c, rest)
				} else if i+1 < len(args) {
					i++
					p.setOpt(c, args[i].val)
				}
				break
			}
			if t.optional[c] {
				if rest != "" {
					p.setOpt(c, rest)
				}
				break
			}
		}
	}
	p.next = i
	slices.Sort(p.flags)
	p.flags = slices.Compact(p.flags)
	if t.signals {
		if s, ok := p.opts["signal"]; ok {
			if n, ok := signalName(s); ok {
				p.opts["signal"] = n
			}
		}
	}
	return p
}

var signalNames = []string{1: "HUP", 2: "INT", 3: "QUIT", 4: "ILL", 5: "TRAP", 6: "ABRT", 7: "BUS", 8: "FPE",
	9: "KILL", 10: "USR1", 11: "SEGV", 12: "USR2", 13: "PIPE", 14: "ALRM", 15: "TERM", 16: "STKFLT",
	17: "CHLD", 18: "CONT", 19: "STOP", 20: "TSTP", 21: "TTIN", 22: "TTOU", 23: "URG", 24: "XCPU",
	25: "XFSZ", 26: "VTALRM", 27: "PROF", 28: "WINCH", 29: "IO", 30: "PWR", 31: "SYS"}

// signalName normalizes a signal spelling: "9", "KILL", "SIGKILL", "sigkill"
// are all "KILL". ok is false for anything else.
func signalName(s string) (string, bool) {
	if s == "" {
		return "", false
	}
	if n, err := strconv.Atoi(s); err == nil {
		if n == 0 {
			return "0", true
		}
		if n > 0 && n < len(signalNames) {
			return signalNames[n], true
		}
		return s, n > 0 && n < 128
	}
	u := strings.TrimPrefix(strings.ToUpper(s), "SIG")
	if slices.Contains(signalNames, u) && u != "" {
		return u, true
	}
	return "", false
}

func isNumber(s string) bool {
	_, err := strconv.Atoi(s)
	return err == nil
}
