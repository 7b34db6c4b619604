package cli

import (
	"flag"
	"io"

	"github.com/mtguard/mtguard/cli/logcmd"
	"github.com/mtguard/mtguard/inspect"
)

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
