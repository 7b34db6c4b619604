package proxy

import (
	"context"
	"testing"
	"time"

	"github.com/mtguard/mtguard/schemas"
	"github.com/mtguard/mtguard/vendors"
)

// TestPausedPastMaxWait: while the vendor's pause lasts longer than max_wait, a call is
// answered at once with the pause's remainder as Retry-After, instead of waiting max_wait for
// a 429; a shorter pause is waited out as before.
func TestPausedPastMaxWait(t *testing.T) {
	clock := newManualClock()
	l, err := NewLimiter([]LimitGroup{{Name: "v", MaxWait: 10 * time.Second}}, nil, nil, clock)
	if err != nil {
		t.Fatal(err)
	}
	l.Observe("v", []schemas.Signal{{Kind: vendors.SignalQuota, RetryAfter: time.Hour}})
	_, waited, err := l.Acquire(context.Background(), "v", PriorityLive)
	te, ok := IsThrottled(err)
	if !ok || waited != 0 || te.RetryAfter != time.Hour {
		t.Fatalf("acquire during an hour's pause: waited %s, err %v; want an immediate throttle with Retry-After 1h", waited, err)
	}
	clock.Advance(time.Hour - 5*time.Second) // 5 s left: within max_wait, so the call waits
	done := make(chan error, 1)
	go func() {
		rel, _, err := l.Acquire(context.Background(), "v", PriorityLive)
		if err == nil {
			rel()
		}
		done <- err
	}()
	clock.waitTimer(5 * time.Second)
	clock.Advance(5 * time.Second)
	if err := <-done; err != nil {
		t.Fatalf("a call within max_wait of the pause's end: %v", err)
	}
}

// TestRollingQuotaProbe: a spent rolling quota (a quota signal without a reset time, in a
// group without a fixed window) pauses for ProbeEvery; then one call probes while the others
// wait. A probe that meets the quota again pauses again; one that gets through resumes all.
func TestRollingQuotaProbe(t *testing.T) {
	clock := newManualClock()
	const probe = time.Minute
	l, err := NewLimiter([]LimitGroup{{Name: "sf", MaxWait: 10 * time.Minute, ProbeEvery: probe,
		Windows: []Window{{Requests: 100000, Per: 24 * time.Hour}}}}, nil, nil, clock)
	if err != nil {
		t.Fatal(err)
	}
	l.Observe("sf", []schemas.Signal{{Kind: vendors.SignalQuota}})
	if st := l.Status()[0]; st.PausedUntil.Sub(clock.Now()) != probe {
		t.Fatalf("paused until %s, want one probe interval (%s) from now", st.PausedUntil, probe)
	}
	type grant struct {
		rel func()
		err error
	}
	grants := make(chan grant, 3)
	for range 3 {
		go func() {
			rel, _, err := l.Acquire(context.Background(), "sf", PriorityLive)
			grants <- grant{rel, err}
		}()
	}
	clock.waitUntil(func() bool { return clock.pendingLocked(10*time.Minute) == 3 })
	clock.Advance(probe)
	first := <-grants
	if first.err != nil {
		t.Fatal(first.err)
	}
	select {
	case g := <-grants:
		t.Fatalf("a second call went while the probe was out: %v", g.err)
	default:
	}
	// The probe meets the quota again: another interval.
	l.Observe("sf", []schemas.Signal{{Kind: vendors.SignalQuota}})
	first.rel()
	clock.Advance(probe)
	second := <-grants
	if second.err != nil {
		t.Fatal(second.err)
	}
	second.rel() // budget is back: the last call goes at once
	third := <-grants
	if third.err != nil {
		t.Fatal(third.err)
	}
	third.rel()
	if st := l.Status()[0]; !st.PausedUntil.IsZero() {
		t.Errorf("still paused until %s after a probe got through", st.PausedUntil)
	}
}
