package config

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestParseConfigACME(t *testing.T) {
	cfg, err := Parse("mtguard.yaml", withRoute(
		"tls:",
		"  acme:",
		"    domains: [Proxy.Example.com, leads.example.com]",
		"    email: ops@example.com",
		"    directory: https://acme-staging-v02.api.letsencrypt.org/directory",
		"    cache: /var/lib/mtguard/acme",
		"admin:",
		"  tls: {acme: {domains: [admin.example.com]}}",
	))
	if err != nil {
		t.Fatal(err)
	}
	a := cfg.TLS.ACME
	if cfg.TLS.Cert != "" || a == nil || strings.Join(a.Domains, ",") != "proxy.example.com,leads.example.com" || a.Email != "ops@example.com" ||
		a.Directory != "https://acme-staging-v02.api.letsencrypt.org/directory" || a.Cache != "/var/lib/mtguard/acme" || a.Line != 3 {
		t.Errorf("tls = %+v, acme = %+v", cfg.TLS, a)
	}
	if b := cfg.Admin.TLS.ACME; b == nil || b.Directory != DefaultACMEDirectory || b.Email != "" || b.Cache != "" {
		t.Errorf("admin.tls.acme = %+v; want Let's Encrypt, no email, cache left to Load", b)
	}
}

func TestLoadConfigACMECache(t *testing.T) {
	dir := t.TempDir()
	// The cache is not created by Load (check-config creates nothing) and no CA is contacted.
	cfg, err := Load(tlsConfigFile(t, dir,
		"store: {path: data/mtguard.db}",
		"tls: {acme: {domains: [proxy.example.com], directory: 'https://127.0.0.1:1/dir'}}",
		"admin:",
		"  tls: {acme: {domains: [admin.example.com], cache: certs}}",
	))
	if err != nil {
		t.Fatal(err)
	}
	if got, want := cfg.TLS.ACME.Cache, filepath.Join(dir, "data", "acme"); got != want {
		t.Errorf("default cache = %s, want %s (beside the store)", got, want)
	}
	if got, want := cfg.Admin.TLS.ACME.Cache, filepath.Join(dir, "certs"); got != want {
		t.Errorf("cache = %s, want %s (relative to the config's folder)", got, want)
	}
	if _, err := os.Stat(filepath.Join(dir, "data", "acme")); err == nil {
		t.Error("Load created the cache")
	}
}

func TestParseConfigACMEErrors(t *testing.T) {
	tests := []struct {
		name string
		data []byte
		line int
		key  string
		msg  string
	}{
		{"with cert", withRoute("tls:", "  cert: a.crt", "  key: a.key", "  acme: {domains: [a.example.com]}"), 4, "tls.acme", "acme and cert/key are alternatives"},
		{"with key only", withRoute("admin:", "  tls:", "    acme: {domains: [a.example.com]}", "    key: a.key"), 3, "admin.tls.acme", "alternatives"},
		{"no domains", withRoute("tls:", "  acme: {email: ops@example.com}"), 2, "tls.acme", "domains is required"},
		{"empty domains", withRoute("tls:", "  acme:", "    domains: []"), 3, "tls.acme.domains", "empty list"},
		{"domain scalar", withRoute("tls:", "  acme:", "    domains: a.example.com"), 3, "tls.acme.domains", "expected a list"},
		{"null acme", withRoute("tls:", "  acme:"), 2, "tls.acme", "expected a mapping"},
		{"unknown key", withRoute("tls:", "  acme:", "    domains: [a.example.com]", "    challenge: http-01"), 4, "tls.acme.challenge", "unknown key"},
		{"wildcard", withRoute("tls:", "  acme:", "    domains:", "      - a.example.com", "      - '*.example.com'"), 5, "tls.acme.domains[1]", "wildcard"},
		{"ip", withRoute("tls: {acme: {domains: [203.0.113.7]}}"), 1, "tls.acme.domains[0]", "IP address"},
		{"url", withRoute("tls: {acme: {domains: ['https://a.example.com']}}"), 1, "tls.acme.domains[0]", "write the bare name"},
		{"single label", withRoute("tls: {acme: {domains: [localhost]}}"), 1, "tls.acme.domains[0]", "fully qualified"},
		{"underscore", withRoute("tls: {acme: {domains: [a_b.example.com]}}"), 1, "tls.acme.domains[0]", "not a valid domain name"},
		{"hyphen", withRoute("tls: {acme: {domains: [-a.example.com]}}"), 1, "tls.acme.domains[0]", "not a valid domain name"},
		{"unicode", withRoute("tls: {acme: {domains: [bücher.example]}}"), 1, "tls.acme.domains[0]", "punycode"},
		{"duplicate", withRoute("tls:", "  acme:", "    domains:", "      - a.example.com", "      - A.example.com"), 5, "tls.acme.domains[1]", "listed twice (first on line 4)"},
		{"email", withRoute("tls:", "  acme:", "    domains: [a.example.com]", "    email: ops"), 4, "tls.acme.email", "not an email address"},
		{"email name", withRoute("tls: {acme: {domains: [a.example.com], email: 'Ops <ops@example.com>'}}"), 1, "tls.acme.email", "bare address"},
		{"email host", withRoute("tls: {acme: {domains: [a.example.com], email: ops@localhost}}"), 1, "tls.acme.email", "at a domain name"},
		{"http directory", withRoute("tls:", "  acme:", "    domains: [a.example.com]", "    directory: http://acme.example.com/dir"), 4, "tls.acme.directory", "not an https URL"},
		{"no host", withRoute("tls: {acme: {domains: [a.example.com], directory: 'https:///dir'}}"), 1, "tls.acme.directory", "no host"},
		{"empty cache", withRoute("tls: {acme: {domains: [a.example.com], cache: ''}}"), 1, "tls.acme.cache", "empty path"},
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
}
