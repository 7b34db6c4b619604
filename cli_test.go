package main

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/mtguard/mtguard/cli"
	"github.com/mtguard/mtguard/vendors"
)

func TestCAInit(t *testing.T) {
	dir := t.TempDir()
	cert, key := filepath.Join(dir, "mtguard-ca.pem"), filepath.Join(dir, "mtguard-ca-key.pem")
	var out bytes.Buffer
	if err := run(context.Background(), []string{"mtguard", "ca", "init", "--cert", cert, "--key", key}, &out, io.Discard, nil); err != nil {
		t.Fatal(err)
	}
	text := out.String()
	for _, want := range []string{"ECDSA P-256", cert, "SHA-256", "HTTPS_PROXY=http://127.0.0.1:8443", "update-ca-certificates",
		"NODE_EXTRA_CA_CERTS=" + cert, "REQUESTS_CA_BUNDLE", "keytool -importcert", "--cacert " + cert} {
		if !strings.Contains(text, want) {
			t.Errorf("ca init output lacks %q:\n%s", want, text)
		}
	}
	if strings.Contains(text, "PRIVATE KEY") {
		t.Error("ca init printed the private key")
	}
	if runtime.GOOS != "windows" {
		if fi, err := os.Stat(key); err != nil || fi.Mode().Perm() != 0o600 {
			t.Errorf("key file mode: %v %v, want 0600", fi.Mode(), err)
		}
	}
	raw, _ := os.ReadFile(cert)
	block, _ := pem.Decode(raw)
	c, err := x509.ParseCertificate(block.Bytes)
	if err != nil || !c.IsCA {
		t.Fatalf("certificate: %v, IsCA %v", err, c != nil && c.IsCA)
	}

	// An existing CA is kept unless --force.
	err = run(context.Background(), []string{"mtguard", "ca", "init", "--cert", cert, "--key", key}, io.Discard, io.Discard, nil)
	if err == nil || !strings.Contains(err.Error(), "--force") {
		t.Errorf("second ca init: %v, want a refusal naming --force", err)
	}
	if err := run(context.Background(), []string{"mtguard", "ca", "init", "--cert", cert, "--key", key, "--force"}, io.Discard, io.Discard, nil); err != nil {
		t.Fatal(err)
	}
	if raw2, _ := os.ReadFile(cert); bytes.Equal(raw, raw2) {
		t.Error("--force kept the old certificate")
	}

	// With --config, the files are the forward block's, relative to the config file.
	cfgPath := filepath.Join(dir, "mtguard.yaml")
	os.WriteFile(cfgPath, yamlLines("forward:", "  listen: 127.0.0.1:3128", "  ca: {cert: sub/ca.pem, key: sub/ca-key.pem}",
		"routes:", "  - name: hubspot", "    host: api.hubapi.com"), 0o600)
	os.Mkdir(filepath.Join(dir, "sub"), 0o700)
	out.Reset()
	if err := run(context.Background(), []string{"mtguard", "ca", "init", "--config", cfgPath}, &out, io.Discard, nil); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(dir, "sub", "ca-key.pem")); err != nil || !strings.Contains(out.String(), "HTTPS_PROXY=http://127.0.0.1:3128") {
		t.Errorf("ca init --config: %v\n%s", err, out.String())
	}

	for _, args := range [][]string{{"ca"}, {"ca", "show"}, {"ca", "init", "extra"}} {
		if err := run(context.Background(), append([]string{"mtguard"}, args...), io.Discard, io.Discard, nil); !errors.Is(err, cli.ErrUsage) {
			t.Errorf("mtguard %v: %v, want a usage error", args, err)
		}
	}
}

// TestForwardEndToEnd runs "mtguard ca init" and "mtguard serve" with a forward: block and a
// route that has only a host, sends a call through the forward proxy as a tool with
// HTTPS_PROXY would, and finds it with "mtguard log" like a reverse-mode call.
func TestForwardEndToEnd(t *testing.T) {
	vendor := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.Copy(io.Discard, r.Body)
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusCreated)
		io.WriteString(w, `{"id":"42"}`)
	}))
	defer vendor.Close()
	vendorHost := strings.TrimPrefix(vendor.URL, "https://")

	dir := t.TempDir()
	caCert, caKey := filepath.Join(dir, "ca.pem"), filepath.Join(dir, "ca-key.pem")
	if err := run(context.Background(), []string{"mtguard", "ca", "init", "--cert", caCert, "--key", caKey}, io.Discard, io.Discard, nil); err != nil {
		t.Fatal(err)
	}
	vendorCA := filepath.Join(dir, "vendor-ca.pem")
	os.WriteFile(vendorCA, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: vendor.Certificate().Raw}), 0o644)

	in := startMtguard(t, fmt.Sprintf(`
listen: 127.0.0.1:0
admin:
  listen: 127.0.0.1:0
forward:
  listen: 127.0.0.1:0
  ca: {cert: %s, key: %s}
  upstream_ca: %s
  proxy_auth: {username_env: PROXY_USER, password_env: PROXY_PASSWORD}
routes:
  - name: crm
    host: %s
    record_keys: [email]
`, caCert, caKey, vendorCA, vendorHost), map[string]string{"PROXY_USER": "tool", "PROXY_PASSWORD": "pw"})

	forwardLine := regexp.MustCompile(`forward proxy (http://\S+)`)
	var proxyAddr string
	for deadline := time.Now().Add(5 * time.Second); proxyAddr == ""; {
		if m := forwardLine.FindStringSubmatch(in.stdout.String()); m != nil {
			proxyAddr = m[1]
		} else if time.Now().After(deadline) {
			t.Fatalf("serve did not print the forward proxy's address:\n%s", in.stdout.String())
		}
		time.Sleep(5 * time.Millisecond)
	}
	if !strings.Contains(in.stdout.String(), "route crm") || !strings.Contains(in.stdout.String(), "https://"+vendorHost+"/... through the forward proxy") {
		t.Errorf("serve's banner does not show the forward route:\n%s", in.stdout.String())
	}

	pu, _ := url.Parse(proxyAddr)
	pu.User = url.UserPassword("tool", "pw")
	roots := x509.NewCertPool()
	pemCA, _ := os.ReadFile(caCert)
	roots.AppendCertsFromPEM(pemCA)
	tr := &http.Transport{Proxy: http.ProxyURL(pu), TLSClientConfig: &tls.Config{RootCAs: roots}}
	defer tr.CloseIdleConnections()
	resp, err := (&http.Client{Transport: tr}).Post(vendor.URL+"/v1/leads", "application/json", strings.NewReader(`{"email":"Fwd@Acme.com"}`))
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 201 || string(b) != `{"id":"42"}` || resp.Header.Get("X-Mtguard-Id") == "" {
		t.Fatalf("call through the forward proxy: %d %s %v", resp.StatusCode, b, resp.Header)
	}
	out, err := in.cli(t, nil, "log", "--record", "fwd@acme.com", "--json")
	if err != nil {
		t.Fatalf("log: %v\n%s", err, out)
	}
	for _, want := range []string{`"front": "forward"`, `"route": "crm"`, `"outcome": "delivered"`, `"path": "https://` + vendorHost + `/v1/leads"`} {
		if !strings.Contains(strings.ReplaceAll(out, `":"`, `": "`), want) {
			t.Errorf("log --json lacks %s:\n%s", want, out)
		}
	}
}

func TestCmdPresets(t *testing.T) {
	runCmd := func(args ...string) (string, error) {
		var out, errOut bytes.Buffer
		err := run(context.Background(), append([]string{"mtguard", "presets"}, args...), &out, &errOut, func(string) string { return "" })
		return out.String() + errOut.String(), err
	}
	out, err := runCmd()
	if err != nil {
		t.Fatal(err)
	}
	for _, name := range vendors.PresetNames() {
		if !strings.Contains(out, "\n"+name+" ") {
			t.Errorf("the list lacks %s:\n%s", name, out)
		}
	}
	if !strings.Contains(out, "100/20s, 50000/day (resets 00:00 America/Chicago), 10 at once") {
		t.Errorf("the list lacks Marketo's limits:\n%s", out)
	}
	out, err = runCmd("show", "marketo")
	src, _ := vendors.PresetSource("marketo")
	if err != nil || out != string(src) {
		t.Errorf("show marketo = %v, printed %d bytes; want the preset file (%d bytes)", err, len(out), len(src))
	}
	if _, err = runCmd("show", "nope"); err == nil || !strings.Contains(err.Error(), `unknown preset "nope"`) {
		t.Errorf("show nope = %v", err)
	}
	if _, err = runCmd("bogus"); !errors.Is(err, cli.ErrUsage) {
		t.Errorf("presets bogus = %v, want a usage error", err)
	}
}

// schemasCLI runs one command line through run and returns what it printed.
