package main

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
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
	keep := fs.Bool("keep", false, "keep the demo's store file when exiting")
	if _, err := cli.ParseFlags(fs, args); err != nil {
		return err
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
	cfg, err := demoConfig(dir, crmSrv.URL, vendorsSrv.URL)
	if err != nil {
		return err
	}
	// The demo's screen is the table; the per-call log goes to a file beside the store.
	logFile, err := os.Create(filepath.Join(dir, "mtguard.log"))
	if err != nil {
		return fmt.Errorf("demo log: %w", err)
	}
	defer logFile.Close()
	s, err := startServer(ctx, cfg, getenv, newLogger(logFile, "json", zerolog.InfoLevel))
	if err != nil {
		return err
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
	writeTryNext(stdout, txs, proxyURL, adminURL, s.adminAddr != config.DefaultAdminListen)
	if *once {
		return s.shutdown()
	}
	fmt.Fprintf(stdout, "\nServing until Ctrl-C (store: %s).\n", cfg.Store.Path)
	return s.wait(ctx)
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
func demoConfig(dir, crmURL, vendorsURL string) (*config.Config, error) {
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
	// Use the documented ports when free, so the printed commands need no --admin; fall back
	// to free ports when another program (or another demo) holds them.
	cfg.Listen = freeOr(cfg.Listen)
	cfg.Admin.Listen = freeOr(cfg.Admin.Listen)
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

// writeTryNext prints the commands a user can try next against the running demo.
func writeTryNext(stdout io.Writer, txs []txn.Transaction, proxyURL, adminURL string, needAdminFlag bool) {
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
	fmt.Fprintf(stdout, "\nTry, in another terminal:\n")
	fmt.Fprintf(stdout, "  go run . log --record jane@acme.com%s     # every call that carried Jane\n", adminFlag)
	fmt.Fprintf(stdout, "  go run . log --outcome failed%s\n", adminFlag)
	fmt.Fprintf(stdout, "  go run . log --outcome partial%s     # batches where some records failed\n", adminFlag)
	fmt.Fprintf(stdout, "  go run . presets show marketo     # what mtguard knows about a vendor\n")
	if failedID != "" {
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
