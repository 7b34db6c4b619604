package cli

import (
	"context"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/mtguard/mtguard/store"
	"github.com/mtguard/mtguard/txn"
)

func Log(ctx context.Context, args []string, stdout, stderr io.Writer, getenv func(string) string) error {
	fs := NewFlagSet("log", stderr)
	admin := fs.String("admin", "", "admin API `URL` (default $MTGUARD_ADMIN or "+defaultAdminURL+")")
	record := fs.String("record", "", "only calls that carried this record `key` (e.g. an email)")
	route := fs.String("route", "", "only calls on this route")
	outcome := fs.String("outcome", "", "only calls with this outcome: "+outcomeList())
	var since sinceFlag
	fs.Var(&since, "since", "only calls in the last `duration` (e.g. 24h), or since an RFC 3339 time as alerts print it")
	limit := fs.Int("limit", 50, "at most `N` calls (the newest)")
	asJSON := fs.Bool("json", false, "print JSON instead of a table")
	pos, err := ParseFlags(fs, args)
	if err != nil {
		return err
	}
	if len(pos) > 0 {
		return fmt.Errorf("log takes no arguments (got %q); filter with --record, --route, --outcome: %w", strings.Join(pos, " "), ErrUsage)
	}
	q := store.Query{RecordKey: *record, Route: *route, Outcome: txn.Outcome(*outcome), Limit: *limit, Since: since.from(time.Now())}
	page, err := adminClient(*admin, getenv).List(ctx, q)
	if err != nil {
		return err
	}
	if *asJSON {
		return writeJSON(stdout, page)
	}
	if err := WriteLog(stdout, page.Transactions, nil); err != nil {
		return err
	}
	if page.Next != "" {
		fmt.Fprintf(stdout, "(showing the newest %d; raise --limit or narrow with --since to see more)\n", len(page.Transactions))
	}
	return nil
}
