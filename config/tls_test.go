package config

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"math/big"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// writeSelfSigned writes a self-signed certificate for localhost valid until notAfter and its
// key to dir/name.crt and dir/name.key.
func writeSelfSigned(t *testing.T, dir, name string, notAfter time.Time) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1),
		Subject:      pkix.Name{CommonName: "localhost"},
		DNSNames:     []string{"localhost"},
		NotBefore:    notAfter.Add(-48 * time.Hour),
		NotAfter:     notAfter,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	kder, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	write := func(file, typ string, b []byte) {
		if err := os.WriteFile(filepath.Join(dir, file), pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: b}), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	write(name+".crt", "CERTIFICATE", der)
	write(name+".key", "PRIVATE KEY", kder)
}

// tlsConfigFile writes a config file with the given lines (and a valid route) into dir.
func tlsConfigFile(t *testing.T, dir string, lines ...string) string {
	t.Helper()
	path := filepath.Join(dir, "mtguard.yaml")
	if err := os.WriteFile(path, withRoute(lines...), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

func TestLoadConfigTLS(t *testing.T) {
	dir := t.TempDir()
	writeSelfSigned(t, dir, "data", time.Now().Add(24*time.Hour))
	writeSelfSigned(t, dir, "admin", time.Now().Add(24*time.Hour))
	cfg, err := Load(tlsConfigFile(t, dir,
		"listen: 0.0.0.0:8443",
		"tls: {cert: data.crt, key: ./data.key}",
		"admin:",
		"  tls:",
		"    cert: "+filepath.Join(dir, "admin.crt"),
		"    key: admin.key",
	))
	if err != nil {
		t.Fatal(err)
	}
	if got := cfg.TLS; got == nil || got.Cert != filepath.Join(dir, "data.crt") || got.Key != filepath.Join(dir, "data.key") || got.Line != 2 {
		t.Errorf("tls = %+v; want the files resolved against the config's folder, line 2", got)
	}
	if got := cfg.Admin.TLS; got == nil || got.Cert != filepath.Join(dir, "admin.crt") || got.Key != filepath.Join(dir, "admin.key") || got.CertLine != 5 || got.KeyLine != 6 {
		t.Errorf("admin.tls = %+v", got)
	}

	cfg, err = Load(tlsConfigFile(t, dir))
	if err != nil {
		t.Fatal(err)
	}
	if cfg.TLS != nil || cfg.Admin.TLS != nil {
		t.Errorf("TLS without a tls: block: %+v %+v", cfg.TLS, cfg.Admin.TLS)
	}
}

// TestLoadConfigTLSErrors: a pair that does not load is reported with the line and key of the
// file at fault (the block's own line when it is the pair), and what to do.
func TestLoadConfigTLSErrors(t *testing.T) {
	dir := t.TempDir()
	writeSelfSigned(t, dir, "good", time.Now().Add(24*time.Hour))
	writeSelfSigned(t, dir, "other", time.Now().Add(24*time.Hour))
	writeSelfSigned(t, dir, "old", time.Now().Add(-time.Hour))
	if err := os.Mkdir(filepath.Join(dir, "folder.key"), 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "secret.key"), nil, 0o600); err != nil {
		t.Fatal(err)
	}
	raw, _ := os.ReadFile(filepath.Join(dir, "good.key"))
	if err := os.WriteFile(filepath.Join(dir, "locked.key"), raw, 0o000); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name  string
		lines []string
		line  int
		key   string
		msg   string
		root  bool // whether the case holds when run as root
	}{
		{
			name:  "missing key file",
			lines: []string{"tls:", "  cert: good.crt", "  key: nothere.key"},
			line:  3, key: "tls.key", msg: filepath.Join(dir, "nothere.key") + " does not exist; name the file of the private key",
			root: true,
		},
		{
			name:  "missing cert file",
			lines: []string{"admin:", "  tls: {cert: /nonexistent/tls.crt, key: good.key}"},
			line:  2, key: "admin.tls.cert", msg: "/nonexistent/tls.crt does not exist",
			root: true,
		},
		{
			name:  "key is a folder",
			lines: []string{"tls:", "  cert: good.crt", "  key: folder.key"},
			line:  3, key: "tls.key", msg: "cannot read " + filepath.Join(dir, "folder.key") + " (is a directory)",
			root: true,
		},
		{
			name:  "unreadable key",
			lines: []string{"tls:", "  cert: good.crt", "  key: locked.key"},
			line:  3, key: "tls.key", msg: "cannot read " + filepath.Join(dir, "locked.key") + " (permission denied); make it readable by the user serve runs as",
		},
		{
			name:  "cert and key do not match",
			lines: []string{"listen: 127.0.0.1:8443", "tls:", "  cert: good.crt", "  key: other.key"},
			line:  3, key: "tls", msg: "the key in " + filepath.Join(dir, "other.key") + " does not belong to the certificate in " + filepath.Join(dir, "good.crt"),
			root: true,
		},
		{
			name:  "admin cert and key do not match",
			lines: []string{"admin:", "  listen: 127.0.0.1:9443", "  tls: {cert: other.crt, key: good.key}"},
			line:  3, key: "admin.tls", msg: "does not belong to the certificate",
			root: true,
		},
		{
			name:  "files swapped",
			lines: []string{"tls:", "  cert: good.key", "  key: good.crt"},
			line:  2, key: "tls.cert", msg: "holds no PEM certificate (-----BEGIN CERTIFICATE-----); is it the key?",
			root: true,
		},
		{
			name:  "empty key file",
			lines: []string{"tls:", "  cert: good.crt", "  key: secret.key"},
			line:  3, key: "tls.key", msg: "holds no PEM private key",
			root: true,
		},
		{
			name:  "expired certificate",
			lines: []string{"tls:", "  cert: old.crt", "  key: old.key"},
			line:  2, key: "tls.cert", msg: "expired on",
			root: true,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if !tt.root && os.Geteuid() == 0 {
				t.Skip("root reads every file")
			}
			path := tlsConfigFile(t, dir, tt.lines...)
			_, err := Load(path)
			var ce *Error
			if !errors.As(err, &ce) {
				t.Fatalf("Load = %v, want a *config.Error", err)
			}
			if len(ce.Problems) != 1 {
				t.Fatalf("problems: %v, want one", err)
			}
			p := ce.Problems[0]
			if p.Line != tt.line || p.Key != tt.key || !strings.Contains(p.Msg, tt.msg) {
				t.Errorf("got %d %s: %s\nwant %d %s: ...%s...", p.Line, p.Key, p.Msg, tt.line, tt.key, tt.msg)
			}
			if !strings.HasPrefix(err.Error(), path+":") {
				t.Errorf("message %q does not start with the file name", err)
			}
		})
	}

	// Both listeners' problems, sorted by line.
	_, err := Load(tlsConfigFile(t, dir,
		"admin: {tls: {cert: good.crt, key: other.key}}",
		"tls: {cert: good.crt, key: nothere.key}",
	))
	if err == nil || !strings.Contains(err.Error(), "mtguard.yaml:1: admin.tls: the key in") || !strings.Contains(err.Error(), "mtguard.yaml:2: tls.key: ") {
		t.Errorf("two bad pairs: %v", err)
	}
}

func TestParseConfigTLSErrors(t *testing.T) {
	tests := []struct {
		name string
		data []byte
		line int
		key  string
		msg  string
	}{
		{"key missing", withRoute("tls:", "  cert: tls.crt"), 2, "tls", "key is required (the file of the PEM private key"},
		{"cert missing", withRoute("admin:", "  tls: {key: tls.key}"), 2, "admin.tls", "cert is required"},
		{"empty path", withRoute("tls: {cert: '', key: tls.key}"), 1, "tls.cert", "empty path"},
		{"not a mapping", withRoute("tls: /etc/mtguard/tls.crt"), 1, "tls", "expected a mapping with keys cert, key"},
		{"unknown key", withRoute("tls:", "  cert: a", "  key: b", "  certs: [x]"), 4, "tls.certs", "unknown key (known keys: cert, key, acme)"},
		{"list as path", withRoute("tls: {cert: [a], key: b}"), 1, "tls.cert", "expected a single value"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Parse("mtguard.yaml", tt.data)
			var ce *Error
			if !errors.As(err, &ce) || len(ce.Problems) != 1 {
				t.Fatalf("Parse = %v, want one problem", err)
			}
			p := ce.Problems[0]
			if p.Line != tt.line || p.Key != tt.key || !strings.Contains(p.Msg, tt.msg) {
				t.Errorf("got %d %s: %s\nwant %d %s: ...%s...", p.Line, p.Key, p.Msg, tt.line, tt.key, tt.msg)
			}
		})
	}
	// Parse does not read the files: examples in the docs name files that do not exist here.
	cfg, err := Parse("mtguard.yaml", withRoute("tls: {cert: /etc/mtguard/tls.crt, key: /etc/mtguard/tls.key}"))
	if err != nil || cfg.TLS == nil || cfg.TLS.Cert != "/etc/mtguard/tls.crt" {
		t.Errorf("Parse = %+v, %v", cfg, err)
	}
}
