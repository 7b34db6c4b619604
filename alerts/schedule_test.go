package alerts

import (
	"strings"
	"testing"
	"time"
)

func TestParseScheduleErrors(t *testing.T) {
	for in, want := range map[string]string{
		"":                                 "empty schedule",
		"Mon-Fry 08:00-20:00":              `days "Mon-Fry"`,
		"Mon-Fri 8-20":                     `hours "8-20"`,
		"Mon-Fri 08:00-08:00":              `hours "08:00-08:00"`,
		"Mon-Fri 08:00-20:00 Mars/Olympus": `time zone "Mars/Olympus"`,
		"Mon Fri 08:00-20:00":              `window "Mon Fri 08:00-20:00"`,
		"Mon-Fri 08:00-20:00;":             "empty window",
		"Mon-Fri 25:00-26:00":              `hours "25:00-26:00"`,
	} {
		_, err := ParseSchedule(in)
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("ParseSchedule(%q) = %v, want an error with %q", in, err, want)
		}
	}
}

func TestScheduleCoverage(t *testing.T) {
	utc := func(day, h, m int) time.Time { return time.Date(2026, 11, day, h, m, 0, 0, time.UTC) } // 30 Nov 2026 is a Monday
	tests := []struct {
		schedule string
		at       time.Time
		per      time.Duration
		want     bool
	}{
		{"Mon-Fri 08:00-20:00", utc(30, 8, 29), 30 * time.Minute, false}, // stretch began 29m ago
		{"Mon-Fri 08:00-20:00", utc(30, 8, 30), 30 * time.Minute, true},
		{"Mon-Fri 08:00-20:00", utc(30, 20, 0), 30 * time.Minute, false}, // 20:00 is outside
		{"Mon-Fri 08:00-20:00", utc(28, 12, 0), 30 * time.Minute, false}, // Saturday
		{"Sat,Sun", utc(29, 0, 10), time.Hour, true},                     // Saturday flows into Sunday
		{"22:00-06:00", utc(30, 1, 0), 2 * time.Hour, true},              // across midnight
		{"22:00-06:00", utc(30, 22, 30), time.Hour, false},
		{"daily", utc(30, 0, 0), 24 * time.Hour, true},
		{"Fri-Mon", utc(30, 10, 0), 48 * time.Hour, true}, // a range that wraps the week
		{"Mon-Fri 08:00-18:00; Sat 09:00-13:00", utc(28, 12, 0), 3 * time.Hour, true},
		{"Mon-Fri 09:00-17:00 America/New_York", utc(30, 14, 30), 30 * time.Minute, true}, // 09:30 in New York
		{"Mon-Fri 09:00-17:00 America/New_York", utc(30, 13, 30), 30 * time.Minute, false},
	}
	for _, tt := range tests {
		sc, err := ParseSchedule(tt.schedule)
		if err != nil {
			t.Fatalf("%q: %v", tt.schedule, err)
		}
		if _, got := sc.coveredFor(tt.at, tt.per); got != tt.want {
			t.Errorf("%q covers the %s before %s: %v, want %v", tt.schedule, tt.per, tt.at, got, tt.want)
		}
	}
	var always *Schedule
	if _, ok := always.coveredFor(utc(30, 3, 0), time.Hour); !ok || always.String() != "always" {
		t.Error("a nil schedule is always on")
	}
}

func TestFormatDuration(t *testing.T) {
	for d, want := range map[time.Duration]string{
		31 * time.Minute: "31m", 90 * time.Minute: "1h30m", 2 * time.Hour: "2h", 30 * 24 * time.Hour: "30d",
		1200 * time.Millisecond: "1.2s", 45 * time.Second: "45s", 250 * time.Millisecond: "250ms", 0: "0s",
	} {
		if got := FormatDuration(d); got != want {
			t.Errorf("FormatDuration(%v) = %q, want %q", d, got, want)
		}
	}
}
