package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/rs/zerolog"

	"github.com/mtguard/mtguard/cli"
	"github.com/mtguard/mtguard/config"
	"github.com/mtguard/mtguard/examples"
	"github.com/mtguard/mtguard/examples/fakecrm"
	"github.com/mtguard/mtguard/inspect"
	"github.com/mtguard/mtguard/store"
	"github.com/mtguard/mtguard/txn"
)

func cmdDemo(ctx context.Context, args []string, stdout, stderr io.Writer, getenv func(string) string) error {
	fs := cli.NewFlagSet("demo", stderr)
	once := fs.Bool("once", false, "exit after printing the table instead of serving until Ctrl-C")
	keep := fs.Bool("keep", false, "keep the demo's store file when exiting, with a config to serve it again")
	listen := fs.String("listen", config.DefaultListen, "the proxy's `address` (host:port; port 0 picks a free one); by default "+config.DefaultListen+", or a free port when it is taken")
	admin := fs.String("admin", config.DefaultAdminListen, "the admin API's `address` (host:port; port 0 picks a free one); by default "+config.DefaultAdminListen+", or a free port when it is taken")
	if _, err := cli.ParseFlags(fs, args); err != nil {
		return err
	}
	given := map[string]bool{}
	fs.Visit(func(f *flag.Flag) { given[f.Name] = true })
	addrs := demoAddrs{listen: hostPort(*listen), admin: hostPort(*admin), listenGiven: given["listen"], adminGiven: given["admin"]}
	for _, a := range []struct{ flag, addr string }{{"--listen", addrs.listen}, {"--admin", addrs.admin}} {
		if _, _, err := net.SplitHostPort(a.addr); err != nil {
			return fmt.Errorf("demo %s %q: want host:port, e.g. 127.0.0.1:8081: %w", a.flag, a.addr, cli.ErrUsage)
		}
	}
	crm, crmSrv, err := startFakeCRM()
	if err != nil {
		return err
	}
	defer crmSrv.Close()
	vendors, vendorsSrv, err := startFakeVendors()
	if err != nil {
		return err
	}
	defer vendorsSrv.Close()
	dir, err := os.MkdirTemp("", "mtguard-demo-")
	if err != nil {
		return fmt.Errorf("demo store folder: %w", err)
	}
	if !*keep {
		defer os.RemoveAll(dir)
	}
	cfg, err := demoConfig(dir, crmSrv.URL, vendorsSrv.URL, addrs)
	if err != nil {
		return err
	}
	if *keep {
		if err := writeKeptConfig(dir, addrs); err != nil {
			return err
		}
		defer writeKept(stdout, dir, cfg.Store.Path)
	}
	// The demo's screen is the table; the per-call log goes to a file beside the store.
	logFile, err := os.Create(filepath.Join(dir, "mtguard.log"))
	if err != nil {
		return fmt.Errorf("demo log: %w", err)
	}
	defer logFile.Close()
	s, err := startServer(ctx, cfg, getenv, newLogger(logFile, "json", zerolog.InfoLevel))
	if err != nil {
		return addrs.hint(err)
	}
	proxyURL, adminURL := "http://"+s.dataAddr, "http://"+s.adminAddr

	fmt.Fprintf(stdout, "mtguard demo: a fake CRM at %s, mtguard in front of it at %s\n\n", crmSrv.URL, proxyURL)
	client := &http.Client{Timeout: 10 * time.Second}
	for _, sub := range demoSubmissions {
		status, id := sendSubmission(ctx, client, proxyURL, sub)
		fmt.Fprintf(stdout, "  %-40s %-5s %s%s -> %s  (X-Mtguard-Id %s)\n", sub.what, sub.method, "", sub.path, status, id)
	}
	fmt.Fprintf(stdout, "\nCalls that look fine to the tool, to fake vendors at %s (routes with a vendor preset):\n\n", vendorsSrv.URL)
	sendVendorCalls(ctx, client, proxyURL, silentFailureCalls(vendors), stdout)
	if err := s.store.Sync(ctx); err != nil {
		s.shutdown()
		return fmt.Errorf("demo store: %w", err)
	}
	txs, err := showRecorded(ctx, stdout, &inspect.Client{BaseURL: adminURL, HTTP: client}, cfg)
	if err != nil {
		s.shutdown()
		return err
	}
	fmt.Fprintf(stdout, "\nThe fake CRM holds %d leads after %d calls reached it.\n", len(crm.Leads()), crm.Received())
	rerun := "" // after --once: the command that runs the demo again, with the same addresses
	if *once {
		rerun = "go run . demo"
		if addrs.listenGiven {
			rerun += " --listen " + addrs.listen
		}
		if addrs.adminGiven {
			rerun += " --admin " + addrs.admin
		}
	}
	writeTryNext(stdout, txs, proxyURL, adminURL, s.adminAddr != config.DefaultAdminListen, rerun)
	if *once {
		return s.shutdown()
	}
	kept := "deleted on exit; --keep keeps it"
	if *keep {
		kept = "kept on exit"
	}
	fmt.Fprintf(stdout, "\nServing until Ctrl-C (store: %s, %s).\n", cfg.Store.Path, kept)
	return s.wait(ctx)
}

// demoAddrs are the demo's listen addresses, and whether each was chosen with its flag: a
// chosen address is used as it is, a default one gives way to a free port when taken.
type demoAddrs struct {
	listen, admin           string
	listenGiven, adminGiven bool
}

// hint adds to a failure to listen on a chosen address which flag chose it.
func (a demoAddrs) hint(err error) error {
	msg := err.Error()
	switch {
	case a.listenGiven && strings.Contains(msg, "(listen)"):
		return fmt.Errorf("%w; choose another address with --listen (port 0 picks a free one)", err)
	case a.adminGiven && strings.Contains(msg, "(admin.listen)"):
		return fmt.Errorf("%w; choose another address with --admin (port 0 picks a free one)", err)
	}
	return err
}

// hostPort accepts host:port, a URL (http://127.0.0.1:9090, as the other commands' --admin
// take) or a bare port, and returns host:port; a bare port is on loopback.
func hostPort(s string) string {
	if u, err := url.Parse(s); err == nil && u.Host != "" {
		return u.Host
	}
	if _, err := strconv.Atoi(s); err == nil {
		return net.JoinHostPort("127.0.0.1", s)
	}
	return s
}

// writeKeptConfig writes, beside the kept store, the demo's config with the demo's addresses:
// `mtguard serve --config` on it opens the store again (its path is relative to the config).
func writeKeptConfig(dir string, addrs demoAddrs) error {
	raw := string(examples.DemoConfig())
	raw = strings.Replace(raw, "\nlisten: "+config.DefaultListen+"\n", "\nlisten: "+addrs.listen+"\n", 1)
	raw = strings.Replace(raw, "admin: {listen: "+config.DefaultAdminListen+"}", "admin: {listen: "+addrs.admin+"}", 1)
	if err := os.WriteFile(filepath.Join(dir, "mtguard.yaml"), []byte(raw), 0o600); err != nil {
		return fmt.Errorf("demo --keep: %w", err)
	}
	return nil
}

// writeKept says where --keep kept the store, and how to look at it later.
func writeKept(stdout io.Writer, dir, storePath string) {
	cfgPath := filepath.Join(dir, "mtguard.yaml")
	fmt.Fprintf(stdout, "\nThe demo's store is kept: %s (its log: %s).\n", storePath, filepath.Join(dir, "mtguard.log"))
	fmt.Fprintf(stdout, "To look at it later, serve it again (no fake vendors behind it) and use log, show, export:\n")
	fmt.Fprintf(stdout, "  go run . serve --config %s\n", cfgPath)
	fmt.Fprintf(stdout, "Delete the folder %s when done.\n", dir)
}

// startFakeCRM serves the fake CRM on a free loopback port.
func startFakeCRM() (*fakecrm.CRM, *httptest.Server, error) {
	crm := fakecrm.New(fakecrm.Options{})
	srv := httptest.NewUnstartedServer(crm)
	srv.Listener.Close()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, nil, fmt.Errorf("start the fake CRM: %w", err)
	}
	srv.Listener = ln
	srv.Start()
	return crm, srv, nil
}

// demoConfig is the embedded demo config pointed at the fakes, with its store in dir.
func demoConfig(dir, crmURL, vendorsURL string, addrs demoAddrs) (*config.Config, error) {
	cfg, err := config.Parse("examples/demo.yaml", examples.DemoConfig())
	if err != nil {
		return nil, fmt.Errorf("embedded demo config: %w", err)
	}
	cfg.Store.Path = filepath.Join(dir, "mtguard-demo.db")
	for i := range cfg.Routes {
		if cfg.Routes[i].Name == "crm" {
			cfg.Routes[i].Upstream = crmURL
		}
	}
	pointAtFakeVendors(cfg, vendorsURL)
	// Addresses chosen with --listen and --admin are used as they are (a taken one is an
	// error). By default, use the documented ports when free, so the printed commands need no
	// --admin; fall back to free ports when another program (or another demo) holds them.
	cfg.Listen, cfg.Admin.Listen = addrs.listen, addrs.admin
	if !addrs.listenGiven {
		cfg.Listen = freeOr(cfg.Listen)
	}
	if !addrs.adminGiven {
		cfg.Admin.Listen = freeOr(cfg.Admin.Listen)
	}
	return cfg, nil
}

// showRecorded prints what mtguard recorded, read back through its admin API as a user would,
// and what the vendor presets caught.
func showRecorded(ctx context.Context, stdout io.Writer, api *inspect.Client, cfg *config.Config) ([]txn.Transaction, error) {
	page, err := api.List(ctx, store.Query{Limit: 100})
	if err != nil {
		return nil, err
	}
	fmt.Fprintf(stdout, "\nWhat mtguard recorded (through its admin API, %s):\n\n", api.BaseURL)
	if err := cli.WriteLog(stdout, page.Transactions, nil); err != nil {
		return nil, err
	}
	var presetRoutes []string
	for _, rc := range cfg.Routes {
		if rc.Preset != "" {
			presetRoutes = append(presetRoutes, rc.Name)
		}
	}
	writeCaught(stdout, page.Transactions, presetRoutes)
	return page.Transactions, nil
}

// writeTryNext prints the commands a user can try next against the running demo. After --once
// the demo has stopped: it says so, and that they need it running (rerun runs it again).
func writeTryNext(stdout io.Writer, txs []txn.Transaction, proxyURL, adminURL string, needAdminFlag bool, rerun string) {
	adminFlag := ""
	if needAdminFlag {
		adminFlag = " --admin " + adminURL
	}
	failedID := ""
	for _, tx := range txs {
		if tx.Outcome == txn.OutcomeFailed {
			failedID = tx.ID
		}
	}
	if rerun != "" {
		fmt.Fprintf(stdout, "\nWith --once the demo has stopped; these need the demo running (%s, then in another terminal):\n", rerun)
	} else {
		fmt.Fprintf(stdout, "\nTry, in another terminal:\n")
	}
	fmt.Fprintf(stdout, "  open %s/ in a browser     # the web console: calls, Jane's journey, replay\n", adminURL)
	fmt.Fprintf(stdout, "  go run . log --record jane@acme.com%s     # every call that carried Jane\n", adminFlag)
	fmt.Fprintf(stdout, "  go run . log --outcome failed%s\n", adminFlag)
	fmt.Fprintf(stdout, "  go run . log --outcome partial%s     # batches where some records failed\n", adminFlag)
	fmt.Fprintf(stdout, "  go run . presets show marketo     # what mtguard knows about a vendor\n")
	switch {
	case rerun != "":
		// A new run has a new store: this run's ids are not in it.
		fmt.Fprintf(stdout, "  go run . show ID%s     # one call in full (an ID from log)\n", adminFlag)
	case failedID != "":
		fmt.Fprintf(stdout, "  go run . show %s%s     # one call in full\n", failedID, adminFlag)
	}
	fmt.Fprintf(stdout, "  curl -s -X POST %s/crm/v1/leads -H 'Content-Type: application/json' -d '{\"email\":\"you@example.com\"}'\n", proxyURL)
	fmt.Fprintf(stdout, "  curl -s %s/api/transactions?record=you@example.com\n", adminURL)
}

// freeOr returns addr when it can be listened on now, otherwise the same host with port 0.
func freeOr(addr string) string {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		host, _, _ := net.SplitHostPort(addr)
		return net.JoinHostPort(host, "0")
	}
	ln.Close()
	return addr
}
