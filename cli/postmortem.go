package cli

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"os"
	"slices"
	"strings"
	"time"

	"github.com/mtguard/mtguard/cli/logcmd"
	"github.com/mtguard/mtguard/inspect"
)

// Postmortem is mtguard postmortem ALERT_ID, or --route R --since T [--until T]: the written
// account of an incident from the record, as Markdown, HTML or JSON.
func Postmortem(ctx context.Context, args []string, stdout, stderr io.Writer, getenv func(string) string) error {
	fs := NewFlagSet("postmortem", stderr)
	admin := fs.String("admin", "", "admin API `URL` (default $MTGUARD_ADMIN or "+logcmd.DefaultAdminURL+")")
	route := fs.String("route", "", "the `route` of the incident (with --since; instead of an alert id)")
	var since, until logcmd.SinceFlag
	fs.Var(&since, "since", "the incident's start: a `duration` back from now (e.g. 6h) or an RFC 3339 time")
	fs.Var(&until, "until", "the incident's end (default now): a `duration` back from now or an RFC 3339 time")
	format := fs.String("format", "md", "md (Markdown for GitHub), html (one self-contained file) or json")
	out := fs.String("out", "", "write the report to `file` instead of the standard output")
	pos, err := ParseFlags(fs, args)
	if err != nil {
		return err
	}
	if !slices.Contains(inspect.PostmortemFormats, *format) {
		return fmt.Errorf("--format %q must be md, html or json: %w", *format, ErrUsage)
	}
	now := time.Now()
	req := inspect.PostmortemRequest{Route: *route, Since: since.From(now), Until: until.From(now)}
	switch {
	case len(pos) == 1 && *route == "":
		req.Alert = pos[0]
	case len(pos) == 0 && *route != "" && !req.Since.IsZero():
	default:
		return fmt.Errorf("postmortem takes one alert id (the ID column of mtguard alerts --all), or --route R --since T [--until T]: %w", ErrUsage)
	}
	pm, err := adminClient(*admin, getenv).Postmortem(ctx, req)
	if err != nil {
		return err
	}
	var b bytes.Buffer
	switch *format {
	case "json":
		err = logcmd.WriteJSON(&b, pm)
	case "html":
		err = inspect.WritePostmortemHTML(&b, pm)
	default:
		err = inspect.WritePostmortemMarkdown(&b, pm)
	}
	if err != nil {
		return err
	}
	if *out == "" {
		_, err = stdout.Write(b.Bytes())
		return err
	}
	if err := os.WriteFile(*out, b.Bytes(), 0o600); err != nil {
		return fmt.Errorf("write the postmortem: %w", err)
	}
	fmt.Fprintf(stdout, "wrote the postmortem of %s to %s\n", strings.TrimSpace(pm.Route+" "+pm.Alert), *out)
	return nil
}
