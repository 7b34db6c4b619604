package config

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/mtguard/mtguard/proxy"
)

func TestParseConfigForward(t *testing.T) {
	data := yamlLines(
		"forward:",
		"  listen: 127.0.0.1:8443",
		"  ca: {cert: ./ca/mtguard-ca.pem, key: ./ca/mtguard-ca-key.pem}",
		"  unknown_hosts: tunnel",
		"  proxy_auth: {username_env: PROXY_USER, password_env: PROXY_PASSWORD}",
		"  upstream_ca: ./private-ca.pem",
		"routes:",
		"  - name: hubspot",
		"    host: API.HubAPI.com",
		"  - name: crm",
		"    prefix: /crm",
		"    host: crm.example.com:8443",
		"    upstream: https://crm.example.com:8443/v2",
		"  - name: legacy",
		"    prefix: /legacy",
		"    upstream: http://127.0.0.1:9000",
		"  - name: v6",
		"    host: '[2001:DB8::1]'",
	)
	cfg, err := Parse("mtguard.yaml", data)
	if err != nil {
		t.Fatal(err)
	}
	want := Forward{
		Listen:       "127.0.0.1:8443",
		CA:           ForwardCA{Cert: "./ca/mtguard-ca.pem", Key: "./ca/mtguard-ca-key.pem"},
		UnknownHosts: proxy.UnknownHostsTunnel,
		ProxyAuth:    &ProxyAuth{UsernameEnv: "PROXY_USER", PasswordEnv: "PROXY_PASSWORD"},
		UpstreamCA:   "./private-ca.pem",
		Line:         2,
	}
	if got := cfg.Forward; got.Listen != want.Listen || got.CA != want.CA || got.UnknownHosts != want.UnknownHosts ||
		*got.ProxyAuth != *want.ProxyAuth || got.UpstreamCA != want.UpstreamCA || got.Line != want.Line {
		t.Errorf("forward = %+v, want %+v", got, want)
	}
	routes := map[string]Route{}
	for _, r := range cfg.Routes {
		routes[r.Name] = r
	}
	for name, w := range map[string][3]string{ // prefix, host, upstream
		"hubspot": {"", "api.hubapi.com", "https://api.hubapi.com"},
		"crm":     {"/crm", "crm.example.com:8443", "https://crm.example.com:8443/v2"},
		"legacy":  {"/legacy", "", "http://127.0.0.1:9000"},
		"v6":      {"", "[2001:db8::1]", "https://[2001:db8::1]"},
	} {
		r := routes[name]
		if got := [3]string{r.Prefix, r.Host, r.Upstream}; got != w {
			t.Errorf("route %s: prefix, host, upstream = %q, want %q", name, got, w)
		}
	}

	// Defaults, and forward mode off without the block.
	cfg, err = Parse("mtguard.yaml", yamlLines("forward: {}", "routes:", "  - name: hubspot", "    host: api.hubapi.com"))
	if err != nil {
		t.Fatal(err)
	}
	if f := cfg.Forward; f.Listen != DefaultForwardListen || f.CA.Cert != DefaultCACert || f.CA.Key != DefaultCAKey || f.UnknownHosts != proxy.UnknownHostsRefuse || f.ProxyAuth != nil || f.UpstreamCA != "" {
		t.Errorf("forward defaults: %+v", f)
	}
	cfg, err = Parse("mtguard.yaml", withRoute())
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Forward.Listen != "" {
		t.Errorf("forward mode is on without a forward: block: %+v", cfg.Forward)
	}
}

func TestParseConfigForwardErrors(t *testing.T) {
	route := func(host string) []string {
		return []string{"routes:", "  - name: hubspot", "    host: " + host}
	}
	tests := []struct {
		name string
		data []byte
		line int
		key  string
		msg  string
	}{
		{"prefix or host", yamlLines("routes:", "  - name: crm", "    upstream: http://127.0.0.1:9000"),
			2, "routes[0]", "prefix or host is required"},
		{"host is a URL", yamlLines(append([]string{"forward: {}"}, route("https://api.hubapi.com")...)...),
			4, "routes[0].host", "must be a host, not a URL"},
		{"host with path", yamlLines(append([]string{"forward: {}"}, route("api.hubapi.com/v3")...)...),
			4, "routes[0].host", "plain host or host:port"},
		{"wildcard host", yamlLines(append([]string{"forward: {}"}, route("'*.hubapi.com'")...)...),
			4, "routes[0].host", "wildcards are not supported"},
		{"bad port", yamlLines(append([]string{"forward: {}"}, route("api.hubapi.com:99999")...)...),
			4, "routes[0].host", "write a number from 1 to 65535"},
		{"bare IPv6", yamlLines(append([]string{"forward: {}"}, route("'2001:db8::1'")...)...),
			4, "routes[0].host", "in brackets"},
		{"bad host name", yamlLines(append([]string{"forward: {}"}, route("api_hub.com")...)...),
			4, "routes[0].host", "not a valid host name"},
		{"duplicate host", yamlLines("forward: {}", "routes:", "  - name: a", "    host: api.hubapi.com", "  - name: b", "    host: API.hubapi.com"),
			6, "routes[1].host", `already the host of route "a" (line 4)`},
		{"host without forward block", yamlLines(route("api.hubapi.com")...),
			2, "routes[0]", "there is no forward: block"},
		{"forward without hosts", withRoute("forward:", "  listen: 127.0.0.1:8443"),
			2, "forward", "no route has a host: key"},
		{"unknown option", yamlLines(append([]string{"forward:", "  unknown_hosts: allow"}, route("a.example.com")...)...),
			2, "forward.unknown_hosts", `"allow" is not an option`},
		{"unknown key", yamlLines(append([]string{"forward:", "  insecure_skip_verify: true"}, route("a.example.com")...)...),
			2, "forward.insecure_skip_verify", "unknown key"},
		{"open proxy", yamlLines(append([]string{"forward:", "  listen: 0.0.0.0:8443", "  unknown_hosts: tunnel"}, route("a.example.com")...)...),
			3, "forward.unknown_hosts", "open proxy"},
		{"proxy_auth half", yamlLines(append([]string{"forward:", "  proxy_auth:", "    username_env: PROXY_USER"}, route("a.example.com")...)...),
			3, "forward.proxy_auth.password_env", "is required"},
		{"proxy_auth value", yamlLines(append([]string{"forward:", "  proxy_auth: {username_env: PROXY_USER, password_env: hunter2!}"}, route("a.example.com")...)...),
			2, "forward.proxy_auth.password_env", "not an environment variable name"},
		{"same port as listen", yamlLines(append([]string{"listen: 127.0.0.1:8080", "forward:", "  listen: 127.0.0.1:8080"}, route("a.example.com")...)...),
			3, "forward.listen", "give the forward proxy its own port"},
		{"same ca files", yamlLines(append([]string{"forward:", "  ca: {cert: ca.pem, key: ca.pem}"}, route("a.example.com")...)...),
			2, "forward.ca", "same file"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg, err := Parse("mtguard.yaml", tt.data)
			var ce *Error
			if !errors.As(err, &ce) {
				t.Fatalf("Parse = %+v, %v; want a *Error", cfg, err)
			}
			prefix := fmt.Sprintf("mtguard.yaml:%d: %s: ", tt.line, tt.key)
			for _, l := range strings.Split(err.Error(), "\n") {
				if strings.HasPrefix(l, prefix) && strings.Contains(l, tt.msg) {
					return
				}
			}
			t.Errorf("error has no line starting %q and containing %q; got:\n%v", prefix, tt.msg, err)
		})
	}
}

func TestLoadConfigResolvesForwardPaths(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "mtguard.yaml")
	os.WriteFile(path, yamlLines("forward:", "  upstream_ca: certs/vendors.pem", "  ca: {key: /etc/mtguard/ca-key.pem}",
		"routes:", "  - name: hubspot", "    host: api.hubapi.com"), 0o600)
	cfg, err := Load(path)
	if err != nil {
		t.Fatal(err)
	}
	f := cfg.Forward
	if f.CA.Cert != filepath.Join(dir, "mtguard-ca.pem") || f.CA.Key != "/etc/mtguard/ca-key.pem" || f.UpstreamCA != filepath.Join(dir, "certs/vendors.pem") {
		t.Errorf("resolved paths: %+v", f)
	}
}
