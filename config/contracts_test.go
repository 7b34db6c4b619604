package config

import (
	"errors"
	"reflect"
	"strings"
	"testing"
)

// withContracts is a valid config whose one route has the given contracts: block (indented
// under the route), so a case's line numbers are 5 plus its position.
func withContracts(lines ...string) []byte {
	return yamlLines(append([]string{
		"routes:",
		"  - name: hubspot",
		"    prefix: /hubspot",
		"    upstream: https://api.hubapi.com",
	}, lines...)...)
}

func TestParseConfigContracts(t *testing.T) {
	cfg, err := Parse("m.yaml", withContracts(
		"    contracts:",
		"      mode: warn",
		"      require_pin: true",
		"      builtin: [segment]",
		"      pins:",
		"        - match: POST /crm/v3/objects/contacts",
		"          request: schemas/hubspot/create.request.json",
		"          response: builtin:hubspot/crm-contacts-create.v3.response.json",
		"        - match: POST /crm/v3/objects/contacts/batch/upsert",
		"          mode: enforce",
		"          response:",
		"            207: schemas/hubspot/upsert.207.json",
		"            2xx: schemas/hubspot/upsert.json",
	))
	if err != nil {
		t.Fatal(err)
	}
	got := cfg.Routes[0].Contracts
	want := Contracts{
		Mode: "warn", RequirePin: true, Builtin: []string{"segment"},
		Pins: []Pin{
			{Match: "POST /crm/v3/objects/contacts", Request: "schemas/hubspot/create.request.json",
				Responses: map[string]string{"2XX": "builtin:hubspot/crm-contacts-create.v3.response.json"},
				Key:       "routes[0].contracts.pins[0]", Line: 10},
			{Match: "POST /crm/v3/objects/contacts/batch/upsert", Mode: "enforce",
				Responses: map[string]string{"207": "schemas/hubspot/upsert.207.json", "2XX": "schemas/hubspot/upsert.json"},
				Key:       "routes[0].contracts.pins[1]", Line: 13},
		},
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("got  %+v\nwant %+v", got, want)
	}
	// A route without contracts has none.
	cfg, err = Parse("m.yaml", withContracts())
	if err != nil || !cfg.Routes[0].Contracts.Empty() {
		t.Errorf("no contracts: %+v, %v", cfg, err)
	}
}

func TestParseConfigContractsErrors(t *testing.T) {
	tests := []struct {
		name  string
		lines []string
		line  int
		key   string
		msg   string
	}{
		{"unknown key", []string{"    contracts:", "      modes: warn"}, 6, "routes[0].contracts.modes", "unknown key (known keys: mode, require_pin, builtin, pins)"},
		{"bad mode", []string{"    contracts:", "      mode: block"}, 6, "routes[0].contracts.mode", `"block" is not a mode (write shadow, warn, enforce)`},
		{"bad require_pin", []string{"    contracts:", "      require_pin: maybe"}, 6, "routes[0].contracts.require_pin", `"maybe" is not true or false`},
		{"unknown vendor", []string{"    contracts:", "      builtin: [hubspt]"}, 6, "routes[0].contracts.builtin[0]", `no contracts are shipped for "hubspt" (shipped: ga4, hubspot, marketo, salesforce, segment)`},
		{"pins not a list", []string{"    contracts:", "      pins: POST /x"}, 6, "routes[0].contracts.pins", "expected a list of pins"},
		{"pin unknown key", []string{"    contracts:", "      pins:", "        - match: POST /x", "          requst: a.json"}, 8, "routes[0].contracts.pins[0].requst", "unknown key (known keys: match, mode, request, response)"},
		{"pin without match", []string{"    contracts:", "      pins:", "        - request: a.json"}, 7, "routes[0].contracts.pins[0]", "match is required"},
		{"bad match", []string{"    contracts:", "      pins:", "        - match: /crm/v3/objects/contacts", "          request: a.json"}, 7, "routes[0].contracts.pins[0].match", "write a method and a path"},
		{"bad method", []string{"    contracts:", "      pins:", "        - match: SEND /x", "          request: a.json"}, 7, "routes[0].contracts.pins[0].match", `"SEND" is not an HTTP method`},
		{"no schema", []string{"    contracts:", "      pins:", "        - match: POST /x"}, 7, "routes[0].contracts.pins[0]", "names no schema"},
		{"bad pin mode", []string{"    contracts:", "      pins:", "        - match: POST /x", "          mode: loud", "          request: a.json"}, 8, "routes[0].contracts.pins[0].mode", `"loud" is not a mode`},
		{"unknown builtin", []string{"    contracts:", "      pins:", "        - match: POST /x", "          request: builtin:hubspot/nope.json"}, 8, "routes[0].contracts.pins[0].request", `"builtin:hubspot/nope.json" is not a shipped contract`},
		{"bad status", []string{"    contracts:", "      pins:", "        - match: POST /x", "          response:", "            20x: a.json"}, 9, "routes[0].contracts.pins[0].response.20x", "not a status"},
		{"empty path", []string{"    contracts:", "      pins:", "        - match: POST /x", "          request: ''"}, 8, "routes[0].contracts.pins[0].request", "empty"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Parse("m.yaml", withContracts(tt.lines...))
			var ce *Error
			if !errors.As(err, &ce) {
				t.Fatalf("got %v, want a Error", err)
			}
			p := ce.Problems[0]
			if p.Line != tt.line || p.Key != tt.key || !strings.Contains(p.Msg, tt.msg) {
				t.Errorf("got %d %s %q\nwant %d %s %q", p.Line, p.Key, p.Msg, tt.line, tt.key, tt.msg)
			}
		})
	}
}
