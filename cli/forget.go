package cli

import (
	"context"
	"fmt"
	"io"
)

func Forget(ctx context.Context, args []string, stdout, stderr io.Writer, getenv func(string) string) error {
	fs := NewFlagSet("forget", stderr)
	admin := fs.String("admin", "", "admin API `URL` (default $MTGUARD_ADMIN or "+defaultAdminURL+")")
	record := fs.String("record", "", "the record `key` to erase (e.g. an email address)")
	pos, err := ParseFlags(fs, args)
	if err != nil {
		return err
	}
	if *record == "" || len(pos) > 0 {
		return fmt.Errorf("forget needs --record KEY (e.g. mtguard forget --record jane@acme.com): %w", ErrUsage)
	}
	rep, err := adminClient(*admin, getenv).Forget(ctx, *record)
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "erased %d transactions carrying %s; store compacted from %d to %d bytes\n", rep.Deleted, *record, rep.BytesBefore, rep.BytesAfter)
	return nil
}
