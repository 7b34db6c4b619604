package main

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/mtguard/mtguard/cli"
	"github.com/mtguard/mtguard/config"
	"github.com/mtguard/mtguard/inspect"
	"github.com/mtguard/mtguard/proxy"
)

func TestAlertSinksNeedTheirVariables(t *testing.T) {
	cfg, err := config.Parse("mtguard.yaml", yamlLines(
		"alerts:",
		"  sinks:",
		"    - {name: ops-slack, type: slack, url_env: SLACK_WEBHOOK_URL}",
		"    - {name: pager, type: pagerduty, routing_key_env: PD_ROUTING_KEY}",
		"    - {name: hook, type: webhook, url: https://hooks.example.com/mtguard, secret_env: HOOK_SECRET}",
		"routes:",
		"  - {name: crm, prefix: /crm, upstream: http://127.0.0.1:9000}",
	))
	if err != nil {
		t.Fatal(err)
	}
	env := map[string]string{"SLACK_WEBHOOK_URL": "https://hooks.slack.com/services/T/B/SECRET", "PD_ROUTING_KEY": "KEY"}
	_, err = alertSinks(cfg.Alerts.Sinks, func(k string) string { return env[k] })
	if err == nil || err.Error() != "alerts.sinks hook: secret_env names HOOK_SECRET, but that environment variable is empty; set it to the secret the webhook's signatures are checked with" {
		t.Fatalf("err %v", err)
	}
	env["HOOK_SECRET"] = "s3cret"
	sinks, err := alertSinks(cfg.Alerts.Sinks, func(k string) string { return env[k] })
	if err != nil || len(sinks) != 3 || sinks[0].Name() != "ops-slack" || sinks[2].Name() != "hook" {
		t.Fatalf("sinks %v, %v", sinks, err)
	}
}

// TestContractsCompileFromConfigFolder checks that pinned files are read relative to the config
// file and that a broken schema is reported with its pin, line, file and JSON pointer.
func TestContractsCompileFromConfigFolder(t *testing.T) {
	dir := t.TempDir()
	if err := os.MkdirAll(filepath.Join(dir, "schemas"), 0o755); err != nil {
		t.Fatal(err)
	}
	write := func(name, body string) {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	write("schemas/lead.json", `{"type":"object","required":["email"],"properties":{"email":{"type":"string","format":"email"}}}`)
	write("schemas/typo.json", `{"type":"object","properties":{"email":{"type":"sting"}}}`)
	cfgText := func(file string) string {
		return string(yamlLines(
			"routes:",
			"  - name: hubspot",
			"    prefix: /hubspot",
			"    upstream: https://api.hubapi.com",
			"    contracts:",
			"      mode: enforce",
			"      builtin: [hubspot]",
			"      pins:",
			"        - match: POST /leads",
			"          request: "+file,
		))
	}
	write("mtguard.yaml", cfgText("schemas/lead.json"))
	// Load from another working directory: the path is the config's, not the process's.
	cfg, err := config.Load(filepath.Join(dir, "mtguard.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	if got := cfg.Routes[0].Contracts.Pins[0].Request; got != filepath.Join(dir, "schemas/lead.json") {
		t.Errorf("request path %q", got)
	}
	checks, err := routeChecks(cfg.Routes[0], nil)
	if err != nil {
		t.Fatal(err)
	}
	if len(checks.Request) != 1 || len(checks.Response) != 1 {
		t.Errorf("checks: %d request, %d response", len(checks.Request), len(checks.Response))
	}

	write("mtguard.yaml", cfgText("schemas/typo.json"))
	var out, errOut strings.Builder
	err = run(t.Context(), []string{"mtguard", "check-config", filepath.Join(dir, "mtguard.yaml")}, &out, &errOut, func(string) string { return "" })
	want := `route hubspot: routes[0].contracts.pins[0] (line 9): request: ` + filepath.Join(dir, "schemas/typo.json") + ` is not a valid JSON Schema: /properties/email/type: `
	if err == nil || !strings.Contains(err.Error(), want) {
		t.Errorf("check-config: got %v\nwant it to contain %q", err, want)
	}

	write("mtguard.yaml", cfgText("schemas/missing.json"))
	err = run(t.Context(), []string{"mtguard", "check-config", filepath.Join(dir, "mtguard.yaml")}, &out, &errOut, func(string) string { return "" })
	if err == nil || !strings.Contains(err.Error(), "missing.json") || !strings.Contains(err.Error(), "no such file") {
		t.Errorf("missing file: %v", err)
	}
}

func TestForwardSettings(t *testing.T) {
	dir := t.TempDir()
	var out, errOut strings.Builder
	cert, key := filepath.Join(dir, "ca.pem"), filepath.Join(dir, "ca-key.pem")
	if err := cli.CA([]string{"init", "--cert", cert, "--key", key}, &out, &errOut); err != nil {
		t.Fatal(err)
	}
	fc := config.Forward{Listen: "127.0.0.1:0", CA: config.ForwardCA{Cert: cert, Key: key}, UnknownHosts: "refuse",
		ProxyAuth: &config.ProxyAuth{UsernameEnv: "U", PasswordEnv: "P"}}
	env := map[string]string{"U": "tool"}
	if _, err := forwardSettings(fc, func(k string) string { return env[k] }); err == nil || !strings.Contains(err.Error(), "password_env names P") {
		t.Errorf("missing password env: %v", err)
	}
	env["P"] = "pw"
	s, err := forwardSettings(fc, func(k string) string { return env[k] })
	if err != nil {
		t.Fatal(err)
	}
	if s.CA == nil || *s.Auth != (proxy.ProxyAuth{Username: "tool", Password: "pw"}) {
		t.Errorf("settings %+v", s)
	}
	fc.CA.Key = filepath.Join(dir, "missing.pem")
	if _, err := forwardSettings(fc, func(k string) string { return env[k] }); err == nil || !strings.Contains(err.Error(), "mtguard ca init") {
		t.Errorf("missing CA key: %v", err)
	}
	if s, err := forwardSettings(config.Forward{}, nil); s != nil || err != nil {
		t.Errorf("forward off: %v %v", s, err)
	}

	// upstream_ca must hold certificates; without it the pipeline keeps its default transport.
	if tr, err := upstreamTransport(config.Forward{}); tr != nil || err != nil {
		t.Errorf("no upstream_ca: %v %v", tr, err)
	}
	os.WriteFile(filepath.Join(dir, "empty.pem"), []byte("not a certificate"), 0o644)
	if _, err := upstreamTransport(config.Forward{UpstreamCA: filepath.Join(dir, "empty.pem")}); err == nil || !strings.Contains(err.Error(), "no PEM certificate") {
		t.Errorf("upstream_ca without certificates: %v", err)
	}
	if tr, err := upstreamTransport(config.Forward{UpstreamCA: cert}); err != nil || tr == nil {
		t.Errorf("upstream_ca: %v %v", tr, err)
	}
}

// TestParseConfigLimits checks the limits each route ends up with: the preset's, merged with
// the route's own, as the limiter takes them.
func TestParseConfigLimits(t *testing.T) {
	cfg, err := config.Parse("mtguard.yaml", yamlLines(
		"routes:",
		"  - name: marketo", // the example
		"    prefix: /marketo",
		"    upstream: https://1.mktorest.com",
		"    preset: marketo",
		"    limits:",
		"      group: marketo-prod",
		`      windows: [{requests: 100, per: 20s}, {requests: 50000, per: 24h, resets: "00:00 America/Chicago"}]`,
		"      concurrency: 10",
		"      max_wait: 30s",
		"  - name: marketo-bulk", // shares the account
		"    prefix: /marketo-bulk",
		"    upstream: https://1.mktorest.com",
		"    preset: marketo",
		"    limits: {group: marketo-prod, windows: [{requests: 50000, per: 24h, resets: \"00:00 America/Chicago\"}]}",
		"  - name: mkto-default", // the preset alone
		"    prefix: /mkto",
		"    upstream: https://2.mktorest.com",
		"    preset: marketo",
		"  - name: tight", // a route may tighten
		"    prefix: /tight",
		"    upstream: https://3.mktorest.com",
		"    preset: marketo",
		"    limits:",
		"      windows: [{requests: 50, per: 20s}, {requests: 5, per: 1s}]",
		"      concurrency: 4",
		"      max_wait: 2s",
		"  - name: salesforce", // a rolling quota slides
		"    prefix: /sf",
		"    upstream: https://x.my.salesforce.com",
		"    preset: salesforce",
		"  - name: hubspot", // path windows are left out; a quota in the account's zone rolls
		"    prefix: /hubspot",
		"    preset: hubspot",
		"  - name: hubspot-berlin",
		"    prefix: /hubspot-berlin",
		"    preset: hubspot",
		"    limits: {quota: {requests: 625000, resets: \"00:00\", zone: Europe/Berlin}}",
		"  - name: own", // no preset: only the route's
		"    prefix: /own",
		"    upstream: http://127.0.0.1:9000",
		"    limits:",
		"      windows: [{requests: 250, per: 1h, resets: \"00:00 UTC\"}]",
		"  - name: plain", // nothing: a group that only pauses
		"    prefix: /plain",
		"    upstream: http://127.0.0.1:9001",
	))
	if err != nil {
		t.Fatal(err)
	}
	groups, routesOf := limitGroups(cfg.Routes)
	byName := map[string]proxy.LimitGroup{}
	var names []string
	for _, g := range groups {
		byName[g.Name] = g
		names = append(names, g.Name)
	}
	if got := strings.Join(names, ","); got != "marketo-prod,mkto-default,tight,salesforce,hubspot,hubspot-berlin,own,plain" {
		t.Fatalf("groups = %s", got)
	}
	if got := strings.Join(routesOf["marketo-prod"], ","); got != "marketo,marketo-bulk" {
		t.Errorf("routes of marketo-prod = %s", got)
	}
	// 2026-11-28 09:00 UTC is 03:00 in Chicago and 10:00 in Berlin.
	now := time.Date(2026, 11, 28, 9, 0, 0, 0, time.UTC)
	chicagoMidnight := time.Date(2026, 11, 29, 6, 0, 0, 0, time.UTC)
	tests := []struct {
		group       string
		windows     string
		concurrency int
		maxWait     time.Duration
	}{
		{"marketo-prod", "100/20s, 50000/24h0m0s until 2026-11-29T06:00:00Z", 10, 30 * time.Second},
		{"mkto-default", "100/20s, 50000/24h0m0s until 2026-11-29T06:00:00Z", 10, proxy.DefaultMaxWait},
		{"tight", "50/20s, 5/1s, 50000/24h0m0s until 2026-11-29T06:00:00Z", 4, 2 * time.Second},
		{"salesforce", "100000/24h0m0s", 25, proxy.DefaultMaxWait},
		{"hubspot", "100/10s, 250000/24h0m0s", 0, proxy.DefaultMaxWait},
		{"hubspot-berlin", "100/10s, 625000/24h0m0s until 2026-11-28T23:00:00Z", 0, proxy.DefaultMaxWait},
		{"own", "250/1h0m0s until 2026-11-28T10:00:00Z", 0, proxy.DefaultMaxWait},
		{"plain", "", 0, proxy.DefaultMaxWait},
	}
	for _, tt := range tests {
		g := byName[tt.group]
		var ws []string
		for _, w := range g.Windows {
			s := fmt.Sprintf("%d/%s", w.Requests, w.Per)
			if w.Reset != nil {
				s += " until " + w.Reset(now).UTC().Format(time.RFC3339)
			}
			ws = append(ws, s)
		}
		if got := strings.Join(ws, ", "); got != tt.windows || g.Concurrency != tt.concurrency || g.MaxWait != tt.maxWait {
			t.Errorf("group %s = windows %q, concurrency %d, max_wait %s; want %q, %d, %s", tt.group, got, g.Concurrency, g.MaxWait, tt.windows, tt.concurrency, tt.maxWait)
		}
	}
	if r := byName["marketo-prod"].Windows[1].Reset; !r(chicagoMidnight).Equal(chicagoMidnight.Add(24 * time.Hour)) {
		t.Errorf("at the reset, the next reset is %v; want a day later", r(chicagoMidnight))
	}
	routes, err := proxyRoutes(cfg.Routes, func(string) string { return "" })
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range routes {
		want := r.Name
		if strings.HasPrefix(r.Name, "marketo") {
			want = "marketo-prod"
		}
		if r.LimitGroup != want {
			t.Errorf("route %s spends group %q, want %q", r.Name, r.LimitGroup, want)
		}
		if r.Name == "own" && !r.Checks.Empty() {
			t.Error("a route with only limits has nothing to check; it should keep the fast path")
		}
	}
}

// TestReadmeThrottling keeps docs/throttling.md true: its first config example parses to the
// limits it describes, and its error example is what check-config says.
func TestReadmeThrottling(t *testing.T) {
	raw, err := os.ReadFile("docs/throttling.md")
	if err != nil {
		t.Fatal(err)
	}
	section := string(raw)
	_, example, _ := strings.Cut(section, "```yaml\n")
	example, _, _ = strings.Cut(example, "```")
	cfg, err := config.Parse("docs/throttling.md", []byte(example))
	if err != nil {
		t.Fatalf("the docs/throttling.md example: %v\n%s", err, example)
	}
	groups, _ := limitGroups(cfg.Routes)
	if len(groups) != 1 || groups[0].Name != "marketo-prod" || len(groups[0].Windows) != 2 || groups[0].Windows[1].Reset == nil || groups[0].Concurrency != 10 {
		t.Errorf("the docs/throttling.md example's limits = %+v", groups)
	}
	_, errExample, _ := strings.Cut(section, "```\nmtguard.yaml:")
	errExample, _, _ = strings.Cut(errExample, "\n")
	_, msg, _ := strings.Cut(errExample, "requests: ")
	loose := strings.Replace(example, "{requests: 100, per: 20s}", "{requests: 150, per: 20s}", 1)
	if _, err := config.Parse("mtguard.yaml", []byte(loose)); err == nil || msg == "" || !strings.Contains(err.Error(), msg) {
		t.Errorf("docs/throttling.md's error example %q is not what check-config says: %v", msg, err)
	}
}

// TestSecretsReadOnce: startServer reads each variable it needs once, and refuses a route whose
// credential variable is empty before anything listens.
func TestSecretsReadOnce(t *testing.T) {
	cfg, err := config.Parse("mtguard.yaml", yamlLines(
		"admin: {listen: 127.0.0.1:0, token_env: ADMIN_TOKEN}",
		"routes:",
		"  - name: crm",
		"    prefix: /crm",
		"    upstream: http://127.0.0.1:9000",
		"    record_keys: [email]",
		"    auth: {header: Authorization, value_env: CRM_TOKEN}",
	))
	if err != nil {
		t.Fatal(err)
	}
	for _, tt := range []struct {
		name    string
		env     map[string]string
		wantErr string
	}{
		{"all set", map[string]string{"ADMIN_TOKEN": "a", "CRM_TOKEN": "Bearer c"}, ""},
		{"credential empty", map[string]string{"ADMIN_TOKEN": "a"}, "auth.value_env names CRM_TOKEN, but that environment variable is empty"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			reads := map[string]int{}
			sec, err := readSecrets(cfg, func(k string) string { reads[k]++; return tt.env[k] })
			if tt.wantErr == "" && err != nil || tt.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tt.wantErr)) {
				t.Fatalf("err = %v, want %q", err, tt.wantErr)
			}
			for k, n := range reads {
				if n != 1 {
					t.Errorf("%s read %d times", k, n)
				}
			}
			if tt.wantErr == "" && (len(sec.adminCreds) != 1 || sec.adminCreds[0].Value != "a" || sec.adminCreds[0].Role != inspect.RoleAdmin || sec.routes[0].Auth == nil || sec.routes[0].Auth.Value != "Bearer c") {
				t.Errorf("secrets = %+v", sec)
			}
		})
	}
}
