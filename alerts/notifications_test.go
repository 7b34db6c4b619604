package alerts

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/mtguard/mtguard/store"
	"github.com/mtguard/mtguard/txn"
)

// deadURL is the address of a server that has stopped: connections are refused.
func deadURL(t *testing.T) string {
	t.Helper()
	srv := httptest.NewServer(http.NotFoundHandler())
	u := srv.URL
	srv.Close()
	return u
}

// switchSink is a sink whose endpoint the test replaces, as an operator fixes a URL.
type switchSink struct {
	mu  sync.Mutex
	cur Sink
}

func (s *switchSink) set(to Sink) { s.mu.Lock(); s.cur = to; s.mu.Unlock() }

func (s *switchSink) Name() string { s.mu.Lock(); defer s.mu.Unlock(); return s.cur.Name() }

func (s *switchSink) Send(ctx context.Context, n Notification) error {
	s.mu.Lock()
	cur := s.cur
	s.mu.Unlock()
	return cur.Send(ctx, n)
}

// webhookEvents decodes the event and alert kind of each delivery rc received.
func webhookEvents(t *testing.T, rc *receiver) []string {
	t.Helper()
	var out []string
	for _, r := range rc.got() {
		var p struct {
			Event string
			Alert store.Alert
		}
		if err := json.Unmarshal([]byte(r.body), &p); err != nil {
			t.Fatalf("webhook body %q: %v", r.body, err)
		}
		out = append(out, p.Event+" "+p.Alert.Route+" "+p.Alert.Kind)
	}
	return out
}

// TestDeadSinkIsRecordedAndReported: a sink whose endpoint refuses connections gets every
// attempt recorded as failed with the error; the alert shows it undelivered, health shows the
// sink failing, and after SinkFailingFor the other sink hears "notifications failing"; the
// dead sink's first delivery resolves it.
func TestDeadSinkIsRecordedAndReported(t *testing.T) {
	clock := &fakeClock{t: nyMonday9}
	st := openStore(t, "")
	live := newReceiver(t)
	dead := &switchSink{cur: NewWebhookSink("dead", deadURL(t), "", nil, clock.Now)}
	e := startEngine(t, Config{
		Now:            clock.Now,
		Sinks:          []Sink{dead, NewWebhookSink("live", live.URL, "", nil, clock.Now)},
		SinkFailingFor: 5 * time.Minute,
		Routes:         []RouteAlerts{{Route: "hubspot", Owner: "jane@example.com", Rules: DefaultRules()}},
	}, st)
	expired := func() txn.Transaction { return call("hubspot", clock.Now(), txn.OutcomeFailed, "auth.expired") }
	observe(e, expired(), expired(), expired())

	atts, err := st.Notifications(store.NotificationQuery{Sink: "dead"})
	if err != nil {
		t.Fatal(err)
	}
	if len(atts) != 3 { // startEngine's retry policy: 3 attempts
		t.Fatalf("dead sink: %d attempts recorded, want 3: %+v", len(atts), atts)
	}
	for i, a := range atts { // newest first
		wantResult := store.NotifyRetrying
		if i == 0 {
			wantResult = store.NotifyFailed
		}
		if a.Result != wantResult || a.Attempt != 3-i || a.Event != EventFiring || a.Route != "hubspot" || a.Kind != KindAuth {
			t.Errorf("attempt %d: %+v, want %s attempt %d of firing hubspot auth", i, a, wantResult, 3-i)
		}
		if !strings.Contains(a.Error, "connection refused") || a.Status != 0 {
			t.Errorf("attempt %d error %q status %d, want connection refused and no status", i, a.Error, a.Status)
		}
	}
	la, err := st.Notifications(store.NotificationQuery{Sink: "live"})
	if err != nil {
		t.Fatal(err)
	}
	if len(la) != 1 || la[0].Result != store.NotifyDelivered || la[0].Status != http.StatusAccepted || la[0].Attempt != 1 {
		t.Fatalf("live sink attempts %+v, want one delivered with 202", la)
	}

	list, err := e.List(store.AlertQuery{State: store.AlertFiring})
	if err != nil {
		t.Fatal(err)
	}
	if len(list) != 1 || list[0].Undelivered != 1 || len(list[0].Deliveries) != 2 {
		t.Fatalf("alerts %+v, want one alert with 2 deliveries, 1 undelivered", list)
	}
	for _, d := range list[0].Deliveries {
		switch d.Sink {
		case "dead":
			if d.Result != store.NotifyFailed || d.Attempts != 3 || !strings.Contains(d.Error, "connection refused") {
				t.Errorf("dead delivery %+v", d)
			}
		case "live":
			if d.Result != store.NotifyDelivered || d.Attempts != 1 || d.Status != 202 {
				t.Errorf("live delivery %+v", d)
			}
		}
	}
	h := e.Health()
	if h.Undelivered != 1 || len(h.Sinks) != 2 || h.Sinks[0].Name != "dead" || h.Sinks[0].State != StateFailing || h.Sinks[1].State != StateOK {
		t.Fatalf("health sinks %+v undelivered %d", h.Sinks, h.Undelivered)
	}

	clock.Advance(4 * time.Minute)
	tick(e)
	if got := webhookEvents(t, live); len(got) != 1 {
		t.Fatalf("after 4 minutes the live sink got %v, want only the auth alert", got)
	}
	clock.Advance(time.Minute)
	tick(e)
	got := webhookEvents(t, live)
	if len(got) != 2 || got[1] != "firing (sink:dead) notifications_failing" {
		t.Fatalf("after 5 minutes the live sink got %v, want the notifications_failing alert", got)
	}
	firing, _ := e.List(store.AlertQuery{State: store.AlertFiring, Route: SinkRoute("dead")})
	if len(firing) != 1 || firing[0].Severity != "critical" || !strings.Contains(firing[0].Summary, "connection refused") ||
		strings.Join(firing[0].Sinks, ",") != "live" {
		t.Fatalf("notifications_failing alert %+v", firing)
	}
	if n, _ := st.Notifications(store.NotificationQuery{Sink: "dead", Alerts: []string{firing[0].ID}}); len(n) != 0 {
		t.Errorf("the dead sink was sent its own failure alert: %+v", n)
	}

	// The sink comes back: a test does not count, a real delivery resolves the alert.
	back := newReceiver(t)
	dead.set(NewWebhookSink("dead", back.URL, "", nil, clock.Now))
	res, err := e.TestSink(context.Background(), "dead", "jane")
	if err != nil || !res.Delivered || res.Status != 202 {
		t.Fatalf("test: %+v %v", res, err)
	}
	if _, err := e.TestSink(context.Background(), "nope", ""); err == nil || !strings.Contains(err.Error(), "dead, live") {
		t.Errorf("unknown sink: %v", err)
	}
	if h := e.Health(); h.Sinks[0].State != StateFailing {
		t.Errorf("a test notification changed the sink's state: %+v", h.Sinks[0])
	}
	observe(e, call("hubspot", clock.Now(), txn.OutcomeDelivered))
	e.Flush() // the dead sink's delivery resolved its alert: that notice is queued behind
	got = webhookEvents(t, live)
	if len(got) != 4 || got[2] != "resolved hubspot auth" || got[3] != "resolved (sink:dead) notifications_failing" {
		t.Fatalf("after the sink recovered the live sink got %v", got)
	}
	if h := e.Health(); h.Sinks[0].State != StateOK {
		t.Errorf("sink after delivering: %+v", h.Sinks[0])
	}
}
