package config

import (
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"
)

// journeyRoutes are three routes a lead travels through, each with its own path to the email.
var journeyRoutes = []string{
	"routes:",
	"  - name: form",
	"    prefix: /form",
	"    upstream: http://127.0.0.1:9000",
	"    record_keys: [email]",
	"  - name: mkto",
	"    prefix: /mkto",
	"    upstream: http://127.0.0.1:9001",
	"    record_keys: [\"input[].email\", \"input[].id\"]",
	"  - name: sf",
	"    prefix: /sf",
	"    upstream: http://127.0.0.1:9002",
	"    record_keys: [Email]",
	"    drift: {learn: 7d}",
	"  - name: other",
	"    prefix: /other",
	"    upstream: http://127.0.0.1:9003",
}

func TestJourneysConfig(t *testing.T) {
	cfg, err := Parse("mtguard.yaml", yamlLines(append(slices.Clone(journeyRoutes),
		"journeys:",
		"  - name: webinar-lead",
		"    key: email",
		"    steps: [form, mkto, sf]",
		"    within: 30m",
		"    owner: revops@example.com",
	)...))
	if err != nil {
		t.Fatal(err)
	}
	want := Journey{Name: "webinar-lead", Key: "email", Steps: []string{"form", "mkto", "sf"}, Within: 30 * time.Minute, Owner: "revops@example.com", Line: 19}
	if len(cfg.Journeys) != 1 || fmt.Sprint(cfg.Journeys[0]) != fmt.Sprint(want) {
		t.Errorf("journeys = %+v, want %+v", cfg.Journeys, want)
	}
	if d := cfg.Routes[2].Drift; d == nil || d.Learn != 7*24*time.Hour {
		t.Errorf("drift = %+v", d)
	}
}

func TestJourneysConfigErrors(t *testing.T) {
	base := len(journeyRoutes)
	tests := []struct {
		name  string
		lines []string
		line  int
		key   string
		msg   string
	}{
		{"unknown route", []string{"  - name: j", "    key: email", "    steps: [form, marketo]", "    within: 30m"},
			base + 4, "journeys[0].steps[1]", `"marketo" is not a route; steps name routes (configured: form, mkto, sf, other)`},
		{"route without the key", []string{"  - name: j", "    key: email", "    steps: [form, other]", "    within: 30m"},
			base + 4, "journeys[0].steps[1]", `route "other" has no record key for "email"`},
		{"one step", []string{"  - name: j", "    key: email", "    steps: [form]", "    within: 30m"},
			base + 4, "journeys[0].steps", "at least two steps"},
		{"step twice", []string{"  - name: j", "    key: email", "    steps: [form, form]", "    within: 30m"},
			base + 4, "journeys[0].steps[1]", "already a step"},
		{"no within", []string{"  - name: j", "    key: email", "    steps: [form, sf]"},
			base + 2, "journeys[0]", "within is required"},
		{"bad within", []string{"  - name: j", "    key: email", "    steps: [form, sf]", "    within: soon"},
			base + 5, "journeys[0].within", "not a duration"},
		{"no key", []string{"  - name: j", "    steps: [form, sf]", "    within: 1h"},
			base + 2, "journeys[0]", "key is required"},
		{"same name", []string{"  - {name: j, key: email, steps: [form, sf], within: 1h}", "  - {name: j, key: email, steps: [form, sf], within: 1h}"},
			base + 3, "journeys[1].name", "already the name"},
		{"unknown key", []string{"  - {name: j, key: email, steps: [form, sf], within: 1h, sinks: [x]}"},
			base + 2, "journeys[0].sinks", "unknown key"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Parse("mtguard.yaml", yamlLines(append(append(slices.Clone(journeyRoutes), "journeys:"), tt.lines...)...))
			var ce *Error
			if !errors.As(err, &ce) {
				t.Fatalf("error %v", err)
			}
			prefix := fmt.Sprintf("mtguard.yaml:%d: %s: ", tt.line, tt.key)
			for _, l := range strings.Split(err.Error(), "\n") {
				if strings.HasPrefix(l, prefix) && strings.Contains(l, tt.msg) {
					return
				}
			}
			t.Errorf("no line starting %q containing %q:\n%v", prefix, tt.msg, err)
		})
	}
}

func TestDriftConfigErrors(t *testing.T) {
	lines := slices.Clone(journeyRoutes)
	lines[13] = "    drift: {learn: 0d}"
	_, err := Parse("mtguard.yaml", yamlLines(lines...))
	if err == nil || !strings.Contains(err.Error(), "mtguard.yaml:14: routes[2].drift.learn: \"0d\" is not a duration greater than zero") {
		t.Errorf("drift learn 0d: %v", err)
	}
}

func TestKeyMatches(t *testing.T) {
	for _, tt := range []struct {
		path, key string
		want      bool
	}{
		{"email", "email", true}, {"properties.email", "email", true}, {"input[].email", "email", true},
		{"Email", "email", true}, {"emails[]", "email", false}, {"input[].id", "email", false}, {"email_address", "email", false},
	} {
		if got := KeyMatches(tt.path, tt.key); got != tt.want {
			t.Errorf("KeyMatches(%q, %q) = %v", tt.path, tt.key, got)
		}
	}
}

func TestVerifyConfig(t *testing.T) {
	route := func(lines ...string) []byte {
		return yamlLines(append([]string{
			"routes:",
			"  - name: hubspot",
			"    prefix: /hs",
			"    upstream: https://api.hubapi.com",
			"    record_keys: [properties.email]",
			"    verify:",
		}, lines...)...)
	}
	cfg, err := Parse("mtguard.yaml", route(
		"      after: 2m",
		`      request: {method: GET, path: "/crm/v3/objects/contacts/{email}?idProperty=email"}`,
		`      expect: {status: 200, body: {"properties.email": "{email}"}}`,
		"      sample: 10%",
	))
	if err != nil {
		t.Fatal(err)
	}
	v := cfg.Routes[0].Verify
	if v == nil || v.After != 2*time.Minute || v.Method != "GET" || v.Status != 200 || v.Sample != 0.1 || v.Body["properties.email"] != "{email}" {
		t.Errorf("verify = %+v", v)
	}
	for _, tt := range []struct {
		name  string
		lines []string
		line  int
		key   string
		msg   string
	}{
		{"key not a record key", []string{`      request: {path: "/contacts/{id}"}`}, 7, "routes[0].verify.request.path", "{id} names no record key of the route (its record_keys: [properties.email])"},
		{"body key not a record key", []string{`      request: {path: "/contacts/{email}"}`, `      expect: {body: {"id": "{vid}"}}`}, 8, "routes[0].verify.expect.body.id", "{vid} names no record key"},
		{"sample over 100%", []string{`      request: {path: "/contacts/{email}"}`, "      sample: 150%"}, 8, "routes[0].verify.sample", "not a share between 0% and 100%"},
		{"negative sample", []string{`      request: {path: "/contacts/{email}"}`, "      sample: -5%"}, 8, "routes[0].verify.sample", "not a share between 0% and 100%"},
		{"no path", []string{"      sample: 5%"}, 7, "routes[0].verify", "request.path is required"},
		{"no placeholder", []string{`      request: {path: "/contacts"}`}, 7, "routes[0].verify.request.path", "names no record key"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Parse("mtguard.yaml", route(tt.lines...))
			prefix := fmt.Sprintf("mtguard.yaml:%d: %s: ", tt.line, tt.key)
			for _, l := range strings.Split(fmt.Sprint(err), "\n") {
				if strings.HasPrefix(l, prefix) && strings.Contains(l, tt.msg) {
					return
				}
			}
			t.Errorf("no line starting %q containing %q:\n%v", prefix, tt.msg, err)
		})
	}
}

func TestVerifyFromPreset(t *testing.T) {
	for _, preset := range []string{"hubspot", "salesforce", "klaviyo", "marketo"} {
		cfg, err := Parse("mtguard.yaml", yamlLines(
			"routes:",
			"  - name: r",
			"    prefix: /r",
			"    upstream: https://vendor.example.com",
			"    preset: "+preset,
			"    verify: {sample: 5%}",
		))
		if err != nil {
			t.Fatalf("%s: %v", preset, err)
		}
		v := cfg.Routes[0].Verify
		if v == nil || !strings.Contains(v.Path, "{email}") || v.Status != 200 || len(v.Body) != 1 || v.Sample != 0.05 {
			t.Errorf("%s: verify %+v", preset, v)
		}
	}
}
