package fakevendors

import (
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"
)

// MetaOptions configure a fake Meta Conversions API.
type MetaOptions struct {
	Now Clock
	// Token is the valid access_token. Default "EAAB-demo".
	Token string
}

// Meta is a fake Meta Conversions API: POST /vNN.N/<pixel>/events. A request with an event
// older than 7 days fails as a whole (400); otherwise the answer is 200 with events_received,
// which leaves out events Meta cannot use: here, events without user_data or with event_time
// in milliseconds (the fake's stand-in for Meta's undocumented drops).
type Meta struct {
	opts MetaOptions

	mu       sync.Mutex
	received int
}

// NewMeta returns a fake Meta Conversions API.
func NewMeta(o MetaOptions) *Meta {
	if o.Token == "" {
		o.Token = "EAAB-demo"
	}
	return &Meta{opts: o}
}

// Token returns the valid access token.
func (m *Meta) Token() string { return m.opts.Token }

// Received returns how many events Meta kept.
func (m *Meta) Received() int {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.received
}

func graphError(w http.ResponseWriter, status, code int, typ, msg string) {
	writeJSON(w, status, map[string]any{"error": map[string]any{"message": msg, "type": typ, "code": code, "fbtrace_id": correlationID()}})
}

func (m *Meta) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	parts := strings.Split(strings.Trim(r.URL.Path, "/"), "/")
	if len(parts) != 3 || !strings.HasPrefix(parts[0], "v") || parts[2] != "events" || r.Method != http.MethodPost {
		graphError(w, http.StatusBadRequest, 100, "GraphMethodException", "Unsupported post request.")
		return
	}
	tok := r.URL.Query().Get("access_token")
	if tok == "" {
		tok = bearer(r)
	}
	if tok != m.opts.Token {
		writeJSON(w, http.StatusBadRequest, map[string]any{"error": map[string]any{"message": "Error validating access token: Session has expired.", "type": "OAuthException", "code": 190, "error_subcode": 463, "fbtrace_id": correlationID()}})
		return
	}
	var req struct {
		Data []map[string]any `json:"data"`
	}
	if _, ok := readJSON(r, &req); !ok || len(req.Data) == 0 || len(req.Data) > 1000 {
		graphError(w, http.StatusBadRequest, 100, "OAuthException", "Invalid parameter: data must hold 1 to 1,000 events")
		return
	}
	now := m.opts.Now.now()
	received := 0
	for _, e := range req.Data {
		t, _ := number(e["event_time"])
		if t < 1e11 && time.Unix(int64(t), 0).Before(now.Add(-7*24*time.Hour)) {
			// One stale event fails the whole request: "no events processed".
			graphError(w, http.StatusBadRequest, 100, "OAuthException", "Invalid parameter: event_time is more than 7 days in the past")
			return
		}
		if _, ok := e["user_data"].(map[string]any); !ok || t >= 1e11 {
			continue
		}
		received++
	}
	m.mu.Lock()
	m.received += received
	m.mu.Unlock()
	writeJSON(w, http.StatusOK, map[string]any{"events_received": received, "messages": []any{}, "fbtrace_id": correlationID()})
}

func number(v any) (float64, bool) {
	switch x := v.(type) {
	case float64:
		return x, true
	case string:
		f, err := strconv.ParseFloat(x, 64)
		return f, err == nil
	}
	return 0, false
}

// KlaviyoOptions configure a fake Klaviyo account.
type KlaviyoOptions struct {
	Now Clock
	// Key is the valid private key (Authorization: Klaviyo-API-Key <key>). Default "pk_demo".
	Key string
	// FallForward answers calls on a retired revision as if they named the newest one, instead
	// of 410: Klaviyo's silent fall-forward.
	FallForward bool
	// BurstLimit calls a second per endpoint, then 429. Default 350 (the events endpoint's).
	BurstLimit int
}

// Klaviyo is a fake Klaviyo API: a revision header on every call (missing: 400; older than two
// years: 410, or a silent fall-forward), RateLimit-* headers on every answer but a 429, 202 for
// events and 410 for the retired v1/v2 APIs.
type Klaviyo struct {
	opts  KlaviyoOptions
	burst window

	mu     sync.Mutex
	events int
}

// NewKlaviyo returns a fake Klaviyo account.
func NewKlaviyo(o KlaviyoOptions) *Klaviyo {
	if o.Key == "" {
		o.Key = "pk_demo"
	}
	if o.BurstLimit == 0 {
		o.BurstLimit = 350
	}
	return &Klaviyo{opts: o}
}

// Key returns the valid private key.
func (k *Klaviyo) Key() string { return k.opts.Key }

// Events returns how many events were accepted.
func (k *Klaviyo) Events() int {
	k.mu.Lock()
	defer k.mu.Unlock()
	return k.events
}

func klaviyoError(w http.ResponseWriter, status int, code, title, detail string) {
	w.Header().Set("Content-Type", "application/vnd.api+json")
	w.WriteHeader(status)
	fmt.Fprintf(w, `{"errors":[{"id":%q,"status":%d,"code":%q,"title":%q,"detail":%q}]}`, correlationID(), status, code, title, detail)
}

func (k *Klaviyo) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if strings.HasPrefix(r.URL.Path, "/api/v1/") || strings.HasPrefix(r.URL.Path, "/api/v2/") {
		writeJSON(w, http.StatusGone, map[string]string{"detail": "The v1/v2 APIs were retired on 2024-06-30.", "link": "https://developers.klaviyo.com/en/docs/migration_faq_v1v2_api_retirement"})
		return
	}
	if r.Header.Get("Authorization") != "Klaviyo-API-Key "+k.opts.Key {
		klaviyoError(w, http.StatusUnauthorized, "not_authenticated", "Authentication credentials were not provided.", "Missing or invalid private key.")
		return
	}
	rev := r.Header.Get("revision")
	if rev == "" {
		klaviyoError(w, http.StatusBadRequest, "invalid", "Invalid input.", "Missing `revision` header")
		return
	}
	now := k.opts.Now.now()
	day, err := time.Parse(time.DateOnly, strings.SplitN(rev, ".", 2)[0])
	if err != nil {
		klaviyoError(w, http.StatusBadRequest, "invalid", "Invalid input.", "Invalid `revision` header")
		return
	}
	if now.Sub(day) > 2*365*24*time.Hour && !k.opts.FallForward {
		klaviyoError(w, http.StatusGone, "gone", "Gone", fmt.Sprintf("Revision %s is no longer supported.", rev))
		return
	}
	n, end := k.burst.add(now, time.Second)
	if n > k.opts.BurstLimit {
		w.Header().Set("Retry-After", strconv.Itoa(max(1, int(end.Sub(now).Seconds()+0.5))))
		klaviyoError(w, http.StatusTooManyRequests, "throttled", "Request was throttled.", "Request was throttled. Expected available in 1 second.")
		return
	}
	h := w.Header()
	h.Set("RateLimit-Limit", strconv.Itoa(k.opts.BurstLimit))
	h.Set("RateLimit-Remaining", strconv.Itoa(k.opts.BurstLimit-n))
	h.Set("RateLimit-Reset", strconv.Itoa(max(1, int(end.Sub(now).Seconds()+0.5))))
	switch {
	case r.Method == http.MethodPost && r.URL.Path == "/api/events":
		k.mu.Lock()
		k.events++
		k.mu.Unlock()
		w.WriteHeader(http.StatusAccepted) // validated and queued, not processed
	case r.Method == http.MethodPost && r.URL.Path == "/api/profile-import":
		w.Header().Set("Content-Type", "application/vnd.api+json")
		w.WriteHeader(http.StatusCreated)
		fmt.Fprintf(w, `{"data":{"type":"profile","id":%q}}`, correlationID())
	default:
		klaviyoError(w, http.StatusNotFound, "not_found", "Not found.", "Not found.")
	}
}

// IntercomOptions configure a fake Intercom workspace.
type IntercomOptions struct {
	Now Clock
	// Token is the valid access token. Default "tok_demo".
	Token string
	// AppVersion is the version applied when a call names none (the app's Developer Hub
	// setting). Default "2.11".
	AppVersion string
	// RateLimit calls per 10 s, then 429. Default 167.
	RateLimit int
}

// Intercom is a fake Intercom API: Intercom-Version defaults to the app setting; POST /events
// answers 202 and silently ignores duplicates and metadata beyond 10 keys; X-RateLimit-*
// headers with a Unix reset time.
type Intercom struct {
	opts IntercomOptions
	rate window

	mu       sync.Mutex
	events   map[string]bool
	versions map[string]int
	ignored  int
}

// NewIntercom returns a fake Intercom workspace.
func NewIntercom(o IntercomOptions) *Intercom {
	if o.Token == "" {
		o.Token = "tok_demo"
	}
	if o.AppVersion == "" {
		o.AppVersion = "2.11"
	}
	if o.RateLimit == 0 {
		o.RateLimit = 167
	}
	return &Intercom{opts: o, events: map[string]bool{}, versions: map[string]int{}}
}

// Token returns the valid access token.
func (i *Intercom) Token() string { return i.opts.Token }

// Versions returns how many calls were served under each API version.
func (i *Intercom) Versions() map[string]int {
	i.mu.Lock()
	defer i.mu.Unlock()
	out := map[string]int{}
	for k, v := range i.versions {
		out[k] = v
	}
	return out
}

func (i *Intercom) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if bearer(r) != i.opts.Token {
		writeJSON(w, http.StatusUnauthorized, map[string]any{"type": "error.list", "request_id": correlationID(), "errors": []any{map[string]string{"code": "unauthorized", "message": "Access Token Invalid"}}})
		return
	}
	now := i.opts.Now.now()
	n, end := i.rate.add(now, 10*time.Second)
	h := w.Header()
	h.Set("X-RateLimit-Limit", strconv.Itoa(i.opts.RateLimit))
	h.Set("X-RateLimit-Remaining", strconv.Itoa(max(i.opts.RateLimit-n, 0)))
	h.Set("X-RateLimit-Reset", strconv.FormatInt(end.Unix(), 10))
	if n > i.opts.RateLimit {
		writeJSON(w, http.StatusTooManyRequests, map[string]any{"type": "error.list", "errors": []any{map[string]string{"code": "rate_limit_exceeded", "message": fmt.Sprintf("Exceeded rate limit of %d in 10_seconds", i.opts.RateLimit)}}})
		return
	}
	version := r.Header.Get("Intercom-Version")
	if version == "" {
		version = i.opts.AppVersion // whatever the app is set to today
	}
	i.mu.Lock()
	i.versions[version]++
	i.mu.Unlock()
	if r.Method != http.MethodPost || r.URL.Path != "/events" {
		writeJSON(w, http.StatusNotFound, map[string]any{"type": "error.list", "errors": []any{map[string]string{"code": "not_found", "message": "Resource Not Found"}}})
		return
	}
	var ev struct {
		EventName string         `json:"event_name"`
		CreatedAt int64          `json:"created_at"`
		UserID    string         `json:"user_id"`
		Email     string         `json:"email"`
		Metadata  map[string]any `json:"metadata"`
	}
	if _, ok := readJSON(r, &ev); !ok || ev.EventName == "" {
		writeJSON(w, http.StatusBadRequest, map[string]any{"type": "error.list", "errors": []any{map[string]string{"code": "parameter_invalid", "message": "event_name is required"}}})
		return
	}
	key := fmt.Sprintf("%s|%s|%s|%d", ev.UserID, ev.Email, ev.EventName, ev.CreatedAt)
	i.mu.Lock()
	if i.events[key] || len(ev.Metadata) > 10 {
		i.ignored++ // a duplicate, or keys beyond the tenth: ignored, yet still 202
	}
	i.events[key] = true
	i.mu.Unlock()
	w.WriteHeader(http.StatusAccepted)
}
