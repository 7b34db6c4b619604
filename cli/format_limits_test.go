package cli

import (
	"bytes"
	"strings"
	"testing"
	"time"

	"github.com/mtguard/mtguard/inspect"
)

// TestWriteLimits: the CLI's view of GET /api/limits, as a table.
func TestWriteLimits(t *testing.T) {
	now := time.Date(2025, 3, 14, 12, 0, 0, 0, time.UTC)
	rep := inspect.LimitsReport{Time: now, Groups: []inspect.LimitStatus{
		{
			Group: "marketo-prod", Routes: []string{"marketo", "marketo-bulk"},
			Windows: []inspect.WindowUsage{
				{Requests: 100, Per: "20s", Used: 37},
				{Requests: 50000, Per: "24h0m0s", Used: 1200, Resets: time.Date(2025, 3, 15, 5, 0, 0, 0, time.UTC)},
			},
			Concurrency: 10, InFlight: 3, Queued: 4, QueuedReplays: 2, OldestWaitMS: 1500, Saturation: 0.05, MaxWait: "30s",
			PausedUntil: now.Add(20 * time.Second), PauseReason: "the vendor signalled ratelimit", Sent: 412, Throttled: 7,
		},
		{Group: "crm", Routes: []string{"crm"}, Windows: []inspect.WindowUsage{}, MaxWait: "30s", Paced: true},
	}}
	var b bytes.Buffer
	if err := WriteLimits(&b, rep, time.UTC); err != nil {
		t.Fatal(err)
	}
	out := b.String()
	for _, want := range []string{
		"GROUP", "WINDOWS (USED/LIMIT)", "QUEUED (LIVE/REPLAY)",
		"marketo-prod", "marketo,marketo-bulk", "37/100 per 20s, 1200/50000 per 24h (resets 03-15 05:00 UTC)",
		"3/10", "4/2 (oldest 1.5s of 30s)", "until 12:00:20 (the vendor signalled ratelimit)", "412", "7",
		"crm", "0/-", "paced",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("table lacks %q:\n%s", want, out)
		}
	}
	b.Reset()
	WriteLimits(&b, inspect.LimitsReport{}, nil)
	if b.String() != "no limits groups\n" {
		t.Errorf("empty report = %q", b.String())
	}
}

func TestWriteLimitsShared(t *testing.T) {
	for _, tc := range []struct {
		shared []string
		want   string
	}{
		{[]string{"", ""}, ""},
		{[]string{"redis", "redis"}, "budgets shared with the other instances through Redis (limits.shared)\n"},
		{[]string{"local-share 1/3 (Redis unavailable since 2026-12-07T03:00:00Z)", "redis"}, "shared budget of a: local-share 1/3 (Redis unavailable since 2026-12-07T03:00:00Z)\n"},
	} {
		rep := inspect.LimitsReport{Groups: []inspect.LimitStatus{
			{Group: "a", Routes: []string{"a"}, Windows: []inspect.WindowUsage{}, MaxWait: "30s", Shared: tc.shared[0]},
			{Group: "b", Routes: []string{"b"}, Windows: []inspect.WindowUsage{}, MaxWait: "30s", Shared: tc.shared[1]},
		}}
		var b strings.Builder
		if err := WriteLimits(&b, rep, time.UTC); err != nil {
			t.Fatal(err)
		}
		lines := strings.SplitAfterN(b.String(), "\n", 4)
		if got := lines[len(lines)-1]; got != tc.want {
			t.Errorf("shared %v: last line %q, want %q\n%s", tc.shared, got, tc.want, b.String())
		}
	}
}
