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
)

// Drill is mtguard drill start|status|stop: rehearse a vendor failure on a route and see
// whether the alerts reached their owner.
func Drill(ctx context.Context, args []string, stdout, stderr io.Writer, getenv func(string) string) error {
	if len(args) == 0 {
		return fmt.Errorf("drill takes start, status or stop: %w", ErrUsage)
	}
	switch args[0] {
	case "start":
		return drillStart(ctx, args[1:], stdout, stderr, getenv)
	case "status", "stop":
		fs := NewFlagSet("drill "+args[0], stderr)
		admin := fs.String("admin", "", "admin API `URL` (default $MTGUARD_ADMIN or "+logcmd.DefaultAdminURL+")")
		asJSON := fs.Bool("json", false, "print JSON")
		pos, err := ParseFlags(fs, args[1:])
		if err != nil {
			return err
		}
		c := adminClient(*admin, getenv)
		var list []store.Drill
		switch {
		case args[0] == "stop" && len(pos) == 1:
			var d store.Drill
			d, err = c.StopDrill(ctx, pos[0])
			list = []store.Drill{d}
		case args[0] == "status" && len(pos) <= 1:
			id := ""
			if len(pos) == 1 {
				id = pos[0]
			}
			list, err = c.Drills(ctx, id)
		default:
			return fmt.Errorf("drill %s takes one drill id (drill status lists them): %w", args[0], ErrUsage)
		}
		if err != nil {
			return err
		}
		if *asJSON {
			if len(pos) == 1 {
				return logcmd.WriteJSON(stdout, list[0])
			}
			return logcmd.WriteJSON(stdout, list)
		}
		if len(pos) == 0 {
			return writeDrillList(stdout, list)
		}
		return WriteDrill(stdout, list[0])
	}
	return fmt.Errorf("unknown drill command %q: use start, status or stop: %w", args[0], ErrUsage)
}

func drillStart(ctx context.Context, args []string, stdout, stderr io.Writer, getenv func(string) string) error {
	fs := NewFlagSet("drill start", stderr)
	admin := fs.String("admin", "", "admin API `URL` (default $MTGUARD_ADMIN or "+logcmd.DefaultAdminURL+")")
	route := fs.String("route", "", "the `route` to drill")
	fault := fs.String("fault", "", "down, status:503, status:429, slow:8s, expire-auth, discard, deprecate or silence")
	dur := fs.Duration("for", 10*time.Minute, "how long the drill runs before it ends by itself")
	share := fs.String("share", "100%", "the share of the route's calls the drill takes")
	expect := fs.String("expect", "", `what should happen, e.g. "alert within 5m" or "auth alert within 2m"`)
	asJSON := fs.Bool("json", false, "print JSON")
	pos, err := ParseFlags(fs, args)
	if err != nil {
		return err
	}
	if len(pos) > 0 || *route == "" || *fault == "" {
		return fmt.Errorf("drill start takes --route R --fault FAULT [--for 10m] [--share 100%%] [--expect \"alert within 5m\"]: %w", ErrUsage)
	}
	d, err := adminClient(*admin, getenv).StartDrill(ctx, *route, *fault, *dur, *share, *expect)
	if err != nil {
		return err
	}
	if *asJSON {
		return logcmd.WriteJSON(stdout, d)
	}
	_, err = fmt.Fprintf(stdout, "drill %s started: route %s, fault %s, %s of its calls, until %s\nwatch it: mtguard drill status %s; end it now: mtguard drill stop %s\n",
		d.ID, logcmd.Cell(d.Route, 0), logcmd.Cell(d.Fault, 0), alerts.FormatPercent(d.Share), d.EndsAt.Local().Format("2006-01-02 15:04:05"), d.ID, d.ID)
	return err
}

func writeDrillList(w io.Writer, list []store.Drill) error {
	if len(list) == 0 {
		_, err := io.WriteString(w, "no drills\n")
		return err
	}
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "ID\tROUTE\tFAULT\tSTATE\tSTARTED\tVERDICT")
	for _, d := range list {
		verdict := "-"
		if d.Report != nil {
			verdict = d.Report.Verdict
		}
		fmt.Fprintln(tw, strings.Join([]string{logcmd.Cell(d.ID, 0), logcmd.Cell(d.Route, logcmd.MaxRouteWidth), logcmd.Cell(d.Fault, 0), d.State,
			d.StartedAt.Local().Format("2006-01-02 15:04:05"), logcmd.Cell(verdict, maxSummaryWidth)}, "\t"))
	}
	return tw.Flush()
}

// WriteDrill prints one drill and its report.
func WriteDrill(w io.Writer, d store.Drill) error {
	fmt.Fprintf(w, "drill %s: route %s, fault %s, %s of calls, %s\n", logcmd.Cell(d.ID, 0), logcmd.Cell(d.Route, 0), logcmd.Cell(d.Fault, 0), alerts.FormatPercent(d.Share), d.State)
	fmt.Fprintf(w, "started %s", d.StartedAt.Local().Format("2006-01-02 15:04:05"))
	if d.StartedBy != "" {
		fmt.Fprintf(w, " by %s", logcmd.Cell(d.StartedBy, 0))
	}
	if d.State == store.DrillEnded {
		fmt.Fprintf(w, ", ended %s (%s)\n", d.EndedAt.Local().Format("2006-01-02 15:04:05"), d.EndedBy)
	} else {
		fmt.Fprintf(w, ", ends %s\n", d.EndsAt.Local().Format("2006-01-02 15:04:05"))
	}
	r := d.Report
	if r == nil {
		return nil
	}
	fmt.Fprintf(w, "calls taken by the drill: %d\n", r.Calls)
	if len(r.Alerts) == 0 {
		fmt.Fprintln(w, "alerts fired: none")
	}
	for _, a := range r.Alerts {
		ack := "not acknowledged"
		if a.Acknowledged {
			ack = "acknowledged"
			if a.AckedBy != "" {
				ack += " by " + logcmd.Cell(a.AckedBy, 0)
			}
		}
		fmt.Fprintf(w, "alert %s (%s) fired %s after the fault began; accepted by: %s; not delivered to: %s; %s\n",
			logcmd.Cell(a.ID, 0), a.Kind, alerts.FormatDuration(time.Duration(a.DelayS*float64(time.Second)).Round(time.Second)),
			logcmd.OrDash(logcmd.Cell(strings.Join(a.Accepted, ", "), 0)), logcmd.OrDash(logcmd.Cell(strings.Join(a.Failed, ", "), 0)), ack)
	}
	if d.Expect != "" {
		fmt.Fprintf(w, "expected: %s\n", logcmd.Cell(d.Expect, 0))
	}
	_, err := fmt.Fprintf(w, "verdict: %s\n", logcmd.Cell(r.Verdict, 0))
	return err
}
