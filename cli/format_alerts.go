package cli

import (
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

// maxSummaryWidth is how much of an alert's summary the alerts table shows.
const maxSummaryWidth = 90

// WriteHealth writes one line per route: state, the last hour's calls, deliveries, error rate
// and p95 latency, the last delivery, the alerts firing and the owner. Times are shown in loc;
// if loc is nil, time.Local is used.
func WriteHealth(w io.Writer, h alerts.Health, loc *time.Location) error {
	if len(h.Routes) == 0 {
		_, err := io.WriteString(w, "no routes\n")
		return err
	}
	if loc == nil {
		loc = time.Local
	}
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "ROUTE\tSTATE\tCALLS/1H\tDELIVERED/1H\tERRORS\tP95\tLAST DELIVERY\tALERTS\tOWNER")
	for _, r := range h.Routes {
		errRate, p95 := "-", "-"
		if r.Calls > 0 {
			errRate = alerts.FormatPercent(r.ErrorRate)
		}
		if r.P95MS > 0 {
			p95 = alerts.FormatDuration(time.Duration(r.P95MS * float64(time.Millisecond)).Round(time.Millisecond))
		}
		last := "-"
		if !r.LastDelivery.IsZero() {
			last = fmt.Sprintf("%s (%s ago)", r.LastDelivery.In(loc).Format("2006-01-02 15:04:05"),
				alerts.FormatDuration(h.Time.Sub(r.LastDelivery).Round(time.Second)))
		}
		fmt.Fprintln(tw, strings.Join([]string{
			logcmd.Cell(r.Route, logcmd.MaxRouteWidth), r.State, fmt.Sprint(r.Calls), fmt.Sprint(r.Delivered), errRate, p95, last,
			logcmd.OrDash(strings.Join(r.Firing, ",")), logcmd.OrDash(logcmd.Cell(r.Owner, 0)),
		}, "\t"))
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	if err := writeSinks(w, h, loc); err != nil {
		return err
	}
	if err := writeDeliveryHealth(w, h); err != nil {
		return err
	}
	if h.Dropped > 0 {
		_, err := fmt.Fprintf(w, "(the alert engine fell behind and skipped %d recorded calls since start)\n", h.Dropped)
		return err
	}
	return nil
}

// WriteAlerts writes alerts as a table, then the command that looks into each firing one.
// Times are shown in loc; if loc is nil, time.Local is used.
func WriteAlerts(w io.Writer, alerts []store.Alert, loc *time.Location) error {
	if len(alerts) == 0 {
		_, err := io.WriteString(w, "no alerts\n")
		return err
	}
	if loc == nil {
		loc = time.Local
	}
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "ID\tSTATE\tROUTE\tRULE\tSEVERITY\tSINCE\tCALLS\tRECORDS\tOWNER\tSUMMARY")
	var looks []string
	for _, a := range alerts {
		state := string(a.State)
		if !a.AckedAt.IsZero() {
			state += " (acked)"
		}
		summary := a.Summary
		if a.State == store.AlertResolved && a.Resolution != "" {
			summary = "resolved " + a.ResolvedAt.In(loc).Format("15:04") + ": " + a.Resolution
		}
		fmt.Fprintln(tw, strings.Join([]string{
			logcmd.Cell(a.ID, 0), state, logcmd.Cell(a.Route, logcmd.MaxRouteWidth), logcmd.Cell(a.Kind, 0), logcmd.Cell(a.Severity, 0),
			a.Since.In(loc).Format("2006-01-02 15:04"), fmt.Sprint(a.Calls), fmt.Sprint(a.Records),
			logcmd.OrDash(logcmd.Cell(a.Owner, 0)), logcmd.Cell(summary, maxSummaryWidth),
		}, "\t"))
		if a.State == store.AlertFiring {
			looks = append(looks, fmt.Sprintf("  %s: %s", a.ID, txn.Clean(a.Command, false)))
		}
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	if len(looks) > 0 {
		if _, err := fmt.Fprintf(w, "\nlook:\n%s\n", strings.Join(looks, "\n")); err != nil {
			return err
		}
	}
	return writeUndelivered(w, alerts)
}
