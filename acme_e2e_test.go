package main

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"io"
	"log"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/letsencrypt/pebble/v2/ca"
	"github.com/letsencrypt/pebble/v2/db"
	"github.com/letsencrypt/pebble/v2/va"
	"github.com/letsencrypt/pebble/v2/wfe"
	"github.com/miekg/dns"

	"github.com/mtguard/mtguard/config"
	"github.com/mtguard/mtguard/examples/fakecrm"
)

// pebbleCA is Let's Encrypt's test CA, Pebble, run in the test: its directory is served over
// HTTPS by an httptest server (client trusts that server), its VA validates tls-alpn-01 at
// port tlsPort of whatever its DNS server says, and every name resolves to 127.0.0.1.
type pebbleCA struct {
	directory string
	client    *http.Client
	root      *x509.Certificate
}

func startPebble(t *testing.T, tlsPort int, logw io.Writer) *pebbleCA {
	t.Helper()
	t.Setenv("PEBBLE_VA_NOSLEEP", "1")
	t.Setenv("PEBBLE_WFE_NONCEREJECT", "0")
	dnsAddr := startLoopbackDNS(t)
	logger := log.New(logw, "pebble ", 0)
	store := db.NewMemoryStore()
	authority := ca.New(logger, store, "", "ecdsa", 0, 1, map[string]ca.Profile{"default": {Description: "default"}})
	validator := va.New(logger, 0, tlsPort, false, dnsAddr, store)
	front := wfe.New(logger, store, validator, authority, []string{"pebble.letsencrypt.org"}, false, false, 0, 0)
	srv := httptest.NewTLSServer(front.Handler())
	t.Cleanup(srv.Close)
	return &pebbleCA{directory: srv.URL + wfe.DirectoryPath, client: srv.Client(), root: authority.GetRootCert(0).Cert}
}

// startLoopbackDNS serves DNS over TCP (Pebble's VA asks over TCP) on a loopback port,
// answering every A question with 127.0.0.1 (and no AAAA), for Pebble's VA.
func startLoopbackDNS(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &dns.Server{Listener: ln, Handler: dns.HandlerFunc(func(w dns.ResponseWriter, q *dns.Msg) {
		m := new(dns.Msg)
		m.SetReply(q)
		for _, qq := range q.Question {
			if qq.Qtype == dns.TypeA {
				m.Answer = append(m.Answer, &dns.A{Hdr: dns.RR_Header{Name: qq.Name, Rrtype: dns.TypeA, Class: dns.ClassINET, Ttl: 60}, A: net.IPv4(127, 0, 0, 1)})
			}
		}
		_ = w.WriteMsg(m)
	})}
	go func() { _ = srv.ActivateAndServe() }()
	t.Cleanup(func() { _ = srv.Shutdown() })
	return ln.Addr().String()
}

// TestACMEEndToEnd: the data plane gets its certificate from Pebble (tls-alpn-01, answered on
// the data plane itself), a client trusting Pebble's root calls a route through it, the
// certificate is in the cache folder (0700), and a second start serves it from the cache
// without the CA.
func TestACMEEndToEnd(t *testing.T) {
	dir := t.TempDir()
	port := freePort(t)
	pebbleLog := &lockedBuffer{}
	pebble := startPebble(t, port, pebbleLog)
	vendor := httptest.NewServer(fakecrm.New(fakecrm.Options{}))
	t.Cleanup(vendor.Close)
	const domain = "mtguard.localhost"
	cfgYAML := yamlLines(
		"listen: 127.0.0.1:"+strconv.Itoa(port),
		"tls:",
		"  acme:",
		"    domains: ["+domain+"]",
		"    email: ops@mtguard.test",
		"    directory: "+pebble.directory,
		"admin:",
		"  listen: 127.0.0.1:0",
		"store: {path: "+filepath.Join(dir, "mtguard.db")+"}",
		"routes:",
		"  - {name: crm, prefix: /crm, upstream: "+vendor.URL+", record_keys: [email]}",
	)
	start := func(client *http.Client) (*server, *lockedBuffer) {
		cfg, err := config.Parse("mtguard.yaml", cfgYAML)
		if err != nil {
			t.Fatal(err)
		}
		logs := &lockedBuffer{}
		s, err := startServer(context.Background(), cfg, func(string) string { return "" }, newLogger(logs, "json", 0), testHooks{acmeHTTPClient: client})
		if err != nil {
			t.Fatalf("start: %v\n%s", err, logs)
		}
		return s, logs
	}
	s, logs := start(pebble.client)
	waitFor(t, 30*time.Second, func() bool { return strings.Contains(logs.String(), "the TLS certificate from the ACME CA is ready") }, func() string {
		return "no certificate from Pebble:\n" + logs.String() + "\npebble:\n" + pebbleLog.String()
	})

	roots := x509.NewCertPool()
	roots.AddCert(pebble.root)
	client := &http.Client{Transport: &http.Transport{
		TLSClientConfig: &tls.Config{RootCAs: roots, ServerName: domain},
		DialContext: func(ctx context.Context, network, _ string) (net.Conn, error) {
			return (&net.Dialer{}).DialContext(ctx, network, s.dataAddr)
		},
	}}
	resp, err := client.Post("https://"+domain+"/crm/v1/leads", "application/json", strings.NewReader(`{"email":"acme@acme.com"}`))
	if err != nil {
		t.Fatalf("call through the data plane: %v\n%s", err, logs)
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	if resp.StatusCode/100 != 2 {
		t.Errorf("call through the data plane: %d", resp.StatusCode)
	}
	leaf := resp.TLS.PeerCertificates[0]
	if len(leaf.DNSNames) != 1 || leaf.DNSNames[0] != domain {
		t.Errorf("served certificate names %v, want [%s]", leaf.DNSNames, domain)
	}
	if _, err := leaf.Verify(x509.VerifyOptions{Roots: roots, DNSName: domain, Intermediates: intermediates(resp.TLS.PeerCertificates)}); err != nil {
		t.Errorf("served certificate does not chain to Pebble's root: %v", err)
	}
	if !strings.Contains(logs.String(), "obtained a TLS certificate from the ACME CA") {
		t.Errorf("the new certificate was not logged:\n%s", logs)
	}

	// The cache folder beside the store holds the account key and the certificate, owner only.
	cache := filepath.Join(dir, "acme")
	fi, err := os.Stat(cache)
	if err != nil || fi.Mode().Perm() != 0o700 {
		t.Errorf("cache folder %s: %v, mode %v; want 0700", cache, err, fi.Mode().Perm())
	}
	if _, err := os.Stat(filepath.Join(cache, domain)); err != nil {
		t.Errorf("certificate not cached: %v", err)
	}

	// A name that is not the listener's, or none, fails the handshake; no order is placed.
	for _, name := range []string{"other.localhost", ""} {
		conn, err := tls.Dial("tcp", s.dataAddr, &tls.Config{RootCAs: roots, ServerName: name, InsecureSkipVerify: name == ""})
		if err == nil {
			conn.Close()
			t.Errorf("handshake naming %q succeeded", name)
		}
	}

	// Restarted without a way to reach the CA, serve uses the cached certificate.
	s.shutdown()
	s2, logs2 := start(&http.Client{Transport: &http.Transport{DialContext: func(context.Context, string, string) (net.Conn, error) {
		return nil, &net.OpError{Op: "dial", Err: os.ErrPermission}
	}}})
	t.Cleanup(func() { s2.shutdown() })
	conn, err := tls.Dial("tcp", s2.dataAddr, &tls.Config{RootCAs: roots, ServerName: domain})
	if err != nil {
		t.Fatalf("handshake after a restart: %v\n%s", err, logs2)
	}
	defer conn.Close()
	if got := conn.ConnectionState().PeerCertificates[0]; !got.Equal(leaf) {
		t.Errorf("after a restart serve got a new certificate (serial %v), want the cached one (%v)", got.SerialNumber, leaf.SerialNumber)
	}
}

// intermediates is the chain a server sent after its leaf.
func intermediates(chain []*x509.Certificate) *x509.CertPool {
	p := x509.NewCertPool()
	for _, c := range chain[1:] {
		p.AddCert(c)
	}
	return p
}

// waitFor polls cond until it holds or d passes, then fails with msg().
func waitFor(t *testing.T, d time.Duration, cond func() bool, msg func() string) {
	t.Helper()
	for deadline := time.Now().Add(d); !cond(); time.Sleep(20 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal(msg())
		}
	}
}

// TestCheckConfigACME: check-config checks the acme block and the cache folder without
// contacting the CA (the directory here answers nothing) and creates nothing.
func TestCheckConfigACME(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "mtguard.yaml")
	check := func(tlsLines ...string) (string, error) {
		t.Helper()
		lines := append([]string{"listen: 127.0.0.1:8443"}, tlsLines...)
		lines = append(lines, "store: {path: "+filepath.Join(dir, "mtguard.db")+"}", "routes:", "  - {name: crm, prefix: /crm, upstream: http://127.0.0.1:9000}")
		if err := os.WriteFile(path, yamlLines(lines...), 0o600); err != nil {
			t.Fatal(err)
		}
		var out, errOut strings.Builder
		err := run(context.Background(), []string{"mtguard", "check-config", path}, &out, &errOut, func(string) string { return "" })
		return out.String() + errOut.String(), err
	}
	if out, err := check("tls: {acme: {domains: [proxy.example.com], email: ops@example.com, directory: 'https://127.0.0.1:1/dir'}}"); err != nil || !strings.Contains(out, ": ok") {
		t.Errorf("good block: %v\n%s", err, out)
	}
	if _, err := os.Stat(filepath.Join(dir, "acme")); err == nil {
		t.Error("check-config created the cache folder")
	}
	if out, err := check("tls:", "  acme:", "    domains: [proxy.example.com]", "    directory: http://acme.example.com/dir"); err == nil || !strings.Contains(err.Error(), path+":5: tls.acme.directory: ") {
		t.Errorf("http directory: %v\n%s", err, out)
	}
	if out, err := check("tls: {cert: a.crt, key: a.key, acme: {domains: [proxy.example.com]}}"); err == nil || !strings.Contains(err.Error(), path+":2: tls.acme: acme and cert/key are alternatives") {
		t.Errorf("both: %v\n%s", err, out)
	}
	if out, err := check("tls: {acme: {domains: [proxy.example.com], cache: no/such/folder}}"); err == nil || !strings.Contains(err.Error(), "tls.acme.cache: neither "+filepath.Join(dir, "no/such/folder")) {
		t.Errorf("cache without a parent: %v\n%s", err, out)
	}
	if err := os.WriteFile(filepath.Join(dir, "file"), nil, 0o600); err != nil {
		t.Fatal(err)
	}
	if out, err := check("tls: {acme: {domains: [proxy.example.com], cache: file}}"); err == nil || !strings.Contains(err.Error(), "is not a folder") {
		t.Errorf("cache is a file: %v\n%s", err, out)
	}
}

// TestACMEListenerNames: without reaching any CA, a hello naming no domain of the listener, or
// none, is refused before the CA is asked; prepare makes the cache 0700.
func TestACMEListenerNames(t *testing.T) {
	dir := t.TempDir()
	cfg, err := config.Parse("mtguard.yaml", yamlLines(
		"tls: {acme: {domains: [a.example.com], directory: 'https://127.0.0.1:1/dir', cache: "+filepath.Join(dir, "acme")+"}}",
		"admin:",
		"  tls: {acme: {domains: [b.example.com], directory: 'https://127.0.0.1:1/dir', cache: "+filepath.Join(dir, "acme")+"}}",
		"routes:",
		"  - {name: crm, prefix: /crm, upstream: http://127.0.0.1:9000}",
	))
	if err != nil {
		t.Fatal(err)
	}
	lt, err := loadListenerTLS(cfg)
	if err != nil {
		t.Fatal(err)
	}
	if lt.dataACME == nil || lt.adminACME == nil || lt.dataACME.m != lt.adminACME.m {
		t.Fatalf("want one manager shared by both listeners (same directory, email, cache): %+v", lt)
	}
	for _, name := range []string{"", "b.example.com", "evil.example.com"} {
		if _, err := lt.dataACME.getCertificate(&tls.ClientHelloInfo{ServerName: name}); err == nil {
			t.Errorf("data plane gave a certificate for %q", name)
		}
	}
	if err := os.Mkdir(filepath.Join(dir, "acme"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := lt.dataACME.prepare(); err != nil {
		t.Fatal(err)
	}
	if fi, err := os.Stat(filepath.Join(dir, "acme")); err != nil || fi.Mode().Perm() != 0o700 {
		t.Errorf("cache mode %v, %v; want 0700", fi.Mode().Perm(), err)
	}
}
