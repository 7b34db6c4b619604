package config

import (
	"fmt"
	"slices"
	"strings"
	"time"

	"go.yaml.in/yaml/v3"

	"github.com/mtguard/mtguard/proxy"
	"github.com/mtguard/mtguard/vendors"
	"github.com/mtguard/mtguard/yamlstrict"
)

// A route's limits: block is decoded with its preset's (vendors.DecodeOverrides), which also
// refuses a route that loosens a preset's window or concurrency. What is left for main is what
// spans routes: the group each route spends, whether the routes of one group agree, and turning
// the merged limits into the proxy's LimitGroups.

// limitsPos returns where a route's limits group is written (its group: key, else limits:),
// for messages about the group; 0 and "" when the route has no limits.
func limitsPos(n *yaml.Node, rk string) (int, string) {
	if g := yamlstrict.Deref(yamlstrict.Lookup(n, "group")); yamlstrict.Present(g) {
		return g.Line, rk + ".limits.group"
	}
	if n = yamlstrict.Deref(n); yamlstrict.Present(n) {
		return n.Line, rk + ".limits"
	}
	return 0, ""
}

// LimitGroup is the limits group whose budget a route's calls spend: its limits.group, or
// the route's own name.
func (rc Route) LimitGroup() string {
	if rc.Vendor != nil && rc.Vendor.Limits.Group != "" {
		return rc.Vendor.Limits.Group
	}
	return rc.Name
}

// checkLimitGroups reports routes that share a limits group but not its limits: one vendor
// account has one budget, so the routes spending it must say the same about it.
func (p *configParser) checkLimitGroups(rcs []Route) {
	first := map[string]Route{}
	for i, rc := range rcs {
		name := rc.LimitGroup()
		f, ok := first[name]
		if !ok {
			first[name] = rc
			continue
		}
		if a, b := describeLimits(f), describeLimits(rc); a != b {
			line, key := rc.limitsLine, rc.limitsKey
			if line == 0 {
				line, key = rc.Line, routeKey(i)
			}
			p.Addf(line, key, "route %q shares limits group %q with route %q (line %d) but not its limits: %s here, %s there; routes that share a vendor account share one budget, so give them the same preset and limits",
				rc.Name, name, f.Name, f.Line, b, a)
		}
	}
}

// describeLimits states a route's limits in a canonical form, to compare the routes of a group
// and to show them in messages.
func describeLimits(rc Route) string {
	var lim vendors.Limits
	if rc.Vendor != nil {
		lim = rc.Vendor.Limits
	}
	var windows []string
	for _, w := range lim.Windows {
		if len(w.Paths) > 0 {
			continue
		}
		s := fmt.Sprintf("%d per %s", w.Requests, shortDuration(w.Per))
		if w.Fixed() {
			s += fmt.Sprintf(" resetting %s %s", w.Resets, w.Zone)
		}
		windows = append(windows, s)
	}
	if q := lim.Quota; q != nil {
		s := fmt.Sprintf("%d per %s", q.Requests, shortDuration(q.Per))
		if q.Fixed() {
			s += fmt.Sprintf(" resetting %s %s", q.Resets, q.Zone)
		}
		windows = append(windows, s)
	}
	slices.Sort(windows)
	if len(windows) == 0 {
		windows = []string{"no windows"}
	}
	conc := "no concurrency cap"
	if lim.Concurrency > 0 {
		conc = fmt.Sprintf("concurrency %d", lim.Concurrency)
	}
	wait := proxy.DefaultMaxWait
	if lim.MaxWait > 0 {
		wait = lim.MaxWait
	}
	return fmt.Sprintf("{%s; %s; max_wait %s}", strings.Join(windows, ", "), conc, shortDuration(wait))
}

// shortDuration prints a duration as a config file has it: 24h rather than 24h0m0s.
func shortDuration(d time.Duration) string {
	s := d.String()
	if strings.HasSuffix(s, "m0s") {
		s = strings.TrimSuffix(s, "0s")
	}
	if strings.HasSuffix(s, "h0m") {
		s = strings.TrimSuffix(s, "0m")
	}
	return s
}
