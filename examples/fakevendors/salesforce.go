package fakevendors

import (
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"sync"
)

// SalesforceOptions configure a fake Salesforce org. Zero fields take the stated defaults.
type SalesforceOptions struct {
	Now Clock
	// Session is the only valid session id (Authorization: Bearer). Default "00D-demo-session".
	Session string
	// DailyLimit is the org's API allocation; beyond it every call gets 403
	// REQUEST_LIMIT_EXCEEDED. Default 100,000.
	DailyLimit int
	// OldestVersion is the oldest API version still answering; older ones get 410. Default 31.0
	// (21.0 to 30.0 were retired in Summer '25).
	OldestVersion float64
}

// Salesforce is a fake Salesforce REST API: /services/data/vNN.N/ with sObjects, sObject
// Collections and Composite batch. Every answer carries Sforce-Limit-Info.
type Salesforce struct {
	opts SalesforceOptions

	mu     sync.Mutex
	used   int
	leads  map[string]string // email -> id
	nextID int
}

// NewSalesforce returns a fake Salesforce org.
func NewSalesforce(o SalesforceOptions) *Salesforce {
	if o.Session == "" {
		o.Session = "00D-demo-session"
	}
	if o.DailyLimit == 0 {
		o.DailyLimit = 100000
	}
	if o.OldestVersion == 0 {
		o.OldestVersion = 31.0
	}
	return &Salesforce{opts: o, leads: map[string]string{}}
}

// Session returns the org's valid session id.
func (s *Salesforce) Session() string { return s.opts.Session }

type sfError struct {
	Message   string   `json:"message"`
	ErrorCode string   `json:"errorCode"`
	Fields    []string `json:"fields,omitempty"`
}

func (s *Salesforce) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	rest, ok := strings.CutPrefix(r.URL.Path, "/services/data/v")
	if !ok {
		http.NotFound(w, r)
		return
	}
	ver, rest, _ := strings.Cut(rest, "/")
	v, err := strconv.ParseFloat(ver, 64)
	if err != nil {
		writeJSON(w, http.StatusNotFound, []sfError{{"The requested resource does not exist", "NOT_FOUND", nil}})
		return
	}
	if v < s.opts.OldestVersion {
		// A retired version answers 410 GONE (REST API end-of-life policy).
		writeJSON(w, http.StatusGone, []sfError{{fmt.Sprintf("API version %s is no longer supported", ver), "GONE", nil}})
		return
	}
	if bearer(r) != s.opts.Session {
		writeJSON(w, http.StatusUnauthorized, []sfError{{"Session expired or invalid", "INVALID_SESSION_ID", nil}})
		return
	}
	s.mu.Lock()
	if s.used >= s.opts.DailyLimit {
		s.mu.Unlock()
		w.Header().Set("Sforce-Limit-Info", fmt.Sprintf("api-usage=%d/%d", s.used, s.opts.DailyLimit))
		writeJSON(w, http.StatusForbidden, []sfError{{"TotalRequests Limit exceeded.", "REQUEST_LIMIT_EXCEEDED", nil}})
		return
	}
	s.used++
	w.Header().Set("Sforce-Limit-Info", fmt.Sprintf("api-usage=%d/%d", s.used, s.opts.DailyLimit))
	s.mu.Unlock()

	switch {
	case r.Method == http.MethodPost && rest == "sobjects/Lead":
		var lead map[string]any
		if _, ok := readJSON(r, &lead); !ok {
			writeJSON(w, http.StatusBadRequest, []sfError{{"JSON parser error", "JSON_PARSER_ERROR", nil}})
			return
		}
		id, errs := s.create(lead)
		if errs != nil {
			writeJSON(w, http.StatusBadRequest, errs)
			return
		}
		writeJSON(w, http.StatusCreated, map[string]any{"id": id, "success": true, "errors": []any{}})
	case r.Method == http.MethodPost && rest == "composite/sobjects":
		s.collections(w, r)
	case r.Method == http.MethodPost && rest == "composite/batch":
		s.compositeBatch(w, r)
	default:
		writeJSON(w, http.StatusNotFound, []sfError{{"The requested resource does not exist", "NOT_FOUND", nil}})
	}
}

// create validates and stores a lead: LastName is required, Email must be valid and unique.
func (s *Salesforce) create(lead map[string]any) (string, []sfError) {
	email, _ := lead["Email"].(string)
	email = strings.ToLower(strings.TrimSpace(email))
	if last, _ := lead["LastName"].(string); last == "" {
		return "", []sfError{{"Required fields are missing: [LastName]", "REQUIRED_FIELD_MISSING", []string{"LastName"}}}
	}
	if email != "" && !validEmail(email) {
		return "", []sfError{{"Email: invalid email address: " + email, "INVALID_EMAIL_ADDRESS", []string{"Email"}}}
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, dup := s.leads[email]; dup && email != "" {
		return "", []sfError{{"Use one of these records?", "DUPLICATES_DETECTED", nil}}
	}
	s.nextID++
	id := fmt.Sprintf("00Q5e0000%06d", s.nextID)
	if email != "" {
		s.leads[email] = id
	}
	return id, nil
}

// collections is sObject Collections: 200 with one result per record, in input order. With
// allOrNone, one bad record rolls back the others (ALL_OR_NONE_OPERATION_ROLLED_BACK).
func (s *Salesforce) collections(w http.ResponseWriter, r *http.Request) {
	var req struct {
		AllOrNone bool             `json:"allOrNone"`
		Records   []map[string]any `json:"records"`
	}
	if _, ok := readJSON(r, &req); !ok || len(req.Records) > 200 {
		writeJSON(w, http.StatusBadRequest, []sfError{{"Malformed request", "INVALID_FIELD", nil}})
		return
	}
	results := make([]map[string]any, len(req.Records))
	if req.AllOrNone {
		for i, rec := range req.Records {
			if _, errs := s.validate(rec); errs != nil {
				for j := range results {
					results[j] = map[string]any{"success": false, "errors": recordErrors([]sfError{{"Record rolled back because not all records were valid and the request was using AllOrNone header", "ALL_OR_NONE_OPERATION_ROLLED_BACK", nil}})}
				}
				results[i] = map[string]any{"success": false, "errors": recordErrors(errs)}
				writeJSON(w, http.StatusOK, results)
				return
			}
		}
	}
	for i, rec := range req.Records {
		id, errs := s.create(rec)
		if errs != nil {
			results[i] = map[string]any{"success": false, "errors": recordErrors(errs)}
			continue
		}
		results[i] = map[string]any{"id": id, "success": true, "errors": []any{}}
	}
	writeJSON(w, http.StatusOK, results)
}

// recordErrors writes errors the way per-record results carry them: statusCode, message,
// fields (where top-level errors say errorCode).
func recordErrors(errs []sfError) []map[string]any {
	out := make([]map[string]any, len(errs))
	for i, e := range errs {
		fields := e.Fields
		if fields == nil {
			fields = []string{}
		}
		out[i] = map[string]any{"statusCode": e.ErrorCode, "message": e.Message, "fields": fields}
	}
	return out
}

// validate checks a record the way create does, without storing it.
func (s *Salesforce) validate(rec map[string]any) (string, []sfError) {
	email, _ := rec["Email"].(string)
	if last, _ := rec["LastName"].(string); last == "" {
		return "", []sfError{{"Required fields are missing: [LastName]", "REQUIRED_FIELD_MISSING", []string{"LastName"}}}
	}
	if email != "" && !validEmail(strings.ToLower(email)) {
		return "", []sfError{{"Email: invalid email address: " + email, "INVALID_EMAIL_ADDRESS", []string{"Email"}}}
	}
	return "", nil
}

// compositeBatch answers 200 with hasErrors and one result per subrequest; with haltOnError,
// subrequests after a failure get 412 BATCH_PROCESSING_HALTED.
func (s *Salesforce) compositeBatch(w http.ResponseWriter, r *http.Request) {
	var req struct {
		HaltOnError   bool `json:"haltOnError"`
		BatchRequests []struct {
			Method    string         `json:"method"`
			URL       string         `json:"url"`
			RichInput map[string]any `json:"richInput"`
		} `json:"batchRequests"`
	}
	if _, ok := readJSON(r, &req); !ok {
		writeJSON(w, http.StatusBadRequest, []sfError{{"Malformed request", "JSON_PARSER_ERROR", nil}})
		return
	}
	hasErrors, halted := false, false
	var results []any
	for _, br := range req.BatchRequests {
		switch {
		case halted:
			results = append(results, map[string]any{"statusCode": 412, "result": []sfError{{"Batch processing halted per request", "BATCH_PROCESSING_HALTED", nil}}})
		case br.Method == http.MethodPost && strings.HasSuffix(br.URL, "sobjects/Lead"):
			id, errs := s.create(br.RichInput)
			if errs != nil {
				hasErrors, halted = true, req.HaltOnError
				results = append(results, map[string]any{"statusCode": 400, "result": errs})
				continue
			}
			results = append(results, map[string]any{"statusCode": 201, "result": map[string]any{"id": id, "success": true, "errors": []any{}}})
		default:
			hasErrors, halted = true, req.HaltOnError
			results = append(results, map[string]any{"statusCode": 404, "result": []sfError{{"The requested resource does not exist", "NOT_FOUND", nil}}})
		}
	}
	writeJSON(w, http.StatusOK, map[string]any{"hasErrors": hasErrors, "results": results})
}

// Leads returns how many leads the org holds.
func (s *Salesforce) Leads() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.leads)
}
