package alerts

import (
	"net/http"
	"sync"
	"time"

	"github.com/mtguard/mtguard/store"
	"github.com/mtguard/mtguard/txn"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// Label values for calls that matched no configured route. Route names cannot contain
// parentheses, so these never collide with one.
const (
	noRouteLabel    = "(none)"
	otherRouteLabel = "(other)"
	otherCodeLabel  = "(other)"
	// maxCodesPerRoute bounds the finding codes counted per route: codes come from the
	// catalogue, but a label set must stay bounded whatever a bug emits.
	maxCodesPerRoute = 64
)

// ThrottleStats is what the throttler reports about its queues, for throttle rules and
// /metrics. main wires the throttler in when there is one; nil means no throttling.
type ThrottleStats interface {
	// QueueStats returns every throttle group's queue now. It is called every few seconds and
	// at every scrape, so it must be cheap and must not block.
	QueueStats() []QueueStat
}

// QueueStat is one throttle group's queue at a moment.
type QueueStat struct {
	Group  string   // the limits group, e.g. marketo-prod
	Routes []string // the routes that share it
	Depth  int      // calls waiting
	// Saturation is how close the queue is to turning calls away, from 0 to 1: the throttler
	// decides, e.g. the oldest wait over max_wait, or depth over capacity.
	Saturation float64
	Paused     bool // a vendor limit signal paused the group
}

// MetricsConfig is where the metrics that are not per call come from (see Metrics.Watch).
// Nil fields are left out.
type MetricsConfig struct {
	// StoreSize returns the size of the transaction log in bytes: the bbolt file, or
	// mtguard's tables in PostgreSQL.
	StoreSize func() int64
	// StoreCommits and StoreCommitFailures count the store's group commits since start.
	StoreCommits, StoreCommitFailures func() int64
	// StoreWriteErrors counts the calls whose intent or outcome could not be written, or that
	// were refused because the store could not write (store.on_error: reject).
	StoreWriteErrors func() int64
	// StoreWriteFailures counts the store's failed writes by kind (journal, commit, segment);
	// StoreHeldWrites is how many writes wait in memory for bbolt; StoreHealthy is nil while
	// the store writes.
	StoreWriteFailures func() store.WriteFailures
	StoreHeldWrites    func() int64
	StoreHealthy       func() error
	// Throttle reports the throttler's queues.
	Throttle ThrottleStats
}

// Metrics are mtguard's Prometheus metrics, on their own registry (no global state). Every
// label value is a configured route, an outcome, a finding code, a rule kind or a sink name:
// never a record key or a path.
type Metrics struct {
	reg           *prometheus.Registry
	calls         *prometheus.CounterVec
	findings      *prometheus.CounterVec
	duration      *prometheus.HistogramVec
	upstream      *prometheus.HistogramVec
	wait          *prometheus.HistogramVec
	record        *prometheus.HistogramVec
	lastDelivery  *prometheus.GaugeVec
	firing        *prometheus.GaugeVec
	notifications *prometheus.CounterVec

	mu       sync.Mutex
	unrouted map[string]*routeMetrics // (none), (other)
}

// routeMetrics are one route's metric handles, resolved once so that a call costs no label
// lookups.
type routeMetrics struct {
	m            *Metrics
	label        string
	calls        map[txn.Outcome]prometheus.Counter
	codes        map[string]prometheus.Counter // guarded by the engine's lock
	duration     prometheus.Observer
	upstream     prometheus.Observer
	wait         prometheus.Observer
	record       prometheus.Observer
	lastDelivery prometheus.Gauge
}

// NewMetrics returns the metrics, with the Go runtime and process collectors.
func NewMetrics() *Metrics {
	latency := []float64{.005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 30, 60}
	m := &Metrics{
		reg: prometheus.NewRegistry(),
		calls: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "mtguard_calls_total", Help: "Calls recorded, by route and outcome.",
		}, []string{"route", "outcome"}),
		findings: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "mtguard_findings_total", Help: "Findings on recorded calls, by route and finding code.",
		}, []string{"route", "code"}),
		duration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "mtguard_call_duration_seconds", Help: "Time from receiving a call to recording its outcome, by route.", Buckets: latency,
		}, []string{"route"}),
		upstream: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "mtguard_upstream_duration_seconds", Help: "Vendor latency of calls the vendor answered or timed out on, by route.", Buckets: latency,
		}, []string{"route"}),
		wait: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "mtguard_throttle_wait_seconds", Help: "Time calls waited in the throttle queue, by route (only calls that waited).", Buckets: latency,
		}, []string{"route"}),
		record: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "mtguard_record_duration_seconds", Help: "Time calls waited for their request to be durably recorded (journal write and fsync) before forwarding, by route.", Buckets: latency,
		}, []string{"route"}),
		lastDelivery: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "mtguard_last_delivery_timestamp_seconds", Help: "Unix time of the route's last delivered call.",
		}, []string{"route"}),
		firing: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "mtguard_alerts_firing", Help: "1 while an alert of this route and rule fires.",
		}, []string{"route", "kind"}),
		notifications: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "mtguard_alert_notifications_total", Help: "Alert notifications by sink and result (sent, failed after retries, dropped).",
		}, []string{"sink", "result"}),
		unrouted: map[string]*routeMetrics{},
	}
	m.reg.MustRegister(m.calls, m.findings, m.duration, m.upstream, m.wait, m.record, m.lastDelivery, m.firing, m.notifications,
		collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	return m
}

// Watch exports the store's and the throttler's figures, read at every scrape. Call it once,
// when they exist (the metrics are created before the store, which feeds them).
func (m *Metrics) Watch(cfg MetricsConfig) {
	counterFunc := func(name, help string, f func() int64) {
		if f != nil {
			m.reg.MustRegister(prometheus.NewCounterFunc(prometheus.CounterOpts{Name: name, Help: help}, func() float64 { return float64(f()) }))
		}
	}
	counterFunc("mtguard_store_commits_total", "Group commits of the transaction log.", cfg.StoreCommits)
	counterFunc("mtguard_store_commit_failures_total", "Group commits of the transaction log that failed.", cfg.StoreCommitFailures)
	counterFunc("mtguard_store_write_errors_total", "Calls whose request or outcome could not be written to the transaction log.", cfg.StoreWriteErrors)
	if f := cfg.StoreWriteFailures; f != nil {
		for op, get := range map[string]func(store.WriteFailures) int64{
			store.OpJournal: func(w store.WriteFailures) int64 { return w.Journal },
			store.OpCommit:  func(w store.WriteFailures) int64 { return w.Commit },
			store.OpSegment: func(w store.WriteFailures) int64 { return w.Segment },
		} {
			m.reg.MustRegister(prometheus.NewCounterFunc(prometheus.CounterOpts{
				Name: "mtguard_store_write_failures_total", ConstLabels: prometheus.Labels{"op": op},
				Help: "Failed writes of the transaction log, by kind: journal (append and fdatasync), commit (bbolt), segment (a new journal segment). Each is logged and retried.",
			}, func() float64 { return float64(get(f())) }))
		}
	}
	if cfg.StoreHeldWrites != nil {
		m.reg.MustRegister(prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name: "mtguard_store_held_writes", Help: "Writes (requests and outcomes) kept in memory because bbolt could not commit them; applied once it can.",
		}, func() float64 { return float64(cfg.StoreHeldWrites()) }))
	}
	if cfg.StoreHealthy != nil {
		m.reg.MustRegister(prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name: "mtguard_store_healthy", Help: "1 while every write of the transaction log succeeds, 0 while one fails (readiness fails too).",
		}, func() float64 {
			if cfg.StoreHealthy() != nil {
				return 0
			}
			return 1
		}))
	}
	if cfg.StoreSize != nil {
		m.reg.MustRegister(prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name: "mtguard_store_size_bytes", Help: "Size of the transaction log: the bbolt file, or mtguard's tables in PostgreSQL with their indexes.",
		}, func() float64 { return float64(cfg.StoreSize()) }))
	}
	if cfg.Throttle != nil {
		m.reg.MustRegister(newThrottleCollector(cfg.Throttle))
	}
}

// Handler serves the metrics in the Prometheus text format.
func (m *Metrics) Handler() http.Handler {
	return promhttp.HandlerFor(m.reg, promhttp.HandlerOpts{Registry: m.reg})
}

// Registry is where the metrics are registered, for adding collectors of other parts.
func (m *Metrics) Registry() *prometheus.Registry { return m.reg }

// route returns the handles of a configured route; nil metrics give nil handles.
func (m *Metrics) route(label string) *routeMetrics {
	if m == nil {
		return nil
	}
	rm := &routeMetrics{
		m: m, label: label,
		calls:        map[txn.Outcome]prometheus.Counter{},
		codes:        map[string]prometheus.Counter{},
		duration:     m.duration.WithLabelValues(label),
		upstream:     m.upstream.WithLabelValues(label),
		wait:         m.wait.WithLabelValues(label),
		record:       m.record.WithLabelValues(label),
		lastDelivery: m.lastDelivery.WithLabelValues(label),
	}
	for _, o := range txn.Outcomes {
		// A pending call is still in flight: the engine only ever sees settled calls (a pending
		// one found on start settles as interrupted), so its series would read 0 forever and
		// name an outcome that docs/findings.md rightly does not list.
		if o != txn.OutcomePending {
			rm.calls[o] = m.calls.WithLabelValues(label, string(o))
		}
	}
	return rm
}

// watchEngine exports the engine's own counters.
func (m *Metrics) watchEngine(e *Engine) {
	if m == nil {
		return
	}
	m.reg.MustRegister(prometheus.NewCounterFunc(prometheus.CounterOpts{
		Name: "mtguard_alert_observations_dropped_total",
		Help: "Recorded calls the alert engine could not keep up with (its queue was full).",
	}, func() float64 { return float64(e.Dropped()) }))
}

// observe counts one call; rs is nil for a call of no configured route. The engine's lock is
// held.
func (m *Metrics) observe(rs *routeState, o observation) {
	if m == nil {
		return
	}
	var rm *routeMetrics
	if rs != nil {
		rm = rs.m
	} else {
		label := otherRouteLabel
		if o.route == "" {
			label = noRouteLabel
		}
		m.mu.Lock()
		rm = m.unrouted[label]
		if rm == nil {
			rm = m.route(label)
			m.unrouted[label] = rm
		}
		m.mu.Unlock()
	}
	if c := rm.calls[o.outcome]; c != nil {
		c.Inc()
	}
	for i := range o.findings {
		code := o.findings[i].Code
		c := rm.codes[code]
		if c == nil {
			label := code
			if len(rm.codes) >= maxCodesPerRoute || !validCode(code) {
				label = otherCodeLabel
			}
			c = m.findings.WithLabelValues(rm.label, label)
			if len(rm.codes) < maxCodesPerRoute {
				rm.codes[code] = c
			}
		}
		c.Inc()
	}
	rm.duration.Observe(o.durMS / 1000)
	if o.latencyMS >= 0 {
		rm.upstream.Observe(o.latencyMS / 1000)
	}
	if o.waitMS > 0 {
		rm.wait.Observe(o.waitMS / 1000)
	}
	if o.recordMS > 0 {
		rm.record.Observe(o.recordMS / 1000)
	}
}

// validCode accepts the shape of catalogue codes: dotted lower-case words.
func validCode(s string) bool {
	if s == "" || len(s) > 64 {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '.' || c == '_') {
			return false
		}
	}
	return true
}

func (rm *routeMetrics) delivered(t time.Time) {
	if rm != nil {
		rm.lastDelivery.Set(float64(t.UnixNano()) / 1e9)
	}
}

func (m *Metrics) setFiring(route, kind string, v float64) {
	if m != nil {
		m.firing.WithLabelValues(route, kind).Set(v)
	}
}

func (m *Metrics) notified(sink, result string) {
	if m != nil {
		m.notifications.WithLabelValues(sink, result).Inc()
	}
}

// throttleCollector reads the throttler's queues at scrape time.
type throttleCollector struct {
	t                  ThrottleStats
	depth, sat, paused *prometheus.Desc
}

func newThrottleCollector(t ThrottleStats) throttleCollector {
	group := []string{"group"}
	return throttleCollector{
		t:      t,
		depth:  prometheus.NewDesc("mtguard_throttle_queue_depth", "Calls waiting in the throttle queue, by limits group.", group, nil),
		sat:    prometheus.NewDesc("mtguard_throttle_queue_saturation", "How full the throttle queue is, from 0 to 1, by limits group.", group, nil),
		paused: prometheus.NewDesc("mtguard_throttle_paused", "1 while a vendor limit signal pauses the group.", group, nil),
	}
}

func (c throttleCollector) Describe(ch chan<- *prometheus.Desc) {
	ch <- c.depth
	ch <- c.sat
	ch <- c.paused
}

func (c throttleCollector) Collect(ch chan<- prometheus.Metric) {
	for _, q := range c.t.QueueStats() {
		paused := 0.0
		if q.Paused {
			paused = 1
		}
		ch <- prometheus.MustNewConstMetric(c.depth, prometheus.GaugeValue, float64(q.Depth), q.Group)
		ch <- prometheus.MustNewConstMetric(c.sat, prometheus.GaugeValue, q.Saturation, q.Group)
		ch <- prometheus.MustNewConstMetric(c.paused, prometheus.GaugeValue, paused, q.Group)
	}
}
