package fakevendors

import (
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"time"
)

// MarketoOptions configure a fake Marketo instance. Zero fields take Marketo's documented values.
type MarketoOptions struct {
	Now Clock
	// ClientID and ClientSecret are the identity credentials. Default "demo-client" and
	// "demo-secret".
	ClientID, ClientSecret string
	// TokenTTL is an access token's life. Default 3600 s.
	TokenTTL time.Duration
	// RateLimit calls per RateWindow, then 606. Default 100 per 20 s.
	RateLimit  int
	RateWindow time.Duration
	// Concurrency calls at once, then 615 for the next. Default 10.
	Concurrency int
	// DailyQuota calls a day (reset at midnight US Central), then 607. Default 50,000.
	DailyQuota int
	// Latency is waited inside each call (after the concurrency slot is taken), so tests can
	// hold calls open. Default none.
	Latency time.Duration
	// QueryTokenCutoff is when the access_token query parameter stops being accepted (601).
	// Default 2026-08-31, the date in help/rest-api/authentication.md after five postponements.
	QueryTokenCutoff time.Time
}

// Marketo is a fake Marketo Engage REST API. Every error but 413/414 answers HTTP 200 with
// success:false; per-record failures are status:"skipped" with 1xxx reasons.
type Marketo struct {
	opts    MarketoOptions
	central *time.Location

	mu       sync.Mutex
	tokens   map[string]time.Time // token -> expiry
	current  string
	leads    map[string]int // email -> id
	nextID   int
	day      string
	dayCalls int
	inFlight int
	rate     window
}

// NewMarketo returns a fake Marketo instance.
func NewMarketo(o MarketoOptions) *Marketo {
	if o.ClientID == "" {
		o.ClientID, o.ClientSecret = "demo-client", "demo-secret"
	}
	if o.TokenTTL == 0 {
		o.TokenTTL = 3600 * time.Second
	}
	if o.RateLimit == 0 {
		o.RateLimit = 100
	}
	if o.RateWindow == 0 {
		o.RateWindow = 20 * time.Second
	}
	if o.Concurrency == 0 {
		o.Concurrency = 10
	}
	if o.DailyQuota == 0 {
		o.DailyQuota = 50000
	}
	if o.QueryTokenCutoff.IsZero() {
		o.QueryTokenCutoff = time.Date(2026, 8, 31, 0, 0, 0, 0, time.UTC)
	}
	central, err := time.LoadLocation("America/Chicago")
	if err != nil {
		central = time.FixedZone("CST", -6*3600)
	}
	return &Marketo{opts: o, central: central, tokens: map[string]time.Time{}, leads: map[string]int{}, nextID: 50}
}

// Token returns a fresh access token, as the identity endpoint would (for tests and the demo).
func (m *Marketo) Token() string {
	m.mu.Lock()
	defer m.mu.Unlock()
	tok, _ := m.tokenLocked()
	return tok
}

func (m *Marketo) tokenLocked() (string, time.Duration) {
	now := m.opts.Now.now()
	if exp, ok := m.tokens[m.current]; ok && now.Before(exp) {
		// The identity endpoint hands out the same token until it expires.
		return m.current, exp.Sub(now)
	}
	b := make([]byte, 16)
	rand.Read(b)
	tok := hex.EncodeToString(b) + ":int"
	m.tokens[tok] = now.Add(m.opts.TokenTTL)
	m.current = tok
	return tok, m.opts.TokenTTL
}

type marketoError struct {
	Code    string `json:"code"`
	Message string `json:"message"`
}

func (m *Marketo) fail(w http.ResponseWriter, code, msg string) {
	writeJSON(w, http.StatusOK, map[string]any{"requestId": requestID(), "success": false, "errors": []marketoError{{code, msg}}})
}

func requestID() string {
	b := make([]byte, 4)
	rand.Read(b)
	return hex.EncodeToString(b) + "#fake"
}

func (m *Marketo) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if len(r.URL.RequestURI()) > 8<<10 {
		w.WriteHeader(http.StatusRequestURITooLong) // retry as POST with _method=GET
		return
	}
	if r.ContentLength > 1<<20 {
		w.WriteHeader(http.StatusRequestEntityTooLarge)
		return
	}
	if r.URL.Path == "/identity/oauth/token" {
		m.identity(w, r)
		return
	}
	if !strings.HasPrefix(r.URL.Path, "/rest/") {
		http.NotFound(w, r)
		return
	}
	now := m.opts.Now.now()
	// Auth errors (601/602) do not count against the quota or the rate limit.
	tok := bearer(r)
	if q := r.URL.Query().Get("access_token"); q != "" && tok == "" {
		if !now.Before(m.opts.QueryTokenCutoff) {
			m.fail(w, "601", "Access token invalid")
			return
		}
		tok = q
	}
	m.mu.Lock()
	exp, known := m.tokens[tok]
	m.mu.Unlock()
	switch {
	case tok == "":
		m.fail(w, "600", "Access token not specified")
		return
	case !known:
		m.fail(w, "601", "Access token invalid")
		return
	case !now.Before(exp):
		m.fail(w, "602", "Access token expired")
		return
	}
	if code, msg := m.admit(now); code != "" {
		m.fail(w, code, msg)
		return
	}
	defer func() {
		m.mu.Lock()
		m.inFlight--
		m.mu.Unlock()
	}()
	if m.opts.Latency > 0 {
		time.Sleep(m.opts.Latency)
	}
	switch {
	case r.Method == http.MethodPost && r.URL.Path == "/rest/v1/leads.json":
		m.syncLeads(w, r)
	case r.Method == http.MethodGet && r.URL.Path == "/rest/v1/leads.json":
		m.getLeads(w, r)
	case strings.HasPrefix(r.URL.Path, "/rest/asset/v1/email/"):
		// Email v1 assets: success, with a warning that API support is being dropped (blog.md).
		writeJSON(w, http.StatusOK, map[string]any{"success": true, "errors": []any{}, "requestId": requestID(),
			"warnings": []string{"This is a v1 email asset. API support for modifying v1 emails is being dropped, please migrate to v2 email assets."},
			"result":   []any{map[string]any{"id": 1}}})
	default:
		m.fail(w, "610", "Requested resource not found")
	}
}

// admit applies the daily quota (607), the concurrency limit (615) and the rate limit (606).
func (m *Marketo) admit(now time.Time) (code, msg string) {
	m.mu.Lock()
	defer m.mu.Unlock()
	day := now.In(m.central).Format(time.DateOnly)
	if day != m.day {
		m.day, m.dayCalls = day, 0
	}
	if m.dayCalls >= m.opts.DailyQuota {
		return "607", "Daily quota reached"
	}
	if m.inFlight >= m.opts.Concurrency {
		return "615", "Concurrent access limit reached"
	}
	if n, _ := m.rate.add(now, m.opts.RateWindow); n > m.opts.RateLimit {
		return "606", fmt.Sprintf("Max rate limit '%d' exceeded with in '%d' secs", m.opts.RateLimit, int(m.opts.RateWindow.Seconds()))
	}
	m.dayCalls++
	m.inFlight++
	return "", ""
}

func (m *Marketo) identity(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	if q.Get("client_id") != m.opts.ClientID || q.Get("client_secret") != m.opts.ClientSecret {
		writeJSON(w, http.StatusUnauthorized, map[string]string{"error": "unauthorized", "error_description": "Bad client credentials"})
		return
	}
	m.mu.Lock()
	tok, left := m.tokenLocked()
	m.mu.Unlock()
	writeJSON(w, http.StatusOK, map[string]any{"access_token": tok, "token_type": "bearer", "expires_in": int(left.Seconds()), "scope": "apis@demo"})
}

// syncLeads is Sync Leads: createOnly, updateOnly, createOrUpdate (default) or
// createDuplicate, keyed by email, up to 300 records, results in input order.
func (m *Marketo) syncLeads(w http.ResponseWriter, r *http.Request) {
	var req struct {
		Action      string           `json:"action"`
		LookupField string           `json:"lookupField"`
		Input       []map[string]any `json:"input"`
	}
	if _, ok := readJSON(r, &req); !ok {
		m.fail(w, "609", "Invalid JSON")
		return
	}
	switch req.Action {
	case "":
		req.Action = "createOrUpdate"
	case "createOnly", "updateOnly", "createOrUpdate", "createDuplicate":
	default:
		m.fail(w, "1003", fmt.Sprintf("Invalid action '%s'", req.Action))
		return
	}
	if len(req.Input) == 0 || len(req.Input) > 300 {
		m.fail(w, "1003", "Invalid input: between 1 and 300 records")
		return
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	results := make([]any, len(req.Input))
	for i, in := range req.Input {
		email, _ := in["email"].(string)
		email = strings.ToLower(strings.TrimSpace(email))
		id, exists := m.leads[email]
		skip := func(code, msg string) {
			results[i] = map[string]any{"status": "skipped", "reasons": []marketoError{{code, msg}}}
		}
		switch {
		case email == "":
			skip("1002", "Missing value for required field 'email'")
		case !validEmail(email):
			skip("1003", "Invalid value for field 'email'")
		case exists && req.Action == "createOnly":
			skip("1005", "Lead already exists")
		case !exists && req.Action == "updateOnly":
			skip("1004", "Lead not found")
		case exists && req.Action != "createDuplicate":
			results[i] = map[string]any{"id": id, "status": "updated"}
		default:
			m.nextID++
			m.leads[email] = m.nextID
			results[i] = map[string]any{"id": m.nextID, "status": "created"}
		}
	}
	writeJSON(w, http.StatusOK, map[string]any{"requestId": requestID(), "success": true, "result": results})
}

func (m *Marketo) getLeads(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	var out []any
	m.mu.Lock()
	for _, e := range strings.Split(q.Get("filterValues"), ",") {
		if id, ok := m.leads[strings.ToLower(strings.TrimSpace(e))]; ok {
			out = append(out, map[string]any{"id": id, "email": e})
		}
	}
	m.mu.Unlock()
	resp := map[string]any{"requestId": requestID(), "success": true, "result": out}
	if len(out) == 0 {
		resp["result"] = []any{}
	}
	writeJSON(w, http.StatusOK, resp)
}

// Leads returns how many leads the instance holds.
func (m *Marketo) Leads() int {
	m.mu.Lock()
	defer m.mu.Unlock()
	return len(m.leads)
}
