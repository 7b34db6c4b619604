package proxy

import (
	"context"
	"fmt"
	"time"
)

// SharedBudget is a limit budget shared with other mtguard instances (package redislimit
// keeps one in Redis; the composition root plugs it in with Limiter.Share). A call first gets
// this instance's budget, then the shared one, so the vendor sees the limits of one mtguard
// however many send.
type SharedBudget interface {
	// Take takes one send of group at now. With room it returns release, which the limiter
	// calls with the time the vendor's answer came back. Without, release is nil and retryAt
	// is when room comes back; zero when only the end of some call (maybe another
	// instance's) frees it.
	Take(ctx context.Context, group string, now time.Time) (release func(at time.Time), retryAt time.Time)
	// Pause pauses group in every instance until until: a vendor's limit signal. It is called
	// with the group locked and must not block (hand the write to a goroutine).
	Pause(group string, until, now time.Time)
	// Mode says how group's budget is kept now ("redis", "local-share 1/3 (...)", "hold (...)"),
	// for mtguard limits.
	Mode(group string) string
}

// sharedPoll is how often a call waiting for the shared budget asks again when it cannot
// know when room comes back (another instance's call must end first: it is not told).
const sharedPoll = 20 * time.Millisecond

// Share makes every group also take its sends from b. It must be called before the limiter
// is used.
func (l *Limiter) Share(b SharedBudget) { l.shared = b }

// acquireShared takes the shared budget for a call that has this instance's: it waits, within
// what is left of the group's max_wait, asking again when room should be back.
func (l *Limiter) acquireShared(ctx context.Context, g *group, release func(), waited time.Duration) (func(), time.Duration, error) {
	start := g.clock.Now().Add(-waited)
	deadline := start.Add(g.cfg.MaxWait)
	for {
		now := g.clock.Now()
		rel, retryAt := l.shared.Take(ctx, g.cfg.Name, now)
		if rel != nil {
			return func() {
				release()
				rel(g.clock.Now())
			}, now.Sub(start), nil
		}
		wait := sharedPoll
		if !retryAt.IsZero() {
			wait = max(retryAt.Sub(now), time.Millisecond)
		}
		reason, gone := "", false
		if now.Add(wait).After(deadline) {
			reason = fmt.Sprintf("no shared budget within max_wait %s", g.cfg.MaxWait)
		} else {
			ready := make(chan struct{})
			stop := g.clock.AfterFunc(wait, func() { close(ready) })
			select {
			case <-ready:
				continue
			case <-ctx.Done():
				stop()
				reason, gone = "the caller left while queued", true
			}
		}
		release()
		g.mu.Lock()
		g.throttle++
		g.mu.Unlock()
		now = g.clock.Now()
		retry := g.cfg.MaxWait
		if !retryAt.IsZero() && retryAt.After(now) {
			retry = retryAt.Sub(now)
		}
		return nil, now.Sub(start), &ThrottledError{Group: g.cfg.Name, Waited: now.Sub(start), RetryAfter: retry, Reason: reason, CallerGone: gone}
	}
}
