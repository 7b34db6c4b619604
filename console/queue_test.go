package console_test

import (
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/mtguard/mtguard/txn"
)

// TestPagesWithoutQueueDrillsOrJourneys: an mtguard without a delivery queue, drills or
// journeys still serves the Deliveries, Routes, Lead and postmortem pages, saying what is not
// there rather than failing.
func TestPagesWithoutQueueDrillsOrJourneys(t *testing.T) {
	s := newStack(t, nil)
	s.record(t, "crm", "jane@acme.com", `{"email":"jane@acme.com"}`, 503, txn.OutcomeFailed, time.Now())
	c := client()
	tests := []struct {
		path   string
		status int
		want   string
		not    string
	}{
		{"/deliveries", http.StatusOK, `id="noqueue"`, `id="deliveries"`},
		{"/deliveries?state=nonsense&route=crm", http.StatusOK, `id="noqueue"`, ""},
		{"/routes", http.StatusOK, `id="route-crm"`, "DRILL"},
		{"/lead?record=jane@acme.com", http.StatusOK, `id="timeline"`, `id="h-journeys"`},
		{"/alerts/nope/postmortem", http.StatusNotFound, `id="error"`, ""},
		{"/alerts/nope/postmortem/pdf", http.StatusNotFound, "downloads as md or html", ""},
	}
	for _, tt := range tests {
		t.Run(tt.path, func(t *testing.T) {
			resp, page := get(t, c, s.srv.URL+tt.path)
			if resp.StatusCode != tt.status || !strings.Contains(page, tt.want) || (tt.not != "" && strings.Contains(page, tt.not)) {
				t.Fatalf("GET %s: %d, want %d with %s and without %q:\n%s", tt.path, resp.StatusCode, tt.status, tt.want, tt.not, page)
			}
		})
	}
}

// TestDropNeedsAReason: a Drop without a reason is refused by the console before the API is
// asked (the reason goes to the audit log).
func TestDropNeedsAReason(t *testing.T) {
	s := newStack(t, nil)
	id := s.record(t, "crm", "jane@acme.com", `{"email":"jane@acme.com"}`, 503, txn.OutcomeFailed, time.Now())
	c := client()
	_, page := get(t, c, s.srv.URL+"/calls/"+id)
	resp, page := post(t, c, s.srv.URL+"/deliveries/01ABC/drop", url.Values{"csrf": {csrfOf(t, page)}, "reason": {"  "}})
	if resp.StatusCode != http.StatusBadRequest || !strings.Contains(page, "Nothing was dropped: say why") {
		t.Fatalf("drop without a reason: %d\n%s", resp.StatusCode, page)
	}
}
