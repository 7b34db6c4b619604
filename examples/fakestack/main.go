// Command fakestack serves the fake CRM and the fake vendors on loopback, so that mtguard can
// be tried with the configs in examples/configs without a real vendor account:
//
//	go run ./examples/fakestack                       # CRM on 127.0.0.1:9000, vendors on 127.0.0.1:9100
//	go run ./examples/fakestack --crm 127.0.0.1:0 --vendors 127.0.0.1:0   # free ports, printed
//
// It prints what it serves, the demo credentials each fake vendor accepts and which config to
// run mtguard with, then serves until Ctrl-C or SIGTERM. It also takes alert webhooks on
// /_alerts of the vendors address and prints them, so alert sinks can be tried too.
package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/signal"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/mtguard/mtguard/examples/fakecrm"
	"github.com/mtguard/mtguard/examples/fakevendors"
)

// The addresses the configs in examples/configs point their upstreams at.
const (
	defaultCRM     = "127.0.0.1:9000"
	defaultVendors = "127.0.0.1:9100"
)

// shutdownTimeout bounds how long calls in progress may take to finish on Ctrl-C.
const shutdownTimeout = 5 * time.Second

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, os.Args, os.Stdout, os.Stderr); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			os.Exit(0)
		}
		fmt.Fprintln(os.Stderr, "fakestack:", err)
		os.Exit(1)
	}
}

// run parses args (args[0] is the program name), serves the fake CRM and the fake vendors
// until ctx ends, then shuts them down. The addresses it listens on are printed to stdout
// before it starts serving.
func run(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("fakestack", flag.ContinueOnError)
	fs.SetOutput(stderr)
	crmAddr := fs.String("crm", defaultCRM, "`address` of the fake CRM (host:port; port 0 picks a free one)")
	vendorsAddr := fs.String("vendors", defaultVendors, "`address` of the fake vendors (host:port; port 0 picks a free one)")
	fs.Usage = func() {
		fmt.Fprintf(stderr, "Usage: go run ./examples/fakestack [--crm %s] [--vendors %s]\n\n", defaultCRM, defaultVendors)
		fmt.Fprintf(stderr, "Serves a fake CRM and fake vendors (HubSpot, Marketo, Salesforce, Segment, GA4, ...) on loopback\nfor trying mtguard with the configs in examples/configs. Ctrl-C stops it.\n\n")
		fs.PrintDefaults()
	}
	if err := fs.Parse(args[1:]); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		fs.Usage()
		return fmt.Errorf("unexpected argument %q", fs.Arg(0))
	}

	crmLn, err := listenLoopback("--crm", *crmAddr)
	if err != nil {
		return err
	}
	defer crmLn.Close()
	vendorsLn, err := listenLoopback("--vendors", *vendorsAddr)
	if err != nil {
		return err
	}
	defer vendorsLn.Close()

	vendors := fakevendors.New(nil)
	out := &syncWriter{w: stdout}
	mux := http.NewServeMux()
	mux.Handle("/", vendors)
	mux.Handle("POST /_alerts", alertPrinter(out))
	servers := []*http.Server{
		{Handler: fakecrm.New(fakecrm.Options{}), ReadHeaderTimeout: 10 * time.Second},
		{Handler: mux, ReadHeaderTimeout: 10 * time.Second},
	}
	crmURL, vendorsURL := "http://"+crmLn.Addr().String(), "http://"+vendorsLn.Addr().String()
	describe(out, crmURL, vendorsURL, vendors)

	errc := make(chan error, len(servers))
	for i, ln := range []net.Listener{crmLn, vendorsLn} {
		go func() { errc <- servers[i].Serve(ln) }()
	}
	select {
	case <-ctx.Done():
	case err := <-errc:
		// A server stopped on its own: stop the other one too, and say why.
		shutdown(servers)
		return fmt.Errorf("serve: %w", err)
	}
	fmt.Fprintln(out, "\nfakestack: stopping")
	return shutdown(servers)
}

// listenLoopback listens on addr, which must name a loopback host: the fake vendors accept
// anyone with the demo credentials they print, so they stay on this machine.
func listenLoopback(flagName, addr string) (net.Listener, error) {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return nil, fmt.Errorf("%s %q: %v (write host:port, e.g. 127.0.0.1:0)", flagName, addr, err)
	}
	if ip := net.ParseIP(host); host != "localhost" && (ip == nil || !ip.IsLoopback()) {
		return nil, fmt.Errorf("%s %q: the fake stack only listens on loopback (127.0.0.1, ::1 or localhost)", flagName, addr)
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", flagName, err)
	}
	return ln, nil
}

func shutdown(servers []*http.Server) error {
	ctx, cancel := context.WithTimeout(context.Background(), shutdownTimeout)
	defer cancel()
	var errs []error
	for _, s := range servers {
		errs = append(errs, s.Shutdown(ctx))
	}
	return errors.Join(errs...)
}

// describe prints what is served where, the demo credentials, and how to run mtguard with it.
func describe(w io.Writer, crmURL, vendorsURL string, v *fakevendors.Vendors) {
	p := func(format string, a ...any) { fmt.Fprintf(w, format+"\n", a...) }
	p("fakestack: fake vendors for trying mtguard; nothing here reaches a real vendor.")
	p("")
	p("fake CRM      %s", crmURL)
	p("              POST /v1/leads, POST /v1/leads/batch, GET /v1/leads?email=..., GET /v1/slow?ms=N, GET /healthz")
	p("fake vendors  %s", vendorsURL)
	p("              one per mtguard preset, under /<preset>/; the demo credentials they accept:")
	rows := [][2]string{
		{"hubspot", "Authorization: Bearer " + v.HubSpot.Token()},
		{"marketo", "GET /marketo/identity/oauth/token?grant_type=client_credentials&client_id=demo-client&client_secret=demo-secret"},
		{"salesforce", "Authorization: Bearer " + v.Salesforce.Session() + " (on /salesforce/services/data/v62.0/...)"},
		{"segment", "any write key (Segment answers 200 to everything)"},
		{"ga4", "any api_secret (GA4 answers 2xx to everything)"},
		{"meta", "?access_token=" + v.Meta.Token()},
		{"klaviyo", "Authorization: Klaviyo-API-Key " + v.Klaviyo.Key()},
		{"intercom", "Authorization: Bearer " + v.Intercom.Token()},
		{"braze", "Authorization: Bearer " + v.Braze.Key()},
		{"iterable", "Api-Key: " + v.Iterable.Key()},
		{"mailchimp-transactional", `{"key": "` + v.Mandrill.Key() + `", ...} in the body`},
	}
	width := 0
	for _, row := range rows {
		width = max(width, len(vendorsURL)+len(row[0])+2)
	}
	for _, row := range rows {
		p("    %-*s  %s", width, vendorsURL+"/"+row[0]+"/", row[1])
	}
	p("alerts        POST %s/_alerts  prints the Slack or webhook alerts mtguard sends it", vendorsURL)
	p("")
	p("Run mtguard against it, in another terminal from the repository root (examples/README.md has more):")
	p("    export HUBSPOT_TOKEN='Bearer %s' MTGUARD_ADMIN_TOKEN=try-it SLACK_WEBHOOK_URL=%s/_alerts", v.HubSpot.Token(), vendorsURL)
	p("    go run . serve --config examples/configs/hubspot-form.yaml")
	p("    curl -s http://127.0.0.1:8080/hubspot/crm/v3/objects/contacts -H 'Authorization: Bearer %s' \\", v.HubSpot.Token())
	p("         -H 'Content-Type: application/json' -d '{\"properties\":{\"email\":\"ada@example.com\"}}'")
	p("    MTGUARD_ADMIN_TOKEN=try-it go run . log --record ada@example.com")
	p("Other configs: examples/configs/marketo-salesforce.yaml, tracking.yaml, forward-proxy.yaml; examples/demo.yaml (its crm route).")
	if crmURL != "http://"+defaultCRM || vendorsURL != "http://"+defaultVendors {
		p("")
		p("Note: the configs expect the fake CRM on %s and the fake vendors on %s. With other", defaultCRM, defaultVendors)
		p("addresses, change the upstream: lines marked \"fakestack\" in the config to %s and %s.", crmURL, vendorsURL)
	}
	p("")
	p("Serving; Ctrl-C stops.")
}

// alertPrinter prints each alert posted to it: a Slack message's text, or a webhook's summary.
func alertPrinter(w io.Writer) http.Handler {
	return http.HandlerFunc(func(rw http.ResponseWriter, r *http.Request) {
		var msg struct {
			Text  string `json:"text"` // slack
			Event string `json:"event"`
			Alert struct {
				Route, Kind, Severity, Summary, Owner string
			} `json:"alert"` // webhook
		}
		body, err := io.ReadAll(io.LimitReader(r.Body, 1<<20))
		if err != nil || json.Unmarshal(body, &msg) != nil {
			http.Error(rw, "expected a JSON alert", http.StatusBadRequest)
			return
		}
		text := msg.Text
		if text == "" {
			a := msg.Alert
			text = fmt.Sprintf("%s: %s %s (%s): %s; owner %s", msg.Event, a.Route, a.Kind, a.Severity, a.Summary, a.Owner)
		}
		fmt.Fprintf(w, "\nalert received %s\n  %s\n", time.Now().Format(time.TimeOnly), strings.ReplaceAll(text, "\n", "\n  "))
		rw.WriteHeader(http.StatusOK)
	})
}

// syncWriter serialises writes from the alert handler and run.
type syncWriter struct {
	mu sync.Mutex
	w  io.Writer
}

func (s *syncWriter) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.w.Write(p)
}
