package policy

import "github.com/prometheus/client_golang/prometheus"

// RegisterMetrics exports the classification caches' counters on reg:
// vigil_policy_classifications_total by result (exact_hit, shape_hit,
// miss) and vigil_policy_shape_shared_total, the misses cached by shape.
func (e *Engine) RegisterMetrics(reg prometheus.Registerer) error {
	results := map[string]func(CacheStats) int64{
		"exact_hit": func(s CacheStats) int64 { return s.ExactHits },
		"shape_hit": func(s CacheStats) int64 { return s.ShapeHits },
		"miss":      func(s CacheStats) int64 { return s.Misses },
	}
	for result, get := range results {
		c := prometheus.NewCounterFunc(prometheus.CounterOpts{
			Name:        "vigil_policy_classifications_total",
			Help:        "Actions of kinds with a classification cache, by how their classification was found: the same text before (exact_hit), a text of the same shape (shape_hit), or classified afresh (miss).",
			ConstLabels: prometheus.Labels{"result": result},
		}, func() float64 { return float64(get(e.CacheStats())) })
		if err := reg.Register(c); err != nil {
			return err
		}
	}
	return reg.Register(prometheus.NewCounterFunc(prometheus.CounterOpts{
		Name: "vigil_policy_shape_shared_total",
		Help: "Classifications made afresh that were admitted to the shape cache (the classifier proved their literals' values do not matter).",
	}, func() float64 { return float64(e.CacheStats().Shared) }))
}
