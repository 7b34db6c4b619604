package proxy

import (
	"context"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/mtguard/mtguard/schemas"
	"github.com/mtguard/mtguard/vendors"
)

// TestLimiterReconfigureKeepsState: a reload changes a group's limits, not what it counted.
func TestLimiterReconfigureKeepsState(t *testing.T) {
	day := func(t time.Time) time.Time { return t.Truncate(24 * time.Hour).Add(24 * time.Hour) }
	win := func(n int, per time.Duration) Window { return Window{Requests: n, Per: per} }
	for _, tc := range []struct {
		name   string
		before []Window
		sends  int
		pause  bool
		after  []Window
		log    int // calls the log holds in the last hour
		ready  bool
		counts []int // per window after: calls counted (sliding: remembered)
	}{
		{"loosened", []Window{win(5, time.Second)}, 5, false, []Window{win(10, time.Second)}, 0, true, []int{5}},
		{"tightened", []Window{win(10, time.Second)}, 5, false, []Window{win(3, time.Second)}, 0, false, []int{3}},
		{"unchanged, paused", []Window{win(10, time.Second)}, 1, true, []Window{win(10, time.Second)}, 0, false, []int{1}},
		{"new longer window counted from the log", []Window{win(5, time.Second)}, 3, false, []Window{win(5, time.Second), win(60, time.Hour)}, 50, true, []int{3, 53}},
		{"new window, the log full", []Window{win(5, time.Second)}, 3, false, []Window{win(5, time.Second), win(50, time.Hour)}, 50, false, []int{3, 50}},
		{"quota kept", []Window{{Requests: 10, Per: 24 * time.Hour, Reset: day}}, 4, false, []Window{{Requests: 10, Per: 24 * time.Hour, Reset: day}, win(100, time.Second)}, 0, true, []int{4, 0}}, // the new window counts what the log holds: nothing here
		{"quota tightened to what was used", []Window{{Requests: 10, Per: 24 * time.Hour, Reset: day}}, 4, false, []Window{{Requests: 4, Per: 24 * time.Hour, Reset: day}}, 0, false, []int{4}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := newManualClock()
			history := func(routes []string, since time.Time, max int) ([]time.Time, error) {
				var out []time.Time
				for i := range tc.log {
					if at := c.Now().Add(-time.Duration(tc.log-i) * time.Minute); !at.Before(since) {
						out = append(out, at)
					}
				}
				return out, nil
			}
			l, err := NewLimiter([]LimitGroup{{Name: "v", Windows: tc.before}}, map[string][]string{"v": {"crm"}}, nil, c)
			if err != nil {
				t.Fatal(err)
			}
			for range tc.sends {
				release, _, err := l.Acquire(context.Background(), "v", PriorityLive)
				if err != nil {
					t.Fatal(err)
				}
				release()
			}
			if tc.pause {
				l.Observe("v", []schemas.Signal{{Kind: vendors.SignalRateLimit, RetryAfter: time.Minute}})
			}
			before := (*l.groups.Load())["v"]
			if err := l.Reconfigure([]LimitGroup{{Name: "v", Windows: tc.after}}, map[string][]string{"v": {"crm"}}, history); err != nil {
				t.Fatal(err)
			}
			g := (*l.groups.Load())["v"]
			if g != before {
				t.Fatal("the group was replaced, not reconfigured")
			}
			g.mu.Lock()
			defer g.mu.Unlock()
			if _, ok := g.readyAt(c.Now()); ok != tc.ready {
				t.Errorf("ready %v, want %v", ok, tc.ready)
			}
			for i, ws := range g.windows {
				n := ws.count
				if ws.w.Reset == nil {
					n = len(ws.answers())
				}
				if n != tc.counts[i] {
					t.Errorf("window %d counts %d, want %d", i, n, tc.counts[i])
				}
			}
		})
	}
}

func TestLimiterReconfigureAddsRemovesRefuses(t *testing.T) {
	c := newManualClock()
	one := []Window{{Requests: 1, Per: time.Hour}}
	l, err := NewLimiter([]LimitGroup{{Name: "a", Windows: one}}, nil, nil, c)
	if err != nil {
		t.Fatal(err)
	}
	release, _, _ := l.Acquire(context.Background(), "a", PriorityLive)
	release()
	// An invalid group changes nothing.
	if err := l.Reconfigure([]LimitGroup{{Name: "b", Windows: []Window{{Requests: 0, Per: time.Second}}}}, nil, nil); err == nil {
		t.Fatal("a window of 0 requests was accepted")
	}
	if st := l.Status(); len(st) != 1 || st[0].Group != "a" {
		t.Fatalf("after a refused reconfigure: %+v", st)
	}
	if err := l.Reconfigure([]LimitGroup{{Name: "b", Windows: one}}, nil, nil); err != nil {
		t.Fatal(err)
	}
	// "a" is gone: its calls are not limited any more; "b" starts empty.
	for _, name := range []string{"a", "a", "b"} {
		ctx, cancel := context.WithCancel(context.Background())
		cancel() // a call that would have to wait is refused at once
		release, _, err := l.Acquire(ctx, name, PriorityLive)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		release()
	}
}

// TestSetRoutesSwapsForNewCalls: a call matched before the swap keeps its route; the next one
// sees the new table.
func TestSetRoutesSwapsForNewCalls(t *testing.T) {
	p := &Proxy{}
	p.routes.Store(newRouteTable([]Route{{Name: "crm", Prefix: "/crm"}}))
	req := httptest.NewRequest(http.MethodPost, "/crm/v1/leads", nil)
	old, ref := p.route(req)
	if ref != nil || old.Name != "crm" {
		t.Fatalf("before: %v %v", old, ref)
	}
	p.SetRoutes([]Route{{Name: "crm2", Prefix: "/crm", Timeout: time.Second}, {Name: "hs", Prefix: "/hs"}})
	if old.Name != "crm" || old.Timeout != DefaultTimeout {
		t.Fatalf("the matched route changed under its call: %+v", old)
	}
	for path, want := range map[string]string{"/crm/v1/leads": "crm2", "/hs/x": "hs"} {
		r, ref := p.route(httptest.NewRequest(http.MethodPost, path, nil))
		if ref != nil || r.Name != want {
			t.Fatalf("%s: %v %v, want %s", path, r, ref, want)
		}
	}
}
