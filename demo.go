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

	crm := fakecrm.New(fakecrm.Options{})
	vendor := httptest.NewUnstartedServer(crm)
	vendor.Listener.Close()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return fmt.Errorf("start the fake CRM: %w", err)
	}
	vendor.Listener = ln
	vendor.Start()
	defer vendor.Close()
	vendors, vendorsSrv, err := startFakeVendors()
	if err != nil {
		return err
	}
	defer vendorsSrv.Close()

	cfg, err := config.Parse("examples/demo.yaml", examples.DemoConfig())
	if err != nil {
		return fmt.Errorf("embedded demo config: %w", err)
	}
	dir, err := os.MkdirTemp("", "mtguard-demo-")
	if err != nil {
		return fmt.Errorf("demo store folder: %w", err)
	}
	if !*keep {
		defer os.RemoveAll(dir)
	}
	cfg.Store.Path = filepath.Join(dir, "mtguard-demo.db")
	for i := range cfg.Routes {
		if cfg.Routes[i].Name == "crm" {
			cfg.Routes[i].Upstream = vendor.URL
		}
	}
	pointAtFakeVendors(cfg, vendorsSrv.URL)
	// Use the documented ports when free, so the printed commands need no --admin; fall back
	// to free ports when another program (or another demo) holds them.
	cfg.Listen = freeOr(cfg.Listen)
	cfg.Admin.Listen = freeOr(cfg.Admin.Listen)

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

	fmt.Fprintf(stdout, "mtguard demo: a fake CRM at %s, mtguard in front of it at %s\n\n", vendor.URL, proxyURL)
	client := &http.Client{Timeout: 10 * time.Second}
	for _, sub := range demoSubmissions {
		status, id := send(ctx, client, proxyURL, sub)
		fmt.Fprintf(stdout, "  %-40s %-5s %s%s -> %s  (X-Mtguard-Id %s)\n", sub.what, sub.method, "", sub.path, status, id)
	}
	fmt.Fprintf(stdout, "\nCalls that look fine to the tool, to fake vendors at %s (routes with a vendor preset):\n\n", vendorsSrv.URL)
	sendVendorCalls(ctx, client, proxyURL, silentFailureCalls(vendors), stdout)
	if err := s.store.Sync(ctx); err != nil {
		s.shutdown()
		return fmt.Errorf("demo store: %w", err)
	}

	api := &inspect.Client{BaseURL: adminURL, HTTP: client}
	page, err := api.List(ctx, store.Query{Limit: 100})
	if err != nil {
		s.shutdown()
		return err
	}
	fmt.Fprintf(stdout, "\nWhat mtguard recorded (through its admin API, %s):\n\n", adminURL)
	if err := cli.WriteLog(stdout, page.Transactions, nil); err != nil {
		s.shutdown()
		return err
	}
	var presetRoutes []string
	for _, rc := range cfg.Routes {
		if rc.Preset != "" {
			presetRoutes = append(presetRoutes, rc.Name)
		}
	}
	writeCaught(stdout, page.Transactions, presetRoutes)
	adminFlag := ""
	if s.adminAddr != config.DefaultAdminListen {
		adminFlag = " --admin " + adminURL
	}
	failedID := ""
	for _, tx := range page.Transactions {
		if tx.Outcome == txn.OutcomeFailed {
			failedID = tx.ID
		}
	}
	fmt.Fprintf(stdout, "\nThe fake CRM holds %d leads after %d calls reached it.\n", len(crm.Leads()), crm.Received())
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
	if *once {
		return s.shutdown()
	}
	fmt.Fprintf(stdout, "\nServing until Ctrl-C (store: %s).\n", cfg.Store.Path)
	return s.wait(ctx)
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
