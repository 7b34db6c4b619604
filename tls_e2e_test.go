package main

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"fmt"
	"io"
	"math/big"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/mtguard/mtguard/config"
	"github.com/mtguard/mtguard/examples/fakecrm"
)

// testCA is a certificate authority made for one test.
type testCA struct {
	cert *x509.Certificate
	key  *ecdsa.PrivateKey
	file string // its certificate, PEM
}

var serials struct {
	sync.Mutex
	n int64
}

func nextSerial() *big.Int {
	serials.Lock()
	defer serials.Unlock()
	serials.n++
	return big.NewInt(serials.n)
}

func newTestCA(t *testing.T, dir string) *testCA {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber:          nextSerial(),
		Subject:               pkix.Name{CommonName: "mtguard test CA"},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().Add(24 * time.Hour),
		IsCA:                  true,
		BasicConstraintsValid: true,
		KeyUsage:              x509.KeyUsageCertSign,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	cert, _ := x509.ParseCertificate(der)
	ca := &testCA{cert: cert, key: key, file: filepath.Join(dir, "ca.pem")}
	writePEM(t, ca.file, "CERTIFICATE", der)
	return ca
}

// issue writes a leaf certificate for 127.0.0.1 and localhost, named cn, to certFile and its key
// to keyFile, and returns its serial number.
func (ca *testCA) issue(t *testing.T, cn, certFile, keyFile string) *big.Int {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: nextSerial(),
		Subject:      pkix.Name{CommonName: cn},
		DNSNames:     []string{"localhost"},
		IPAddresses:  []net.IP{net.IPv4(127, 0, 0, 1)},
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().Add(24 * time.Hour),
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca.cert, &key.PublicKey, ca.key)
	if err != nil {
		t.Fatal(err)
	}
	kder, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	// The key first, then the certificate, as a renewal would; each replaced by a rename.
	writePEM(t, keyFile, "PRIVATE KEY", kder)
	writePEM(t, certFile, "CERTIFICATE", der)
	return tmpl.SerialNumber
}

// writePEM replaces file atomically (a temporary file renamed over it).
func writePEM(t *testing.T, file, typ string, der []byte) {
	t.Helper()
	tmp := file + ".tmp"
	if err := os.WriteFile(tmp, pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(tmp, file); err != nil {
		t.Fatal(err)
	}
}

// trusting is an HTTP client that trusts only ca.
func trusting(ca *testCA) *http.Client {
	roots := x509.NewCertPool()
	roots.AddCert(ca.cert)
	tr := &http.Transport{TLSClientConfig: &tls.Config{RootCAs: roots}}
	return &http.Client{Transport: tr, Timeout: 10 * time.Second}
}

const tlsConfig = `
listen: 127.0.0.1:0
tls: {cert: data.crt, key: data.key}
admin:
  listen: 127.0.0.1:0
  tls:
    cert: admin.crt
    key: admin.key
store:
  path: ./mtguard.db
routes:
  - name: crm
    prefix: /crm
    upstream: %s
    record_keys: [email]
`

// TestTLSEndToEnd runs serve with TLS on the data plane and the admin API, certificates made by
// a test CA: a client trusting the CA sends a call through the proxy and reads it back from the
// admin API, directly and through the CLI (MTGUARD_ADMIN_CA); an untrusting client, and plain
// HTTP, are refused.
func TestTLSEndToEnd(t *testing.T) {
	vendor := httptest.NewServer(fakecrm.New(fakecrm.Options{}))
	defer vendor.Close()
	dir := t.TempDir()
	ca := newTestCA(t, dir)
	// startMtguard writes the config into its own folder; the certificates go beside it.
	cfg := fmt.Sprintf(tlsConfig, vendor.URL)
	for _, f := range []string{"data.crt", "data.key", "admin.crt", "admin.key"} {
		cfg = strings.ReplaceAll(cfg, " "+f, " "+filepath.Join(dir, f))
	}
	ca.issue(t, "mtguard data plane", filepath.Join(dir, "data.crt"), filepath.Join(dir, "data.key"))
	ca.issue(t, "mtguard admin", filepath.Join(dir, "admin.crt"), filepath.Join(dir, "admin.key"))
	in := startMtguard(t, cfg, nil)
	if !strings.HasPrefix(in.proxy, "https://") || !strings.HasPrefix(in.admin, "https://") {
		t.Fatalf("serve printed proxy %s admin %s, want https URLs", in.proxy, in.admin)
	}
	if !strings.Contains(in.stdout.String(), "route crm              https://") {
		t.Errorf("the route line does not give an https URL:\n%s", in.stdout)
	}

	client := trusting(ca)
	resp, err := client.Post(in.proxy+"/crm/v1/leads", "application/json", strings.NewReader(`{"email":"tls@acme.com"}`))
	if err != nil {
		t.Fatal(err)
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 201 || resp.TLS == nil || resp.TLS.PeerCertificates[0].Subject.CommonName != "mtguard data plane" {
		t.Fatalf("proxied call: status %d, TLS %v", resp.StatusCode, resp.TLS != nil)
	}
	id := resp.Header.Get("X-Mtguard-Id")

	resp, err = client.Get(in.admin + "/api/transactions/" + id)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || !strings.Contains(string(body), "tls@acme.com") || resp.TLS.PeerCertificates[0].Subject.CommonName != "mtguard admin" {
		t.Fatalf("admin API: %d %s", resp.StatusCode, body)
	}

	out, err := in.cli(t, map[string]string{"MTGUARD_ADMIN_CA": ca.file}, "log", "--record", "tls@acme.com")
	if err != nil || !strings.Contains(out, id) {
		t.Errorf("log with MTGUARD_ADMIN_CA: %v\n%s", err, out)
	}
	out, err = in.cli(t, nil, "show", id)
	if err == nil || !strings.Contains(out+err.Error(), "set MTGUARD_ADMIN_CA to the PEM file of the CA that signed it") {
		t.Errorf("show without MTGUARD_ADMIN_CA: %v\n%s", err, out)
	}
	other := newTestCA(t, t.TempDir())
	out, err = in.cli(t, map[string]string{"MTGUARD_ADMIN_CA": other.file}, "show", id)
	if err == nil || !strings.Contains(out+err.Error(), "not signed by the CA in MTGUARD_ADMIN_CA") {
		t.Errorf("show with another CA: %v\n%s", err, out)
	}
	out, err = in.cli(t, map[string]string{"MTGUARD_ADMIN_CA": filepath.Join(dir, "nothere.pem")}, "show", id)
	if err == nil || !strings.Contains(out+err.Error(), "MTGUARD_ADMIN_CA: open ") {
		t.Errorf("show with a missing CA file: %v\n%s", err, out)
	}

	// Plain HTTP on a TLS port gets Go's 400, not a proxied call.
	resp, err = http.Post("http://"+strings.TrimPrefix(in.proxy, "https://")+"/crm/v1/leads", "application/json", strings.NewReader(`{"email":"plain@acme.com"}`))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 400 {
		t.Errorf("plain HTTP to the TLS data plane: %d, want 400", resp.StatusCode)
	}
}

// startTLSServer runs serve's server with TLS on both listeners, the files in dir, looked at
// every 20 ms.
func startTLSServer(t *testing.T, dir string, ca *testCA) (*server, *lockedBuffer) {
	t.Helper()
	vendor := httptest.NewServer(fakecrm.New(fakecrm.Options{}))
	t.Cleanup(vendor.Close)
	for _, n := range []string{"data", "admin"} {
		ca.issue(t, n+" 1", filepath.Join(dir, n+".crt"), filepath.Join(dir, n+".key"))
	}
	cfg, err := config.Parse("mtguard.yaml", yamlLines(
		"listen: 127.0.0.1:0",
		"tls: {cert: "+filepath.Join(dir, "data.crt")+", key: "+filepath.Join(dir, "data.key")+"}",
		"admin:",
		"  listen: 127.0.0.1:0",
		"  tls: {cert: "+filepath.Join(dir, "admin.crt")+", key: "+filepath.Join(dir, "admin.key")+"}",
		"store: {path: "+filepath.Join(dir, "mtguard.db")+"}",
		"routes:",
		"  - {name: crm, prefix: /crm, upstream: "+vendor.URL+", record_keys: [email]}",
	))
	if err != nil {
		t.Fatal(err)
	}
	logs := &lockedBuffer{}
	s, err := startServer(context.Background(), cfg, func(string) string { return "" }, newLogger(logs, "json", 0), testHooks{tlsCheckEvery: 20 * time.Millisecond})
	if err != nil {
		t.Fatalf("start: %v\n%s", err, logs)
	}
	t.Cleanup(func() { s.shutdown() })
	return s, logs
}

// served is the certificate addr presents to a new connection trusting ca.
func served(t *testing.T, addr string, ca *testCA) *x509.Certificate {
	t.Helper()
	roots := x509.NewCertPool()
	roots.AddCert(ca.cert)
	conn, err := tls.Dial("tcp", addr, &tls.Config{RootCAs: roots, ServerName: "127.0.0.1"})
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	return conn.ConnectionState().PeerCertificates[0]
}

// TestTLSReload: new files are served from the next handshake after the check, without a
// restart, on both listeners; a new pair that does not load leaves the previous one served and
// is logged once; once repaired, it is served.
func TestTLSReload(t *testing.T) {
	dir := t.TempDir()
	ca := newTestCA(t, dir)
	s, logs := startTLSServer(t, dir, ca)
	for name, addr := range map[string]string{"data": s.dataAddr, "admin": s.adminAddr} {
		if cn := served(t, addr, ca).Subject.CommonName; cn != name+" 1" {
			t.Fatalf("%s listener serves %q at start", name, cn)
		}
	}

	serial := ca.issue(t, "data 2", filepath.Join(dir, "data.crt"), filepath.Join(dir, "data.key"))
	ca.issue(t, "admin 2", filepath.Join(dir, "admin.crt"), filepath.Join(dir, "admin.key"))
	waitUntil(t, "the data listener serves the new certificate", func() bool {
		return served(t, s.dataAddr, ca).SerialNumber.Cmp(serial) == 0
	})
	waitUntil(t, "the admin listener serves the new certificate", func() bool {
		return served(t, s.adminAddr, ca).Subject.CommonName == "admin 2"
	})
	// The server still answers calls: no restart happened.
	resp, err := trusting(ca).Post("https://"+s.dataAddr+"/crm/v1/leads", "application/json", strings.NewReader(`{"email":"reload@acme.com"}`))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 201 {
		t.Fatalf("call after the reload: %d", resp.StatusCode)
	}
	if !strings.Contains(logs.String(), `"listener":"tls"`) || !strings.Contains(logs.String(), "reloaded the TLS certificate") {
		t.Errorf("the reload is not logged:\n%s", logs)
	}

	// A broken pair: a new certificate whose key is not the one on disk.
	keyBefore, _ := os.ReadFile(filepath.Join(dir, "data.key"))
	ca.issue(t, "data 3", filepath.Join(dir, "data.crt"), filepath.Join(dir, "data3.key"))
	const failed = "the TLS certificate files changed but do not load; still serving the previous certificate"
	waitUntil(t, "the failed reload is logged", func() bool {
		served(t, s.dataAddr, ca) // the files are looked at on a handshake
		return strings.Contains(logs.String(), failed)
	})
	for range 5 { // several more checks
		time.Sleep(30 * time.Millisecond)
		served(t, s.dataAddr, ca)
	}
	if cn := served(t, s.dataAddr, ca).Subject.CommonName; cn != "data 2" {
		t.Errorf("after a broken pair the data listener serves %q, want the previous certificate", cn)
	}
	if n := strings.Count(logs.String(), failed); n != 1 {
		t.Errorf("the broken pair is logged %d times, want once:\n%s", n, logs)
	}
	if !strings.Contains(logs.String(), "does not belong to the certificate") {
		t.Errorf("the log does not say why the pair does not load:\n%s", logs)
	}
	if raw, _ := os.ReadFile(filepath.Join(dir, "data.key")); string(raw) != string(keyBefore) {
		t.Fatal("test setup: data.key changed")
	}

	// The key arrives: the pair loads.
	raw, err := os.ReadFile(filepath.Join(dir, "data3.key"))
	if err != nil {
		t.Fatal(err)
	}
	block, _ := pem.Decode(raw)
	writePEM(t, filepath.Join(dir, "data.key"), "PRIVATE KEY", block.Bytes)
	waitUntil(t, "the repaired pair is served", func() bool {
		return served(t, s.dataAddr, ca).Subject.CommonName == "data 3"
	})
}

// TestTLSVersionsAndSuites: TLS 1.0 and 1.1 are refused, as are TLS 1.2 suites without forward
// secrecy or AEAD; TLS 1.2 with ECDHE and AES-GCM, and TLS 1.3, are accepted.
func TestTLSVersionsAndSuites(t *testing.T) {
	dir := t.TempDir()
	ca := newTestCA(t, dir)
	s, logs := startTLSServer(t, dir, ca)
	roots := x509.NewCertPool()
	roots.AddCert(ca.cert)
	tests := []struct {
		name string
		cfg  *tls.Config
		ok   bool
	}{
		{"TLS 1.0", &tls.Config{MinVersion: tls.VersionTLS10, MaxVersion: tls.VersionTLS10}, false},
		{"TLS 1.1", &tls.Config{MinVersion: tls.VersionTLS11, MaxVersion: tls.VersionTLS11}, false},
		{"TLS 1.2 CBC", &tls.Config{MaxVersion: tls.VersionTLS12, CipherSuites: []uint16{tls.TLS_ECDHE_ECDSA_WITH_AES_128_CBC_SHA, tls.TLS_ECDHE_ECDSA_WITH_AES_256_CBC_SHA}}, false},
		{"TLS 1.2 ECDHE-GCM", &tls.Config{MaxVersion: tls.VersionTLS12, CipherSuites: []uint16{tls.TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256}}, true},
		{"TLS 1.2 ChaCha20", &tls.Config{MaxVersion: tls.VersionTLS12, CipherSuites: []uint16{tls.TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256}}, true},
		{"TLS 1.3", &tls.Config{MinVersion: tls.VersionTLS13}, true},
	}
	for _, tt := range tests {
		for name, addr := range map[string]string{"data": s.dataAddr, "admin": s.adminAddr} {
			t.Run(tt.name+" "+name, func(t *testing.T) {
				cfg := tt.cfg.Clone()
				cfg.RootCAs, cfg.ServerName = roots, "127.0.0.1"
				conn, err := tls.Dial("tcp", addr, cfg)
				if err == nil {
					conn.Close()
				}
				if (err == nil) != tt.ok {
					t.Errorf("handshake error %v, want accepted %v", err, tt.ok)
				}
			})
		}
	}
	// Refused handshakes are anyone's to cause: mtguard's log has them, at debug level.
	if !strings.Contains(logs.String(), `{"level":"debug","listener":"admin.tls"`) || !strings.Contains(logs.String(), "client offered only unsupported versions") {
		t.Errorf("refused handshakes are not in the debug log:\n%s", logs)
	}
}

// TestCheckConfigTLS: check-config reports a pair that does not load with the file's line.
func TestCheckConfigTLS(t *testing.T) {
	dir := t.TempDir()
	ca := newTestCA(t, dir)
	ca.issue(t, "a", filepath.Join(dir, "a.crt"), filepath.Join(dir, "a.key"))
	ca.issue(t, "b", filepath.Join(dir, "b.crt"), filepath.Join(dir, "b.key"))
	path := filepath.Join(dir, "mtguard.yaml")
	write := func(tlsLine string) {
		t.Helper()
		data := yamlLines("listen: 127.0.0.1:8443", tlsLine, "routes:", "  - {name: crm, prefix: /crm, upstream: http://127.0.0.1:9000}")
		if err := os.WriteFile(path, data, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	check := func() (string, error) {
		var out, errOut strings.Builder
		err := run(context.Background(), []string{"mtguard", "check-config", path}, &out, &errOut, func(string) string { return "" })
		return out.String() + errOut.String(), err
	}
	write("tls: {cert: a.crt, key: b.key}")
	if out, err := check(); err == nil || !strings.Contains(err.Error(), path+":2: tls: the key in "+filepath.Join(dir, "b.key")+" does not belong to the certificate") {
		t.Errorf("mismatched pair: %v\n%s", err, out)
	}
	write("tls: {cert: a.crt, key: a.key}")
	if out, err := check(); err != nil || !strings.Contains(out, ": ok") {
		t.Errorf("good pair: %v\n%s", err, out)
	}
}
