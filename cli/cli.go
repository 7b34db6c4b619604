package cli

import (
	"flag"
	"io"

	"github.com/mtguard/mtguard/cli/logcmd"
	"github.com/mtguard/mtguard/inspect"
)

// defaultAdminURL is where the CLI looks for the admin API when neither --admin nor
// MTGUARD_ADMIN says otherwise; it matches the default admin.listen.
const defaultAdminURL = logcmd.DefaultAdminURL

// NewFlagSet returns a flag set that reports its errors to stderr and returns them.
func NewFlagSet(name string, stderr io.Writer) *flag.FlagSet { return logcmd.NewFlagSet(name, stderr) }

// ParseFlags parses args, allowing flags after positional arguments ("show ID --json").
func ParseFlags(fs *flag.FlagSet, args []string) ([]string, error) {
	return logcmd.ParseFlags(fs, args)
}

// adminClient builds the admin API client from --admin, MTGUARD_ADMIN, MTGUARD_ADMIN_TOKEN and
// MTGUARD_ADMIN_CA, as mtguard log does (logcmd.AdminClient).
func adminClient(flagURL string, getenv func(string) string) *inspect.Client {
	c := logcmd.AdminClient(flagURL, getenv)
	return &inspect.Client{BaseURL: c.BaseURL, Token: c.Token, HTTP: c.HTTP}
}

func outcomeList() string { return logcmd.OutcomeList() }

// checkOutcome refuses an --outcome that is not one, as a usage error that lists them.
func checkOutcome(o string) error { return logcmd.CheckOutcome(o) }

func writeJSON(w io.Writer, v any) error { return logcmd.WriteJSON(w, v) }

// sinceFlag is a --since value: a duration back from now (24h), or an RFC 3339 time.
type sinceFlag = logcmd.SinceFlag
