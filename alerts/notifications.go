package alerts

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"
	"time"

	"github.com/mtguard/mtguard/store"
)

// Notifications that did not reach anyone. Every attempt to hand an alert event to a sink is
// recorded in the store with the sink's answer, so "was anyone actually told?" has an answer:
// mtguard alerts shows each alert's deliveries, mtguard health each sink's state, and a sink
// that has failed for SinkFailingFor raises a notifications_failing alert on the other sinks
// (one per failing sink, on the pseudo-route SinkRoute(name)).

// DefaultSinkFailingFor is how long a sink must have failed, without a delivery since, before
// its notifications_failing alert fires.
const DefaultSinkFailingFor = 5 * time.Minute

// EventTest is the event of a test notification (mtguard alerts test): nothing is wrong.
const EventTest = "test"

// AttemptStore is what the engine needs to keep notification attempts. *store.Store
// satisfies it; an engine whose Store does not only logs them.
type AttemptStore interface {
	AppendNotification(a store.NotificationAttempt) (store.NotificationAttempt, error)
	Notifications(q store.NotificationQuery) ([]store.NotificationAttempt, error)
}

var _ AttemptStore = (*store.Store)(nil)

// SinkRoute is the pseudo-route of the notifications_failing alert of the sink named name.
// Route names cannot contain parentheses, so it never collides with a configured route.
func SinkRoute(name string) string { return "(sink:" + name + ")" }

// SinkHealth is one sink's line in mtguard health.
type SinkHealth struct {
	Name string `json:"name"`
	// State is StateOK, or StateFailing while its last attempt failed.
	State string `json:"state"`
	// FailingSince is the first failed attempt with no delivery after it.
	FailingSince time.Time `json:"failing_since,omitzero"`
	LastError    string    `json:"last_error,omitempty"`
	LastStatus   int       `json:"last_status,omitempty"`
	// LastDelivered is the last notification the sink accepted since mtguard started.
	LastDelivered time.Time `json:"last_delivered,omitzero"`
	// Undelivered counts the notifications given up on (or dropped) since mtguard started.
	Undelivered int `json:"undelivered"`
}

// sinkState is what the engine knows of one sink's recent answers; guarded by Engine.mu.
type sinkState struct {
	name          string
	failingSince  time.Time
	failures      int // failed attempts since failingSince
	lastError     string
	lastStatus    int
	lastDelivered time.Time
	undelivered   int
	rs            *routeState // for its notifications_failing alert
}

func newSinkStates(sinks []Sink) map[string]*sinkState {
	out := map[string]*sinkState{}
	for _, s := range sinks {
		rs := &routeState{name: SinkRoute(s.Name()), sinks: []string{}, depSeen: map[string]bool{}}
		for _, o := range sinks {
			if o.Name() != s.Name() {
				rs.sinks = append(rs.sinks, o.Name())
			}
		}
		out[s.Name()] = &sinkState{name: s.Name(), rs: rs}
	}
	return out
}

// attempted records one delivery attempt of n to sink: in the store, and in the sink's state.
// It is called from the sink's worker, without mu.
func (e *Engine) attempted(sink string, n Notification, attempt, status int, err error, latency time.Duration, last bool) {
	now := e.now()
	a := store.NotificationAttempt{
		Time: now, Alert: n.Alert.ID, Route: n.Alert.Route, Kind: n.Alert.Kind, Event: n.Event,
		Sink: sink, Attempt: attempt, Result: store.NotifyDelivered, Status: status,
		LatencyMS: float64(latency.Microseconds()) / 1000,
	}
	if err != nil {
		a.Result = store.NotifyRetrying
		if last {
			a.Result = store.NotifyFailed
		}
		a.Error = err.Error()
		var se *SinkError
		if errors.As(err, &se) && se.Status != 0 {
			a.Status = se.Status
		}
	}
	e.recordAttempt(a)
}

// droppedNotification records a notification that a full queue kept from sink.
func (e *Engine) droppedNotification(sink string, n Notification) {
	e.recordAttempt(store.NotificationAttempt{
		Time: e.now(), Alert: n.Alert.ID, Route: n.Alert.Route, Kind: n.Alert.Kind, Event: n.Event,
		Sink: sink, Result: store.NotifyDropped, Error: "the sink's queue was full",
	})
}

func (e *Engine) recordAttempt(a store.NotificationAttempt) {
	e.mu.Lock()
	as, _ := e.store.(AttemptStore)
	if ss := e.sinkStates[a.Sink]; ss != nil && a.Event != EventTest {
		switch a.Result {
		case store.NotifyDelivered:
			ss.failingSince, ss.failures, ss.lastError, ss.lastStatus = time.Time{}, 0, "", a.Status
			ss.lastDelivered = a.Time
			e.resolve(ss.rs, kindNotifyFailing, a.Time)
		default:
			if ss.failingSince.IsZero() {
				ss.failingSince = a.Time
			}
			ss.failures++
			ss.lastError, ss.lastStatus = a.Error, a.Status
			if a.Result != store.NotifyRetrying {
				ss.undelivered++
			}
			if al := ss.rs.active[kindNotifyFailing]; al != nil {
				al.LastSeen = a.Time
				al.Summary = e.sinkSummary(ss, a.Time)
			} else if a.Time.Sub(ss.failingSince) >= e.sinkFailingFor() {
				// Failing long enough already: the others hear now, not at the next tick.
				ss.rs.holds[kindNotifyFailing] = true
				e.fire(ss.rs, kindNotifyFailing, a.Time, ss.failingSince, 0, 0)
			}
		}
	}
	e.mu.Unlock()
	if as == nil {
		return
	}
	if _, err := as.AppendNotification(a); err != nil {
		e.log.Error().Err(err).Str("sink", a.Sink).Str("alert", a.Alert).Msg("alerts: could not record a notification attempt")
	}
}

// evalSinks fires the notifications_failing alert of each sink that has failed for
// SinkFailingFor; mu is held.
func (e *Engine) evalSinks(now time.Time) {
	after := e.sinkFailingFor()
	for _, name := range slices.Sorted(maps.Keys(e.sinkStates)) {
		ss := e.sinkStates[name]
		failing := !ss.failingSince.IsZero() && now.Sub(ss.failingSince) >= after
		ss.rs.holds[kindNotifyFailing] = failing
		if failing {
			e.fire(ss.rs, kindNotifyFailing, now, ss.failingSince, 0, 0)
		}
		e.remind(ss.rs, now)
	}
}

func (e *Engine) sinkFailingFor() time.Duration {
	if e.cfg.SinkFailingFor > 0 {
		return e.cfg.SinkFailingFor
	}
	return DefaultSinkFailingFor
}

// sinkFor returns the sink state whose pseudo-route is route, or nil; mu is held.
func (e *Engine) sinkFor(route string) *sinkState {
	for _, ss := range e.sinkStates {
		if ss.rs.name == route {
			return ss
		}
	}
	return nil
}

// sinkSummary says how the sink fails; mu is held.
func (e *Engine) sinkSummary(ss *sinkState, now time.Time) string {
	s := fmt.Sprintf("sink %s has not accepted a notification since %s (%s ago): %d failed attempts, %d notifications not delivered",
		ss.name, ss.failingSince.UTC().Format("2006-01-02 15:04 MST"), FormatDuration(now.Sub(ss.failingSince).Round(time.Minute)), ss.failures, ss.undelivered)
	if ss.lastError != "" {
		s += "; last error: " + ss.lastError
	}
	return s + "; alerts meant for it reach nobody there: check its URL or key, then mtguard alerts test --sink " + ss.name
}

// sinksHealth is the sinks' lines of Health; mu is held.
func (e *Engine) sinksHealth() []SinkHealth {
	out := []SinkHealth{}
	for _, name := range slices.Sorted(maps.Keys(e.sinkStates)) {
		ss := e.sinkStates[name]
		h := SinkHealth{Name: name, State: StateOK, LastDelivered: ss.lastDelivered, Undelivered: ss.undelivered}
		if !ss.failingSince.IsZero() {
			h.State, h.FailingSince, h.LastError, h.LastStatus = StateFailing, ss.failingSince, ss.lastError, ss.lastStatus
		}
		out = append(out, h)
	}
	return out
}

// withDeliveries fills in each alert's Deliveries and Undelivered from the recorded attempts.
func (e *Engine) withDeliveries(list []store.Alert) []store.Alert {
	e.mu.Lock()
	as, _ := e.store.(AttemptStore)
	e.mu.Unlock()
	if as == nil || len(list) == 0 {
		return list
	}
	ids := make([]string, len(list))
	since := list[0].FiredAt
	for i, a := range list {
		ids[i] = a.ID
		if a.FiredAt.Before(since) {
			since = a.FiredAt
		}
	}
	atts, err := as.Notifications(store.NotificationQuery{Alerts: ids, Since: since, Limit: 10000})
	if err != nil {
		e.log.Error().Err(err).Msg("alerts: could not read the notification attempts")
		return list
	}
	by := map[string][]store.NotificationAttempt{}
	for _, a := range atts {
		by[a.Alert] = append(by[a.Alert], a)
	}
	for i := range list {
		list[i].Deliveries = Deliveries(by[list[i].ID])
		list[i].Undelivered = 0
		for _, d := range list[i].Deliveries {
			if d.Result == store.NotifyFailed || d.Result == store.NotifyDropped {
				list[i].Undelivered++
			}
		}
	}
	return list
}

// Deliveries folds attempts (in any order) into one Delivery per notification and sink,
// oldest first: a notification's attempts count from 1, so an attempt 1 starts a new one.
func Deliveries(atts []store.NotificationAttempt) []store.NotificationDelivery {
	atts = slices.Clone(atts)
	slices.SortStableFunc(atts, func(a, b store.NotificationAttempt) int {
		return cmp.Or(a.Time.Compare(b.Time), strings.Compare(a.ID, b.ID))
	})
	out := []store.NotificationDelivery{}
	open := map[string]int{} // event/sink -> index in out
	for _, a := range atts {
		key := a.Event + "/" + a.Sink
		i, ok := open[key]
		if !ok || a.Attempt <= 1 || a.Result == store.NotifyDropped {
			out = append(out, store.NotificationDelivery{Event: a.Event, Sink: a.Sink})
			i = len(out) - 1
			open[key] = i
		}
		d := &out[i]
		d.Time, d.Result, d.Status, d.Error, d.LatencyMS = a.Time, a.Result, a.Status, a.Error, a.LatencyMS
		d.Attempts = max(a.Attempt, d.Attempts)
	}
	return out
}

// TestResult is what a sink answered to a test notification.
type TestResult struct {
	Sink      string    `json:"sink"`
	Time      time.Time `json:"time"`
	Delivered bool      `json:"delivered"`
	Status    int       `json:"status,omitempty"`
	Error     string    `json:"error,omitempty"`
	LatencyMS float64   `json:"latency_ms"`
}

// ErrSinkNotFound means no configured sink has the requested name.
var ErrSinkNotFound = errors.New("sink not found")

// TestSink sends one test notification to the sink named name, once and without retrying,
// records the attempt, and returns the sink's answer.
func (e *Engine) TestSink(ctx context.Context, name, by string) (TestResult, error) {
	var sink Sink
	var names []string
	for _, w := range e.workers {
		names = append(names, w.sink.Name())
		if w.sink.Name() == name {
			sink = w.sink
		}
	}
	if sink == nil {
		if len(names) == 0 {
			return TestResult{}, fmt.Errorf("no sink named %q: no sink is configured (alerts.sinks): %w", name, ErrSinkNotFound)
		}
		return TestResult{}, fmt.Errorf("no sink named %q; the configured sinks are %s: %w", name, strings.Join(names, ", "), ErrSinkNotFound)
	}
	now := e.now()
	summary := "test notification from mtguard alerts test: nothing is wrong"
	if by != "" {
		summary += " (sent by " + by + ")"
	}
	n := Notification{Event: EventTest, Time: now, Alert: store.Alert{
		ID: now.UTC().Format("20060102T150405Z") + "-test-" + name, Route: SinkRoute(name), Kind: EventTest,
		Severity: "info", State: store.AlertResolved, Summary: summary, Since: now, FiredAt: now,
		Command: "mtguard alerts test --sink " + name, Sinks: []string{name},
	}}
	var ans answer
	start := time.Now()
	err := sink.Send(withAnswer(ctx, &ans), n)
	lat := time.Since(start)
	e.attempted(name, n, 1, ans.status, err, lat, true)
	r := TestResult{Sink: name, Time: now, Delivered: err == nil, Status: ans.status, LatencyMS: float64(lat.Microseconds()) / 1000}
	if err != nil {
		r.Error = err.Error()
	}
	return r, nil
}

// answer is where post leaves the status of a sink's answer, when the context carries one: a
// Send that succeeds returns no error to read it from.
type answer struct{ status int }

type answerKey struct{}

func withAnswer(ctx context.Context, a *answer) context.Context {
	return context.WithValue(ctx, answerKey{}, a)
}

func noteAnswer(ctx context.Context, status int) {
	if a, ok := ctx.Value(answerKey{}).(*answer); ok {
		a.status = status
	}
}
