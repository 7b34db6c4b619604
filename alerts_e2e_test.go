package main

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/mtguard/mtguard/alerts"
)

const alertsE2EConfig = `
listen: 127.0.0.1:0
admin:
  listen: 127.0.0.1:0
alerts:
  sinks:
    - {name: hook, type: webhook, url: %s, secret_env: HOOK_SECRET}
routes:
  - name: legacy
    prefix: /legacy
    upstream: http://127.0.0.1:9
    owner: ops@example.com
    alerts:
      error_rate: {above: 0%%, per: 10m, min_calls: 1}
`

// TestAlertsEndToEnd runs serve with a webhook sink: calls to a vendor that cannot be reached
// fire one error-rate alert naming the owner, which health, alerts, ack and /metrics show, and
// whose command to look works as printed.
func TestAlertsEndToEnd(t *testing.T) {
	var mu sync.Mutex
	var got []alerts.WebhookPayload
	var sigs []string
	hook := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		var p alerts.WebhookPayload
		json.Unmarshal(b, &p)
		mu.Lock()
		got = append(got, p)
		sigs = append(sigs, r.Header.Get(alerts.HeaderSignature))
		mu.Unlock()
	}))
	defer hook.Close()
	events := func() []alerts.WebhookPayload {
		mu.Lock()
		defer mu.Unlock()
		return append([]alerts.WebhookPayload(nil), got...)
	}
	waitFor := func(n int) []alerts.WebhookPayload {
		t.Helper()
		deadline := time.Now().Add(5 * time.Second)
		for len(events()) < n && time.Now().Before(deadline) {
			time.Sleep(5 * time.Millisecond)
		}
		if e := events(); len(e) != n {
			t.Fatalf("webhook got %d notifications, want %d: %+v", len(e), n, e)
		}
		return events()
	}

	in := startMtguard(t, fmt.Sprintf(alertsE2EConfig, hook.URL), map[string]string{"HOOK_SECRET": "s3cret"})
	for range 3 {
		resp, err := http.Post(in.proxy+"/legacy/v1/leads", "application/json", strings.NewReader(`{"email":"jane@acme.com"}`))
		if err != nil {
			t.Fatal(err)
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
	}
	first := waitFor(1)[0]
	alert, _ := first.Alert.(map[string]any)
	if first.Event != "firing" || alert["route"] != "legacy" || alert["kind"] != "error_rate" || alert["owner"] != "ops@example.com" {
		t.Fatalf("notification %+v", first)
	}
	if sig := sigs[0]; !strings.HasPrefix(sig, "sha256=") {
		t.Errorf("webhook not signed: %q", sig)
	}

	out, err := in.cli(t, nil, "health")
	if err != nil {
		t.Fatalf("health: %v\n%s", err, out)
	}
	if !strings.Contains(out, "OWNER") || !regexp.MustCompile(`legacy\s+failing\s+3\s+0\s+100%\s+-\s+-\s+error_rate\s+ops@example.com`).MatchString(out) {
		t.Errorf("health:\n%s", out)
	}
	if out, err := in.cli(t, nil, "health", "--check"); err == nil || !strings.Contains(err.Error(), "legacy is failing") {
		t.Errorf("health --check: %v\n%s", err, out)
	}

	out, err = in.cli(t, nil, "alerts")
	id, _ := alert["id"].(string)
	if err != nil || !strings.Contains(out, id) || !strings.Contains(out, "firing") {
		t.Fatalf("alerts: %v\n%s", err, out)
	}
	// The command the alert prints shows the calls it is about.
	look := strings.Fields(alert["command"].(string))
	if look[0] != "mtguard" {
		t.Fatalf("command %q", alert["command"])
	}
	out, err = in.cli(t, nil, look[1:]...)
	if err != nil || strings.Count(out, "upstream.unreachable") != 3 {
		t.Errorf("%s: %v\n%s", alert["command"], err, out)
	}

	out, err = in.cli(t, nil, "alerts", "ack", id, "--by", "jane@example.com", "--comment", "vendor migrating")
	if err != nil || !strings.Contains(out, "acknowledged "+id) {
		t.Fatalf("ack: %v\n%s", err, out)
	}
	if e := waitFor(2); e[1].Event != "acknowledged" {
		t.Errorf("second notification %+v", e[1])
	}
	if out, err := in.cli(t, nil, "alerts", "ack", "nope"); err == nil || !strings.Contains(err.Error(), "404") {
		t.Errorf("ack of an unknown alert: %v\n%s", err, out)
	}

	resp, err := http.Get(in.admin + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	for _, want := range []string{
		`mtguard_calls_total{outcome="unreachable",route="legacy"} 3`,
		`mtguard_findings_total{code="upstream.unreachable",route="legacy"} 3`,
		`mtguard_alerts_firing{kind="error_rate",route="legacy"} 1`,
		`mtguard_store_commits_total`,
		`mtguard_store_size_bytes`,
	} {
		if !strings.Contains(string(b), want) {
			t.Errorf("/metrics lacks %s", want)
		}
	}
	if strings.Contains(string(b), "jane@acme.com") {
		t.Error("/metrics carries a record key")
	}
	if strings.Contains(in.stderr.String(), "s3cret") {
		t.Error("the log holds the webhook secret")
	}
}
