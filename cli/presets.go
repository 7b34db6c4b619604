package cli

import (
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/mtguard/mtguard/vendors"
)

const presetsUsage = `Usage:
  mtguard presets              list the vendor presets
  mtguard presets show NAME    print one preset as YAML (its rules, versions, limits and sources)
`

// Presets lists the shipped vendor presets or prints one.
func Presets(args []string, stdout, stderr io.Writer) error {
	fs := NewFlagSet("presets", stderr)
	fs.Usage = func() { fmt.Fprint(stderr, presetsUsage) }
	pos, err := ParseFlags(fs, args)
	if err != nil {
		return err
	}
	switch {
	case len(pos) == 0:
		return writePresetList(stdout)
	case pos[0] == "show" && len(pos) == 2:
		src, err := vendors.PresetSource(pos[1])
		if err != nil {
			return err
		}
		_, err = stdout.Write(src)
		return err
	}
	fmt.Fprint(stderr, presetsUsage)
	return fmt.Errorf("presets %s: %w", strings.Join(pos, " "), ErrUsage)
}

func writePresetList(w io.Writer) error {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "PRESET\tVENDOR\tDEFAULT UPSTREAM\tRULES\tVERSION RULES\tLIMITS")
	for _, name := range vendors.PresetNames() {
		p, err := vendors.LoadPreset(name)
		if err != nil {
			return err
		}
		upstream := p.Upstream
		switch {
		case name == vendors.GenericPreset:
			upstream = "(set upstream)"
		case upstream == "":
			upstream = "(per account: set upstream)"
		}
		rules := len(p.Auth) + len(p.LimitSignals) + len(p.Outcomes)
		fmt.Fprintf(tw, "%s\t%s\t%s\t%d\t%d\t%s\n", name, p.Title, upstream, rules, len(p.Versions), LimitsSummary(p.Limits))
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	_, err := fmt.Fprint(w, "\nUse one with `preset: NAME` on a route; `mtguard presets show NAME` prints its rules and sources.\n")
	return err
}

// LimitsSummary prints a preset's limits in a few words: 100/10s, 50000/day (America/Chicago), 10 at once.
func LimitsSummary(l vendors.Limits) string {
	var parts []string
	for _, w := range l.Windows {
		if len(w.Paths) > 0 {
			continue // endpoint-specific windows would crowd the line
		}
		parts = append(parts, fmt.Sprintf("%d/%s", w.Requests, shortPer(w.Per)))
	}
	if q := l.Quota; q != nil {
		switch {
		case q.Rolling:
			parts = append(parts, fmt.Sprintf("%d per rolling %s", q.Requests, shortPer(q.Per)))
		default:
			parts = append(parts, fmt.Sprintf("%d/day (resets %s %s)", q.Requests, q.Resets, q.Zone))
		}
	}
	if l.Concurrency > 0 {
		parts = append(parts, fmt.Sprintf("%d at once", l.Concurrency))
	}
	if len(parts) == 0 {
		return "-"
	}
	return strings.Join(parts, ", ")
}

func shortPer(d time.Duration) string {
	switch {
	case d%time.Hour == 0:
		return fmt.Sprintf("%dh", d/time.Hour)
	case d%time.Minute == 0:
		return fmt.Sprintf("%dm", d/time.Minute)
	}
	return d.String()
}
