package inspect

import (
	"slices"

	"github.com/mtguard/mtguard/txn"
)

// Who answered a call, in Handling.AnsweredBy.
const (
	AnsweredByVendor  = "vendor"
	AnsweredByMtguard = "mtguard"
	AnsweredByNobody  = "nobody" // the tool went away, or the call is still in flight
)

// Handling says what happened to a call between the tool and the vendor: whether it was sent
// to the vendor, who answered the tool, and why mtguard answered itself. show and the HAR
// export both tell it this way, so that neither presents mtguard's own answer as the vendor's.
type Handling struct {
	// Forwarded is whether mtguard sent the call on to the vendor, or may have (whether or not
	// the vendor answered); false only when mtguard knows that nothing was sent.
	Forwarded bool
	// AnsweredBy is AnsweredByVendor, AnsweredByMtguard or AnsweredByNobody.
	AnsweredBy string
	// Finding is the code of the finding that made mtguard answer itself; empty otherwise.
	Finding string
	// Why says, for a call the vendor did not answer, what happened, naming the finding:
	// "rejected by mtguard (schema.request.invalid)".
	Why string
}

// HandlingOf reads a stored call's handling from its outcome, status and findings.
func HandlingOf(tx txn.Transaction) Handling {
	h := Handling{Forwarded: true, AnsweredBy: AnsweredByVendor}
	// The pipeline appends the finding that explains its own answer last; the outcome's own
	// code is preferred when it is there.
	finding := func(code string) string {
		if slices.ContainsFunc(tx.Findings, func(f txn.Finding) bool { return f.Code == code }) {
			return code
		}
		if n := len(tx.Findings); n > 0 {
			return tx.Findings[n-1].Code
		}
		return ""
	}
	because := func(s, code string) string {
		if code == "" {
			return s
		}
		return s + " (" + code + ")"
	}
	switch tx.Outcome {
	case txn.OutcomeRejected:
		h.Forwarded, h.AnsweredBy = false, AnsweredByMtguard
		h.Finding = finding("")
		h.Why = because("rejected by mtguard", h.Finding)
	case txn.OutcomeThrottled:
		h.Forwarded, h.AnsweredBy = false, AnsweredByMtguard
		h.Finding = finding(txn.CodeRateLimitThrottled)
		h.Why = because("held back by mtguard to stay within the vendor's limits", h.Finding)
	case txn.OutcomeUnreachable:
		h.AnsweredBy = AnsweredByMtguard
		h.Finding = finding(txn.CodeUpstreamUnreachable)
		h.Why = because("the vendor could not be reached", h.Finding)
	case txn.OutcomeTimeout:
		h.AnsweredBy = AnsweredByMtguard
		h.Finding = finding(txn.CodeUpstreamTimeout)
		h.Why = because("the vendor did not answer in time", h.Finding) + "; it may still have processed the call"
	case txn.OutcomeInterrupted, txn.OutcomePending:
		// The tool got no answer that mtguard knows of, and mtguard cannot rule out that the
		// vendor got the call (a call cut short by a crash is recorded only as sent or not),
		// so it counts as forwarded.
		h.AnsweredBy = AnsweredByNobody
		h.Why = "the call ended before an answer; the vendor may have received it"
		if tx.Outcome == txn.OutcomePending {
			h.Why = "the call is still in flight"
		}
	}
	if h.AnsweredBy == AnsweredByMtguard && tx.Status == 0 {
		// mtguard records its own answer's status; none means the tool was not there to get
		// one (a throttled call whose tool left while it queued).
		h.AnsweredBy = AnsweredByNobody
		if tx.Outcome == txn.OutcomeThrottled {
			h.Why += "; the tool had gone before mtguard answered"
		}
	}
	return h
}

// Summary is the handling in one line: "not forwarded: rejected by mtguard (...)", "sent, but
// the vendor could not be reached (...)", or "answered by the vendor".
func (h Handling) Summary() string {
	switch {
	case h.AnsweredBy == AnsweredByVendor:
		return "answered by the vendor"
	case !h.Forwarded:
		return "not forwarded: " + h.Why
	}
	return "sent, but " + h.Why
}
