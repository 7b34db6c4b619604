package inspect

import (
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/mtguard/mtguard/alerts"
	"github.com/mtguard/mtguard/store"
	"github.com/mtguard/mtguard/txn"
)

// nyMonday9 is 09:00 on a Monday in New York.
var nyMonday9 = time.Date(2026, 11, 30, 14, 0, 0, 0, time.UTC)

// testClock is a clock the test moves by hand.
type testClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *testClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

// alertCall is a recorded call of route carrying the finding codes.
func alertCall(route string, at time.Time, outcome txn.Outcome, codes ...string) txn.Transaction {
	var tx txn.Transaction
	tx.ID, tx.Time, tx.Route, tx.Method, tx.Path = "01TESTTESTTESTTESTTESTTEST", at, route, "POST", "/"+route+"/v1/leads"
	tx.Outcome, tx.Status, tx.UpstreamMS = outcome, 200, 120
	if outcome != txn.OutcomeDelivered {
		tx.Status = 500
	}
	tx.Findings = []txn.Finding{}
	for _, c := range codes {
		tx.Findings = append(tx.Findings, txn.Finding{Code: c, Severity: txn.SeverityError, Message: c})
	}
	return tx
}

// alertServer is an admin API with an engine holding one firing auth alert on route crm.
func alertServer(t *testing.T, token string) (*httptest.Server, *alerts.Engine, *testClock) {
	t.Helper()
	clock := &testClock{t: nyMonday9}
	st, err := store.Open(filepath.Join(t.TempDir(), "mtguard.db"), store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	m := alerts.NewMetrics()
	m.Watch(alerts.MetricsConfig{StoreSize: func() int64 { return 4096 }, StoreWriteErrors: func() int64 { return 2 }})
	e, err := alerts.New(alerts.Config{
		Now:     clock.Now,
		Tick:    time.Hour, // the test moves the clock; the engine's own ticker stays out of it
		Metrics: m,
		Routes: []alerts.RouteAlerts{
			{Route: "crm", Owner: "ops@example.com", Rules: alerts.DefaultRules()},
			{Route: "ga4", Owner: "web@example.com", Rules: alerts.DefaultRules()},
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	e.Start(t.Context(), st)
	t.Cleanup(e.Close)
	for range 3 {
		tx := alertCall("crm", clock.Now(), txn.OutcomeFailed, "auth.expired")
		tx.RecordKeys = []string{"jane@acme.com"}
		tx.UpstreamMS, tx.RecordMS = 250, 0.8
		e.Observe(tx)
	}
	e.Observe(alertCall("ga4", clock.Now(), txn.OutcomeDelivered))
	e.Observe(alertCall("", clock.Now(), txn.OutcomeRejected, "route.unknown"))
	e.Flush()
	srv := httptest.NewServer(NewServer(ServerConfig{Transactions: st, Token: token, Alerts: e, Metrics: m.Handler(), Now: clock.Now}))
	t.Cleanup(srv.Close)
	return srv, e, clock
}

func do(t *testing.T, method, url, token, body string) (int, http.Header, string) {
	t.Helper()
	req, _ := http.NewRequest(method, url, strings.NewReader(body))
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, resp.Header, string(b)
}

func TestHealthEndpoint(t *testing.T) {
	srv, _, _ := alertServer(t, "")
	status, _, body := do(t, "GET", srv.URL+"/api/health", "", "")
	if status != 200 {
		t.Fatalf("status %d: %s", status, body)
	}
	var h alerts.Health
	if err := json.Unmarshal([]byte(body), &h); err != nil {
		t.Fatal(err)
	}
	if len(h.Routes) != 2 {
		t.Fatalf("routes %+v", h.Routes)
	}
	crm, ga4 := h.Routes[0], h.Routes[1]
	if crm.Route != "crm" || crm.State != alerts.StateFailing || crm.Calls != 3 || crm.Delivered != 0 || crm.ErrorRate != 1 ||
		crm.Owner != "ops@example.com" || strings.Join(crm.Firing, ",") != "auth" || crm.P95MS < 200 || crm.P95MS > 300 {
		t.Errorf("crm %+v", crm)
	}
	if ga4.State != alerts.StateOK || ga4.Calls != 1 || ga4.Delivered != 1 || !ga4.LastDelivery.Equal(nyMonday9) || len(ga4.Firing) != 0 {
		t.Errorf("ga4 %+v", ga4)
	}
	if !strings.Contains(body, `"alerts_firing":[]`) {
		t.Errorf("an empty firing list should be [] in JSON: %s", body)
	}
}

func TestAlertsEndpoints(t *testing.T) {
	srv, e, clock := alertServer(t, "tok")
	list := func(query string) []store.Alert {
		t.Helper()
		status, _, body := do(t, "GET", srv.URL+"/api/alerts"+query, "tok", "")
		if status != 200 {
			t.Fatalf("GET /api/alerts%s: %d %s", query, status, body)
		}
		var l alertList
		if err := json.Unmarshal([]byte(body), &l); err != nil {
			t.Fatal(err)
		}
		return l.Alerts
	}
	firing := list("?state=firing")
	if len(firing) != 1 || firing[0].Kind != alerts.KindAuth || firing[0].Route != "crm" {
		t.Fatalf("firing %+v", firing)
	}
	id := firing[0].ID
	if got := list("?state=firing&route=ga4"); len(got) != 0 {
		t.Errorf("ga4 firing %+v", got)
	}

	status, _, body := do(t, "POST", srv.URL+"/api/alerts/"+id+"/ack", "tok", `{"by":"jane@example.com","comment":"renewing","silence":"2h"}`)
	if status != 200 {
		t.Fatalf("ack: %d %s", status, body)
	}
	var acked store.Alert
	json.Unmarshal([]byte(body), &acked)
	if acked.AckedBy != "jane@example.com" || acked.AckComment != "renewing" || !acked.SilencedUntil.Equal(clock.Now().Add(2*time.Hour)) {
		t.Errorf("acked %+v", acked)
	}
	if status, _, _ := do(t, "POST", srv.URL+"/api/alerts/"+id+"/ack", "tok", ""); status != 200 {
		t.Errorf("ack without a body: %d", status)
	}
	status, _, body = do(t, "GET", srv.URL+"/api/alerts/"+id, "tok", "")
	if status != 200 || !strings.Contains(body, `"acked_by":"jane@example.com"`) {
		t.Errorf("GET one alert: %d %s", status, body)
	}

	// Resolve it and find it in the history.
	e.Observe(alertCall("crm", clock.Now(), txn.OutcomeDelivered))
	e.Flush()
	if got := list("?state=resolved"); len(got) != 1 || got[0].ID != id || got[0].AckedBy != "jane@example.com" {
		t.Fatalf("resolved %+v", got)
	}
	if got := list(""); len(got) != 1 {
		t.Fatalf("all %+v", got)
	}

	tests := []struct {
		method, path, body string
		status             int
		detail             string
	}{
		{"GET", "/api/alerts?state=open", "", 400, `state "open" must be firing, resolved or all`},
		{"GET", "/api/alerts?owner=me", "", 400, `unknown query parameter "owner"`},
		{"GET", "/api/alerts?limit=0", "", 400, `limit "0" must be a whole number from 1 to 1000`},
		{"GET", "/api/alerts/nope", "", 404, "no alert with id nope"},
		{"POST", "/api/alerts/nope/ack", "", 404, "no alert with id nope"},
		{"POST", "/api/alerts/" + id + "/ack", `{"who":"x"}`, 400, "the body must be JSON"},
		{"POST", "/api/alerts/" + id + "/ack", `{"silence":"forever"}`, 400, `silence "forever" must be a duration`},
		{"GET", "/api/alerts/" + id + "/ack", "", 405, "takes POST, not GET"},
		{"DELETE", "/api/alerts", "", 405, ""},
		{"POST", "/api/health", "", 405, ""},
	}
	for _, tt := range tests {
		status, h, body := do(t, tt.method, srv.URL+tt.path, "tok", tt.body)
		var p txn.Problem
		json.Unmarshal([]byte(body), &p)
		if status != tt.status || !strings.Contains(p.Detail, tt.detail) || h.Get("Content-Type") != txn.ProblemContentType {
			t.Errorf("%s %s: %d %s, want %d with %q", tt.method, tt.path, status, body, tt.status, tt.detail)
		}
	}
	if status, _, _ := do(t, "GET", srv.URL+"/api/alerts", "", ""); status != 401 {
		t.Errorf("without the token: %d, want 401", status)
	}
}

func TestMetricsEndpoint(t *testing.T) {
	srv, _, _ := alertServer(t, "tok")
	if status, _, _ := do(t, "GET", srv.URL+"/metrics", "", ""); status != 401 {
		t.Errorf("/metrics without the token: %d, want 401", status)
	}
	status, _, body := do(t, "GET", srv.URL+"/metrics", "tok", "")
	if status != 200 {
		t.Fatalf("status %d", status)
	}
	for _, want := range []string{
		`mtguard_calls_total{outcome="failed",route="crm"} 3`,
		`mtguard_calls_total{outcome="delivered",route="ga4"} 1`,
		`mtguard_calls_total{outcome="rejected",route="(none)"} 1`,
		`mtguard_findings_total{code="auth.expired",route="crm"} 3`,
		`mtguard_findings_total{code="route.unknown",route="(none)"} 1`,
		`mtguard_upstream_duration_seconds_bucket{route="crm",le="0.25"} 3`,
		`mtguard_record_duration_seconds_count{route="crm"} 3`,
		`mtguard_alerts_firing{kind="auth",route="crm"} 1`,
		`mtguard_store_size_bytes 4096`,
		`mtguard_store_write_errors_total 2`,
		`mtguard_alert_observations_dropped_total 0`,
		`mtguard_last_delivery_timestamp_seconds{route="ga4"} 1.7960472e+09`,
		`go_goroutines`,
	} {
		if !strings.Contains(body, want) {
			t.Errorf("/metrics lacks %s", want)
		}
	}
	for _, leak := range []string{"jane@acme.com", "/crm/v1/leads"} {
		if strings.Contains(body, leak) {
			t.Errorf("/metrics carries %q as a label", leak)
		}
	}
}
