package cli

import (
	"errors"

	"github.com/mtguard/mtguard/cli/logcmd"
)

// ErrUnhealthy is health --check's failure: some route is not ok.
var ErrUnhealthy = errors.New("not every route is ok")

// ErrFailures marks a command that ran but found failures (a replay that failed again); the
// process exits with 1 without repeating the summary it printed.
var ErrFailures = errors.New("some calls failed")

// ErrUsage marks a command line mtguard could not make sense of; the process exits with 2.
var ErrUsage = logcmd.ErrUsage
