package config

import (
	"fmt"
	"strings"
	"testing"
)

// TestQueueModeAnswerNeeded: check-config refuses mode: queue on every preset that declares an
// operation whose answer the tool needs (creates that answer with the new id, Mandrill's
// per-recipient send status), naming the line and the operations, and takes it on the presets
// whose declared operations need no answer, or when accept: is written out.
func TestQueueModeAnswerNeeded(t *testing.T) {
	tests := []struct {
		preset string
		ops    string // the operations the error names; "" = queue mode is accepted
	}{
		{"pardot", "POST /api/v5/objects/prospects, /api/prospect/version/3/do/create*, /api/prospect/version/4/do/create*"},
		{"mailchimp-transactional", "POST /messages/send*"},
		{"klaviyo", "POST /api/profiles, POST /api/profiles/"},
		{"intercom", "POST /contacts"},
		{"marketo", ""},
		{"mailchimp", ""},
		{"braze", ""},
		{"iterable", ""},
		{"ga4", ""},
		{"meta", ""},
	}
	for _, tt := range tests {
		t.Run(tt.preset, func(t *testing.T) {
			route := func(lines ...string) []byte {
				return yamlLines(append([]string{"routes:", "  - name: r", "    prefix: /r",
					"    upstream: https://api.example.com", "    preset: " + tt.preset, "    delivery:"}, lines...)...)
			}
			cfg, err := Parse("mtguard.yaml", route("      mode: queue"))
			if tt.ops == "" {
				if err != nil {
					t.Fatalf("queue mode refused: %v", err)
				}
				if !cfg.Routes[0].Delivery.Queued() || cfg.Routes[0].Vendor == nil || len(cfg.Routes[0].Vendor.Delivery) == 0 {
					t.Errorf("route %+v: want a queued route whose preset declares its operations", cfg.Routes[0])
				}
				return
			}
			want := fmt.Sprintf("mtguard.yaml:7: routes[0].delivery.mode: preset %s says the vendor's answer to %s carries data the tool needs", tt.preset, tt.ops)
			if err == nil || !strings.Contains(err.Error(), want) {
				t.Fatalf("error:\n%v\nwant it to contain %q", err, want)
			}
			if _, err := Parse("mtguard.yaml", route("      mode: queue", "      accept: {status: 202}")); err != nil {
				t.Errorf("with accept: written out: %v", err)
			}
		})
	}
}
