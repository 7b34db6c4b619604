package logcmd

import (
	"testing"
	"time"
)

func TestSinceFlag(t *testing.T) {
	now := time.Date(2026, 11, 30, 15, 0, 0, 0, time.UTC)
	for in, want := range map[string]time.Time{
		"90m":                  now.Add(-90 * time.Minute),
		"2026-11-30T14:00:00Z": time.Date(2026, 11, 30, 14, 0, 0, 0, time.UTC),
	} {
		var f SinceFlag
		if err := f.Set(in); err != nil || !f.From(now).Equal(want) {
			t.Errorf("--since %s: %v %v, want %v", in, f.From(now), err, want)
		}
	}
	var f SinceFlag
	if err := f.Set("yesterday"); err == nil {
		t.Error("--since yesterday was accepted")
	}
	if !f.From(now).IsZero() {
		t.Error("an unset --since should not filter")
	}
}
