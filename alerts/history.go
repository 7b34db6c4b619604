package alerts

import (
	"context"
	"fmt"
	"slices"
	"time"

	"github.com/mtguard/mtguard/store"
	"github.com/mtguard/mtguard/txn"
)

// rebuild restores the engine after a restart: the alerts that were firing (so a restart does
// not notify the same incident twice) and each route's counters from its recent calls (so a
// window that was half full is still half full). Then it evaluates every rule once.
func (e *Engine) rebuild(ctx context.Context) error {
	e.mu.Lock()
	follower := e.follower
	e.mu.Unlock()
	if !follower {
		if err := e.loadFiring(ctx, false); err != nil {
			return err
		}
	}
	now := e.now()
	e.mu.Lock()
	routes := slices.Clone(e.order)
	e.mu.Unlock()
	return e.rebuildRoutes(ctx, routes, now)
}

// loadFiring takes over the alerts the history says are firing; lead also ends following
// (leader.go) in the same step, so no call in between opens one of them again.
func (e *Engine) loadFiring(_ context.Context, lead bool) error {
	firing, err := e.store.Alerts(store.AlertQuery{State: store.AlertFiring, Limit: 1000})
	if err != nil {
		return err
	}
	now := e.now()
	e.mu.Lock()
	defer e.mu.Unlock()
	if lead {
		e.follower = false
	}
	// Oldest first, so that of two firing alerts of one rule the newer one wins.
	slices.Reverse(firing)
	for i := range firing {
		a := firing[i]
		rs := e.routes[a.Route]
		k, ok := kindByName(a.Kind)
		if a.Route == StoreRoute && k == kindStoreWrite {
			rs = e.storeRS // resolved once the store says it writes (StoreWriteRecovered)
		} else if a.Route == LimitsRoute && k == kindSharedLimits {
			rs = e.limitsState() // resolved once Redis answers (SharedLimitsChanged)
		} else if ss := e.sinkFor(a.Route); ss != nil && k == kindNotifyFailing {
			rs = ss.rs // resolved by the sink's next delivery
			if ss.failingSince.IsZero() {
				ss.failingSince = a.Since
			}
		} else if rs == nil || !ok || !rs.rules.has(k) {
			a.State, a.ResolvedAt = store.AlertResolved, now
			a.Resolution = "the rule is no longer configured"
			e.send(outMsg{n: Notification{Event: EventResolved, Time: now, Alert: a}})
			continue
		}
		if old := rs.active[k]; old != nil {
			delete(e.byID, old.ID)
		}
		rs.active[k] = &a
		rs.lastID[k] = a.ID
		e.byID[a.ID] = &a
		if !a.SilencedUntil.IsZero() && now.Before(a.SilencedUntil) {
			e.silenced[a.Route+"/"+a.Kind] = a.SilencedUntil
		}
		e.metrics.setFiring(a.Route, a.Kind, 1)
	}
	return nil
}

// rebuildRoutes replays the recent calls of each route into its windows.
func (e *Engine) rebuildRoutes(ctx context.Context, routes []*routeState, now time.Time) error {
	for _, rs := range routes {
		obs, err := e.recent(ctx, rs, now)
		if err != nil {
			return fmt.Errorf("route %s: %w", rs.name, err)
		}
		seen, err := e.deprecationsSeen(ctx, rs)
		if err != nil {
			return fmt.Errorf("route %s: %w", rs.name, err)
		}
		e.mu.Lock()
		for i := range seen {
			rs.seeDeprecation(&seen[i])
		}
		for _, o := range obs {
			e.process(o, true)
		}
		// The log's calls had their notices when they happened.
		rs.depNew = nil
		if len(obs) > 0 && obs[0].at.Before(rs.watchFrom) {
			// The log was recording before this start: silence can be judged right away.
			rs.watchFrom = obs[0].at
		}
		e.mu.Unlock()
	}

	e.mu.Lock()
	defer e.mu.Unlock()
	e.evaluateAll(now, nil)
	return nil
}

// lookback is how far back rebuild reads a route's calls: the longest window of its rules, and
// at least the hour that mtguard health reports.
func (r Rules) lookback() time.Duration {
	d := time.Hour
	if r.Silence != nil {
		d = max(d, r.Silence.Per)
	}
	if r.ErrorRate != nil {
		d = max(d, r.ErrorRate.Per)
	}
	if r.Latency != nil {
		d = max(d, r.Latency.Per)
	}
	if r.Contract != nil {
		d = max(d, r.Contract.Per)
	}
	if r.Callers != nil {
		d = max(d, r.Callers.Per)
	}
	return d
}

// recent returns the route's calls of the lookback, oldest first: at most RebuildLimit of the
// newest.
func (e *Engine) recent(ctx context.Context, rs *routeState, now time.Time) ([]observation, error) {
	q := store.Query{Route: rs.name, Since: now.Add(-rs.rules.lookback()), Limit: 1000, Summary: true}
	var obs []observation
	for len(obs) < e.cfg.RebuildLimit {
		page, err := e.store.Query(ctx, q)
		if err != nil {
			return nil, err
		}
		for i := range page.Transactions {
			if tx := &page.Transactions[i]; tx.Outcome != txn.OutcomePending && tx.Kind != txn.KindProbe {
				obs = append(obs, observationOf(tx))
			}
		}
		if page.Next == "" {
			break
		}
		q.Cursor = page.Next
	}
	if len(obs) >= e.cfg.RebuildLimit {
		e.log.Warn().Str("route", rs.name).Int("calls", len(obs)).Msg("alerts: rebuilt from the newest calls only")
	}
	slices.Reverse(obs)
	return obs, nil
}

// deprecationsSeen returns the deprecation findings of the route's newest calls in the log
// (up to 1000 calls per code), so that a restart sends no second notice for a version the
// route already used.
func (e *Engine) deprecationsSeen(ctx context.Context, rs *routeState) ([]txn.Finding, error) {
	if rs.rules.Deprecation == nil {
		return nil, nil
	}
	var out []txn.Finding
	for _, code := range []string{txn.CodeEndpointDeprecated, txn.CodeDeprecationAnnounced} {
		page, err := e.store.Query(ctx, store.Query{Route: rs.name, Finding: code, Limit: 1000, Summary: true})
		if err != nil {
			return nil, err
		}
		for _, tx := range page.Transactions {
			for _, f := range tx.Findings {
				if f.Code == code {
					out = append(out, f)
				}
			}
		}
	}
	return out, nil
}

func kindByName(s string) (kind, bool) {
	for k := range numKinds {
		if k.String() == s {
			return k, true
		}
	}
	return 0, false
}

// has reports whether the rule of kind k is on.
func (r Rules) has(k kind) bool {
	switch k {
	case kindSilence:
		return r.Silence != nil
	case kindErrorRate:
		return r.ErrorRate != nil
	case kindLatency:
		return r.Latency != nil
	case kindAuth:
		return r.Auth != nil
	case kindDeprecation:
		return r.Deprecation != nil
	case kindContract:
		return r.Contract != nil
	case kindThrottle:
		return r.Throttle != nil
	case kindConsecutiveFailures:
		return r.ConsecutiveFailures != nil
	case kindRetired:
		return r.Retired != nil
	case kindCallers:
		return r.Callers != nil
	}
	return false
}

// List returns alerts, newest first: the firing ones from memory, the others from the history.
// The history is written a moment after the memory changes, so the memory wins where both
// hold an alert.
func (e *Engine) List(q store.AlertQuery) ([]store.Alert, error) {
	limit := q.Limit
	if limit <= 0 {
		limit = 50
	}
	e.mu.Lock()
	var live []store.Alert
	for _, a := range e.byID {
		if q.Route == "" || a.Route == q.Route {
			live = append(live, *a)
		}
	}
	st := e.store
	follower := e.follower // the leader's firing alerts are in the shared history
	e.mu.Unlock()

	out := []store.Alert{}
	if q.State != store.AlertResolved {
		out = append(out, live...)
	}
	if (q.State != store.AlertFiring || follower) && st != nil {
		hist, err := st.Alerts(store.AlertQuery{Route: q.Route, State: q.State, Limit: limit})
		if err != nil {
			return nil, err
		}
		for _, a := range hist {
			if !slices.ContainsFunc(live, func(l store.Alert) bool { return l.ID == a.ID }) {
				out = append(out, a)
			}
		}
	}
	slices.SortStableFunc(out, func(a, b store.Alert) int { return b.FiredAt.Compare(a.FiredAt) })
	if len(out) > limit {
		out = out[:limit]
	}
	return e.withDeliveries(out), nil
}

// Alert returns one alert by id, or an error wrapping ErrAlertNotFound.
func (e *Engine) Alert(id string) (store.Alert, error) {
	e.mu.Lock()
	if a := e.byID[id]; a != nil {
		c := *a
		e.mu.Unlock()
		return e.withDeliveries([]store.Alert{c})[0], nil
	}
	st := e.store
	e.mu.Unlock()
	if st != nil {
		a, ok, err := st.GetAlert(id)
		if err != nil {
			return store.Alert{}, err
		}
		if ok {
			return e.withDeliveries([]store.Alert{a})[0], nil
		}
	}
	return store.Alert{}, fmt.Errorf("alert %s: %w", id, ErrAlertNotFound)
}

// Ack is what acknowledging an alert says.
type Ack struct {
	// By is who takes it, e.g. an email address.
	By string `json:"by,omitempty"`
	// Comment is free text kept with the alert.
	Comment string `json:"comment,omitempty"`
	// Silence, when positive, also mutes every notification of this route's rule (this
	// incident and new ones) for that long.
	Silence time.Duration `json:"-"`
}

// Acknowledge marks the alert id as taken care of: no more reminders, and the sinks that heard
// of it are told. It returns the alert as it now stands, or an error wrapping ErrAlertNotFound.
func (e *Engine) Acknowledge(id string, ack Ack) (store.Alert, error) {
	now := e.now()
	e.mu.Lock()
	if a := e.byID[id]; a != nil {
		acknowledge(a, ack, now)
		if ack.Silence > 0 {
			a.SilencedUntil = now.Add(ack.Silence)
			e.silenced[a.Route+"/"+a.Kind] = a.SilencedUntil
		}
		e.notify(EventAcknowledged, a, now)
		c := *a
		e.mu.Unlock()
		return c, nil
	}
	st := e.store
	e.mu.Unlock()
	if st == nil {
		return store.Alert{}, fmt.Errorf("alert %s: %w", id, ErrAlertNotFound)
	}
	// A resolved alert can still be acknowledged, for the postmortem's record.
	a, ok, err := st.GetAlert(id)
	if err != nil {
		return store.Alert{}, err
	}
	if !ok {
		return store.Alert{}, fmt.Errorf("alert %s: %w", id, ErrAlertNotFound)
	}
	acknowledge(&a, ack, now)
	if ack.Silence > 0 && a.State == store.AlertFiring {
		// On a follower (leader.go) the leader takes the silence in with SyncShared.
		a.SilencedUntil = now.Add(ack.Silence)
	}
	if err := st.PutAlert(a); err != nil {
		return store.Alert{}, err
	}
	return a, nil
}

// acknowledge records ack on a; acknowledging again keeps the first time and what the new
// acknowledgement leaves out.
func acknowledge(a *store.Alert, ack Ack, now time.Time) {
	if a.AckedAt.IsZero() {
		a.AckedAt = now
	}
	if ack.By != "" {
		a.AckedBy = ack.By
	}
	if ack.Comment != "" {
		a.AckComment = ack.Comment
	}
}
