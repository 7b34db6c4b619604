package logcmd

import (
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/mtguard/mtguard/txn"
)

// NewFlagSet returns a flag set that reports its errors to stderr and returns them.
func NewFlagSet(name string, stderr io.Writer) *flag.FlagSet {
	fs := flag.NewFlagSet("mtguard "+name, flag.ContinueOnError)
	fs.SetOutput(stderr)
	return fs
}

// ParseFlags parses args, allowing flags after positional arguments ("show ID --json").
func ParseFlags(fs *flag.FlagSet, args []string) ([]string, error) {
	var pos []string
	for {
		if err := fs.Parse(args); err != nil {
			if err == flag.ErrHelp {
				return nil, err
			}
			return nil, fmt.Errorf("%v: %w", err, ErrUsage)
		}
		args = fs.Args()
		if len(args) == 0 {
			return pos, nil
		}
		pos = append(pos, args[0])
		args = args[1:]
	}
}

// OutcomeList is every outcome, comma-separated, for help texts and usage errors.
func OutcomeList() string {
	var s []string
	for _, o := range txn.Outcomes {
		s = append(s, string(o))
	}
	return strings.Join(s, ", ")
}

// CheckOutcome refuses an --outcome that is not one, as a usage error that lists them.
func CheckOutcome(o string) error {
	if o == "" || txn.Outcome(o).Valid() {
		return nil
	}
	return fmt.Errorf("--outcome %q is not an outcome; use one of %s: %w", o, OutcomeList(), ErrUsage)
}

// WriteJSON writes v as indented JSON, the --json output of every verb.
func WriteJSON(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}

// SinceFlag is a --since value: a duration back from now (24h), or an RFC 3339 time
// (2026-11-30T14:00:00Z) as alerts print it in their command to look.
type SinceFlag struct {
	d time.Duration
	t time.Time
}

func (f *SinceFlag) String() string {
	switch {
	case f.d > 0:
		return f.d.String()
	case !f.t.IsZero():
		return f.t.Format(time.RFC3339Nano)
	}
	return ""
}

func (f *SinceFlag) Set(s string) error {
	if d, err := time.ParseDuration(s); err == nil && d > 0 {
		f.d, f.t = d, time.Time{}
		return nil
	}
	t, err := time.Parse(time.RFC3339, s)
	if err != nil {
		return fmt.Errorf("%q is neither a duration like 24h nor a time like 2026-11-30T14:00:00Z", s)
	}
	f.d, f.t = 0, t
	return nil
}

// From returns the time the flag means at now, or the zero time when it was not given.
func (f *SinceFlag) From(now time.Time) time.Time {
	if f.d > 0 {
		return now.Add(-f.d)
	}
	return f.t
}
