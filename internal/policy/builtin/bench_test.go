package builtin

import (
	"context"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/vigil-audit/vigil/internal/classify"
	"github.com/vigil-audit/vigil/internal/policy"
)

// BenchmarkClassifyDecide measures one typical action end to end with every
// built-in pack loaded: classification by the real parser, then the decision;
// and the decision alone on attributes classified beforehand.
func BenchmarkClassifyDecide(b *testing.B) {
	e, _ := newEngine(b, policy.Defaults{})
	actions := map[string]*classify.Action{
		"sql":   {Kind: classify.KindSQL, Environment: "production", Actor: classify.Actor{User: "alice"}, SQL: "UPDATE accounts SET balance = balance - $1 WHERE id = $2"},
		"shell": {Kind: classify.KindShell, Environment: "production", Actor: classify.Actor{User: "alice"}, Command: "sudo systemctl restart nginx && tail -n 100 /var/log/nginx/error.log | grep -i timeout"},
	}
	for _, kind := range []string{"sql", "shell"} {
		a := actions[kind]
		report := func(b *testing.B, lat []time.Duration) {
			slices.Sort(lat)
			b.ReportMetric(float64(lat[len(lat)/2].Nanoseconds())/1e3, "p50-µs")
			b.ReportMetric(float64(lat[len(lat)*99/100].Nanoseconds())/1e3, "p99-µs")
		}
		b.Run(kind+"/classify+decide-new-text", func(b *testing.B) {
			// Every action's text differs (a trailing comment), so each one
			// is parsed: the cold path. The texts are made before the
			// clock starts, so that the harness adds no garbage of its own
			// to what the GC has to collect while it runs.
			texts := make([]string, b.N)
			for i := range texts {
				if kind == "sql" {
					texts[i] = fmt.Sprintf("%s -- %d", a.SQL, i)
				} else {
					texts[i] = fmt.Sprintf("%s # %d", a.Command, i)
				}
			}
			ai := *a
			lat := make([]time.Duration, 0, b.N)
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				if kind == "sql" {
					ai.SQL = texts[i]
				} else {
					ai.Command = texts[i]
				}
				t0 := time.Now()
				d, err := e.Decide(context.Background(), &ai)
				lat = append(lat, time.Since(t0))
				if err != nil || d.Effect != policy.EffectAllow {
					b.Fatalf("%v %v", d, err)
				}
			}
			report(b, lat)
		})
		if kind == "sql" {
			b.Run(kind+"/classify+decide-new-literals", func(b *testing.B) {
				// Every text differs only in its literals, as pgbench's
				// simple protocol and ORMs that inline values send them:
				// the first is classified, the others are found by their
				// shape (the scanner's tokens, constants left out). The
				// new-text case above stays the worst case: its trailing
				// comment is part of the shape, so each of its texts is a
				// new shape.
				texts := make([]string, b.N)
				for i := range texts {
					texts[i] = fmt.Sprintf("UPDATE accounts SET balance = balance - %d WHERE id = %d", i%9973+1, i)
				}
				ai := *a
				lat := make([]time.Duration, 0, b.N)
				before := e.CacheStats()
				b.ResetTimer()
				for i := 0; i < b.N; i++ {
					ai.SQL = texts[i]
					t0 := time.Now()
					d, err := e.Decide(context.Background(), &ai)
					lat = append(lat, time.Since(t0))
					if err != nil || d.Effect != policy.EffectAllow {
						b.Fatalf("%v %v", d, err)
					}
				}
				b.StopTimer()
				if hits := e.CacheStats().ShapeHits - before.ShapeHits; hits < int64(b.N)-1 {
					b.Fatalf("%d shape hits for %d texts", hits, b.N)
				}
				report(b, lat)
			})
		}
		b.Run(kind+"/classify+decide-repeated-text", func(b *testing.B) {
			// The same text again and again: classified once, decided each time.
			lat := make([]time.Duration, 0, b.N)
			for i := 0; i < b.N; i++ {
				t0 := time.Now()
				d, err := e.Decide(context.Background(), a)
				lat = append(lat, time.Since(t0))
				if err != nil || d.Effect != policy.EffectAllow {
					b.Fatalf("%v %v", d, err)
				}
			}
			report(b, lat)
		})
		b.Run(kind+"/decide", func(b *testing.B) {
			d, err := e.Decide(context.Background(), a)
			if err != nil {
				b.Fatal(err)
			}
			attrs, _ := d.Attrs[kind].(map[string]any)
			lat := make([]time.Duration, 0, b.N)
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				t0 := time.Now()
				d := e.DecideAttrs(a, attrs)
				lat = append(lat, time.Since(t0))
				if d.Effect != policy.EffectAllow {
					b.Fatal(d)
				}
			}
			report(b, lat)
		})
	}
}
