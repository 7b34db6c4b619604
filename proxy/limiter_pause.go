package proxy

import (
	"cmp"
	"fmt"
	"slices"
	"time"
)

// PausedUntil returns until when the vendor's signal pauses group name; zero when it does not.
func (l *Limiter) PausedUntil(name string) time.Time {
	g := (*l.groups.Load())[name]
	if g == nil {
		return time.Time{}
	}
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.clock.Now().Before(g.paused) {
		return g.paused
	}
	return time.Time{}
}

// DefaultProbeEvery is how often a group paused by a spent rolling quota lets one call probe
// for budget: the vendor gives no reset time, and budget comes back as the day's calls age out.
const DefaultProbeEvery = 5 * time.Minute

// persistPauseOver is the shortest pause worth keeping across a restart: a window's pause ends
// before a restart is done, a quota's lasts for hours.
const persistPauseOver = time.Minute

// pausedPastMaxWait answers a call at once while the group is paused past max_wait: waiting
// could only end in a 429, so the caller gets it now, with Retry-After. g.mu is held.
func (g *group) pausedPastMaxWait(now time.Time) *ThrottledError {
	if !g.paused.After(now.Add(g.cfg.MaxWait)) {
		return nil
	}
	g.throttle++
	return &ThrottledError{Group: g.cfg.Name, RetryAfter: g.paused.Sub(now),
		Reason: fmt.Sprintf("paused until %s (%s), longer than max_wait %s", g.paused.UTC().Format(time.RFC3339), g.pauseWhy, g.cfg.MaxWait)}
}

// quotaPause is how long a limit signal without Retry-After pauses the group: until a fixed
// quota resets, or one window of the smallest sliding budget. A spent quota without a reset
// time (a rolling one, Salesforce's REQUEST_LIMIT_EXCEEDED) pauses for ProbeEvery, after which
// one call at a time probes whether budget is back (probe is true). g.mu is held.
func (g *group) quotaPause(now time.Time, quota bool) (d time.Duration, probe bool) {
	if quota && !slices.ContainsFunc(g.windows, func(ws *windowState) bool { return ws.w.Reset != nil }) {
		return cmp.Or(g.cfg.ProbeEvery, DefaultProbeEvery), true
	}
	return g.documentedReset(now, quota), false
}

// probeAnswered ends the probing once a probe's answer came without a new pause: the budget is
// back, and the calls waiting go. g.mu is held.
func (g *group) probeAnswered(now time.Time) {
	if g.probing && !now.Before(g.paused) {
		g.probing = false
		g.pauseWhy = ""
		g.notePause()
	}
}

// notePause hands a long pause (or its end) to the hook that keeps it across a restart. g.mu
// is held; the hook runs on its own goroutine.
func (g *group) notePause() {
	if g.onPause == nil {
		return
	}
	until, why, probing := g.paused, g.pauseWhy, g.probing
	switch {
	case probing:
	case why == "":
		until = time.Time{} // a probe found budget: forget the kept pause
	case until.Sub(g.clock.Now()) < persistPauseOver:
		return
	}
	hook, name := g.onPause, g.cfg.Name
	go hook(name, until, why, probing)
}

// OnPause sets the hook that keeps long pauses across a restart: it gets every pause of a
// minute or more, and a zero until once a probe found budget again.
func (l *Limiter) OnPause(f func(group string, until time.Time, why string, probing bool)) {
	l.onPause = f
	for _, g := range *l.groups.Load() {
		g.mu.Lock()
		g.onPause = f
		g.mu.Unlock()
	}
}

// RestorePause puts back a pause a previous run kept: a quota pause and its reset, or a
// rolling quota's probing, so the first call after a restart does not meet the vendor's quota
// error again. A pause already over is ignored, unless it was probing (the probe goes first).
func (l *Limiter) RestorePause(name string, until time.Time, why string, probing bool) {
	g := (*l.groups.Load())[name]
	if g == nil {
		return
	}
	g.mu.Lock()
	defer g.mu.Unlock()
	if until.After(g.paused) {
		g.paused, g.pauseWhy = until, why
	}
	g.probing = g.probing || probing
	g.pumpLocked()
}
