package cli

import (
	"context"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"github.com/mtguard/mtguard/cli/logcmd"
	"github.com/mtguard/mtguard/inspect"
	"github.com/mtguard/mtguard/txn"
)

func Replay(ctx context.Context, args []string, stdout, stderr io.Writer, getenv func(string) string) error {
	fs := NewFlagSet("replay", stderr)
	admin := fs.String("admin", "", "admin API `URL` (default $MTGUARD_ADMIN or "+logcmd.DefaultAdminURL+")")
	record := fs.String("record", "", "replay the calls that carried this record `key`")
	route := fs.String("route", "", "replay the calls of this route")
	outcome := fs.String("outcome", "", "replay the calls with this outcome: "+logcmd.OutcomeList())
	finding := fs.String("finding", "", "replay the calls with this finding `code` (e.g. auth.expired)")
	var since logcmd.SinceFlag
	fs.Var(&since, "since", "only calls in the last `duration` (e.g. 6h), or since an RFC 3339 time as alerts print it")
	limit := fs.Int("limit", 0, "resend at most `N` calls (chains already delivered do not count); the default resends every match")
	dryRun := fs.Bool("dry-run", false, "say how many calls and records would be resent, resend nothing")
	force := fs.Bool("force", false, "resend calls that were already delivered")
	includeInterrupted := fs.Bool("include-interrupted", false, "resend interrupted calls too (the vendor may have acted on them: a resend may duplicate)")
	asJSON := fs.Bool("json", false, "print the result as JSON")
	editFile := fs.String("edit", "", "resend one call with the body in this `file` instead of the stored one (edit-then-replay)")
	var sets setFlags
	fs.Var(&sets, "set", "resend one call with this `path=value` changed in its JSON body (repeatable), e.g. properties.email=jane@example.com")
	pos, err := ParseFlags(fs, args)
	if err != nil {
		return err
	}
	client := adminClient(*admin, getenv)
	if len(pos) == 1 {
		if *record != "" || *route != "" || *outcome != "" || *finding != "" || since.String() != "" || *dryRun || *includeInterrupted {
			return fmt.Errorf("replay takes either one transaction id or filters, not both: %w", ErrUsage)
		}
		body, err := editedBody(ctx, client, pos[0], *editFile, sets)
		if err != nil {
			return err
		}
		res, err := client.ReplayEdited(ctx, pos[0], *force, body)
		if err != nil {
			return err
		}
		if *asJSON {
			return logcmd.WriteJSON(stdout, res)
		}
		if res.Item.Skipped != "" {
			fmt.Fprintf(stdout, "%s not resent: %s\n", pos[0], res.Item.Skipped)
			return nil
		}
		fmt.Fprintf(stdout, "%s resent as %s: %s (%d records)\n", res.Item.Resent, res.Item.Replay, res.Item.Outcome, res.Item.Records)
		if res.Item.Outcome != string(txn.OutcomeDelivered) {
			fmt.Fprintf(stdout, "see: mtguard show %s\n", res.Item.Replay)
			return ErrFailures
		}
		return nil
	}
	if len(pos) > 1 {
		return fmt.Errorf("replay takes one transaction id or filters: %w", ErrUsage)
	}
	if *editFile != "" || len(sets) > 0 {
		return fmt.Errorf("--edit and --set correct one call: give its id (mtguard replay ID --set path=value): %w", ErrUsage)
	}
	if err := logcmd.CheckOutcome(*outcome); err != nil {
		return err
	}
	// The server reads since as a duration back from its own clock, or as the time given.
	req := inspect.ReplayRequest{Record: *record, Route: *route, Outcome: *outcome, Finding: *finding, Since: since.String(), Limit: *limit, DryRun: *dryRun, Force: *force, IncludeInterrupted: *includeInterrupted}
	job, err := client.StartReplay(ctx, req)
	if err != nil {
		return err
	}
	bar := newProgress(stdout)
	for job.State != "done" {
		bar.show(job)
		select {
		case <-ctx.Done():
			return fmt.Errorf("stopped watching replay %s (it goes on in the server): %w", job.ID, ctx.Err())
		case <-time.After(200 * time.Millisecond):
		}
		if job, err = client.ReplayJob(ctx, job.ID); err != nil {
			return err
		}
	}
	bar.done(job)
	if *asJSON {
		return logcmd.WriteJSON(stdout, job)
	}
	writeReplaySummary(stdout, job)
	if job.FailedAgain > 0 || job.Error != "" {
		return ErrFailures
	}
	return nil
}

func writeReplaySummary(w io.Writer, job *inspect.ReplayJob) {
	if job.DryRun {
		fmt.Fprintf(w, "dry run: %d matched; %d would be resent, carrying %d records; %d skipped\n",
			job.Matched, job.Total-job.Skipped, job.Records, job.Skipped)
	} else {
		fmt.Fprintf(w, "replay %s: %d matched; %d resent (%d records): %d delivered, %d failed again; %d skipped\n",
			job.ID, job.Matched, job.Resent, job.Records, job.Delivered, job.FailedAgain, job.Skipped)
	}
	for _, s := range job.SkipSummary() {
		fmt.Fprintf(w, "  skipped: %s\n", s)
	}
	if s := job.LimitSummary(); s != "" {
		fmt.Fprintf(w, "  %s\n", s)
	}
	for _, it := range job.Items {
		if !job.DryRun && it.Replay != "" && it.Outcome != string(txn.OutcomeDelivered) {
			fmt.Fprintf(w, "  failed again: %s -> %s (%s): mtguard show %s\n", it.Resent, it.Replay, it.Outcome, it.Replay)
		}
	}
	if job.Error != "" {
		fmt.Fprintf(w, "  error: %s\n", job.Error)
	}
}

// progress draws a one-line progress bar on a terminal and nothing elsewhere.
type progress struct {
	w   io.Writer
	tty bool
}

func newProgress(w io.Writer) *progress {
	f, ok := w.(*os.File)
	tty := false
	if ok {
		if fi, err := f.Stat(); err == nil {
			tty = fi.Mode()&os.ModeCharDevice != 0
		}
	}
	return &progress{w: w, tty: tty}
}

func (p *progress) show(job *inspect.ReplayJob) {
	if !p.tty || job.Total == 0 {
		return
	}
	const width = 30
	filled := width * job.Done / job.Total
	fmt.Fprintf(p.w, "\r[%s%s] %d/%d  delivered %d  failed %d  skipped %d ",
		strings.Repeat("#", filled), strings.Repeat(".", width-filled), job.Done, job.Total, job.Delivered, job.FailedAgain, job.Skipped)
}

func (p *progress) done(job *inspect.ReplayJob) {
	if p.tty && job.Total > 0 {
		p.show(job)
		fmt.Fprintln(p.w)
	}
}
