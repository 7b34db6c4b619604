package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/mtguard/mtguard/inspect"
	"github.com/mtguard/mtguard/store"
)

// errUnhealthy is health --check's failure: some route is not ok.
var errUnhealthy = errors.New("not every route is ok")

func cmdHealth(ctx context.Context, args []string, stdout, stderr io.Writer, getenv func(string) string) error {
	fs := newFlagSet("health", stderr)
	admin := fs.String("admin", "", "admin API `URL` (default $MTGUARD_ADMIN or "+defaultAdminURL+")")
	asJSON := fs.Bool("json", false, "print JSON instead of a table")
	check := fs.Bool("check", false, "exit with status 1 unless every route is ok (for cron and scripts)")
	pos, err := parseFlags(fs, args)
	if err != nil {
		return err
	}
	if len(pos) > 0 {
		return fmt.Errorf("health takes no arguments (got %q): %w", strings.Join(pos, " "), errUsage)
	}
	h, err := adminClient(*admin, getenv).Health(ctx)
	if err != nil {
		return err
	}
	if *asJSON {
		err = writeJSON(stdout, h)
	} else {
		err = inspect.WriteHealth(stdout, h, nil)
	}
	if err != nil {
		return err
	}
	if *check {
		var bad []string
		for _, r := range h.Routes {
			if r.State != inspect.StateOK {
				bad = append(bad, r.Route+" is "+r.State)
			}
		}
		if len(bad) > 0 {
			return fmt.Errorf("%s: %w", strings.Join(bad, ", "), errUnhealthy)
		}
	}
	return nil
}

func cmdAlerts(ctx context.Context, args []string, stdout, stderr io.Writer, getenv func(string) string) error {
	if len(args) > 0 && args[0] == "ack" {
		return cmdAlertsAck(ctx, args[1:], stdout, stderr, getenv)
	}
	fs := newFlagSet("alerts", stderr)
	admin := fs.String("admin", "", "admin API `URL` (default $MTGUARD_ADMIN or "+defaultAdminURL+")")
	all := fs.Bool("all", false, "the history too, not only the alerts firing now")
	state := fs.String("state", "", "only alerts in this `state`: firing or resolved")
	route := fs.String("route", "", "only alerts of this route")
	limit := fs.Int("limit", 50, "at most `N` alerts (the newest)")
	asJSON := fs.Bool("json", false, "print JSON instead of a table")
	pos, err := parseFlags(fs, args)
	if err != nil {
		return err
	}
	if len(pos) > 0 {
		return fmt.Errorf("alerts takes no arguments (got %q); to acknowledge one: mtguard alerts ack ID: %w", strings.Join(pos, " "), errUsage)
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
		return writeJSON(stdout, alerts)
	}
	if len(alerts) == 0 && q.State == store.AlertFiring {
		_, err := fmt.Fprintln(stdout, "no alerts firing (mtguard alerts --all shows the history)")
		return err
	}
	return inspect.WriteAlerts(stdout, alerts, nil)
}

func cmdAlertsAck(ctx context.Context, args []string, stdout, stderr io.Writer, getenv func(string) string) error {
	fs := newFlagSet("alerts ack", stderr)
	admin := fs.String("admin", "", "admin API `URL` (default $MTGUARD_ADMIN or "+defaultAdminURL+")")
	by := fs.String("by", getenv("USER"), "who takes it (default $USER)")
	comment := fs.String("comment", "", "what is being done about it")
	silence := fs.Duration("silence", 0, "also mute this route's rule for `duration` (e.g. 2h): no notices, not even for a new incident")
	asJSON := fs.Bool("json", false, "print the alert as JSON")
	pos, err := parseFlags(fs, args)
	if err != nil {
		return err
	}
	if len(pos) != 1 {
		return fmt.Errorf("alerts ack takes one alert id (the ID column of mtguard alerts): %w", errUsage)
	}
	a, err := adminClient(*admin, getenv).Acknowledge(ctx, pos[0], inspect.Ack{By: *by, Comment: *comment, Silence: *silence})
	if err != nil {
		return err
	}
	if *asJSON {
		return writeJSON(stdout, a)
	}
	fmt.Fprintf(stdout, "acknowledged %s (%s %s, %s)", a.ID, a.Route, a.Kind, a.State)
	if !a.SilencedUntil.IsZero() {
		fmt.Fprintf(stdout, "; muted until %s", a.SilencedUntil.Local().Format("2006-01-02 15:04"))
	}
	fmt.Fprintln(stdout)
	return nil
}

// sinceFlag is a --since value: a duration back from now (24h), or an RFC 3339 time
// (2026-11-30T14:00:00Z) as alerts print it in their command to look.
type sinceFlag struct {
	d time.Duration
	t time.Time
}

func (f *sinceFlag) String() string {
	switch {
	case f.d > 0:
		return f.d.String()
	case !f.t.IsZero():
		return f.t.Format(time.RFC3339)
	}
	return ""
}

func (f *sinceFlag) Set(s string) error {
	if d, err := time.ParseDuration(s); err == nil && d > 0 {
		f.d, f.t = d, time.Time{}
		return nil
	}
	t, err := time.Parse(time.RFC3339, s)
	if err != nil {
		return fmt.Errorf("%q is neither a duration like 24h nor a time like 2026-11-30T14:00:00Z", s)
	}
	f.d, f.t = 0, t
	return nil
}

// from returns the time the flag means at now, or the zero time when it was not given.
func (f *sinceFlag) from(now time.Time) time.Time {
	if f.d > 0 {
		return now.Add(-f.d)
	}
	return f.t
}
