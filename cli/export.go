package cli

import (
	"context"
	"fmt"
	"io"
	"os"
	"time"

	"github.com/mtguard/mtguard/cli/logcmd"
	"github.com/mtguard/mtguard/inspect"
	"github.com/mtguard/mtguard/store"
	"github.com/mtguard/mtguard/txn"
)

func Export(ctx context.Context, version string, args []string, stdout, stderr io.Writer, getenv func(string) string) error {
	fs := NewFlagSet("export", stderr)
	admin := fs.String("admin", "", "admin API `URL` (default $MTGUARD_ADMIN or "+logcmd.DefaultAdminURL+")")
	har := fs.Bool("har", false, "write HAR 1.2 (the only format for now)")
	out := fs.String("out", "", "write to `file` instead of standard output")
	record := fs.String("record", "", "only calls that carried this record `key`")
	route := fs.String("route", "", "only calls on this route")
	outcome := fs.String("outcome", "", "only calls with this outcome")
	finding := fs.String("finding", "", "only calls with this finding `code`")
	since := fs.Duration("since", 0, "only calls in the last `duration`")
	limit := fs.Int("limit", 1000, "at most `N` calls")
	pos, err := ParseFlags(fs, args)
	if err != nil {
		return err
	}
	if !*har || len(pos) > 0 {
		return fmt.Errorf("export needs --har and takes filters as flags (e.g. mtguard export --har --record jane@acme.com): %w", ErrUsage)
	}
	q := store.Query{RecordKey: *record, Route: *route, Outcome: txn.Outcome(*outcome), Finding: *finding, Ascending: true}
	if *since > 0 {
		q.Since = time.Now().Add(-*since)
	}
	client := adminClient(*admin, getenv)
	var txs []txn.Transaction
	for len(txs) < *limit {
		q.Limit = min(1000, *limit-len(txs))
		page, err := client.List(ctx, q)
		if err != nil {
			return err
		}
		txs = append(txs, page.Transactions...)
		if page.Next == "" {
			break
		}
		q.Cursor = page.Next
	}
	w := stdout
	if *out != "" {
		f, err := os.Create(*out)
		if err != nil {
			return fmt.Errorf("export: %w", err)
		}
		defer f.Close()
		w = f
	}
	if err := logcmd.WriteJSON(w, inspect.NewHAR(txs, version)); err != nil {
		return fmt.Errorf("export: %w", err)
	}
	if *out != "" {
		fmt.Fprintf(stdout, "wrote %d calls to %s\n", len(txs), *out)
	}
	return nil
}
