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
	"github.com/mtguard/mtguard/inspect"
	"github.com/mtguard/mtguard/store"
)

// Deliveries lists the delivery queue of a running mtguard (GET /api/deliveries), or acts on
// it: "deliveries retry ID|--route R" sends again now, "deliveries drop ID --reason T" removes
// a call from the queue (both need the operator role and are audited).
func Deliveries(ctx context.Context, args []string, stdout, stderr io.Writer, getenv func(string) string) error {
	if len(args) > 0 {
		switch args[0] {
		case "retry":
			return deliveriesRetry(ctx, args[1:], stdout, stderr, getenv)
		case "drop":
			return deliveriesDrop(ctx, args[1:], stdout, stderr, getenv)
		}
	}
	fs := NewFlagSet("deliveries", stderr)
	admin := fs.String("admin", "", "admin API `URL` (default $MTGUARD_ADMIN or "+logcmd.DefaultAdminURL+")")
	route := fs.String("route", "", "only this `route`")
	state := fs.String("state", "", "only this `state`: "+strings.Join(store.DeliveryStates, ", "))
	asJSON := fs.Bool("json", false, "print JSON instead of a table")
	pos, err := ParseFlags(fs, args)
	if err != nil {
		return err
	}
	if len(pos) > 0 {
		return fmt.Errorf("deliveries takes no arguments but retry and drop (got %q): %w", strings.Join(pos, " "), ErrUsage)
	}
	rep, err := adminClient(*admin, getenv).Deliveries(ctx, store.DeliveryFilter{Route: *route, State: *state})
	if err != nil {
		return err
	}
	if *asJSON {
		return logcmd.WriteJSON(stdout, rep)
	}
	return WriteDeliveries(stdout, rep)
}

// WriteDeliveries prints the queue: one line per call, its attempts, last error and next try.
func WriteDeliveries(w io.Writer, rep inspect.DeliveriesReport) error {
	if len(rep.Deliveries) == 0 {
		_, err := fmt.Fprintln(w, "the delivery queue is empty: every accepted call was delivered (or dropped)")
		return err
	}
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "ID\tROUTE\tSTATE\tATTEMPTS\tAGE\tNEXT\tRECORDS\tLAST ERROR / REASON")
	for _, d := range rep.Deliveries {
		next := "-"
		if (d.State == store.DeliveryPending || d.State == store.DeliveryRetrying) && !d.NextAt.IsZero() {
			if wait := d.NextAt.Sub(rep.Time); wait > 0 {
				next = "in " + shortDur(wait)
			} else {
				next = "now"
			}
		}
		why := d.LastError
		if d.State == store.DeliveryHeld || d.State == store.DeliveryDead {
			why = d.Reason
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%d\t%s\t%s\t%s\t%s\n", d.ID, d.Route, d.State, len(d.Attempts), shortDur(rep.Time.Sub(d.Created)), next,
			oneLine(strings.Join(d.RecordKeys, ","), 40), oneLine(why, 160))
	}
	return tw.Flush()
}

func shortDur(d time.Duration) string {
	switch {
	case d < time.Second:
		return d.Round(time.Millisecond).String()
	case d < time.Hour:
		return d.Round(time.Second).String()
	}
	return d.Round(time.Minute).String()
}

// oneLine keeps stored text on one line of a table, at most n runes.
func oneLine(s string, n int) string {
	s = strings.Join(strings.Fields(s), " ")
	if r := []rune(s); len(r) > n {
		return string(r[:n-1]) + "…"
	}
	if s == "" {
		return "-"
	}
	return s
}

func deliveriesRetry(ctx context.Context, args []string, stdout, stderr io.Writer, getenv func(string) string) error {
	fs := NewFlagSet("deliveries retry", stderr)
	admin := fs.String("admin", "", "admin API `URL` (default $MTGUARD_ADMIN or "+logcmd.DefaultAdminURL+")")
	route := fs.String("route", "", "retry every held, dead or retrying call of this `route`")
	pos, err := ParseFlags(fs, args)
	if err != nil {
		return err
	}
	c := adminClient(*admin, getenv)
	switch {
	case *route != "" && len(pos) == 0:
		res, err := c.RetryRouteDeliveries(ctx, *route)
		if err != nil {
			return err
		}
		_, err = fmt.Fprintf(stdout, "%d call(s) of route %s are due now; mtguard deliveries --route %s follows them\n", res.Count, res.Route, res.Route)
		return err
	case *route == "" && len(pos) == 1:
		d, err := c.RetryDelivery(ctx, pos[0])
		if err != nil {
			return err
		}
		_, err = fmt.Fprintf(stdout, "call %s is due now (%d attempt(s) so far); mtguard deliveries --route %s follows it\n", d.ID, len(d.Attempts), d.Route)
		return err
	}
	return fmt.Errorf("deliveries retry takes one call ID or --route ROUTE: %w", ErrUsage)
}

func deliveriesDrop(ctx context.Context, args []string, stdout, stderr io.Writer, getenv func(string) string) error {
	fs := NewFlagSet("deliveries drop", stderr)
	admin := fs.String("admin", "", "admin API `URL` (default $MTGUARD_ADMIN or "+logcmd.DefaultAdminURL+")")
	reason := fs.String("reason", "", "why the call is not to be sent (kept in the audit log), e.g. \"entered by hand in the CRM\"")
	pos, err := ParseFlags(fs, args)
	if err != nil {
		return err
	}
	if len(pos) != 1 || strings.TrimSpace(*reason) == "" {
		return fmt.Errorf("deliveries drop takes one call ID and --reason TEXT: %w", ErrUsage)
	}
	d, err := adminClient(*admin, getenv).DropDelivery(ctx, pos[0], *reason)
	if err != nil {
		return err
	}
	_, err = fmt.Fprintf(stdout, "call %s (route %s, %d attempt(s)) is out of the delivery queue and will not be sent; its calls stay in the log\n", d.ID, d.Route, len(d.Attempts))
	return err
}

// writeDeliveryHealth adds the delivery queue to mtguard health: one line per route with calls
// waiting, held or dead.
func writeDeliveryHealth(w io.Writer, h alerts.Health) error {
	if len(h.Deliveries) == 0 {
		return nil
	}
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "\nDELIVERY QUEUE\tWAITING\tRETRYING\tHELD\tDEAD\tOLDEST")
	for _, d := range h.Deliveries {
		oldest := "-"
		if d.Depth > 0 {
			oldest = shortDur(time.Duration(d.OldestAge * float64(time.Second)))
		}
		fmt.Fprintf(tw, "%s\t%d\t%d\t%d\t%d\t%s\n", d.Route, d.Depth, d.Retrying, d.Held, d.Dead, oldest)
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	_, err := fmt.Fprintln(w, "(mtguard deliveries lists each call; held and dead ones need a person)")
	return err
}
