package main

import (
	"github.com/mtguard/mtguard/config"
	"github.com/mtguard/mtguard/proxy"
)

// routeLimits is a route's budget as the proxy's limiter takes it: its preset's limits merged
// with its own. Every route has one, even without limits, so that a vendor's 429 pauses it.
//
// Windows with paths are left out: the limiter counts every call of a group alike, and
// applying an endpoint's window (HubSpot search, 4 per second) to all of them would starve the
// rest; a 429 from such an endpoint still pauses the group. A quota in the account's time zone
// (zone: account, which the route did not set) is counted as a rolling window, which is never
// looser than the fixed day it stands for.
func routeLimits(rc config.Route) proxy.LimitGroup {
	g := proxy.LimitGroup{Name: rc.LimitGroup(), MaxWait: proxy.DefaultMaxWait}
	if rc.Vendor == nil {
		return g
	}
	lim := rc.Vendor.Limits
	g.Concurrency = lim.Concurrency
	if lim.MaxWait > 0 {
		g.MaxWait = lim.MaxWait
	}
	g.ProbeEvery = lim.ProbeEvery
	for _, w := range lim.Windows {
		if len(w.Paths) > 0 {
			continue
		}
		pw := proxy.Window{Requests: w.Requests, Per: w.Per}
		if w.Fixed() {
			pw.Reset = w.NextReset
		}
		g.Windows = append(g.Windows, pw)
	}
	if q := lim.Quota; q != nil && q.Requests > 0 {
		pw := proxy.Window{Requests: q.Requests, Per: q.Per}
		if q.Fixed() {
			pw.Reset = q.NextReset
		}
		g.Windows = append(g.Windows, pw)
	}
	return g
}

// limitsOnly reports a route without a preset whose only rules are its limits: it has nothing
// for the pipeline to check, so it keeps the fast path (and a bare 429 pauses it).
func limitsOnly(rc config.Route) bool {
	return rc.Preset == "" && len(rc.Vendor.Rules()) == 0 && len(rc.Vendor.Versions) == 0
}

// limitGroups builds the limiter's groups, one per group name in config order, and lists the
// routes of each. checkLimitGroups has made sure the routes of a group agree, so the first
// route of each group speaks for it.
func limitGroups(rcs []config.Route) ([]proxy.LimitGroup, map[string][]string) {
	var groups []proxy.LimitGroup
	routesOf := map[string][]string{}
	for _, rc := range rcs {
		name := rc.LimitGroup()
		if _, ok := routesOf[name]; !ok {
			groups = append(groups, routeLimits(rc))
		}
		routesOf[name] = append(routesOf[name], rc.Name)
	}
	return groups, routesOf
}
