package proxy

import (
	"context"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/mtguard/mtguard/schemas"
	"github.com/mtguard/mtguard/vendors"
)

// pool is a SharedBudget of a few concurrent sends that several limiters (instances) draw on:
// the seam redislimit fills with Redis (tested there, and end to end).
type pool struct {
	mu     sync.Mutex
	cap    int
	used   int
	paused []time.Time
}

func (p *pool) Take(_ context.Context, _ string, _ time.Time) (func(time.Time), time.Time) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.used >= p.cap {
		return nil, time.Time{}
	}
	p.used++
	var once sync.Once
	return func(time.Time) {
		once.Do(func() {
			p.mu.Lock()
			p.used--
			p.mu.Unlock()
		})
	}, time.Time{}
}

func (p *pool) Pause(_ string, until, _ time.Time) {
	p.mu.Lock()
	p.paused = append(p.paused, until)
	p.mu.Unlock()
}

func (p *pool) Mode(string) string { return "redis" }

func TestSharedBudget(t *testing.T) {
	clock := newManualClock()
	shared := &pool{cap: 2}
	g := LimitGroup{Name: "crm", Concurrency: 10, MaxWait: time.Second}
	var ls []*Limiter
	for range 2 {
		l, err := NewLimiter([]LimitGroup{g}, nil, nil, clock)
		if err != nil {
			t.Fatal(err)
		}
		l.Share(shared)
		ls = append(ls, l)
	}
	ctx := context.Background()
	relA, _, err := ls[0].Acquire(ctx, "crm", PriorityLive)
	if err != nil {
		t.Fatal(err)
	}
	relB, _, err := ls[1].Acquire(ctx, "crm", PriorityLive)
	if err != nil {
		t.Fatal(err)
	}
	// A third call has this instance's budget but not the shared one: it waits, asking again.
	type got struct {
		rel    func()
		waited time.Duration
		err    error
	}
	third := make(chan got, 1)
	go func() {
		rel, waited, err := ls[0].Acquire(ctx, "crm", PriorityLive)
		third <- got{rel, waited, err}
	}()
	clock.waitTimer(sharedPoll)
	relB() // the other instance's call ends
	clock.Advance(sharedPoll)
	r := <-third
	if r.err != nil || r.waited != sharedPoll {
		t.Fatalf("third call: waited %v, err %v; want granted after %v", r.waited, r.err, sharedPoll)
	}
	// With the shared budget full until max_wait, a call is throttled and frees its local slot.
	fourth := make(chan got, 1)
	go func() {
		rel, waited, err := ls[1].Acquire(ctx, "crm", PriorityLive)
		fourth <- got{rel, waited, err}
	}()
	for range int(time.Second / sharedPoll) {
		clock.waitTimer(sharedPoll)
		clock.Advance(sharedPoll)
	}
	r4 := <-fourth
	te, ok := IsThrottled(r4.err)
	if !ok || !strings.Contains(te.Reason, "no shared budget") {
		t.Fatalf("fourth call: %v, want throttled for want of shared budget", r4.err)
	}
	st := ls[1].Status()[0]
	if st.InFlight != 0 || st.Throttled != 1 || st.Shared != "redis" {
		t.Fatalf("status after the throttled call: in flight %d, throttled %d, shared %q", st.InFlight, st.Throttled, st.Shared)
	}
	relA()
	r.rel()
	// A vendor's limit signal pauses every instance through the shared budget.
	ls[0].Observe("crm", []schemas.Signal{{Kind: vendors.SignalRateLimit, RetryAfter: 5 * time.Second}})
	want := clock.Now().Add(5 * time.Second)
	if len(shared.paused) != 1 {
		t.Fatalf("the shared budget heard %d pauses, want 1", len(shared.paused))
	}
	if !shared.paused[0].Equal(want) {
		t.Fatalf("shared pause until %v, want %v", shared.paused[0], want)
	}
}
