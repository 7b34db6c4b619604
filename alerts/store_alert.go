package alerts

import (
	"fmt"
	"time"
)

// The store_write alert. The transaction log failing is no route's problem, and no rule in a
// route's config governs it: while any write of the store fails (a journal append or sync, a
// bbolt commit, a new journal segment), one alert of kind store_write fires on the pseudo-route
// StoreRoute, goes to every configured sink (and the log), is reminded like any other and
// resolves when the store writes again. mtguard health shows the same as its store state.

// StoreRoute is the route named by store_write alerts. Route names cannot contain
// parentheses, so it never collides with a configured one.
const StoreRoute = "(store)"

// StoreHealth is the transaction log's line in mtguard health.
type StoreHealth struct {
	State string    `json:"state"` // StateOK or StateFailing
	Since time.Time `json:"since,omitzero"`
	// Op is the kind of write that failed last (journal, commit, segment); Error its error.
	Op    string `json:"op,omitempty"`
	Error string `json:"error,omitempty"`
	// Failures counts the failed writes of this incident.
	Failures int `json:"failures,omitempty"`
}

// storeState is the store's part of the engine: a routeState for the alert machinery (ids,
// notifications, reminders, silences) and what the store last reported.
func newStoreState(sinks []Sink) *routeState {
	rs := &routeState{name: StoreRoute, sinks: []string{}, depSeen: map[string]bool{}}
	for _, s := range sinks {
		rs.sinks = append(rs.sinks, s.Name())
	}
	return rs
}

// StoreWriteFailed tells the engine that a write of the store failed: the store_write alert
// fires (once per incident; later failures refresh it). It is the store's OnWriteError, through
// the composition root, and does not block.
func (e *Engine) StoreWriteFailed(op string, err error) {
	now := e.now()
	e.mu.Lock()
	defer e.mu.Unlock()
	rs := e.storeRS
	if e.storeFail.since.IsZero() {
		e.storeFail.since = now
	}
	e.storeFail.op, e.storeFail.err = op, err.Error()
	e.storeFail.failures++
	rs.holds[kindStoreWrite] = true
	if a := rs.active[kindStoreWrite]; a != nil {
		a.LastSeen = now
		a.Summary = e.storeSummary()
		return
	}
	e.fire(rs, kindStoreWrite, now, e.storeFail.since, 0, 0)
}

// StoreWriteRecovered tells the engine that the store writes again: the alert resolves.
func (e *Engine) StoreWriteRecovered() {
	now := e.now()
	e.mu.Lock()
	defer e.mu.Unlock()
	e.storeFail = storeFailure{}
	e.resolve(e.storeRS, kindStoreWrite, now)
}

// storeFailure is the incident the store last reported; guarded by mu.
type storeFailure struct {
	since    time.Time
	op, err  string
	failures int
}

// storeSummary says what fails; mu is held.
func (e *Engine) storeSummary() string {
	f := e.storeFail
	return fmt.Sprintf("the transaction log cannot write (%s, %d failures since %s): %s; calls are kept in memory and the journal and applied once it can, readiness fails, and with store.on_error reject new calls are refused",
		f.op, f.failures, f.since.UTC().Format(time.RFC3339), f.err)
}

// storeHealth is the store's line of Health; mu is held.
func (e *Engine) storeHealth() StoreHealth {
	f := e.storeFail
	if f.failures == 0 {
		return StoreHealth{State: StateOK}
	}
	return StoreHealth{State: StateFailing, Since: f.since, Op: f.op, Error: f.err, Failures: f.failures}
}
