package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"net/http"
	"strings"
	"time"

	"github.com/rs/zerolog"

	"github.com/mtguard/mtguard/config"
	"github.com/mtguard/mtguard/inspect"
	"github.com/mtguard/mtguard/store"
	"github.com/mtguard/mtguard/txn"
)

// defaultAdminURL is where the CLI looks for the admin API when neither --admin nor
// MTGUARD_ADMIN says otherwise; it matches the default admin.listen.
const defaultAdminURL = "http://" + config.DefaultAdminListen

// newFlagSet returns a flag set that reports its errors to stderr and returns them.
func newFlagSet(name string, stderr io.Writer) *flag.FlagSet {
	fs := flag.NewFlagSet("mtguard "+name, flag.ContinueOnError)
	fs.SetOutput(stderr)
	return fs
}

// parseFlags parses args, allowing flags after positional arguments ("show ID --json").
func parseFlags(fs *flag.FlagSet, args []string) ([]string, error) {
	var pos []string
	for {
		if err := fs.Parse(args); err != nil {
			if err == flag.ErrHelp {
				return nil, err
			}
			return nil, fmt.Errorf("%v: %w", err, errUsage)
		}
		args = fs.Args()
		if len(args) == 0 {
			return pos, nil
		}
		pos = append(pos, args[0])
		args = args[1:]
	}
}

func cmdServe(ctx context.Context, args []string, stdout, stderr io.Writer, getenv func(string) string) error {
	fs := newFlagSet("serve", stderr)
	configPath := fs.String("config", "mtguard.yaml", "config `file`")
	logFormat := fs.String("log-format", "json", "log format: json or console")
	logLevel := fs.String("log-level", "info", "log level: debug, info, warn or error")
	if _, err := parseFlags(fs, args); err != nil {
		return err
	}
	level, err := zerolog.ParseLevel(*logLevel)
	if err != nil {
		return fmt.Errorf("--log-level %q: %v: %w", *logLevel, err, errUsage)
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
	fmt.Fprintf(stdout, "mtguard %s serving: proxy http://%s  admin http://%s  store %s\n", version, s.dataAddr, s.adminAddr, cfg.Store.Path)
	for _, r := range cfg.Routes {
		if r.Prefix != "" {
			fmt.Fprintf(stdout, "  route %-16s http://%s%s/... -> %s\n", r.Name, s.dataAddr, r.Prefix, r.Upstream)
		}
	}
	s.forward.describe(stdout, cfg)
	return s.wait(ctx)
}

func cmdCheckConfig(args []string, stdout, stderr io.Writer, getenv func(string) string) error {
	fs := newFlagSet("check-config", stderr)
	pos, err := parseFlags(fs, args)
	if err != nil {
		return err
	}
	if len(pos) != 1 {
		return fmt.Errorf("check-config takes one config file: %w", errUsage)
	}
	cfg, err := config.Load(pos[0])
	if err != nil {
		return err
	}
	// Build the routes as serve would, so that every pinned contract and rule compiles.
	if _, err := proxyRoutes(cfg.Routes, getenv); err != nil {
		return fmt.Errorf("%s: %w", pos[0], err)
	}
	if err := checkCredentialEnv(cfg.Routes, getenv); err != nil {
		fmt.Fprintf(stdout, "note: %v (serve will refuse to start until it is set)\n", err)
	}
	if _, err := forwardSettings(cfg.Forward, getenv); err != nil {
		fmt.Fprintf(stdout, "note: %v (serve will refuse to start until this is fixed)\n", err)
	}
	fmt.Fprintf(stdout, "%s: ok (%d routes; proxy %s, admin %s, store %s)\n", pos[0], len(cfg.Routes), cfg.Listen, cfg.Admin.Listen, cfg.Store.Path)
	return nil
}

// adminClient builds the admin API client from --admin, MTGUARD_ADMIN and MTGUARD_ADMIN_TOKEN.
func adminClient(flagURL string, getenv func(string) string) *inspect.Client {
	u := flagURL
	if u == "" {
		u = getenv("MTGUARD_ADMIN")
	}
	if u == "" {
		u = defaultAdminURL
	}
	return &inspect.Client{BaseURL: u, Token: getenv("MTGUARD_ADMIN_TOKEN"), HTTP: &http.Client{Timeout: 30 * time.Second}}
}

func cmdLog(ctx context.Context, args []string, stdout, stderr io.Writer, getenv func(string) string) error {
	fs := newFlagSet("log", stderr)
	admin := fs.String("admin", "", "admin API `URL` (default $MTGUARD_ADMIN or "+defaultAdminURL+")")
	record := fs.String("record", "", "only calls that carried this record `key` (e.g. an email)")
	route := fs.String("route", "", "only calls on this route")
	outcome := fs.String("outcome", "", "only calls with this outcome: "+outcomeList())
	var since sinceFlag
	fs.Var(&since, "since", "only calls in the last `duration` (e.g. 24h), or since an RFC 3339 time as alerts print it")
	limit := fs.Int("limit", 50, "at most `N` calls (the newest)")
	asJSON := fs.Bool("json", false, "print JSON instead of a table")
	pos, err := parseFlags(fs, args)
	if err != nil {
		return err
	}
	if len(pos) > 0 {
		return fmt.Errorf("log takes no arguments (got %q); filter with --record, --route, --outcome: %w", strings.Join(pos, " "), errUsage)
	}
	q := store.Query{RecordKey: *record, Route: *route, Outcome: txn.Outcome(*outcome), Limit: *limit, Since: since.from(time.Now())}
	page, err := adminClient(*admin, getenv).List(ctx, q)
	if err != nil {
		return err
	}
	if *asJSON {
		return writeJSON(stdout, page)
	}
	if err := inspect.WriteLog(stdout, page.Transactions, nil); err != nil {
		return err
	}
	if page.Next != "" {
		fmt.Fprintf(stdout, "(showing the newest %d; raise --limit or narrow with --since to see more)\n", len(page.Transactions))
	}
	return nil
}

func cmdShow(ctx context.Context, args []string, stdout, stderr io.Writer, getenv func(string) string) error {
	fs := newFlagSet("show", stderr)
	admin := fs.String("admin", "", "admin API `URL` (default $MTGUARD_ADMIN or "+defaultAdminURL+")")
	asJSON := fs.Bool("json", false, "print JSON")
	asCurl := fs.Bool("curl", false, "print an equivalent curl command (secrets as ${PLACEHOLDERS})")
	pos, err := parseFlags(fs, args)
	if err != nil {
		return err
	}
	if len(pos) != 1 {
		return fmt.Errorf("show takes one transaction id (the X-Mtguard-Id header, or the ID column of mtguard log): %w", errUsage)
	}
	tx, err := adminClient(*admin, getenv).Get(ctx, pos[0])
	if err != nil {
		return err
	}
	switch {
	case *asJSON:
		return writeJSON(stdout, tx)
	case *asCurl:
		_, err := fmt.Fprintln(stdout, inspect.Curl(tx))
		return err
	}
	return inspect.WriteTransaction(stdout, tx, nil)
}

func outcomeList() string {
	var s []string
	for _, o := range txn.Outcomes {
		s = append(s, string(o))
	}
	return strings.Join(s, ", ")
}

func writeJSON(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}
