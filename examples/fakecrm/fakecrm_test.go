package fakecrm_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/mtguard/mtguard/examples/fakecrm"
)

// now is the fixed clock of every test CRM.
func now() time.Time { return time.Date(2026, 3, 2, 9, 30, 0, 0, time.UTC) }

const nowText = "2026-03-02T09:30:00.000Z"

func newServer(t *testing.T, opts fakecrm.Options) (*fakecrm.CRM, *httptest.Server) {
	t.Helper()
	if opts.Now == nil {
		opts.Now = now
	}
	crm := fakecrm.New(opts)
	srv := httptest.NewServer(crm)
	t.Cleanup(srv.Close)
	return crm, srv
}

// answer is a decoded JSON answer; the fields cover leads, errors and batches.
type answer struct {
	status int
	header http.Header

	ID            string            `json:"id"`
	Email         string            `json:"email"`
	FirstName     string            `json:"first_name"`
	Properties    map[string]string `json:"properties"`
	CreatedAt     string            `json:"createdAt"`
	Status        string            `json:"status"`
	Category      string            `json:"category"`
	Message       string            `json:"message"`
	CorrelationID string            `json:"correlationId"`
	Errors        []struct {
		Category string              `json:"category"`
		Message  string              `json:"message"`
		Context  map[string][]string `json:"context"`
	} `json:"errors"`
	Results   []struct{ ID, Email string } `json:"results"`
	NumErrors int                          `json:"numErrors"`
	OK        bool                         `json:"ok"`
}

// property returns the propertyName of the answer's first error detail, or "".
func (a answer) property() string {
	if len(a.Errors) == 0 || len(a.Errors[0].Context["propertyName"]) == 0 {
		return ""
	}
	return a.Errors[0].Context["propertyName"][0]
}

type call struct {
	method, path, contentType, body string
	auth                            string // the Authorization header, if any
}

func do(t *testing.T, srv *httptest.Server, c call) answer {
	t.Helper()
	req, err := http.NewRequestWithContext(t.Context(), c.method, srv.URL+c.path, strings.NewReader(c.body))
	if err != nil {
		t.Fatal(err)
	}
	if c.contentType != "" {
		req.Header.Set("Content-Type", c.contentType)
	}
	if c.auth != "" {
		req.Header.Set("Authorization", c.auth)
	}
	resp, err := srv.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	if ct := resp.Header.Get("Content-Type"); ct != "application/json" {
		t.Errorf("%s %s: Content-Type %q, want application/json", c.method, c.path, ct)
	}
	a := answer{status: resp.StatusCode, header: resp.Header}
	if err := json.Unmarshal(b, &a); err != nil {
		t.Fatalf("%s %s: answer is not JSON: %v\n%s", c.method, c.path, err, b)
	}
	if a.status >= 400 && (a.Status != "error" || a.Category == "" || a.Message == "" || len(a.CorrelationID) != 36) {
		t.Errorf("%s %s: error answer lacks status, category, message or correlationId:\n%s", c.method, c.path, b)
	}
	return a
}

const jsonCT = "application/json"
const formCT = "application/x-www-form-urlencoded"

func postLead(body string) call {
	return call{method: "POST", path: "/v1/leads", contentType: jsonCT, body: body}
}

func TestCreateLead(t *testing.T) {
	tests := []struct {
		name         string
		call         call
		wantStatus   int
		wantCategory string
		wantProperty string
		wantMessage  string // a substring of the message
	}{
		{name: "json", call: postLead(`{"email":"ada@example.com","first_name":"Ada"}`), wantStatus: 201},
		{name: "json with charset", call: call{method: "POST", path: "/v1/leads", contentType: "application/json; charset=utf-8",
			body: `{"email":"ada@example.com"}`}, wantStatus: 201},
		{name: "no content type is json", call: call{method: "POST", path: "/v1/leads", body: `{"email":"ada@example.com"}`}, wantStatus: 201},
		{name: "form", call: call{method: "POST", path: "/v1/leads", contentType: formCT, body: "email=ada%40example.com&first_name=Ada"}, wantStatus: 201},
		{name: "email missing", call: postLead(`{"first_name":"Ada"}`), wantStatus: 400, wantCategory: "VALIDATION_ERROR", wantProperty: "email"},
		{name: "email blank", call: postLead(`{"email":"  "}`), wantStatus: 400, wantCategory: "VALIDATION_ERROR", wantProperty: "email"},
		{name: "email without at", call: postLead(`{"email":"ada.example.com"}`), wantStatus: 400, wantCategory: "VALIDATION_ERROR", wantProperty: "email"},
		{name: "email with two ats", call: postLead(`{"email":"ada@lovelace@example.com"}`), wantStatus: 400, wantCategory: "VALIDATION_ERROR", wantProperty: "email"},
		{name: "email without dot in domain", call: postLead(`{"email":"ada@localhost"}`), wantStatus: 400, wantCategory: "VALIDATION_ERROR", wantProperty: "email"},
		{name: "email with empty local part", call: postLead(`{"email":"@example.com"}`), wantStatus: 400, wantCategory: "VALIDATION_ERROR", wantProperty: "email"},
		{name: "email with space", call: postLead(`{"email":"ada lovelace@example.com"}`), wantStatus: 400, wantCategory: "VALIDATION_ERROR", wantProperty: "email"},
		{name: "form email invalid", call: call{method: "POST", path: "/v1/leads", contentType: formCT, body: "email=ada"}, wantStatus: 400, wantCategory: "VALIDATION_ERROR", wantProperty: "email"},
		{name: "email not a string", call: postLead(`{"email":42}`), wantStatus: 400, wantCategory: "VALIDATION_ERROR", wantProperty: "email"},
		{name: "properties not an object", call: postLead(`{"email":"ada@example.com","properties":"x"}`), wantStatus: 400, wantCategory: "VALIDATION_ERROR", wantProperty: "properties"},
		{name: "nested property", call: postLead(`{"email":"ada@example.com","properties":{"utm":{"source":"x"}}}`), wantStatus: 400, wantCategory: "VALIDATION_ERROR", wantProperty: "properties.utm"},
		{name: "malformed json", call: postLead(`{"email":`), wantStatus: 400, wantCategory: "INVALID_JSON"},
		{name: "trailing garbage", call: postLead(`{"email":"ada@example.com"} x`), wantStatus: 400, wantCategory: "INVALID_JSON"},
		{name: "json array", call: postLead(`[{"email":"ada@example.com"}]`), wantStatus: 400, wantCategory: "INVALID_JSON"},
		{name: "bad form encoding", call: call{method: "POST", path: "/v1/leads", contentType: formCT, body: "email=%zz"}, wantStatus: 400, wantCategory: "INVALID_FORM"},
		{name: "unsupported media type", call: call{method: "POST", path: "/v1/leads", contentType: "text/plain", body: "ada@example.com"}, wantStatus: 415, wantCategory: "UNSUPPORTED_MEDIA_TYPE"},
		{name: "duplicate email", call: postLead(`{"email":"taken@example.com"}`), wantStatus: 409, wantCategory: "CONFLICT", wantMessage: "Contact already exists. Existing ID: 1"},
		{name: "duplicate email in other case", call: postLead(`{"email":" Taken@Example.COM "}`), wantStatus: 409, wantCategory: "CONFLICT", wantMessage: "Existing ID: 1"},
		{name: "body too large", call: postLead(`{"email":"ada@example.com","properties":{"notes":"` + strings.Repeat("x", 1<<20) + `"}}`),
			wantStatus: 413, wantCategory: "PAYLOAD_TOO_LARGE"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			crm, srv := newServer(t, fakecrm.Options{})
			if a := do(t, srv, postLead(`{"email":"taken@example.com"}`)); a.status != 201 {
				t.Fatalf("seeding: status %d", a.status)
			}
			a := do(t, srv, tt.call)
			if a.status != tt.wantStatus {
				t.Fatalf("status %d, want %d (%s: %s)", a.status, tt.wantStatus, a.Category, a.Message)
			}
			if a.Category != tt.wantCategory {
				t.Errorf("category %q, want %q", a.Category, tt.wantCategory)
			}
			if got := a.property(); got != tt.wantProperty {
				t.Errorf("propertyName %q, want %q", got, tt.wantProperty)
			}
			if !strings.Contains(a.Message, tt.wantMessage) {
				t.Errorf("message %q, want it to contain %q", a.Message, tt.wantMessage)
			}
			wantLeads := 1
			if tt.wantStatus == 201 {
				wantLeads = 2
				if a.ID != "2" || a.Email != "ada@example.com" || a.CreatedAt != nowText {
					t.Errorf("created = id %q, email %q, createdAt %q; want 2, ada@example.com, %s", a.ID, a.Email, a.CreatedAt, nowText)
				}
			}
			if got := len(crm.Leads()); got != wantLeads {
				t.Errorf("%d leads stored, want %d", got, wantLeads)
			}
		})
	}
}

func TestCreateLeadFields(t *testing.T) {
	tests := []struct {
		name string
		call call
	}{
		{name: "json", call: postLead(`{"email":"Ada@Example.com","first_name":"Ada","last_name":"Lovelace","company":"Analytical Engines",
			"phone":"+44 20 7946 0000","properties":{"utm_source":"newsletter","score":12.5,"consent":true,"fax":null}}`)},
		{name: "form", call: call{method: "POST", path: "/v1/leads", contentType: formCT,
			body: "email=Ada%40Example.com&first_name=Ada&last_name=Lovelace&company=Analytical+Engines&phone=%2B44+20+7946+0000" +
				"&properties.utm_source=newsletter&score=12.5&consent=true"}},
	}
	want := fakecrm.Lead{
		ID: "1", Email: "ada@example.com", FirstName: "Ada", LastName: "Lovelace", Company: "Analytical Engines",
		Phone: "+44 20 7946 0000", Properties: map[string]string{"utm_source": "newsletter", "score": "12.5", "consent": "true"},
		Received: now(),
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			crm, srv := newServer(t, fakecrm.Options{})
			a := do(t, srv, tt.call)
			if a.status != 201 {
				t.Fatalf("status %d: %s", a.status, a.Message)
			}
			if a.FirstName != "Ada" || a.Properties["utm_source"] != "newsletter" {
				t.Errorf("answer lacks the lead's fields: %+v", a)
			}
			leads := crm.Leads()
			if len(leads) != 1 {
				t.Fatalf("%d leads stored, want 1", len(leads))
			}
			if got := fmt.Sprintf("%+v", leads[0]); got != fmt.Sprintf("%+v", want) {
				t.Errorf("stored\n%s\nwant\n%s", got, fmt.Sprintf("%+v", want))
			}
		})
	}
}

func TestBatch(t *testing.T) {
	post := func(body string) call {
		return call{method: "POST", path: "/v1/leads/batch", contentType: jsonCT, body: body}
	}
	many := `{"inputs":[` + strings.Repeat(`{"email":"x@example.com"},`, 100) + `{"email":"y@example.com"}]}`
	type wantError struct{ category, index, property string }
	tests := []struct {
		name         string
		call         call
		wantStatus   int
		wantCategory string // of the whole answer, when it failed
		wantResults  []string
		wantErrors   []wantError
	}{
		{name: "all ok", call: post(`{"inputs":[{"email":"a@example.com"},{"email":"b@example.com"},{"email":"c@example.com"}]}`),
			wantStatus: 200, wantResults: []string{"a@example.com", "b@example.com", "c@example.com"}},
		{name: "some fail", call: post(`{"inputs":[{"email":"a@example.com"},{"email":"nope"},{"email":"A@example.com"},{"email":"taken@example.com"},{"email":7},{"email":"b@example.com"}]}`),
			wantStatus: 207, wantResults: []string{"a@example.com", "b@example.com"},
			wantErrors: []wantError{{"VALIDATION_ERROR", "1", "email"}, {"CONFLICT", "2", ""}, {"CONFLICT", "3", ""}, {"VALIDATION_ERROR", "4", "email"}}},
		{name: "all fail", call: post(`{"inputs":[{"first_name":"Ada"},"not an object"]}`),
			wantStatus: 207, wantErrors: []wantError{{"VALIDATION_ERROR", "0", "email"}, {"INVALID_JSON", "1", ""}}},
		{name: "no inputs", call: post(`{}`), wantStatus: 400, wantCategory: "VALIDATION_ERROR"},
		{name: "empty inputs", call: post(`{"inputs":[]}`), wantStatus: 400, wantCategory: "VALIDATION_ERROR"},
		{name: "inputs not a list", call: post(`{"inputs":{"email":"a@example.com"}}`), wantStatus: 400, wantCategory: "VALIDATION_ERROR"},
		{name: "over 100 inputs", call: post(many), wantStatus: 400, wantCategory: "VALIDATION_ERROR"},
		{name: "malformed json", call: post(`{"inputs":[`), wantStatus: 400, wantCategory: "INVALID_JSON"},
		{name: "form", call: call{method: "POST", path: "/v1/leads/batch", contentType: formCT, body: "email=a%40example.com"},
			wantStatus: 415, wantCategory: "UNSUPPORTED_MEDIA_TYPE"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			crm, srv := newServer(t, fakecrm.Options{})
			do(t, srv, postLead(`{"email":"taken@example.com"}`))
			a := do(t, srv, tt.call)
			if a.status != tt.wantStatus {
				t.Fatalf("status %d, want %d (%s: %s)", a.status, tt.wantStatus, a.Category, a.Message)
			}
			if a.status >= 400 {
				if a.Category != tt.wantCategory {
					t.Errorf("category %q, want %q", a.Category, tt.wantCategory)
				}
				if len(crm.Leads()) != 1 {
					t.Errorf("a refused batch stored leads: %d", len(crm.Leads())-1)
				}
				return
			}
			if a.Status != "COMPLETE" {
				t.Errorf("status %q, want COMPLETE", a.Status)
			}
			var got []string
			for _, r := range a.Results {
				got = append(got, r.Email)
			}
			if fmt.Sprint(got) != fmt.Sprint(tt.wantResults) {
				t.Errorf("results %v, want %v", got, tt.wantResults)
			}
			if a.NumErrors != len(tt.wantErrors) || len(a.Errors) != len(tt.wantErrors) {
				t.Fatalf("numErrors %d with %d errors, want %d", a.NumErrors, len(a.Errors), len(tt.wantErrors))
			}
			for i, w := range tt.wantErrors {
				e := a.Errors[i]
				prop := ""
				if p := e.Context["propertyName"]; len(p) > 0 {
					prop = p[0]
				}
				if e.Category != w.category || fmt.Sprint(e.Context["index"]) != "["+w.index+"]" || prop != w.property {
					t.Errorf("errors[%d] = %s index %v property %q, want %s index %s property %q",
						i, e.Category, e.Context["index"], prop, w.category, w.index, w.property)
				}
			}
			if got, want := len(crm.Leads()), 1+len(tt.wantResults); got != want {
				t.Errorf("%d leads stored, want %d", got, want)
			}
		})
	}
}

func TestGetLead(t *testing.T) {
	tests := []struct {
		name         string
		path         string
		wantStatus   int
		wantCategory string
	}{
		{name: "found", path: "/v1/leads?email=ada%40example.com", wantStatus: 200},
		{name: "found in other case", path: "/v1/leads?email=ADA%40example.com", wantStatus: 200},
		{name: "unknown", path: "/v1/leads?email=bob%40example.com", wantStatus: 404, wantCategory: "OBJECT_NOT_FOUND"},
		{name: "no email", path: "/v1/leads", wantStatus: 400, wantCategory: "VALIDATION_ERROR"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, srv := newServer(t, fakecrm.Options{})
			do(t, srv, postLead(`{"email":"ada@example.com","first_name":"Ada"}`))
			a := do(t, srv, call{method: "GET", path: tt.path})
			if a.status != tt.wantStatus || a.Category != tt.wantCategory {
				t.Fatalf("status %d %q, want %d %q", a.status, a.Category, tt.wantStatus, tt.wantCategory)
			}
			if a.status == 200 && (a.ID != "1" || a.Email != "ada@example.com" || a.FirstName != "Ada" || a.CreatedAt != nowText) {
				t.Errorf("lead = %+v", a)
			}
		})
	}
}

func TestRoutes(t *testing.T) {
	tests := []struct {
		method, path string
		wantStatus   int
		wantMessage  string
	}{
		{"GET", "/healthz", 200, ""},
		{"GET", "/nope", 404, "no route for GET /nope"},
		{"DELETE", "/v1/leads", 404, "no route for DELETE /v1/leads"},
		{"GET", "/v1/leads/batch", 404, "no route for GET /v1/leads/batch"},
		{"POST", "/v1/leads/", 404, "no route for POST /v1/leads/"},
		{"POST", "/v1/slow?ms=1", 404, "no route for POST /v1/slow"},
	}
	for _, tt := range tests {
		t.Run(tt.method+" "+tt.path, func(t *testing.T) {
			_, srv := newServer(t, fakecrm.Options{})
			a := do(t, srv, call{method: tt.method, path: tt.path})
			if a.status != tt.wantStatus {
				t.Fatalf("status %d, want %d", a.status, tt.wantStatus)
			}
			if a.status == 404 && (a.Category != "OBJECT_NOT_FOUND" || a.Message != tt.wantMessage) {
				t.Errorf("answer %s %q, want OBJECT_NOT_FOUND %q", a.Category, a.Message, tt.wantMessage)
			}
		})
	}
}

func TestAuthentication(t *testing.T) {
	const lead = `{"email":"ada@example.com"}`
	tests := []struct {
		name          string
		call          call
		wantStatus    int
		wantChallenge string
	}{
		{name: "no header", call: postLead(lead), wantStatus: 401, wantChallenge: `Bearer realm="fakecrm"`},
		{name: "wrong token", call: call{method: "POST", path: "/v1/leads", body: lead, auth: "Bearer guess"},
			wantStatus: 401, wantChallenge: `Bearer realm="fakecrm", error="invalid_token"`},
		{name: "wrong scheme", call: call{method: "POST", path: "/v1/leads", body: lead, auth: "Basic s3cret"},
			wantStatus: 401, wantChallenge: `Bearer realm="fakecrm", error="invalid_token"`},
		{name: "token", call: call{method: "POST", path: "/v1/leads", body: lead, auth: "Bearer s3cret"}, wantStatus: 201},
		{name: "scheme in lower case", call: call{method: "POST", path: "/v1/leads", body: lead, auth: "bearer s3cret"}, wantStatus: 201},
		{name: "unknown path needs a token too", call: call{method: "GET", path: "/nope"}, wantStatus: 401, wantChallenge: `Bearer realm="fakecrm"`},
		{name: "healthz needs none", call: call{method: "GET", path: "/healthz"}, wantStatus: 200},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			crm, srv := newServer(t, fakecrm.Options{Token: "s3cret"})
			a := do(t, srv, tt.call)
			if a.status != tt.wantStatus {
				t.Fatalf("status %d, want %d", a.status, tt.wantStatus)
			}
			if got := a.header.Get("WWW-Authenticate"); got != tt.wantChallenge {
				t.Errorf("WWW-Authenticate %q, want %q", got, tt.wantChallenge)
			}
			if a.status == 401 && a.Category != "INVALID_AUTHENTICATION" {
				t.Errorf("category %q, want INVALID_AUTHENTICATION", a.Category)
			}
			if crm.Received() != 1 {
				t.Errorf("Received() = %d, want 1", crm.Received())
			}
		})
	}
}

func TestSlow(t *testing.T) {
	tests := []struct {
		path       string
		wantStatus int
	}{
		{"/v1/slow?ms=0", 200},
		{"/v1/slow?ms=15", 200},
		{"/v1/slow", 400},
		{"/v1/slow?ms=-1", 400},
		{"/v1/slow?ms=soon", 400},
	}
	for _, tt := range tests {
		t.Run(tt.path, func(t *testing.T) {
			_, srv := newServer(t, fakecrm.Options{})
			start := time.Now()
			a := do(t, srv, call{method: "GET", path: tt.path})
			if a.status != tt.wantStatus {
				t.Fatalf("status %d, want %d (%s)", a.status, tt.wantStatus, a.Message)
			}
			if a.status == 200 && !a.OK {
				t.Error(`answer lacks "ok":true`)
			}
			if a.status == 400 && a.property() != "ms" {
				t.Errorf("propertyName %q, want ms", a.property())
			}
			if tt.path == "/v1/slow?ms=15" && time.Since(start) < 15*time.Millisecond {
				t.Errorf("answered after %v, want at least 15ms", time.Since(start))
			}
		})
	}
}

// TestSlowGivesUp checks that a caller that stops waiting frees the handler: without that,
// srv.Close in the cleanup would wait out the whole minute.
func TestSlowGivesUp(t *testing.T) {
	_, srv := newServer(t, fakecrm.Options{})
	ctx, cancel := context.WithTimeout(t.Context(), 50*time.Millisecond)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, "GET", srv.URL+"/v1/slow?ms=600000", nil)
	if err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	resp, err := srv.Client().Do(req)
	if err == nil {
		resp.Body.Close()
		t.Fatalf("got status %d, want the client to time out", resp.StatusCode)
	}
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("err = %v, want a deadline", err)
	}
	if d := time.Since(start); d > 5*time.Second {
		t.Errorf("gave up after %v", d)
	}
}

func TestLatency(t *testing.T) {
	crm, srv := newServer(t, fakecrm.Options{Latency: 30 * time.Millisecond})
	start := time.Now()
	if a := do(t, srv, postLead(`{"email":"ada@example.com"}`)); a.status != 201 {
		t.Fatalf("status %d", a.status)
	}
	if d := time.Since(start); d < 30*time.Millisecond {
		t.Errorf("answered after %v, want at least the 30ms latency", d)
	}
	if crm.Received() != 1 {
		t.Errorf("Received() = %d, want 1", crm.Received())
	}
}

func TestLeadsIsACopy(t *testing.T) {
	crm, srv := newServer(t, fakecrm.Options{})
	do(t, srv, postLead(`{"email":"ada@example.com","properties":{"utm_source":"newsletter"}}`))
	leads := crm.Leads()
	leads[0].Email = "changed@example.com"
	leads[0].Properties["utm_source"] = "changed"
	again := crm.Leads()
	if again[0].Email != "ada@example.com" || again[0].Properties["utm_source"] != "newsletter" {
		t.Errorf("changing Leads() changed the CRM: %+v", again[0])
	}
}

// TestConcurrent is meant for -race: many clients create leads at once, some with the same email.
func TestConcurrent(t *testing.T) {
	crm, srv := newServer(t, fakecrm.Options{})
	const distinct, same = 40, 10
	var wg sync.WaitGroup
	statuses := make(chan int, distinct+same)
	for i := range distinct + same {
		email := "lead" + strconv.Itoa(i) + "@example.com"
		if i >= distinct {
			email = "same@example.com"
		}
		wg.Go(func() {
			resp, err := srv.Client().Post(srv.URL+"/v1/leads", jsonCT, strings.NewReader(`{"email":"`+email+`"}`))
			if err != nil {
				t.Error(err)
				return
			}
			resp.Body.Close()
			statuses <- resp.StatusCode
		})
	}
	wg.Wait()
	close(statuses)
	count := map[int]int{}
	for s := range statuses {
		count[s]++
	}
	if count[201] != distinct+1 || count[409] != same-1 {
		t.Errorf("statuses %v, want %d created and %d conflicts", count, distinct+1, same-1)
	}
	leads := crm.Leads()
	for i, l := range leads {
		if l.ID != strconv.Itoa(i+1) {
			t.Errorf("leads[%d].ID = %q, want %d", i, l.ID, i+1)
		}
	}
	if crm.Received() != distinct+same {
		t.Errorf("Received() = %d, want %d", crm.Received(), distinct+same)
	}
}

func Example() {
	crm := fakecrm.New(fakecrm.Options{Now: func() time.Time { return time.Date(2026, 3, 2, 9, 30, 0, 0, time.UTC) }})
	srv := httptest.NewServer(crm)
	defer srv.Close()

	for _, body := range []string{
		`{"email":"ada@example.com","first_name":"Ada"}`,
		`{"email":"ADA@example.com"}`,
	} {
		resp, err := http.Post(srv.URL+"/v1/leads", "application/json", strings.NewReader(body))
		if err != nil {
			fmt.Println(err)
			return
		}
		var answer struct{ ID, Category, Message string }
		err = json.NewDecoder(resp.Body).Decode(&answer)
		resp.Body.Close()
		switch {
		case err != nil:
			fmt.Println(err)
		case resp.StatusCode == http.StatusCreated:
			fmt.Println(resp.StatusCode, "id", answer.ID)
		default:
			fmt.Println(resp.StatusCode, answer.Category+":", answer.Message)
		}
	}
	fmt.Println(len(crm.Leads()), "lead(s) stored")
	// Output:
	// 201 id 1
	// 409 CONFLICT: Contact already exists. Existing ID: 1
	// 1 lead(s) stored
}
