package vendors

import (
	"fmt"
	"maps"
	"slices"
	"strings"

	"github.com/mtguard/mtguard/yamlstrict"
)

// Tier is one of a vendor's documented editions and its limits (HubSpot Professional: 190 per
// 10 s), which a route picks with limits: {tier: professional}.
type Tier struct {
	Windows     []LimitWindow
	Quota       *Quota
	Concurrency int
}

// limitsTiers reads a preset's limits.tiers, or a route's tier and granted.
func (r *yreader) limitsTiers(m yamlstrict.Map, key string, lim *Limits, route bool) {
	if route {
		lim.Tier, _ = r.Str(m.Get("tier"), key+".tier")
		lim.Granted, _ = r.Bool(m.Get("granted"), key+".granted")
		return
	}
	tm, ok := r.AnyMapping(m.Get("tiers"), key+".tiers")
	if !ok || !yamlstrict.Given(m.Get("tiers")) {
		return
	}
	lim.Tiers = map[string]Tier{}
	for _, f := range tm.Fields() {
		tk := key + ".tiers." + f.Name
		tl, _ := r.limits(f.Val, tk, false)
		lim.Tiers[f.Name] = Tier{Windows: tl.Windows, Quota: tl.Quota, Concurrency: tl.Concurrency}
	}
}

// applyTier puts the tier a route picked in place of the preset's own figures: its windows
// replace the preset's of the same period, its quota and concurrency the preset's. The result
// is what the route may then only tighten.
func (p *Preset) applyTier(o Overrides) Problems {
	ol := o.Limits
	if ol.Tier == "" {
		return nil
	}
	t, ok := p.Limits.Tiers[ol.Tier]
	if !ok {
		known := "it documents none"
		if len(p.Limits.Tiers) > 0 {
			known = "known: " + strings.Join(slices.Sorted(maps.Keys(p.Limits.Tiers)), ", ")
		}
		return Problems{{Line: ol.lines["tier"], Key: ol.key + ".tier",
			Msg: fmt.Sprintf("preset %s has no tier %q (%s); for limits the vendor granted your account, write them with granted: true", p.Name, ol.Tier, known)}}
	}
	lim := &p.Limits
	lim.Windows = slices.Clone(lim.Windows)
	for _, w := range t.Windows {
		if j := slices.IndexFunc(lim.Windows, func(x LimitWindow) bool { return sameWindow(x, w) }); j >= 0 {
			lim.Windows[j] = w
		} else {
			lim.Windows = append(lim.Windows, w)
		}
	}
	if t.Quota != nil {
		q := *t.Quota
		if lim.Quota != nil && q.Zone == "" && !q.Rolling {
			q.Zone, q.Resets = lim.Quota.Zone, lim.Quota.Resets
		}
		lim.Quota = &q
	}
	if t.Concurrency > 0 {
		lim.Concurrency = t.Concurrency
	}
	return nil
}
