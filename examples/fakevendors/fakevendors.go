package fakevendors

import (
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"sync"
	"time"
)

// Clock returns the time; nil means time.Now.
type Clock func() time.Time

func (c Clock) now() time.Time {
	if c == nil {
		return time.Now()
	}
	return c()
}

// Vendors is every fake vendor, each under /<preset name>/ (the prefix is removed before the
// vendor sees the call).
type Vendors struct {
	Marketo    *Marketo
	Salesforce *Salesforce
	HubSpot    *HubSpot
	Segment    *Segment
	GA4        *GA4
	Meta       *Meta
	Klaviyo    *Klaviyo
	Intercom   *Intercom
	Braze      *Braze
	Iterable   *Iterable
	Mandrill   *Mandrill
	mux        *http.ServeMux
}

// New returns every fake vendor with its default options and the given clock. Klaviyo silently
// falls forward on retired revisions (the worst case, which the demo shows).
func New(now Clock) *Vendors {
	v := &Vendors{
		Marketo:    NewMarketo(MarketoOptions{Now: now}),
		Salesforce: NewSalesforce(SalesforceOptions{Now: now}),
		HubSpot:    NewHubSpot(HubSpotOptions{Now: now}),
		Segment:    NewSegment(SegmentOptions{Now: now}),
		GA4:        NewGA4(),
		Meta:       NewMeta(MetaOptions{Now: now}),
		Klaviyo:    NewKlaviyo(KlaviyoOptions{Now: now, FallForward: true}), // the silent case
		Intercom:   NewIntercom(IntercomOptions{}),
		Braze:      NewBraze(BrazeOptions{Now: now}),
		Iterable:   NewIterable(),
		Mandrill:   NewMandrill(MandrillOptions{}),
		mux:        http.NewServeMux(),
	}
	for prefix, h := range map[string]http.Handler{
		"marketo": v.Marketo, "salesforce": v.Salesforce, "hubspot": v.HubSpot, "segment": v.Segment,
		"ga4": v.GA4, "meta": v.Meta, "klaviyo": v.Klaviyo, "intercom": v.Intercom, "braze": v.Braze,
		"iterable": v.Iterable, "mailchimp-transactional": v.Mandrill,
	} {
		v.mux.Handle("/"+prefix+"/", http.StripPrefix("/"+prefix, h))
	}
	return v
}

// ServeHTTP routes /<preset>/... to that vendor.
func (v *Vendors) ServeHTTP(w http.ResponseWriter, r *http.Request) { v.mux.ServeHTTP(w, r) }

// maxBody bounds what a fake vendor reads of a request body.
const maxBody = 10 << 20

// readJSON decodes a request body into v; ok is false when it is not JSON.
func readJSON(r *http.Request, v any) (body []byte, ok bool) {
	body, err := io.ReadAll(io.LimitReader(r.Body, maxBody))
	if err != nil {
		return body, false
	}
	return body, json.Unmarshal(body, v) == nil
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	json.NewEncoder(w).Encode(v)
}

// bearer returns the token of an Authorization: Bearer header, or "".
func bearer(r *http.Request) string {
	a := r.Header.Get("Authorization")
	if len(a) > 7 && strings.EqualFold(a[:7], "bearer ") {
		return strings.TrimSpace(a[7:])
	}
	return ""
}

// window counts calls in fixed windows of a given length, as vendors' simple limiters do.
type window struct {
	mu    sync.Mutex
	start time.Time
	n     int
}

// add counts one call at now and returns the count in the current window and when it ends.
func (w *window) add(now time.Time, length time.Duration) (int, time.Time) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.start.IsZero() || now.Sub(w.start) >= length {
		w.start, w.n = now.Truncate(length), 0
	}
	w.n++
	return w.n, w.start.Add(length)
}

// valid reports whether s looks like an email address: one @, something on both sides, a dot
// in the domain.
func validEmail(s string) bool {
	at := strings.IndexByte(s, '@')
	return at > 0 && at == strings.LastIndexByte(s, '@') && strings.Contains(s[at+1:], ".") && !strings.ContainsAny(s, " ()")
}
