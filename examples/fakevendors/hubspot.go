package fakevendors

import (
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"
)

// HubSpotOptions configure a fake HubSpot account. Zero fields take the stated defaults.
type HubSpotOptions struct {
	Now Clock
	// Token is a private-app token that never expires. Default "pat-demo".
	Token string
	// OAuthTTL is the life of tokens from POST /oauth/v1/token. Default 30 minutes (it was 6
	// hours before HubSpot shortened it).
	OAuthTTL time.Duration
	// BurstLimit calls per 10 s (then 429 TEN_SECONDLY_ROLLING). Default 100.
	BurstLimit int
	// DailyLimit calls a day (then 429 DAILY). Default 250,000.
	DailyLimit int
	// ListsV1Cutoff is when the Contact Lists v1 endpoints stop answering 200 and start
	// answering 404. Default 2026-04-30.
	ListsV1Cutoff time.Time
}

// HubSpot is a fake HubSpot: CRM contacts (legacy /crm/v3/ and dated /crm/objects/2026-09/),
// batch create with 207 Multi-Status, custom events, Contact Lists v1 and OAuth tokens.
type HubSpot struct {
	opts HubSpotOptions

	mu       sync.Mutex
	oauth    map[string]time.Time
	contacts map[string]int
	nextID   int
	burst    window
	day      string
	dayCalls int
}

// NewHubSpot returns a fake HubSpot account.
func NewHubSpot(o HubSpotOptions) *HubSpot {
	if o.Token == "" {
		o.Token = "pat-demo"
	}
	if o.OAuthTTL == 0 {
		o.OAuthTTL = 30 * time.Minute
	}
	if o.BurstLimit == 0 {
		o.BurstLimit = 100
	}
	if o.DailyLimit == 0 {
		o.DailyLimit = 250000
	}
	if o.ListsV1Cutoff.IsZero() {
		o.ListsV1Cutoff = time.Date(2026, 4, 30, 0, 0, 0, 0, time.UTC)
	}
	return &HubSpot{opts: o, oauth: map[string]time.Time{}, contacts: map[string]int{}, nextID: 100}
}

// Token returns the private-app token.
func (h *HubSpot) Token() string { return h.opts.Token }

func hubspotError(w http.ResponseWriter, status int, category, msg string, extra map[string]any) {
	body := map[string]any{"status": "error", "message": msg, "category": category, "correlationId": correlationID()}
	for k, v := range extra {
		body[k] = v
	}
	writeJSON(w, status, body)
}

func correlationID() string {
	b := make([]byte, 8)
	rand.Read(b)
	return hex.EncodeToString(b)
}

func (h *HubSpot) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	now := h.opts.Now.now()
	if r.Method == http.MethodPost && r.URL.Path == "/oauth/v1/token" {
		b := make([]byte, 12)
		rand.Read(b)
		tok := "oauth-" + hex.EncodeToString(b)
		h.mu.Lock()
		h.oauth[tok] = now.Add(h.opts.OAuthTTL)
		h.mu.Unlock()
		writeJSON(w, http.StatusOK, map[string]any{"token_type": "bearer", "refresh_token": "refresh-demo", "access_token": tok, "expires_in": int(h.opts.OAuthTTL.Seconds())})
		return
	}
	tok := bearer(r)
	h.mu.Lock()
	exp, isOAuth := h.oauth[tok]
	h.mu.Unlock()
	switch {
	case tok == h.opts.Token:
	case isOAuth && now.Before(exp):
	case isOAuth:
		hubspotError(w, http.StatusUnauthorized, "EXPIRED_AUTHENTICATION", fmt.Sprintf("The OAuth token used to make this call expired %d minute(s) ago.", int(now.Sub(exp).Minutes())), nil)
		return
	default:
		hubspotError(w, http.StatusUnauthorized, "INVALID_AUTHENTICATION", "Authentication credentials not found.", nil)
		return
	}
	if !h.admit(w, now) {
		return
	}
	path := r.URL.Path
	switch {
	case strings.HasPrefix(path, "/contacts/v1/lists"):
		// Contact Lists v1 answered 200 right up to its cut-off, then 404 (changelog).
		if !now.Before(h.opts.ListsV1Cutoff) {
			hubspotError(w, http.StatusNotFound, "OBJECT_NOT_FOUND", "resource not found", nil)
			return
		}
		writeJSON(w, http.StatusOK, map[string]any{"lists": []any{map[string]any{"listId": 1, "name": "Newsletter"}}, "has-more": false, "offset": 1})
	case r.Method == http.MethodPost && path == "/events/v3/send":
		w.WriteHeader(http.StatusNoContent)
	case r.Method == http.MethodPost && isContacts(path, "/batch/create"):
		h.batchCreate(w, r)
	case r.Method == http.MethodPost && isContacts(path, ""):
		var in struct {
			Properties map[string]any `json:"properties"`
		}
		if _, ok := readJSON(r, &in); !ok {
			hubspotError(w, http.StatusBadRequest, "VALIDATION_ERROR", "Invalid input JSON", nil)
			return
		}
		id, category, msg := h.create(in.Properties)
		switch category {
		case "":
			writeJSON(w, http.StatusCreated, map[string]any{"id": strconv.Itoa(id), "properties": in.Properties, "createdAt": now.UTC().Format(time.RFC3339Nano)})
		case "CONFLICT":
			hubspotError(w, http.StatusConflict, category, msg, nil)
		default:
			hubspotError(w, http.StatusBadRequest, category, msg, nil)
		}
	default:
		hubspotError(w, http.StatusNotFound, "OBJECT_NOT_FOUND", "resource not found", nil)
	}
}

// isContacts matches the contacts collection (plus suffix) under the legacy v3 path or a
// dated one.
func isContacts(path, suffix string) bool {
	if strings.HasPrefix(path, "/crm/v3/objects/contacts") {
		return path == "/crm/v3/objects/contacts"+suffix
	}
	rest, ok := strings.CutPrefix(path, "/crm/objects/")
	if !ok {
		return false
	}
	_, rest, _ = strings.Cut(rest, "/")
	return rest == "contacts"+suffix
}

// admit applies the 10-second and daily limits and sets the X-HubSpot-RateLimit-* headers.
func (h *HubSpot) admit(w http.ResponseWriter, now time.Time) bool {
	n, _ := h.burst.add(now, 10*time.Second)
	h.mu.Lock()
	day := now.UTC().Format(time.DateOnly)
	if day != h.day {
		h.day, h.dayCalls = day, 0
	}
	h.dayCalls++
	daily := h.dayCalls
	h.mu.Unlock()
	hd := w.Header()
	hd.Set("X-HubSpot-RateLimit-Max", strconv.Itoa(h.opts.BurstLimit))
	hd.Set("X-HubSpot-RateLimit-Remaining", strconv.Itoa(max(h.opts.BurstLimit-n, 0)))
	hd.Set("X-HubSpot-RateLimit-Interval-Milliseconds", "10000")
	hd.Set("X-HubSpot-RateLimit-Daily", strconv.Itoa(h.opts.DailyLimit))
	hd.Set("X-HubSpot-RateLimit-Daily-Remaining", strconv.Itoa(max(h.opts.DailyLimit-daily, 0)))
	switch {
	case daily > h.opts.DailyLimit:
		hubspotError(w, http.StatusTooManyRequests, "RATE_LIMIT", "You have reached your daily limit.", map[string]any{"errorType": "RATE_LIMIT", "policyName": "DAILY"})
		return false
	case n > h.opts.BurstLimit:
		hubspotError(w, http.StatusTooManyRequests, "RATE_LIMIT", "You have reached your ten_secondly_rolling limit.", map[string]any{"errorType": "RATE_LIMIT", "policyName": "TEN_SECONDLY_ROLLING"})
		return false
	}
	return true
}

// create validates and stores a contact; category is "" on success.
func (h *HubSpot) create(props map[string]any) (id int, category, msg string) {
	email, _ := props["email"].(string)
	email = strings.ToLower(strings.TrimSpace(email))
	if !validEmail(email) {
		return 0, "VALIDATION_ERROR", fmt.Sprintf("Property values were not valid: email %q is not a valid email address", email)
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	if existing, dup := h.contacts[email]; dup {
		return 0, "CONFLICT", fmt.Sprintf("Contact already exists. Existing ID: %d", existing)
	}
	h.nextID++
	h.contacts[email] = h.nextID
	return h.nextID, "", ""
}

// batchCreate answers 201 when every input was created and 207 Multi-Status with errors[] and
// numErrors when some failed; each error carries the input's objectWriteTraceId.
func (h *HubSpot) batchCreate(w http.ResponseWriter, r *http.Request) {
	var req struct {
		Inputs []struct {
			ObjectWriteTraceID string         `json:"objectWriteTraceId"`
			Properties         map[string]any `json:"properties"`
		} `json:"inputs"`
	}
	if _, ok := readJSON(r, &req); !ok || len(req.Inputs) == 0 || len(req.Inputs) > 100 {
		hubspotError(w, http.StatusBadRequest, "VALIDATION_ERROR", "inputs must hold 1 to 100 objects", nil)
		return
	}
	now := h.opts.Now.now().UTC().Format(time.RFC3339Nano)
	results, errs := []any{}, []any{}
	for _, in := range req.Inputs {
		id, category, msg := h.create(in.Properties)
		if category != "" {
			errs = append(errs, map[string]any{"status": "error", "category": category, "message": msg,
				"context": map[string]any{"objectWriteTraceId": []string{in.ObjectWriteTraceID}}, "errors": []any{}, "links": map[string]any{}})
			continue
		}
		results = append(results, map[string]any{"id": strconv.Itoa(id), "properties": in.Properties, "createdAt": now})
	}
	body := map[string]any{"status": "COMPLETE", "results": results, "startedAt": now, "completedAt": now}
	if len(errs) == 0 {
		writeJSON(w, http.StatusCreated, body)
		return
	}
	body["numErrors"], body["errors"] = len(errs), errs
	writeJSON(w, http.StatusMultiStatus, body)
}

// Contacts returns how many contacts the account holds.
func (h *HubSpot) Contacts() int {
	h.mu.Lock()
	defer h.mu.Unlock()
	return len(h.contacts)
}
