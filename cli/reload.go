package cli

import (
	"context"
	"fmt"
	"io"

	"github.com/mtguard/mtguard/cli/logcmd"
	"github.com/mtguard/mtguard/inspect"
)

// Reload is "mtguard reload": the running serve reads its config file again and, if it is
// valid, runs it; the command prints what changed, or every mistake (exit 1).
func Reload(ctx context.Context, args []string, stdout, stderr io.Writer, getenv func(string) string) error {
	fs := NewFlagSet("reload", stderr)
	admin := fs.String("admin", "", "admin API `URL` (default $MTGUARD_ADMIN or "+logcmd.DefaultAdminURL+")")
	drop := fs.Bool("drop-queued", false, "remove routes even if deliveries are queued for them (they are dropped and recorded)")
	asJSON := fs.Bool("json", false, "print the report as JSON")
	pos, err := ParseFlags(fs, args)
	if err != nil {
		return err
	}
	if len(pos) > 0 {
		return fmt.Errorf("reload takes no arguments: it reloads the file serve was started with (--config): %w", ErrUsage)
	}
	rep, err := adminClient(*admin, getenv).Reload(ctx, inspect.ReloadRequest{DropQueued: *drop})
	if err != nil {
		return err
	}
	if *asJSON {
		if err := logcmd.WriteJSON(stdout, rep); err != nil {
			return err
		}
	} else {
		WriteReload(stdout, rep)
	}
	if !rep.Applied {
		return ErrFailures
	}
	return nil
}

// WriteReload prints a reload's report for people: what changed, what needs a restart, or
// why nothing changed.
func WriteReload(w io.Writer, rep inspect.ReloadReport) {
	switch {
	case rep.Refused:
		fmt.Fprintf(w, "reload of %s refused; the running config is unchanged:\n", rep.File)
	case !rep.Applied:
		fmt.Fprintf(w, "%s has %d mistakes; the running config is unchanged:\n", rep.File, len(rep.Problems))
	case len(rep.Changes) == 0 && len(rep.NeedsRestart) == 0:
		fmt.Fprintf(w, "reloaded %s: nothing changed\n", rep.File)
	default:
		fmt.Fprintf(w, "reloaded %s:\n", rep.File)
	}
	for _, p := range rep.Problems {
		fmt.Fprintf(w, "  %s\n", p)
	}
	for _, c := range rep.Changes {
		if c.Detail != "" {
			fmt.Fprintf(w, "  %-17s %s: %s\n", c.Kind, c.Name, c.Detail)
		} else {
			fmt.Fprintf(w, "  %-17s %s\n", c.Kind, c.Name)
		}
	}
	if rep.DroppedQueued > 0 {
		fmt.Fprintf(w, "  dropped %d queued deliveries of removed routes (recorded)\n", rep.DroppedQueued)
	}
	for _, s := range rep.NeedsRestart {
		fmt.Fprintf(w, "  needs a restart:  %s (changed in the file; the running value stays until serve restarts)\n", s)
	}
}
