package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"syscall"

	"github.com/mtguard/mtguard/cli/logcmd"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := logcmd.Log(ctx, os.Args[1:], os.Stdout, os.Stderr, os.Getenv)
	stop()
	if err != nil {
		// As mtguard's main reports it, so that a script sees the same stderr from either.
		if !errors.Is(err, flag.ErrHelp) {
			fmt.Fprintln(os.Stderr, "mtguard:", err)
		}
		os.Exit(logcmd.ExitCode(err))
	}
}
