package policy_test

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"testing"
	"testing/fstest"
	"time"

	"github.com/vigil-audit/vigil/internal/classify"
	"github.com/vigil-audit/vigil/internal/policy"
	"github.com/vigil-audit/vigil/internal/policy/builtin"
)

// benchRules returns the built-in packs plus synthetic rules, about 50 in all:
// SQL rules of every shape, shell and Kubernetes rules (skipped for SQL
// actions by kind), and kind-less rules with scopes and excepts.
func benchRules(b *testing.B) *policy.RuleSet {
	b.Helper()
	packs, err := builtin.Load()
	if err != nil {
		b.Fatal(err)
	}
	var y strings.Builder
	y.WriteString("rules:\n")
	for i := range 12 {
		fmt.Fprintf(&y, "  - id: sql.table-%d\n    match: sql.statements.exists(s, s.command == \"DELETE\" && \"t%d\" in s.?tables.orValue([]))\n    environments: [production, staging]\n    effect: review\n    except: actor.user == \"batch\"\n", i, i)
	}
	for i := range 8 {
		fmt.Fprintf(&y, "  - id: shell.path-%d\n    match: shell.commands.exists(c, glob(c.path, \"/srv/%d/**\"))\n    effect: deny\n", i, i)
	}
	for i := range 8 {
		fmt.Fprintf(&y, "  - id: k8s.ns-%d\n    match: k8s.namespace == \"ns-%d\"\n    effect: review\n", i, i)
	}
	for i := range 6 {
		fmt.Fprintf(&y, "  - id: any.user-%d\n    match: actor.user == \"intruder-%d\" || \"contractor-%d\" in actor.groups\n    effect: deny\n    except:\n      - {field: actor.roles, values: [break-glass]}\n", i, i, i)
	}
	for i := range 5 {
		fmt.Fprintf(&y, "  - id: any.conn-%d\n    match: connection.startsWith(\"legacy-%d\")\n    connections: [legacy-%d-db]\n    effect: alert\n", i, i, i)
	}
	y.WriteString("  - id: any.log\n    match: environment == \"production\" && kind == \"sql\"\n    effect: log\n")
	y.WriteString("  - id: sql.dry\n    match: sql.statements.exists(s, s.command == \"VACUUM\")\n    mode: dry-run\n    effect: deny\n")
	extra, err := policy.Load(fstest.MapFS{"bench.yaml": {Data: []byte(y.String())}}, "bench.yaml")
	if err != nil {
		b.Fatal(err)
	}
	rs, err := policy.Merge(packs, extra)
	if err != nil {
		b.Fatal(err)
	}
	return rs
}

// BenchmarkDecide measures the decision alone (classification excluded: the
// attributes are pre-computed) for a typical SQL statement with ~50 rules
// loaded, and reports p50 and p99 latency.
func BenchmarkDecide(b *testing.B) { benchDecide(b, benchRules(b)) }

// BenchmarkDecideBuiltin is BenchmarkDecide with the built-in packs alone.
func BenchmarkDecideBuiltin(b *testing.B) {
	rs, err := builtin.Load()
	if err != nil {
		b.Fatal(err)
	}
	benchDecide(b, rs)
}

func benchDecide(b *testing.B, rs *policy.RuleSet) {
	e := policy.NewEngine(rs, policy.Defaults{Environment: map[string]string{"production": "allow"}})
	// Shaped like the SQL classifier's Result as JSON.
	attrs := map[string]any{
		"statements": []any{map[string]any{"command": "UPDATE", "tables": []any{"accounts"}, "where": "present", "all_rows": false}},
		"commands":   []any{"UPDATE"}, "tables": []any{"accounts"}, "unparseable": false,
		"any_write_all_rows": false, "any_drop": false, "any_truncate": false, "any_drop_column": false,
		"any_privilege_escalation": false, "any_server_access": false, "any_dynamic_sql": false, "any_safeguard_off": false,
	}
	e.Register(classify.KindSQL, func(*classify.Action) (map[string]any, error) { return attrs, nil })
	a := &classify.Action{Kind: classify.KindSQL, Environment: "production", Connection: "prod-db",
		Actor: classify.Actor{User: "alice", Roles: []string{"developer"}, Groups: []string{"eng"}},
		SQL:   "UPDATE accounts SET balance = 0 WHERE id = 42"}
	ctx := context.Background()
	if d, err := e.Decide(ctx, a); err != nil || d.Effect != policy.EffectAllow {
		b.Fatalf("decision %+v, %v", d, err)
	}
	b.Logf("%d rules loaded", len(rs.Rules()))
	lat := make([]time.Duration, 0, b.N)
	b.ReportAllocs()
	b.ResetTimer()
	for range b.N {
		t0 := time.Now()
		if _, err := e.Decide(ctx, a); err != nil {
			b.Fatal(err)
		}
		lat = append(lat, time.Since(t0))
	}
	b.StopTimer()
	slices.Sort(lat)
	b.ReportMetric(float64(lat[len(lat)/2].Nanoseconds()), "p50-ns")
	b.ReportMetric(float64(lat[len(lat)*99/100].Nanoseconds()), "p99-ns")
}
