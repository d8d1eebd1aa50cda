package detect_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/vigil-audit/vigil/internal/detect"
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
