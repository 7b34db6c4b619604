package schemas

import (
	"embed"
	"encoding/json"
	"fmt"
	"io/fs"
	"sort"
	"strings"
)

// builtinContracts holds the contracts shipped with mtguard: contracts/<vendor>/*.json, one
// schemas.lock per vendor folder recording where each came from, and contracts/index.json
// saying which call each contract is pinned to.
//
//go:embed contracts
var builtinContracts embed.FS

// BuiltinContractsFS returns the shipped contracts as a file system rooted at the folder that
// holds one folder per vendor.
func BuiltinContractsFS() fs.FS {
	sub, err := fs.Sub(builtinContracts, "contracts")
	if err != nil {
		panic(err) // The folder is embedded at build time.
	}
	return sub
}

// BuiltinPin is one entry of contracts/index.json: a shipped contract and the call it covers.
type BuiltinPin struct {
	Vendor string `json:"vendor"`
	Match  string `json:"match"`
	// Request and Responses name files under contracts/<vendor>/ without the vendor.
	Request   string            `json:"request,omitempty"`
	Responses map[string]string `json:"responses,omitempty"`
	// Doc is the vendor's documentation of the call.
	Doc string `json:"doc"`
}

// BuiltinPins returns every shipped pin, sorted by vendor and match.
func BuiltinPins() ([]BuiltinPin, error) {
	data, err := fs.ReadFile(builtinContracts, "contracts/index.json")
	if err != nil {
		return nil, err
	}
	var pins []BuiltinPin
	if err := json.Unmarshal(data, &pins); err != nil {
		return nil, fmt.Errorf("contracts/index.json: %w", err)
	}
	sort.SliceStable(pins, func(i, j int) bool {
		if pins[i].Vendor != pins[j].Vendor {
			return pins[i].Vendor < pins[j].Vendor
		}
		return pins[i].Match < pins[j].Match
	})
	return pins, nil
}

// BuiltinVendorPins returns the PinSpecs of every contract shipped for vendor, with
// builtin: locations; ok is false when nothing is shipped for vendor.
func BuiltinVendorPins(vendor string) (pins []PinSpec, ok bool) {
	all, err := BuiltinPins()
	if err != nil {
		return nil, false
	}
	for _, b := range all {
		if b.Vendor != vendor {
			continue
		}
		ps := PinSpec{Match: b.Match, Where: "builtin " + vendor + " " + b.Match}
		if b.Request != "" {
			ps.Request = BuiltinPrefix + vendor + "/" + b.Request
		}
		for k, f := range b.Responses {
			if ps.Responses == nil {
				ps.Responses = map[string]string{}
			}
			ps.Responses[k] = BuiltinPrefix + vendor + "/" + f
		}
		pins = append(pins, ps)
	}
	return pins, len(pins) > 0
}

// BuiltinVendors lists the vendors with shipped contracts.
func BuiltinVendors() []string {
	all, _ := BuiltinPins()
	var out []string
	for _, b := range all {
		if len(out) == 0 || out[len(out)-1] != b.Vendor {
			out = append(out, b.Vendor)
		}
	}
	return out
}

// BuiltinExists reports whether loc (builtin:<vendor>/<file>) names a shipped contract.
func BuiltinExists(loc string) bool {
	name, ok := strings.CutPrefix(loc, BuiltinPrefix)
	if !ok || !fs.ValidPath(name) {
		return false
	}
	_, err := fs.Stat(builtinContracts, "contracts/"+name)
	return err == nil
}
