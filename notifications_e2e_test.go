package main

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/mtguard/mtguard/alerts"
	"github.com/mtguard/mtguard/store"
)

const notifyE2EConfig = `
listen: 127.0.0.1:0
admin:
  listen: 127.0.0.1:0
alerts:
  sink_failing_for: 1s
  sinks:
    - {name: hook, type: webhook, url: %s}
    - {name: revoked, type: webhook, url: %s}
routes:
  - name: legacy
    prefix: /legacy
    upstream: http://127.0.0.1:9
    owner: ops@example.com
    alerts:
      error_rate: {above: 0%%, per: 10m, min_calls: 1}
`

// TestUndeliveredNotificationsEndToEnd: a webhook that was revoked (410 Gone) fails the alert's
// notification; alerts --json shows it not delivered with the sink's answer, health shows the
// sink failing, alerts test reports each sink's answer; and once the sink has failed for
// sink_failing_for (1 s here), its next failure raises notifications_failing on the other sink.
func TestUndeliveredNotificationsEndToEnd(t *testing.T) {
	var mu sync.Mutex
	var events []string
	hook := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var p alerts.WebhookPayload
		b, _ := io.ReadAll(r.Body)
		json.Unmarshal(b, &p)
		mu.Lock()
		events = append(events, p.Event)
		mu.Unlock()
	}))
	defer hook.Close()
	revoked := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(http.StatusGone)
		io.WriteString(w, "this webhook was deleted")
	}))
	defer revoked.Close()

	in := startMtguard(t, fmt.Sprintf(notifyE2EConfig, hook.URL, revoked.URL), nil)
	resp, err := http.Post(in.proxy+"/legacy/v1/leads", "application/json", strings.NewReader(`{"email":"jane@acme.com"}`))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()

	list := pollAlerts(t, in, nil, 5*time.Second, func(list []store.Alert) bool { return len(list) == 1 && len(list[0].Deliveries) == 2 })
	if len(list) != 1 || list[0].Undelivered != 1 || len(list[0].Deliveries) != 2 {
		t.Fatalf("alerts: %+v, want one alert with one of two notifications undelivered", list)
	}
	for _, d := range list[0].Deliveries {
		want := store.NotificationDelivery{Event: "firing", Sink: d.Sink, Result: store.NotifyDelivered, Attempts: 1, Status: 200}
		if d.Sink == "revoked" {
			want.Result, want.Status, want.Error = store.NotifyFailed, 410, "endpoint answered 410 Gone: this webhook was deleted"
		}
		d.Time, d.LatencyMS = time.Time{}, 0
		if d != want {
			t.Errorf("delivery %+v, want %+v", d, want)
		}
	}
	out, _ := in.cli(t, nil, "alerts")
	if !strings.Contains(out, "firing to revoked failed after 1 attempts: endpoint answered 410 Gone") {
		t.Errorf("alerts table does not show the undelivered notification:\n%s", out)
	}

	var h alerts.Health
	out, err = in.cli(t, nil, "health", "--json")
	if err != nil || json.Unmarshal([]byte(out), &h) != nil {
		t.Fatalf("health --json: %v\n%s", err, out)
	}
	if h.Undelivered != 1 || len(h.Sinks) != 2 || h.Sinks[1].Name != "revoked" || h.Sinks[1].State != "failing" || h.Sinks[1].LastStatus != 410 || h.Sinks[0].State != "ok" {
		t.Errorf("health sinks %+v undelivered %d", h.Sinks, h.Undelivered)
	}
	out, _ = in.cli(t, nil, "health")
	if !strings.Contains(out, "revoked  failing") {
		t.Errorf("health table does not show the failing sink:\n%s", out)
	}

	out, err = in.cli(t, map[string]string{"USER": "jane"}, "alerts", "test", "--sink", "hook")
	if err != nil || !strings.Contains(out, "sink hook accepted the test notification (HTTP 200") {
		t.Errorf("alerts test --sink hook: %v\n%s", err, out)
	}
	out, err = in.cli(t, nil, "alerts", "test", "--sink", "revoked")
	if err == nil || !strings.Contains(out, "sink revoked did NOT accept the test notification") || !strings.Contains(out, "410 Gone") {
		t.Errorf("alerts test --sink revoked: %v\n%s", err, out)
	}
	out, err = in.cli(t, nil, "alerts", "test", "--sink", "nope")
	if err == nil || !strings.Contains(err.Error(), "the configured sinks are hook, revoked") {
		t.Errorf("alerts test --sink nope: %v\n%s", err, out)
	}
	mu.Lock()
	if strings.Join(events, ",") != "firing,test" {
		t.Errorf("the working hook got %v, want the firing alert and the test", events)
	}
	mu.Unlock()

	// A second later the acknowledgement fails at the revoked sink too: it has failed for
	// sink_failing_for, and the hook is told. (A real second: serve runs on the wall clock.)
	time.Sleep(1100 * time.Millisecond)
	if out, err := in.cli(t, nil, "alerts", "ack", list[0].ID, "--by", "jane"); err != nil {
		t.Fatalf("ack: %v\n%s", err, out)
	}
	deadline := time.Now().Add(5 * time.Second)
	for {
		mu.Lock()
		got := strings.Join(events, ",")
		mu.Unlock()
		if got == "firing,test,acknowledged,firing" {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the hook got %s, want the notifications_failing alert after the acknowledgement", got)
		}
		time.Sleep(10 * time.Millisecond)
	}
	out, _ = in.cli(t, nil, "alerts", "--json")
	list = nil
	json.Unmarshal([]byte(out), &list)
	var nf *store.Alert
	for i := range list {
		if list[i].Kind == alerts.KindNotificationsFailing {
			nf = &list[i]
		}
	}
	if nf == nil || nf.Route != "(sink:revoked)" || strings.Join(nf.Sinks, ",") != "hook" || !strings.Contains(nf.Summary, "410 Gone") {
		t.Fatalf("notifications_failing alert %+v in %s", nf, out)
	}

}
