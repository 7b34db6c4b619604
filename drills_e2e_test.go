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
	"github.com/mtguard/mtguard/txn"
)

// drillVendor answers like a healthy vendor (a Marketo success envelope) and counts the calls
// that reach it, by path.
type drillVendor struct {
	mu  sync.Mutex
	got map[string]int
}

func (v *drillVendor) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	io.Copy(io.Discard, r.Body)
	v.mu.Lock()
	v.got[r.URL.Path]++
	v.mu.Unlock()
	w.Header().Set("Content-Type", "application/json")
	io.WriteString(w, `{"requestId":"a1#b2","success":true,"result":[{"id":1,"status":"created"}]}`)
}

func (v *drillVendor) hits(path string) int {
	v.mu.Lock()
	defer v.mu.Unlock()
	return v.got[path]
}

// Every route fires on its first sign of trouble, so the drills run in real time in well under
// a second each; the engine's 10 s tick is never waited for.
const drillsE2EConfig = `
listen: 127.0.0.1:0
admin:
  listen: 127.0.0.1:0
  tokens:
    - {name: dashboard, role: viewer, token_env: VIEWER_TOKEN}
    - {name: ops-laptop, role: operator, token_env: OPERATOR_TOKEN}
alerts:
  sinks:
    - {name: hook, type: webhook, url: %[2]s}
routes:
  - {name: down, prefix: /down, upstream: %[1]s, preset: generic, alerts: {error_rate: {above: 0%%, per: 10m, min_calls: 1}}}
  - {name: s503, prefix: /s503, upstream: %[1]s, preset: generic, alerts: {error_rate: {above: 0%%, per: 10m, min_calls: 1}}}
  - {name: s429, prefix: /s429, upstream: %[1]s, preset: generic, alerts: {error_rate: {above: 0%%, per: 10m, min_calls: 1}}}
  - {name: slow, prefix: /slow, upstream: %[1]s, preset: generic, timeout: 5s, alerts: {latency: {p95_above: 150ms, per: 10m, min_calls: 1}}}
  - {name: token, prefix: /token, upstream: %[1]s, preset: generic, alerts: {auth: {consecutive: 1}}}
  - {name: mkto, prefix: /mkto, upstream: %[1]s, preset: marketo, alerts: {auth: {consecutive: 1}}}
  - {name: mktodiscard, prefix: /mktodiscard, upstream: %[1]s, preset: marketo, alerts: {error_rate: {above: 0%%, per: 10m, min_calls: 1}}}
  - {name: sunset, prefix: /sunset, upstream: %[1]s, preset: generic, alerts: {deprecation: {sunset_within: 90d}}}
  - {name: precious, prefix: /precious, upstream: %[1]s, drills: false}
`

// TestDrillsEndToEnd runs a drill of each fault kind through the real server: the expected
// alert reaches the webhook within the expectation, the report says PASS, a replaced answer
// never reaches the vendor (an altered one does), the drill's calls carry its id and stay out
// of the metrics, and once the drill is stopped the route is clean.
func TestDrillsEndToEnd(t *testing.T) {
	vendor := &drillVendor{got: map[string]int{}}
	vsrv := httptest.NewServer(vendor)
	defer vsrv.Close()
	hook := &hookRecorder{}
	hsrv := httptest.NewServer(hook)
	defer hsrv.Close()
	env := map[string]string{"VIEWER_TOKEN": "view-1", "OPERATOR_TOKEN": "op-1"}
	op := map[string]string{"MTGUARD_ADMIN_TOKEN": "op-1"}
	viewer := map[string]string{"MTGUARD_ADMIN_TOKEN": "view-1"}
	in := startMtguard(t, fmt.Sprintf(drillsE2EConfig, vsrv.URL, hsrv.URL), env)

	tests := []struct {
		route, fault, path string
		kind               string
		status             int // what the tool gets during the drill
		reachesVendor      bool
	}{
		{"down", "down", "/v1/leads", alerts.KindErrorRate, http.StatusBadGateway, false},
		{"s503", "status:503", "/v1/leads", alerts.KindErrorRate, http.StatusServiceUnavailable, false},
		{"s429", "status:429", "/v1/leads", alerts.KindErrorRate, http.StatusTooManyRequests, false},
		{"slow", "slow:300ms", "/v1/leads", alerts.KindLatency, http.StatusOK, true},
		{"token", "expire-auth", "/v1/leads", alerts.KindAuth, http.StatusUnauthorized, false},
		{"mkto", "expire-auth", "/rest/v1/leads.json", alerts.KindAuth, http.StatusOK, false},
		{"mktodiscard", "discard", "/rest/v1/leads.json", alerts.KindErrorRate, http.StatusOK, false},
		{"sunset", "deprecate", "/v1/leads", alerts.KindDeprecation, http.StatusOK, true},
	}
	for _, tc := range tests {
		t.Run(tc.route+"/"+tc.fault, func(t *testing.T) {
			out, err := in.cli(t, op, "drill", "start", "--route", tc.route, "--fault", tc.fault, "--for", "10m",
				"--expect", tc.kind+" alert within 10s", "--json")
			if err != nil {
				t.Fatalf("drill start: %v\n%s", err, out)
			}
			var d store.Drill
			if err := json.Unmarshal([]byte(out), &d); err != nil || d.State != store.DrillRunning || d.StartedBy != "ops-laptop" {
				t.Fatalf("drill start answered %+v (%v)\n%s", d, err, out)
			}
			before := vendor.hits(tc.path)
			resp, err := http.Post(in.proxy+"/"+tc.route+tc.path, "application/json", strings.NewReader(`{"email":"drill@example.com"}`))
			if err != nil {
				t.Fatal(err)
			}
			io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			if resp.StatusCode != tc.status {
				t.Errorf("during the drill the tool got %d, want %d", resp.StatusCode, tc.status)
			}
			id := resp.Header.Get("X-Mtguard-Id")
			if got := vendor.hits(tc.path) - before; (got == 1) != tc.reachesVendor || got > 1 {
				t.Errorf("the vendor got %d calls during the drill (reaches vendor: %v)", got, tc.reachesVendor)
			}
			want := tc.route + " " + tc.kind
			deadline := time.Now().Add(10 * time.Second)
			for !containsStr(hook.firing(), want) && time.Now().Before(deadline) {
				time.Sleep(10 * time.Millisecond)
			}
			if !containsStr(hook.firing(), want) {
				t.Fatalf("the webhook never got a %s alert; it got %v", want, hook.firing())
			}
			out, err = in.cli(t, viewer, "show", id, "--json")
			var tx txn.Transaction
			if err != nil || json.Unmarshal([]byte(out), &tx) != nil || tx.Drill != d.ID {
				t.Errorf("the drilled call %s is not marked with drill %s: %v\n%s", id, d.ID, err, out)
			}

			// Stop it: the report says what happened, and the route is clean again.
			if out, err = in.cli(t, op, "drill", "stop", d.ID); err != nil || !strings.Contains(out, "verdict:") {
				t.Fatalf("drill stop: %v\n%s", err, out)
			}
			deadline = time.Now().Add(5 * time.Second)
			for {
				out, err = in.cli(t, viewer, "drill", "status", d.ID, "--json")
				if err != nil {
					t.Fatalf("drill status: %v\n%s", err, out)
				}
				json.Unmarshal([]byte(out), &d)
				if d.Report != nil && len(d.Report.Alerts) > 0 && len(d.Report.Alerts[0].Accepted) > 0 || time.Now().After(deadline) {
					break
				}
				time.Sleep(10 * time.Millisecond) // the webhook's answer is recorded just after it
			}
			r := d.Report
			if d.State != store.DrillEnded || d.EndedBy != "stop" || r == nil || r.Calls != 1 || r.Pass == nil || !*r.Pass ||
				!strings.HasPrefix(r.Verdict, "PASS: "+tc.kind+" fired") {
				t.Fatalf("report %+v of drill %+v", r, d)
			}
			a := r.Alerts[0]
			if a.Kind != tc.kind || a.DelayS < 0 || a.DelayS > 10 || strings.Join(a.Accepted, ",") != "hook" || len(a.Failed) != 0 || a.Acknowledged {
				t.Errorf("report alert %+v", a)
			}
			out, _ = in.cli(t, viewer, "drill", "status", d.ID)
			if !strings.Contains(out, "verdict: PASS") || !strings.Contains(out, "accepted by: hook") {
				t.Errorf("drill status:\n%s", out)
			}
			before = vendor.hits(tc.path)
			resp, err = http.Post(in.proxy+"/"+tc.route+tc.path, "application/json", strings.NewReader(`{"email":"real@example.com"}`))
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			if vendor.hits(tc.path) != before+1 || resp.StatusCode != 200 || resp.Header.Get("Sunset") != "" {
				t.Errorf("after the drill: status %d, vendor calls %d (want 1 more), Sunset %q", resp.StatusCode, vendor.hits(tc.path)-before, resp.Header.Get("Sunset"))
			}
		})
	}

	// Drill calls are not real traffic: the metrics count only the calls made after each drill
	// (they are counted once the engine has seen them, a moment after the answer).
	var metrics string
	deadline := time.Now().Add(5 * time.Second)
	for {
		req, _ := http.NewRequest(http.MethodGet, in.admin+"/metrics", nil)
		req.Header.Set("Authorization", "Bearer view-1")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		metrics = string(b)
		if strings.Contains(metrics, `mtguard_calls_total{outcome="delivered",route="sunset"} 1`) || time.Now().After(deadline) {
			break
		}
		time.Sleep(10 * time.Millisecond)
	}
	for _, tc := range tests {
		for _, l := range strings.Split(metrics, "\n") {
			if !strings.HasPrefix(l, "mtguard_calls_total{") || !strings.Contains(l, fmt.Sprintf("route=%q", tc.route)) {
				continue
			}
			want := " 0"
			if strings.Contains(l, `outcome="delivered"`) {
				want = " 1"
			}
			if !strings.HasSuffix(l, want) {
				t.Errorf("metrics: %s, want%s: only the call after the drill counts", l, want)
			}
		}
	}

	// Refusals: a route with drills: false, a viewer, an unknown fault, a preset without the answer.
	for _, c := range []struct {
		env  map[string]string
		args []string
		want string
	}{
		{op, []string{"--route", "precious", "--fault", "down"}, "route precious has drills: false"},
		{map[string]string{"MTGUARD_ADMIN_TOKEN": "view-1"}, []string{"--route", "down", "--fault", "down"}, "403"},
		{op, []string{"--route", "down", "--fault", "meteor"}, `unknown fault "meteor"`},
		{op, []string{"--route", "down", "--fault", "discard"}, "the route's preset has none"},
		{op, []string{"--route", "nope", "--fault", "down"}, `no route named "nope"`},
		{op, []string{"--route", "down", "--fault", "down", "--expect", "soon"}, `write "alert within 5m"`},
	} {
		out, err := in.cli(t, c.env, append([]string{"drill", "start"}, c.args...)...)
		if err == nil || !strings.Contains(err.Error()+out, c.want) {
			t.Errorf("drill start %v: %v\n%s; want an error saying %q", c.args, err, out, c.want)
		}
	}
	resp, err := http.Post(in.proxy+"/precious/v1/leads", "application/json", strings.NewReader(`{}`))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Errorf("a refused drill faulted route precious: %d", resp.StatusCode)
	}
}

func containsStr(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}
