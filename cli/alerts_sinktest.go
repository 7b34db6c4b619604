package cli

import (
	"context"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/mtguard/mtguard/alerts"
	"github.com/mtguard/mtguard/cli/logcmd"
	"github.com/mtguard/mtguard/store"
	"github.com/mtguard/mtguard/txn"
)

// AlertsTest is mtguard alerts test --sink NAME: one test notification, and the sink's answer.
// It exits non-zero when the sink did not accept it.
func AlertsTest(ctx context.Context, args []string, stdout, stderr io.Writer, getenv func(string) string) error {
	fs := NewFlagSet("alerts test", stderr)
	admin := fs.String("admin", "", "admin API `URL` (default $MTGUARD_ADMIN or "+logcmd.DefaultAdminURL+")")
	sink := fs.String("sink", "", "the `name` of the sink to test (alerts.sinks[].name)")
	by := fs.String("by", getenv("USER"), "who sends the test, named in it (default $USER)")
	asJSON := fs.Bool("json", false, "print the answer as JSON")
	pos, err := ParseFlags(fs, args)
	if err != nil {
		return err
	}
	if len(pos) > 0 || *sink == "" {
		return fmt.Errorf("alerts test takes --sink NAME and no arguments: %w", ErrUsage)
	}
	res, err := adminClient(*admin, getenv).TestSink(ctx, *sink, *by)
	if err != nil {
		return err
	}
	if *asJSON {
		if err := logcmd.WriteJSON(stdout, res); err != nil {
			return err
		}
	} else {
		lat := alerts.FormatDuration(time.Duration(res.LatencyMS * float64(time.Millisecond)).Round(time.Millisecond))
		if res.Delivered {
			fmt.Fprintf(stdout, "sink %s accepted the test notification (HTTP %d, %s)\n", logcmd.Cell(res.Sink, 0), res.Status, lat)
		} else {
			fmt.Fprintf(stdout, "sink %s did NOT accept the test notification after %s: %s\n", logcmd.Cell(res.Sink, 0), lat, txn.Clean(res.Error, false))
		}
	}
	if !res.Delivered {
		return fmt.Errorf("sink %s failed the test: %w", res.Sink, ErrUnhealthy)
	}
	return nil
}

// writeSinks writes the sinks' lines of mtguard health, when there are sinks.
func writeSinks(w io.Writer, h alerts.Health, loc *time.Location) error {
	if len(h.Sinks) == 0 {
		return nil
	}
	fmt.Fprintln(w)
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "SINK\tSTATE\tLAST DELIVERED\tUNDELIVERED\tFAILING SINCE\tLAST ERROR")
	for _, s := range h.Sinks {
		last, since := "-", "-"
		if !s.LastDelivered.IsZero() {
			last = s.LastDelivered.In(loc).Format("2006-01-02 15:04:05")
		}
		if !s.FailingSince.IsZero() {
			since = fmt.Sprintf("%s (%s ago)", s.FailingSince.In(loc).Format("2006-01-02 15:04:05"),
				alerts.FormatDuration(h.Time.Sub(s.FailingSince).Round(time.Second)))
		}
		fmt.Fprintln(tw, strings.Join([]string{logcmd.Cell(s.Name, 0), s.State, last, fmt.Sprint(s.Undelivered), since,
			logcmd.OrDash(logcmd.Cell(s.LastError, maxSummaryWidth))}, "\t"))
	}
	return tw.Flush()
}

// writeUndelivered lists the notifications of alerts that no sink accepted.
func writeUndelivered(w io.Writer, list []store.Alert) error {
	var lines []string
	for _, a := range list {
		for _, d := range a.Deliveries {
			if d.Result != store.NotifyFailed && d.Result != store.NotifyDropped {
				continue
			}
			line := fmt.Sprintf("  %s: %s to %s %s after %d attempts", logcmd.Cell(a.ID, 0), d.Event, logcmd.Cell(d.Sink, 0), d.Result, d.Attempts)
			if d.Error != "" {
				line += ": " + logcmd.Cell(d.Error, maxSummaryWidth)
			}
			lines = append(lines, line)
		}
	}
	if len(lines) == 0 {
		return nil
	}
	_, err := fmt.Fprintf(w, "\nnot delivered (mtguard health shows each sink):\n%s\n", strings.Join(lines, "\n"))
	return err
}
