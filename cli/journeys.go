package cli

import (
	"context"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/mtguard/mtguard/cli/logcmd"
	"github.com/mtguard/mtguard/journeys"
)

// Journey prints one record's journeys: each step, whether and when it was reached, with
// what outcome, and where the record stopped.
func Journey(ctx context.Context, args []string, stdout, stderr io.Writer, getenv func(string) string) error {
	fs := NewFlagSet("journey", stderr)
	admin := fs.String("admin", "", "admin API `URL` (default $MTGUARD_ADMIN or "+logcmd.DefaultAdminURL+")")
	asJSON := fs.Bool("json", false, "print JSON instead of a table")
	pos, err := ParseFlags(fs, args)
	if err != nil {
		return err
	}
	if len(pos) != 1 {
		return fmt.Errorf("journey takes one record key (mtguard journey jane@acme.com): %w", ErrUsage)
	}
	a, err := adminClient(*admin, getenv).Journey(ctx, pos[0])
	if err != nil {
		return err
	}
	if *asJSON {
		return logcmd.WriteJSON(stdout, a)
	}
	return WriteJourneys(stdout, a.Key, a.Journeys, nil)
}

// Journeys lists the records in transit, or with --stuck those lost in transit.
func Journeys(ctx context.Context, args []string, stdout, stderr io.Writer, getenv func(string) string) error {
	fs := NewFlagSet("journeys", stderr)
	admin := fs.String("admin", "", "admin API `URL` (default $MTGUARD_ADMIN or "+logcmd.DefaultAdminURL+")")
	asJSON := fs.Bool("json", false, "print JSON instead of a table")
	stuck := fs.Bool("stuck", false, "list the records that entered and did not arrive within the journey's time")
	journey := fs.String("journey", "", "only this `journey`")
	pos, err := ParseFlags(fs, args)
	if err != nil {
		return err
	}
	if len(pos) > 0 {
		return fmt.Errorf("journeys takes no arguments (got %q): %w", strings.Join(pos, " "), ErrUsage)
	}
	rs, err := adminClient(*admin, getenv).JourneyRecords(ctx, *journey, *stuck)
	if err != nil {
		return err
	}
	if *asJSON {
		return logcmd.WriteJSON(stdout, rs)
	}
	return WriteJourneyList(stdout, rs, *stuck, nil)
}

// WriteJourneyList writes one line per record: journey, key, entered, due, where it stopped.
func WriteJourneyList(w io.Writer, rs []journeys.Record, stuck bool, loc *time.Location) error {
	if len(rs) == 0 {
		msg := "no record is in transit\n"
		if stuck {
			msg = "no record is lost in transit\n"
		}
		_, err := io.WriteString(w, msg)
		return err
	}
	if loc == nil {
		loc = time.Local
	}
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "JOURNEY\tKEY\tENTERED\tDUE\tSTOPPED")
	for _, r := range rs {
		fmt.Fprintln(tw, strings.Join([]string{
			logcmd.Cell(r.Journey, 0), logcmd.Cell(r.Key, 60),
			r.Entered.In(loc).Format("2006-01-02 15:04:05"), r.Due.In(loc).Format("2006-01-02 15:04:05"),
			logcmd.Cell(r.Stopped, 0),
		}, "\t"))
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	_, err := fmt.Fprintf(w, "%d record(s); mtguard journey KEY shows one step by step\n", len(rs))
	return err
}

// WriteJourneys writes a record's journeys, one block each.
func WriteJourneys(w io.Writer, key string, rs []journeys.Record, loc *time.Location) error {
	if len(rs) == 0 {
		_, err := fmt.Fprintf(w, "%s entered no journey (no call on a journey's first step carried it, or it is older than store.retention)\n", logcmd.Cell(key, 0))
		return err
	}
	if loc == nil {
		loc = time.Local
	}
	for i, r := range rs {
		if i > 0 {
			fmt.Fprintln(w)
		}
		state := strings.ReplaceAll(r.State, "_", " ")
		fmt.Fprintf(w, "%s on journey %s: %s, %s\n", logcmd.Cell(r.Key, 0), logcmd.Cell(r.Journey, 0), state, logcmd.Cell(r.Stopped, 0))
		fmt.Fprintf(w, "entered %s, due at the last step by %s\n", r.Entered.In(loc).Format("2006-01-02 15:04:05"), r.Due.In(loc).Format("2006-01-02 15:04:05"))
		tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
		fmt.Fprintln(tw, "STEP\tROUTE\tREACHED\tTIME\tOUTCOME\tCALL")
		for n, s := range r.Steps {
			reached, at := "no", "-"
			if s.Reached {
				reached, at = "yes", s.Time.In(loc).Format("2006-01-02 15:04:05")
			}
			fmt.Fprintf(tw, "%d\t%s\t%s\t%s\t%s\t%s\n", n+1, logcmd.Cell(s.Route, 0), reached, at, logcmd.OrDash(logcmd.Cell(string(s.Outcome), 0)), logcmd.OrDash(logcmd.Cell(s.Call, 0)))
		}
		if err := tw.Flush(); err != nil {
			return err
		}
	}
	return nil
}
