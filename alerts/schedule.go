package alerts

import (
	"fmt"
	"strconv"
	"strings"
	"time"
)

// Schedule is when a silence rule applies, e.g. "Mon-Fri 08:00-20:00 America/New_York": the
// hours in which a route is expected to carry traffic. Outside it, silence is normal.
type Schedule struct {
	text   string
	loc    *time.Location
	pieces []piece // each within one day; a range past midnight is split in two
}

// piece is [start, end) minutes of one weekday in the schedule's zone; end may be 1440.
type piece struct {
	day        time.Weekday
	start, end int
}

// ParseSchedule reads one or more windows separated by ";", then an optional IANA time zone
// (UTC if none):
//
//	Mon-Fri 08:00-20:00 America/New_York
//	Mon-Fri 08:00-18:00; Sat 09:00-13:00 Europe/Berlin
//	22:00-06:00                              every day, across midnight, UTC
//	Sat,Sun                                  whole days
//
// Days are Mon..Sun (ranges wrap: Fri-Mon), "daily" or left out for every day; times are
// HH:MM-HH:MM with 24:00 for midnight at the end of a day.
func ParseSchedule(s string) (*Schedule, error) {
	text := strings.TrimSpace(s)
	if text == "" {
		return nil, fmt.Errorf("empty schedule; write e.g. \"Mon-Fri 08:00-20:00 America/New_York\"")
	}
	sc := &Schedule{text: text, loc: time.UTC}
	parts := strings.Split(text, ";")
	// The zone, if any, is the last word of the last window.
	last := strings.Fields(parts[len(parts)-1])
	if n := len(last); n > 0 && isZoneName(last[n-1]) {
		loc, err := time.LoadLocation(last[n-1])
		if err != nil {
			return nil, fmt.Errorf("time zone %q: %v (use an IANA name such as America/New_York)", last[n-1], err)
		}
		sc.loc = loc
		parts[len(parts)-1] = strings.Join(last[:n-1], " ")
	}
	for _, part := range parts {
		if err := sc.addWindow(strings.Fields(part)); err != nil {
			return nil, err
		}
	}
	return sc, nil
}

// isZoneName tells a zone from a day list or a time range: zones have a "/" or are UTC/Local.
func isZoneName(w string) bool {
	return strings.Contains(w, "/") || w == "UTC" || w == "Local"
}

// dayByName reads a three-letter English day name, in any case.
func dayByName(s string) (time.Weekday, bool) {
	for d := time.Sunday; d <= time.Saturday; d++ {
		if strings.EqualFold(s, d.String()[:3]) {
			return d, true
		}
	}
	return 0, false
}

func (sc *Schedule) addWindow(words []string) error {
	if len(words) == 0 {
		return fmt.Errorf("empty window in %q; separate windows with \";\"", sc.text)
	}
	if len(words) > 2 {
		return fmt.Errorf("window %q: write days then hours, e.g. \"Mon-Fri 08:00-20:00\", and the time zone once at the end", strings.Join(words, " "))
	}
	days := []time.Weekday{0, 1, 2, 3, 4, 5, 6}
	hours := ""
	switch {
	case len(words) == 2:
		d, err := parseDays(words[0])
		if err != nil {
			return err
		}
		days, hours = d, words[1]
	case strings.Contains(words[0], ":"):
		hours = words[0]
	default:
		d, err := parseDays(words[0])
		if err != nil {
			return err
		}
		days = d
	}
	start, end := 0, 24*60
	if hours != "" {
		a, b, ok := strings.Cut(hours, "-")
		var err1, err2 error
		start, err1 = parseClock(a)
		end, err2 = parseClock(b)
		if !ok || err1 != nil || err2 != nil || start == 24*60 || start == end {
			return fmt.Errorf("hours %q: write HH:MM-HH:MM, e.g. 08:00-20:00 (24:00 ends at midnight)", hours)
		}
	}
	for _, d := range days {
		if end > start {
			sc.pieces = append(sc.pieces, piece{d, start, end})
			continue
		}
		// Across midnight: the evening of d and the morning of the next day.
		sc.pieces = append(sc.pieces, piece{d, start, 24 * 60}, piece{(d + 1) % 7, 0, end})
	}
	return nil
}

func parseDays(s string) ([]time.Weekday, error) {
	if strings.EqualFold(s, "daily") || s == "*" {
		return []time.Weekday{0, 1, 2, 3, 4, 5, 6}, nil
	}
	var out []time.Weekday
	for item := range strings.SplitSeq(s, ",") {
		a, b, isRange := strings.Cut(item, "-")
		from, ok1 := dayByName(a)
		to, ok2 := from, true
		if isRange {
			to, ok2 = dayByName(b)
		}
		if !ok1 || !ok2 {
			return nil, fmt.Errorf("days %q: use Mon, Tue, Wed, Thu, Fri, Sat, Sun, ranges like Mon-Fri, lists like Sat,Sun, or daily", s)
		}
		for d := from; ; d = (d + 1) % 7 {
			out = append(out, d)
			if d == to {
				break
			}
		}
	}
	return out, nil
}

// parseClock reads HH:MM as minutes after midnight; 24:00 is 1440.
func parseClock(s string) (int, error) {
	h, m, ok := strings.Cut(s, ":")
	hh, err1 := strconv.Atoi(h)
	mm, err2 := strconv.Atoi(m)
	if !ok || len(m) != 2 || err1 != nil || err2 != nil || hh < 0 || mm < 0 || mm > 59 || hh > 24 || (hh == 24 && mm != 0) {
		return 0, fmt.Errorf("bad time %q", s)
	}
	return hh*60 + mm, nil
}

// String returns the schedule as written.
func (sc *Schedule) String() string {
	if sc == nil {
		return "always"
	}
	return sc.text
}

// stretchStart returns the start of the uninterrupted stretch of scheduled time that holds t,
// joining windows that touch (Mon 22:00-24:00 and Tue 00:00-06:00); ok is false outside the
// schedule. A nil schedule is always on.
func (sc *Schedule) stretchStart(t time.Time) (start time.Time, ok bool) {
	if sc == nil {
		return time.Time{}, true
	}
	cur := t
	// A week of touching windows is at most 14 pieces; bound the walk in case every day is full.
	for range 16 {
		s, in := sc.windowStart(cur)
		if !in {
			if cur.Equal(t) {
				return time.Time{}, false
			}
			return cur.Add(time.Nanosecond), true
		}
		start = s
		cur = s.Add(-time.Nanosecond)
	}
	return time.Time{}, true // always on
}

// windowStart returns the start of the piece that holds t.
func (sc *Schedule) windowStart(t time.Time) (time.Time, bool) {
	lt := t.In(sc.loc)
	m := lt.Hour()*60 + lt.Minute()
	for _, p := range sc.pieces {
		if p.day == lt.Weekday() && p.start <= m && m < p.end {
			y, mo, d := lt.Date()
			return time.Date(y, mo, d, p.start/60, p.start%60, 0, 0, sc.loc), true
		}
	}
	return time.Time{}, false
}

// coveredFor reports whether the whole of (t-d, t] lies in the schedule, and returns when the
// current stretch began (the zero time when always on).
func (sc *Schedule) coveredFor(t time.Time, d time.Duration) (since time.Time, ok bool) {
	start, in := sc.stretchStart(t)
	if !in {
		return time.Time{}, false
	}
	if start.IsZero() {
		return start, true
	}
	return start, !start.After(t.Add(-d))
}
