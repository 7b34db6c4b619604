package main

import (
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/mtguard/mtguard/alerts"
)

// TestSharedLimitsUnavailableAlert: limits.shared names a Redis that does not answer; the first
// call falls back to local-share (and is delivered), and one shared_limits alert goes to the
// webhook, listed by mtguard alerts with the command to look.
func TestSharedLimitsUnavailableAlert(t *testing.T) {
	rec := &hookRecorder{}
	hook := httptest.NewServer(rec)
	defer hook.Close()
	vendor := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.Copy(io.Discard, r.Body)
		w.Header().Set("Content-Type", "application/json")
		io.WriteString(w, `{"id":"1"}`)
	}))
	defer vendor.Close()
	cfg := fmt.Sprintf(`
listen: 127.0.0.1:0
admin:
  listen: 127.0.0.1:0
alerts:
  sinks:
    - {name: hook, type: webhook, url: %s}
limits:
  shared: {backend: redis, url_env: MTGUARD_REDIS_URL, on_unavailable: local-share, instances: 2}
routes:
  - name: crm
    prefix: /crm
    upstream: %s
    limits:
      windows: [{requests: 10, per: 1s}]
`, hook.URL, vendor.URL)
	// Nothing listens on port 1: Redis is unavailable from the start.
	env := map[string]string{"MTGUARD_REDIS_URL": "redis://127.0.0.1:1/0"}
	in := startMtguard(t, cfg, env)
	resp, err := http.Post(in.proxy+"/crm/v1/leads", "application/json", strings.NewReader(`{"email":"jane@acme.com"}`))
	if err != nil {
		t.Fatal(err)
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("call with Redis away: status %d, want it delivered within the local share", resp.StatusCode)
	}
	deadline := time.Now().Add(10 * time.Second)
	var events []alerts.WebhookPayload
	for {
		events = rec.payloads()
		if len(events) > 0 || time.Now().After(deadline) {
			break
		}
		time.Sleep(10 * time.Millisecond)
	}
	if len(events) != 1 {
		t.Fatalf("webhook got %+v, want one shared_limits notification", events)
	}
	a, _ := events[0].Alert.(map[string]any)
	if events[0].Event != "firing" || a["kind"] != alerts.KindSharedLimits || a["route"] != alerts.LimitsRoute || !strings.Contains(fmt.Sprint(a["summary"]), "local-share") {
		t.Fatalf("notification %+v", events[0])
	}
	out, err := in.cli(t, env, "alerts")
	if err != nil || !strings.Contains(out, "shared_limits") || !strings.Contains(out, "mtguard limits") {
		t.Errorf("alerts: %v\n%s", err, out)
	}
}
