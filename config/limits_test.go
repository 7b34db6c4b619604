package config

import (
	"errors"
	"fmt"
	"strings"
	"testing"
)

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
			7, "routes[0].limits.max_wiat", "unknown key (known keys: doc, windows, quota, concurrency, group, max_wait, probe_every, tier, granted)"},
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
			cfg, err := Parse("mtguard.yaml", tt.data)
			if err == nil {
				t.Fatalf("Parse succeeded with %+v, want an error", cfg.Routes)
			}
			var ce *Error
			if !errors.As(err, &ce) {
				t.Fatalf("error %T is not a *Error: %v", err, err)
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
