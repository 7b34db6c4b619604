package main

import (
	"fmt"
	"io"

	"github.com/mtguard/mtguard/cli"
	"github.com/mtguard/mtguard/config"
)

func cmdCheckConfig(args []string, stdout, stderr io.Writer, getenv func(string) string) error {
	fs := cli.NewFlagSet("check-config", stderr)
	pos, err := cli.ParseFlags(fs, args)
	if err != nil {
		return err
	}
	if len(pos) != 1 {
		return fmt.Errorf("check-config takes one config file: %w", cli.ErrUsage)
	}
	cfg, err := config.Load(pos[0])
	if err != nil {
		return err
	}
	// Build the routes as serve would, so that every pinned contract and rule compiles.
	routes, err := proxyRoutes(cfg.Routes, getenv)
	if err != nil {
		return fmt.Errorf("%s: %w", pos[0], err)
	}
	printPinWarnings(stdout, cfg.Routes)
	// Then everything serve checks before it opens anything, with serve's own code: secrets,
	// the forward proxy's CA, alert sinks, the store's folder. Every problem, not only the first.
	if _, _, err := preflight(cfg, getenv); err != nil {
		return listProblems(pos[0]+": serve would refuse to start", err)
	}
	fmt.Fprintf(stdout, "%s: ok (%d routes; proxy %s, admin %s, store %s)\n", pos[0], len(routes), cfg.Listen, cfg.Admin.Listen, cfg.Store.Path)
	return nil
}
