package policy_test

import (
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
)

func TestRegisterMetrics(t *testing.T) {
	e := builtinEngine(t)
	reg := prometheus.NewRegistry()
	if err := e.RegisterMetrics(reg); err != nil {
		t.Fatal(err)
	}
	for _, text := range []string{
		"SELECT abalance FROM pgbench_accounts WHERE aid = 1",
		"SELECT abalance FROM pgbench_accounts WHERE aid = 2", // same shape
		"SELECT abalance FROM pgbench_accounts WHERE aid = 1", // the first text again
	} {
		decide(t, e, sqlAction(text))
	}
	want := `
# HELP vigil_policy_classifications_total Actions of kinds with a classification cache, by how their classification was found: the same text before (exact_hit), a text of the same shape (shape_hit), or classified afresh (miss).
# TYPE vigil_policy_classifications_total counter
vigil_policy_classifications_total{result="exact_hit"} 1
vigil_policy_classifications_total{result="miss"} 1
vigil_policy_classifications_total{result="shape_hit"} 1
# HELP vigil_policy_shape_shared_total Classifications made afresh that were admitted to the shape cache (the classifier proved their literals' values do not matter).
# TYPE vigil_policy_shape_shared_total counter
vigil_policy_shape_shared_total 1
`
	if err := testutil.GatherAndCompare(reg, strings.NewReader(want)); err != nil {
		t.Fatal(err)
	}
}
