package main

import (
	"github.com/mtguard/mtguard/alerts"
	"github.com/mtguard/mtguard/inspect"
	"github.com/mtguard/mtguard/proxy"
)

// limiterView adapts the proxy's limiter to what the control plane reads: GET /api/limits,
// the throttle alert rule and the throttle metrics (inspect never imports proxy). The alert
// engine is built before the store, and the limiter after it (it seeds its counters from the
// log), so serve sets l once both exist, before anything reads it.
type limiterView struct {
	l *proxy.Limiter
}

var (
	_ inspect.Limits       = (*limiterView)(nil)
	_ alerts.ThrottleStats = (*limiterView)(nil)
)

// LimitStatus reports every group for GET /api/limits.
func (v *limiterView) LimitStatus() []inspect.LimitStatus {
	if v.l == nil {
		return nil
	}
	st := v.l.Status()
	out := make([]inspect.LimitStatus, 0, len(st))
	for _, g := range st {
		ls := inspect.LimitStatus{
			Group: g.Group, Routes: g.Routes, Windows: make([]inspect.WindowUsage, 0, len(g.Windows)),
			Concurrency: g.Concurrency, InFlight: g.InFlight, Queued: g.Queued, QueuedReplays: g.QueuedReplay,
			OldestWaitMS: float64(g.OldestWait.Microseconds()) / 1000, Saturation: g.Saturation, MaxWait: g.MaxWait.String(),
			PausedUntil: g.PausedUntil, PauseReason: g.PauseReason, Paced: g.Paced, Sent: g.Sent, Throttled: g.Throttled,
		}
		ls.Shared = g.Shared
		for _, w := range g.Windows {
			ls.Windows = append(ls.Windows, inspect.WindowUsage{Requests: w.Requests, Per: w.Per.String(), Used: w.Used, Resets: w.Resets})
		}
		out = append(out, ls)
	}
	return out
}

// QueueStats reports every group's queue for the throttle alert rule and /metrics. Saturation
// is the limiter's: the oldest waiting call's wait over max_wait, so a rule at 80% fires when
// calls come close to being answered 429, whatever the group's size.
func (v *limiterView) QueueStats() []alerts.QueueStat {
	if v.l == nil {
		return nil
	}
	qs := v.l.Queues()
	out := make([]alerts.QueueStat, len(qs))
	for i, q := range qs {
		out[i] = alerts.QueueStat{Group: q.Group, Routes: q.Routes, Depth: q.Depth, Saturation: q.Saturation, Paused: q.Paused}
	}
	return out
}
