package cli

import (
	"strings"
	"testing"
	"time"

	"github.com/mtguard/mtguard/alerts"
	"github.com/mtguard/mtguard/store"
)

func TestWriteHealthAndAlerts(t *testing.T) {
	nyMonday9 := time.Date(2026, 11, 30, 14, 0, 0, 0, time.UTC) // 09:00 in New York
	h := alerts.Health{Time: nyMonday9, Routes: []alerts.RouteHealth{
		{Route: "marketo", Owner: "ops@example.com", State: alerts.StateSilent, LastDelivery: nyMonday9.Add(-31 * time.Minute), Firing: []string{"silence"}},
		{Route: "crm", Owner: "crm@example.com", State: alerts.StateOK, Calls: 412, Delivered: 412, P95MS: 231.4, LastDelivery: nyMonday9.Add(-5 * time.Second), Firing: []string{}},
	}}
	var b strings.Builder
	if err := WriteHealth(&b, h, time.UTC); err != nil {
		t.Fatal(err)
	}
	want := `ROUTE    STATE   CALLS/1H  DELIVERED/1H  ERRORS  P95    LAST DELIVERY                  ALERTS   OWNER
marketo  silent  0         0             -       -      2026-11-30 13:29:00 (31m ago)  silence  ops@example.com
crm      ok      412       412           0%      231ms  2026-11-30 13:59:55 (5s ago)   -        crm@example.com
`
	if b.String() != want {
		t.Errorf("health\n got:\n%s\nwant:\n%s", b.String(), want)
	}

	since := time.Date(2026, 11, 30, 14, 0, 0, 0, time.UTC)
	a := store.Alert{
		ID: "20261130T143100Z-marketo-silence", Route: "marketo", Owner: "ops@example.com",
		Kind: alerts.KindSilence, Severity: "critical", State: store.AlertFiring,
		Summary: "no delivery for 31m (expected at least 1 per 30m during Mon-Fri 08:00-20:00 America/New_York); no calls arrived at all",
		Since:   since, FiredAt: since.Add(31 * time.Minute), LastSeen: since.Add(31 * time.Minute),
		Command: "mtguard log --route marketo --since 2026-11-30T14:00:00Z", Sinks: []string{"ops-slack"},
		Notifications: 1, LastNotified: since.Add(31 * time.Minute),
	}
	b.Reset()
	if err := WriteAlerts(&b, []store.Alert{a}, time.UTC); err != nil {
		t.Fatal(err)
	}
	for _, w := range []string{"20261130T143100Z-marketo-silence  firing", "ops@example.com", "look:\n  20261130T143100Z-marketo-silence: mtguard log --route marketo --since 2026-11-30T14:00:00Z"} {
		if !strings.Contains(b.String(), w) {
			t.Errorf("alerts table lacks %q:\n%s", w, b.String())
		}
	}
}
