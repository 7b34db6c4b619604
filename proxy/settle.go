package proxy

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"slices"

	"github.com/mtguard/mtguard/schemas"
	"github.com/mtguard/mtguard/txn"
	"github.com/mtguard/mtguard/vendors"
)

// failure is what a send that got no answer means for the call: the outcome and finding to
// record and the problem mtguard answers with. OutcomeInterrupted means the caller has gone
// and nobody is left to answer.
type failure struct {
	outcome txn.Outcome
	code    string
	problem txn.Problem
}

// classifyFailure says what the error of a send that got no answer means. The route's
// timeout is checked first, so that a send it cut off is recorded as a timeout even when the
// caller has also gone since.
func (f *flight) classifyFailure(err error) failure {
	route := f.call.Route
	switch {
	case errors.Is(err, errUpstreamTimeout) || isTimeout(err):
		return failure{txn.OutcomeTimeout, txn.CodeUpstreamTimeout, txn.Problem{
			Title: "Vendor timed out", Status: http.StatusGatewayTimeout,
			Detail: fmt.Sprintf("route %q: %s did not answer within %s; the vendor may still have processed the call", route.Name, route.Upstream.Host, route.Timeout),
		}}
	case f.req.Context().Err() != nil:
		return failure{txn.OutcomeInterrupted, txn.CodeClientGone, txn.Problem{
			Detail: "the calling tool went away before the vendor answered",
		}}
	default:
		return failure{txn.OutcomeUnreachable, txn.CodeUpstreamUnreachable, txn.Problem{
			Title: "Vendor unreachable", Status: http.StatusBadGateway,
			Detail: fmt.Sprintf("route %q: could not reach %s: %v", route.Name, route.Upstream.Host, unwrapURLError(err)),
		}}
	}
}

// settleFailure records a send that got no answer and answers in the vendor's place. The
// budget is released first: without an answer there is no limit signal to wait for.
func (f *flight) settleFailure(fl failure) (*http.Response, error) {
	f.release()
	if fl.outcome == txn.OutcomeInterrupted {
		f.tx.Findings = append(f.tx.Findings, finding(fl.code, fl.problem.Detail))
		f.p.finish(f.tx, fl.outcome, 0, fl.problem.Detail)
		return nil, ErrClientGone
	}
	return f.p.refuse(f.req, f.tx, fl.outcome, fl.code, fl.problem), nil
}

// answer hands the vendor's answer on as the vendor gave it, plus mtguard's headers. The
// body is captured as it streams to the caller; the call is classified and settled when the
// front end closes it.
func (f *flight) answer(resp *http.Response) *http.Response {
	f.heedRetryAfter(resp)
	resp.Header.Set(HeaderID, f.tx.ID)
	addHeaders(resp.Header, f.verdict.AnswerHeaders)
	f.tx.Status = resp.StatusCode
	f.recordProvisional(resp)
	resp.Body = &capturingBody{rc: resp.Body, limit: f.p.cfg.CaptureBody, done: f.settleResponse}
	return resp
}

// switchProtocols settles a call the vendor answered 101 Switching Protocols (a WebSocket
// handshake): the connection becomes a tunnel between the tool and the vendor, with no end the
// pipeline could wait for. The handshake is recorded and the budget released at once; the
// bytes that pass through the tunnel are not recorded. The body, which is the connection to
// the vendor, is handed on as it is: the front end writes to it.
func (f *flight) switchProtocols(resp *http.Response) (*http.Response, error) {
	resp.Header.Set(HeaderID, f.tx.ID)
	addHeaders(resp.Header, f.verdict.AnswerHeaders)
	f.tx.Response, _ = f.p.captureAnswer(resp, nil, 0)
	conn, ok := resp.Body.(io.ReadWriteCloser)
	if !ok {
		// Not a connection mtguard can tunnel: end the call as one that got no usable answer.
		resp.Body.Close()
		f.cancel(nil)
		return f.settleFailure(failure{txn.OutcomeUnreachable, txn.CodeUpstreamUnreachable, txn.Problem{
			Title: "Vendor unreachable", Status: http.StatusBadGateway,
			Detail: fmt.Sprintf("route %q: %s switched protocols, but its connection cannot be passed on", f.call.Route.Name, f.call.Route.Upstream.Host),
		}})
	}
	// The front end closes the vendor's connection when the tunnel ends; this closes it too
	// when the front end gives up before tunnelling (another protocol than the tool asked for).
	context.AfterFunc(f.req.Context(), func() { conn.Close() })
	f.tx.Findings = append(f.tx.Findings, finding(txn.CodeConnectionUpgraded,
		fmt.Sprintf("the vendor switched the connection to %q; what the tool and the vendor exchanged after the switch is not recorded", resp.Header.Get("Upgrade"))))
	f.release()
	f.p.finish(f.tx, txn.OutcomeDelivered, resp.StatusCode, "")
	return resp, nil
}

// heedRetryAfter obeys a 429 or 503 that says when to come back at once, whatever the route's
// rules, before the answer streams to the caller: the caller's next call already waits.
func (f *flight) heedRetryAfter(resp *http.Response) {
	if !f.limited() {
		return
	}
	if s, ok := retryAfterSignal(resp, f.p.cfg.Now()); ok {
		f.p.cfg.Limiter.Observe(f.call.Route.LimitGroup, []schemas.Signal{s})
		f.paused = true
	}
}

// ruling is what the vendor's answer means for the call, before any of it is recorded.
type ruling struct {
	outcome  txn.Outcome
	errMsg   string
	response txn.Message
	findings []txn.Finding
	records  []txn.RecordResult
	signals  []schemas.Signal // what the response checks read about the vendor's limits
}

// settleResponse is the capturing body's report that the front end closed the answer.
func (f *flight) settleResponse(captured []byte, total int64, readErr error) {
	f.cancel(nil)
	f.settle(f.classify(captured, total, readErr))
}

// classify says what the vendor's answer means: its status decides the outcome unless a
// response check knows better (a 200 that failed, a batch with failed records). captured is
// the start of the body, total its size, readErr why reading it stopped.
func (f *flight) classify(captured []byte, total int64, readErr error) ruling {
	r := ruling{outcome: txn.OutcomeDelivered}
	if f.resp.StatusCode >= 400 {
		r.outcome = txn.OutcomeFailed
	}
	// The body is cut when reading it failed, or when the front end closed it before its end
	// because the tool stopped taking it.
	cut := readErr != nil && !errors.Is(readErr, io.EOF) || readErr == nil && f.moreToCome(total)
	switch {
	case !cut:
	case readErr == nil || f.req.Context().Err() != nil:
		// The tool hung up (its request's context ended, or writing to it failed): the
		// vendor answered, the tool did not get all of it. Not the vendor's fault.
		r.findings = append(r.findings, finding(txn.CodeClientDisconnected, fmt.Sprintf(
			"the vendor answered %d, but the calling tool hung up after %d bytes of the answer had reached mtguard; it may resend the call", f.resp.StatusCode, total)))
	default:
		r.errMsg = fmt.Sprintf("the vendor's response body broke off after %d bytes: %v", total, readErr)
	}
	var checked schemas.Response
	r.response, checked = f.p.captureAnswer(f.resp, captured, total)
	// The checks must not judge the start of a body as the whole of it.
	checked.Truncated = checked.Truncated || cut
	if f.creq != nil {
		// The route's response checks read the answer the tool already has.
		rv := f.call.Route.Checks.CheckResponse(f.p.cfg.Now(), f.creq, &checked)
		if rv.Outcome != "" {
			r.outcome = rv.Outcome
		}
		r.findings = append(r.findings, rv.Findings...)
		r.records, r.signals = rv.Records, rv.Signals
	}
	f.noteCut(&r, readErr)
	return r
}

// moreToCome reports whether the vendor's answer had bytes left after the first total ones.
func (f *flight) moreToCome(total int64) bool {
	switch {
	case f.req.Method == http.MethodHead, f.resp.StatusCode == http.StatusNoContent, f.resp.StatusCode == http.StatusNotModified:
		return false
	case f.resp.ContentLength < 0:
		return true // unknown length, and no end seen
	default:
		return total < f.resp.ContentLength
	}
}

// noteCut records an answer that did not pass whole: cut off on its way to the tool (the
// front end's write failed), or broken off by the vendor. When mtguard stopped reading the
// vendor's body early, its recorded size is only a lower bound.
func (f *flight) noteCut(r *ruling, readErr error) {
	written, werr := f.call.answer.failed()
	broke := readErr != nil && !errors.Is(readErr, io.EOF)
	if werr == nil && !broke {
		return
	}
	r.response.Incomplete = true
	if werr == nil {
		return
	}
	r.response.SizeAtLeast = readErr == nil
	if isTimeout(werr) {
		// A stalled tool's request also ends, which reads as a hang-up: say once what happened.
		r.findings = slices.DeleteFunc(r.findings, func(x txn.Finding) bool { return x.Code == txn.CodeClientDisconnected })
		r.findings = append(r.findings, finding(txn.CodeClientStalled, fmt.Sprintf(
			"the tool stopped reading the answer: a write made no progress for %s, so mtguard cut the answer off after %d bytes",
			f.p.cfg.WriteIdleTimeout, written)))
	}
}

// captureAnswer turns the captured start of the vendor's body into its stored form and into
// what the response checks read.
func (p *Pipeline) captureAnswer(resp *http.Response, captured []byte, total int64) (txn.Message, schemas.Response) {
	truncated := total > int64(len(captured))
	body, decoded := captured, ""
	if !truncated {
		// Vendors gzip, deflate or brotli their answers when the tool asks; keep them readable
		// (checkable, and redacted) in the log. The tool still gets the bytes the vendor sent.
		if plain, enc, ok := decodeContent(resp.Header.Get("Content-Encoding"), captured, p.cfg.CaptureBody); ok {
			body, decoded = plain, enc
		}
	}
	ct := resp.Header.Get("Content-Type")
	var parsed schemas.Body
	var secret *bool
	if schemas.MediaKind(ct, body) == "json" {
		if _, sec, ok := schemas.ScanJSON(body, nil, p.cfg.Redactor.IsSecretField); ok {
			secret = &sec
		}
	}
	if secret == nil {
		parsed = schemas.ParseBody(ct, body)
	}
	m := p.capture(resp.Header, body, parsed, total, secret)
	m.Truncated = truncated
	m.Decoded = decoded
	m.Trailers = p.trailers(resp.Trailer) // the transport sets them once the body is read to its end
	return m, schemas.Response{Status: resp.StatusCode, Header: resp.Header, Body: parsed, Raw: body, Truncated: truncated}
}

// settle records the ruling and tells the limiter what the vendor said. The vendor's
// concurrency slot is freed only then, so that a limit signal in the body pauses the group
// before the next call takes the slot.
func (f *flight) settle(r ruling) {
	tx := f.tx
	tx.Response = r.response
	tx.Findings = append(tx.Findings, r.findings...)
	for _, rec := range r.records {
		tx.Records = append(tx.Records, txn.RecordResult(rec))
	}
	if f.limited() {
		group := f.call.Route.LimitGroup
		f.p.cfg.Limiter.Observe(group, r.signals)
		if !f.paused && !hasLimitSignal(r.signals) && f.resp.StatusCode == http.StatusTooManyRequests {
			// A 429 that no rule read still means "slow down": pause for the group's
			// documented window (RFC 6585 section 4).
			f.p.cfg.Limiter.Observe(group, []schemas.Signal{{Kind: vendors.SignalRateLimit}})
		}
	}
	f.release()
	f.p.finish(tx, r.outcome, f.resp.StatusCode, r.errMsg)
}
