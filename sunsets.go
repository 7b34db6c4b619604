package main

import (
	"time"

	"github.com/mtguard/mtguard/config"
	"github.com/mtguard/mtguard/inspect"
)

// declaredSunsets lists the dated entries of every route's version rules (its preset's with
// the route's own changes), for GET /api/sunsets and the console's Sunsets page: a sunset is
// worth knowing before the first call meets it.
func declaredSunsets(routes []config.Route) []inspect.DeclaredSunset {
	var out []inspect.DeclaredSunset
	for _, rc := range routes {
		if rc.Vendor == nil {
			continue
		}
		for _, vr := range rc.Vendor.Versions {
			if vr.Off {
				continue
			}
			where := vr.Path
			if vr.Header != "" {
				where = "header " + vr.Header
			}
			for _, e := range vr.Table {
				if e.Deprecated.IsZero() && e.Sunset.IsZero() {
					continue
				}
				out = append(out, inspect.DeclaredSunset{Route: rc.Name, Rule: vr.Name, Where: where, Versions: e.Versions,
					Deprecated: timeOrNil(e.Deprecated), Sunset: timeOrNil(e.Sunset), Replacement: e.Replacement, Doc: vr.Doc})
			}
		}
	}
	return out
}

func timeOrNil(t time.Time) *time.Time {
	if t.IsZero() {
		return nil
	}
	return &t
}
