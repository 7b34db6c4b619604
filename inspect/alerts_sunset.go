package inspect

import (
	"regexp"
	"strings"
	"time"

	"github.com/mtguard/mtguard/txn"
)

// The finding codes the alert rules read. Codes are stable strings (DESIGN.md, "Findings"), so
// the rules name them rather than import the detectors that emit them.
const (
	codeAuthExpired            = "auth.expired"
	codeAuthForbidden          = "auth.forbidden"
	codeEndpointDeprecated     = "endpoint.deprecated"
	codeDeprecationAnnounced   = "endpoint.deprecation_announced"
	contractCodePrefix         = "contract."
	schemaCodePrefix           = "schema."
	maxSunsetSearch            = 2048 // bytes of a finding's text searched for a date
	deprecationQuiet           = 24 * time.Hour
	deprecationRenotifyAtLeast = 24 * time.Hour
)

// sunsetDateRE matches the dates a deprecation finding may carry: an RFC 3339 date or time
// (2026-06-30, 2026-06-30T00:00:00Z) or an HTTP-date, the format of RFC 8594's Sunset header
// (Tue, 30 Jun 2026 23:59:59 GMT).
var sunsetDateRE = regexp.MustCompile(`\d{4}-\d{2}-\d{2}(?:T\d{2}:\d{2}(?::\d{2}(?:\.\d+)?)?(?:Z|[+-]\d{2}:\d{2}))?|[A-Z][a-z]{2}, \d{2} [A-Z][a-z]{2} \d{4} \d{2}:\d{2}:\d{2} GMT`)

// sunsetMarkers introduce the sunset date in a deprecation finding's text. The detectors
// write "sunset on 2026-06-30" (RFC 8594 header, endpoint.deprecation_announced) and "it stops
// working on 2026-06-30" (version table, endpoint.deprecated); the header itself is
// "Sunset: <HTTP-date>".
func sunsetMarkers() []string { return []string{"sunset", "stops working", "retire"} }

// sunsetOf reads the sunset date of a deprecation finding: the first date after a sunset
// marker in its detail, then in its message; failing that, a detail that holds a single date
// and nothing else (a Sunset header value, say). ok is false when neither says.
func sunsetOf(f *txn.Finding) (time.Time, bool) {
	for _, text := range []string{f.Detail, f.Message} {
		if len(text) > maxSunsetSearch {
			text = text[:maxSunsetSearch]
		}
		lower := strings.ToLower(text)
		for _, m := range sunsetMarkers() {
			if i := strings.Index(lower, m); i >= 0 {
				if t, ok := firstDate(text[i+len(m):]); ok {
					return t, true
				}
			}
		}
	}
	if d := strings.TrimSpace(f.Detail); d != "" {
		if loc := sunsetDateRE.FindStringIndex(d); loc != nil && loc[0] == 0 && loc[1] == len(d) {
			return parseDate(d)
		}
	}
	return time.Time{}, false
}

func firstDate(s string) (time.Time, bool) {
	m := sunsetDateRE.FindString(s)
	if m == "" {
		return time.Time{}, false
	}
	return parseDate(m)
}

func parseDate(s string) (time.Time, bool) {
	for _, layout := range []string{time.RFC3339Nano, time.DateOnly, http1123} {
		if t, err := time.Parse(layout, s); err == nil {
			return t, true
		}
	}
	// 2026-06-30T00:00 without seconds or zone.
	if t, err := time.Parse("2006-01-02T15:04Z07:00", s); err == nil {
		return t, true
	}
	return time.Time{}, false
}

// http1123 is the HTTP-date layout (RFC 9110, section 5.6.7).
const http1123 = "Mon, 02 Jan 2006 15:04:05 GMT"
