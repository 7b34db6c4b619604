package vendors

import (
	"fmt"
	"strings"
	"testing"
	"time"
)

// TestNextReset: a fixed window restarts at its time of day in its zone, also on the days a
// daylight-saving change makes 23 or 25 hours long, and every Per within a day.
func TestNextReset(t *testing.T) {
	chicago, err := time.LoadLocation("America/Chicago")
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name     string
		t        time.Time
		resetMin int
		per      time.Duration
		want     time.Time
	}{
		{"before midnight", time.Date(2026, 11, 28, 23, 0, 0, 0, chicago), 0, 24 * time.Hour, time.Date(2026, 11, 29, 0, 0, 0, 0, chicago)},
		{"at midnight: the next one", time.Date(2026, 11, 29, 0, 0, 0, 0, chicago), 0, 24 * time.Hour, time.Date(2026, 11, 30, 0, 0, 0, 0, chicago)},
		{"a 23-hour day", time.Date(2026, 3, 8, 1, 0, 0, 0, chicago), 0, 24 * time.Hour, time.Date(2026, 3, 9, 0, 0, 0, 0, chicago)},
		{"a 25-hour day", time.Date(2026, 11, 1, 1, 30, 0, 0, chicago), 0, 24 * time.Hour, time.Date(2026, 11, 2, 0, 0, 0, 0, chicago)},
		{"hourly at half past", time.Date(2026, 11, 28, 10, 45, 0, 0, time.UTC), 30, time.Hour, time.Date(2026, 11, 28, 11, 30, 0, 0, time.UTC)},
		{"hourly before the day's anchor", time.Date(2026, 11, 28, 0, 10, 0, 0, time.UTC), 30, time.Hour, time.Date(2026, 11, 28, 0, 30, 0, 0, time.UTC)},
		{"twice a day", time.Date(2026, 11, 28, 13, 0, 0, 0, time.UTC), 6 * 60, 12 * time.Hour, time.Date(2026, 11, 28, 18, 0, 0, 0, time.UTC)},
	}
	for _, tt := range tests {
		loc := tt.t.Location()
		if got := nextReset(tt.t, loc, tt.resetMin, tt.per); !got.Equal(tt.want) {
			t.Errorf("%s: nextReset(%v) = %v, want %v", tt.name, tt.t, got, tt.want)
		}
	}
}

// TestRouteLimitsMerge: a route's windows replace the preset's of the same period (and paths)
// and leave the others; a day-long window stands for the quota; group, max_wait and resets are
// read.
func TestRouteLimitsMerge(t *testing.T) {
	p, err := LoadPreset("hubspot")
	if err != nil {
		t.Fatal(err)
	}
	o, problems := DecodeOverrides(nil, nil, yamlNode(t, `
group: hubspot-prod
max_wait: 10s
windows:
  - {requests: 50, per: 10s}
  - {requests: 1000, per: 1m}
  - {requests: 200000, per: 24h, resets: "00:00 Europe/Berlin"}`), "routes[0]")
	if len(problems) > 0 {
		t.Fatal(problems)
	}
	q, problems := p.WithOverrides(o)
	if len(problems) > 0 {
		t.Fatal(problems)
	}
	var got []string
	for _, w := range q.Limits.Windows {
		s := fmt.Sprintf("%d/%s", w.Requests, w.Per)
		if len(w.Paths) > 0 {
			s += " " + strings.Join(w.Paths, ",")
		}
		if w.Fixed() {
			s += " resets " + w.Resets + " " + w.Zone
		}
		got = append(got, s)
	}
	want := "50/10s; 4/1s /crm/v3/objects/*/search,/crm/objects/*/*/search; 1000/1m0s; 200000/24h0m0s resets 00:00 Europe/Berlin"
	if strings.Join(got, "; ") != want {
		t.Errorf("windows = %s\nwant      %s", strings.Join(got, "; "), want)
	}
	if q.Limits.Quota != nil || q.Limits.Group != "hubspot-prod" || q.Limits.MaxWait != 10*time.Second {
		t.Errorf("limits = %+v: the day-long window replaces the quota; group and max_wait are the route's", q.Limits)
	}
	if len(p.Limits.Windows) != 2 || p.Limits.Windows[0].Requests != 100 || p.Limits.Quota == nil {
		t.Error("WithOverrides changed the preset it was given")
	}
	berlin, _ := time.LoadLocation("Europe/Berlin")
	at := time.Date(2026, 11, 28, 12, 0, 0, 0, berlin)
	if r := q.Limits.Windows[3].NextReset(at); !r.Equal(time.Date(2026, 11, 29, 0, 0, 0, 0, berlin)) {
		t.Errorf("the daily window resets at %v", r)
	}
	// A preset's limits take neither group nor max_wait: those are a route's.
	if _, _, problems := DecodeLimits(yamlNode(t, `{group: x}`), "limits"); len(problems) != 1 || !strings.Contains(problems[0].Msg, "unknown key") {
		t.Errorf("a preset's group: = %v, want an unknown key", problems)
	}
}
