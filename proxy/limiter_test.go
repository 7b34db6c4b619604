package proxy

import (
	"context"
	"math/rand/v2"
	"runtime"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/mtguard/mtguard/schemas"
	"github.com/mtguard/mtguard/vendors"
)

// manualClock is a Clock that moves only when the test says, firing due timers in order.
type manualClock struct {
	mu     sync.Mutex
	now    time.Time
	timers []*manualTimer
	// armed is signalled whenever a timer is set or stopped, for tests that must not move the
	// clock before the code under test waits on it.
	armed *sync.Cond
	stops int // calls to a timer's stop, fired or not
}

type manualTimer struct {
	at      time.Time
	f       func()
	stopped bool
}

func newManualClock() *manualClock {
	c := &manualClock{now: time.Date(2026, 11, 28, 9, 0, 0, 0, time.UTC)}
	c.armed = sync.NewCond(&c.mu)
	return c
}

// waitTimer blocks until a timer is set to fire d from now (and has not fired or been
// stopped): the code under test is then waiting on the clock, and moving it is safe.
func (c *manualClock) waitTimer(d time.Duration) {
	c.waitTimers(d, 1)
}

// waitTimers blocks until n timers are set to fire d from now.
func (c *manualClock) waitTimers(d time.Duration, n int) {
	c.waitUntil(func() bool { return c.pendingLocked(d) >= n })
}

// waitUntil blocks until cond holds. cond runs with the clock locked (it must not call the
// clock's methods, but may use pendingLocked and stops), and again whenever a timer is set or
// stopped or notify is called: what it reads must only change before one of those.
func (c *manualClock) waitUntil(cond func() bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	for !cond() {
		c.armed.Wait()
	}
}

// notify wakes waitUntil to check its condition again.
func (c *manualClock) notify() {
	c.mu.Lock()
	c.armed.Broadcast()
	c.mu.Unlock()
}

// pendingLocked counts the timers set to fire d from now; the clock must be locked.
func (c *manualClock) pendingLocked(d time.Duration) int {
	n := 0
	for _, t := range c.timers {
		if !t.stopped && t.at.Equal(c.now.Add(d)) {
			n++
		}
	}
	return n
}

func (c *manualClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *manualClock) AfterFunc(d time.Duration, f func()) func() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	t := &manualTimer{at: c.now.Add(d), f: f}
	c.timers = append(c.timers, t)
	c.armed.Broadcast()
	return func() bool {
		c.mu.Lock()
		defer c.mu.Unlock()
		was := !t.stopped
		t.stopped = true
		c.stops++
		c.armed.Broadcast()
		return was
	}
}

// Advance moves the clock by d, firing every timer that falls due, in time order. Timers run in
// the caller's goroutine, one after the other: when Advance returns, what they did is done.
func (c *manualClock) Advance(d time.Duration) {
	c.mu.Lock()
	end := c.now.Add(d)
	c.mu.Unlock()
	for {
		c.mu.Lock()
		sort.Slice(c.timers, func(i, j int) bool { return c.timers[i].at.Before(c.timers[j].at) })
		var due *manualTimer
		for i, t := range c.timers {
			if t.stopped {
				continue
			}
			if !t.at.After(end) {
				due = t
				c.timers = append(c.timers[:i:i], c.timers[i+1:]...)
			}
			break
		}
		if due == nil {
			c.now = end
			c.timers = compact(c.timers)
			c.mu.Unlock()
			return
		}
		if due.at.After(c.now) {
			c.now = due.at
		}
		due.stopped = true
		c.mu.Unlock()
		due.f()
	}
}

func compact(ts []*manualTimer) []*manualTimer {
	out := ts[:0]
	for _, t := range ts {
		if !t.stopped {
			out = append(out, t)
		}
	}
	return out
}

// burst offers 10x a group's limit for a simulated span and reports what the "vendor" saw
// (the exact grant times) and how every call ended.
type burstResult struct {
	sends            []time.Time
	offered          int64
	granted          int64
	throttled        int64
	maxInFlightSeen  int64
	maxPerWindowSeen int
}

// queueClock is the clock the limiter sees in runBurst. It counts the max_wait timers set, the
// last thing a call does before it waits in the queue: a timer due max_wait from now is not
// enough, the limiter's own timer may fall due then too.
type queueClock struct {
	*manualClock
	waits int // under the manualClock's lock
}

func (c *queueClock) AfterFunc(d time.Duration, f func()) func() bool {
	stop := c.manualClock.AfterFunc(d, f)
	pc, _, _, _ := runtime.Caller(1)
	if fn := runtime.FuncForPC(pc); fn != nil && strings.HasSuffix(fn.Name(), ".(*group).acquire") {
		c.mu.Lock()
		c.waits++
		c.armed.Broadcast()
		c.mu.Unlock()
	}
	return stop
}

func runBurst(t *testing.T, g LimitGroup, every, span, latency time.Duration, signal func(c *manualClock, l *Limiter, i int)) burstResult {
	t.Helper()
	mc := newManualClock()
	clock := &queueClock{manualClock: mc}
	l, err := NewLimiter([]LimitGroup{g}, nil, nil, clock)
	if err != nil {
		t.Fatal(err)
	}
	var res burstResult
	// A call's trip to the vendor starts on the clock when the limiter grants it, so nothing
	// waits on a goroutine being scheduled; its answer comes back through a release its caller
	// handed over (any caller's will do: they are alike, and each is used once).
	var sent, inflight atomic.Int64
	answered := 0 // only changes in timer callbacks, which run in Advance, here
	steps := int(span / every)
	releases := make(chan func(), steps)
	(*l.groups.Load())[g.Name].onSend = func(_ string, at time.Time) { // under the group's lock
		res.sends = append(res.sends, at)
		res.maxInFlightSeen = max(res.maxInFlightSeen, inflight.Add(1))
		clock.AfterFunc(latency, func() {
			inflight.Add(-1)
			(<-releases)()
			answered++
		})
		sent.Add(1)
		clock.notify()
	}
	// settle waits until no queued call is past its max_wait: a call whose timer fired leaves
	// the queue in its own goroutine, then stops that timer. Moving on before would let the
	// next grants go to calls that, in real time, have long given up.
	gr := (*l.groups.Load())[g.Name]
	settle := func() {
		for {
			clock.mu.Lock()
			seen := clock.stops
			clock.mu.Unlock()
			gr.mu.Lock()
			now, expired := clock.Now(), false
			for _, q := range gr.queues { // oldest first
				expired = expired || len(q) > 0 && !now.Before(q[0].since.Add(gr.cfg.MaxWait))
			}
			gr.mu.Unlock()
			if !expired {
				return
			}
			clock.waitUntil(func() bool { return clock.stops > seen })
		}
	}
	var wg sync.WaitGroup
	var granted, throttled atomic.Int64
	for i := 0; i < steps; i++ {
		res.offered++
		before := sent.Load()
		clock.mu.Lock()
		waits := clock.waits
		clock.mu.Unlock()
		wg.Add(1)
		go func() {
			defer wg.Done()
			release, _, err := l.Acquire(context.Background(), g.Name, PriorityLive)
			if err != nil {
				throttled.Add(1)
				return
			}
			granted.Add(1)
			releases <- release
		}()
		// Time moves on only once this call is sent or queued with its max_wait timer set.
		clock.waitUntil(func() bool { return sent.Load() > before || clock.waits > waits })
		if signal != nil {
			signal(mc, l, i)
		}
		clock.Advance(every)
		settle()
	}
	// Let the queue drain or time out, and every answer arrive.
	for l.QueueDepth() > 0 || answered < int(sent.Load()) {
		clock.Advance(every)
		settle()
	}
	wg.Wait()
	res.granted, res.throttled = granted.Load(), throttled.Load()
	// The largest number of sends in any window [t, t+per).
	for _, w := range g.Windows {
		j := 0
		for i := range res.sends {
			for res.sends[i].Sub(res.sends[j]) >= w.Per {
				j++
			}
			res.maxPerWindowSeen = max(res.maxPerWindowSeen, i-j+1)
		}
	}
	return res
}

// TestBurstNeverExceedsWindow: 60 s at 10x a limit of 100 per 10 s with concurrency 10. The
// vendor never sees 101 calls in any 10 s window, at least 97 % of the budget is used, and
// every call is either sent or throttled.
func TestBurstNeverExceedsWindow(t *testing.T) {
	g := LimitGroup{Name: "vendor", Windows: []Window{{Requests: 100, Per: 10 * time.Second}}, Concurrency: 10, MaxWait: 2 * time.Second}
	res := runBurst(t, g, 10*time.Millisecond, 60*time.Second, 50*time.Millisecond, nil)
	if res.maxPerWindowSeen > 100 {
		t.Fatalf("the vendor saw %d calls in one 10 s window; the limit is 100", res.maxPerWindowSeen)
	}
	if res.maxInFlightSeen > 10 {
		t.Fatalf("%d calls in flight at once; the cap is 10", res.maxInFlightSeen)
	}
	if res.granted+res.throttled != res.offered {
		t.Fatalf("%d offered, %d sent, %d throttled: %d unaccounted", res.offered, res.granted, res.throttled, res.offered-res.granted-res.throttled)
	}
	// The budget over the span the sends took: 100 per 10 s.
	span := res.sends[len(res.sends)-1].Sub(res.sends[0])
	budget := 100 * (int(span/(10*time.Second)) + 1)
	used := float64(len(res.sends)) / float64(budget)
	t.Logf("offered %d, sent %d, throttled %d, busiest window %d, budget used %.1f%% of %d", res.offered, res.granted, res.throttled, res.maxPerWindowSeen, used*100, budget)
	if used < 0.97 {
		t.Fatalf("used %.1f%% of the budget, want at least 97%%", used*100)
	}
}

// TestRetryAfterPausesTheGroup: after a 429 with Retry-After: 2, no call is sent for 2 s, then
// traffic resumes.
func TestRetryAfterPausesTheGroup(t *testing.T) {
	g := LimitGroup{Name: "v", Windows: []Window{{Requests: 1000, Per: time.Second}}, MaxWait: 10 * time.Second}
	var pausedAt time.Time
	res := runBurst(t, g, 100*time.Millisecond, 6*time.Second, time.Millisecond, func(c *manualClock, l *Limiter, i int) {
		if i == 10 {
			pausedAt = c.Now()
			l.Observe("v", []schemas.Signal{{Kind: vendors.SignalRateLimit, RetryAfter: 2 * time.Second}})
		}
	})
	var during, after int
	for _, s := range res.sends {
		switch {
		case s.After(pausedAt) && s.Before(pausedAt.Add(2*time.Second)):
			during++
		case !s.Before(pausedAt.Add(2 * time.Second)):
			after++
		}
	}
	if during != 0 || after == 0 {
		t.Fatalf("%d calls sent during the 2 s pause (want 0), %d after it (want some)", during, after)
	}
	if res.throttled != 0 {
		t.Fatalf("%d calls throttled; the pause is shorter than max_wait, so all should wait and go", res.throttled)
	}
}

// TestQuotaResetsAtVendorTime: a daily quota counts sends since the last reset (restored from
// history after a restart) and frees up at the vendor's reset time in its zone.
func TestQuotaResetsAtVendorTime(t *testing.T) {
	chicago, err := time.LoadLocation("America/Chicago")
	if err != nil {
		t.Fatal(err)
	}
	clock := newManualClock() // 09:00 UTC = 03:00 in Chicago
	quota := Window{Requests: 5, Per: 24 * time.Hour, Reset: DailyReset(0, 0, chicago)}
	history := func(routes []string, since time.Time, max int) ([]time.Time, error) {
		// Four calls since midnight Chicago time, one the day before.
		now := clock.Now()
		return []time.Time{now.Add(-5 * time.Hour), now.Add(-2 * time.Hour), now.Add(-time.Hour), now.Add(-time.Minute), now.Add(-30 * time.Second)}, nil
	}
	l, err := NewLimiter([]LimitGroup{{Name: "mkto", Windows: []Window{quota}, MaxWait: time.Second}}, map[string][]string{"mkto": {"marketo"}}, history, clock)
	if err != nil {
		t.Fatal(err)
	}
	st := l.Status()[0]
	if st.Windows[0].Used != 4 {
		t.Fatalf("restored %d sends since the reset, want 4 (the one before midnight Chicago time does not count)", st.Windows[0].Used)
	}
	if want := time.Date(2026, 11, 29, 6, 0, 0, 0, time.UTC); !st.Windows[0].Resets.Equal(want) {
		t.Fatalf("resets at %v, want %v (midnight in Chicago)", st.Windows[0].Resets, want)
	}
	ctx := context.Background()
	rel, _, err := l.Acquire(ctx, "mkto", PriorityLive)
	if err != nil {
		t.Fatalf("the fifth call of the day: %v", err)
	}
	rel()
	done := make(chan error, 1)
	go func() { _, _, err := l.Acquire(ctx, "mkto", PriorityLive); done <- err }()
	clock.waitTimer(time.Second) // queued, with its max_wait timer set: now time may move
	clock.Advance(2 * time.Second)
	te, ok := IsThrottled(<-done)
	if !ok || te.RetryAfter < 20*time.Hour {
		t.Fatalf("the sixth call: %v (retry after %v), want throttled until the reset about 21 h away", te, te.RetryAfter)
	}
	clock.Advance(21 * time.Hour)
	if _, _, err := l.Acquire(ctx, "mkto", PriorityLive); err != nil {
		t.Fatalf("after the reset: %v", err)
	}
}

// TestReplaysWaitForLiveTraffic: with both waiting, live calls are granted first.
func TestReplaysWaitForLiveTraffic(t *testing.T) {
	clock := newManualClock()
	l, _ := NewLimiter([]LimitGroup{{Name: "v", Concurrency: 1, MaxWait: time.Hour}}, nil, nil, clock)
	ctx := context.Background()
	first, _, _ := l.Acquire(ctx, "v", PriorityLive)
	order := make(chan string, 2)
	go func() { r, _, _ := l.Acquire(ctx, "v", PriorityReplay); order <- "replay"; r() }()
	clock.waitTimers(time.Hour, 1) // each queued call sets its max_wait timer
	go func() { r, _, _ := l.Acquire(ctx, "v", PriorityLive); order <- "live"; r() }()
	clock.waitTimers(time.Hour, 2)
	first()
	if a, b := <-order, <-order; a != "live" || b != "replay" {
		t.Fatalf("granted %s then %s, want live then replay", a, b)
	}
}

// BenchmarkAcquireUnderLimit is the cost of the limiter on a call that is within budget.
func BenchmarkAcquireUnderLimit(b *testing.B) {
	l, _ := NewLimiter([]LimitGroup{{Name: "v", Windows: []Window{{Requests: 1_000_000, Per: time.Millisecond}, {Requests: 1 << 30, Per: 24 * time.Hour, Reset: DailyReset(0, 0, time.UTC)}}, Concurrency: 1 << 20}}, nil, nil, nil)
	ctx := context.Background()
	b.ReportAllocs()
	for b.Loop() {
		rel, _, _ := l.Acquire(ctx, "v", PriorityLive)
		rel()
	}
}

// TestWindowHoldsWhateverTheNetworkDelay: the vendor counts calls when they arrive, which is
// any time between mtguard sending them and the answer coming back. Counting a call in flight
// as arriving now, and an answered one as arriving when its answer came, keeps every vendor
// window within its limit however the delays vary. Counting sends instead lets a call sent
// early but delayed land in the same window as one sent a window later.
//
// Why: take any vendor window holding calls, and Z the last of them to be sent, at s. Every
// other call of the window arrived after the window's start, which is after Z's arrival less
// Per, which is after s less Per; so at s each of them was either in flight or answered less
// than Per ago, and all were counted when Z was let through with room for one more.
func TestWindowHoldsWhateverTheNetworkDelay(t *testing.T) {
	const limit, per, maxWait = 10, time.Second, time.Hour
	clock := newManualClock()
	l, err := NewLimiter([]LimitGroup{{Name: "v", Windows: []Window{{Requests: limit, Per: per}}, MaxWait: maxWait}}, nil, nil, clock)
	if err != nil {
		t.Fatal(err)
	}
	const calls = 300
	// The network delays every other call by up to 400 ms on the way there, and every answer
	// by up to 300 ms on the way back.
	rng := rand.New(rand.NewPCG(1, 2))
	var there, back [calls]time.Duration
	for i := range calls {
		there[i] = time.Duration(rng.Int64N(int64(400 * time.Millisecond)))
		if i%2 == 0 {
			there[i] = time.Millisecond
		}
		back[i] = time.Duration(rng.Int64N(int64(300 * time.Millisecond)))
	}
	// The network is simulated on the clock from the moment of each send, so nothing waits on
	// a goroutine being scheduled: a call's trip starts when the limiter grants it, and its
	// answer comes back through the release its caller handed over (any caller's will do:
	// they are alike, and each is used once).
	var sent atomic.Int64 // grants; written under the group's lock
	var arrivals []time.Time
	answered := 0 // these two only change in timer callbacks, which run in Advance, here
	releases := make(chan func(), calls)
	(*l.groups.Load())["v"].onSend = func(_ string, _ time.Time) {
		k := sent.Load()
		clock.AfterFunc(there[k], func() {
			arrivals = append(arrivals, clock.Now())
			clock.AfterFunc(back[k], func() {
				(<-releases)()
				answered++
			})
		})
		sent.Add(1)
		clock.notify()
	}
	var wg sync.WaitGroup
	for range calls {
		before := sent.Load()
		wg.Add(1)
		go func() {
			defer wg.Done()
			release, _, err := l.Acquire(context.Background(), "v", PriorityLive)
			if err != nil {
				t.Error(err)
				return
			}
			releases <- release
		}()
		// Time moves on only once the call is sent (and on its way) or queued with its
		// max_wait timer set: each queued call sets one, a max_wait from now.
		clock.waitUntil(func() bool { return sent.Load() > before || clock.pendingLocked(maxWait) > 0 })
		clock.Advance(10 * time.Millisecond)
	}
	// Let the queue drain and every answer come back. Everything now happens in timer
	// callbacks, so each Advance leaves nothing pending but timers; a call still queued long
	// after the last could have gone means the limiter lost its wakeup.
	giveUp := clock.Now().Add(10 * time.Minute)
	for answered < calls {
		if clock.Now().After(giveUp) {
			st := l.Status()[0]
			t.Fatalf("after %s, %d of %d calls sent and %d answered; %d queued, %d in flight: the queue stalled", 10*time.Minute, st.Sent, calls, answered, st.Queued, st.InFlight)
		}
		clock.Advance(10 * time.Millisecond)
	}
	wg.Wait()
	sort.Slice(arrivals, func(i, j int) bool { return arrivals[i].Before(arrivals[j]) })
	busiest, j := 0, 0
	for i := range arrivals {
		for arrivals[i].Sub(arrivals[j]) >= per {
			j++
		}
		busiest = max(busiest, i-j+1)
	}
	if len(arrivals) != calls || busiest > limit {
		t.Fatalf("%d of %d calls arrived; the busiest %s window at the vendor held %d, limit %d", len(arrivals), calls, per, busiest, limit)
	}
}

// TestFixedWindowCountsCallsInFlightAtReset: a call sent just before a daily reset may arrive
// just after it, so it counts in the new day too.
func TestFixedWindowCountsCallsInFlightAtReset(t *testing.T) {
	clock := newManualClock() // 09:00 UTC
	day := Window{Requests: 2, Per: 24 * time.Hour, Reset: DailyReset(9, 0, time.UTC)}
	l, err := NewLimiter([]LimitGroup{{Name: "v", Windows: []Window{day}, MaxWait: time.Millisecond}}, nil, nil, clock)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	clock.Advance(24*time.Hour - time.Second)
	late, _, err := l.Acquire(ctx, "v", PriorityLive) // in flight across the reset
	if err != nil {
		t.Fatal(err)
	}
	clock.Advance(2 * time.Second)
	if st := l.Status()[0]; st.Windows[0].Used != 1 {
		t.Fatalf("the new day starts with %d counted, want 1 (the call in flight)", st.Windows[0].Used)
	}
	rel, _, err := l.Acquire(ctx, "v", PriorityLive)
	if err != nil {
		t.Fatal(err)
	}
	late()
	rel()
	// The third call must wait for budget; only once its max_wait timer is set does the clock
	// move past it (moving it earlier leaves that timer in the future and the call stuck).
	third := make(chan error, 1)
	go func() {
		_, _, err := l.Acquire(ctx, "v", PriorityLive)
		third <- err
	}()
	clock.waitTimer(time.Millisecond)
	clock.Advance(time.Second)
	if err := <-third; err == nil {
		t.Fatal("a third call in the new day went through; the limit is 2 and the late call may count")
	}
}

// TestStatusAndQueues: what mtguard limits and the throttle alert read.
func TestStatusAndQueues(t *testing.T) {
	clock := newManualClock()
	g := LimitGroup{Name: "v", Windows: []Window{{Requests: 3, Per: 10 * time.Second}}, Concurrency: 5, MaxWait: 4 * time.Second}
	l, err := NewLimiter([]LimitGroup{g}, map[string][]string{"v": {"a", "b"}}, nil, clock)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	for range 3 {
		rel, _, err := l.Acquire(ctx, "v", PriorityLive)
		if err != nil {
			t.Fatal(err)
		}
		clock.Advance(time.Second)
		rel()
	}
	done := make(chan error, 1)
	go func() { _, _, err := l.Acquire(ctx, "v", PriorityLive); done <- err }()
	// Queued, with its max_wait timer set: moving the clock earlier would leave that timer 4 s
	// after the move, past the end of the test's span, and the call stuck.
	clock.waitTimer(4 * time.Second)
	clock.Advance(3 * time.Second)
	st, q := l.Status()[0], l.Queues()[0]
	if st.Windows[0].Used != 3 || st.Queued != 1 || st.OldestWait != 3*time.Second || st.Saturation != 0.75 || st.Sent != 3 || st.InFlight != 0 {
		t.Fatalf("status = %+v", st)
	}
	if q.Group != "v" || len(q.Routes) != 2 || q.Depth != 1 || q.Saturation != 0.75 || q.Paused {
		t.Fatalf("queues = %+v", q)
	}
	clock.Advance(2 * time.Second) // the first answer leaves the window at +11.1 s; max_wait ends first
	if err := <-done; err == nil {
		t.Fatal("the fourth call went through within max_wait")
	}
	if st := l.Status()[0]; st.Throttled != 1 || st.Queued != 0 || st.Saturation != 0 {
		t.Fatalf("after the timeout, status = %+v", st)
	}
	clock.Advance(10 * time.Second)
	if st := l.Status()[0]; st.Windows[0].Used != 0 {
		t.Fatalf("a window later, %d used, want 0", st.Windows[0].Used)
	}
}

// BenchmarkAcquireUnderLimitParallel is the same cost with every core taking budget from one
// group at once (its lock is shared). The CPU per call is ns/op times GOMAXPROCS.
func BenchmarkAcquireUnderLimitParallel(b *testing.B) {
	l, _ := NewLimiter([]LimitGroup{{Name: "v", Windows: []Window{{Requests: 1_000_000, Per: time.Millisecond}, {Requests: 1 << 30, Per: 24 * time.Hour, Reset: DailyReset(0, 0, time.UTC)}}, Concurrency: 1 << 20}}, nil, nil, nil)
	ctx := context.Background()
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			rel, _, _ := l.Acquire(ctx, "v", PriorityLive)
			rel()
		}
	})
}
