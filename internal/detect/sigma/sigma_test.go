package sigma

import (
	"encoding/base64"
	"errors"
	"github.com/vigil-audit/vigil/internal/corpora"
	"strings"
	"testing"

	"github.com/vigil-audit/vigil/internal/event"
)

// ruleYAML wraps a detection section (indented by four spaces) in a rule.
func ruleYAML(logsource, detection string) string {
	return "title: test rule\nid: 00000000-0000-4000-8000-000000000001\nlogsource:\n" + logsource +
		"detection:\n" + detection
}

const awsLogsource = "    product: aws\n    service: cloudtrail\n"

func mustEngine(t *testing.T, src string, opts Options) *Engine {
	t.Helper()
	r, err := Parse([]byte(src), "test.yml")
	if err != nil {
		t.Fatal(err)
	}
	e, err := NewEngine([]*Rule{r}, opts)
	if err != nil {
		t.Fatal(err)
	}
	return e
}

func ct(raw string) *event.Event {
	return &event.Event{Source: "cloudtrail", Raw: []byte(raw)}
}

type matchCase struct {
	raw  string
	want bool
}

func check(t *testing.T, detection string, cases ...matchCase) {
	t.Helper()
	checkOpts(t, detection, Options{}, cases...)
}

func checkOpts(t *testing.T, detection string, opts Options, cases ...matchCase) {
	t.Helper()
	e := mustEngine(t, ruleYAML(awsLogsource, detection), opts)
	for _, c := range cases {
		if got := len(e.Match(ct(c.raw))) == 1; got != c.want {
			t.Errorf("detection\n%s\nevent %s: match %v, want %v", detection, c.raw, got, c.want)
		}
	}
}

// Examples from the Sigma rules specification.
func TestSpecMapsAndLists(t *testing.T) {
	check(t, `
    selection:
        EventLog: Security
        EventID:
            - 517
            - 1102
    condition: selection
`,
		matchCase{`{"EventLog":"Security","EventID":517}`, true},
		matchCase{`{"EventLog":"security","EventID":"1102"}`, true}, // case-insensitive; numbers match numeric strings
		matchCase{`{"EventLog":"Security","EventID":4624}`, false},
		matchCase{`{"EventLog":"System","EventID":517}`, false},
		matchCase{`{"EventID":517}`, false},
	)
	check(t, `
    selection:
        - Image|endswith: '\example.exe'
        - Description|contains: 'Test executable'
    condition: selection
`,
		matchCase{`{"Image":"C:\\tmp\\EXAMPLE.exe"}`, true},
		matchCase{`{"Description":"a test executable here"}`, true},
		matchCase{`{"Image":"C:\\tmp\\other.exe","Description":"x"}`, false},
	)
}

func TestWildcardsAndEscapes(t *testing.T) {
	check(t, "    s:\n        f: 'prog?.exe'\n    condition: s\n",
		matchCase{`{"f":"progA.exe"}`, true}, matchCase{`{"f":"progAB.exe"}`, false},
		matchCase{`{"f":"progé.exe"}`, true}) // ? is one character, not one byte
	check(t, "    s:\n        f: 'antivirus_V*.exe'\n    condition: s\n",
		matchCase{`{"f":"antivirus_V21.2.1.exe"}`, true}, matchCase{`{"f":"antivirus_V1.exe"}`, true},
		matchCase{`{"f":"antivirus.exe"}`, false})
	check(t, "    s:\n        f: 'a\\*b'\n    condition: s\n", // escaped wildcard: literal *
		matchCase{`{"f":"a*b"}`, true}, matchCase{`{"f":"axxb"}`, false})
	check(t, "    s:\n        f: 'c:\\\\*'\n    condition: s\n", // \\* : backslash, then wildcard
		matchCase{`{"f":"c:\\windows"}`, true}, matchCase{`{"f":"c:windows"}`, false})
	check(t, "    s:\n        f: 'a\\\\\\*'\n    condition: s\n", // \\\* : backslash and a plain star
		matchCase{`{"f":"a\\*"}`, true}, matchCase{`{"f":"a\\x"}`, false})
	check(t, "    s:\n        f: 'C:\\Windows\\System32'\n    condition: s\n", // single backslashes stay
		matchCase{`{"f":"c:\\windows\\system32"}`, true})
	check(t, "    s:\n        f: '*a*b?c*'\n    condition: s\n",
		matchCase{`{"f":"xxAyyBzCzz"}`, true}, matchCase{`{"f":"xxAyyBCzz"}`, false})
}

func TestStringModifiers(t *testing.T) {
	check(t, "    s:\n        f|contains: 'Evil'\n    condition: s\n",
		matchCase{`{"f":"an EVIL thing"}`, true}, matchCase{`{"f":"good"}`, false})
	check(t, "    s:\n        f|startswith: 'adm_'\n    condition: s\n",
		matchCase{`{"f":"ADM_bob"}`, true}, matchCase{`{"f":"bob_adm_"}`, false})
	check(t, "    s:\n        f|endswith: '.exe'\n    condition: s\n",
		matchCase{`{"f":"a.EXE"}`, true}, matchCase{`{"f":"a.exe.txt"}`, false})
	check(t, "    s:\n        f|contains|all:\n            - 'grep'\n            - 'password'\n    condition: s\n",
		matchCase{`{"f":"grep -r password /etc"}`, true}, matchCase{`{"f":"grep -r secret"}`, false})
	check(t, "    s:\n        f|cased: 'Admin'\n    condition: s\n",
		matchCase{`{"f":"Admin"}`, true}, matchCase{`{"f":"admin"}`, false})
	check(t, "    s:\n        f|contains|cased: 'Ad?in'\n    condition: s\n",
		matchCase{`{"f":"xAdmin"}`, true}, matchCase{`{"f":"xadmin"}`, false})
	check(t, "    s:\n        f|windash|contains: ' -exec '\n    condition: s\n",
		matchCase{`{"f":"x -exec y"}`, true}, matchCase{`{"f":"x /exec y"}`, true},
		matchCase{`{"f":"x –exec y"}`, true}, matchCase{`{"f":"x —exec y"}`, true},
		matchCase{`{"f":"x ―exec y"}`, true}, matchCase{`{"f":"x exec y"}`, false})
}

func TestRegex(t *testing.T) {
	check(t, "    s:\n        f|re: '^ab+c$'\n    condition: s\n",
		matchCase{`{"f":"abbbc"}`, true}, matchCase{`{"f":"ABC"}`, false}, matchCase{`{"f":"xabc"}`, false})
	check(t, "    s:\n        f|re|i: '^ab+c$'\n    condition: s\n",
		matchCase{`{"f":"ABBC"}`, true})
	check(t, "    s:\n        f|re|m: '^second$'\n    condition: s\n",
		matchCase{`{"f":"first\nsecond"}`, true})
	check(t, "    s:\n        f|re: '^second$'\n    condition: s\n",
		matchCase{`{"f":"first\nsecond"}`, false})
	check(t, "    s:\n        f|re|s: 'a.b'\n    condition: s\n",
		matchCase{`{"f":"a\nb"}`, true})
	check(t, "    s:\n        f|re: 'a.b'\n    condition: s\n",
		matchCase{`{"f":"a\nb"}`, false})
	// The corpus rule's regex (aws_cloudtrail_imds_malicious_usage).
	check(t, "    s:\n        userIdentity.arn|re: '.+:assumed-role/aws:.+'\n    condition: s\n",
		matchCase{`{"userIdentity":{"arn":"arn:aws:sts::1:assumed-role/aws:ec2-instance/i-1"}}`, true},
		matchCase{`{"userIdentity":{"arn":"arn:aws:iam::1:user/bob"}}`, false})
}

func TestCIDRExistsNullNumbers(t *testing.T) {
	check(t, "    s:\n        DestinationIp|cidr: 10.0.0.0/8\n    condition: s\n",
		matchCase{`{"DestinationIp":"10.1.2.3"}`, true}, matchCase{`{"DestinationIp":"11.1.2.3"}`, false},
		matchCase{`{"DestinationIp":"ec2.amazonaws.com"}`, false})
	check(t, "    s:\n        ip|cidr: '2001:db8::/32'\n    condition: s\n",
		matchCase{`{"ip":"2001:db8::1"}`, true}, matchCase{`{"ip":"2001:db9::1"}`, false})
	check(t, "    selection:\n        EventID: 4738\n        PasswordLastSet|exists: true\n    condition: selection\n",
		matchCase{`{"EventID":4738,"PasswordLastSet":null}`, true}, matchCase{`{"EventID":4738}`, false})
	check(t, "    s:\n        f|exists: false\n    condition: s\n",
		matchCase{`{"g":1}`, true}, matchCase{`{"f":""}`, false})
	check(t, "    selection:\n        EventID: 4738\n    filter:\n        PasswordLastSet: null\n    condition: selection and not filter\n",
		matchCase{`{"EventID":4738,"PasswordLastSet":"2024"}`, true},
		matchCase{`{"EventID":4738,"PasswordLastSet":null}`, false},
		matchCase{`{"EventID":4738}`, false})
	check(t, "    s:\n        f: ''\n    condition: s\n",
		matchCase{`{"f":""}`, true}, matchCase{`{}`, false}, matchCase{`{"f":"x"}`, false})
	check(t, "    s:\n        f: true\n        n: 1.5\n    condition: s\n",
		matchCase{`{"f":true,"n":1.50}`, true}, matchCase{`{"f":"True","n":"1.5"}`, true}, matchCase{`{"f":false,"n":1.5}`, false})
	check(t, "    s:\n        n|gt: 10\n    condition: s\n",
		matchCase{`{"n":11}`, true}, matchCase{`{"n":"10.5"}`, true}, matchCase{`{"n":10}`, false}, matchCase{`{"n":"x"}`, false})
	check(t, "    s:\n        n|gte: 10\n    condition: s\n", matchCase{`{"n":10}`, true}, matchCase{`{"n":9}`, false})
	check(t, "    s:\n        n|lt: 10\n    condition: s\n", matchCase{`{"n":9}`, true}, matchCase{`{"n":10}`, false})
	check(t, "    s:\n        n|lte: 10\n    condition: s\n", matchCase{`{"n":10}`, true}, matchCase{`{"n":11}`, false})
	check(t, "    s:\n        f|neq:\n            - a\n            - b\n    condition: s\n",
		matchCase{`{"f":"c"}`, true}, matchCase{`{"f":"A"}`, false}, matchCase{`{"f":"b"}`, false}, matchCase{`{}`, false})
	check(t, "    s:\n        eventTime|hour|gte: 22\n    condition: s\n",
		matchCase{`{"eventTime":"2024-05-01T23:10:00Z"}`, true}, matchCase{`{"eventTime":"2024-05-01T10:10:00Z"}`, false})
	check(t, "    s:\n        eventTime|month: 5\n    condition: s\n",
		matchCase{`{"eventTime":"2024-05-01T23:10:00Z"}`, true}, matchCase{`{"eventTime":"2024-06-01T23:10:00Z"}`, false})
}

func TestEncodings(t *testing.T) {
	b64 := func(s string) string { return base64.StdEncoding.EncodeToString([]byte(s)) }
	check(t, "    s:\n        f|base64: 'secret'\n    condition: s\n",
		matchCase{`{"f":"` + b64("secret") + `"}`, true}, matchCase{`{"f":"` + strings.ToLower(b64("secret")) + `"}`, false})
	var cases []matchCase
	for _, pre := range []string{"", "a", "ab", "abc"} {
		for _, post := range []string{"", "z", "zz"} {
			cases = append(cases, matchCase{`{"f":"` + b64(pre+"http://evil"+post) + `"}`, true})
		}
	}
	cases = append(cases, matchCase{`{"f":"` + b64("https://good") + `"}`, false})
	check(t, "    s:\n        f|base64offset|contains: 'http://evil'\n    condition: s\n", cases...)
	utf := func(s string) string {
		var b []byte
		for _, r := range s {
			b = append(b, byte(r), 0)
		}
		return base64.StdEncoding.EncodeToString(b)
	}
	check(t, "    s:\n        CommandLine|utf16le|base64offset|contains: 'cmd'\n    condition: s\n",
		matchCase{`{"CommandLine":"powershell -enc ` + utf("run cmd now") + `"}`, true},
		matchCase{`{"CommandLine":"powershell -enc ` + utf("run sh now") + `"}`, false})
	check(t, "    s:\n        f|wide|base64: 'ab'\n    condition: s\n",
		matchCase{`{"f":"` + utf("ab") + `"}`, true})
}

func TestFieldrefAndExpand(t *testing.T) {
	check(t, "    s:\n        a|fieldref: b\n    condition: s\n",
		matchCase{`{"a":"X","b":"x"}`, true}, matchCase{`{"a":"x","b":"y"}`, false}, matchCase{`{"a":"x"}`, false})
	check(t, "    s:\n        a|fieldref|neq: b\n    condition: s\n",
		matchCase{`{"a":"x","b":"y"}`, true}, matchCase{`{"a":"x","b":"X"}`, false})
	check(t, "    s:\n        userIdentity.arn|fieldref|endswith: requestParameters.userName\n    condition: s\n",
		matchCase{`{"userIdentity":{"arn":"arn:aws:iam::1:user/bob"},"requestParameters":{"userName":"bob"}}`, true},
		matchCase{`{"userIdentity":{"arn":"arn:aws:iam::1:user/bob"},"requestParameters":{"userName":"eve"}}`, false})
	opts := Options{Placeholders: map[string][]string{"Administrators": {"admin", "root*"}}}
	checkOpts(t, "    s:\n        user|expand: '%Administrators%'\n    condition: s\n", opts,
		matchCase{`{"user":"Admin"}`, true}, matchCase{`{"user":"rootkit"}`, true}, matchCase{`{"user":"bob"}`, false})
	checkOpts(t, "    s:\n        f|expand: '\\%plain%Administrators%'\n    condition: s\n", opts,
		matchCase{`{"f":"%plainadmin"}`, true}, matchCase{`{"f":"%plain%Administrators%"}`, false})
	check(t, "    s:\n        f: '%Administrators%'\n    condition: s\n", // without expand: literal
		matchCase{`{"f":"%administrators%"}`, true})
	r, _ := Parse([]byte(ruleYAML(awsLogsource, "    s:\n        f|expand: '%Servers%'\n    condition: s\n")), "x.yml")
	if _, err := NewEngine([]*Rule{r}, opts); err == nil || !strings.Contains(err.Error(), "%Servers%") {
		t.Errorf("missing placeholder: err %v", err)
	}
	if is := Lint(r); len(is) != 0 {
		t.Errorf("lint of a placeholder rule: %v", is)
	}
}

func TestKeywords(t *testing.T) {
	check(t, "    keywords:\n        - 'event::clear'\n        - 'event::drop'\n    condition: keywords\n",
		matchCase{`{"a":{"b":["x","run EVENT::CLEAR now"]}}`, true}, matchCase{`{"a":"event::list"}`, false})
	check(t, "    keywords_cmdlet:\n        '|all':\n            - 'OabVirtualDirectory'\n            - ' -ExternalUrl '\n    condition: keywords_cmdlet\n",
		matchCase{`{"cmd":"Set-OabVirtualDirectory -ExternalUrl http://x"}`, true},
		matchCase{`{"cmd":"Set-OabVirtualDirectory"}`, false},
		matchCase{`{"a":"OabVirtualDirectory","b":"x -ExternalUrl y"}`, true}) // all: each keyword somewhere in the event
}

func TestConditions(t *testing.T) {
	det := `
    sel_a:
        a: 1
    sel_b:
        b: 1
    filter_c:
        c: 1
    _hidden:
        h: 1
    condition: %s
`
	type cc struct {
		cond string
		raw  string
		want bool
	}
	for _, c := range []cc{
		{"sel_a and sel_b", `{"a":1,"b":1}`, true},
		{"sel_a and sel_b", `{"a":1}`, false},
		{"sel_a or sel_b", `{"b":1}`, true},
		{"not sel_a", `{"b":1}`, true},
		{"not sel_a", `{"a":1}`, false},
		{"sel_a or sel_b and filter_c", `{"a":1}`, true}, // and binds tighter than or
		{"(sel_a or sel_b) and filter_c", `{"a":1}`, false},
		{"not sel_a and sel_b", `{"b":1}`, true}, // not binds tighter than and
		{"not (sel_a and sel_b)", `{"a":1,"b":1}`, false},
		{"1 of sel_*", `{"b":1}`, true},
		{"all of sel_*", `{"b":1}`, false},
		{"all of sel_*", `{"a":1,"b":1}`, true},
		{"1 of sel* and not 1 of filter*", `{"a":1,"c":1}`, false},
		{"1 of sel* and not 1 of filter*", `{"a":1}`, true},
		{"1 of them", `{"c":1}`, true},
		{"1 of them", `{"h":1}`, false}, // _hidden is not part of them
		{"all of them", `{"a":1,"b":1,"c":1}`, true},
		{"all of them", `{"a":1,"b":1}`, false},
		{"1 of *_a", `{"a":1}`, true},
		{"sel_a AND NOT sel_b", `{"a":1}`, true},
		{"_hidden", `{"h":1}`, true},
	} {
		e := mustEngine(t, ruleYAML(awsLogsource, strings.Replace(det, "%s", c.cond, 1)), Options{})
		if got := len(e.Match(ct(c.raw))) == 1; got != c.want {
			t.Errorf("condition %q on %s: %v, want %v", c.cond, c.raw, got, c.want)
		}
	}
	// A list of conditions is ORed.
	e := mustEngine(t, ruleYAML(awsLogsource, "    a:\n        a: 1\n    b:\n        b: 1\n    condition:\n        - a\n        - b\n"), Options{})
	if len(e.Match(ct(`{"b":1}`))) != 1 {
		t.Error("condition list is not ORed")
	}
}

func TestConditionErrors(t *testing.T) {
	for _, c := range []struct{ cond, want string }{
		{"sel and", "ends"},
		{"(sel", "missing )"},
		{"sel or nope", `undefined search identifier "nope"`},
		{"1 of nope*", "matches no search identifier"},
		{"2 of sel*", "not supported"},
		{"sel | count() > 5", "aggregation"},
		{"sel*", "must follow"},
	} {
		r, err := Parse([]byte(ruleYAML(awsLogsource, "    sel:\n        a: 1\n    condition: "+c.cond+"\n")), "bad.yml")
		if err != nil {
			t.Fatal(err)
		}
		_, err = NewEngine([]*Rule{r}, Options{})
		if err == nil || !strings.Contains(err.Error(), c.want) || !strings.Contains(err.Error(), "bad.yml:") {
			t.Errorf("condition %q: error %v, want it to name the file and say %q", c.cond, err, c.want)
		}
		if len(Lint(r)) == 0 {
			t.Errorf("condition %q: Lint found nothing", c.cond)
		}
	}
}

func TestFieldResolution(t *testing.T) {
	check(t, "    s:\n        userIdentity.sessionContext.sessionIssuer.type: Role\n    condition: s\n",
		matchCase{`{"userIdentity":{"sessionContext":{"sessionIssuer":{"type":"Role"}}}}`, true},
		matchCase{`{"userIdentity":{"type":"Role"}}`, false})
	check(t, "    s:\n        requestParameters.instancesSet.items.instanceId: i-2\n    condition: s\n",
		matchCase{`{"requestParameters":{"instancesSet":{"items":[{"instanceId":"i-1"},{"instanceId":"i-2"}]}}}`, true},
		matchCase{`{"requestParameters":{"instancesSet":{"items":[{"instanceId":"i-1"}]}}}`, false})
	check(t, "    s:\n        tags: prod\n    condition: s\n",
		matchCase{`{"tags":["dev","prod"]}`, true}, matchCase{`{"tags":[]}`, false})
	check(t, "    s:\n        k8s.io/name: x\n    condition: s\n", // a key holding a dot
		matchCase{`{"k8s.io/name":"x"}`, true})
	check(t, "    s:\n        a.b: 1\n    condition: s\n", // a nested path wins over a dotted sibling only if found
		matchCase{`{"a":{"c":2},"a.b":1}`, true})
	check(t, "    s:\n        we\"ird: y\n    condition: s\n", matchCase{`{"we\"ird":"y"}`, true})
	// Normalized fields when the raw record lacks the field.
	e := mustEngine(t, ruleYAML(awsLogsource, "    s:\n        actor.user: alice\n        resource.name|startswith: prod-\n        attrs.aws.source: ec2.amazonaws.com\n        outcome: success\n    condition: s\n"), Options{})
	ev := &event.Event{Source: "cloudtrail", Actor: event.Actor{User: "alice"}, Resource: event.Resource{Name: "prod-db"},
		Outcome: "success", Attrs: map[string]any{"aws.source": "ec2.amazonaws.com"}, Raw: []byte(`{"eventName":"X"}`)}
	if len(e.Match(ev)) != 1 {
		t.Error("normalized fields did not match")
	}
	ev.Actor.User = "bob"
	if len(e.Match(ev)) != 0 {
		t.Error("normalized field mismatch matched")
	}
}

func TestLogsources(t *testing.T) {
	for _, c := range []struct {
		ls     Logsource
		source string
	}{
		{Logsource{Product: "aws", Service: "cloudtrail"}, "cloudtrail"},
		{Logsource{Product: "kubernetes", Service: "audit", Category: "application"}, "k8s-audit"},
		{Logsource{Product: "github", Service: "audit"}, "github"},
		{Logsource{Product: "linux", Service: "auditd"}, "auditd"},
		{Logsource{Product: "vigil"}, "vigil"},
	} {
		if got, ok := SourceFor(c.ls); !ok || got != c.source {
			t.Errorf("SourceFor(%v) = %q, %v", c.ls, got, ok)
		}
	}
	if _, ok := SourceFor(Logsource{Product: "windows", Category: "process_creation"}); ok {
		t.Error("windows is mapped")
	}
	k8s := mustEngine(t, ruleYAML("    product: kubernetes\n    service: audit\n", "    s:\n        verb: create\n    condition: s\n"), Options{})
	raw := []byte(`{"verb":"create"}`)
	if len(k8s.Match(&event.Event{Source: "k8s-audit", Raw: raw})) != 1 || len(k8s.Match(&event.Event{Source: "cloudtrail", Raw: raw})) != 0 {
		t.Error("a rule saw events of another logsource")
	}
	vig := mustEngine(t, ruleYAML("    product: vigil\n", "    s:\n        decision.effect: deny\n    condition: s\n"), Options{})
	denied := &event.Event{Source: "gateway/postgres", Decision: &event.Decision{Effect: "deny"}}
	if len(vig.Match(denied)) != 1 {
		t.Error("vigil rule missed a gateway event")
	}
	denied.Source = "cloudtrail"
	if len(vig.Match(denied)) != 0 {
		t.Error("vigil rule saw a cloudtrail event")
	}
	win, _ := Parse([]byte(ruleYAML("    product: windows\n", "    s:\n        a: 1\n    condition: s\n")), "w.yml")
	if is := Lint(win); len(is) != 1 || is[0].Severity != SevUnsupported {
		t.Errorf("lint of an unmapped logsource: %v", is)
	}
}

func TestParseErrors(t *testing.T) {
	for _, c := range []struct{ src, want string }{
		{"title: x\nlogsource:\n    product: aws\ndetection:\n    condition: s\n", "bad.yml:5: detection has no search identifier"},
		{"title: x\nlogsource:\n    product: aws\ndetection:\n    s:\n        a: 1\n", "detection.condition is required"},
		{"logsource:\n    product: aws\ndetection:\n    s:\n        a: 1\n    condition: s\n", "title is required"},
		{"title: x\nlogsource:\n    product: aws\ndetection:\n    s:\n        a:\n            b: c\n    condition: s\n", "bad.yml:7: detection.s.a"},
		{"title: [x\n", "bad.yml: parse yaml"},
		{"title: a\n---\ntitle: b\n", "2 YAML documents"},
	} {
		_, err := Parse([]byte(c.src), "bad.yml")
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("Parse: error %v, want %q", err, c.want)
		}
	}
	_, err := Parse([]byte("title: c\ncorrelation:\n    type: event_count\n"), "c.yml")
	if !errors.Is(err, ErrNotRule) {
		t.Errorf("correlation via Parse: %v", err)
	}
}

func TestUnsupportedConstructsLint(t *testing.T) {
	r, err := Parse([]byte(ruleYAML(awsLogsource, "    s:\n        a|frobnicate: 1\n        b|re: '(?<=x)y'\n        c|all: 'single'\n    timeframe: 5m\n    condition: s\n")), "u.yml")
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, is := range Lint(r) {
		got = append(got, is.String())
	}
	all := strings.Join(got, "\n")
	for _, want := range []string{`u.yml:8: 00000000-0000-4000-8000-000000000001: unsupported: detection.s.a|frobnicate: unknown modifier "frobnicate"`,
		"unsupported: detection.s.b|re: regular expression", "warning: detection.s.c|all: all with a single value", "timeframe"} {
		if !strings.Contains(all, want) {
			t.Errorf("lint output lacks %q:\n%s", want, all)
		}
	}
}

func TestMultiDocumentsAndFilters(t *testing.T) {
	src := ruleYAML(awsLogsource, "    s:\n        user|startswith: adm\n    condition: s\n") + `
---
title: Filter the admin bot
logsource:
    product: aws
    service: cloudtrail
filter:
    rules:
        - 00000000-0000-4000-8000-000000000001
    selection:
        user: adm_bot
    condition: selection
---
title: many admins
correlation:
    type: event_count
    rules:
        - 00000000-0000-4000-8000-000000000001
    group-by:
        - user
    timespan: 5m
    condition:
        gte: 10
`
	c, err := ParseAll([]byte(src), "multi.yml")
	if err != nil {
		t.Fatal(err)
	}
	if len(c.Rules) != 1 || len(c.Filters) != 1 || len(c.Unsupported) != 1 || c.Unsupported[0].Kind != "correlation" || c.Unsupported[0].Line != 23 {
		t.Fatalf("collection %+v", c)
	}
	e, err := NewEngine(c.Rules, Options{Filters: c.Filters})
	if err != nil {
		t.Fatal(err)
	}
	if len(e.Match(ct(`{"user":"adm_alice"}`))) != 1 || len(e.Match(ct(`{"user":"adm_bot"}`))) != 0 {
		t.Error("filter not applied")
	}
	issues := LintFile([]byte(src), "multi.yml")
	if len(issues) != 1 || issues[0].Severity != SevUnsupported || !strings.Contains(issues[0].String(), "correlation documents are not evaluated") {
		t.Errorf("LintFile: %v", issues)
	}
}

// The examples shipped with the specification parse; rules and filters lint
// clean apart from their Windows logsource, correlations are reported.
func TestSpecExamples(t *testing.T) {
	root := corpora.Dir(t)
	for _, f := range []string{"rules/rule_1.yml", "filter/filter_1.yml", "correlation/temporal.yml"} {
		data := readFile(t, root+"/sigma/spec/examples/"+f)
		if _, err := ParseAll(data, f); err != nil {
			t.Errorf("%s: %v", f, err)
		}
		for _, is := range LintFile(data, f) {
			if is.Severity == SevError {
				t.Errorf("%s: %v", f, is)
			}
		}
	}
}
