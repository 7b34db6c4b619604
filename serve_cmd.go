package main

import (
	"context"
	"fmt"
	"io"

	"github.com/mtguard/mtguard/cli"
	"github.com/mtguard/mtguard/config"
	"github.com/rs/zerolog"
)

func cmdServe(ctx context.Context, args []string, stdout, stderr io.Writer, getenv func(string) string) error {
	fs := cli.NewFlagSet("serve", stderr)
	configPath := fs.String("config", "mtguard.yaml", "config `file`")
	logFormat := fs.String("log-format", "json", "log format: json or console")
	logLevel := fs.String("log-level", "info", "log level: debug, info, warn or error")
	envPath := fs.String("env-file", "", "read secrets from this `file` of NAME=value lines before the environment; a reload reads it again")
	if _, err := cli.ParseFlags(fs, args); err != nil {
		return err
	}
	level, err := zerolog.ParseLevel(*logLevel)
	if err != nil {
		return fmt.Errorf("--log-level %q: %v: %w", *logLevel, err, cli.ErrUsage)
	}
	var env *envFile
	if *envPath != "" {
		if env, err = loadEnvFile(*envPath, getenv); err != nil {
			return err
		}
		getenv = env.getenv
	}
	cfg, err := config.Load(*configPath)
	if err != nil {
		return err
	}
	log := newLogger(stderr, *logFormat, level)
	s, err := startServer(ctx, cfg, getenv, log)
	if err != nil {
		return err
	}
	// Before the serving line: whoever reads it may reload at once.
	rl := newReloader(s, getenv)
	rl.env = env
	s.reloads.set(rl)
	defer rl.onHUP(ctx, stdout)()
	storeName := cfg.Store.Path
	if cfg.Store.Backend == config.StorePostgres {
		storeName = "postgres (store.dsn_env " + cfg.Store.DSNEnv + ")"
	}
	fmt.Fprintf(stdout, "mtguard %s serving: proxy %s://%s  admin %s://%s  store %s\n", version, scheme(cfg.TLS), s.dataAddr, scheme(cfg.Admin.TLS), s.adminAddr, storeName)
	for _, r := range cfg.Routes {
		if r.Prefix != "" {
			fmt.Fprintf(stdout, "  route %-16s %s://%s%s/... -> %s\n", r.Name, scheme(cfg.TLS), s.dataAddr, r.Prefix, r.Upstream)
		}
	}
	s.forward.describe(stdout, cfg)
	return s.wait(ctx)
}
