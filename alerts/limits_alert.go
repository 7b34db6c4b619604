package alerts

import (
	"fmt"
	"slices"
	"time"
)

// The shared_limits alert (limits.shared, issue 24). While the Redis that several instances
// share their vendor budgets through does not answer, every instance falls back to its
// on_unavailable mode: local-share (each keeps 1/instances of every budget) or hold (calls
// wait). Either way the vendor's limits still hold, but throughput drops, so one alert of kind
// shared_limits fires on the pseudo-route LimitsRoute, goes to every sink, and resolves when
// Redis answers again. Like every incident, only the leading instance opens it (leader.go).

// LimitsRoute is the route named by shared_limits alerts.
const LimitsRoute = "(limits)"

// limitsFailure is what the shared budget last reported; guarded by mu.
type limitsFailure struct {
	since time.Time
	mode  string
	err   string
}

// limitsState returns the alert state of the shared limits, made on first use; mu is held.
// Its sinks follow the store alert's (every configured sink, kept up to date by reloads).
func (e *Engine) limitsState() *routeState {
	if e.limitsRS == nil {
		e.limitsRS = &routeState{name: LimitsRoute, depSeen: map[string]bool{}}
	}
	e.limitsRS.sinks = slices.Clone(e.storeRS.sinks)
	return e.limitsRS
}

// SharedLimitsChanged tells the engine that Redis stopped answering (err set; mode is what the
// instances do meanwhile: local-share or hold) or answers again (err nil). It is the shared
// budget's OnChange, through the composition root, and does not block.
func (e *Engine) SharedLimitsChanged(mode string, err error) {
	now := e.now()
	e.mu.Lock()
	defer e.mu.Unlock()
	rs := e.limitsState()
	if err == nil {
		e.limitsFail = limitsFailure{}
		rs.holds[kindSharedLimits] = false
		e.resolve(rs, kindSharedLimits, now)
		return
	}
	if e.limitsFail.since.IsZero() {
		e.limitsFail.since = now
	}
	e.limitsFail.mode, e.limitsFail.err = mode, err.Error()
	rs.holds[kindSharedLimits] = true
	if a := rs.active[kindSharedLimits]; a != nil {
		a.LastSeen = now
		a.Summary = e.limitsSummary()
		return
	}
	e.fire(rs, kindSharedLimits, now, e.limitsFail.since, 0, 0)
}

// limitsSummary says what the instances do while Redis is away; mu is held.
func (e *Engine) limitsSummary() string {
	f := e.limitsFail
	what := "each instance keeps 1/instances of every vendor budget (local-share): the vendor's limits hold, throughput is lower"
	if f.mode == "hold" {
		what = "calls wait for Redis (hold) and are throttled past their group's max_wait"
	}
	return fmt.Sprintf("Redis (limits.shared) does not answer since %s: %s; %s", f.since.UTC().Format(time.RFC3339), f.err, what)
}
