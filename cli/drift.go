package cli

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/mtguard/mtguard/cli/logcmd"
	"github.com/mtguard/mtguard/drift"
)

// Drift prints a route's learned payload shape and the changes flagged since.
func Drift(ctx context.Context, args []string, stdout, stderr io.Writer, getenv func(string) string) error {
	fs := NewFlagSet("drift", stderr)
	admin := fs.String("admin", "", "admin API `URL` (default $MTGUARD_ADMIN or "+logcmd.DefaultAdminURL+")")
	asJSON := fs.Bool("json", false, "print JSON instead of a table")
	route := fs.String("route", "", "the `route` whose shape to show (one with a drift: block)")
	pos, err := ParseFlags(fs, args)
	if err != nil {
		return err
	}
	if len(pos) > 0 || *route == "" {
		return fmt.Errorf("drift needs --route R and takes no arguments: %w", ErrUsage)
	}
	sh, err := adminClient(*admin, getenv).Shape(ctx, *route)
	if err != nil {
		return err
	}
	if *asJSON {
		return logcmd.WriteJSON(stdout, sh)
	}
	return WriteShape(stdout, sh, time.Now(), nil)
}

// SchemasLearn writes a route's learned shape as a JSON Schema, DIR/<route>.request.json,
// ready for mtguard schemas pin.
func SchemasLearn(ctx context.Context, args []string, stdout, stderr io.Writer, getenv func(string) string) error {
	fs := NewFlagSet("schemas learn", stderr)
	admin := fs.String("admin", "", "admin API `URL` (default $MTGUARD_ADMIN or "+logcmd.DefaultAdminURL+")")
	route := fs.String("route", "", "the `route` whose learned shape to write (one with a drift: block)")
	out := fs.String("out", "", "the `folder` to write <route>.request.json into")
	pos, err := ParseFlags(fs, args)
	if err != nil {
		return err
	}
	if len(pos) > 0 || *route == "" || *out == "" {
		return fmt.Errorf("schemas learn needs --route R and --out DIR: %w", ErrUsage)
	}
	sh, err := adminClient(*admin, getenv).Shape(ctx, *route)
	if err != nil {
		return err
	}
	if sh.Calls == 0 {
		return fmt.Errorf("route %s has learned from no call yet; send traffic through it first", *route)
	}
	b, err := json.MarshalIndent(sh.JSONSchema(), "", "  ")
	if err != nil {
		return err
	}
	if err := os.MkdirAll(*out, 0o755); err != nil {
		return fmt.Errorf("schemas learn: %w", err)
	}
	file := filepath.Join(*out, *route+".request.json")
	if err := os.WriteFile(file, append(b, '\n'), 0o644); err != nil {
		return fmt.Errorf("schemas learn: %w", err)
	}
	_, err = fmt.Fprintf(stdout, "wrote %s from %d calls (%d fields); review it, then: mtguard schemas pin --source learned:%s %s\n",
		file, sh.Calls, len(sh.Fields), *route, file)
	return err
}

// WriteShape writes the learned fields (pointer, types, presence) and the changes.
func WriteShape(w io.Writer, sh drift.Shape, now time.Time, loc *time.Location) error {
	if loc == nil {
		loc = time.Local
	}
	switch {
	case sh.Calls == 0:
		fmt.Fprintf(w, "route %s: no call learned from yet\n", logcmd.Cell(sh.Route, 0))
		return nil
	case sh.Learning(now):
		fmt.Fprintf(w, "route %s: learning from %d calls since %s, until %s\n", logcmd.Cell(sh.Route, 0), sh.Calls, sh.Since.In(loc).Format("2006-01-02 15:04"), sh.Until.In(loc).Format("2006-01-02 15:04"))
	default:
		fmt.Fprintf(w, "route %s: learned from %d calls between %s and %s; %d calls checked since\n", logcmd.Cell(sh.Route, 0), sh.Calls,
			sh.Since.In(loc).Format("2006-01-02 15:04"), sh.Until.In(loc).Format("2006-01-02 15:04"), sh.Checked)
	}
	if sh.Capped {
		fmt.Fprintf(w, "more than %d fields: the rest are not learned, and new fields are not flagged\n", drift.MaxFields)
	}
	ps := make([]string, 0, len(sh.Fields))
	for p := range sh.Fields {
		ps = append(ps, p)
	}
	sort.Strings(ps)
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "FIELD\tTYPES\tPRESENT")
	for _, p := range ps {
		f := sh.Fields[p]
		var ts []string
		for t := range f.Types {
			ts = append(ts, t)
		}
		sort.Strings(ts)
		fmt.Fprintf(tw, "%s\t%s\t%.0f%%\n", logcmd.Cell(p, 80), strings.Join(ts, "|"), 100*float64(f.Seen)/float64(max(sh.Calls, 1)))
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	if len(sh.Changes) == 0 {
		_, err := fmt.Fprintln(w, "no change flagged")
		return err
	}
	fmt.Fprintln(w)
	tw = tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "CHANGE\tFIELD\tBEFORE\tAFTER\tFIRST SEEN\tCALLS\tFIRST CALL")
	for _, c := range sh.Changes {
		field := c.Pointer
		if c.To != "" {
			field += " -> " + c.To
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%d\t%s\n", c.Kind, logcmd.Cell(field, 80), logcmd.Cell(c.Before, 0), logcmd.Cell(c.After, 0),
			c.FirstSeen.In(loc).Format("2006-01-02 15:04:05"), c.Calls, logcmd.Cell(c.Call, 0))
	}
	if sh.Overflow > 0 {
		fmt.Fprintf(tw, "(%d more changes not kept)\n", sh.Overflow)
	}
	return tw.Flush()
}
