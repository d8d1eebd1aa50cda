package policy

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"testing"
	"testing/fstest"

	"github.com/vigil-audit/vigil/internal/classify"
)

// TestAttrMapSemantics: the lazy CEL view of classifier attributes behaves
// as a CEL map for every way a rule can read it.
func TestAttrMapSemantics(t *testing.T) {
	exprs := map[string]bool{
		`sql.flag == true`:                                             true,
		`sql.?missing.orValue(false) == false`:                         true,
		`has(sql.flag) && !has(sql.missing)`:                           true,
		`"flag" in sql && !("missing" in sql)`:                         true,
		`size(sql) == 6`:                                               true,
		`sql.name == "x" && sql.n == 2.0 && sql.none == null`:          true,
		`sql.list.exists(s, s.command == "DELETE" && "t" in s.tables)`: true,
		`sql.list.all(s, s.command == "SELECT")`:                       false,
		`sql.list[0].tables == ["t"]`:                                  true,
		`sql.exists(k, k == "flag") && sql.all(k, k != "other")`:       true,
		`sql.list[0] == {"command": "DELETE", "tables": ["t"]}`:        true,
		`sql.list[0] != {"command": "DELETE"}`:                         true,
		`type(sql) == map && type(sql.list[0]) == map`:                 true,
	}
	var y strings.Builder
	y.WriteString("rules:\n")
	ids := map[string]string{}
	i := 0
	for expr := range exprs {
		id := fmt.Sprintf("r%d", i)
		ids[id] = expr
		fmt.Fprintf(&y, "  - id: %s\n    match: %q\n    effect: log\n", id, expr)
		i++
	}
	rs, err := Load(fstest.MapFS{"r.yaml": {Data: []byte(y.String())}}, "r.yaml")
	if err != nil {
		t.Fatal(err)
	}
	e := NewEngine(rs, Defaults{})
	attrs := map[string]any{
		"flag": true, "name": "x", "n": 2.0, "none": nil,
		"list": []any{map[string]any{"command": "DELETE", "tables": []any{"t"}}},
		"more": []any{},
	}
	e.Register(classify.KindSQL, func(*classify.Action) (map[string]any, error) { return attrs, nil })
	check := func() error {
		d, err := e.Decide(context.Background(), &classify.Action{Kind: classify.KindSQL, SQL: "x"})
		if err != nil {
			return err
		}
		got := map[string]bool{}
		for _, r := range d.Rules {
			if strings.Contains(r.Message, "evaluation error") {
				return fmt.Errorf("%s: %s", ids[r.ID], r.Message)
			}
			got[r.ID] = true
		}
		for id, expr := range ids {
			if got[id] != exprs[expr] {
				return fmt.Errorf("%s: matched %v, want %v", expr, got[id], exprs[expr])
			}
		}
		return nil
	}
	// The first decision converts; later ones (cached view) reuse, also
	// concurrently.
	if err := check(); err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	errs := make(chan error, 8)
	for range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range 50 {
				if err := check(); err != nil {
					errs <- err
					return
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
}
