package main

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestCheckConfigWarnsAboutPinsThatNeverMatch: pins match the vendor-relative path, so a pin
// that repeats the upstream URL's own path, or a builtin vendor other than the route's preset,
// can never apply; check-config says so, and still says ok (issue 18, item 6).
func TestCheckConfigWarnsAboutPinsThatNeverMatch(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "mtguard.yaml")
	config := `
routes:
  - name: hubspot
    prefix: /hs
    upstream: http://127.0.0.1:9/hubspot
    contracts:
      pins:
        - match: POST /hubspot/crm/v3/objects/contacts/batch/upsert
          request: builtin:hubspot/crm-contacts-batch-upsert.v3.request.json
        - match: POST /crm/v3/objects/contacts
          request: builtin:hubspot/crm-contacts-create.v3.request.json
  - name: marketo
    prefix: /mkto
    upstream: https://123-ABC-456.mktorest.com
    preset: marketo
    contracts:
      builtin: [hubspot, marketo]
  - name: fine
    prefix: /fine
    upstream: http://127.0.0.1:9/hubspot/
    preset: hubspot
    contracts:
      builtin: [hubspot]
`
	if err := os.WriteFile(path, []byte(config), 0o644); err != nil {
		t.Fatal(err)
	}
	var stdout, stderr bytes.Buffer
	if err := run(context.Background(), []string{"mtguard", "check-config", path}, &stdout, &stderr, func(string) string { return "" }); err != nil {
		t.Fatalf("check-config: %v\n%s%s", err, stdout.String(), stderr.String())
	}
	var warnings []string
	for _, line := range strings.Split(stdout.String(), "\n") {
		if strings.HasPrefix(line, "warning:") {
			warnings = append(warnings, line)
		}
	}
	want := []string{
		`route hubspot: routes[0].contracts.pins[0] (line 8): pin "POST /hubspot/crm/v3/objects/contacts/batch/upsert" starts with the upstream's own path /hubspot; ` +
			`pins match the path after it, so this one only matches calls to http://127.0.0.1:9/hubspot/hubspot/crm/v3/objects/contacts/batch/upsert; write match: POST /crm/v3/objects/contacts/batch/upsert`,
		`route marketo: contracts.builtin: hubspot pins hubspot's paths, but the route's preset is marketo`,
	}
	if len(warnings) != len(want) {
		t.Fatalf("warnings:\n%s\nwant %d:\n%s", strings.Join(warnings, "\n"), len(want), strings.Join(want, "\n"))
	}
	for i, w := range want {
		if !strings.Contains(warnings[i], w) {
			t.Errorf("warning %d:\n%s\nwant it to contain\n%s", i, warnings[i], w)
		}
	}
	if !strings.Contains(stdout.String(), ": ok (3 routes") {
		t.Errorf("check-config did not say ok:\n%s", stdout.String())
	}
}
