package cli

import (
	"context"
	"fmt"
	"io"
	"strings"

	"github.com/mtguard/mtguard/alerts"
	"github.com/mtguard/mtguard/cli/logcmd"
	"github.com/mtguard/mtguard/store"
)

func Alerts(ctx context.Context, args []string, stdout, stderr io.Writer, getenv func(string) string) error {
	if len(args) > 0 && args[0] == "ack" {
		return AlertsAck(ctx, args[1:], stdout, stderr, getenv)
	}
	if len(args) > 0 && args[0] == "test" {
		return AlertsTest(ctx, args[1:], stdout, stderr, getenv)
	}
	fs := NewFlagSet("alerts", stderr)
	admin := fs.String("admin", "", "admin API `URL` (default $MTGUARD_ADMIN or "+logcmd.DefaultAdminURL+")")
	all := fs.Bool("all", false, "the history too, not only the alerts firing now")
	state := fs.String("state", "", "only alerts in this `state`: firing or resolved")
	route := fs.String("route", "", "only alerts of this route")
	limit := fs.Int("limit", 50, "at most `N` alerts (the newest)")
	asJSON := fs.Bool("json", false, "print JSON instead of a table")
	pos, err := ParseFlags(fs, args)
	if err != nil {
		return err
	}
	if len(pos) > 0 {
		return fmt.Errorf("alerts takes no arguments (got %q); to acknowledge one: mtguard alerts ack ID: %w", strings.Join(pos, " "), ErrUsage)
	}
	q := store.AlertQuery{State: store.AlertState(*state), Route: *route, Limit: *limit}
	if q.State == "" && !*all {
		q.State = store.AlertFiring
	}
	alerts, err := adminClient(*admin, getenv).Alerts(ctx, q)
	if err != nil {
		return err
	}
	if *asJSON {
		return logcmd.WriteJSON(stdout, alerts)
	}
	if len(alerts) == 0 && q.State == store.AlertFiring {
		_, err := fmt.Fprintln(stdout, "no alerts firing (mtguard alerts --all shows the history)")
		return err
	}
	return WriteAlerts(stdout, alerts, nil)
}

func AlertsAck(ctx context.Context, args []string, stdout, stderr io.Writer, getenv func(string) string) error {
	fs := NewFlagSet("alerts ack", stderr)
	admin := fs.String("admin", "", "admin API `URL` (default $MTGUARD_ADMIN or "+logcmd.DefaultAdminURL+")")
	by := fs.String("by", getenv("USER"), "who takes it (default $USER)")
	comment := fs.String("comment", "", "what is being done about it")
	silence := fs.Duration("silence", 0, "also mute this route's rule for `duration` (e.g. 2h): no notices, not even for a new incident")
	asJSON := fs.Bool("json", false, "print the alert as JSON")
	pos, err := ParseFlags(fs, args)
	if err != nil {
		return err
	}
	if len(pos) != 1 {
		return fmt.Errorf("alerts ack takes one alert id (the ID column of mtguard alerts): %w", ErrUsage)
	}
	a, err := adminClient(*admin, getenv).Acknowledge(ctx, pos[0], alerts.Ack{By: *by, Comment: *comment, Silence: *silence})
	if err != nil {
		return err
	}
	if *asJSON {
		return logcmd.WriteJSON(stdout, a)
	}
	fmt.Fprintf(stdout, "acknowledged %s (%s %s, %s)", a.ID, a.Route, a.Kind, a.State)
	if !a.SilencedUntil.IsZero() {
		fmt.Fprintf(stdout, "; muted until %s", a.SilencedUntil.Local().Format("2006-01-02 15:04"))
	}
	fmt.Fprintln(stdout)
	return nil
}
