package alerts

import "github.com/prometheus/client_golang/prometheus"

// WatchDropped exports, as mtguard_observer_dropped_total{observer=name}, how many committed
// calls an observer fed like the alert engine (journeys, drift, read-back) could not keep up
// with and left out; the log has them all the same.
func (m *Metrics) WatchDropped(observer string, dropped func() int64) {
	if m == nil {
		return
	}
	m.reg.MustRegister(prometheus.NewCounterFunc(prometheus.CounterOpts{
		Name:        "mtguard_observer_dropped_total",
		Help:        "Committed calls an observer (journeys, drift, read-back) could not keep up with and left out.",
		ConstLabels: prometheus.Labels{"observer": observer},
	}, func() float64 { return float64(dropped()) }))
}
