package inspect

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"strings"
	"text/tabwriter"
	"time"
)

// Limits is what the throttler reports about its budgets, for GET /api/limits and
// mtguard limits. main adapts the proxy's limiter to it.
type Limits interface {
	// LimitStatus returns every limits group now, sorted by name.
	LimitStatus() []LimitStatus
}

// LimitsReport is the answer of GET /api/limits.
type LimitsReport struct {
	Time   time.Time     `json:"time"`
	Groups []LimitStatus `json:"groups"`
}

// LimitStatus is one limits group: a vendor budget shared by the routes that name it.
type LimitStatus struct {
	Group   string        `json:"group"`
	Routes  []string      `json:"routes"`
	Windows []WindowUsage `json:"windows"`
	// Concurrency is the cap on calls in flight; 0 means none.
	Concurrency int `json:"concurrency"`
	InFlight    int `json:"in_flight"`
	// Queued and QueuedReplays are the calls waiting for budget; replays go after live calls.
	Queued        int `json:"queued"`
	QueuedReplays int `json:"queued_replays"`
	// OldestWaitMS is how long the call at the head of the queue has waited.
	OldestWaitMS float64 `json:"oldest_wait_ms"`
	// Saturation is OldestWaitMS over max_wait, from 0 to 1: at 1 calls are answered 429.
	Saturation float64 `json:"saturation"`
	// MaxWait is the longest a call waits before it is answered 429 (a Go duration).
	MaxWait string `json:"max_wait"`
	// PausedUntil is set while a vendor limit signal pauses the group; PauseReason says which.
	PausedUntil time.Time `json:"paused_until,omitzero"`
	PauseReason string    `json:"pause_reason,omitempty"`
	// Paced is true while the vendor reports its budget running low and calls are spread out.
	Paced bool `json:"paced"`
	// Sent and Throttled count calls since mtguard started: sent to the vendor, and answered
	// 429 (or abandoned by their caller) while waiting.
	Sent      int64 `json:"sent"`
	Throttled int64 `json:"throttled"`
}

// WindowUsage is one window of a group: Used of Requests per Per.
type WindowUsage struct {
	Requests int    `json:"requests"`
	Per      string `json:"per"` // a Go duration
	Used     int    `json:"used"`
	// Resets is when a fixed window (a daily quota) starts again; zero for a sliding window.
	Resets time.Time `json:"resets,omitzero"`
}

// limits answers GET /api/limits.
func (s *server) limits(w http.ResponseWriter, r *http.Request) {
	groups := s.limitsSrc.LimitStatus()
	if groups == nil {
		groups = []LimitStatus{}
	}
	s.respond(w, http.StatusOK, LimitsReport{Time: s.now(), Groups: groups})
}

// Limits returns every limits group's budget and state (GET /api/limits).
func (c *Client) Limits(ctx context.Context) (LimitsReport, error) {
	var rep LimitsReport
	err := c.get(ctx, "/api/limits", nil, &rep)
	return rep, err
}

// WriteLimits writes one line per limits group: its routes, each window's use (with the reset
// time of a fixed one), calls in flight against the cap, the queue (live/replays), the pause
// and its reason, and the calls sent and throttled since start. Times are shown in loc; if loc
// is nil, time.Local is used.
func WriteLimits(w io.Writer, rep LimitsReport, loc *time.Location) error {
	if len(rep.Groups) == 0 {
		_, err := io.WriteString(w, "no limits groups\n")
		return err
	}
	if loc == nil {
		loc = time.Local
	}
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "GROUP\tROUTES\tWINDOWS (USED/LIMIT)\tIN FLIGHT\tQUEUED (LIVE/REPLAY)\tPAUSED\tSENT\tTHROTTLED")
	for _, g := range rep.Groups {
		var windows []string
		for _, win := range g.Windows {
			s := fmt.Sprintf("%d/%d per %s", win.Used, win.Requests, formatPer(win.Per))
			if !win.Resets.IsZero() {
				s += " (resets " + win.Resets.In(loc).Format("01-02 15:04 MST") + ")"
			}
			windows = append(windows, s)
		}
		inflight := fmt.Sprintf("%d/%d", g.InFlight, g.Concurrency)
		if g.Concurrency == 0 {
			inflight = fmt.Sprintf("%d/-", g.InFlight)
		}
		queued := fmt.Sprintf("%d/%d", g.Queued, g.QueuedReplays)
		if g.Queued+g.QueuedReplays > 0 {
			queued += fmt.Sprintf(" (oldest %s of %s)", formatDuration(time.Duration(g.OldestWaitMS*float64(time.Millisecond))), g.MaxWait)
		}
		paused := "-"
		if !g.PausedUntil.IsZero() {
			paused = fmt.Sprintf("until %s (%s)", g.PausedUntil.In(loc).Format("15:04:05"), g.PauseReason)
		} else if g.Paced {
			paused = "paced (the vendor reports its budget running low)"
		}
		fmt.Fprintln(tw, strings.Join([]string{
			cell(g.Group, maxRouteWidth), cell(joinMax(g.Routes, maxListItems), 0), orDash(strings.Join(windows, ", ")),
			inflight, queued, cell(paused, 0), fmt.Sprint(g.Sent), fmt.Sprint(g.Throttled),
		}, "\t"))
	}
	return tw.Flush()
}

// formatPer prints a window's period as people write it (20s, 24h) rather than as Go does
// (24h0m0s).
func formatPer(s string) string {
	d, err := time.ParseDuration(s)
	if err != nil {
		return s
	}
	return formatDuration(d)
}
