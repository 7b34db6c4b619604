package cli

import (
	"context"
	"io"

	"github.com/mtguard/mtguard/cli/logcmd"
)

// Log is mtguard log. It lives in logcmd, which the thin mtguard-log binary runs too, so that
// both print the same thing for the same flags.
func Log(ctx context.Context, args []string, stdout, stderr io.Writer, getenv func(string) string) error {
	return logcmd.Log(ctx, args, stdout, stderr, getenv)
}
