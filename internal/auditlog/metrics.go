package auditlog

import (
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// Metrics are the audit log's Prometheus collectors. A nil *Metrics records nothing.
type Metrics struct {
	appended  prometheus.Counter
	batches   prometheus.Histogram
	commitDur prometheus.Histogram
	writeDur  prometheus.Histogram
	failures  prometheus.Counter
	size      prometheus.Gauge
}

// NewMetrics creates the collectors and registers them with reg.
func NewMetrics(reg prometheus.Registerer) *Metrics {
	m := &Metrics{
		appended: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "vigil_auditlog_appended_events_total",
			Help: "Events durably appended to the audit log.",
		}),
		batches: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "vigil_auditlog_batch_events",
			Help:    "Events per group commit.",
			Buckets: prometheus.ExponentialBuckets(1, 2, 14),
		}),
		commitDur: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "vigil_auditlog_commit_seconds",
			Help:    "From a batch's first event to the batch being durable: waiting for the writer, signing, store transaction and fsync.",
			Buckets: prometheus.ExponentialBuckets(50e-6, 2, 16),
		}),
		writeDur: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "vigil_auditlog_store_write_seconds",
			Help:    "One group commit's store transaction, its fsync included.",
			Buckets: prometheus.ExponentialBuckets(25e-6, 2, 16),
		}),
		failures: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "vigil_auditlog_commit_failures_total",
			Help: "Group commits that failed; their appends were refused.",
		}),
		size: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "vigil_auditlog_size",
			Help: "Entries in the audit log.",
		}),
	}
	reg.MustRegister(m.appended, m.batches, m.commitDur, m.writeDur, m.failures, m.size)
	return m
}

func (m *Metrics) committed(n int, d time.Duration, size uint64) {
	if m == nil {
		return
	}
	m.appended.Add(float64(n))
	m.batches.Observe(float64(n))
	m.commitDur.Observe(d.Seconds())
	m.size.Set(float64(size))
}

func (m *Metrics) stored(d time.Duration) {
	if m != nil {
		m.writeDur.Observe(d.Seconds())
	}
}

func (m *Metrics) commitFailed() {
	if m != nil {
		m.failures.Inc()
	}
}

func (m *Metrics) setSize(n uint64) {
	if m != nil {
		m.size.Set(float64(n))
	}
}
