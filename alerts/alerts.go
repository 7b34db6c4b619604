package alerts

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/rs/zerolog"

	"github.com/mtguard/mtguard/store"
	"github.com/mtguard/mtguard/txn"
)

// ErrAlertNotFound means no alert, firing or in the history, has the requested id.
var ErrAlertNotFound = errors.New("alert not found")

// Defaults of Config.
const (
	// DefaultRenotify is how often a firing alert that nobody acknowledged is sent again.
	DefaultRenotify = 4 * time.Hour
	// DefaultAlertBuffer is how many recorded calls may wait for the engine before it drops
	// (and counts) the next ones rather than hold up the store's committer.
	DefaultAlertBuffer = 8192
	// DefaultTick is how often time-based rules (silence, draining windows, reminders) are
	// evaluated.
	DefaultTick = 10 * time.Second
	// DefaultRebuildLimit caps how many recent calls per route are read back from the log on
	// start.
	DefaultRebuildLimit = 20000
	// closeGrace bounds how long Close waits for notifications still being sent.
	closeGrace = 5 * time.Second
)

// RouteAlerts is one route as the alert engine sees it.
type RouteAlerts struct {
	Route string
	// Owner is named in every alert of the route: the one person who responds.
	Owner string
	// Sinks names the sinks the route's alerts go to. If nil, every sink; if empty, the log only.
	Sinks []string
	Rules Rules
}

// Store is what the engine needs of the store: the recent log to rebuild its state on
// start and the alert history. *store.Store satisfies it.
type Store interface {
	// Query reads a page of the log, as the admin API does.
	Query(ctx context.Context, q store.Query) (store.Page, error)
	PutAlert(a store.Alert) error
	GetAlert(id string) (store.Alert, bool, error)
	Alerts(q store.AlertQuery) ([]store.Alert, error)
}

var _ Store = (*store.Store)(nil)

// Config configures the alert engine. Zero fields fall back to the stated defaults.
type Config struct {
	// Routes are the configured routes, in config order.
	Routes []RouteAlerts
	// Sinks receive notifications (Slack, PagerDuty, webhooks). The log always does as well.
	Sinks []Sink
	// Renotify is the interval of reminders for a firing alert nobody acknowledged. If zero,
	// DefaultRenotify; if negative, no reminders.
	Renotify time.Duration
	// Retry is how sinks retry a failed delivery. Zero fields take RetryPolicy's defaults.
	Retry RetryPolicy
	// Metrics, if set, is fed with every recorded call.
	Metrics *Metrics
	// Throttle, if set, reports the throttler's queues for throttle rules. If nil, throttle
	// rules never fire.
	Throttle ThrottleStats
	// Logger receives every alert event and every failed delivery. The zero Logger discards.
	Logger zerolog.Logger
	// Now is the clock of every rule. If nil, time.Now is used.
	Now func() time.Time
	// Buffer is how many recorded calls may queue for the engine. If zero, DefaultAlertBuffer.
	Buffer int
	// Tick is how often time-based rules are evaluated. If zero, DefaultTick.
	Tick time.Duration
	// RebuildLimit caps the calls per route read back on start. If zero, DefaultRebuildLimit.
	RebuildLimit int
	// SinkFailingFor is how long a sink fails before its notifications_failing alert goes to
	// the other sinks. If zero, DefaultSinkFailingFor.
	SinkFailingFor time.Duration
}

// Engine is the alert engine: it watches every recorded call (Observe), keeps per-route
// counters in memory, fires and resolves alerts, and hands notifications to the sinks. It also
// answers mtguard health. Its methods are safe for concurrent use.
type Engine struct {
	cfg      Config
	now      func() time.Time
	log      zerolog.Logger
	metrics  *Metrics
	renotify time.Duration

	in      chan observation
	dropped atomic.Int64
	lost    atomic.Int64 // notifications dropped because a queue was full

	mu        sync.Mutex
	routes    map[string]*routeState
	order     []*routeState
	storeRS   *routeState  // the store_write alert's state (store_alert.go)
	storeFail storeFailure // what the store last reported
	// sinkStates is what each sink last answered (notifications.go).
	sinkStates map[string]*sinkState
	// silenceDrills holds the ids of silence drills under way (drills.go).
	silenceDrills sync.Map
	byID          map[string]*store.Alert // firing alerts
	silenced      map[string]time.Time    // "route/kind" -> muted until
	startedAt     time.Time
	closed        bool
	store         Store
	outbox        chan outMsg
	// follower: another instance leads (leader.go); this one opens no incidents
	follower bool
	// limitsRS and limitsFail are the shared_limits alert's (limits_alert.go); nil until used
	limitsRS   *routeState
	limitsFail limitsFailure

	workers []*sinkWorker
	logSink *logSink
	stop    chan struct{}
	done    sync.WaitGroup
	started bool
}

// observation is what the engine keeps of a recorded call.
type observation struct {
	route     string
	at        time.Time // when the call ended
	outcome   txn.Outcome
	latencyMS float64 // vendor latency; < 0 when the vendor was not asked
	durMS     float64
	waitMS    float64
	recordMS  float64
	records   int
	findings  []txn.Finding // shared with the committed transaction, read only
	barrier   chan struct{} // set on a sync marker instead of a call
	drill     string        // the drill that made the call; "" for real traffic
	// hidden: a silence drill keeps the call from the silence rule
	hidden bool
}

func observationOf(tx *txn.Transaction) observation {
	o := observation{
		route:     tx.Route,
		at:        tx.Time.Add(time.Duration(tx.DurationMS * float64(time.Millisecond))),
		outcome:   tx.Outcome,
		latencyMS: -1,
		durMS:     tx.DurationMS,
		waitMS:    tx.WaitMS,
		recordMS:  tx.RecordMS,
		records:   len(tx.RecordKeys),
		findings:  tx.Findings,
		drill:     tx.Drill,
	}
	switch tx.Outcome {
	case txn.OutcomeDelivered, txn.OutcomeFailed, txn.OutcomePartial, txn.OutcomeTimeout:
		o.latencyMS = tx.UpstreamMS
		if o.latencyMS <= 0 {
			o.latencyMS = tx.DurationMS - tx.WaitMS
		}
	}
	return o
}

// routeState is everything the engine knows about one route; guarded by Alerts.mu.
type routeState struct {
	name, owner string
	sinks       []string
	rules       Rules
	m           *routeMetrics

	hour         hourStats
	lastCall     time.Time
	lastDelivery time.Time

	// silence
	deliveries  ring
	watchFrom   time.Time // silence needs Per of watching before it can be asserted
	undelivered counts    // calls since the last delivery

	errWin, latWin, conWin *window
	callWin                *window // calls of unknown callers

	authStreak, authRecords int
	authSince               time.Time
	authCode                string
	authCleared             bool // a call since the last auth failure got a clean answer

	dep deprecationEpisode
	// depSeen holds the deprecated versions seen on the route (depKey), so each gets one
	// notice; depNew is the finding of a version seen for the first time by the last call
	// counted, until evaluate sends its notice.
	depSeen map[string]bool
	depNew  *txn.Finding
	// lastNotice is the id of the route's last notice, to keep ids unique.
	lastNotice string

	// consecutive failures: the run of undelivered calls, and whether a delivery ended it
	failStreak, failRecords int
	failSince               time.Time
	failLast                txn.Outcome
	failCleared             bool

	retired episode

	throttleAbove time.Time // since when the queue is over the threshold
	throttle      QueueStat

	active [numKinds]*store.Alert
	holds  [numKinds]bool // the rule's condition held at the last evaluation
	lastID [numKinds]string
}

// episode is a stretch of calls that show one problem (a deprecated or retired endpoint),
// until a quiet spell with no such call ends it.
type episode struct {
	first, last          time.Time
	calls, records       int
	message, replacement string // of the last finding
}

// add counts one call that showed the problem at t, with f the finding that said so.
func (ep *episode) add(t time.Time, records int, f *txn.Finding) {
	if ep.calls == 0 {
		ep.first = t
	}
	ep.calls++
	ep.records += records
	if t.After(ep.last) {
		ep.last = t
	}
	ep.message, ep.replacement = f.Message, f.Replacement
}

// deprecationEpisode is a stretch of calls to deprecated endpoints, until a day passes without
// one, with the earliest sunset its findings gave.
type deprecationEpisode struct {
	episode
	sunset time.Time
}

// New returns an engine for cfg. It watches calls handed to Observe only once Start has
// been called.
func New(cfg Config) (*Engine, error) {
	e := &Engine{
		cfg:      cfg,
		now:      cfg.Now,
		log:      cfg.Logger,
		metrics:  cfg.Metrics,
		renotify: cfg.Renotify,
		routes:   map[string]*routeState{},
		byID:     map[string]*store.Alert{},
		silenced: map[string]time.Time{},
		stop:     make(chan struct{}),
	}
	if e.now == nil {
		e.now = time.Now
	}
	if e.renotify == 0 {
		e.renotify = DefaultRenotify
	}
	if e.cfg.Buffer <= 0 {
		e.cfg.Buffer = DefaultAlertBuffer
	}
	if e.cfg.Tick <= 0 {
		e.cfg.Tick = DefaultTick
	}
	if e.cfg.RebuildLimit <= 0 {
		e.cfg.RebuildLimit = DefaultRebuildLimit
	}
	e.in = make(chan observation, e.cfg.Buffer)
	e.outbox = make(chan outMsg, 1024)
	e.logSink = &logSink{log: cfg.Logger}

	names := map[string]bool{}
	for _, s := range cfg.Sinks {
		if names[s.Name()] {
			return nil, fmt.Errorf("alerts: two sinks are named %q", s.Name())
		}
		names[s.Name()] = true
		w := newSinkWorker(s, e.cfg.Retry, e.log, e.metrics, &e.lost)
		w.report = func(n Notification, attempt, status int, err error, latency time.Duration, last bool) {
			e.attempted(s.Name(), n, attempt, status, err, latency, last)
		}
		w.dropped = func(n Notification) { e.droppedNotification(s.Name(), n) }
		e.workers = append(e.workers, w)
	}
	for _, ra := range cfg.Routes {
		if e.routes[ra.Route] != nil {
			return nil, fmt.Errorf("alerts: route %q is listed twice", ra.Route)
		}
		for _, n := range ra.Sinks {
			if !names[n] {
				return nil, fmt.Errorf("alerts: route %q names sink %q, which is not configured", ra.Route, n)
			}
		}
		rs := &routeState{name: ra.Route, depSeen: map[string]bool{}}
		if err := rs.configure(ra, cfg.Sinks); err != nil {
			return nil, err
		}
		rs.m = e.metrics.route(ra.Route)
		e.routes[ra.Route] = rs
		e.order = append(e.order, rs)
	}
	e.storeRS = newStoreState(cfg.Sinks)
	e.sinkStates = newSinkStates(cfg.Sinks)
	e.metrics.watchEngine(e)
	return e, nil
}

// check refuses rules that cannot work; config validation reports the same with line numbers.
func (r Rules) check() error {
	switch {
	case r.Silence != nil && (r.Silence.Min < 1 || r.Silence.Per <= 0):
		return errors.New("silence needs min >= 1 and per > 0")
	case r.ErrorRate != nil && (r.ErrorRate.Above < 0 || r.ErrorRate.Above >= 1 || r.ErrorRate.Per <= 0):
		return errors.New("error_rate needs 0% <= above < 100% and per > 0")
	case r.Latency != nil && (r.Latency.Percentile <= 0 || r.Latency.Percentile >= 1 || r.Latency.Above <= 0 || r.Latency.Per <= 0):
		return errors.New("latency needs a percentile between 0 and 100, a threshold and per > 0")
	case r.Auth != nil && r.Auth.Consecutive < 1:
		return errors.New("auth needs consecutive >= 1")
	case r.Deprecation != nil && r.Deprecation.SunsetWithin <= 0:
		return errors.New("deprecation needs sunset_within > 0")
	case r.Contract != nil && (r.Contract.Rejections < 1 || r.Contract.Per <= 0):
		return errors.New("contract needs rejections >= 1 and per > 0")
	case r.Throttle != nil && (r.Throttle.QueueAbove <= 0 || r.Throttle.QueueAbove > 1 || r.Throttle.For < 0):
		return errors.New("throttle needs 0% < queue_above <= 100%")
	case r.ConsecutiveFailures != nil && r.ConsecutiveFailures.Count < 1:
		return errors.New("consecutive_failures needs count >= 1")
	case r.Retired != nil && r.Retired.Calls < 1:
		return errors.New("retired needs calls >= 1")
	case r.Callers != nil && (r.Callers.Failures < 1 || r.Callers.Per <= 0):
		return errors.New("callers needs failures >= 1 and per > 0")
	}
	return nil
}

// Observe takes one committed transaction; it is the store's OnResult callback. It never
// blocks: when the engine is behind by Buffer calls, the call is dropped and counted
// (Dropped, and mtguard_alert_observations_dropped_total).
func (e *Engine) Observe(tx txn.Transaction) {
	if tx.Kind == txn.KindProbe {
		return // mtguard's own read-backs are not the route's traffic
	}
	select {
	case e.in <- e.drillObservation(observationOf(&tx)):
	default:
		e.dropped.Add(1)
	}
}

// Dropped counts the recorded calls the engine could not keep up with.
func (e *Engine) Dropped() int64 { return e.dropped.Load() }

// Start rebuilds the engine's state from st (the alerts still firing and the recent calls of
// each route), then watches the calls given to Observe and starts the sinks. It returns once
// the state is rebuilt; a store that cannot be read is logged, not fatal.
func (e *Engine) Start(ctx context.Context, st Store) {
	e.mu.Lock()
	e.store = st
	e.startedAt = e.now()
	e.started = true
	for _, rs := range e.order {
		rs.watchFrom = e.startedAt
	}
	e.mu.Unlock()

	e.done.Add(1)
	go e.sendLoop()
	for _, w := range e.workers {
		e.done.Add(1)
		go w.run(&e.done)
	}
	if st != nil {
		if err := e.rebuild(ctx); err != nil {
			e.log.Error().Err(err).Msg("alerts: could not rebuild state from the transaction log; rules start from an empty window")
		}
	}
	e.done.Add(1)
	go e.run()
}

// Close stops watching, sends the notifications already queued (for up to a few seconds) and
// returns. Engine still firing stay firing in the history and are picked up by the next Start.
func (e *Engine) Close() {
	e.mu.Lock()
	if e.closed || !e.started {
		e.closed = true
		e.mu.Unlock()
		return
	}
	e.closed = true
	close(e.stop)
	e.mu.Unlock()
	finished := make(chan struct{})
	go func() { e.done.Wait(); close(finished) }()
	timer := time.NewTimer(closeGrace)
	defer timer.Stop()
	select {
	case <-finished:
	case <-timer.C:
		e.mu.Lock()
		workers := e.workers
		e.mu.Unlock()
		for _, w := range workers {
			w.abort()
		}
		<-finished
	}
}

// run is the engine's goroutine: recorded calls in, time-based evaluation on every tick.
func (e *Engine) run() {
	defer e.done.Done()
	ticker := time.NewTicker(e.cfg.Tick)
	defer ticker.Stop()
	for {
		select {
		case o := <-e.in:
			e.handle(o)
		case <-ticker.C:
			e.Tick()
		case <-e.stop:
			for {
				select {
				case o := <-e.in:
					e.handle(o)
				default:
					e.mu.Lock()
					close(e.outbox) // every send holds mu and checks closed
					e.mu.Unlock()
					return
				}
			}
		}
	}
}

func (e *Engine) handle(o observation) {
	if o.barrier != nil {
		close(o.barrier)
		return
	}
	e.mu.Lock()
	e.process(o, false)
	e.mu.Unlock()
}

// sync waits until every call observed before it has been processed (for tests).
func (e *Engine) sync() {
	b := make(chan struct{})
	e.in <- observation{barrier: b}
	<-b
}

// Flush waits until every call observed before it has been processed and every resulting
// notification has been written and sent, or given up on: tests and a clean shutdown use it.
func (e *Engine) Flush() {
	e.sync()
	var wg sync.WaitGroup
	wg.Add(1)
	e.mu.Lock()
	if e.closed {
		e.mu.Unlock()
		return
	}
	e.outbox <- outMsg{barrier: &wg}
	e.mu.Unlock()
	wg.Wait()
}

// send queues a message for the outbox without blocking; mu is held. Before Start the outbox
// keeps what it can hold; after Close nothing is sent.
func (e *Engine) send(m outMsg) {
	if e.closed {
		return
	}
	select {
	case e.outbox <- m:
	default:
		e.lost.Add(1)
		e.log.Error().Str("alert", m.n.Alert.ID).Str("event", m.n.Event).Msg("alerts: the outbox is full; this notification is dropped")
	}
}

// outMsg is one alert event on its way to the history and the sinks, or a flush marker.
type outMsg struct {
	n        Notification
	external bool // also to the configured sinks, not only the log
	barrier  *sync.WaitGroup
	swap     []*sinkWorker // new sink workers to start, the old ones to close (reload.go)
}

// sendLoop writes every alert event to the history, logs it, and queues it for the sinks.
func (e *Engine) sendLoop() {
	defer e.done.Done()
	defer func() {
		for _, w := range e.workers {
			w.close()
		}
	}()
	for m := range e.outbox {
		if m.swap != nil {
			e.mu.Lock()
			old := e.workers
			e.workers = m.swap
			e.mu.Unlock()
			for _, w := range m.swap {
				go w.run(&e.done)
			}
			for _, w := range old {
				w.close() // it sends what it holds, then ends
			}
			continue
		}
		if m.barrier != nil {
			for _, w := range e.workers {
				w.barrier(m.barrier)
			}
			m.barrier.Done()
			continue
		}
		e.persist(m.n)
		e.deliver(m)
	}
}

// persist writes the event to the history. A failed write is logged, not retried: the sinks
// still get the event, and List and Alert answer for firing alerts from memory anyway.
func (e *Engine) persist(n Notification) {
	if e.store == nil {
		return
	}
	if err := e.store.PutAlert(n.Alert); err != nil {
		e.log.Error().Err(err).Str("alert", n.Alert.ID).Msg("alerts: could not write the alert history")
	}
}

// deliver logs the event and queues it for the sinks the alert names. The workers retry on
// their own goroutines, so one slow sink holds up neither the others nor the history.
func (e *Engine) deliver(m outMsg) {
	e.logSink.write(m.n, !m.external)
	if !m.external {
		return
	}
	for _, w := range e.workers {
		if slices.Contains(m.n.Alert.Sinks, w.sink.Name()) {
			w.enqueue(m.n)
		}
	}
}
