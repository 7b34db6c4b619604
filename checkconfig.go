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
	if err := missingCredential(cfg.Routes, routes); err != nil {
		fmt.Fprintf(stdout, "note: %v (serve will refuse to start until it is set)\n", err)
	}
	if _, err := forwardSettings(cfg.Forward, getenv); err != nil {
		fmt.Fprintf(stdout, "note: %v (serve will refuse to start until this is fixed)\n", err)
	}
	fmt.Fprintf(stdout, "%s: ok (%d routes; proxy %s, admin %s, store %s)\n", pos[0], len(cfg.Routes), cfg.Listen, cfg.Admin.Listen, cfg.Store.Path)
	return nil
}
