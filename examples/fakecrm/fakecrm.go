package fakecrm

import (
	"context"
	"crypto/rand"
	"crypto/subtle"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"mime"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"
	"unicode"
)

const (
	// maxBody is the largest request body accepted; a larger one gets 413.
	maxBody = 1 << 20
	// maxBatch is the most inputs one batch may hold, HubSpot's limit for batch create.
	maxBatch = 100
	// maxSlowMS bounds GET /v1/slow?ms=N so that a typo cannot hold a connection for hours.
	maxSlowMS = 60_000
	// timeLayout is RFC 3339 with milliseconds in UTC, as HubSpot writes createdAt.
	timeLayout = "2006-01-02T15:04:05.000Z07:00"
)

// Options configure a CRM. The zero value is a CRM without authentication or latency.
type Options struct {
	// Token, when non-empty, is the bearer token every request except GET /healthz must carry
	// ("Authorization: Bearer <Token>"); a request without it gets 401 INVALID_AUTHENTICATION.
	// If empty, no authentication is required.
	Token string
	// Latency is waited before every answer, to stand in for a vendor across the internet
	// (the benchmark uses 20ms). A request whose context ends during the wait gets no answer.
	// If zero, answers are immediate.
	Latency time.Duration
	// Now is the clock that stamps leads (Lead.Received, createdAt). If nil, time.Now is used.
	Now func() time.Time
}

// Lead is one accepted lead.
type Lead struct {
	// ID is the CRM's identifier: "1", "2", … in arrival order.
	ID string
	// Email is the address as stored: trimmed and lower-cased. It is unique within a CRM.
	Email     string
	FirstName string
	LastName  string
	Company   string
	Phone     string
	// Properties holds any other fields, every value as a string (a JSON number or boolean
	// keeps its JSON text). It is nil when none were sent.
	Properties map[string]string
	// Received is when the CRM accepted the lead, by Options.Now.
	Received time.Time
}

// CRM is a fake CRM vendor. Create one with New.
type CRM struct {
	opts     Options
	mux      *http.ServeMux
	received atomic.Int64

	mu      sync.Mutex
	leads   []Lead
	byEmail map[string]int // index into leads
}

// New returns an empty CRM.
func New(opts Options) *CRM {
	if opts.Now == nil {
		opts.Now = time.Now
	}
	c := &CRM{opts: opts, byEmail: make(map[string]int)}
	mux := http.NewServeMux()
	mux.HandleFunc("POST /v1/leads", c.createLead)
	mux.HandleFunc("POST /v1/leads/batch", c.createBatch)
	mux.HandleFunc("GET /v1/leads", c.getLead)
	mux.HandleFunc("GET /v1/slow", c.slow)
	mux.HandleFunc("GET /healthz", c.healthz)
	// The catch-all also takes a known path with another method, so that every miss is the
	// same JSON 404 rather than the mux's plain-text 405.
	mux.HandleFunc("/", c.noRoute)
	c.mux = mux
	return c
}

// Leads returns a copy of every accepted lead, in arrival order.
func (c *CRM) Leads() []Lead {
	c.mu.Lock()
	defer c.mu.Unlock()
	out := make([]Lead, len(c.leads))
	for i, l := range c.leads {
		l.Properties = maps.Clone(l.Properties)
		out[i] = l
	}
	return out
}

// Received returns the number of requests received, whatever their path or outcome.
func (c *CRM) Received() int {
	return int(c.received.Load())
}

// ServeHTTP counts the request, waits Options.Latency, checks the bearer token and routes.
func (c *CRM) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	c.received.Add(1)
	if c.opts.Latency > 0 && !sleep(r.Context(), c.opts.Latency) {
		return
	}
	if c.opts.Token != "" && r.URL.Path != "/healthz" {
		if p := c.authenticate(r); p != nil {
			// RFC 6750 section 3: a 401 for a bearer-token resource carries WWW-Authenticate.
			challenge := `Bearer realm="fakecrm"`
			if r.Header.Get("Authorization") != "" {
				challenge += `, error="invalid_token"`
			}
			w.Header().Set("WWW-Authenticate", challenge)
			writeProblem(w, p)
			return
		}
	}
	c.mux.ServeHTTP(w, r)
}

func (c *CRM) authenticate(r *http.Request) *problem {
	h := r.Header.Get("Authorization")
	if h == "" {
		return &problem{status: http.StatusUnauthorized, category: "INVALID_AUTHENTICATION",
			message: "Authentication credentials not found."}
	}
	scheme, token, _ := strings.Cut(h, " ")
	// The auth scheme is case-insensitive (RFC 9110 section 11.1).
	if !strings.EqualFold(scheme, "Bearer") ||
		subtle.ConstantTimeCompare([]byte(strings.TrimSpace(token)), []byte(c.opts.Token)) != 1 {
		return &problem{status: http.StatusUnauthorized, category: "INVALID_AUTHENTICATION",
			message: "The access token used to make this call is invalid."}
	}
	return nil
}

// createLead handles POST /v1/leads with a JSON or form body.
func (c *CRM) createLead(w http.ResponseWriter, r *http.Request) {
	in, p := decodeLead(w, r)
	if p != nil {
		writeProblem(w, p)
		return
	}
	lead, p := in.validate()
	if p != nil {
		writeProblem(w, p)
		return
	}
	c.mu.Lock()
	lead, p = c.insertLocked(lead)
	c.mu.Unlock()
	if p != nil {
		writeProblem(w, p)
		return
	}
	writeJSON(w, http.StatusCreated, viewOf(lead))
}

// createBatch handles POST /v1/leads/batch. Each input is validated and stored on its own, as
// HubSpot's batch API does: the good ones are kept and the bad ones are reported by index.
func (c *CRM) createBatch(w http.ResponseWriter, r *http.Request) {
	started := c.opts.Now()
	inputs, p := decodeBatch(w, r)
	if p != nil {
		writeProblem(w, p)
		return
	}
	resp := batchResponse{Status: "COMPLETE", Results: []leadView{}, StartedAt: started.UTC().Format(timeLayout)}
	c.mu.Lock()
	for i, raw := range inputs {
		in, p := decodeLeadJSON(raw)
		var lead Lead
		if p == nil {
			lead, p = in.validate()
		}
		if p == nil {
			lead, p = c.insertLocked(lead)
		}
		if p != nil {
			resp.Errors = append(resp.Errors, p.batchError(i))
			continue
		}
		resp.Results = append(resp.Results, viewOf(lead))
	}
	c.mu.Unlock()
	resp.NumErrors = len(resp.Errors)
	resp.CompletedAt = c.opts.Now().UTC().Format(timeLayout)
	status := http.StatusOK
	if resp.NumErrors > 0 {
		status = http.StatusMultiStatus
	}
	writeJSON(w, status, resp)
}

// getLead handles GET /v1/leads?email=x.
func (c *CRM) getLead(w http.ResponseWriter, r *http.Request) {
	email := normaliseEmail(r.URL.Query().Get("email"))
	if email == "" {
		writeProblem(w, &problem{status: http.StatusBadRequest, category: "VALIDATION_ERROR",
			message: "The email query parameter is required.", property: "email"})
		return
	}
	c.mu.Lock()
	i, ok := c.byEmail[email]
	var lead Lead
	if ok {
		lead = c.leads[i]
	}
	c.mu.Unlock()
	if !ok {
		writeProblem(w, &problem{status: http.StatusNotFound, category: "OBJECT_NOT_FOUND",
			message: fmt.Sprintf("No lead with email %q.", email)})
		return
	}
	writeJSON(w, http.StatusOK, viewOf(lead))
}

// slow handles GET /v1/slow?ms=N: it answers after N milliseconds (at most a minute), or not
// at all if the caller gives up first.
func (c *CRM) slow(w http.ResponseWriter, r *http.Request) {
	ms, err := strconv.Atoi(r.URL.Query().Get("ms"))
	if err != nil || ms < 0 {
		writeProblem(w, &problem{status: http.StatusBadRequest, category: "VALIDATION_ERROR",
			message: "The ms query parameter must be a whole number of milliseconds, 0 or more.", property: "ms"})
		return
	}
	if !sleep(r.Context(), time.Duration(min(ms, maxSlowMS))*time.Millisecond) {
		return
	}
	writeJSON(w, http.StatusOK, map[string]bool{"ok": true})
}

func (c *CRM) healthz(w http.ResponseWriter, r *http.Request) {
	writeJSON(w, http.StatusOK, map[string]string{"status": "ok"})
}

func (c *CRM) noRoute(w http.ResponseWriter, r *http.Request) {
	writeProblem(w, &problem{status: http.StatusNotFound, category: "OBJECT_NOT_FOUND",
		message: fmt.Sprintf("no route for %s %s", r.Method, r.URL.Path)})
}

// insertLocked stores lead under a new ID unless its email is taken. c.mu must be held.
func (c *CRM) insertLocked(lead Lead) (Lead, *problem) {
	if i, ok := c.byEmail[lead.Email]; ok {
		// HubSpot's wording, which integrations parse to find the existing record.
		return Lead{}, &problem{status: http.StatusConflict, category: "CONFLICT",
			message: "Contact already exists. Existing ID: " + c.leads[i].ID}
	}
	lead.ID = strconv.Itoa(len(c.leads) + 1)
	lead.Received = c.opts.Now()
	c.leads = append(c.leads, lead)
	c.byEmail[lead.Email] = len(c.leads) - 1
	return lead, nil
}

// leadInput is one lead as a client sent it, before validation.
type leadInput struct {
	Email, FirstName, LastName, Company, Phone string
	Properties                                 map[string]string
}

// jsonLead is the JSON form of a lead. Properties stay raw so that a number or boolean can be
// kept as text and a nested value reported by name.
type jsonLead struct {
	Email      string                     `json:"email"`
	FirstName  string                     `json:"first_name"`
	LastName   string                     `json:"last_name"`
	Company    string                     `json:"company"`
	Phone      string                     `json:"phone"`
	Properties map[string]json.RawMessage `json:"properties"`
}

// decodeLead reads a lead from a JSON or form body.
func decodeLead(w http.ResponseWriter, r *http.Request) (leadInput, *problem) {
	mt, p := mediaType(r)
	if p != nil {
		return leadInput{}, p
	}
	if mt != "json" && mt != "form" {
		return leadInput{}, &problem{status: http.StatusUnsupportedMediaType, category: "UNSUPPORTED_MEDIA_TYPE",
			message: "POST /v1/leads accepts application/json or application/x-www-form-urlencoded."}
	}
	body, p := readBody(w, r)
	if p != nil {
		return leadInput{}, p
	}
	if mt == "form" {
		return decodeLeadForm(body)
	}
	return decodeLeadJSON(body)
}

func decodeLeadJSON(body []byte) (leadInput, *problem) {
	var jl jsonLead
	if err := json.Unmarshal(body, &jl); err != nil {
		return leadInput{}, jsonProblem(err)
	}
	in := leadInput{Email: jl.Email, FirstName: jl.FirstName, LastName: jl.LastName, Company: jl.Company, Phone: jl.Phone}
	for name, raw := range jl.Properties {
		v, ok, p := propertyValue(name, raw)
		if p != nil {
			return leadInput{}, p
		}
		if !ok {
			continue
		}
		if in.Properties == nil {
			in.Properties = make(map[string]string)
		}
		in.Properties[name] = v
	}
	return in, nil
}

// propertyValue turns one JSON property value into text. A null is no value (ok is false).
func propertyValue(name string, raw json.RawMessage) (v string, ok bool, p *problem) {
	if len(raw) == 0 {
		return "", false, nil
	}
	switch raw[0] {
	case 'n':
		return "", false, nil
	case '"':
		var s string
		if err := json.Unmarshal(raw, &s); err != nil {
			return "", false, jsonProblem(err)
		}
		return s, true, nil
	case '{', '[':
		return "", false, &problem{status: http.StatusBadRequest, category: "VALIDATION_ERROR",
			message:  fmt.Sprintf("Property values were not valid: properties.%s must be a string, number or boolean.", name),
			property: "properties." + name}
	}
	return string(raw), true, nil // a number or a boolean, as written
}

// decodeLeadForm reads a form body. Form tools cannot nest, so every field other than the
// named ones is a property; a "properties." prefix on a field name is dropped.
func decodeLeadForm(body []byte) (leadInput, *problem) {
	form, err := url.ParseQuery(string(body))
	if err != nil {
		return leadInput{}, &problem{status: http.StatusBadRequest, category: "INVALID_FORM",
			message: "Invalid form body: " + err.Error()}
	}
	in := leadInput{}
	for name, vs := range form {
		v := vs[0]
		switch name {
		case "email":
			in.Email = v
		case "first_name":
			in.FirstName = v
		case "last_name":
			in.LastName = v
		case "company":
			in.Company = v
		case "phone":
			in.Phone = v
		default:
			if in.Properties == nil {
				in.Properties = make(map[string]string)
			}
			in.Properties[strings.TrimPrefix(name, "properties.")] = v
		}
	}
	return in, nil
}

// decodeBatch reads the inputs of a batch, leaving each one raw to be judged on its own.
func decodeBatch(w http.ResponseWriter, r *http.Request) ([]json.RawMessage, *problem) {
	mt, p := mediaType(r)
	if p != nil {
		return nil, p
	}
	if mt != "json" {
		return nil, &problem{status: http.StatusUnsupportedMediaType, category: "UNSUPPORTED_MEDIA_TYPE",
			message: "POST /v1/leads/batch accepts application/json only."}
	}
	body, p := readBody(w, r)
	if p != nil {
		return nil, p
	}
	var req struct {
		Inputs []json.RawMessage `json:"inputs"`
	}
	if err := json.Unmarshal(body, &req); err != nil {
		return nil, jsonProblem(err)
	}
	switch {
	case len(req.Inputs) == 0:
		return nil, &problem{status: http.StatusBadRequest, category: "VALIDATION_ERROR",
			message: "inputs must hold at least one lead.", property: "inputs"}
	case len(req.Inputs) > maxBatch:
		return nil, &problem{status: http.StatusBadRequest, category: "VALIDATION_ERROR",
			message:  fmt.Sprintf("inputs holds %d leads; a batch may hold at most %d.", len(req.Inputs), maxBatch),
			property: "inputs"}
	}
	return req.Inputs, nil
}

// mediaType classifies the request's Content-Type as "json", "form" or another media type.
// A missing Content-Type is taken as JSON, as many HTTP clients omit it.
func mediaType(r *http.Request) (string, *problem) {
	ct := r.Header.Get("Content-Type")
	if ct == "" {
		return "json", nil
	}
	mt, _, err := mime.ParseMediaType(ct)
	if err != nil {
		return "", &problem{status: http.StatusUnsupportedMediaType, category: "UNSUPPORTED_MEDIA_TYPE",
			message: fmt.Sprintf("Content-Type %q cannot be parsed.", ct)}
	}
	switch {
	case mt == "application/json" || strings.HasSuffix(mt, "+json"):
		return "json", nil
	case mt == "application/x-www-form-urlencoded":
		return "form", nil
	}
	return mt, nil
}

func readBody(w http.ResponseWriter, r *http.Request) ([]byte, *problem) {
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, maxBody))
	if err != nil {
		if _, ok := errors.AsType[*http.MaxBytesError](err); ok {
			return nil, &problem{status: http.StatusRequestEntityTooLarge, category: "PAYLOAD_TOO_LARGE",
				message: fmt.Sprintf("The request body is larger than %d bytes.", maxBody)}
		}
		return nil, &problem{status: http.StatusBadRequest, category: "INVALID_REQUEST",
			message: "The request body could not be read: " + err.Error()}
	}
	return body, nil
}

// jsonProblem describes a JSON decoding error: a value of the wrong type is a validation error
// naming the property; anything else is malformed JSON.
func jsonProblem(err error) *problem {
	if te, ok := errors.AsType[*json.UnmarshalTypeError](err); ok && te.Field != "" {
		return &problem{status: http.StatusBadRequest, category: "VALIDATION_ERROR",
			message:  fmt.Sprintf("Property values were not valid: %s has the wrong type (a JSON %s).", te.Field, te.Value),
			property: te.Field}
	}
	msg := "Invalid input JSON: " + err.Error()
	if _, ok := errors.AsType[*json.UnmarshalTypeError](err); ok {
		msg = "Invalid input JSON: expected a JSON object."
	}
	return &problem{status: http.StatusBadRequest, category: "INVALID_JSON", message: msg}
}

// validate checks a lead and normalises its email.
func (in leadInput) validate() (Lead, *problem) {
	email := normaliseEmail(in.Email)
	switch {
	case email == "":
		return Lead{}, &problem{status: http.StatusBadRequest, category: "VALIDATION_ERROR",
			message: "Property values were not valid: email is required.", property: "email"}
	case !looksLikeEmail(email):
		return Lead{}, &problem{status: http.StatusBadRequest, category: "VALIDATION_ERROR",
			message: fmt.Sprintf("Property values were not valid: email %q is not a valid email address.", in.Email), property: "email"}
	}
	return Lead{
		Email: email, FirstName: in.FirstName, LastName: in.LastName, Company: in.Company, Phone: in.Phone,
		Properties: in.Properties,
	}, nil
}

// normaliseEmail trims and lower-cases an address: CRMs match contacts by email regardless of
// case.
func normaliseEmail(s string) string {
	return strings.ToLower(strings.TrimSpace(s))
}

// looksLikeEmail is deliberately loose, like a CRM's check: one @, something before it, and a
// domain with a dot that neither starts nor ends it.
func looksLikeEmail(s string) bool {
	local, domain, ok := strings.Cut(s, "@")
	return ok && local != "" && !strings.Contains(domain, "@") &&
		strings.Contains(domain, ".") && !strings.HasPrefix(domain, ".") && !strings.HasSuffix(domain, ".") &&
		!strings.Contains(domain, "..") && !strings.ContainsFunc(s, unicode.IsSpace)
}

// problem is an error answer before it is written.
type problem struct {
	status   int
	category string
	message  string
	property string // the offending property, if one is to blame
}

// errorBody is HubSpot's error shape
// (https://developers.hubspot.com/docs/api-reference/error-handling).
type errorBody struct {
	Status        string        `json:"status"` // always "error"
	Category      string        `json:"category"`
	Message       string        `json:"message"`
	CorrelationID string        `json:"correlationId"`
	Errors        []errorDetail `json:"errors,omitempty"`
}

type errorDetail struct {
	Message string              `json:"message"`
	Context map[string][]string `json:"context,omitempty"`
}

// batchError is one entry of a batch answer's errors, HubSpot's StandardError in brief.
type batchError struct {
	Status   string              `json:"status"` // always "error"
	Category string              `json:"category"`
	Message  string              `json:"message"`
	Context  map[string][]string `json:"context"`
}

func (p *problem) batchError(index int) batchError {
	ctx := map[string][]string{"index": {strconv.Itoa(index)}}
	if p.property != "" {
		ctx["propertyName"] = []string{p.property}
	}
	return batchError{Status: "error", Category: p.category, Message: p.message, Context: ctx}
}

type batchResponse struct {
	Status      string       `json:"status"`
	Results     []leadView   `json:"results"`
	NumErrors   int          `json:"numErrors,omitempty"`
	Errors      []batchError `json:"errors,omitempty"`
	StartedAt   string       `json:"startedAt"`
	CompletedAt string       `json:"completedAt"`
}

// leadView is a lead as the API shows it.
type leadView struct {
	ID         string            `json:"id"`
	Email      string            `json:"email"`
	FirstName  string            `json:"first_name,omitempty"`
	LastName   string            `json:"last_name,omitempty"`
	Company    string            `json:"company,omitempty"`
	Phone      string            `json:"phone,omitempty"`
	Properties map[string]string `json:"properties,omitempty"`
	CreatedAt  string            `json:"createdAt"`
}

func viewOf(l Lead) leadView {
	return leadView{
		ID: l.ID, Email: l.Email, FirstName: l.FirstName, LastName: l.LastName, Company: l.Company, Phone: l.Phone,
		Properties: l.Properties, CreatedAt: l.Received.UTC().Format(timeLayout),
	}
}

func writeProblem(w http.ResponseWriter, p *problem) {
	body := errorBody{Status: "error", Category: p.category, Message: p.message, CorrelationID: correlationID()}
	if p.property != "" {
		body.Errors = []errorDetail{{Message: p.message, Context: map[string][]string{"propertyName": {p.property}}}}
	}
	writeJSON(w, p.status, body)
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	b, err := json.Marshal(v)
	if err != nil {
		// Only a bug in this package can get here: every answer is made of strings, maps and slices.
		http.Error(w, "encode answer: "+err.Error(), http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	w.Write(append(b, '\n'))
}

// correlationID returns a random UUID (version 4), the form of HubSpot's correlationId.
func correlationID() string {
	var b [16]byte
	rand.Read(b[:]) // crypto/rand.Read never fails (Go 1.24 and later).
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	return fmt.Sprintf("%x-%x-%x-%x-%x", b[0:4], b[4:6], b[6:8], b[8:10], b[10:])
}

// sleep waits d, or less if ctx ends first; it reports whether the whole wait passed.
func sleep(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-ctx.Done():
		return false
	}
}
