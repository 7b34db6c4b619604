package vendors

import (
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/mtguard/mtguard/schemas"
	"github.com/mtguard/mtguard/txn"
)

// maxEvidence bounds the header text a deprecation finding quotes.
const maxEvidence = 300

// checkDeprecationHeaders records a vendor's runtime deprecation notice: RFC 9745 Deprecation
// (an "@<unix seconds>" date, or the older IMF-fixdate and "true" forms), RFC 8594 Sunset, a
// Link with rel="deprecation" or rel="sunset", and the proprietary equivalents RFC 9745's
// implementation notes list (X-API-Deprecation-Date, X-API-Warn, PayPal-Deprecated,
// Deprecated, Warning: 299). None of the surveyed marketing vendors documents these, so the
// check is cheap when nothing is there.
func checkDeprecationHeaders(now time.Time, resp *schemas.Response, v *schemas.ResponseVerdict) {
	h := resp.Header
	dep := h.Get("Deprecation")
	sunset := h.Get("Sunset")
	links := deprecationLinks(h.Values("Link"))
	var other []string
	for _, name := range []string{"X-Api-Deprecation-Date", "X-Api-Deprecation-Info", "X-Api-Warn", "Paypal-Deprecated", "Deprecated"} {
		if val := h.Get(name); val != "" {
			other = append(other, name+": "+val)
		}
	}
	for _, w := range h.Values("Warning") {
		if strings.HasPrefix(strings.TrimSpace(w), "299") {
			other = append(other, "Warning: "+w)
		}
	}
	if dep == "" && sunset == "" && len(links) == 0 && len(other) == 0 {
		return
	}
	var parts []string
	if dep != "" {
		if t, ok := parseDeprecationDate(dep); ok {
			if t.After(now) {
				parts = append(parts, "deprecated from "+t.UTC().Format(time.DateOnly))
			} else {
				parts = append(parts, "deprecated since "+t.UTC().Format(time.DateOnly))
			}
		} else {
			parts = append(parts, "deprecated")
		}
	}
	var sunsetAt *time.Time
	if sunset != "" {
		if t, err := http.ParseTime(sunset); err == nil {
			sunsetAt = &t
			if t.After(now) {
				parts = append(parts, fmt.Sprintf("sunset on %s, %s left", t.UTC().Format(time.DateOnly), daysText(daysBetween(now, t))))
			} else {
				parts = append(parts, "sunset date already passed ("+t.UTC().Format(time.DateOnly)+"): it may stop working at any time")
			}
		} else {
			parts = append(parts, "sunset announced")
		}
	}
	if len(parts) == 0 {
		parts = append(parts, "deprecation announced")
	}
	msg := "the vendor's answer says this endpoint is " + strings.Join(parts, "; ")
	if len(links) > 0 {
		msg += "; notice: " + strings.Join(links, ", ")
	}
	var evidence []string
	if dep != "" {
		evidence = append(evidence, "Deprecation: "+dep)
	}
	if sunset != "" {
		evidence = append(evidence, "Sunset: "+sunset)
	}
	evidence = append(evidence, other...)
	detail := strings.Join(evidence, "; ")
	if len(detail) > maxEvidence {
		detail = detail[:maxEvidence] + "…"
	}
	f := txn.NewFinding(txn.CodeDeprecationAnnounced, msg, detail)
	f.Sunset = sunsetAt
	v.Findings = append(v.Findings, f)
}

// parseDeprecationDate reads RFC 9745's "@1688169599", or an HTTP-date from earlier drafts.
func parseDeprecationDate(s string) (time.Time, bool) {
	s = strings.TrimSpace(s)
	if rest, ok := strings.CutPrefix(s, "@"); ok {
		n, err := strconv.ParseInt(rest, 10, 64)
		if err != nil {
			return time.Time{}, false
		}
		return time.Unix(n, 0), true
	}
	if t, err := http.ParseTime(s); err == nil {
		return t, true
	}
	return time.Time{}, false
}

// deprecationLinks returns the targets of Link header entries whose rel includes deprecation
// or sunset.
func deprecationLinks(values []string) []string {
	var out []string
	for _, v := range values {
		for _, entry := range strings.Split(v, ",") {
			entry = strings.TrimSpace(entry)
			end := strings.IndexByte(entry, '>')
			if !strings.HasPrefix(entry, "<") || end < 0 {
				continue
			}
			target := entry[1:end]
			for _, param := range strings.Split(entry[end+1:], ";") {
				k, val, ok := strings.Cut(strings.TrimSpace(param), "=")
				if !ok || !strings.EqualFold(strings.TrimSpace(k), "rel") {
					continue
				}
				for _, rel := range strings.Fields(strings.Trim(val, `"`)) {
					if strings.EqualFold(rel, "deprecation") || strings.EqualFold(rel, "sunset") {
						out = append(out, target)
					}
				}
			}
		}
	}
	return out
}
