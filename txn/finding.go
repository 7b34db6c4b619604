package txn

import "time"

// Severity grades a finding.
type Severity string

// The severities, from least to most serious.
const (
	SeverityInfo  Severity = "info"
	SeverityWarn  Severity = "warn"
	SeverityError Severity = "error"
)

// Finding explains something noticed about a call. Code is a stable dotted code from the
// catalogue (Catalogue); the checks that make a finding and the store that keeps it share this
// one type, so nothing is translated on the way.
type Finding struct {
	Code     string   `json:"code"`
	Severity Severity `json:"severity,omitempty"`
	// Message is what a person reads: specific to this call.
	Message string `json:"message"`
	// Detail is optional evidence: a JSON pointer, a header value.
	Detail string `json:"detail,omitempty"`
	// Sunset is the date a deprecated version or endpoint stops working, when the vendor or
	// the version rule says; the alert rules read it here rather than from Message.
	Sunset *time.Time `json:"sunset,omitempty"`
	// Replacement names what to move to (a version, an endpoint), when known.
	Replacement string `json:"replacement,omitempty"`
}

// NewFinding returns a finding with code's catalogue severity.
func NewFinding(code, message, detail string) Finding {
	spec, _ := Lookup(code)
	return Finding{Code: code, Severity: spec.Severity, Message: message, Detail: detail}
}
