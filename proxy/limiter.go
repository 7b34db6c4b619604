package proxy

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sort"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/time/rate"

	"github.com/mtguard/mtguard/schemas"
	"github.com/mtguard/mtguard/vendors"
)

// Window is a vendor budget of Requests per Per. With a reset time (ResetAt) it is a fixed
// window that restarts at that time of day (a daily quota); without, it slides: no Per-long
// span ever holds more than Requests sends.
type Window struct {
	Requests int
	Per      time.Duration
	// Reset, for a fixed window, returns when the window that holds t ends.
	Reset func(t time.Time) time.Time
}

// LimitGroup is one vendor budget, shared by every route that names it.
type LimitGroup struct {
	Name        string
	Windows     []Window
	Concurrency int           // in-flight calls at most; 0 = no cap
	MaxWait     time.Duration // longest a call waits in the queue; 0 = DefaultMaxWait
	// ProbeEvery is how long a rolling quota's exhaustion pauses the group before one call
	// probes whether budget came back (limiter_pause.go); 0 = DefaultProbeEvery.
	ProbeEvery time.Duration
}

// DefaultMaxWait is how long a call may wait for budget when its group sets no max_wait.
const DefaultMaxWait = 30 * time.Second

// Priority orders waiting calls: live traffic first, replays only when no live call waits.
type Priority int

const (
	PriorityLive Priority = iota
	PriorityReplay
)

// ThrottledError is returned when a call waited max_wait (or its caller left) without budget.
type ThrottledError struct {
	Group      string
	Waited     time.Duration
	RetryAfter time.Duration // when budget is expected back
	Reason     string
	CallerGone bool
}

func (e *ThrottledError) Error() string {
	return fmt.Sprintf("limit group %s: %s after waiting %s", e.Group, e.Reason, e.Waited.Round(time.Millisecond))
}

// SendHistory seeds a group's counters from the transaction log on start, so a restart does
// not reset a daily quota: the log already holds every call that was sent. It returns the send
// times of the group's routes since a time, oldest first, at most max of them.
type SendHistory func(routes []string, since time.Time, max int) ([]time.Time, error)

// Clock is the time source of the limiter: real time in production, a manual clock in tests
// that prove the windows exact without sleeping.
type Clock interface {
	Now() time.Time
	// AfterFunc calls f in its own goroutine after d; stop cancels it.
	AfterFunc(d time.Duration, f func()) (stop func() bool)
}

// RealClock is the wall clock.
type RealClock struct{}

// Now returns time.Now().
func (RealClock) Now() time.Time { return time.Now() }

// AfterFunc is time.AfterFunc.
func (RealClock) AfterFunc(d time.Duration, f func()) func() bool { return time.AfterFunc(d, f).Stop }

// Limiter shapes outbound traffic to each group's windows, quota and concurrency, queueing
// calls rather than dropping them, and pauses a group when the vendor signals a limit.
type Limiter struct {
	clock Clock
	// groups is swapped whole by Reconfigure (reload.go); a group keeps its state across.
	groups atomic.Pointer[map[string]*group]
	shared SharedBudget // nil: this instance's budget only (shared.go)
	// onPause is OnPause's hook, which Reconfigure gives the groups a reload adds; set once
	// at start, before any call.
	onPause func(group string, until time.Time, why string, probing bool)
}

// onSendKey is unexported test plumbing: a hook that sees every grant with its exact time.
type onSendFunc func(group string, t time.Time)

// NewLimiter builds a limiter for groups. routesOf lists the routes of each group, for seeding
// the counters from history (which may be nil). A nil clock means RealClock.
func NewLimiter(groups []LimitGroup, routesOf map[string][]string, history SendHistory, clock Clock) (*Limiter, error) {
	if clock == nil {
		clock = RealClock{}
	}
	l := &Limiter{clock: clock}
	byName := map[string]*group{}
	for _, gc := range groups {
		g, err := newGroup(gc, clock)
		if err != nil {
			return nil, err
		}
		g.routes = slices.Clone(routesOf[gc.Name])
		if history != nil {
			if err := g.seed(routesOf[gc.Name], history); err != nil {
				return nil, fmt.Errorf("limit group %s: restore counts from the log: %w", gc.Name, err)
			}
		}
		byName[gc.Name] = g
	}
	l.groups.Store(&byName)
	return l, nil
}

// windowMargin widens sliding windows a little more: a vendor may round its clock to the
// second or count a window's edge in. A proxy may tighten a vendor's limit, never loosen it.
func windowMargin(per time.Duration) time.Duration {
	return max(per/100, 20*time.Millisecond)
}

type group struct {
	cfg    LimitGroup
	clock  Clock
	routes []string // for Status

	mu        sync.Mutex
	windows   []*windowState
	inflight  int
	paused    time.Time // no sends before this
	pauseWhy  string
	pace      *rate.Limiter // set while the vendor reports a budget running low
	paceTill  time.Time
	queues    [2][]*waiter // by Priority, FIFO
	stopTimer func() bool
	onSend    onSendFunc // tests only
	sent      int64
	waitedNS  int64
	throttle  int64

	// probing is half-open: one call at a time tests a spent rolling quota; onPause keeps
	// long pauses across a restart, and may be nil (limiter_pause.go).
	probing bool
	onPause func(group string, until time.Time, why string, probing bool)
}

// windowState is one window's count. The vendor counts a call when it arrives, which is at
// some unknown moment between mtguard sending it and the answer coming back: so a sliding
// window counts a call in flight as arriving now, and an answered call as having arrived when
// its answer came, the latest it can have. However the network delays calls, a call is then
// only sent when the vendor's window cannot hold Requests others (proof in limiter_test.go).
type windowState struct {
	w    Window
	done []time.Time // sliding: ring of the last Requests answer times, oldest first from next
	next int
	// count is, for a fixed window, the calls counted in it: those sent in it, and those in
	// flight when it began (they may arrive in it).
	count      int
	begin, end time.Time // fixed: the current window
}

type waiter struct {
	ready   chan struct{}
	granted bool
	prio    Priority
	since   time.Time // when it started waiting
}

// roll moves a fixed window on to the one holding now. Calls still in flight may arrive in
// the new window, so they count in it too.
func (ws *windowState) roll(now time.Time, inflight int) {
	if now.Before(ws.end) {
		return
	}
	ws.end = ws.w.Reset(now)
	ws.begin = ws.start()
	ws.count = inflight
}

// start returns when the current fixed window began: the reset before end. Per is only the
// usual length (a day of a daylight-saving change has 23 or 25 hours), so it asks Reset.
func (ws *windowState) start() time.Time {
	return ws.w.Reset(ws.end.Add(-ws.w.Per - ws.w.Per/12))
}

// answered records that a call's answer came back at now.
func (ws *windowState) answered(now time.Time) {
	ws.done[ws.next] = now
	ws.next = (ws.next + 1) % len(ws.done)
}

func newGroup(gc LimitGroup, clock Clock) (*group, error) {
	if gc.MaxWait == 0 {
		gc.MaxWait = DefaultMaxWait
	}
	g := &group{cfg: gc, clock: clock}
	now := clock.Now
	for _, w := range gc.Windows {
		if w.Requests <= 0 || w.Per <= 0 {
			return nil, fmt.Errorf("limit group %s: window %d per %s: both must be positive", gc.Name, w.Requests, w.Per)
		}
		ws := &windowState{w: w}
		if w.Reset == nil {
			ws.done = make([]time.Time, w.Requests)
		} else {
			ws.end = w.Reset(now())
			ws.begin = ws.start()
		}
		g.windows = append(g.windows, ws)
	}
	return g, nil
}

// seed replays the send times the log holds into the windows.
func (g *group) seed(routes []string, history SendHistory) error {
	if len(routes) == 0 {
		return nil
	}
	now := g.clock.Now()
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
	times, err := history(routes, since, 10_000_000)
	if err != nil {
		return err
	}
	g.mu.Lock()
	defer g.mu.Unlock()
	// The log has when each call was recorded, not when its answer came: a restart is slower
	// than the answers of the calls before it, and the margin covers the rest.
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
	return nil
}

// Acquire waits for budget in group name. release must be called once the vendor's answer has
// been read (it frees a concurrency slot). A name with no group is not limited.
func (l *Limiter) Acquire(ctx context.Context, name string, prio Priority) (release func(), waited time.Duration, err error) {
	g := (*l.groups.Load())[name]
	if g == nil {
		return func() {}, 0, nil
	}
	release, waited, err = g.acquire(ctx, prio)
	if err != nil || l.shared == nil {
		return release, waited, err
	}
	return l.acquireShared(ctx, g, release, waited)
}

func (g *group) acquire(ctx context.Context, prio Priority) (func(), time.Duration, error) {
	start := g.clock.Now()
	g.mu.Lock()
	if te := g.pausedPastMaxWait(start); te != nil {
		g.mu.Unlock()
		return nil, 0, te
	}
	if len(g.queues[PriorityLive]) == 0 && (prio == PriorityLive || len(g.queues[PriorityReplay]) == 0) {
		if _, ok := g.readyAt(start); ok {
			g.take(start)
			g.mu.Unlock()
			return g.releaseFunc(), 0, nil
		}
	}
	w := &waiter{ready: make(chan struct{}), prio: prio, since: start}
	g.queues[prio] = append(g.queues[prio], w)
	g.pumpLocked()
	maxWait := g.cfg.MaxWait // a reload may change it (Reconfigure); this call keeps its own
	g.mu.Unlock()

	expired := make(chan struct{})
	stop := g.clock.AfterFunc(maxWait, func() { close(expired) })
	defer stop()
	var reason string
	var gone bool
	select {
	case <-w.ready:
		waited := g.clock.Now().Sub(start)
		g.mu.Lock()
		g.waitedNS += int64(waited)
		g.mu.Unlock()
		return g.releaseFunc(), waited, nil
	case <-expired:
		reason = fmt.Sprintf("no budget within max_wait %s", maxWait)
	case <-ctx.Done():
		reason, gone = "the caller left while queued", true
	}
	g.mu.Lock()
	defer g.mu.Unlock()
	if w.granted {
		// Granted in the same instant as the timeout: use the slot rather than waste it.
		return g.releaseFunc(), g.clock.Now().Sub(start), nil
	}
	q := g.queues[prio]
	if i := slices.Index(q, w); i >= 0 {
		g.queues[prio] = slices.Delete(q, i, i+1)
	}
	g.throttle++
	now := g.clock.Now()
	retry := maxWait
	if at, ok := g.readyAt(now); !ok && at.After(now) {
		retry = at.Sub(now)
	}
	return nil, now.Sub(start), &ThrottledError{Group: g.cfg.Name, Waited: now.Sub(start), RetryAfter: retry, Reason: reason, CallerGone: gone}
}

func (g *group) releaseFunc() func() {
	var once sync.Once
	return func() {
		once.Do(func() {
			g.mu.Lock()
			now := g.clock.Now()
			for _, ws := range g.windows {
				if ws.w.Reset != nil {
					ws.roll(now, g.inflight) // before this call stops counting as in flight
				} else {
					ws.answered(now)
				}
			}
			g.inflight--
			g.probeAnswered(now)
			g.pumpLocked()
			g.mu.Unlock()
		})
	}
}

// readyAt reports whether a call may be sent at now; when not, at is the earliest time it
// might be (zero when only a concurrency slot can free it).
func (g *group) readyAt(now time.Time) (at time.Time, ok bool) {
	at = now
	if now.Before(g.paused) {
		at = g.paused
	}
	if g.cfg.Concurrency > 0 && g.inflight >= g.cfg.Concurrency || g.probing && g.inflight > 0 {
		return time.Time{}, false // a probe of a rolling quota goes alone
	}
	for _, ws := range g.windows {
		if ws.w.Reset != nil {
			ws.roll(now, g.inflight)
			if ws.count >= ws.w.Requests && ws.end.After(at) {
				at = ws.end
			}
			continue
		}
		// A call may go when the calls in flight and those answered within the window leave
		// room: when the free-th most recent answer is a window (and the margin) old.
		free := ws.w.Requests - g.inflight
		if free <= 0 {
			return time.Time{}, false // only an answer frees room
		}
		if t := ws.done[(ws.next-free+len(ws.done))%len(ws.done)]; !t.IsZero() {
			if ok := t.Add(ws.w.Per + windowMargin(ws.w.Per)); ok.After(at) {
				at = ok
			}
		}
	}
	if g.pace != nil && now.Before(g.paceTill) {
		r := g.pace.ReserveN(now, 1)
		if d := r.DelayFrom(now); d > 0 {
			if t := now.Add(d); t.After(at) {
				at = t
			}
		}
		r.CancelAt(now)
	}
	return at, !at.After(now)
}

// take records a send at now.
func (g *group) take(now time.Time) {
	g.inflight++
	g.sent++
	if g.onSend != nil {
		g.onSend(g.cfg.Name, now)
	}
	for _, ws := range g.windows {
		if ws.w.Reset != nil {
			ws.count++
		}
	}
	if g.pace != nil && now.Before(g.paceTill) {
		g.pace.AllowN(now, 1)
	}
}

// pumpLocked grants waiting calls in order while budget allows, and arms a timer for the next
// time budget frees up.
func (g *group) pumpLocked() {
	for {
		prio := PriorityLive
		if len(g.queues[prio]) == 0 {
			prio = PriorityReplay
		}
		if len(g.queues[prio]) == 0 {
			return
		}
		now := g.clock.Now()
		at, ok := g.readyAt(now)
		if !ok {
			if !at.IsZero() {
				g.armTimer(at.Sub(now))
			}
			return
		}
		w := g.queues[prio][0]
		g.queues[prio] = g.queues[prio][1:]
		g.take(now)
		w.granted = true
		close(w.ready)
	}
}

func (g *group) armTimer(d time.Duration) {
	if g.stopTimer != nil {
		g.stopTimer()
	}
	g.stopTimer = g.clock.AfterFunc(max(d, time.Millisecond), func() {
		g.mu.Lock()
		g.pumpLocked()
		g.mu.Unlock()
	})
}

// Observe applies what the vendor said about its limits: a limit or quota signal pauses the
// group until the vendor's reset; a low remaining budget paces the group so it is not reached.
func (l *Limiter) Observe(name string, signals []schemas.Signal) {
	g := (*l.groups.Load())[name]
	if g == nil || len(signals) == 0 {
		return
	}
	g.mu.Lock()
	defer g.mu.Unlock()
	now := g.clock.Now()
	if l.shared != nil {
		before := g.paused
		defer func() {
			if g.paused.After(before) {
				// Still under the lock (deferred calls run last-in first-out): Pause
				// does not block.
				l.shared.Pause(name, g.paused, now)
			}
		}()
	}
	for _, s := range signals {
		switch s.Kind {
		case vendors.SignalRateLimit, vendors.SignalQuota:
			d := s.RetryAfter
			probe := false
			if d <= 0 {
				d, probe = g.quotaPause(now, s.Kind == vendors.SignalQuota)
			}
			if until := now.Add(d); until.After(g.paused) || probe {
				g.paused = until
				g.pauseWhy = fmt.Sprintf("the vendor signalled %s for %s", s.Kind, d.Round(time.Millisecond))
				if probe {
					g.pauseWhy = fmt.Sprintf("the vendor's rolling quota is spent; one call probes for budget every %s", d.Round(time.Second))
				}
				g.probing = probe
				g.notePause()
			}
		case vendors.SignalRemaining:
			if s.Limit <= 0 || s.Remaining < 0 {
				continue
			}
			if s.Remaining == 0 && s.RetryAfter > 0 {
				if until := now.Add(s.RetryAfter); until.After(g.paused) {
					g.paused, g.pauseWhy = until, "the vendor reported no budget left"
				}
				continue
			}
			// Below a tenth of the budget, spread what is left over the window instead of
			// spending it at once.
			if s.Remaining*10 < s.Limit {
				per := g.smallestWindow()
				if per == 0 {
					per = time.Second
				}
				g.pace = rate.NewLimiter(rate.Limit(float64(max(s.Remaining, 1))/per.Seconds()), 1)
				g.paceTill = now.Add(per)
			}
		}
	}
	g.pumpLocked()
}

// documentedReset is how long to pause after a limit signal without Retry-After: until the
// quota resets, or one window of the smallest sliding budget.
func (g *group) documentedReset(now time.Time, quota bool) time.Duration {
	if quota {
		for _, ws := range g.windows {
			if ws.w.Reset != nil {
				return ws.w.Reset(now).Sub(now)
			}
		}
	}
	if d := g.smallestWindow(); d > 0 {
		return d
	}
	return 10 * time.Second
}

func (g *group) smallestWindow() time.Duration {
	var d time.Duration
	for _, ws := range g.windows {
		if ws.w.Reset == nil && (d == 0 || ws.w.Per < d) {
			d = ws.w.Per
		}
	}
	return d
}

// GroupStatus is a group's budget and state, for `mtguard limits`.
type GroupStatus struct {
	Group        string
	Routes       []string
	Windows      []WindowStatus
	Concurrency  int // 0 = no cap
	InFlight     int
	Queued       int // live calls waiting
	QueuedReplay int // replays waiting
	// OldestWait is how long the call at the head of the queue has waited.
	OldestWait  time.Duration
	Saturation  float64
	PausedUntil time.Time // zero when not paused
	PauseReason string
	Paced       bool // the vendor reported its budget running low
	Sent        int64
	Throttled   int64
	MaxWait     time.Duration

	// Shared says how the budget is shared with other instances ("" when it is not).
	Shared string
}

// WindowStatus is one window's budget and use.
type WindowStatus struct {
	Requests int
	Per      time.Duration
	Used     int
	Resets   time.Time // when a fixed window restarts; zero for a sliding one
}

// QueueStatus is a group's queue, cheap enough to read every few seconds.
type QueueStatus struct {
	Group  string
	Routes []string
	Depth  int // calls waiting, live and replays
	// Saturation is how close the group is to turning calls away, from 0 to 1: how long the
	// oldest waiting call has waited, over max_wait. At 1 calls are getting 429s.
	Saturation float64
	Paused     bool
}

// Status reports every group, sorted by name.
func (l *Limiter) Status() []GroupStatus {
	var out []GroupStatus
	for _, g := range *l.groups.Load() {
		st := g.status()
		if l.shared != nil {
			st.Shared = l.shared.Mode(g.cfg.Name)
		}
		out = append(out, st)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Group < out[j].Group })
	return out
}

// Queues reports every group's queue, sorted by name. Unlike Status it does not count the
// windows, so it costs little whatever their size.
func (l *Limiter) Queues() []QueueStatus {
	groups := *l.groups.Load()
	out := make([]QueueStatus, 0, len(groups))
	for _, g := range groups {
		g.mu.Lock()
		now := g.clock.Now()
		out = append(out, QueueStatus{
			Group: g.cfg.Name, Routes: g.routes, Depth: len(g.queues[0]) + len(g.queues[1]),
			Saturation: g.saturationLocked(now), Paused: now.Before(g.paused),
		})
		g.mu.Unlock()
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Group < out[j].Group })
	return out
}

// QueueDepth is the number of calls waiting in every group.
func (l *Limiter) QueueDepth() int {
	n := 0
	for _, g := range *l.groups.Load() {
		g.mu.Lock()
		n += len(g.queues[0]) + len(g.queues[1])
		g.mu.Unlock()
	}
	return n
}

// oldestWaitLocked is how long the longest-waiting call has waited.
func (g *group) oldestWaitLocked(now time.Time) time.Duration {
	var d time.Duration
	for _, q := range g.queues {
		if len(q) > 0 {
			d = max(d, now.Sub(q[0].since))
		}
	}
	return d
}

func (g *group) saturationLocked(now time.Time) float64 {
	return min(1, float64(g.oldestWaitLocked(now))/float64(g.cfg.MaxWait))
}

func (g *group) status() GroupStatus {
	g.mu.Lock()
	defer g.mu.Unlock()
	now := g.clock.Now()
	st := GroupStatus{
		Group: g.cfg.Name, Routes: g.routes, Concurrency: g.cfg.Concurrency, InFlight: g.inflight,
		Queued: len(g.queues[PriorityLive]), QueuedReplay: len(g.queues[PriorityReplay]),
		OldestWait: g.oldestWaitLocked(now), Saturation: g.saturationLocked(now),
		Paced: g.pace != nil && now.Before(g.paceTill), Sent: g.sent, Throttled: g.throttle, MaxWait: g.cfg.MaxWait,
	}
	if now.Before(g.paused) {
		st.PausedUntil, st.PauseReason = g.paused, g.pauseWhy
	}
	for _, ws := range g.windows {
		s := WindowStatus{Requests: ws.w.Requests, Per: ws.w.Per}
		if ws.w.Reset != nil {
			ws.roll(now, g.inflight)
			s.Used, s.Resets = ws.count, ws.end
		} else {
			// The calls in flight, and those answered within Per: the ring is oldest first.
			n, cutoff := len(ws.done), now.Add(-ws.w.Per)
			i := sort.Search(n, func(i int) bool { return ws.done[(ws.next+i)%n].After(cutoff) })
			s.Used = min(ws.w.Requests, g.inflight+n-i)
		}
		st.Windows = append(st.Windows, s)
	}
	return st
}

// DailyReset returns the Reset of a fixed window that restarts every day at hh:mm in loc.
func DailyReset(hour, minute int, loc *time.Location) func(time.Time) time.Time {
	return func(t time.Time) time.Time {
		lt := t.In(loc)
		next := time.Date(lt.Year(), lt.Month(), lt.Day(), hour, minute, 0, 0, loc)
		if !next.After(lt) {
			next = next.AddDate(0, 0, 1)
		}
		return next
	}
}

// IsThrottled reports whether err is a ThrottledError.
func IsThrottled(err error) (*ThrottledError, bool) {
	var te *ThrottledError
	ok := errors.As(err, &te)
	return te, ok
}
