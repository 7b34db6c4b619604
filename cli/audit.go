package cli

import (
	"context"
	"fmt"
	"io"
	"slices"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/mtguard/mtguard/cli/logcmd"
	"github.com/mtguard/mtguard/store"
)

// Audit prints the admin API's audit log from a running mtguard (GET /api/audit, admin role):
// every state-changing action, who took it with which role, from where, and how it ended.
func Audit(ctx context.Context, args []string, stdout, stderr io.Writer, getenv func(string) string) error {
	fs := NewFlagSet("audit", stderr)
	admin := fs.String("admin", "", "admin API `URL` (default $MTGUARD_ADMIN or "+logcmd.DefaultAdminURL+")")
	var since logcmd.SinceFlag
	fs.Var(&since, "since", "only actions since a `duration` back from now (24h) or an RFC 3339 time")
	limit := fs.Int("limit", 100, "at most `N` actions, the newest (1 to 1000)")
	asJSON := fs.Bool("json", false, "print JSON instead of a table")
	pos, err := ParseFlags(fs, args)
	if err != nil {
		return err
	}
	if len(pos) > 0 {
		return fmt.Errorf("audit takes no arguments (got %q): %w", strings.Join(pos, " "), ErrUsage)
	}
	if *limit < 1 || *limit > 1000 {
		return fmt.Errorf("--limit %d must be from 1 to 1000: %w", *limit, ErrUsage)
	}
	entries, err := adminClient(*admin, getenv).Audit(ctx, store.AuditQuery{Since: since.From(time.Now()), Limit: *limit})
	if err != nil {
		return err
	}
	// Oldest first, like mtguard log: the newest action ends up just above the prompt.
	slices.Reverse(entries)
	if *asJSON {
		return logcmd.WriteJSON(stdout, entries)
	}
	return WriteAudit(stdout, entries)
}

// WriteAudit prints audit entries as a table, in the order given.
func WriteAudit(w io.Writer, entries []store.AuditEntry) error {
	if len(entries) == 0 {
		_, err := fmt.Fprintln(w, "no admin actions recorded")
		return err
	}
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "TIME\tWHO\tROLE\tACTION\tTARGET\tSTATUS\tFROM\tDETAILS")
	for _, e := range entries {
		details := auditParams(e.Params)
		if e.Result != "" {
			details = strings.TrimSpace("result=" + e.Result + " " + details)
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s %s\t%s\t%d\t%s\t%s\n", e.Time.UTC().Format(time.RFC3339), e.Actor, e.Role,
			e.Method, e.Endpoint, dash(e.Target), e.Status, e.Remote, details)
	}
	return tw.Flush()
}

func dash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

// auditParams prints parameters as name=value, sorted by name.
func auditParams(p map[string]string) string {
	names := make([]string, 0, len(p))
	for k := range p {
		names = append(names, k)
	}
	slices.Sort(names)
	for i, k := range names {
		names[i] = k + "=" + p[k]
	}
	return strings.Join(names, " ")
}
