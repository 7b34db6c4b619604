package cli

import (
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/mtguard/mtguard/alerts"
	"github.com/mtguard/mtguard/cli/logcmd"
	"github.com/mtguard/mtguard/inspect"
)

// WriteLimits writes one line per limits group: its routes, each window's use (with the reset
// time of a fixed one), calls in flight against the cap, the queue (live/replays), the pause
// and its reason, and the calls sent and throttled since start. Times are shown in loc; if loc
// is nil, time.Local is used.
func WriteLimits(w io.Writer, rep inspect.LimitsReport, loc *time.Location) error {
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
			queued += fmt.Sprintf(" (oldest %s of %s)", alerts.FormatDuration(time.Duration(g.OldestWaitMS*float64(time.Millisecond))), g.MaxWait)
		}
		paused := "-"
		if !g.PausedUntil.IsZero() {
			paused = fmt.Sprintf("until %s (%s)", g.PausedUntil.In(loc).Format("15:04:05"), g.PauseReason)
		} else if g.Paced {
			paused = "paced (the vendor reports its budget running low)"
		}
		fmt.Fprintln(tw, strings.Join([]string{
			logcmd.Cell(g.Group, logcmd.MaxRouteWidth), logcmd.Cell(logcmd.JoinMax(g.Routes, logcmd.MaxListItems), 0), logcmd.OrDash(strings.Join(windows, ", ")),
			inflight, queued, logcmd.Cell(paused, 0), fmt.Sprint(g.Sent), fmt.Sprint(g.Throttled),
		}, "\t"))
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	return writeShared(w, rep.Groups)
}

// writeShared says, under the table, how budgets shared between instances (limits.shared) are
// kept: one line for all when Redis holds them, one per group when it does not.
func writeShared(w io.Writer, groups []inspect.LimitStatus) error {
	redisN := 0
	for _, g := range groups {
		switch g.Shared {
		case "":
		case "redis":
			redisN++
		default:
			if _, err := fmt.Fprintf(w, "shared budget of %s: %s\n", g.Group, g.Shared); err != nil {
				return err
			}
		}
	}
	if redisN > 0 && redisN == len(groups) {
		_, err := io.WriteString(w, "budgets shared with the other instances through Redis (limits.shared)\n")
		return err
	}
	return nil
}

// formatPer prints a window's period as people write it (20s, 24h) rather than as Go does
// (24h0m0s).
func formatPer(s string) string {
	d, err := time.ParseDuration(s)
	if err != nil {
		return s
	}
	return alerts.FormatDuration(d)
}
