package main

import (
	"errors"
	"fmt"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/mtguard/mtguard/proxy"
)

// TestParseConfigLimits checks the limits each route ends up with: the preset's, merged with
// the route's own, as the limiter takes them.
func TestParseConfigLimits(t *testing.T) {
	cfg, err := ParseConfig("mtguard.yaml", yamlLines(
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

// TestParseConfigLimitsErrors: a route may tighten a vendor's limit, never loosen it, and the
// routes of a group agree; every mistake has its file, line and key.
func TestParseConfigLimitsErrors(t *testing.T) {
	route := func(lines ...string) []byte {
		return yamlLines(append([]string{"routes:", "  - name: mkto", "    prefix: /marketo", "    upstream: https://1.mktorest.com", "    preset: marketo", "    limits:"}, lines...)...)
	}
	tests := []struct {
		name string
		data []byte
		line int
		key  string
		msg  string
	}{
		{"a window looser than the preset's", route("      windows: [{requests: 150, per: 20s}]"),
			7, "routes[0].limits.windows[0].requests", `150 per 20s is more than preset marketo allows (100 per 20s, window "rate"); a route may tighten a vendor's limit, never loosen it`},
		{"a day looser than the preset's quota", route("      windows:", "        - {requests: 100, per: 20s}", `        - {requests: 60000, per: 24h, resets: "00:00 America/Chicago"}`),
			9, "routes[0].limits.windows[1].requests", "60000 per 24h is more than preset marketo allows (a quota of 50000 per 24h)"},
		{"more concurrency than the preset's", route("      concurrency: 20"),
			7, "routes[0].limits.concurrency", "20 is more than preset marketo allows (10 calls at once)"},
		{"no concurrency cap where the preset has one", route("      concurrency: 0"),
			7, "routes[0].limits.concurrency", "0 (no cap) is more than preset marketo allows (10 calls at once)"},
		{"a reset without a zone", route(`      windows: [{requests: 10, per: 24h, resets: "00:00"}]`),
			7, "routes[0].limits.windows[0].resets", `"00:00" has no time zone: write the vendor's after the time, like "00:00 America/Chicago"`},
		{"a reset in an unknown zone", route(`      windows: [{requests: 10, per: 24h, resets: "00:00 America/Chicagoo"}]`),
			7, "routes[0].limits.windows[0].resets", `"America/Chicagoo" is not a time zone`},
		{"a reset that is not a time", route(`      windows: [{requests: 10, per: 24h, resets: "midnight UTC"}]`),
			7, "routes[0].limits.windows[0].resets", `"midnight UTC" does not start with a time of day`},
		{"a reset with a period that does not divide a day", route(`      windows: [{requests: 10, per: 7h, resets: "00:00 UTC"}]`),
			7, "routes[0].limits.windows[0].per", "a window with resets: restarts every day or every part of one"},
		{"a window of nothing", route("      windows: [{requests: 0, per: 1s}]"),
			7, "routes[0].limits.windows[0].requests", "a window of 0 requests lets nothing through"},
		{"a quota of nothing", route(`      quota: {requests: 0, resets: "00:00", zone: UTC}`),
			7, "routes[0].limits.quota.requests", "a quota of 0 requests lets nothing through"},
		{"two windows of one period", route("      windows:", "        - {requests: 10, per: 1s}", "        - {requests: 5, per: 1s}"),
			9, "routes[0].limits.windows[1].per", "a second window per 1s (the first is on line 8); keep one"},
		{"a bad group name", route("      group: Marketo Prod"),
			7, "routes[0].limits.group", `"Marketo Prod" is not a group name`},
		{"a bad max_wait", route("      max_wait: 0s"),
			7, "routes[0].limits.max_wait", `"0s" is not a duration greater than zero`},
		{"an unknown key", route("      max_wiat: 5s"),
			7, "routes[0].limits.max_wiat", "unknown key (known keys: doc, windows, quota, concurrency, group, max_wait)"},
		{"routes of one group that disagree", yamlLines(
			"routes:",
			"  - {name: a, prefix: /a, upstream: https://1.mktorest.com, preset: marketo, limits: {group: mkto}}",
			"  - name: b",
			"    prefix: /b",
			"    upstream: https://1.mktorest.com",
			"    preset: marketo",
			"    limits:",
			"      group: mkto",
			"      concurrency: 5",
		), 8, "routes[1].limits.group", `route "b" shares limits group "mkto" with route "a" (line 2) but not its limits: {100 per 20s, 50000 per 24h resetting 00:00 America/Chicago; concurrency 5; max_wait 30s} here, {100 per 20s, 50000 per 24h resetting 00:00 America/Chicago; concurrency 10; max_wait 30s} there`},
		{"a group named like another route", yamlLines(
			"routes:",
			"  - {name: a, prefix: /a, upstream: https://1.mktorest.com, preset: marketo}",
			"  - {name: b, prefix: /b, upstream: http://127.0.0.1:9000, limits: {group: a}}",
		), 3, "routes[1].limits.group", `route "b" shares limits group "a" with route "a" (line 2)`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg, err := ParseConfig("mtguard.yaml", tt.data)
			if err == nil {
				t.Fatalf("ParseConfig succeeded with %+v, want an error", cfg.Routes)
			}
			var ce *ConfigError
			if !errors.As(err, &ce) {
				t.Fatalf("error %T is not a *ConfigError: %v", err, err)
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
	cfg, err := ParseConfig("docs/throttling.md", []byte(example))
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
	if _, err := ParseConfig("mtguard.yaml", []byte(loose)); err == nil || msg == "" || !strings.Contains(err.Error(), msg) {
		t.Errorf("docs/throttling.md's error example %q is not what check-config says: %v", msg, err)
	}
}
