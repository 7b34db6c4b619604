package config

import (
	"errors"
	"fmt"
	"net/netip"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/mtguard/mtguard/alerts"
	"github.com/mtguard/mtguard/proxy"
)

// callersRoute is a route on a loopback listener whose callers: list is lines.
func callersRoute(lines ...string) []byte {
	return yamlLines(append([]string{
		"routes:",
		"  - name: forms",
		"    prefix: /forms",
		"    upstream: http://127.0.0.1:9000",
	}, lines...)...)
}

func TestParseCallers(t *testing.T) {
	cfg, err := Parse("mtguard.yaml", callersRoute(
		"    callers:",
		`      - {name: typeform, signature: {header: Typeform-Signature, secret_env: TYPEFORM_SECRET, scheme: "sha256={base64 hmac}"}}`,
		"      - {name: site, key: {header: X-Mtguard-Key, value_env: SITE_KEY}}",
		"      - {name: office, cidrs: [203.0.113.0/24, 2001:db8::/32, 198.51.100.7]}",
		"      - {name: github, signature: {header: X-Hub-Signature-256, secret_env: GH_SECRET, scheme: 'sha256={hex hmac}'}}",
	))
	if err != nil {
		t.Fatal(err)
	}
	want := []Caller{
		{Name: "typeform", Line: 6, Signature: &CallerSignature{Header: "Typeform-Signature", SecretEnv: "TYPEFORM_SECRET", Scheme: proxy.SignatureScheme{Prefix: "sha256=", Encoding: proxy.SignatureBase64}}},
		{Name: "site", Line: 7, Key: &CallerKey{Header: "X-Mtguard-Key", ValueEnv: "SITE_KEY"}},
		{Name: "office", Line: 8, CIDRs: []netip.Prefix{netip.MustParsePrefix("203.0.113.0/24"), netip.MustParsePrefix("2001:db8::/32"), netip.MustParsePrefix("198.51.100.7/32")}},
		{Name: "github", Line: 9, Signature: &CallerSignature{Header: "X-Hub-Signature-256", SecretEnv: "GH_SECRET", Scheme: proxy.SignatureScheme{Prefix: "sha256=", Encoding: proxy.SignatureHex}}},
	}
	if got := cfg.Routes[0].Callers; !reflect.DeepEqual(got, want) {
		t.Errorf("callers = %+v\nwant %+v", got, want)
	}
	if r := cfg.Routes[0].Alerts.EffectiveRules().Callers; r == nil || r.Failures != 10 || r.Per != 10*time.Minute {
		t.Errorf("default callers alert rule = %+v", r)
	}
}

func TestParseCallersErrors(t *testing.T) {
	tests := []struct {
		name string
		data []byte
		line int
		key  string
		msg  string
	}{
		{"bad cidr", callersRoute(
			"    callers:",
			"      - name: office",
			"        cidrs:",
			"          - 203.0.113.0/24",
			"          - 203.0.113.0/33",
		), 9, "routes[0].callers[0].cidrs[1]", `"203.0.113.0/33" is not a network`},
		{"cidr with host bits", callersRoute(
			"    callers:",
			"      - {name: office, cidrs: [203.0.113.9/24]}",
		), 6, "routes[0].callers[0].cidrs[0]", "write 203.0.113.0/24"},
		{"unknown scheme placeholder", callersRoute(
			"    callers:",
			"      - name: typeform",
			"        signature:",
			"          header: Typeform-Signature",
			"          secret_env: TYPEFORM_SECRET",
			`          scheme: "sha256={base32 hmac}"`,
		), 10, "routes[0].callers[0].signature.scheme", "unknown placeholder {base32 hmac}; write {base64 hmac} or {hex hmac}"},
		{"scheme without placeholder", callersRoute(
			"    callers:",
			`      - {name: t, signature: {header: X-Sig, secret_env: S, scheme: "sha256="}}`,
		), 6, "routes[0].callers[0].signature.scheme", "has no placeholder"},
		{"text after placeholder", callersRoute(
			"    callers:",
			`      - {name: t, signature: {header: X-Sig, secret_env: S, scheme: "{hex hmac},v1"}}`,
		), 6, "routes[0].callers[0].signature.scheme", "after the placeholder"},
		{"missing scheme", callersRoute(
			"    callers:",
			"      - name: t",
			"        signature: {header: X-Sig, secret_env: S}",
		), 7, "routes[0].callers[0].signature", "scheme is required"},
		{"missing key env name", callersRoute(
			"    callers:",
			"      - name: site",
			"        key:",
			"          header: X-Mtguard-Key",
		), 8, "routes[0].callers[0].key", "value_env is required"},
		{"missing secret env name", callersRoute(
			"    callers:",
			"      - name: t",
			`        signature: {header: X-Sig, scheme: "{hex hmac}"}`,
		), 7, "routes[0].callers[0].signature", "secret_env is required"},
		{"secret instead of env name", callersRoute(
			"    callers:",
			"      - name: site",
			"        key: {header: X-Mtguard-Key, value_env: s3cr3t-k3y}",
		), 7, "routes[0].callers[0].key.value_env", "is not an environment variable name"},
		{"bad header", callersRoute(
			"    callers:",
			"      - {name: site, key: {header: 'X Key', value_env: SITE_KEY}}",
		), 6, "routes[0].callers[0].key.header", "is not a header name"},
		{"missing name", callersRoute(
			"    callers:",
			"      - {cidrs: [10.0.0.0/8]}",
		), 6, "routes[0].callers[0]", "name is required"},
		{"no kind", callersRoute(
			"    callers:",
			"      - {name: office}",
		), 6, "routes[0].callers[0]", "give the caller one of key"},
		{"two kinds", callersRoute(
			"    callers:",
			"      - name: office",
			"        cidrs: [10.0.0.0/8]",
			"        key: {header: X-Mtguard-Key, value_env: SITE_KEY}",
		), 8, "routes[0].callers[0].key", "a caller has one of key, signature or cidrs"},
		{"duplicate name", callersRoute(
			"    callers:",
			"      - {name: site, cidrs: [10.0.0.0/8]}",
			"      - {name: site, cidrs: [192.168.0.0/16]}",
		), 7, "routes[0].callers[1].name", "already the name of the caller on line 6"},
		{"empty list", callersRoute(
			"    callers: []",
		), 5, "routes[0].callers", "the list is empty"},
		{"unknown key", callersRoute(
			"    callers:",
			"      - {name: site, token: {header: X-Mtguard-Key}}",
		), 6, "routes[0].callers[0].token", "unknown key (known keys: name, key, signature, cidrs)"},
		{"alert rule", callersRoute(
			"    alerts:",
			"      callers: {failures: 0}",
		), 6, "routes[0].alerts.callers.failures", ""},
		{"credential on a public listener", yamlLines(
			"listen: 0.0.0.0:8080",
			"admin: {token_env: MTGUARD_ADMIN_TOKEN}",
			"routes:",
			"  - name: crm",
			"    prefix: /crm",
			"    upstream: http://127.0.0.1:9000",
			"    auth: {header: Authorization, value_env: CRM_TOKEN}",
		), 7, "routes[0].auth", `route "crm" holds a vendor credential and is reachable from other hosts (listen 0.0.0.0:8080), so it must name its callers`},
		{"credential on a public forward listener", yamlLines(
			"admin: {token_env: MTGUARD_ADMIN_TOKEN}",
			"forward: {listen: ':8443'}",
			"routes:",
			"  - name: crm",
			"    host: api.hubapi.com",
			"    auth: {header: Authorization, value_env: CRM_TOKEN}",
		), 6, "routes[0].auth", "(forward.listen :8443), so it must name its callers"},
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

// TestCallersRequiredOnlyBeyondLoopback: a credential on a loopback listener, or one whose
// route names callers, is accepted.
func TestCallersRequiredOnlyBeyondLoopback(t *testing.T) {
	for _, listen := range []string{"127.0.0.1:8080", "0.0.0.0:8080"} {
		lines := []string{
			"listen: " + listen,
			"admin: {token_env: MTGUARD_ADMIN_TOKEN}",
			"routes:",
			"  - name: crm",
			"    prefix: /crm",
			"    upstream: http://127.0.0.1:9000",
			"    auth: {header: Authorization, value_env: CRM_TOKEN}",
		}
		if listen != "127.0.0.1:8080" {
			lines = append(lines, "    callers: [{name: office, cidrs: [10.0.0.0/8]}]")
		}
		if _, err := Parse("mtguard.yaml", yamlLines(lines...)); err != nil {
			t.Errorf("listen %s: %v", listen, err)
		}
	}
	cfg, err := Parse("mtguard.yaml", callersRoute("    alerts: {callers: {failures: 3, per: 1m}}"))
	if err != nil {
		t.Fatal(err)
	}
	if got := *cfg.Routes[0].Alerts.Rules.Callers; got != (alerts.CallersRule{Failures: 3, Per: time.Minute}) {
		t.Errorf("callers rule = %+v", got)
	}
}
