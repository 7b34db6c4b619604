package alerts

import (
	"errors"
	"fmt"
	"reflect"
	"slices"
	"time"

	"github.com/mtguard/mtguard/store"
)

// configure gives rs the rules, owner and sinks of ra (nil sinks: every sink in sinks). Each
// rule that is new or changed gets a fresh window; a rule unchanged keeps what it counted, so
// a reload of a route leaves its states and timers as they were.
func (rs *routeState) configure(ra RouteAlerts, sinks []Sink) error {
	if err := ra.Rules.check(); err != nil {
		return fmt.Errorf("alerts: route %q: %w", ra.Route, err)
	}
	old := rs.rules
	rs.owner, rs.sinks, rs.rules = ra.Owner, ra.Sinks, ra.Rules
	if ra.Sinks == nil {
		rs.sinks = []string{}
		for _, s := range sinks {
			rs.sinks = append(rs.sinks, s.Name())
		}
	}
	if r := rs.rules.Silence; r != nil && (old.Silence == nil || *old.Silence != *r) {
		rs.deliveries = ring{times: make([]time.Time, r.Min)}
		if !rs.watchFrom.IsZero() {
			// A new silence rule watches its whole span before it may say the route is silent.
			rs.watchFrom = time.Time{}
		}
	}
	if r := rs.rules.ErrorRate; r != nil && (old.ErrorRate == nil || old.ErrorRate.Per != r.Per || rs.errWin == nil) {
		rs.errWin = newWindow(r.Per)
	}
	if r := rs.rules.Latency; r != nil && (old.Latency == nil || old.Latency.Per != r.Per || rs.latWin == nil) {
		rs.latWin = newWindow(r.Per)
	}
	if r := rs.rules.Contract; r != nil && (old.Contract == nil || old.Contract.Per != r.Per || rs.conWin == nil) {
		rs.conWin = newWindow(r.Per)
	}
	if r := rs.rules.Callers; r != nil && (old.Callers == nil || old.Callers.Per != r.Per || rs.callWin == nil) {
		rs.callWin = newWindow(r.Per)
	}
	return nil
}

// CheckConfig reports what New would refuse in routes and sinks: two sinks or routes of one
// name, a route naming a sink that is not configured, rules that cannot work.
func CheckConfig(routes []RouteAlerts, sinks []Sink) error {
	var errs []error
	names := map[string]bool{}
	for _, s := range sinks {
		if names[s.Name()] {
			errs = append(errs, fmt.Errorf("alerts: two sinks are named %q", s.Name()))
		}
		names[s.Name()] = true
	}
	seen := map[string]bool{}
	for _, ra := range routes {
		if seen[ra.Route] {
			errs = append(errs, fmt.Errorf("alerts: route %q is listed twice", ra.Route))
		}
		seen[ra.Route] = true
		for _, n := range ra.Sinks {
			if !names[n] {
				errs = append(errs, fmt.Errorf("alerts: route %q names sink %q, which is not configured", ra.Route, n))
			}
		}
		if err := ra.Rules.check(); err != nil {
			errs = append(errs, fmt.Errorf("alerts: route %q: %w", ra.Route, err))
		}
	}
	return errors.Join(errs...)
}

// Reconfigure makes routes the engine's routes, and sinks (unless nil: keep them) its sinks,
// while it runs. A route that stays keeps its state: firing alerts, silences, the calls its
// unchanged rules counted and their timers; a rule that changed starts a fresh window. A new
// route starts empty (a renamed route is a new route); a removed route's firing alerts are
// resolved, saying why. New sinks take the notifications sent from now on; the old
// ones finish what they hold.
func (e *Engine) Reconfigure(routes []RouteAlerts, sinks []Sink) error {
	e.mu.Lock()
	defer e.mu.Unlock()
	if sinks == nil {
		for _, w := range e.workers {
			sinks = append(sinks, w.sink)
		}
	}
	if err := CheckConfig(routes, sinks); err != nil {
		return err
	}
	byName := map[string]*routeState{}
	order := make([]*routeState, 0, len(routes))
	for _, ra := range routes {
		rs := e.routes[ra.Route]
		if rs == nil {
			rs = &routeState{name: ra.Route, depSeen: map[string]bool{}, m: e.metrics.route(ra.Route)}
			if e.started {
				rs.watchFrom = e.now()
			}
		}
		if reflect.DeepEqual(rs.rules, ra.Rules) && rs.owner == ra.Owner && reflect.DeepEqual(rs.sinks, ra.Sinks) && ra.Sinks != nil {
			byName[ra.Route], order = rs, append(order, rs)
			continue
		}
		if err := rs.configure(ra, sinks); err != nil {
			return err // checked above
		}
		if rs.watchFrom.IsZero() && e.started {
			rs.watchFrom = e.now()
		}
		// What a firing alert says next (a reminder, its resolution) goes to the route's
		// sinks and owner as they are now.
		for _, a := range rs.active {
			if a != nil {
				a.Sinks, a.Owner = slices.Clone(rs.sinks), rs.owner
			}
		}
		byName[ra.Route], order = rs, append(order, rs)
	}
	now := e.now()
	for name, rs := range e.routes {
		if byName[name] != nil {
			continue
		}
		// A removed route's alerts would otherwise stay firing with nothing left to end them.
		for k, a := range rs.active {
			if a == nil {
				continue
			}
			rs.active[k], rs.holds[k] = nil, false
			delete(e.byID, a.ID)
			a.State, a.ResolvedAt = store.AlertResolved, now
			a.Resolution = "the route was removed from the config (reload)"
			e.metrics.setFiring(name, kind(k).String(), 0)
			e.notify(EventResolved, a, now)
		}
	}
	e.routes, e.order = byName, order
	if !sinksEqual(e.workers, sinks) {
		e.swapSinks(sinks)
	}
	return nil
}

// sinksEqual reports whether workers deliver to exactly sinks.
func sinksEqual(workers []*sinkWorker, sinks []Sink) bool {
	if len(workers) != len(sinks) {
		return false
	}
	for i, w := range workers {
		if w.sink != sinks[i] {
			return false
		}
	}
	return true
}

// swapSinks replaces the sink workers (e.mu held). The send loop reads e.workers without the
// lock, so a running engine hands the swap to it through the outbox, in order with the
// notifications before it.
func (e *Engine) swapSinks(sinks []Sink) {
	workers := make([]*sinkWorker, 0, len(sinks))
	for _, s := range sinks {
		workers = append(workers, newSinkWorker(s, e.cfg.Retry, e.log, e.metrics, &e.lost))
	}
	e.storeRS.sinks = []string{}
	for _, s := range sinks {
		e.storeRS.sinks = append(e.storeRS.sinks, s.Name())
	}
	if !e.started || e.closed {
		e.workers = workers
		return
	}
	for range workers {
		e.done.Add(1)
	}
	e.outbox <- outMsg{swap: workers}
}
