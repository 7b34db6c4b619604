package inspect

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"
)

// fakeLimits is a Limits with a fixed answer.
type fakeLimits []LimitStatus

func (f fakeLimits) LimitStatus() []LimitStatus { return f }

var testLimits = fakeLimits{
	{
		Group: "marketo-prod", Routes: []string{"marketo", "marketo-bulk"},
		Windows: []WindowUsage{
			{Requests: 100, Per: "20s", Used: 37},
			{Requests: 50000, Per: "24h0m0s", Used: 1200, Resets: time.Date(2025, 3, 15, 5, 0, 0, 0, time.UTC)},
		},
		Concurrency: 10, InFlight: 3, Queued: 4, QueuedReplays: 2, OldestWaitMS: 1500, Saturation: 0.05, MaxWait: "30s",
		PausedUntil: testNow.Add(20 * time.Second), PauseReason: "the vendor signalled ratelimit", Sent: 412, Throttled: 7,
	},
	{Group: "crm", Routes: []string{"crm"}, Windows: []WindowUsage{}, MaxWait: "30s", Paced: true},
}

// TestLimitsEndpoint: GET /api/limits answers every group; other methods get 405, and without
// a throttler the endpoint is not served.
func TestLimitsEndpoint(t *testing.T) {
	cfg := ServerConfig{Transactions: fakeTransactions{}, Limits: testLimits}
	rec := serve(t, cfg, http.MethodGet, "/api/limits", nil)
	if rec.Code != http.StatusOK {
		t.Fatalf("status %d: %s", rec.Code, rec.Body)
	}
	var rep LimitsReport
	if err := json.Unmarshal(rec.Body.Bytes(), &rep); err != nil {
		t.Fatal(err)
	}
	if !rep.Time.Equal(testNow) || len(rep.Groups) != 2 || rep.Groups[0].Windows[1].Used != 1200 || rep.Groups[1].PausedUntil != (time.Time{}) {
		t.Errorf("GET /api/limits = %s", rec.Body)
	}
	if strings.Contains(rec.Body.String(), `"resets":"0001`) || strings.Contains(rec.Body.String(), `"paused_until":"0001`) {
		t.Errorf("zero times should be left out: %s", rec.Body)
	}
	decodeProblem(t, serve(t, cfg, http.MethodPost, "/api/limits", nil), http.StatusMethodNotAllowed)
	decodeProblem(t, serve(t, ServerConfig{Transactions: fakeTransactions{}}, http.MethodGet, "/api/limits", nil), http.StatusNotFound)
	decodeProblem(t, serve(t, ServerConfig{Transactions: fakeTransactions{}, Limits: testLimits, Token: "s3cret"}, http.MethodGet, "/api/limits", nil), http.StatusUnauthorized)
}

// TestClientLimits: the client reads GET /api/limits back into the report the server sent.
func TestClientLimits(t *testing.T) {
	srv := httptest.NewServer(NewServer(ServerConfig{Transactions: fakeTransactions{}, Limits: testLimits, Now: func() time.Time { return testNow }}))
	defer srv.Close()
	rep, err := (&Client{BaseURL: srv.URL}).Limits(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if !rep.Time.Equal(testNow) || len(rep.Groups) != 2 || rep.Groups[0].Group != "marketo-prod" || rep.Groups[0].Windows[1].Used != 1200 ||
		!rep.Groups[0].PausedUntil.Equal(testNow.Add(20*time.Second)) || !rep.Groups[1].Paced {
		t.Errorf("limits = %+v", rep)
	}
}
