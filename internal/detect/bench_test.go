package detect_test

import (
	"context"
	"io/fs"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/vigil-audit/vigil/internal/detect"
	"github.com/vigil-audit/vigil/internal/detect/builtin"
	"github.com/vigil-audit/vigil/internal/detect/correlate"
	"github.com/vigil-audit/vigil/internal/detect/sigma"
	"github.com/vigil-audit/vigil/internal/event"
	"github.com/vigil-audit/vigil/internal/ingest"
	"github.com/vigil-audit/vigil/internal/ingest/cloudtrail"
	"github.com/vigil-audit/vigil/internal/ingest/github"
	"github.com/vigil-audit/vigil/internal/ingest/ingesttest"
	"github.com/vigil-audit/vigil/internal/ingest/k8saudit"
)

// BenchmarkAppendToWebhook measures, with the runner polling as in serve, the
// time from an Append returning (the event durable) to its alert arriving at
// a webhook; each op is one alert.
func BenchmarkAppendToWebhook(b *testing.B) {
	e := newEnv(b)
	var mu sync.Mutex
	arrived := make(chan time.Time, 1)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		defer mu.Unlock()
		arrived <- time.Now()
	}))
	defer srv.Close()
	runner := &detect.Runner{Log: e.log, Rules: e.eng, Sinks: []detect.Sink{&detect.Webhook{URL: srv.URL}}, Suppress: time.Nanosecond}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go runner.Run(ctx)
	lat := make([]time.Duration, 0, b.N)
	base := time.Now()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		e.trail("user", "StopLogging", base.Add(time.Duration(i)*time.Second))
		done := time.Now()
		select {
		case at := <-arrived:
			lat = append(lat, at.Sub(done))
		case <-time.After(10 * time.Second):
			b.Fatal("alert not delivered")
		}
	}
	slices.Sort(lat)
	b.ReportMetric(float64(lat[len(lat)/2].Microseconds())/1e3, "p50-ms")
	b.ReportMetric(float64(lat[len(lat)*99/100].Microseconds())/1e3, "p99-ms")
}

// BenchmarkDetector measures detection throughput on one core's worth of
// work: every SigmaHQ AWS, Kubernetes and GitHub rule of the corpus plus
// Vigil's built-in detections and correlations, over the corpus's real
// CloudTrail, GitHub and Kubernetes records (each event starts from its raw
// JSON). Run with -cpu 1.
func BenchmarkDetector(b *testing.B) {
	root := ingesttest.Corpus(b, "sigma")
	var rules []*sigma.Rule
	for _, dir := range []string{"cloud/aws/cloudtrail", "application/kubernetes/audit", "application/github/audit"} {
		filepath.WalkDir(filepath.Join(root, "rules", dir), func(p string, d fs.DirEntry, err error) error {
			if err != nil || d.IsDir() || !strings.HasSuffix(p, ".yml") {
				return err
			}
			data, _ := os.ReadFile(p)
			c, err := sigma.ParseAll(data, p)
			if err != nil {
				b.Fatal(err)
			}
			rules = append(rules, c.Rules...)
			return nil
		})
	}
	bi, err := builtin.Rules()
	if err != nil {
		b.Fatal(err)
	}
	corrs, err := builtin.Correlations()
	if err != nil {
		b.Fatal(err)
	}
	eng, err := sigma.NewEngine(append(rules, bi...), sigma.Options{})
	if err != nil {
		b.Fatal(err)
	}
	ce, err := correlate.New(corrs, correlate.Options{})
	if err != nil {
		b.Fatal(err)
	}
	var evs []event.Event
	var bytes int64
	collect := func(p ingest.Parser, dir string) {
		ingest.ParsePaths(p, []string{dir}, func(ev event.Event) error {
			if err := ev.Normalize(ev.Time); err == nil {
				evs = append(evs, ev)
				bytes += int64(len(ev.Raw))
			}
			return nil
		})
	}
	collect(&cloudtrail.Parser{}, ingesttest.Corpus(b, "cloudtrail"))
	collect(&github.Parser{}, filepath.Join(ingesttest.Corpus(b, "github"), "elastic"))
	collect(&k8saudit.Parser{}, filepath.Join(ingesttest.Corpus(b, "k8saudit"), "falco"))
	det := &detect.Detector{Rules: eng, Correlations: ce}
	b.SetBytes(bytes / int64(len(evs)))
	b.ResetTimer()
	base := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	for i := 0; i < b.N; i++ {
		ev := evs[i%len(evs)]
		ev.Time = base.Add(time.Duration(i) * time.Millisecond) // a stream: time moves on
		det.Evaluate(&ev)
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "events/s")
	b.ReportMetric(float64(len(eng.Rules())), "rules")
}
