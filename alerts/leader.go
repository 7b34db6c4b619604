package alerts

import (
	"context"
	"slices"

	"github.com/mtguard/mtguard/store"
)

// Several instances on one shared log (store.backend: postgres) each run an engine, but only
// one of them, the leader, opens incidents and sends their notifications: one alert per
// incident, not one per instance. The others (followers) keep their windows up to date, so a
// follower that becomes leader judges the rules at once, and answer List and Alert from the
// shared history. Who leads is decided outside (a lease in the database); the engine is told
// with SetLeading.

// Follow makes the engine start as a follower: it neither loads the firing alerts nor opens
// incidents until SetLeading(true). Call it before Start.
func (e *Engine) Follow() {
	e.mu.Lock()
	e.follower = true
	e.mu.Unlock()
}

// Leading reports whether the engine opens incidents and sends notifications.
func (e *Engine) Leading() bool {
	e.mu.Lock()
	defer e.mu.Unlock()
	return !e.follower
}

// SetLeading makes the engine the leader (it takes over the alerts still firing in the shared
// history, so an incident the last leader opened is not opened again, and evaluates every rule
// at once) or a follower (it forgets its firing alerts without resolving them: the new leader
// takes them over). It returns whether anything changed.
func (e *Engine) SetLeading(ctx context.Context, leading bool) bool {
	e.mu.Lock()
	if e.follower != leading {
		e.mu.Unlock()
		return false
	}
	if !leading {
		e.follower = true
		e.dropFiring()
		e.mu.Unlock()
		return true
	}
	started := e.started && e.store != nil
	if !started {
		e.follower = false
		e.mu.Unlock()
		return true
	}
	e.mu.Unlock()
	if err := e.loadFiring(ctx, true); err != nil {
		// Leading without the history could open an incident the last leader opened: stay
		// a follower and let the next try read it.
		e.log.Error().Err(err).Msg("alerts: could not read the firing alerts of the shared history; this instance does not lead yet")
		return false
	}
	e.Tick()
	return true
}

// dropFiring forgets the firing alerts held in memory; mu is held.
func (e *Engine) dropFiring() {
	states := slices.Clone(e.order)
	if e.storeRS != nil {
		states = append(states, e.storeRS)
	}
	if e.limitsRS != nil {
		states = append(states, e.limitsRS)
	}
	for _, ss := range e.sinkStates {
		states = append(states, ss.rs)
	}
	for _, rs := range states {
		for k, a := range rs.active {
			if a != nil {
				e.metrics.setFiring(a.Route, a.Kind, 0)
			}
			rs.active[k] = nil
		}
	}
	clear(e.byID)
}

// SyncShared makes the leader take in what other instances wrote to the shared history of the
// alerts it has firing: an acknowledgement (it stops reminding, and tells the sinks the alert
// was acknowledged, as an acknowledgement on the leader does) and a silence. A follower does
// nothing. The composition root calls it at every lease renewal.
func (e *Engine) SyncShared() error {
	e.mu.Lock()
	st, follower := e.store, e.follower
	e.mu.Unlock()
	if follower || st == nil {
		return nil
	}
	firing, err := st.Alerts(store.AlertQuery{State: store.AlertFiring, Limit: 1000})
	if err != nil {
		return err
	}
	now := e.now()
	e.mu.Lock()
	defer e.mu.Unlock()
	for _, s := range firing {
		a := e.byID[s.ID]
		if a == nil {
			continue
		}
		if s.SilencedUntil.After(a.SilencedUntil) {
			a.SilencedUntil = s.SilencedUntil
			e.silenced[a.Route+"/"+a.Kind] = a.SilencedUntil
		}
		if !s.AckedAt.IsZero() && a.AckedAt.IsZero() {
			a.AckedAt, a.AckedBy, a.AckComment = s.AckedAt, s.AckedBy, s.AckComment
			e.notify(EventAcknowledged, a, now)
		}
	}
	return nil
}
