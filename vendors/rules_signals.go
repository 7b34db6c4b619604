package vendors

import (
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/mtguard/mtguard/schemas"
)

// Header families a preset may read (its limit_headers list). Each is parsed by code because
// the formats are fiddly; which vendor sends which is data.
const (
	// HeadersRetryAfter is RFC 9110 Retry-After (seconds or an HTTP-date), and Braze's
	// X-RateLimit-Retry-After.
	HeadersRetryAfter = "retry-after"
	// HeadersRateLimit is the IETF httpapi draft: RateLimit / RateLimit-Policy structured
	// fields, and the older RateLimit-Limit / -Remaining / -Reset triple (Klaviyo,
	// ActiveCampaign).
	HeadersRateLimit = "ratelimit"
	// HeadersXRateLimit is X-RateLimit-Limit / -Remaining / -Reset (Intercom, Braze, Segment);
	// the reset is a Unix time when it is that large, otherwise seconds.
	HeadersXRateLimit = "x-ratelimit"
	// HeadersHubSpot is X-HubSpot-RateLimit-Max / -Remaining / -Interval-Milliseconds and
	// -Daily / -Daily-Remaining.
	HeadersHubSpot = "x-hubspot-ratelimit"
	// HeadersSforce is Salesforce's Sforce-Limit-Info: api-usage=10018/100000.
	HeadersSforce = "sforce-limit-info"
)

// LimitHeaderFamilies lists the header families a preset may name in limit_headers.
func LimitHeaderFamilies() []string {
	return []string{HeadersRetryAfter, HeadersRateLimit, HeadersXRateLimit, HeadersHubSpot, HeadersSforce}
}

// readLimitHeaders appends a "remaining" signal for every limit the response headers report.
func readLimitHeaders(families []string, h http.Header, now time.Time, out []schemas.Signal) []schemas.Signal {
	for _, f := range families {
		switch f {
		case HeadersRateLimit:
			out = readRateLimitFields(h, out)
		case HeadersXRateLimit:
			if s, ok := readTriple(h, "X-Ratelimit-Limit", "X-Ratelimit-Remaining", "X-Ratelimit-Reset", now); ok {
				out = append(out, s)
			}
		case HeadersHubSpot:
			if rem, ok := headerInt(h, "X-Hubspot-Ratelimit-Remaining"); ok {
				lim, _ := headerInt(h, "X-Hubspot-Ratelimit-Max")
				s := schemas.Signal{Kind: SignalRemaining, Remaining: rem, Limit: lim}
				if ms, ok := headerInt(h, "X-Hubspot-Ratelimit-Interval-Milliseconds"); ok && rem == 0 {
					// A rolling window: at worst a whole interval until a slot frees.
					s.RetryAfter = time.Duration(ms) * time.Millisecond
				}
				out = append(out, s)
			}
			if rem, ok := headerInt(h, "X-Hubspot-Ratelimit-Daily-Remaining"); ok {
				lim, _ := headerInt(h, "X-Hubspot-Ratelimit-Daily")
				out = append(out, schemas.Signal{Kind: SignalRemaining, Remaining: rem, Limit: lim})
			}
		case HeadersSforce:
			if s, ok := readSforce(h.Get("Sforce-Limit-Info")); ok {
				out = append(out, s)
			}
		}
	}
	return out
}

func headerInt(h http.Header, name string) (int, bool) {
	v := strings.TrimSpace(h.Get(name))
	if v == "" {
		return 0, false
	}
	n, err := strconv.Atoi(v)
	return n, err == nil
}

// readTriple reads a Limit / Remaining / Reset header triple.
func readTriple(h http.Header, limit, remaining, reset string, now time.Time) (schemas.Signal, bool) {
	rem, ok := headerInt(h, remaining)
	if !ok {
		return schemas.Signal{}, false
	}
	lim, _ := headerInt(h, strings.TrimSpace(limit))
	s := schemas.Signal{Kind: SignalRemaining, Remaining: rem, Limit: lim}
	if r, ok := headerInt(h, reset); ok && r > 0 {
		s.RetryAfter = resetDelay(int64(r), now)
	}
	return s, true
}

// resetDelay reads a reset value that is either seconds from now or a Unix time (vendors
// differ: Intercom and Braze send epoch seconds, Segment and Klaviyo a delay).
func resetDelay(v int64, now time.Time) time.Duration {
	if v > 1_000_000_000 {
		d := time.Unix(v, 0).Sub(now)
		if d < 0 {
			return 0
		}
		return d
	}
	return time.Duration(v) * time.Second
}

// readRateLimitFields reads the draft's structured fields (RateLimit: "default";r=50;t=30 with
// RateLimit-Policy: "default";q=100;w=60) or, failing that, the older triple. Malformed
// fields are ignored, as the draft requires.
func readRateLimitFields(h http.Header, out []schemas.Signal) []schemas.Signal {
	if v := h.Get("Ratelimit"); v != "" {
		policies := map[string]int{}
		for _, item := range strings.Split(h.Get("Ratelimit-Policy"), ",") {
			name, params := sfItem(item)
			if q, ok := params["q"]; ok {
				policies[name] = q
			}
		}
		for _, item := range strings.Split(v, ",") {
			name, params := sfItem(item)
			r, ok := params["r"]
			if !ok {
				continue
			}
			s := schemas.Signal{Kind: SignalRemaining, Remaining: r, Limit: policies[name]}
			if t, ok := params["t"]; ok {
				s.RetryAfter = time.Duration(t) * time.Second
			}
			out = append(out, s)
		}
		return out
	}
	if s, ok := readTriple(h, "Ratelimit-Limit", "Ratelimit-Remaining", "Ratelimit-Reset", time.Time{}); ok {
		out = append(out, s)
	}
	return out
}

// sfItem parses one structured-field list item with integer parameters: "burst";q=100;w=60.
func sfItem(item string) (string, map[string]int) {
	parts := strings.Split(strings.TrimSpace(item), ";")
	name := strings.Trim(strings.TrimSpace(parts[0]), `"`)
	params := map[string]int{}
	for _, p := range parts[1:] {
		k, v, ok := strings.Cut(strings.TrimSpace(p), "=")
		if !ok {
			continue
		}
		if n, err := strconv.Atoi(v); err == nil {
			params[k] = n
		}
	}
	return name, params
}

// readSforce reads Sforce-Limit-Info: api-usage=10018/100000 (other items are ignored).
func readSforce(v string) (schemas.Signal, bool) {
	for _, item := range strings.Split(v, ";") {
		k, val, ok := strings.Cut(strings.TrimSpace(item), "=")
		if !ok || k != "api-usage" {
			continue
		}
		used, limit, ok := strings.Cut(val, "/")
		u, err1 := strconv.Atoi(used)
		l, err2 := strconv.Atoi(limit)
		if !ok || err1 != nil || err2 != nil {
			return schemas.Signal{}, false
		}
		return schemas.Signal{Kind: SignalRemaining, Remaining: max(l-u, 0), Limit: l}, true
	}
	return schemas.Signal{}, false
}

// RetryAfter reads how long the vendor asks callers to wait, from Retry-After or Braze's
// X-RateLimit-Retry-After; ok is false when the answer carries neither. The throttler reads it
// on every 429 and 503, whatever the route's rules.
func RetryAfter(h http.Header, now time.Time) (d time.Duration, ok bool) { return retryAfter(h, now) }

// retryAfter reads Retry-After (delay-seconds or HTTP-date, RFC 9110 section 10.2.3) or
// Braze's X-RateLimit-Retry-After.
func retryAfter(h http.Header, now time.Time) (time.Duration, bool) {
	for _, name := range []string{"Retry-After", "X-Ratelimit-Retry-After"} {
		v := strings.TrimSpace(h.Get(name))
		if v == "" {
			continue
		}
		if n, err := strconv.ParseInt(v, 10, 64); err == nil && n >= 0 {
			if name != "Retry-After" {
				return resetDelay(n, now), true
			}
			return time.Duration(n) * time.Second, true
		}
		if t, err := http.ParseTime(v); err == nil {
			return max(t.Sub(now), 0), true
		}
	}
	return 0, false
}

// ruleSignal is what a matching limit rule tells the throttler: how long to pause. The
// vendor's Retry-After wins (the draft says so), then the pause the rule documents, then a
// reset the limit headers gave, then, for a quota, the preset's daily reset time. Limit is
// only what the headers said.
func ruleSignal(ctx *ruleCtx, r *Rule) schemas.Signal {
	s := schemas.Signal{Kind: r.Signal}
	if d, ok := retryAfter(ctx.resp.Header, ctx.now); ok {
		s.RetryAfter = d
	} else if r.RetryAfter > 0 {
		s.RetryAfter = r.RetryAfter
	} else {
		for _, h := range ctx.hints {
			if h.RetryAfter > 0 && (h.Remaining == 0 || s.RetryAfter == 0) {
				s.RetryAfter = h.RetryAfter
			}
		}
	}
	// Limit is what the vendor said at runtime; the throttler has the preset's limits already.
	for _, h := range ctx.hints {
		if h.Remaining == 0 && h.Limit > 0 {
			s.Limit = h.Limit
			break
		}
	}
	if r.Signal == SignalQuota && s.RetryAfter == 0 && ctx.limits != nil {
		s.RetryAfter = ctx.limits.Quota.untilReset(ctx.now)
	}
	return s
}

// signalNote is appended to a limit finding's message: when the vendor takes calls again.
func signalNote(s schemas.Signal, now time.Time) string {
	if s.RetryAfter <= 0 {
		return " (the vendor gave no reset time)"
	}
	return fmt.Sprintf(" (retry after %s, at %s)", shortDuration(s.RetryAfter), now.Add(s.RetryAfter).UTC().Format("2006-01-02 15:04:05 UTC"))
}

// shortDuration prints 45s, 12m, 5h12m or 3d4h.
func shortDuration(d time.Duration) string {
	switch {
	case d < time.Minute:
		return fmt.Sprintf("%ds", int(d.Round(time.Second)/time.Second))
	case d < 10*time.Minute:
		d = d.Round(time.Second)
		m, sec := int(d/time.Minute), int(d%time.Minute/time.Second)
		if sec == 0 {
			return fmt.Sprintf("%dm", m)
		}
		return fmt.Sprintf("%dm%ds", m, sec)
	case d < time.Hour:
		return fmt.Sprintf("%dm", int(d.Round(time.Minute)/time.Minute))
	case d < 48*time.Hour:
		d = d.Round(time.Minute)
		h, m := int(d/time.Hour), int(d%time.Hour/time.Minute)
		if m == 0 {
			return fmt.Sprintf("%dh", h)
		}
		return fmt.Sprintf("%dh%dm", h, m)
	}
	d = d.Round(time.Hour)
	return fmt.Sprintf("%dd%dh", int(d/(24*time.Hour)), int(d%(24*time.Hour)/time.Hour))
}
