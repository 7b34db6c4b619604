// Command mtguard is a transparent HTTP proxy that validates, records and watches the calls
// between marketing tools and the vendors they push data to.
package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"
)

// version is set at build time with -ldflags "-X main.version=...".
var version = "dev"

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, os.Args, os.Stdout, os.Stderr, os.Getenv); err != nil {
		fmt.Fprintln(os.Stderr, "mtguard:", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, args []string, stdout, stderr io.Writer, getenv func(string) string) error {
	_ = ctx
	_ = stderr
	_ = getenv
	if len(args) > 1 && args[1] == "version" {
		fmt.Fprintln(stdout, "mtguard", version)
		return nil
	}
	return fmt.Errorf("usage: mtguard serve|check-config|demo|log|show|version")
}
