package proxy

import (
	"bytes"
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"time"
	"unicode/utf8"

	"github.com/rs/zerolog"

	"github.com/mtguard/mtguard/schemas"
	"github.com/mtguard/mtguard/txn"
	"github.com/mtguard/mtguard/vendors"
)

// HeaderID carries the transaction id back to the calling tool, so that a person holding a
// failed response can run "mtguard show <id>".
const HeaderID = "X-Mtguard-Id"

// Defaults for PipelineConfig.
const (
	DefaultMaxBody          = 10 << 20
	DefaultCaptureBody      = 1 << 20
	DefaultWriteIdleTimeout = 60 * time.Second
)

// Recorder is where the pipeline writes transactions; *store.Store satisfies it.
type Recorder interface {
	// NewID returns a fresh time-ordered transaction id.
	NewID(t time.Time) string
	// RecordIntent durably records tx's request side before it is forwarded and sets tx.ID.
	RecordIntent(ctx context.Context, tx *txn.Transaction) error
	// RecordProvisional durably records r as the result tx gets should the process die before
	// RecordResult: the outcome the vendor's status and headers give, recorded before the
	// answer goes on to the tool. It returns once r is durable, or ctx is done.
	RecordProvisional(ctx context.Context, tx *txn.Transaction, r txn.Result) error
	// RecordResult records tx's outcome. It may return before the write is durable.
	RecordResult(tx *txn.Transaction) error
	// Sync waits until every write queued so far is durable.
	Sync(ctx context.Context) error
}

// PipelineConfig configures a Pipeline. Zero fields fall back to the stated defaults.
type PipelineConfig struct {
	Recorder Recorder // required
	// Transport sends calls to vendors. If nil, NewTransport().
	Transport http.RoundTripper
	// MaxBody is the largest request body accepted, in bytes; larger ones get 413.
	// If zero, DefaultMaxBody.
	MaxBody int64
	// CaptureBody is how many bytes of each body are stored. If zero, DefaultCaptureBody.
	CaptureBody int64
	// RejectOnStoreError answers 503 instead of forwarding when the intent cannot be recorded,
	// or while StoreHealth reports the store failing. The default forwards: the lead matters
	// more than the log.
	RejectOnStoreError bool
	// StoreHealth, if set, returns an error while any write of the store fails (journal, bbolt
	// commit): with RejectOnStoreError, new calls are then refused before their intent is tried.
	StoreHealth func() error
	// Redactor removes secrets before storing and logging. If nil, NewRedactor(RedactConfig{}).
	Redactor *Redactor
	// Logger receives one event per transaction. The zero Logger discards.
	Logger zerolog.Logger
	// Limiter shapes traffic to each route's limit group. If nil, nothing is throttled.
	Limiter *Limiter
	// Now is the clock. If nil, time.Now.
	Now func() time.Time
	// WriteIdleTimeout is how long one write of an answer to the tool may make no progress:
	// every write gets a deadline this far ahead, so an answer may stream for as long as the
	// vendor sends it, and a tool that stops reading is cut off (client.stalled). If zero,
	// DefaultWriteIdleTimeout.
	WriteIdleTimeout time.Duration
	// Drills, if set, are the drills under way (drill.go): their calls are answered or altered.
	Drills *Drills
	// Queue takes the calls of routes in store-and-forward mode (Route.Queue); nil sends
	// every call inline.
	Queue Enqueuer
}

// Pipeline is the per-call logic shared by every front end: bound and parse the body, extract
// record keys, record the intent, send, capture the answer, record the outcome. It is an
// http.RoundTripper: a front end matches the route, attaches it with WithCall, and lets
// RoundTrip do the rest.
type Pipeline struct {
	cfg         PipelineConfig
	storeErrors atomic.Int64
	// secrets holds each call's secret values (*txn.Transaction -> *secretSet) from the read
	// of its request until finish scrubs them from what is stored.
	secrets sync.Map
}

// NewPipeline returns a Pipeline for cfg.
func NewPipeline(cfg PipelineConfig) (*Pipeline, error) {
	if cfg.Recorder == nil {
		return nil, errors.New("new pipeline: a Recorder is required")
	}
	if cfg.Transport == nil {
		cfg.Transport = NewTransport()
	}
	if cfg.MaxBody == 0 {
		cfg.MaxBody = DefaultMaxBody
	}
	if cfg.CaptureBody == 0 {
		cfg.CaptureBody = DefaultCaptureBody
	}
	if cfg.Redactor == nil {
		cfg.Redactor = NewRedactor(RedactConfig{})
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.WriteIdleTimeout == 0 {
		cfg.WriteIdleTimeout = DefaultWriteIdleTimeout
	}
	if cfg.Drills != nil {
		cfg.Transport = &drillTransport{next: cfg.Transport, now: cfg.Now}
	}
	return &Pipeline{cfg: cfg}, nil
}

// StoreErrors counts intents that could not be recorded since the pipeline started.
func (p *Pipeline) StoreErrors() int64 { return p.storeErrors.Load() }

// Call is what a front end knows about a call before the pipeline takes it.
type Call struct {
	Route *Route // nil when no route matched; the pipeline then records a refusal
	Front string // "reverse" or "forward"
	Start time.Time
	// OriginalURL is the URL as the caller sent it.
	OriginalURL string
	RemoteAddr  string
	// Refusal, when set, makes the pipeline record the call and answer with it instead of
	// forwarding (unknown route, refused host).
	Refusal *Refusal
	// ReplayOf is the id of the call this one resends; Attempt counts resends (1 for the
	// first replay).
	ReplayOf string
	Attempt  int
	// Actor is the admin token's name behind a replay (txn.WithActor); "" for live calls.
	Actor string
	// Kind and Verifies mark a read-back probe (txn.KindProbe) and the call it checks.
	Kind, Verifies string
	// Edit says what a person changed in the body of an edit-then-replay (replay_edit.go).
	Edit string

	// answer streams the vendor's answer to the tool and says whether it got through whole;
	// nil when no front end streams it (a replay).
	answer *answerWriter
	// tx is the call's transaction once the pipeline opened it; retried marks an attempt of
	// an inline retry (retry.go), which is not retried again.
	tx      *txn.Transaction
	retried bool
}

// Refusal is a front end's reason not to forward a call.
type Refusal struct {
	Status int
	Title  string
	Detail string
	Code   string   // finding code, from the schemas catalogue
	Routes []string // configured prefixes, when relevant
}

type callKey struct{}

// WithCall attaches c to ctx for the Pipeline.
func WithCall(ctx context.Context, c *Call) context.Context {
	return context.WithValue(ctx, callKey{}, c)
}

func callFrom(ctx context.Context) *Call {
	c, _ := ctx.Value(callKey{}).(*Call)
	return c
}

// errUpstreamTimeout is the cause of a send cancelled because the vendor took longer than the
// route's timeout to answer.
var errUpstreamTimeout = errors.New("vendor did not answer within the route timeout")

// ErrClientGone is returned by RoundTrip when the caller went away before an answer; there is
// nobody to answer.
var ErrClientGone = errors.New("client went away")

// RoundTrip runs one call through the pipeline's stages: admit, checkRequest, recordIntent,
// acquireBudget, send, then classify and settle. Any stage before the send may end the call.
// Apart from ErrClientGone and unreadable request bodies, failures are answered with a problem
// response rather than an error, so every front end answers them the same way.
func (p *Pipeline) RoundTrip(req *http.Request) (*http.Response, error) {
	if c := callFrom(req.Context()); c != nil && c.Route != nil && c.Route.Retry != nil && !c.retried && c.ReplayOf == "" && c.Refusal == nil {
		return p.retrying(req, c)
	}
	f, err := p.newFlight(req)
	if err != nil {
		return nil, err
	}
	if s := f.admit(); s != nil {
		return s.resp, s.err
	}
	if s := f.checkRequest(); s != nil {
		return s.resp, s.err
	}
	f.drill()
	if s := f.recordIntent(); s != nil {
		return s.resp, s.err
	}
	if s := f.queue(); s != nil {
		return s.resp, s.err
	}
	if s := f.acquireBudget(); s != nil {
		return s.resp, s.err
	}
	resp, err := f.send()
	if err != nil {
		return f.settleFailure(f.classifyFailure(err))
	}
	if resp.StatusCode == http.StatusSwitchingProtocols {
		return f.switchProtocols(resp)
	}
	// The caller gets the answer as it streams; classify and settle wait for the whole of it,
	// when the front end closes the body.
	return f.answer(resp), nil
}

// retryAfterSignal reads a 429 or 503 with Retry-After (RFC 9110 section 10.2.3): the vendor
// says when to come back.
func retryAfterSignal(resp *http.Response, now time.Time) (schemas.Signal, bool) {
	if resp.StatusCode != http.StatusTooManyRequests && resp.StatusCode != http.StatusServiceUnavailable {
		return schemas.Signal{}, false
	}
	if d, ok := vendors.RetryAfter(resp.Header, now); ok && d > 0 {
		return schemas.Signal{Kind: vendors.SignalRateLimit, RetryAfter: d}, true
	}
	return schemas.Signal{}, false
}

// hasLimitSignal reports whether the checks read a vendor limit in the answer.
func hasLimitSignal(signals []schemas.Signal) bool {
	for _, s := range signals {
		if s.Kind == vendors.SignalRateLimit || s.Kind == vendors.SignalQuota {
			return true
		}
	}
	return false
}

// refuse records a call that mtguard answers itself, with the finding that explains why, and
// returns that answer.
func (p *Pipeline) refuse(req *http.Request, tx *txn.Transaction, outcome txn.Outcome, code string, pb txn.Problem) *http.Response {
	// A check that rejects (a contract in enforce mode) or a stage that already said why (the
	// store) recorded the finding: the refusal adds it only when nothing did, so one violation
	// is stored, and counted in mtguard_findings_total, once.
	if !slices.ContainsFunc(tx.Findings, func(f txn.Finding) bool { return f.Code == code }) {
		tx.Findings = append(tx.Findings, finding(code, pb.Detail))
	}
	pb.Instance = tx.ID
	if spec, ok := txn.Lookup(code); ok {
		pb.Type = spec.DocsURL()
	}
	resp := problemResponse(req, pb)
	b := problemBody(pb)
	tx.Response = txn.Message{Headers: resp.Header.Clone(), ContentType: txn.ProblemContentType, Body: string(b), Size: int64(len(b))}
	p.finish(tx, outcome, pb.Status, pb.Detail)
	// mtguard's own answer is the only record of a payload it did not forward: make it durable
	// before the caller hears back, so a fixed payload can always be replayed.
	if err := p.cfg.Recorder.Sync(req.Context()); err != nil && req.Context().Err() == nil {
		p.cfg.Logger.Error().Err(err).Str("id", tx.ID).Msg("could not record a call that mtguard answered itself")
	}
	return resp
}

// throttled answers a call that got no budget in time: 429 with Retry-After, recorded as
// throttled so it can be replayed. A caller that left while queued gets no answer, but the
// call is recorded the same way.
func (p *Pipeline) throttled(req *http.Request, tx *txn.Transaction, te *ThrottledError) (*http.Response, error) {
	detail := fmt.Sprintf("%s; the call was not sent and is recorded as throttled: replay it with mtguard replay %s", te.Error(), tx.ID)
	if te.CallerGone {
		tx.Findings = append(tx.Findings, finding(txn.CodeRateLimitThrottled, detail))
		p.finish(tx, txn.OutcomeThrottled, 0, detail)
		return nil, ErrClientGone
	}
	resp := p.refuse(req, tx, txn.OutcomeThrottled, txn.CodeRateLimitThrottled, txn.Problem{
		Title: "Held back to stay within the vendor's limits", Status: http.StatusTooManyRequests, Detail: detail,
	})
	resp.Header.Set("Retry-After", strconv.Itoa(int(max(1, (te.RetryAfter+time.Second-1)/time.Second))))
	return resp, nil
}

// finish records tx's result and logs the one event of this transaction.
func (p *Pipeline) finish(tx *txn.Transaction, outcome txn.Outcome, status int, errMsg string) {
	errMsg = p.scrubSecrets(tx, errMsg)
	tx.Outcome = outcome
	tx.Status = status
	tx.Error = errMsg
	tx.DurationMS = ms(p.cfg.Now().Sub(tx.Time))
	if tx.Findings == nil {
		tx.Findings = []txn.Finding{}
	}
	// Log before handing tx to the recorder: after RecordResult the committer may read it.
	level := zerolog.InfoLevel
	switch outcome {
	case txn.OutcomeDelivered:
	case txn.OutcomeFailed, txn.OutcomeRejected, txn.OutcomeInterrupted:
		level = zerolog.WarnLevel
	default:
		level = zerolog.ErrorLevel
	}
	// Record keys are personal data, so the log carries their count; the store has the values.
	ev := p.cfg.Logger.WithLevel(level).
		Str("id", tx.ID).Str("route", tx.Route).Str("method", tx.Method).Str("path", tx.Path).
		Int("status", status).Str("outcome", string(outcome)).Float64("duration_ms", tx.DurationMS).
		Int("records", len(tx.RecordKeys))
	if errMsg != "" { // a call that went well has no error field, not an empty one
		ev = ev.Str("error", errMsg)
	}
	ev.Msg("transaction")
	if err := p.cfg.Recorder.RecordResult(tx); err != nil {
		p.storeErrors.Add(1)
		p.cfg.Logger.Error().Err(err).Str("id", tx.ID).Msg("could not record the outcome of a call")
	}
}

// readBody reads the whole request body up to MaxBody. tooLarge reports a body over the limit;
// body then holds its first MaxBody (or MaxBody+1) bytes, where its record keys are looked for.
func (p *Pipeline) readBody(req *http.Request) (body []byte, tooLarge bool, err error) {
	if req.Body == nil || req.Body == http.NoBody {
		return nil, false, nil
	}
	if req.ContentLength > p.cfg.MaxBody {
		if expectsContinue(req.Header) {
			// The tool waits for 100 Continue before it sends the body, and reading would send
			// it: refuse before the body is sent at all (RFC 9110 section 10.1.1).
			return nil, true, nil
		}
		// Read no more than an accepted body may hold (its record keys are found in that
		// part), not a huge body to its end.
		b, _ := io.ReadAll(io.LimitReader(req.Body, p.cfg.MaxBody))
		return b, true, nil
	}
	var buf bytes.Buffer
	if req.ContentLength > 0 {
		buf.Grow(int(req.ContentLength))
	}
	n, err := buf.ReadFrom(io.LimitReader(req.Body, p.cfg.MaxBody+1))
	if err != nil {
		return buf.Bytes(), false, err
	}
	return buf.Bytes(), n > p.cfg.MaxBody, nil
}

// trailers is the stored form of the trailers a body ended with: redacted like headers, and
// without those announced but never sent; nil when there are none.
func (p *Pipeline) trailers(t http.Header) http.Header {
	sent := make(http.Header)
	for k, vs := range t {
		if len(vs) > 0 {
			sent[k] = vs
		}
	}
	if len(sent) == 0 {
		return nil
	}
	return p.cfg.Redactor.Header(sent)
}

// expectsContinue reports whether the caller waits for 100 Continue before sending its body.
func expectsContinue(h http.Header) bool {
	return headerHasToken(h, "Expect", "100-continue")
}

// capture turns one side of a call into its stored form: secrets redacted, body bounded.
// secret says whether the body holds a secret field, when a scan already knows; nil means
// unknown, and the redactor looks for itself.
func (p *Pipeline) capture(h http.Header, body []byte, parsed schemas.Body, size int64, secret *bool) txn.Message {
	return p.captureWith(h, body, parsed, size, secret, &secretSet{})
}

// captureWith is capture that adds the secret values it found to found; each is scrubbed from
// the whole message (a header's token echoed in the body).
func (p *Pipeline) captureWith(h http.Header, body []byte, parsed schemas.Body, size int64, secret *bool, found *secretSet) txn.Message {
	m := p.captureUnscrubbed(h, body, parsed, size, secret, nil, found)
	scrubMessage(&m, found.forms())
	return m
}

// captureUnscrubbed is captureWith without the last step, the scrub of found's values from
// the message, for a caller that scrubs it itself with more values (sealRequest). redacted,
// when not nil, is body already redacted (spliceRedacted), its values already in found.
func (p *Pipeline) captureUnscrubbed(h http.Header, body []byte, parsed schemas.Body, size int64, secret *bool, redacted []byte, found *secretSet) txn.Message {
	red := p.cfg.Redactor
	m := txn.Message{Headers: red.header(h, found), ContentType: h.Get("Content-Type"), Size: size}
	if int64(len(body)) > p.cfg.CaptureBody {
		body = body[:p.cfg.CaptureBody]
		parsed, secret = schemas.Body{}, nil // a cut JSON body cannot be parsed; redact as raw text below
	}
	m.Truncated = size > int64(len(body))
	if secret == nil && parsed.JSON != nil {
		// The body is already a tree: look at its keys rather than search its bytes.
		has := red.jsonHasSecret(parsed.JSON, 0)
		secret = &has
	}
	switch {
	case m.Truncated && red.mayHoldSecret(body):
		if escapedLetter.Match(body) {
			// A key spelled with escapes cannot be read in a cut body: keep none of it.
			m.Body = fmt.Sprintf("[truncated body of %d bytes withheld: it may hold a secret field]", size)
			return m
		}
		body = red.redactText(body, found)
	case secret == nil:
		body = red.body(body, parsed, m.ContentType, found)
	case *secret && redacted != nil:
		body = redacted
	case *secret:
		// The scan saw a secret field: the byte search for one would only say so again.
		body = red.redactBody(body, parsed, m.ContentType, found)
	}
	if utf8.Valid(body) {
		m.Body = string(body)
	} else {
		m.Body = base64.StdEncoding.EncodeToString(body)
		m.BodyEncoding = "base64"
	}
	return m
}

// capturingBody passes the vendor's response through while keeping its first bytes, and
// reports once when the front end closes it.
type capturingBody struct {
	rc      io.ReadCloser
	limit   int64
	buf     []byte
	total   int64
	readErr error
	once    sync.Once
	done    func(captured []byte, total int64, readErr error)
}

func (b *capturingBody) Read(p []byte) (int, error) {
	n, err := b.rc.Read(p)
	if n > 0 {
		if room := b.limit - int64(len(b.buf)); room > 0 {
			b.buf = append(b.buf, p[:min(int64(n), room)]...)
		}
		b.total += int64(n)
	}
	if err != nil && b.readErr == nil {
		b.readErr = err
	}
	return n, err
}

func (b *capturingBody) Close() error {
	err := b.rc.Close()
	b.once.Do(func() { b.done(b.buf, b.total, b.readErr) })
	return err
}

func isTimeout(err error) bool {
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout()
}

// unwrapURLError drops the "Post \"http://...\":" prefix, which repeats the URL (and any
// secret in its query), and keeps the reason.
func unwrapURLError(err error) error {
	var ue *url.Error
	if errors.As(err, &ue) {
		return ue.Err
	}
	return err
}

// finding is the catalogue's finding for code, its title as the message.
func finding(code, detail string) txn.Finding {
	spec, _ := txn.Lookup(code)
	return txn.Finding{Code: code, Severity: spec.Severity, Message: spec.Title, Detail: detail}
}

// addHeaders adds every value of add to h.
func addHeaders(h, add http.Header) {
	for k, vs := range add {
		for _, v := range vs {
			h.Add(k, v)
		}
	}
}

// appendNew appends the items of add that are not already in to.
func appendNew(to, add []string) []string {
	for _, a := range add {
		if !slices.Contains(to, a) {
			to = append(to, a)
		}
	}
	return to
}

func ms(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }
