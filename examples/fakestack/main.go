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
	"strconv"
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

	vendors := fakevendors.New(nil)
	all := vendorList(vendors)
	host, port, err := splitLoopback("--vendors", *vendorsAddr)
	if err != nil {
		return err
	}
	if _, _, err := splitLoopback("--crm", *crmAddr); err != nil {
		return err
	}
	out := &syncWriter{w: stdout}
	mux := http.NewServeMux()
	mux.Handle("/", vendors)
	mux.Handle("POST /_alerts", alertPrinter(out))

	// The CRM, the /<preset>/ mux, then one port per vendor: --vendors' port + 1, + 2, ...
	addrs := []string{*crmAddr, *vendorsAddr}
	handlers := []http.Handler{fakecrm.New(fakecrm.Options{}), mux}
	for i, v := range all {
		p := 0
		if port != 0 {
			p = port + 1 + i
		}
		addrs = append(addrs, net.JoinHostPort(host, strconv.Itoa(p)))
		handlers = append(handlers, v.handler)
	}
	var (
		listeners []net.Listener
		servers   []*http.Server
		urls      []string
	)
	defer func() {
		for _, ln := range listeners {
			ln.Close() // Shutdown closed them already, unless run failed before serving
		}
	}()
	for i, addr := range addrs {
		ln, err := net.Listen("tcp", addr)
		if err != nil {
			flagName := "--vendors"
			if i == 0 {
				flagName = "--crm"
			}
			if i >= 2 {
				return fmt.Errorf("%s: the fake %s listens on the port after it: %w (pick another --vendors port, or 127.0.0.1:0)", flagName, all[i-2].name, err)
			}
			return fmt.Errorf("%s: %w", flagName, err)
		}
		listeners = append(listeners, ln)
		servers = append(servers, &http.Server{Handler: handlers[i], ReadHeaderTimeout: 10 * time.Second})
		urls = append(urls, "http://"+ln.Addr().String())
	}
	describe(out, urls[0], urls[1], urls[2:], all)

	errc := make(chan error, len(servers))
	for i, ln := range listeners {
		go func() { errc <- servers[i].Serve(ln) }()
	}
	select {
	case <-ctx.Done():
	case err := <-errc:
		// A server stopped on its own: stop the others too, and say why.
		shutdown(servers)
		return fmt.Errorf("serve: %w", err)
	}
	fmt.Fprintln(out, "\nfakestack: stopping")
	return shutdown(servers)
}

// splitLoopback splits addr, which must name a loopback host: the fake vendors accept anyone
// with the demo credentials they print, so they stay on this machine.
func splitLoopback(flagName, addr string) (host string, port int, err error) {
	host, portText, err := net.SplitHostPort(addr)
	if err == nil {
		port, err = strconv.Atoi(portText)
	}
	if err != nil || port < 0 || port > 65535-len(vendorNames) {
		return "", 0, fmt.Errorf("%s %q: not an address (write host:port, e.g. 127.0.0.1:0)", flagName, addr)
	}
	if ip := net.ParseIP(host); host != "localhost" && (ip == nil || !ip.IsLoopback()) {
		return "", 0, fmt.Errorf("%s %q: the fake stack only listens on loopback (127.0.0.1, ::1 or localhost)", flagName, addr)
	}
	return host, port, nil
}

// vendorNames are the fake vendors in the order of their ports after --vendors, by the name
// of the mtguard preset each stands in for.
var vendorNames = []string{"hubspot", "marketo", "salesforce", "segment", "ga4", "meta", "klaviyo", "intercom", "braze", "iterable", "mailchimp-transactional"}

type vendor struct {
	name    string
	handler http.Handler
	creds   string // the demo credentials it accepts, for people
}

func vendorList(v *fakevendors.Vendors) []vendor {
	list := []vendor{
		{"hubspot", v.HubSpot, "Authorization: Bearer " + v.HubSpot.Token()},
		{"marketo", v.Marketo, "token from GET /identity/oauth/token?grant_type=client_credentials&client_id=demo-client&client_secret=demo-secret"},
		{"salesforce", v.Salesforce, "Authorization: Bearer " + v.Salesforce.Session() + " (on /services/data/v62.0/...)"},
		{"segment", v.Segment, "any write key (Segment answers 200 to everything)"},
		{"ga4", v.GA4, "any api_secret (GA4 answers 2xx to everything)"},
		{"meta", v.Meta, "?access_token=" + v.Meta.Token()},
		{"klaviyo", v.Klaviyo, "Authorization: Klaviyo-API-Key " + v.Klaviyo.Key()},
		{"intercom", v.Intercom, "Authorization: Bearer " + v.Intercom.Token()},
		{"braze", v.Braze, "Authorization: Bearer " + v.Braze.Key()},
		{"iterable", v.Iterable, "Api-Key: " + v.Iterable.Key()},
		{"mailchimp-transactional", v.Mandrill, `{"key": "` + v.Mandrill.Key() + `", ...} in the body`},
	}
	for i := range list {
		if list[i].name != vendorNames[i] {
			panic("fakestack: vendorList and vendorNames disagree") // a programming error
		}
	}
	return list
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
func describe(w io.Writer, crmURL, vendorsURL string, vendorURLs []string, vendors []vendor) {
	p := func(format string, a ...any) { fmt.Fprintf(w, format+"\n", a...) }
	p("fakestack: fake vendors for trying mtguard; nothing here reaches a real vendor.")
	p("")
	p("fake CRM      %s", crmURL)
	p("              POST /v1/leads, POST /v1/leads/batch, GET /v1/leads?email=..., GET /v1/slow?ms=N, GET /healthz")
	p("fake vendors  %s", vendorsURL)
	p("              every vendor under /<preset>/ (as `mtguard demo` lays them out), and on its own port:")
	for i, v := range vendors {
		p("    %-24s %-23s %s", v.name, vendorURLs[i], v.creds)
	}
	p("alerts        POST %s/_alerts  prints the Slack or webhook alerts mtguard sends it", vendorsURL)
	p("")
	p("Run mtguard against it, in another terminal from the repository root (examples/README.md has more):")
	p("    export HUBSPOT_TOKEN='Bearer %s' MTGUARD_ADMIN_TOKEN=try-it SLACK_WEBHOOK_URL=%s/_alerts", strings.TrimPrefix(vendors[0].creds, "Authorization: Bearer "), vendorsURL)
	p("    go run . serve --config examples/configs/hubspot-form.yaml")
	p("    curl -s http://127.0.0.1:8080/hubspot/crm/v3/objects/contacts -H \"Authorization: $HUBSPOT_TOKEN\" \\")
	p("         -H 'Content-Type: application/json' -d '{\"properties\":{\"email\":\"ada@example.com\"}}'")
	p("    go run . log --record ada@example.com")
	p("Other configs: examples/configs/marketo-salesforce.yaml, tracking.yaml, forward-proxy.yaml; examples/demo.yaml (its crm route).")
	if crmURL != "http://"+defaultCRM || vendorsURL != "http://"+defaultVendors {
		p("")
		p("Note: the configs expect the fake CRM on %s and the fake vendors from %s on. With other", defaultCRM, defaultVendors)
		p("addresses, change the upstream: lines marked \"fakestack\" in the config to the addresses above.")
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
