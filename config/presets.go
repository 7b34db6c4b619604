package config

import (
	"strings"

	"github.com/mtguard/mtguard/vendors"
	"github.com/mtguard/mtguard/yamlstrict"
)

// routePreset loads the vendor preset a route names (its preset: key). It returns nil when the
// route names none, or names one that does not exist (reported with the known names).
func (p *configParser) routePreset(f yamlstrict.Map, rk string) *vendors.Preset {
	name, ok := p.Str(f.Get("preset"), rk+".preset")
	if !ok {
		return nil
	}
	preset, err := vendors.LoadPreset(name)
	if err != nil {
		p.Addf(f.Get("preset").Line, rk+".preset", "%q is not a preset (presets: %s; mtguard presets lists them)", name, strings.Join(vendors.PresetNames(), ", "))
		return nil
	}
	return preset
}

// routeVendor applies a route's versions, outcomes and limits to its preset and returns what
// the route's checks are compiled from: nil when the route has neither a preset nor rules of
// its own. Each mistake is reported with its line and key, like the rest of the config.
func (p *configParser) routeVendor(f yamlstrict.Map, rk string, preset *vendors.Preset, r Route) *vendors.Preset {
	versions, outcomes, limits := f.Get("versions"), f.Get("outcomes"), f.Get("limits")
	if preset == nil && !yamlstrict.Given(versions) && !yamlstrict.Given(outcomes) && !yamlstrict.Given(limits) {
		return nil
	}
	// vendors reports with the same Problem type, so its problems join the config's as they are.
	o, problems := vendors.DecodeOverrides(versions, outcomes, limits, rk)
	p.Problems = append(p.Problems, problems...)
	o.Upstream, o.RecordKeys = r.Upstream, r.RecordKeys
	vendor, problems := preset.WithOverrides(o)
	p.Problems = append(p.Problems, problems...)
	if preset == nil {
		vendor.Name = ""
	}
	return vendor
}

// presetUpstreamHint says why a route with a preset still needs an upstream.
func presetUpstreamHint(preset *vendors.Preset) string {
	if preset == nil {
		return "upstream is required (the vendor base URL, e.g. https://api.hubapi.com)"
	}
	return "upstream is required: preset " + preset.Name + " has no default because each account has its own host (" + preset.Title + ")"
}

// presetFailed reports a route whose preset: could not be loaded (already reported), so that
// a missing upstream is not reported on top of it.
func presetFailed(f yamlstrict.Map, preset *vendors.Preset) bool {
	return yamlstrict.Given(f.Get("preset")) && preset == nil
}
