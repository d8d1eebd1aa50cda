package auditlog_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"runtime/debug"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/vigil-audit/vigil/internal/auditlog"
	"github.com/vigil-audit/vigil/internal/event"
	"github.com/vigil-audit/vigil/internal/pgtest"
	"github.com/vigil-audit/vigil/internal/store"
	"github.com/vigil-audit/vigil/internal/store/postgres"
	"github.com/vigil-audit/vigil/internal/store/sqlite"
)

func TestMain(m *testing.M) { os.Exit(pgtest.Main(m)) }

// benchEvent is a realistic gateway event: about 500 bytes encoded.
func benchEvent(i int) event.Event {
	return event.Event{
		Source: "gateway/postgres", ClassUID: event.ClassDatastoreActivity, Activity: "update",
		Actor: event.Actor{User: fmt.Sprintf("user-%d", i%50), Roles: []string{"developer"}, Type: "human",
			SrcIP: "10.1.2.3", SessionID: "s-0123456789abcdef"},
		Action:   "UPDATE",
		Resource: event.Resource{Type: "table", Name: "public.accounts", Environment: "production"},
		Target:   "prod-db",
		Outcome:  "success",
		Decision: &event.Decision{Effect: "allow"},
		Attrs: map[string]any{
			"sql.statement":   "UPDATE accounts SET balance = balance - $1 WHERE id = $2",
			"sql.fingerprint": "a1b2c3d4e5f60718",
			"sql.tables":      []string{"public.accounts"},
		},
	}
}

type opener func(b *testing.B) store.Store

func benchStores() map[string]opener {
	return map[string]opener{
		"sqlite": func(b *testing.B) store.Store {
			s, err := sqlite.Open(context.Background(), filepath.Join(b.TempDir(), "vigil.db"))
			if err != nil {
				b.Fatal(err)
			}
			return s
		},
		"postgres": func(b *testing.B) store.Store {
			dsn := pgtest.Shared(b).NewDB(b)
			s, err := postgres.Open(context.Background(), dsn, "vigil.bench/log")
			if err != nil {
				b.Fatal(err)
			}
			return s
		},
	}
}

// BenchmarkAppend measures durable appends of single events by concurrent
// appenders: throughput (events/s) and each append's latency (p50, p99).
func BenchmarkAppend(b *testing.B) {
	// vigil serve runs with GOGC=400 unless GOGC is set (internal/cli); measure
	// the same way, unless the environment says otherwise.
	if os.Getenv("GOGC") == "" {
		defer debug.SetGCPercent(debug.SetGCPercent(400))
	}
	for _, backend := range []string{"sqlite", "postgres"} {
		open := benchStores()[backend]
		for _, appenders := range []int{1, 16, 256} {
			b.Run(fmt.Sprintf("%s/appenders=%d", backend, appenders), func(b *testing.B) {
				st := open(b)
				dir := b.TempDir()
				s, v, err := auditlog.LoadOrCreateKey(dir, "vigil.bench/log")
				if err != nil {
					b.Fatal(err)
				}
				l, err := auditlog.Open(context.Background(), auditlog.Options{Store: st, Signer: s, Verifier: v})
				if err != nil {
					b.Fatal(err)
				}
				defer func() { l.Close(); st.Close() }()
				ctx := context.Background()
				// Events are built before the clock starts, as a caller would
				// have its event in hand; each Append gets a copy whose ID and
				// time the log fills in.
				templates := make([]event.Event, 64)
				for i := range templates {
					templates[i] = benchEvent(i)
				}
				var next atomic.Int64
				lat := make([][]time.Duration, appenders)
				var wg sync.WaitGroup
				b.ResetTimer()
				start := time.Now()
				for g := 0; g < appenders; g++ {
					wg.Add(1)
					go func() {
						defer wg.Done()
						for {
							i := int(next.Add(1))
							if i > b.N {
								return
							}
							e := []event.Event{templates[i%len(templates)]}
							t0 := time.Now()
							if _, err := l.Append(ctx, e); err != nil {
								b.Error(err)
								return
							}
							lat[g] = append(lat[g], time.Since(t0))
						}
					}()
				}
				wg.Wait()
				elapsed := time.Since(start)
				b.StopTimer()
				all := slices.Concat(lat...)
				slices.Sort(all)
				if len(all) > 0 {
					b.ReportMetric(float64(len(all))/elapsed.Seconds(), "events/s")
					b.ReportMetric(float64(all[len(all)/2].Microseconds()), "p50-µs")
					b.ReportMetric(float64(all[len(all)*99/100].Microseconds()), "p99-µs")
				}
			})
		}
	}
}

// BenchmarkVerify1M builds a log of one million events (appended in batches of
// 1000) on each backend and measures a full Verify of it. With VIGIL_BENCH_DIR
// set, the SQLite log is built in that (new) directory and kept, so that the
// command `vigil audit verify --data DIR` can be timed on it.
func BenchmarkVerify1M(b *testing.B) {
	const total, per = 1_000_000, 1000
	for _, backend := range []string{"sqlite", "postgres"} {
		b.Run(backend, func(b *testing.B) {
			ctx := context.Background()
			dir := os.Getenv("VIGIL_BENCH_DIR")
			var st store.Store
			var err error
			switch {
			case backend == "postgres":
				dir = b.TempDir()
				st = benchStores()["postgres"](b)
			case dir == "":
				dir = b.TempDir()
				fallthrough
			default:
				if err := os.MkdirAll(dir, 0o700); err != nil {
					b.Fatal(err)
				}
				if st, err = sqlite.Open(ctx, filepath.Join(dir, "vigil.db")); err != nil {
					b.Fatal(err)
				}
			}
			defer st.Close()
			s, v, err := auditlog.LoadOrCreateKey(dir, "vigil.bench/log")
			if err != nil {
				b.Fatal(err)
			}
			l, err := auditlog.Open(ctx, auditlog.Options{Store: st, Signer: s, Verifier: v, MaxBatch: per})
			if err != nil {
				b.Fatal(err)
			}
			for i := 0; i < total; i += per {
				evs := make([]event.Event, per)
				for k := range evs {
					evs[k] = benchEvent(i + k)
				}
				if _, err := l.Append(ctx, evs); err != nil {
					b.Fatal(err)
				}
			}
			l.Close()
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				rep, err := auditlog.Verify(ctx, st, v, nil)
				if err != nil {
					b.Fatal(err)
				}
				if !rep.OK() || rep.Entries != total {
					b.Fatalf("verify: %d entries, problems %v", rep.Entries, rep.Problems)
				}
			}
			b.ReportMetric(b.Elapsed().Seconds()/float64(b.N), "s/verify")
		})
	}
}
