package logcmd

import (
	"errors"
	"flag"
)

// ErrUsage marks a command line mtguard could not make sense of; the process exits with 2.
var ErrUsage = errors.New("usage error")

// ExitCode is the process's exit status for a command's error: 2 for a command line it could
// not make sense of (or -h), 1 for anything else.
func ExitCode(err error) int {
	if errors.Is(err, ErrUsage) || errors.Is(err, flag.ErrHelp) {
		return 2
	}
	return 1
}
