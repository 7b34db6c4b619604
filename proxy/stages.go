package proxy

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"time"

	"github.com/mtguard/mtguard/schemas"
	"github.com/mtguard/mtguard/txn"
)

// flight is one call on its way through the pipeline. Each stage reads what the earlier ones
// left here and adds its part, so that a stage can run, and be tested, on a flight built by
// hand.
type flight struct {
	p    *Pipeline
	req  *http.Request
	call *Call
	tx   *txn.Transaction

	// Set by admit: the request body, read once, and what was parsed from it.
	body     []byte
	tooLarge bool         // body is only the first bytes of one over max_body
	parsed   schemas.Body // zero when one scan of a JSON body found all it needed
	query    url.Values   // nil without a query

	// Set by checkRequest when the route has checks; the response checks read creq again.
	creq    *schemas.Request
	verdict schemas.RequestVerdict

	// release frees the vendor budget acquireBudget took; a no-op when it took none.
	release func()

	// Set by send and answer: the vendor's answer, the cancel of the send's context, which
	// stays open while the body streams, and whether a Retry-After already paused the group.
	resp   *http.Response
	cancel context.CancelCauseFunc
	paused bool
}

// stop is how a stage ends a call: resp is mtguard's own answer, or err says why there is
// nobody to answer. A stage that returns a nil *stop lets the call go on.
type stop struct {
	resp *http.Response
	err  error
}

// newFlight opens the transaction of the call the front end attached to req.
func (p *Pipeline) newFlight(req *http.Request) (*flight, error) {
	c := callFrom(req.Context())
	if c == nil {
		return nil, errors.New("pipeline: request carries no Call (use WithCall)")
	}
	if c.Start.IsZero() {
		c.Start = p.cfg.Now()
	}
	if c.Route == nil && c.Refusal == nil {
		c.Refusal = &Refusal{Status: http.StatusNotFound, Title: "No route", Code: txn.CodeRouteUnknown, Detail: "no route matches this call"}
	}
	tx := &txn.Transaction{Call: txn.Call{
		ID:         p.cfg.Recorder.NewID(c.Start),
		Time:       c.Start,
		Front:      c.Front,
		Method:     req.Method,
		Path:       c.OriginalURL,
		RemoteAddr: c.RemoteAddr,
		ReplayOf:   c.ReplayOf,
		Attempt:    c.Attempt,
		Actor:      c.Actor,
		Kind:       c.Kind,
		Verifies:   c.Verifies,
		RecordKeys: []string{},
	}}
	if c.Route != nil {
		tx.Route = c.Route.Name
		tx.UpstreamURL = p.cfg.Redactor.URL(req.URL)
	}
	c.tx = tx
	if c.Edit != "" {
		tx.Findings = append(tx.Findings, finding(txn.CodeReplayEdited, c.Edit))
	}
	return &flight{p: p, req: req, call: c, tx: tx, release: func() {}}, nil
}

// limited reports whether the call spends a limit group's budget.
func (f *flight) limited() bool {
	return f.p.cfg.Limiter != nil && f.call.Route != nil && f.call.Route.LimitGroup != ""
}

// refuse ends the call with mtguard's own answer, recorded with the finding code.
func (f *flight) refuse(outcome txn.Outcome, code string, pb txn.Problem) *stop {
	return &stop{resp: f.p.refuse(f.req, f.tx, outcome, code, pb)}
}

// admit reads the request body once, bounded by max_body, and answers the calls mtguard does
// not take: no route, a front end's refusal, a caller the route does not know (callers.go), a
// body over max_body. They are recorded with their body like any other, so that a fixed
// payload can be replayed.
func (f *flight) admit() *stop {
	body, tooLarge, err := f.p.readBody(f.req)
	if err != nil {
		f.tx.Request = f.p.capture(f.req.Header, body, schemas.Body{}, int64(len(body)), nil)
		f.p.finish(f.tx, txn.OutcomeInterrupted, 0, fmt.Sprintf("reading the request body failed: %v", err))
		return &stop{err: fmt.Errorf("read request body: %w", err)}
	}
	f.body, f.tooLarge = body, tooLarge
	f.scanRequest()
	if r := f.call.Refusal; r != nil {
		return f.refuse(txn.OutcomeRejected, r.Code, txn.Problem{
			Title: r.Title, Status: r.Status, Detail: r.Detail, Routes: r.Routes,
		})
	}
	if s := f.authenticate(); s != nil {
		return s
	}
	if f.tooLarge {
		return f.refuse(txn.OutcomeRejected, txn.CodeRequestTooLarge, txn.Problem{
			Title: "Request body too large", Status: http.StatusRequestEntityTooLarge,
			Detail: fmt.Sprintf("the request body is over store.max_body (%d bytes); it was not forwarded. Send smaller batches or raise store.max_body.", f.p.cfg.MaxBody),
		})
	}
	return nil
}

// scanRequest extracts the record keys and the stored form of the request. Of a body over
// max_body only the first bytes were read: its keys are those found in them (tooLargeKeys),
// so that the refused lead still shows in log --record.
func (f *flight) scanRequest() {
	req, tx, route := f.req, f.tx, f.call.Route
	ct := req.Header.Get("Content-Type")
	var paths []schemas.KeyPath
	if route != nil && !f.tooLarge {
		paths = route.RecordKeys
	}
	if f.tooLarge {
		defer f.tooLargeKeys(ct)
	}
	// The record keys and whether a secret field is there take one scan of the body, without
	// building it; checks that read the body parse it when they first do (schemas.Request.Doc).
	// A gzip, deflate or br body is scanned and stored decoded; the checks and the vendor get
	// it as sent.
	body, decoded := f.requestText()
	var secret *bool
	found := &secretSet{}
	var redacted []byte
	if schemas.MediaKind(ct, body) == "json" {
		if sc, ok := schemas.ScanJSONSpans(body, paths, f.p.cfg.Redactor.IsSecretField); ok {
			tx.RecordKeys, secret = sc.Keys, &sc.Secret
			if sc.Secret && sc.Canonical && int64(len(body)) <= f.p.cfg.CaptureBody {
				// The same scan said where the secret values are: replacing them is the
				// redaction, without a second walk of the body. nil: the walk does it.
				redacted = spliceRedacted(body, sc.Spans, found)
			}
		}
	}
	var parsed schemas.Body
	if secret == nil {
		parsed = schemas.ParseBody(ct, body)
		tx.RecordKeys = schemas.RecordKeys(paths, parsed)
		if decoded == "" {
			f.parsed = parsed
		}
		if len(paths) > 0 && parsed.Err != nil {
			f.guessRecordKeys(body, parsed)
		}
	}
	if req.URL.RawQuery != "" { // parsed once: record keys and checks both read it
		f.query = req.URL.Query()
	}
	if route != nil && !f.tooLarge && len(f.query) > 0 {
		// A lookup (GET /contacts?email=...) carries its record in the query.
		tx.RecordKeys = appendNew(tx.RecordKeys, schemas.RecordKeys(route.RecordKeys, schemas.Body{Kind: "form", Form: f.query}))
	}
	size := int64(len(f.body))
	if req.ContentLength > size {
		size = req.ContentLength
	}
	stored := size
	if decoded != "" {
		stored = int64(len(body)) // whole once decoded: only capture_body cuts it
	}
	// sealRequest scrubs the request of found's values, with those of the query and the
	// route's credential added.
	tx.Request = f.p.captureUnscrubbed(req.Header, body, parsed, stored, secret, redacted, found)
	// A body of unknown length over max_body was read only to max_body + 1 bytes.
	tx.Request.SizeAtLeast = f.tooLarge && req.ContentLength < 0
	tx.Request.Trailers = f.p.trailers(req.Trailer)
	f.sealRequest(found, decoded, size)
}

// guessRecordKeys keeps a lead findable when its body does not parse: the email-shaped values
// of the body's first 64 KiB become its record keys, marked by an info finding.
func (f *flight) guessRecordKeys(body []byte, parsed schemas.Body) {
	keys := schemas.GuessRecordKeys(body)
	if len(keys) == 0 {
		return
	}
	f.tx.RecordKeys = keys
	f.tx.Findings = append(f.tx.Findings, txn.NewFinding(txn.CodeRecordKeysGuessed,
		fmt.Sprintf("the %s body could not be parsed, so its record keys are the %d email address(es) found in its first %d KiB", parsed.Kind, len(keys), schemas.GuessScanLimit>>10),
		parsed.Err.Error()))
}

// tooLargeKeys finds the record keys of a body over max_body in the part that was read: a
// JSON body is scanned up to the cut, a form body up to its last whole field; the query
// string is whole.
func (f *flight) tooLargeKeys(ct string) {
	route := f.call.Route
	if route == nil {
		return
	}
	var keys []string
	switch schemas.MediaKind(ct, f.body) {
	case "json":
		keys = schemas.ScanJSONPrefix(f.body, route.RecordKeys)
	case "form":
		whole := f.body[:max(0, bytes.LastIndexByte(f.body, '&'))] // the last field may be cut
		if form, err := url.ParseQuery(string(whole)); err == nil {
			keys = schemas.RecordKeys(route.RecordKeys, schemas.Body{Kind: "form", Form: form})
		}
	}
	if len(f.query) > 0 {
		keys = appendNew(keys, schemas.RecordKeys(route.RecordKeys, schemas.Body{Kind: "form", Form: f.query}))
	}
	if keys == nil {
		keys = []string{}
	}
	f.tx.RecordKeys = keys
}

// checkRequest runs the route's request checks (contracts, version rules), pure functions of
// the call, and answers in the vendor's place when one rejects it.
func (f *flight) checkRequest() *stop {
	checks := f.call.Route.Checks
	if checks.Empty() {
		return nil
	}
	f.creq = &schemas.Request{Method: f.req.Method, Path: f.call.Route.vendorPath(f.req.URL.Path), Query: f.query, Header: f.req.Header, Body: f.parsed, Raw: f.body}
	f.verdict = checks.CheckRequest(f.call.Start, f.creq)
	f.tx.Findings = append(f.tx.Findings, f.verdict.Findings...)
	if rj := f.verdict.Reject; rj != nil {
		s := f.refuse(txn.OutcomeRejected, rj.Code, txn.Problem{Title: rj.Title, Status: rj.Status, Detail: rj.Detail, Errors: rj.Errors})
		addHeaders(s.resp.Header, f.verdict.AnswerHeaders)
		return s
	}
	return nil
}

// recordIntent makes the request durable before anything leaves, so that no call a vendor
// received is missing from the log. A store that fails does not stop the call unless
// store.on_error is reject.
func (f *flight) recordIntent() *stop {
	if s := f.refuseWhileStoreFails(); s != nil {
		return s
	}
	ctx := f.req.Context()
	start := f.p.cfg.Now()
	err := f.p.cfg.Recorder.RecordIntent(ctx, f.tx)
	f.tx.RecordMS = ms(f.p.cfg.Now().Sub(start))
	if err == nil {
		return nil
	}
	if ctx.Err() != nil {
		// The intent may still commit; give it an outcome so it does not stay pending.
		f.tx.Findings = append(f.tx.Findings, finding(txn.CodeClientGone, "the calling tool went away before the call was recorded"))
		f.p.finish(f.tx, txn.OutcomeInterrupted, 0, "the calling tool went away before the call was recorded; it was not forwarded")
		return &stop{err: ErrClientGone}
	}
	f.p.storeErrors.Add(1)
	f.p.cfg.Logger.Error().Err(err).Str("id", f.tx.ID).Str("route", f.tx.Route).Msg("could not record the call before forwarding it")
	f.tx.Findings = append(f.tx.Findings, finding(txn.CodeStoreWriteFailed, "the intent could not be recorded before forwarding: "+err.Error()))
	if f.p.cfg.RejectOnStoreError {
		return f.refuse(txn.OutcomeRejected, txn.CodeStoreWriteFailed, txn.Problem{
			Title: "Transaction log unavailable", Status: http.StatusServiceUnavailable,
			Detail: "mtguard could not record this call and store.on_error is reject, so it was not forwarded; retry later",
		})
	}
	return nil
}

// refuseWhileStoreFails answers 503 while any write of the store fails (not only this call's
// intent: a bbolt commit that cannot grow the file, too), when store.on_error is reject.
func (f *flight) refuseWhileStoreFails() *stop {
	if !f.p.cfg.RejectOnStoreError || f.p.cfg.StoreHealth == nil {
		return nil
	}
	err := f.p.cfg.StoreHealth()
	if err == nil {
		return nil
	}
	f.p.storeErrors.Add(1)
	return f.refuse(txn.OutcomeRejected, txn.CodeStoreWriteFailed, txn.Problem{
		Title: "Transaction log unavailable", Status: http.StatusServiceUnavailable,
		Detail: "the transaction log cannot write (" + err.Error() + ") and store.on_error is reject, so this call was not forwarded; retry later",
	})
}

// acquireBudget waits for the vendor's budget (windows, quota, concurrency, pauses). A call
// that cannot get it within max_wait is answered 429 and recorded as throttled, replayable.
func (f *flight) acquireBudget() *stop {
	if !f.limited() {
		return nil
	}
	prio := PriorityLive
	if f.call.ReplayOf != "" || f.call.Kind != "" {
		prio = PriorityReplay
	}
	rel, waited, err := f.p.cfg.Limiter.Acquire(f.req.Context(), f.call.Route.LimitGroup, prio)
	f.tx.WaitMS = ms(waited)
	if te, ok := IsThrottled(err); ok {
		resp, err := f.p.throttled(f.req, f.tx, te)
		return &stop{resp: resp, err: err}
	}
	f.release = rel
	return nil
}

// send forwards the call with the body admit read and any headers the request checks set.
// The route's timeout bounds the wait for the vendor's headers, not the streaming of its
// body; when it cut the send off, the error wraps errUpstreamTimeout.
func (f *flight) send() (*http.Response, error) {
	ctx, cancel := context.WithCancelCause(f.req.Context())
	f.cancel = cancel
	timer := time.AfterFunc(f.call.Route.Timeout, func() { cancel(errUpstreamTimeout) })
	out := f.outgoing(ctx)
	sent := f.p.cfg.Now()
	resp, err := f.p.cfg.Transport.RoundTrip(out)
	timer.Stop()
	f.tx.UpstreamMS = ms(f.p.cfg.Now().Sub(sent))
	if err != nil {
		cause := context.Cause(ctx)
		cancel(nil)
		if errors.Is(cause, errUpstreamTimeout) {
			return nil, fmt.Errorf("%w: %w", errUpstreamTimeout, err)
		}
		return nil, err
	}
	f.resp = resp
	return resp, nil
}

// outgoing is the request sent to the vendor: the caller's, with the body already read.
func (f *flight) outgoing(ctx context.Context) *http.Request {
	req, body := f.req, f.body
	out := req.WithContext(ctx)
	out.Body = io.NopCloser(bytes.NewReader(body))
	out.ContentLength = int64(len(body))
	out.GetBody = func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(body)), nil }
	if len(body) == 0 && (req.Body == nil || req.Body == http.NoBody) {
		out.Body, out.GetBody = nil, nil
	}
	if len(f.tx.Request.Trailers) > 0 {
		// Trailers travel only after a chunked body: keep it chunked, as the caller sent it.
		out.ContentLength = -1
	}
	_, expect := out.Header["Expect"]
	if len(f.verdict.SetHeaders) > 0 || expect {
		// The caller's header map is shared with the front end and the stored request.
		out.Header = out.Header.Clone()
		// mtguard has read the body (and the server sent the tool its 100 Continue): the
		// vendor's own 100 would reach the tool as a second one.
		delete(out.Header, "Expect")
		for k, vs := range f.verdict.SetHeaders {
			out.Header[k] = vs
		}
	}
	return out
}
