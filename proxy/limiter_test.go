package proxy

import (
	"context"
	"math/rand/v2"
	"sort"
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
	// armed is signalled whenever a timer is set, for tests that must not move the clock before
	// the code under test waits on it.
	armed *sync.Cond
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
	c.mu.Lock()
	defer c.mu.Unlock()
	for {
		for _, t := range c.timers {
			if !t.stopped && t.at.Equal(c.now.Add(d)) {
				return
			}
		}
		c.armed.Wait()
	}
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
		return was
	}
}

// Advance moves the clock by d, firing every timer that falls due, in time order.
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

func runBurst(t *testing.T, g LimitGroup, every, span, latency time.Duration, signal func(c *manualClock, l *Limiter, i int)) burstResult {
	t.Helper()
	clock := newManualClock()
	l, err := NewLimiter([]LimitGroup{g}, nil, nil, clock)
	if err != nil {
		t.Fatal(err)
	}
	var res burstResult
	var mu sync.Mutex
	var inflight atomic.Int64
	l.groups[g.Name].onSend = func(_ string, at time.Time) {
		mu.Lock()
		res.sends = append(res.sends, at)
		mu.Unlock()
	}
	var wg sync.WaitGroup
	var settled atomic.Int64 // calls that have registered with the limiter (granted or queued)
	steps := int(span / every)
	for i := 0; i < steps; i++ {
		res.offered++
		wg.Add(1)
		go func() {
			defer wg.Done()
			release, _, err := l.Acquire(context.Background(), g.Name, PriorityLive)
			if err != nil {
				atomic.AddInt64(&res.throttled, 1)
				return
			}
			atomic.AddInt64(&res.granted, 1)
			if n := inflight.Add(1); n > atomic.LoadInt64(&res.maxInFlightSeen) {
				atomic.StoreInt64(&res.maxInFlightSeen, n)
			}
			done := make(chan struct{})
			clock.AfterFunc(latency, func() { inflight.Add(-1); release(); close(done) })
			<-done
		}()
		// Wait until this call is either granted or queued before time moves on.
		want := res.offered
		for {
			st := l.groups[g.Name].status()
			if st.Sent+int64(st.Queued)+st.Throttled+settled.Load() >= want {
				break
			}
			time.Sleep(10 * time.Microsecond)
		}
		if signal != nil {
			signal(clock, l, i)
		}
		clock.Advance(every)
	}
	// Let the queue drain or time out, and every call's answer arrive.
	finished := make(chan struct{})
	go func() { wg.Wait(); close(finished) }()
	for {
		select {
		case <-finished:
		default:
			clock.Advance(every)
			time.Sleep(10 * time.Microsecond)
			continue
		}
		break
	}
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
	for l.Status()[0].Queued == 0 {
		time.Sleep(time.Millisecond)
	}
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
	for l.Status()[0].QueuedReplay == 0 {
		time.Sleep(time.Millisecond)
	}
	go func() { r, _, _ := l.Acquire(ctx, "v", PriorityLive); order <- "live"; r() }()
	for l.Status()[0].Queued == 0 {
		time.Sleep(time.Millisecond)
	}
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
	const limit, per = 10, time.Second
	clock := newManualClock()
	l, err := NewLimiter([]LimitGroup{{Name: "v", Windows: []Window{{Requests: limit, Per: per}}, MaxWait: time.Hour}}, nil, nil, clock)
	if err != nil {
		t.Fatal(err)
	}
	rng := rand.New(rand.NewPCG(1, 2))
	var mu sync.Mutex
	var arrivals []time.Time
	var wg sync.WaitGroup
	var settled atomic.Int64
	const calls = 300
	for i := range calls {
		// The network delays every other call by up to 400 ms on the way there, and every
		// answer by up to 300 ms on the way back.
		there := time.Duration(rng.Int64N(int64(400 * time.Millisecond)))
		if i%2 == 0 {
			there = time.Millisecond
		}
		back := time.Duration(rng.Int64N(int64(300 * time.Millisecond)))
		wg.Add(1)
		go func() {
			defer wg.Done()
			release, _, err := l.Acquire(context.Background(), "v", PriorityLive)
			settled.Add(1)
			if err != nil {
				t.Error(err)
				return
			}
			done := make(chan struct{})
			clock.AfterFunc(there, func() {
				mu.Lock()
				arrivals = append(arrivals, clock.Now())
				mu.Unlock()
				clock.AfterFunc(back, func() { release(); close(done) })
			})
			<-done
		}()
		for l.Status()[0].Sent+int64(l.QueueDepth()) < int64(i+1) {
			time.Sleep(10 * time.Microsecond)
		}
		clock.Advance(10 * time.Millisecond)
	}
	for settled.Load() < calls {
		clock.Advance(10 * time.Millisecond)
		time.Sleep(10 * time.Microsecond)
	}
	finished := make(chan struct{})
	go func() { wg.Wait(); close(finished) }()
	for waiting := true; waiting; {
		select {
		case <-finished:
			waiting = false
		default:
			clock.Advance(10 * time.Millisecond)
			time.Sleep(10 * time.Microsecond)
		}
	}
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
	for l.QueueDepth() == 0 {
		time.Sleep(time.Millisecond)
	}
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
