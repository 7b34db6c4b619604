package config

import (
	"fmt"
	"path/filepath"
	"slices"
	"strings"

	"go.yaml.in/yaml/v3"

	"github.com/mtguard/mtguard/schemas"
	"github.com/mtguard/mtguard/yamlstrict"
)

// Contracts is a route's contracts: block, as written.
type Contracts struct {
	// Mode is shadow, warn or enforce. If empty, schemas.DefaultContractMode (shadow).
	Mode string
	// RequirePin records a contract.unpinned finding for calls that no pin matches.
	RequirePin bool
	// Builtin names vendors whose shipped contracts are all pinned (see mtguard schemas list);
	// a pin in Pins with the same match replaces the shipped one.
	Builtin []string
	Pins    []Pin
}

// Empty reports whether the route pins no contract.
func (c Contracts) Empty() bool {
	return len(c.Pins) == 0 && len(c.Builtin) == 0 && !c.RequirePin
}

// Pin is one item of contracts.pins.
type Pin struct {
	// Match is a method and path template: POST /crm/v3/objects/{objectType}.
	Match string
	// Mode overrides the route's contracts.mode for this pin; "" inherits it.
	Mode string
	// Request and the values of Responses are builtin:<vendor>/<file> or file paths; Load
	// makes relative paths relative to the config file's folder, Parse leaves them as written.
	Request string
	// Responses maps "2XX" (what a plain response: sets), a status like "207", or "default"
	// to a schema.
	Responses map[string]string
	// Key and Line say where the pin was written, for messages.
	Key  string
	Line int
}

// contractsKeys and pinKeys are the keys a contracts: block and a pin accept.
var (
	contractsKeys = []string{"mode", "require_pin", "builtin", "pins"}
	pinKeys       = []string{"match", "mode", "request", "response"}
)

// contracts reads a route's contracts: block.
func (p *configParser) contracts(n *yaml.Node, key string) Contracts {
	var c Contracts
	f, _ := p.Mapping(n, key, contractsKeys...)
	if v, ok := p.Str(f.Get("mode"), key+".mode"); ok {
		if slices.Contains(schemas.ContractModes, v) {
			c.Mode = v
		} else {
			p.Addf(f.Get("mode").Line, key+".mode", "%q is not a mode (write %s)", v, strings.Join(schemas.ContractModes, ", "))
		}
	}
	if v, ok := p.Str(f.Get("require_pin"), key+".require_pin"); ok {
		switch strings.ToLower(v) {
		case "true", "yes", "on":
			c.RequirePin = true
		case "false", "no", "off":
		default:
			p.Addf(f.Get("require_pin").Line, key+".require_pin", "%q is not true or false", v)
		}
	}
	for _, it := range p.List(f.Get("builtin"), key+".builtin") {
		if _, ok := schemas.BuiltinVendorPins(it.Val); !ok {
			p.Addf(it.Line, it.Key, "no contracts are shipped for %q (shipped: %s)", it.Val, strings.Join(schemas.BuiltinVendors(), ", "))
			continue
		}
		c.Builtin = append(c.Builtin, it.Val)
	}
	pins := yamlstrict.Deref(f.Get("pins"))
	if yamlstrict.Present(pins) && pins.Kind != yaml.SequenceNode {
		p.Addf(pins.Line, key+".pins", "expected a list of pins (items starting with \"- match: POST /path\"), found %s", yamlstrict.Describe(pins))
		return c
	}
	if pins != nil {
		for i, item := range pins.Content {
			if pc, ok := p.pin(yamlstrict.Deref(item), fmt.Sprintf("%s.pins[%d]", key, i)); ok {
				c.Pins = append(c.Pins, pc)
			}
		}
	}
	return c
}

// pin reads one item of contracts.pins.
func (p *configParser) pin(item *yaml.Node, key string) (Pin, bool) {
	if item.Kind != yaml.MappingNode {
		p.Addf(item.Line, key, "expected a pin (a mapping with match, request, response), found %s", yamlstrict.Describe(item))
		return Pin{}, false
	}
	pc := Pin{Key: key, Line: item.Line}
	f, _ := p.Mapping(item, key, pinKeys...)
	if v, ok := p.Str(f.Get("match"), key+".match"); ok {
		if err := schemas.ValidateMatch(v); err != nil {
			p.Addf(f.Get("match").Line, key+".match", "%v", err)
		}
		pc.Match = v
	} else if !yamlstrict.Given(f.Get("match")) {
		p.Addf(item.Line, key, "match is required (a method and a path template, e.g. POST /crm/v3/objects/contacts)")
	}
	if v, ok := p.Str(f.Get("mode"), key+".mode"); ok {
		if slices.Contains(schemas.ContractModes, v) {
			pc.Mode = v
		} else {
			p.Addf(f.Get("mode").Line, key+".mode", "%q is not a mode (write %s)", v, strings.Join(schemas.ContractModes, ", "))
		}
	}
	if v, ok := p.Str(f.Get("request"), key+".request"); ok {
		pc.Request = p.schemaLocation(v, f.Get("request").Line, key+".request")
	}
	switch resp := yamlstrict.Deref(f.Get("response")); {
	case !yamlstrict.Present(resp):
	case resp.Kind == yaml.MappingNode:
		pc.Responses = map[string]string{}
		for i := 0; i+1 < len(resp.Content); i += 2 {
			k, v := resp.Content[i], resp.Content[i+1]
			rk := key + ".response." + k.Value
			if !schemas.ValidStatusKey(k.Value) {
				p.Addf(k.Line, rk, "not a status; write a status like 201, a class like 2XX, or default")
				continue
			}
			if s, ok := p.Str(v, rk); ok {
				pc.Responses[strings.ToUpper(k.Value)] = p.schemaLocation(s, v.Line, rk)
			}
		}
	default:
		if s, ok := p.Str(resp, key+".response"); ok {
			pc.Responses = map[string]string{"2XX": p.schemaLocation(s, resp.Line, key+".response")}
		}
	}
	if !yamlstrict.Given(f.Get("request")) && !yamlstrict.Given(f.Get("response")) && onlyKeys(item, "match", "mode") && yamlstrict.Given(f.Get("match")) {
		p.Addf(item.Line, key, "names no schema; give it a request: or a response: (a file, or builtin:<vendor>/<file>)")
	}
	return pc, true
}

// onlyKeys reports whether mapping n has no keys but these, so a problem already reported
// about another key (a typo of request:) is not followed by a second one.
func onlyKeys(n *yaml.Node, keys ...string) bool {
	for i := 0; i+1 < len(n.Content); i += 2 {
		if !slices.Contains(keys, n.Content[i].Value) {
			return false
		}
	}
	return true
}

// schemaLocation checks a pin's schema location: a shipped contract must exist; a file is
// checked when the config is loaded (Load) and compiled.
func (p *configParser) schemaLocation(v string, line int, key string) string {
	if strings.TrimSpace(v) == "" {
		p.Addf(line, key, "empty; write a file path or builtin:<vendor>/<file>")
		return ""
	}
	if strings.HasPrefix(v, schemas.BuiltinPrefix) && !schemas.BuiltinExists(v) {
		p.Addf(line, key, "%q is not a shipped contract (mtguard schemas list shows them)", v)
	}
	return v
}

// resolveContractPaths makes the relative schema paths of every pin relative to dir, the
// config file's folder, as Load does for store.path.
func resolveContractPaths(routes []Route, dir string) {
	abs := func(loc string) string {
		if loc == "" || strings.HasPrefix(loc, schemas.BuiltinPrefix) || filepath.IsAbs(loc) {
			return loc
		}
		return filepath.Join(dir, loc)
	}
	for i := range routes {
		for j := range routes[i].Contracts.Pins {
			pc := &routes[i].Contracts.Pins[j]
			pc.Request = abs(pc.Request)
			for k, v := range pc.Responses {
				pc.Responses[k] = abs(v)
			}
		}
	}
}
