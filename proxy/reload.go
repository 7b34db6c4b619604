package proxy

import (
	"fmt"
	"slices"
	"sort"
	"time"
)

// A live reload (serve's reload.go) swaps what the fronts match calls to and what the limiter
// counts, each in one atomic store. A call holds the *Route it was matched to, and the release
// of the group it took budget from, so calls in flight finish on the config they started with;
// calls that arrive after the store see the new one.

// SetRoutes makes routes the reverse front's routes, for every call matched from now on; calls
// already matched keep theirs. Replays resend through the new routes.
func (p *Proxy) SetRoutes(routes []Route) { p.routes.Store(newRouteTable(routes)) }

// SetRoutes makes routes (those with a Host) the forward front's intercepted routes, for
// every call matched from now on. A tunnel already open stays as it was.
func (f *Forward) SetRoutes(routes []Route) {
	f.hosts.Store(newHostTable(newRouteTable(routes).routes))
}

// Reconfigure makes groups the limiter's groups, all at once. A group whose name stays keeps
// its state: the calls it counted in each window, its pause, pacing, calls in flight and
// queue, so a reload neither resets a budget nor drops a waiting call; only its windows,
// concurrency and max_wait change. A window of a new length, which has no count to inherit,
// is counted from the log (history), as on start, together with the calls the group already
// counted: a call may then count twice for a while, which only holds calls back. A group that
// is removed lets its calls in flight and in its queue finish on it. Nothing changes when a
// group is invalid or the log cannot be read.
func (l *Limiter) Reconfigure(groups []LimitGroup, routesOf map[string][]string, history SendHistory) error {
	old := *l.groups.Load()
	type plan struct {
		g, fresh *group
		times    []time.Time // from the log, for windows that inherit no count
	}
	plans := make([]plan, 0, len(groups))
	for _, gc := range groups {
		fresh, err := newGroup(gc, l.clock)
		if err != nil {
			return err
		}
		fresh.routes = slices.Clone(routesOf[gc.Name])
		fresh.onPause = l.onPause // a group a reload adds keeps its long pauses too
		pl := plan{g: old[gc.Name], fresh: fresh}
		if pl.g == nil || pl.g.needsHistory(fresh) {
			if history != nil && len(fresh.routes) > 0 {
				since := fresh.historySince(l.clock.Now())
				if pl.times, err = history(fresh.routes, since, 10_000_000); err != nil {
					return fmt.Errorf("limit group %s: restore counts from the log: %w", gc.Name, err)
				}
			}
		}
		plans = append(plans, pl)
	}
	next := make(map[string]*group, len(plans))
	for _, pl := range plans {
		if pl.g == nil {
			pl.fresh.count(pl.times, l.clock.Now())
			next[pl.fresh.cfg.Name] = pl.fresh
			continue
		}
		pl.g.adopt(pl.fresh, pl.times)
		next[pl.g.cfg.Name] = pl.g
	}
	l.groups.Store(&next)
	return nil
}

// historySince is how far back the log must be read to count g's windows at now.
func (g *group) historySince(now time.Time) time.Time {
	since := now
	for _, ws := range g.windows {
		start := ws.begin
		if ws.w.Reset == nil {
			start = now.Add(-ws.w.Per - windowMargin(ws.w.Per))
		}
		if start.Before(since) {
			since = start
		}
	}
	return since
}

// inherit finds, among g's windows, the one nw takes its count from: a fixed window of the
// same length that ends at the same time, or, for a sliding window, the sliding window with
// the longest memory of answers, if it remembers as many as nw needs.
func (g *group) inherit(nw *windowState) *windowState {
	var best *windowState
	for _, ws := range g.windows {
		switch {
		case nw.w.Reset != nil:
			if ws.w.Reset != nil && ws.w.Per == nw.w.Per && ws.end.Equal(nw.end) {
				return ws
			}
		case ws.w.Reset == nil && (best == nil || len(ws.done) > len(best.done)):
			best = ws
		}
	}
	if nw.w.Reset == nil && best != nil && len(best.done) >= len(nw.done) && best.w.Per >= nw.w.Per {
		return best
	}
	return nil
}

// needsHistory reports whether one of fresh's windows has nothing in g to inherit from.
func (g *group) needsHistory(fresh *group) bool {
	g.mu.Lock()
	defer g.mu.Unlock()
	for _, nw := range fresh.windows {
		if g.inherit(nw) == nil {
			return true
		}
	}
	return false
}

// adopt takes fresh's configuration, keeping g's state: each new window inherits its count
// (inherit), or is counted from times (the log) plus what g's windows remember.
func (g *group) adopt(fresh *group, times []time.Time) {
	g.mu.Lock()
	defer g.mu.Unlock()
	now := g.clock.Now()
	for _, nw := range fresh.windows {
		from := g.inherit(nw)
		switch {
		case from != nil && nw.w.Reset != nil:
			nw.count, nw.begin, nw.end = from.count, from.begin, from.end
		case from != nil:
			nw.fill(from.answers())
		case nw.w.Reset != nil:
			nw.count = g.inflight
			for _, t := range times {
				if !t.Before(nw.begin) && !t.After(now) {
					nw.count++
				}
			}
			for _, ws := range g.windows {
				if ws.w.Reset != nil && ws.begin.Equal(nw.begin) {
					nw.count = max(nw.count, ws.count)
				}
			}
		default:
			all := slices.Clone(times)
			for _, ws := range g.windows {
				if ws.w.Reset == nil {
					all = append(all, ws.answers()...)
				}
			}
			sort.Slice(all, func(i, j int) bool { return all[i].Before(all[j]) })
			nw.fill(all)
		}
	}
	g.cfg, g.windows, g.routes = fresh.cfg, fresh.windows, fresh.routes
	// A looser window or concurrency may let waiting calls go at once.
	g.pumpLocked()
}

// count counts times (the log) into a new group's windows, as seed does on start.
func (g *group) count(times []time.Time, now time.Time) {
	g.mu.Lock()
	defer g.mu.Unlock()
	for _, t := range times {
		for _, ws := range g.windows {
			if ws.w.Reset != nil {
				if !t.Before(ws.begin) && !t.After(now) {
					ws.count++
				}
				continue
			}
			if t.After(now.Add(-ws.w.Per - windowMargin(ws.w.Per))) {
				ws.answered(t)
			}
		}
	}
}

// answers is a sliding window's remembered answer times, oldest first.
func (ws *windowState) answers() []time.Time {
	out := make([]time.Time, 0, len(ws.done))
	for i := range ws.done {
		if t := ws.done[(ws.next+i)%len(ws.done)]; !t.IsZero() {
			out = append(out, t)
		}
	}
	return out
}

// fill makes a sliding window remember the latest of times (oldest first).
func (ws *windowState) fill(times []time.Time) {
	if n := len(ws.done); len(times) > n {
		times = times[len(times)-n:]
	}
	for _, t := range times {
		ws.answered(t)
	}
}
