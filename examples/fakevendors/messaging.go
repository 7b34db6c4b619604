package fakevendors

import (
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"
)

// BrazeOptions configure a fake Braze workspace.
type BrazeOptions struct {
	Now Clock
	// Key is the valid REST API key. Default "braze-demo".
	Key string
}

// Braze is a fake Braze /users/track: "message":"success" beside an errors array for inputs it
// could not use (an attribute object without an identifier), and a fatal message when nothing
// usable was sent. X-RateLimit-* headers on every answer.
type Braze struct {
	opts BrazeOptions
	rate window
}

// NewBraze returns a fake Braze workspace.
func NewBraze(o BrazeOptions) *Braze {
	if o.Key == "" {
		o.Key = "braze-demo"
	}
	return &Braze{opts: o}
}

// Key returns the valid REST API key.
func (b *Braze) Key() string { return b.opts.Key }

func (b *Braze) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if bearer(r) != b.opts.Key {
		writeJSON(w, http.StatusUnauthorized, map[string]string{"message": "Invalid API Key"})
		return
	}
	now := b.opts.Now.now()
	n, end := b.rate.add(now, 3*time.Second)
	h := w.Header()
	h.Set("X-RateLimit-Limit", "3000")
	h.Set("X-RateLimit-Remaining", strconv.Itoa(max(3000-n, 0)))
	h.Set("X-RateLimit-Reset", strconv.FormatInt(end.Unix(), 10))
	if r.Method != http.MethodPost || r.URL.Path != "/users/track" {
		writeJSON(w, http.StatusNotFound, map[string]string{"message": "Not found"})
		return
	}
	var req map[string][]map[string]any
	if _, ok := readJSON(r, &req); !ok {
		writeJSON(w, http.StatusBadRequest, map[string]string{"message": "Invalid JSON"})
		return
	}
	processed := map[string]int{}
	var errs []any
	for _, array := range []string{"attributes", "events", "purchases"} {
		for i, obj := range req[array] {
			if !hasBrazeID(obj) {
				errs = append(errs, map[string]any{"type": "'external_id' or 'braze_id' or 'user_alias' or 'email' or 'phone' is required", "input_array": array, "index": i})
				continue
			}
			processed[array]++
		}
	}
	if len(req["attributes"])+len(req["events"])+len(req["purchases"]) == 0 {
		writeJSON(w, http.StatusBadRequest, map[string]any{"message": "Valid data must be provided in the 'attributes', 'events', or 'purchases' fields.", "errors": []any{}})
		return
	}
	body := map[string]any{"message": "success", "attributes_processed": processed["attributes"], "events_processed": processed["events"], "purchases_processed": processed["purchases"]}
	if len(errs) > 0 {
		body["errors"] = errs // non-fatal: the rest was processed
	}
	writeJSON(w, http.StatusCreated, body)
}

func hasBrazeID(obj map[string]any) bool {
	for _, k := range []string{"external_id", "braze_id", "user_alias", "email", "phone"} {
		if v, ok := obj[k]; ok && v != "" && v != nil {
			return true
		}
	}
	return false
}

// Iterable is a fake Iterable API: success is code "Success", not the status; bulk updates
// report failCount, failedUpdates and the unknown fields the project drops (filteredOutFields).
type Iterable struct {
	key    string
	fields map[string]bool

	mu    sync.Mutex
	users map[string]bool
}

// NewIterable returns a fake Iterable project with API key "iterable-demo" whose project
// setting drops fields other than firstName, lastName and plan.
func NewIterable() *Iterable {
	return &Iterable{key: "iterable-demo", fields: map[string]bool{"firstName": true, "lastName": true, "plan": true}, users: map[string]bool{}}
}

// Key returns the valid API key.
func (it *Iterable) Key() string { return it.key }

func (it *Iterable) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.Header.Get("Api-Key") != it.key {
		writeJSON(w, http.StatusUnauthorized, map[string]any{"msg": "Invalid API key", "code": "BadApiKey", "params": nil})
		return
	}
	switch {
	case r.Method == http.MethodPost && r.URL.Path == "/api/users/update":
		var u map[string]any
		readJSON(r, &u)
		email, _ := u["email"].(string)
		if !validEmail(strings.ToLower(email)) {
			// The fake answers such errors with 200: only the code says it failed.
			writeJSON(w, http.StatusOK, map[string]any{"msg": "Invalid email: " + email, "code": "InvalidEmailAddressError", "params": nil})
			return
		}
		it.mu.Lock()
		it.users[strings.ToLower(email)] = true
		it.mu.Unlock()
		writeJSON(w, http.StatusOK, map[string]any{"msg": "", "code": "Success", "params": nil})
	case r.Method == http.MethodPost && r.URL.Path == "/api/users/bulkUpdate":
		var req struct {
			Users []struct {
				Email      string         `json:"email"`
				UserID     string         `json:"userId"`
				DataFields map[string]any `json:"dataFields"`
			} `json:"users"`
		}
		readJSON(r, &req)
		invalid, notFound := []string{}, []string{}
		dropped := map[string]bool{}
		ok := 0
		for _, u := range req.Users {
			switch {
			case u.Email != "" && !validEmail(strings.ToLower(u.Email)):
				invalid = append(invalid, u.Email)
			case u.Email == "" && u.UserID != "":
				notFound = append(notFound, u.UserID)
			default:
				ok++
				it.mu.Lock()
				it.users[strings.ToLower(u.Email)] = true
				it.mu.Unlock()
			}
			for f := range u.DataFields {
				if !it.fields[f] {
					dropped[f] = true
				}
			}
		}
		filtered := []string{}
		for f := range dropped {
			filtered = append(filtered, f)
		}
		writeJSON(w, http.StatusOK, map[string]any{"successCount": ok, "failCount": len(invalid) + len(notFound),
			"failedUpdates": map[string]any{"invalidEmails": invalid, "notFoundUserIds": notFound}, "filteredOutFields": filtered, "createdFields": []string{}})
	default:
		writeJSON(w, http.StatusNotFound, map[string]any{"msg": "Not found", "code": "NotFound", "params": nil})
	}
}

// MandrillOptions configure a fake Mailchimp Transactional account.
type MandrillOptions struct {
	// Key is the valid API key. Default "md-demo".
	Key string
	// HourlyQuota recipients an hour are sent; the rest are queued with queued_reason
	// hourly-quota-exhausted. Default 250.
	HourlyQuota int
}

// Mandrill is a fake Mailchimp Transactional /messages/send: 200 with one result per
// recipient; addresses on the reject list (any containing "bounce") are rejected, malformed ones
// invalid, and those over the hourly quota queued.
type Mandrill struct {
	opts MandrillOptions

	mu   sync.Mutex
	sent int
}

// NewMandrill returns a fake Mailchimp Transactional account.
func NewMandrill(o MandrillOptions) *Mandrill {
	if o.Key == "" {
		o.Key = "md-demo"
	}
	if o.HourlyQuota == 0 {
		o.HourlyQuota = 250
	}
	return &Mandrill{opts: o}
}

// Key returns the valid API key.
func (m *Mandrill) Key() string { return m.opts.Key }

func (m *Mandrill) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	path := strings.TrimSuffix(r.URL.Path, ".json")
	if !strings.HasSuffix(path, "/messages/send") {
		writeJSON(w, http.StatusNotFound, map[string]any{"status": "error", "code": -1, "name": "Unknown_Method", "message": "Unknown method"})
		return
	}
	var req struct {
		Key     string `json:"key"`
		Message struct {
			To []struct {
				Email string `json:"email"`
			} `json:"to"`
		} `json:"message"`
	}
	readJSON(r, &req)
	if req.Key != m.opts.Key {
		writeJSON(w, http.StatusUnauthorized, map[string]any{"status": "error", "code": 401, "name": "Invalid_Key", "message": "Invalid API key"})
		return
	}
	results := make([]map[string]any, 0, len(req.Message.To))
	m.mu.Lock()
	for i, to := range req.Message.To {
		res := map[string]any{"email": to.Email, "_id": fmt.Sprintf("msg-%d", i), "reject_reason": nil, "queued_reason": nil}
		switch {
		case !validEmail(strings.ToLower(to.Email)):
			res["status"] = "invalid"
		case strings.Contains(to.Email, "bounce"):
			res["status"], res["reject_reason"] = "rejected", "hard-bounce"
		case m.sent >= m.opts.HourlyQuota:
			res["status"], res["queued_reason"] = "queued", "hourly-quota-exhausted"
		default:
			m.sent++
			res["status"] = "sent"
		}
		results = append(results, res)
	}
	m.mu.Unlock()
	writeJSON(w, http.StatusOK, results)
}
