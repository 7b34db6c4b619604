package txn

import (
	"net/http"
	"time"
)

// Outcome classifies one call. Exactly one applies; the first that applies wins, in the order below.
type Outcome string

// The outcomes, in the order of precedence in which the pipeline assigns them.
const (
	// OutcomePending is a call whose intent is recorded and whose outcome is not yet known.
	// A pending call found when the store opens becomes OutcomeInterrupted.
	OutcomePending     Outcome = "pending"
	OutcomeRejected    Outcome = "rejected"
	OutcomeThrottled   Outcome = "throttled"
	OutcomeUnreachable Outcome = "unreachable"
	OutcomeTimeout     Outcome = "timeout"
	OutcomeInterrupted Outcome = "interrupted"
	OutcomeFailed      Outcome = "failed"
	OutcomePartial     Outcome = "partial"
	OutcomeDelivered   Outcome = "delivered"
	// OutcomeQueued is a call mtguard accepted for store-and-forward delivery (a route's
	// delivery.mode: queue): the tool got the route's accept answer, and the redeliverer's
	// attempts are replays of it, each a transaction of its own.
	OutcomeQueued Outcome = "queued"
)

// Outcomes lists every outcome a stored transaction may carry.
var Outcomes = []Outcome{
	OutcomePending, OutcomeRejected, OutcomeThrottled, OutcomeUnreachable, OutcomeTimeout,
	OutcomeInterrupted, OutcomeFailed, OutcomePartial, OutcomeDelivered, OutcomeQueued,
}

// Valid reports whether o is one of Outcomes.
func (o Outcome) Valid() bool {
	for _, v := range Outcomes {
		if o == v {
			return true
		}
	}
	return false
}

// Message is one side of a call as stored: headers and trailers already redacted, body bounded.
type Message struct {
	Headers http.Header `json:"headers,omitempty"`
	// Trailers are the header fields sent after the body (a chunked HTTP/1.1 body or HTTP/2),
	// redacted like Headers; a trailer that was announced but never sent is left out.
	Trailers    http.Header `json:"trailers,omitempty"`
	ContentType string      `json:"content_type,omitempty"`
	// Body holds the captured body as text; when the body is not valid UTF-8 it holds base64
	// and BodyEncoding is "base64".
	Body         string `json:"body,omitempty"`
	BodyEncoding string `json:"body_encoding,omitempty"`
	// Decoded names the Content-Encoding (gzip) that was removed from the stored body; the
	// caller received the encoded bytes.
	Decoded string `json:"decoded,omitempty"`
	// Size is the full body size in bytes as sent on the wire; it exceeds len(Body) when Truncated.
	Size int64 `json:"size"`
	// SizeAtLeast says that Size is a lower bound: mtguard stopped reading the body before its
	// end (a body of unknown length over max_body, an answer cut off on its way to the tool),
	// so the body was at least Size bytes long.
	SizeAtLeast bool `json:"size_at_least,omitempty"`
	Truncated   bool `json:"truncated,omitempty"`
	// Incomplete says that the body did not pass whole: the answer was cut off on its way to
	// the tool (a write that made no progress within the write deadline, a tool that hung up)
	// or the vendor's body broke off. The tool got at most Size bytes of it.
	Incomplete bool `json:"incomplete,omitempty"`
}

// RecordResult is the fate of one record inside a batch call.
type RecordResult struct {
	Index  int    `json:"index"`
	Key    string `json:"key,omitempty"`
	OK     bool   `json:"ok"`
	Reason string `json:"reason,omitempty"`
}

// Transaction is one call through mtguard: what the tool sent, what was forwarded, what the
// vendor answered, and what mtguard made of it. It is written twice: the Call before it is
// forwarded (the intent) and the Result once the call has ended. In JSON both are flattened
// into one object.
type Transaction struct {
	Call
	Result
}

// Call is what is known before a call is forwarded.
type Call struct {
	ID          string    `json:"id"`
	Time        time.Time `json:"time"`
	Route       string    `json:"route"`
	Front       string    `json:"front,omitempty"`
	Method      string    `json:"method"`
	Path        string    `json:"path"`
	UpstreamURL string    `json:"upstream_url,omitempty"`
	RemoteAddr  string    `json:"remote_addr,omitempty"`
	Caller      string    `json:"caller,omitempty"` // the route caller it authenticated as; "" for none
	RecordKeys  []string  `json:"record_keys"`
	Request     Message   `json:"request"`
	ReplayOf    string    `json:"replay_of,omitempty"`
	Attempt     int       `json:"attempt,omitempty"`
	// Actor is the name of the admin token whose action made this call (a replay); "" for
	// calls the tools sent.
	Actor string `json:"actor,omitempty"`
	// Drill is the id of the drill that answered or altered this call (mtguard drill); ""
	// for real traffic. Drill calls are left out of the Prometheus metrics.
	Drill string `json:"drill,omitempty"`
	// Kind is KindProbe for a read-back mtguard sent itself to check that the call Verifies
	// delivered its records; "" for the calls of tools and replays.
	Kind     string `json:"kind,omitempty"`
	Verifies string `json:"verifies,omitempty"`

	// IntentStored is set by the store once it has committed this call's intent, so that its
	// result can be written without checking for an earlier one. It is never serialised.
	IntentStored bool `json:"-"`
}

// Result is what becomes known once a call has ended.
type Result struct {
	Status     int     `json:"status"`
	Outcome    Outcome `json:"outcome"`
	DurationMS float64 `json:"duration_ms"`
	WaitMS     float64 `json:"wait_ms,omitempty"`
	UpstreamMS float64 `json:"upstream_ms,omitempty"`
	// RecordMS is how long the call waited for its request to be durably recorded before it
	// was forwarded: the disk's share of the latency mtguard adds.
	RecordMS   float64        `json:"record_ms,omitempty"`
	Findings   []Finding      `json:"findings"`
	Records    []RecordResult `json:"records,omitempty"`
	Response   Message        `json:"response"`
	ReplayedBy []string       `json:"replayed_by,omitempty"`
	// Error is mtguard's own account of a call that did not get a vendor answer.
	Error string `json:"error,omitempty"`
}
