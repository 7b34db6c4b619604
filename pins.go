package main

import (
	"fmt"
	"io"
	"net/url"
	"strings"

	"github.com/mtguard/mtguard/config"
	"github.com/mtguard/mtguard/schemas"
)

// printPinWarnings is check-config's warning about contract pins that can never match the
// route's calls. Such a config is valid (serve starts), but the contract silently never
// applies, so check-config says so.
func printPinWarnings(w io.Writer, routes []config.Route) {
	for _, msg := range pinWarnings(routes) {
		fmt.Fprintf(w, "warning: %s\n", msg)
	}
}

// pinWarnings lists, per route, the pins that can never match its calls. Pins match the
// vendor-relative path (the route prefix and the upstream URL's own path removed), so a pin
// that repeats the upstream's path matches only calls that repeat it too; and the shipped
// contracts of one vendor never match the calls of a route whose preset is another vendor.
func pinWarnings(routes []config.Route) []string {
	var out []string
	for _, rc := range routes {
		if base := upstreamSegments(rc.Upstream); len(base) > 0 {
			for _, pin := range rc.Contracts.Pins {
				if !hasSegmentPrefix(pinSegments(pin.Match), base) {
					continue
				}
				where := pin.Key
				if pin.Line > 0 {
					where = fmt.Sprintf("%s (line %d)", pin.Key, pin.Line)
				}
				method, path, _ := strings.Cut(strings.TrimSpace(pin.Match), " ")
				rel := "/" + strings.Join(pinSegments(pin.Match)[len(base):], "/")
				out = append(out, fmt.Sprintf("route %s: %s: pin %q starts with the upstream's own path /%s; pins match the path after it, so this one only matches calls to %s%s; write match: %s %s",
					rc.Name, where, pin.Match, strings.Join(base, "/"), strings.TrimSuffix(rc.Upstream, "/"), strings.TrimSpace(path), method, rel))
			}
		}
		if rc.Preset == "" || rc.Preset == "generic" {
			continue
		}
		for _, vendor := range rc.Contracts.Builtin {
			if _, shipped := schemas.BuiltinVendorPins(vendor); shipped && vendor != rc.Preset {
				out = append(out, fmt.Sprintf("route %s: contracts.builtin: %s pins %s's paths, but the route's preset is %s: they never match its calls; pin the %s contracts instead (mtguard schemas list)",
					rc.Name, vendor, vendor, rc.Preset, rc.Preset))
			}
		}
	}
	return out
}

// upstreamSegments are the path segments of an upstream URL ([hubspot] for
// http://host/hubspot/), nil when it has no path.
func upstreamSegments(upstream string) []string {
	u, err := url.Parse(upstream)
	if err != nil {
		return nil
	}
	return splitSegments(u.Path)
}

// pinSegments are the path segments of a pin's match ("POST /crm/{id}" -> [crm {id}]).
func pinSegments(match string) []string {
	_, path, ok := strings.Cut(strings.TrimSpace(match), " ")
	if !ok {
		return nil
	}
	return splitSegments(strings.TrimSpace(path))
}

func splitSegments(p string) []string {
	var out []string
	for _, s := range strings.Split(p, "/") {
		if s != "" {
			out = append(out, s)
		}
	}
	return out
}

// hasSegmentPrefix reports whether segs starts with every segment of prefix, literally.
func hasSegmentPrefix(segs, prefix []string) bool {
	if len(segs) < len(prefix) {
		return false
	}
	for i := range prefix {
		if segs[i] != prefix[i] {
			return false
		}
	}
	return true
}
