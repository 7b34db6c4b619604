package main

import (
	"encoding/json"
	"net/http"
	"testing"
	"time"

	"github.com/mtguard/mtguard/inspect"
)

// TestDeclaredSunsets: GET /api/sunsets lists the dated version entries of every route's
// preset, with a route's own versions: added, before any call used them; a route without a
// preset lists none.
func TestDeclaredSunsets(t *testing.T) {
	in := startMtguard(t, `
listen: 127.0.0.1:0
admin:
  listen: 127.0.0.1:0
routes:
  - name: sfdc
    prefix: /sfdc
    preset: salesforce
    upstream: http://127.0.0.1:1
  - name: crm
    prefix: /crm
    upstream: http://127.0.0.1:1
    versions:
      - name: crm-api
        path: /api/v{version}/
        table:
          - {versions: ["1"], deprecated: 2026-01-01, sunset: 2027-03-01, replacement: v2}
`, nil)
	resp, err := http.Get(in.admin + "/api/sunsets")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var got inspect.SunsetsAnswer
	if resp.StatusCode != http.StatusOK || json.NewDecoder(resp.Body).Decode(&got) != nil {
		t.Fatalf("GET /api/sunsets: %s", resp.Status)
	}
	type row struct{ route, rule, where, versions, sunset, replacement string }
	var rows []row
	for _, d := range got.Declared {
		r := row{route: d.Route, rule: d.Rule, where: d.Where, replacement: d.Replacement}
		if len(d.Versions) > 0 {
			r.versions = d.Versions[0]
		}
		if d.Sunset != nil {
			r.sunset = d.Sunset.UTC().Format(time.DateOnly)
		}
		rows = append(rows, r)
	}
	want := []row{
		{"sfdc", "rest-api", "/services/data/v{version}/", "..20.0", "2022-06-01", "v68.0 (41.0 to 68.0 are supported)"},
		{"sfdc", "rest-api", "/services/data/v{version}/", "21.0..30.0", "2025-06-01", "v68.0 (41.0 to 68.0 are supported)"},
		{"sfdc", "rest-api", "/services/data/v{version}/", "31.0..40.0", "2028-06-01", "v68.0 (41.0 to 68.0 are supported)"},
		{"crm", "crm-api", "/api/v{version}/", "1", "2027-03-01", "v2"},
	}
	if len(rows) != len(want) {
		t.Fatalf("declared sunsets:\n%+v\nwant\n%+v", rows, want)
	}
	for i := range want {
		if rows[i] != want[i] {
			t.Errorf("row %d: %+v, want %+v", i, rows[i], want[i])
		}
	}
}
