package cli

import (
	"context"
	"fmt"
	"io"
	"strings"

	"github.com/mtguard/mtguard/alerts"
	"github.com/mtguard/mtguard/cli/logcmd"
)

func Health(ctx context.Context, args []string, stdout, stderr io.Writer, getenv func(string) string) error {
	fs := NewFlagSet("health", stderr)
	admin := fs.String("admin", "", "admin API `URL` (default $MTGUARD_ADMIN or "+logcmd.DefaultAdminURL+")")
	asJSON := fs.Bool("json", false, "print JSON instead of a table")
	check := fs.Bool("check", false, "exit with status 1 unless every route is ok (for cron and scripts)")
	pos, err := ParseFlags(fs, args)
	if err != nil {
		return err
	}
	if len(pos) > 0 {
		return fmt.Errorf("health takes no arguments (got %q): %w", strings.Join(pos, " "), ErrUsage)
	}
	h, err := adminClient(*admin, getenv).Health(ctx)
	if err != nil {
		return err
	}
	if *asJSON {
		err = logcmd.WriteJSON(stdout, h)
	} else {
		err = WriteHealth(stdout, h, nil)
	}
	if err != nil {
		return err
	}
	if *check {
		var bad []string
		for _, r := range h.Routes {
			if r.State != alerts.StateOK {
				bad = append(bad, r.Route+" is "+r.State)
			}
		}
		if len(bad) > 0 {
			return fmt.Errorf("%s: %w", strings.Join(bad, ", "), ErrUnhealthy)
		}
	}
	return nil
}
