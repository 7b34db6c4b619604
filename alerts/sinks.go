package alerts

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/rs/zerolog"

	"github.com/mtguard/mtguard/store"
)

// The events of an alert's life that sinks hear about.
const (
	EventFiring       = "firing"       // a new incident
	EventReminder     = "reminder"     // still firing, nobody acknowledged it
	EventResolved     = "resolved"     // it recovered
	EventAcknowledged = "acknowledged" // someone took it
	// EventNotice is information, not an incident: the first call to a deprecated version on a
	// route. Its alert has State StateNotice; nothing follows it.
	EventNotice = "notice"
)

// StateNotice is the state of the alert a notice carries (EventNotice): it never fires nor
// resolves.
const StateNotice store.AlertState = "notice"

// Notification is one alert event for a sink.
type Notification struct {
	Event string      `json:"event"`
	Time  time.Time   `json:"time"`
	Alert store.Alert `json:"alert"`
}

// Sink delivers notifications somewhere people look. Send is called from the sink's own
// goroutine, one notification at a time, so a slow sink delays nobody else.
type Sink interface {
	// Name is the sink's name in the config, used in logs and metrics.
	Name() string
	// Send delivers n once. An error wrapping ErrPermanent is not retried.
	Send(ctx context.Context, n Notification) error
}

// ErrPermanent marks a sink error that retrying cannot fix (a 4xx answer: bad URL, revoked
// webhook, malformed payload).
var ErrPermanent = errors.New("permanent")

// SinkError is an unsuccessful answer of a sink's endpoint. Its message never holds the
// endpoint's URL or key.
type SinkError struct {
	Status     int           // HTTP status, 0 when no answer came
	RetryAfter time.Duration // what the endpoint asked for, if anything
	Msg        string
	permanent  bool
}

func (e *SinkError) Error() string { return e.Msg }

// Is makes a permanent SinkError match ErrPermanent.
func (e *SinkError) Is(target error) bool { return target == ErrPermanent && e.permanent }

// RetryPolicy is how a sink retries a failed delivery: Backoff, twice that, four times that...
// up to MaxBackoff between attempts, Attempts in all, or what a 429's Retry-After asks.
type RetryPolicy struct {
	// Attempts is the number of tries. If zero, 5.
	Attempts int
	// Backoff is the wait after the first failure. If zero, 1s.
	Backoff time.Duration
	// MaxBackoff caps every wait. If zero, 1m.
	MaxBackoff time.Duration
}

func (p RetryPolicy) withDefaults() RetryPolicy {
	if p.Attempts <= 0 {
		p.Attempts = 5
	}
	if p.Backoff <= 0 {
		p.Backoff = time.Second
	}
	if p.MaxBackoff <= 0 {
		p.MaxBackoff = time.Minute
	}
	return p
}

// workItem is a notification to send, or a marker a flush waits for.
type workItem struct {
	n       Notification
	barrier *sync.WaitGroup
}

// sinkQueue is how many notifications wait for one sink before new ones are dropped.
const sinkQueue = 256

// sinkWorker owns one sink: a queue and a goroutine that sends and retries.
type sinkWorker struct {
	sink  Sink
	retry RetryPolicy
	// report records every attempt and drop (Engine.attempted); nil in tests of the worker.
	report  func(n Notification, attempt, status int, err error, latency time.Duration, last bool)
	dropped func(n Notification)
	log     zerolog.Logger
	metrics *Metrics
	lost    *atomic.Int64

	mu     sync.Mutex
	queue  chan workItem
	closed bool
	ctx    context.Context
	cancel context.CancelFunc
}

func newSinkWorker(s Sink, retry RetryPolicy, log zerolog.Logger, m *Metrics, lost *atomic.Int64) *sinkWorker {
	ctx, cancel := context.WithCancel(context.Background())
	return &sinkWorker{sink: s, retry: retry.withDefaults(), log: log, metrics: m, lost: lost,
		queue: make(chan workItem, sinkQueue), ctx: ctx, cancel: cancel}
}

// enqueue never blocks: a sink that has fallen sinkQueue notifications behind loses the next.
func (w *sinkWorker) enqueue(n Notification) {
	if !w.tryEnqueue(n) {
		return
	}
	w.lost.Add(1)
	w.metrics.notified(w.sink.Name(), "dropped")
	w.log.Error().Str("sink", w.sink.Name()).Str("alert", n.Alert.ID).Str("event", n.Event).
		Msg("alerts: sink queue full; notification dropped")
	if w.dropped != nil {
		w.dropped(n)
	}
}

// tryEnqueue queues n unless the worker is closed; it reports whether a full queue dropped it.
func (w *sinkWorker) tryEnqueue(n Notification) (full bool) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.closed {
		return false
	}
	select {
	case w.queue <- workItem{n: n}:
		return false
	default:
		return true
	}
}

// barrier queues a marker that wg waits for, behind everything queued so far.
func (w *sinkWorker) barrier(wg *sync.WaitGroup) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.closed {
		return
	}
	wg.Add(1)
	w.queue <- workItem{barrier: wg}
}

// close lets the worker finish its queue and stop.
func (w *sinkWorker) close() {
	w.mu.Lock()
	defer w.mu.Unlock()
	if !w.closed {
		w.closed = true
		close(w.queue)
	}
}

// abort cancels the delivery in progress and every retry.
func (w *sinkWorker) abort() { w.cancel() }

func (w *sinkWorker) run(done *sync.WaitGroup) {
	defer done.Done()
	defer w.cancel()
	for it := range w.queue {
		if it.barrier != nil {
			it.barrier.Done()
			continue
		}
		w.deliver(it.n)
	}
}

func (w *sinkWorker) deliver(n Notification) {
	wait := w.retry.Backoff
	for attempt := 1; ; attempt++ {
		var ans answer
		start := time.Now()
		err := w.sink.Send(withAnswer(w.ctx, &ans), n)
		last := err != nil && (attempt >= w.retry.Attempts || errors.Is(err, ErrPermanent) || w.ctx.Err() != nil)
		if w.report != nil {
			w.report(n, attempt, ans.status, err, time.Since(start), last)
		}
		if err == nil {
			w.metrics.notified(w.sink.Name(), "sent")
			if attempt > 1 {
				w.log.Info().Str("sink", w.sink.Name()).Str("alert", n.Alert.ID).Str("event", n.Event).Int("attempt", attempt).Msg("alerts: delivered after retrying")
			}
			return
		}
		ev, msg := w.log.Warn(), "alerts: notification failed; retrying"
		if last {
			ev, msg = w.log.Error(), "alerts: notification could not be delivered; giving up"
		}
		ev.Str("sink", w.sink.Name()).Str("alert", n.Alert.ID).Str("event", n.Event).Int("attempt", attempt).Err(err).Msg(msg)
		if last {
			w.metrics.notified(w.sink.Name(), "failed")
			return
		}
		d := wait
		var se *SinkError
		if errors.As(err, &se) && se.RetryAfter > d {
			d = se.RetryAfter
		}
		d = min(d, w.retry.MaxBackoff)
		t := time.NewTimer(d)
		select {
		case <-t.C:
		case <-w.ctx.Done():
			t.Stop()
		}
		wait = min(wait*2, w.retry.MaxBackoff)
	}
}

// logSink writes every alert event to the process log; it is always on.
type logSink struct {
	log zerolog.Logger
}

func (l *logSink) write(n Notification, muted bool) {
	a := n.Alert
	ev := l.log.Warn()
	switch {
	case n.Event == EventResolved || n.Event == EventAcknowledged:
		ev = l.log.Info()
	case a.Severity == "critical" || a.Severity == "error":
		ev = l.log.Error()
	}
	ev = ev.Str("alert", a.ID).Str("event", n.Event).Str("route", a.Route).Str("kind", a.Kind).
		Str("severity", a.Severity).Str("owner", a.Owner).Time("since", a.Since).
		Int("calls", a.Calls).Int("records", a.Records).Str("summary", a.Summary).Str("look", a.Command)
	if a.Resolution != "" {
		ev = ev.Str("resolution", a.Resolution)
	}
	if a.AckedBy != "" {
		ev = ev.Str("acked_by", a.AckedBy)
	}
	if muted {
		ev = ev.Bool("log_only", true)
	}
	ev.Msg(fmt.Sprintf("alert %s: %s %s", n.Event, a.Route, a.Kind))
}
