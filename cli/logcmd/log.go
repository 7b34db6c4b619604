package logcmd

import (
	"context"
	"fmt"
	"io"
	"slices"
	"strings"
	"time"

	"github.com/mtguard/mtguard/inspect/client"
	"github.com/mtguard/mtguard/txn"
)

// Log is mtguard log: the calls matching the flags, oldest first, as a table or --json. Its
// flag set is named "mtguard log" wherever it runs, so that mtguard-log's help and errors
// read as mtguard log's.
func Log(ctx context.Context, args []string, stdout, stderr io.Writer, getenv func(string) string) error {
	fs := NewFlagSet("log", stderr)
	admin := fs.String("admin", "", "admin API `URL` (default $MTGUARD_ADMIN or "+DefaultAdminURL+")")
	record := fs.String("record", "", "only calls that carried this record `key` (e.g. an email)")
	route := fs.String("route", "", "only calls on this route")
	outcome := fs.String("outcome", "", "only calls with this outcome: "+OutcomeList())
	finding := fs.String("finding", "", "only calls with this finding `code` (e.g. auth.expired)")
	caller := fs.String("caller", "", "only calls that authenticated as this caller `name` (a route's callers:)")
	status := fs.String("status", "", "only calls answered with this HTTP `status`: a code (502) or a class (4xx)")
	var since SinceFlag
	fs.Var(&since, "since", "only calls in the last `duration` (e.g. 24h), or since an RFC 3339 time as alerts print it")
	limit := fs.Int("limit", 50, "at most `N` calls (the newest)")
	asJSON := fs.Bool("json", false, "print JSON instead of a table (the same calls in the same order, oldest first)")
	pos, err := ParseFlags(fs, args)
	if err != nil {
		return err
	}
	if len(pos) > 0 {
		return fmt.Errorf("log takes no arguments (got %q); filter with --record, --route, --outcome, --finding, --caller, --status, --since: %w", strings.Join(pos, " "), ErrUsage)
	}
	if err := CheckOutcome(*outcome); err != nil {
		return err
	}
	q := client.Query{RecordKey: *record, Route: *route, Outcome: txn.Outcome(*outcome), Finding: *finding, Caller: *caller, Limit: *limit, Since: since.From(time.Now())}
	if *status != "" {
		var ok bool
		if q.Status, q.StatusClass, ok = client.ParseStatusFilter(*status); !ok {
			return fmt.Errorf("--status %q must be an HTTP status code such as 502, or a class such as 4xx (1xx to 5xx): %w", *status, ErrUsage)
		}
	}
	page, err := AdminClient(*admin, getenv).List(ctx, q)
	if err != nil {
		return err
	}
	// The API answers the newest calls first (so that --limit keeps the newest); both the table
	// and --json list them oldest first, like a log file, so that the newest call ends up just
	// above the prompt. Ids sort by time, so sorting by id is sorting by time.
	slices.SortStableFunc(page.Transactions, func(a, b txn.Transaction) int { return strings.Compare(a.ID, b.ID) })
	if *asJSON {
		return WriteJSON(stdout, page)
	}
	if err := WriteLog(stdout, page.Transactions, nil); err != nil {
		return err
	}
	if page.Next != "" {
		fmt.Fprintf(stdout, "(showing the newest %d; raise --limit or narrow with --since to see more)\n", len(page.Transactions))
	}
	return nil
}
