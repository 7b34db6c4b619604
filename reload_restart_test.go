package main

import (
	"slices"
	"testing"

	"github.com/mtguard/mtguard/config"
)

// TestNeedsRestartNamesEnginesBuiltAtStart: journeys, drift and read-back are built once at
// start, so a reload that changes them must say they need a restart rather than ignore them.
func TestNeedsRestartNamesEnginesBuiltAtStart(t *testing.T) {
	const base = `
routes:
  - name: form
    prefix: /form
    upstream: https://forms.example.com
    record_keys: [email]
  - name: crm
    prefix: /crm
    upstream: https://crm.example.com
    record_keys: [email]
`
	parse := func(t *testing.T, src string) *config.Config {
		t.Helper()
		cfg, err := config.Parse("mtguard.yaml", []byte(src))
		if err != nil {
			t.Fatal(err)
		}
		return cfg
	}
	boot := parse(t, base)
	cases := []struct {
		name, next string
		want       string
	}{
		{"journey added", base + "journeys:\n  - {name: lead, key: email, steps: [form, crm], within: 30m}\n", "journeys"},
		{"drift on a route", base + "    drift: {learn: 1h}\n", "a route's drift"},
		{"drills off", base + "    drills: false\n", "a route's drills"},
		{"nothing", base, ""},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			got := needsRestart(boot, parse(t, tc.next), nil, nil)
			if tc.want == "" {
				if len(got) != 0 {
					t.Fatalf("needs restart: %v, want nothing", got)
				}
				return
			}
			if !slices.Contains(got, tc.want) {
				t.Fatalf("needs restart: %v, want it to name %q", got, tc.want)
			}
		})
	}
}
