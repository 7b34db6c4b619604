package cli

import (
	"context"
	"fmt"
	"io"

	"github.com/mtguard/mtguard/cli/logcmd"
	"github.com/mtguard/mtguard/inspect"
)

func Show(ctx context.Context, args []string, stdout, stderr io.Writer, getenv func(string) string) error {
	fs := NewFlagSet("show", stderr)
	admin := fs.String("admin", "", "admin API `URL` (default $MTGUARD_ADMIN or "+logcmd.DefaultAdminURL+")")
	asJSON := fs.Bool("json", false, "print JSON")
	asCurl := fs.Bool("curl", false, "print an equivalent curl command (secrets as ${PLACEHOLDERS})")
	pos, err := ParseFlags(fs, args)
	if err != nil {
		return err
	}
	if len(pos) != 1 {
		return fmt.Errorf("show takes one transaction id (the X-Mtguard-Id header, or the ID column of mtguard log): %w", ErrUsage)
	}
	tx, err := adminClient(*admin, getenv).Get(ctx, pos[0])
	if err != nil {
		return err
	}
	switch {
	case *asJSON:
		return logcmd.WriteJSON(stdout, tx)
	case *asCurl:
		_, err := fmt.Fprintln(stdout, inspect.Curl(tx))
		return err
	}
	return WriteTransaction(stdout, tx, nil)
}
