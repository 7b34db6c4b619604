package cli

import (
	"context"
	"fmt"
	"io"
	"strings"

	"github.com/mtguard/mtguard/cli/logcmd"
)

// Limits prints each limits group's budget, use, queue and pause state, from a running
// mtguard (GET /api/limits).
func Limits(ctx context.Context, args []string, stdout, stderr io.Writer, getenv func(string) string) error {
	fs := NewFlagSet("limits", stderr)
	admin := fs.String("admin", "", "admin API `URL` (default $MTGUARD_ADMIN or "+logcmd.DefaultAdminURL+")")
	asJSON := fs.Bool("json", false, "print JSON instead of a table")
	pos, err := ParseFlags(fs, args)
	if err != nil {
		return err
	}
	if len(pos) > 0 {
		return fmt.Errorf("limits takes no arguments (got %q): %w", strings.Join(pos, " "), ErrUsage)
	}
	rep, err := adminClient(*admin, getenv).Limits(ctx)
	if err != nil {
		return err
	}
	if *asJSON {
		return logcmd.WriteJSON(stdout, rep)
	}
	return WriteLimits(stdout, rep, nil)
}
