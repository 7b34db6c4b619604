package config

import (
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/mtguard/mtguard/vendors"
)

// TestParseConfigPresetErrors checks that mistakes in a route's preset, versions, outcomes and
// limits are reported like every other config mistake: file, line, key, and what to write.
func TestParseConfigPresetErrors(t *testing.T) {
	route := func(lines ...string) []byte {
		return yamlLines(append([]string{"routes:", "  - name: mkto", "    prefix: /marketo"}, lines...)...)
	}
	tests := []struct {
		name string
		data []byte
		line int
		key  string
		msg  string
	}{
		{"unknown preset", route("    upstream: https://1.mktorest.com", "    preset: marketoo"),
			5, "routes[0].preset", `"marketoo" is not a preset (presets: braze,`},
		{"preset without a default upstream", route("    preset: marketo"),
			2, "routes[0]", "upstream is required: preset marketo has no default"},
		{"unknown key in a version rule", route("    preset: hubspot", "    versions:", "      - name: legacy-crm", "        pinn: x"),
			7, "routes[0].versions[0].pinn", "unknown key (known keys: name, doc, off, path, header"},
		{"pin on a path rule", route("    preset: hubspot", "    versions:", "      - name: legacy-crm", `        pin: "3"`),
			6, "routes[0].versions[0].pin", `version rule "legacy-crm" reads the version from the path`},
		{"switching off an unknown version rule", route("    preset: hubspot", "    versions:", "      - {name: nope, off: true}"),
			6, "routes[0].versions[0].name", `the preset has no version rule "nope" to switch off (it has: contact-lists-v1,`},
		{"bad date in a version table", route("    preset: hubspot", "    versions:", "      - name: legacy-crm", "        table:", "          - {versions: \"4\", sunset: 2027-13-01}"),
			8, "routes[0].versions[0].table[0].sunset", `"2027-13-01" is not a date (write 2026-04-30)`},
		{"unknown finding code", route("    upstream: https://1.mktorest.com", "    preset: marketo", "    outcomes:", "      - name: mine", "        when: {status: 200}", "        finding: response.silently"),
			9, "routes[0].outcomes[0].finding", `"response.silently" is not a finding code`},
		{"bad status in a rule", route("    upstream: https://1.mktorest.com", "    outcomes:", "      - name: mine", "        when: {status: 2xy}", "        outcome: failed"),
			7, "routes[0].outcomes[0].when.status", `"2xy" is not a status`},
		{"switching off an unknown rule", route("    upstream: https://1.mktorest.com", "    preset: marketo", "    outcomes:", "      - {name: nope, off: true}"),
			7, "routes[0].outcomes[0].name", `the preset has no rule "nope" to switch off`},
		{"bad limits", route("    upstream: https://1.mktorest.com", "    preset: marketo", "    limits:", "      quota: {requests: 10, resets: \"25:00\", zone: America/Chicago}"),
			7, "routes[0].limits.quota.resets", `"25:00" is not a time of day`},
		{"unknown limits key", route("    upstream: https://1.mktorest.com", "    preset: marketo", "    limits:", "      concurency: 3"),
			7, "routes[0].limits.concurency", "unknown key (known keys: doc, windows, quota, concurrency, group, max_wait, probe_every, tier, granted)"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg, err := Parse("mtguard.yaml", tt.data)
			if err == nil {
				t.Fatalf("Parse succeeded with %+v, want an error", cfg)
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

// TestParseConfigPresetDefaults checks what a preset supplies and what a route overrides.
func TestParseConfigPresetDefaults(t *testing.T) {
	cfg, err := Parse("mtguard.yaml", yamlLines(
		"routes:",
		"  - name: hubspot",
		"    prefix: /hubspot",
		"    preset: hubspot",
		"  - name: klaviyo",
		"    prefix: /klaviyo",
		"    preset: klaviyo",
		"    record_keys: [data.attributes.email]",
		"    versions:",
		`      - {name: revision, pin: "2026-07-15"}`,
		"    outcomes:",
		"      - {name: throttled, off: true}",
		"    limits:",
		"      concurrency: 4",
		"  - name: crm",
		"    prefix: /crm",
		"    upstream: http://127.0.0.1:9000",
		"  - name: own-rules",
		"    prefix: /own",
		"    upstream: http://127.0.0.1:9001",
		"    outcomes:",
		"      - name: ok-false",
		"        when: {status: 2xx, body: {ok: false}}",
		"        outcome: failed",
		"        finding: response.silent_failure",
	))
	if err != nil {
		t.Fatal(err)
	}
	hs := cfg.Routes[0]
	if hs.Upstream != "https://api.hubapi.com" || hs.Preset != "hubspot" || hs.Vendor == nil || len(hs.RecordKeys) == 0 || hs.RecordKeys[0] != "email" {
		t.Errorf("hubspot route = upstream %q, preset %q, record keys %v: want the preset's defaults", hs.Upstream, hs.Preset, hs.RecordKeys)
	}
	kl := cfg.Routes[1]
	if len(kl.RecordKeys) != 1 || kl.Vendor.Limits.Concurrency != 4 || len(kl.Vendor.Limits.Windows) == 0 {
		t.Errorf("klaviyo route = record keys %v, limits %+v: want the route's keys and concurrency, the preset's windows", kl.RecordKeys, kl.Vendor.Limits)
	}
	for _, v := range kl.Vendor.Versions {
		if v.Name == "revision" && (v.Pin != "2026-07-15" || v.Lifecycle == nil) {
			t.Errorf("revision rule = %+v: want the pin added to the preset's rule", v)
		}
	}
	if cfg.Routes[2].Vendor != nil || cfg.Routes[2].Preset != "" {
		t.Error("a route without a preset or rules has no Vendor")
	}
	own := cfg.Routes[3].Vendor
	if own == nil || len(own.Rules()) != 1 || own.Base != nil {
		t.Errorf("a route with its own rules and no preset gets exactly those rules, got %+v", own)
	}
	var _ *vendors.Preset = own
}
