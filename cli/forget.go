package cli

import (
	"context"
	"fmt"
	"io"
	"text/tabwriter"
	"time"

	"github.com/mtguard/mtguard/cli/logcmd"
	"github.com/mtguard/mtguard/store"
)

func Forget(ctx context.Context, args []string, stdout, stderr io.Writer, getenv func(string) string) error {
	fs := NewFlagSet("forget", stderr)
	admin := fs.String("admin", "", "admin API `URL` (default $MTGUARD_ADMIN or "+logcmd.DefaultAdminURL+")")
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
	writeForget(stdout, *record, rep)
	return nil
}

// writeForget prints what forget erased and the routes and vendors the record was sent to.
func writeForget(w io.Writer, key string, rep store.ForgetReport) {
	fmt.Fprintf(w, "erased %s: deleted %d calls that carried only %s; kept %d calls that also carried other records, with its values replaced by %s; store compacted from %d to %d bytes\n",
		key, rep.Deleted, key, rep.Scrubbed, store.Erased, rep.BytesBefore, rep.BytesAfter)
	if len(rep.Recipients) == 0 {
		fmt.Fprintln(w, "No recorded call carried it, so mtguard sent it nowhere (calls older than store.retention are no longer recorded).")
		return
	}
	fmt.Fprintln(w, "\nWhere the calls that carried it went (ask these vendors to erase it too; SENT excludes calls mtguard refused or held back itself):")
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "ROUTE\tVENDOR HOST\tCALLS\tSENT\tFIRST SENT\tLAST SENT")
	when := func(t *time.Time) string {
		if t == nil {
			return "-"
		}
		return t.UTC().Format(time.RFC3339)
	}
	for _, r := range rep.Recipients {
		fmt.Fprintf(tw, "%s\t%s\t%d\t%d\t%s\t%s\n", r.Route, r.Upstream, r.Calls, r.Sent, when(r.First), when(r.Last))
	}
	tw.Flush()
	fmt.Fprintln(w, "Calls older than store.retention are no longer recorded and are not in this list.")
}
