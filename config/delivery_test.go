package config

import (
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"
)

// TestParseDeliveryErrors: every mistake in a delivery block names its line and key and says
// what to write instead.
func TestParseDeliveryErrors(t *testing.T) {
	route := func(preset string, lines ...string) []byte {
		head := []string{"routes:", "  - name: r", "    prefix: /r", "    upstream: https://api.example.com"}
		if preset != "" {
			head = append(head, "    preset: "+preset)
		}
		return yamlLines(append(append(head, "    delivery:"), lines...)...)
	}
	tests := []struct {
		name string
		data []byte
		line int
		key  string
		msg  string
	}{
		{"an unknown retry condition", route("", "      retry: {on: [unreachable, 418]}"),
			6, "routes[0].delivery.retry.on[1]", `"418" is not a retry condition (known: unreachable, timeout, 429, 503, 5xx, ratelimit, quota, throttled)`},
		{"backoff min over max", route("", "      retry: {backoff: 10m..1s}"),
			6, "routes[0].delivery.retry.backoff", `"10m..1s": the minimum 10m0s is more than the maximum 1s; write min..max`},
		{"backoff that is not a range", route("", "      retry: {backoff: 5s}"),
			6, "routes[0].delivery.retry.backoff", `"5s" is not a backoff range (write min..max, e.g. 1s..10m)`},
		{"an unknown mode", route("", "      mode: later"),
			6, "routes[0].delivery.mode", `"later"`},
		{"queue mode on a preset whose creates answer with the new id", route("hubspot", "      mode: queue"),
			7, "routes[0].delivery.mode", "preset hubspot says the vendor's answer to POST /crm/v3/objects/*/batch/create, POST /crm/v3/objects/* carries data the tool needs"},
		{"accept without queue mode", route("", "      accept: {status: 202}"),
			6, "routes[0].delivery.accept", "accept is the answer of a queued call; it needs mode: queue"},
		{"within in queue mode", route("", "      mode: queue", "      retry: {within: 10s}"),
			7, "routes[0].delivery.retry.within", "in mode: queue the tool does not wait"},
		{"an accept status that is not 2xx", route("", "      mode: queue", "      accept: {status: 500}"),
			7, "routes[0].delivery.accept.status", "500: a queued call is answered with a 2xx status"},
		{"redeliver that is not auto", route("", "      redeliver: always"),
			6, "routes[0].delivery.redeliver", `"always" is not an option`},
		{"an unknown key", route("", "      give_up: 1h"),
			6, "routes[0].delivery.give_up", "unknown key"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg, err := Parse("mtguard.yaml", tt.data)
			if err == nil {
				t.Fatalf("Parse succeeded with %+v, want an error", cfg.Routes[0].Delivery)
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
			t.Errorf("error:\n%v\nwant a line starting %q containing %q", err, prefix, tt.msg)
		})
	}
}

// TestParseDelivery: the example parses to what it says, and accept: given makes queue
// mode acceptable on a preset whose creates answer with data.
func TestParseDelivery(t *testing.T) {
	cfg, err := Parse("mtguard.yaml", yamlLines(
		"routes:",
		"  - name: segment",
		"    prefix: /segment",
		"    preset: segment",
		"    delivery:",
		"      mode: queue",
		`      accept: {status: 202, body: '{"queued": true, "id": "{id}"}'}`,
		"      retry: {on: [unreachable, timeout, 429, 5xx, ratelimit, quota], attempts: 12, backoff: 1s..10m, jitter: true}",
		"      give_up_after: 72h",
		"  - name: hubspot",
		"    prefix: /hubspot",
		"    preset: hubspot",
		"    delivery:",
		"      mode: inline",
		"      retry: {on: [unreachable, 429, 503], attempts: 3, within: 10s}",
		"      redeliver: auto",
		"  - name: hs-forms",
		"    prefix: /hs-forms",
		"    preset: hubspot",
		"    delivery: {mode: queue, accept: {status: 204}, idempotency_header: idempotency-key}",
	))
	if err != nil {
		t.Fatal(err)
	}
	seg, hs, forms := cfg.Routes[0].Delivery, cfg.Routes[1].Delivery, cfg.Routes[2].Delivery
	if !seg.Queued() || !seg.Background() || seg.Retry.Attempts != 12 || seg.Retry.BackoffMin != time.Second || seg.Retry.BackoffMax != 10*time.Minute ||
		!seg.Retry.Jitter || seg.GiveUpAfter != 72*time.Hour || seg.Accept.BodyFor("x1") != `{"queued": true, "id": "x1"}` || seg.Accept.Status != 202 {
		t.Errorf("segment: %+v", seg)
	}
	if !slices.Equal(seg.Retry.On, []string{"unreachable", "timeout", "429", "5xx", "ratelimit", "quota"}) {
		t.Errorf("segment retries on %v", seg.Retry.On)
	}
	if hs.Queued() || !hs.Background() || hs.Retry.Attempts != 3 || hs.Retry.Within != 10*time.Second || !hs.Retry.Retries("503") || hs.Retry.Retries("timeout") {
		t.Errorf("hubspot: %+v", hs)
	}
	if !forms.Queued() || forms.Accept.Status != 204 || forms.IdempotencyHeader != "Idempotency-Key" {
		t.Errorf("hs-forms: %+v", forms)
	}
	if cfg.Routes[0].Vendor == nil || len(cfg.Routes[0].Vendor.Delivery) == 0 {
		t.Errorf("the segment preset declares no delivery operations")
	}
}

// TestParseTiers: a route picks a tier its preset documents (HubSpot Professional: 190 per
// 10 s) and may then only tighten it; an unknown tier is refused with the known ones; a limit
// above the preset's is refused unless the route states it was granted.
func TestParseTiers(t *testing.T) {
	route := func(limits string) []byte {
		return yamlLines("routes:", "  - name: hs", "    prefix: /hs", "    preset: hubspot", "    limits: "+limits)
	}
	burst := func(cfg *Config) int {
		for _, w := range cfg.Routes[0].Vendor.Limits.Windows {
			if w.Per == 10*time.Second && len(w.Paths) == 0 {
				return w.Requests
			}
		}
		return 0
	}
	for _, tt := range []struct {
		limits string
		want   int
		err    string
	}{
		{"{tier: professional}", 190, ""},
		{"{tier: professional, windows: [{requests: 150, per: 10s}]}", 150, ""},
		{"{windows: [{requests: 300, per: 10s}], granted: true}", 300, ""},
		{"{tier: professional, windows: [{requests: 250, per: 10s}]}", 0, "250 per 10s is more than preset hubspot allows (190 per 10s"},
		{"{windows: [{requests: 190, per: 10s}]}", 0, "190 per 10s is more than preset hubspot allows (100 per 10s"},
		{"{tier: platinum}", 0, `mtguard.yaml:5: routes[0].limits.tier: preset hubspot has no tier "platinum" (known: api-limit-increase, enterprise, free, professional, starter)`},
	} {
		t.Run(tt.limits, func(t *testing.T) {
			cfg, err := Parse("mtguard.yaml", route(tt.limits))
			if tt.err != "" {
				if err == nil || !strings.Contains(err.Error(), tt.err) {
					t.Fatalf("error %v, want one containing %q", err, tt.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if got := burst(cfg); got != tt.want {
				t.Errorf("burst window %d per 10s, want %d", got, tt.want)
			}
		})
	}
}
