package schemas

import (
	"net/http"
	"net/url"
	"time"

	"github.com/mtguard/mtguard/txn"
)

// unparsed reports whether b is the zero Body: nobody parsed the body yet.
func (b Body) unparsed() bool {
	return b.Kind == "" && b.JSON == nil && b.Form == nil && b.Err == nil
}

// Request is what request checks see of a call: the vendor-relative path (route prefix and the
// upstream URL's own path removed) and its body.
type Request struct {
	Method string
	Path   string // relative to the vendor's base URL, without the query, e.g. /crm/v3/objects/contacts
	Query  url.Values
	Header http.Header
	// Body is the parsed body when the caller already parsed it; otherwise Doc parses Raw on
	// first use, so a route whose checks never read the request body does not pay for it.
	Body Body
	Raw  []byte
}

// Doc returns the parsed body, parsing Raw (by the Content-Type header) the first time.
func (r *Request) Doc() Body {
	if r.Body.unparsed() {
		r.Body = ParseBody(r.Header.Get("Content-Type"), r.Raw)
	}
	return r.Body
}

// Response is what response checks see: the vendor's status, headers and (captured, decoded)
// body.
type Response struct {
	Status int
	Header http.Header
	// Body is the parsed body when the caller already parsed it; otherwise Doc parses Raw.
	Body      Body
	Raw       []byte
	Truncated bool // Raw is only the first part of the body
}

// Doc returns the parsed body, parsing Raw (by the Content-Type header) the first time.
func (r *Response) Doc() Body {
	if r.Body.unparsed() {
		r.Body = ParseBody(r.Header.Get("Content-Type"), r.Raw)
	}
	return r.Body
}

// Rejection stops a call before it is forwarded: the pipeline answers it with an RFC 9457
// problem and records the call as rejected.
type Rejection struct {
	Status int    // 400, 410, 422...
	Code   string // the finding code that explains it
	Title  string
	Detail string
	// Errors are listed in the problem body, one per violation, when the check has several.
	Errors []string
}

// RequestVerdict is what the request checks of a route concluded.
type RequestVerdict struct {
	Findings []txn.Finding
	// Reject, when set, stops the call.
	Reject *Rejection
	// SetHeaders are added to the forwarded request (a pinned API version, say).
	SetHeaders http.Header
	// AnswerHeaders are added to the answer the tool receives (a contract warning, say).
	AnswerHeaders http.Header
}

// Signal tells the throttler what the vendor said about its limits.
type Signal struct {
	Kind       string        // "ratelimit" (slow down, pause until Reset) or "quota" (exhausted until Reset), "remaining"
	RetryAfter time.Duration // how long to pause, when the vendor said
	Remaining  int           // remaining budget, for "remaining"; -1 when unknown
	Limit      int           // the window's limit, when the vendor said; 0 when unknown
}

// ResponseVerdict is what the response checks of a route concluded.
type ResponseVerdict struct {
	// Outcome overrides the status-based outcome when set: "failed" for a 2xx that failed,
	// "partial" for a batch with failed records, "delivered" for a non-2xx the vendor
	// documents as success.
	Outcome  txn.Outcome
	Findings []txn.Finding
	Records  []txn.RecordResult
	Signals  []Signal
}

// RequestCheck inspects a call before it is forwarded. now is the clock of the call (dated
// rules compare against it). A check adds to v; it must not keep req.
type RequestCheck func(now time.Time, req *Request, v *RequestVerdict)

// ResponseCheck inspects the vendor's answer. It never blocks the answer: the tool already has
// it.
type ResponseCheck func(now time.Time, req *Request, resp *Response, v *ResponseVerdict)

// Checks are the compiled checks of one route, in the order they run. The zero value checks
// nothing. Contracts, vendor presets and route rules each contribute functions.
type Checks struct {
	Request  []RequestCheck
	Response []ResponseCheck
}

// Empty reports whether there is nothing to check, so the pipeline can skip building inputs.
func (c *Checks) Empty() bool {
	return c == nil || (len(c.Request) == 0 && len(c.Response) == 0)
}

// CheckRequest runs every request check.
func (c *Checks) CheckRequest(now time.Time, req *Request) RequestVerdict {
	var v RequestVerdict
	if c == nil {
		return v
	}
	for _, check := range c.Request {
		check(now, req, &v)
	}
	return v
}

// CheckResponse runs every response check.
func (c *Checks) CheckResponse(now time.Time, req *Request, resp *Response) ResponseVerdict {
	var v ResponseVerdict
	if c == nil {
		return v
	}
	for _, check := range c.Response {
		check(now, req, resp, &v)
	}
	return v
}
