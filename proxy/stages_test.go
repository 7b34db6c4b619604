package proxy

import (
	"bytes"
	"compress/gzip"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"testing/iotest"
	"time"

	"github.com/mtguard/mtguard/schemas"
	"github.com/mtguard/mtguard/txn"
	"github.com/mtguard/mtguard/vendors"
)

// memRecorder keeps the results it is given, so that a test can read what a stage recorded.
type memRecorder struct {
	mu          sync.Mutex
	n           int
	results     []txn.Transaction
	provisional []txn.Result
}

func (r *memRecorder) NewID(time.Time) string {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.n++
	return fmt.Sprintf("%026d", r.n)
}

func (r *memRecorder) RecordIntent(context.Context, *txn.Transaction) error { return nil }

func (r *memRecorder) RecordResult(tx *txn.Transaction) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.results = append(r.results, *tx)
	return nil
}

func (r *memRecorder) Sync(context.Context) error { return nil }

// only returns the one result recorded, failing the test unless there is exactly one.
func (r *memRecorder) only(t *testing.T) txn.Transaction {
	t.Helper()
	r.mu.Lock()
	defer r.mu.Unlock()
	if len(r.results) != 1 {
		t.Fatalf("%d results recorded, want 1", len(r.results))
	}
	return r.results[0]
}

// stageRoute is the route of the stage tests: keys in "email", a vendor at crm.example.
func stageRoute(t *testing.T) *Route {
	t.Helper()
	keys, err := schemas.ParseKeyPaths([]string{"email"})
	if err != nil {
		t.Fatal(err)
	}
	u, _ := url.Parse("http://crm.example")
	return &Route{Name: "crm", Prefix: "/crm", Upstream: u, RecordKeys: keys, Timeout: time.Second}
}

// newTestFlight starts a flight for req and c on a pipeline that records into a memRecorder,
// without running any stage.
func newTestFlight(t *testing.T, cfg PipelineConfig, req *http.Request, c *Call) (*flight, *memRecorder) {
	t.Helper()
	rec := &memRecorder{}
	cfg.Recorder = rec
	p, err := NewPipeline(cfg)
	if err != nil {
		t.Fatal(err)
	}
	f, err := p.newFlight(req.WithContext(WithCall(req.Context(), c)))
	if err != nil {
		t.Fatal(err)
	}
	return f, rec
}

func hasFinding(fs []txn.Finding, code string) bool {
	return slices.ContainsFunc(fs, func(f txn.Finding) bool { return f.Code == code })
}

func TestAdmit(t *testing.T) {
	const fits = `{"email":" Jane@Acme.com "}`
	errBroken := errors.New("connection reset by caller")
	tests := []struct {
		name          string
		noRoute       bool
		refusal       *Refusal
		url           string
		body          io.Reader
		contentLength int64 // -1: the caller did not say
		wantStatus    int   // 0: admitted
		wantCode      string
		wantKeys      []string
		wantErr       error
	}{
		{name: "exactly max_body", body: strings.NewReader(fits), contentLength: int64(len(fits)), wantKeys: []string{"jane@acme.com"}},
		{name: "exactly max_body, length unknown", body: strings.NewReader(fits), contentLength: -1, wantKeys: []string{"jane@acme.com"}},
		{name: "key in the query", url: "/crm/contacts?email=Bob@acme.com", wantKeys: []string{"bob@acme.com"}},
		// A refused body's keys are those in the part that was read, so log --record finds it.
		{name: "one byte over max_body", body: strings.NewReader(fits + " "), contentLength: int64(len(fits)) + 1, wantStatus: http.StatusRequestEntityTooLarge, wantCode: txn.CodeRequestTooLarge, wantKeys: []string{"jane@acme.com"}},
		{name: "over max_body, length unknown", body: strings.NewReader(fits + " "), contentLength: -1, wantStatus: http.StatusRequestEntityTooLarge, wantCode: txn.CodeRequestTooLarge, wantKeys: []string{"jane@acme.com"}},
		{name: "over max_body, cut after the key", body: strings.NewReader(`{"email":"Jo@acme.com","pad":"` + strings.Repeat("p", 100) + `"}`), contentLength: -1, wantStatus: http.StatusRequestEntityTooLarge, wantCode: txn.CodeRequestTooLarge, wantKeys: []string{"jo@acme.com"}},
		{name: "over max_body, cut inside the key", body: strings.NewReader(`{"pad":"ppppppp","email":"Jo@acme.com"}`), contentLength: -1, wantStatus: http.StatusRequestEntityTooLarge, wantCode: txn.CodeRequestTooLarge},
		{name: "oversize query keys are read", url: "/crm/contacts?email=Bob@acme.com", body: strings.NewReader(fits + " "), contentLength: -1, wantStatus: http.StatusRequestEntityTooLarge, wantCode: txn.CodeRequestTooLarge, wantKeys: []string{"jane@acme.com", "bob@acme.com"}},
		{name: "no route", noRoute: true, body: strings.NewReader(fits), contentLength: int64(len(fits)), wantStatus: http.StatusNotFound, wantCode: txn.CodeRouteUnknown, wantKeys: []string{}},
		{name: "front end's refusal", refusal: &Refusal{Status: http.StatusForbidden, Title: "Refused", Code: txn.CodeRouteUnknown, Detail: "host refused"}, body: strings.NewReader(fits), contentLength: int64(len(fits)), wantStatus: http.StatusForbidden, wantCode: txn.CodeRouteUnknown, wantKeys: []string{"jane@acme.com"}},
		{name: "unreadable body", body: io.MultiReader(strings.NewReader(`{"em`), iotest.ErrReader(errBroken)), contentLength: -1, wantErr: errBroken},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			target := "http://mtguard.local" + tt.url
			if tt.url == "" {
				target += "/crm/contacts"
			}
			req, err := http.NewRequest(http.MethodPost, target, tt.body)
			if err != nil {
				t.Fatal(err)
			}
			req.Header.Set("Content-Type", "application/json")
			if tt.body != nil {
				req.ContentLength = tt.contentLength
			}
			c := &Call{Route: stageRoute(t), Front: "reverse", Refusal: tt.refusal}
			if tt.noRoute {
				c.Route = nil
			}
			f, rec := newTestFlight(t, PipelineConfig{MaxBody: int64(len(fits)), CaptureBody: 1024}, req, c)

			s := f.admit()
			switch {
			case tt.wantErr != nil:
				if s == nil || !errors.Is(s.err, tt.wantErr) || s.resp != nil {
					t.Fatalf("admit = %+v, want only an error wrapping %v", s, tt.wantErr)
				}
				if got := rec.only(t).Outcome; got != txn.OutcomeInterrupted {
					t.Errorf("outcome %q, want %q", got, txn.OutcomeInterrupted)
				}
				return
			case tt.wantStatus == 0:
				if s != nil {
					t.Fatalf("admit refused the call: %+v", s)
				}
				if len(rec.results) != 0 {
					t.Errorf("an admitted call was recorded as finished: %+v", rec.results)
				}
			default:
				if s == nil || s.err != nil || s.resp == nil {
					t.Fatalf("admit = %+v, want an answer", s)
				}
				if s.resp.StatusCode != tt.wantStatus {
					t.Errorf("status %d, want %d", s.resp.StatusCode, tt.wantStatus)
				}
				tx := rec.only(t)
				if tx.Outcome != txn.OutcomeRejected || !hasFinding(tx.Findings, tt.wantCode) {
					t.Errorf("recorded %q with findings %+v, want %q with %s", tx.Outcome, tx.Findings, txn.OutcomeRejected, tt.wantCode)
				}
				if tx.Request.Body == "" {
					t.Error("a refused call's body was not stored: it could not be replayed")
				}
			}
			if tt.wantKeys == nil {
				tt.wantKeys = []string{}
			}
			if !slices.Equal(f.tx.RecordKeys, tt.wantKeys) {
				t.Errorf("record keys %q, want %q", f.tx.RecordKeys, tt.wantKeys)
			}
		})
	}
}

// timeoutError is a transport error that says it timed out, as net.Error does.
type timeoutError struct{}

func (timeoutError) Error() string   { return "i/o timeout" }
func (timeoutError) Timeout() bool   { return true }
func (timeoutError) Temporary() bool { return true }

func TestClassifyFailure(t *testing.T) {
	const secretURL = "http://crm.example/v1/leads?api_key=s3cret"
	tests := []struct {
		name       string
		err        error
		callerGone bool
		wantOut    txn.Outcome
		wantCode   string
		wantStatus int // 0: nobody to answer
		wantDetail string
	}{
		{"route timeout", fmt.Errorf("%w: %w", errUpstreamTimeout, context.Canceled), false, txn.OutcomeTimeout, txn.CodeUpstreamTimeout, http.StatusGatewayTimeout, "did not answer within 1s"},
		{"transport timeout", &url.Error{Op: "Post", URL: secretURL, Err: timeoutError{}}, false, txn.OutcomeTimeout, txn.CodeUpstreamTimeout, http.StatusGatewayTimeout, "did not answer within 1s"},
		{"route timeout, caller gone since", fmt.Errorf("%w: %w", errUpstreamTimeout, context.Canceled), true, txn.OutcomeTimeout, txn.CodeUpstreamTimeout, http.StatusGatewayTimeout, "did not answer within 1s"},
		{"caller gone", &url.Error{Op: "Post", URL: secretURL, Err: context.Canceled}, true, txn.OutcomeInterrupted, txn.CodeClientGone, 0, "went away before the vendor answered"},
		{"unreachable", &url.Error{Op: "Post", URL: secretURL, Err: errors.New("connection refused")}, false, txn.OutcomeUnreachable, txn.CodeUpstreamUnreachable, http.StatusBadGateway, `route "crm": could not reach crm.example: connection refused`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			if tt.callerGone {
				cancel()
			}
			req, _ := http.NewRequestWithContext(ctx, http.MethodPost, "http://mtguard.local/crm/v1/leads", nil)
			f, rec := newTestFlight(t, PipelineConfig{}, req, &Call{Route: stageRoute(t), Front: "reverse"})
			released := 0
			f.release = func() { released++ }

			fl := f.classifyFailure(tt.err)
			if fl.outcome != tt.wantOut || fl.code != tt.wantCode || !strings.Contains(fl.problem.Detail, tt.wantDetail) {
				t.Fatalf("classifyFailure = %+v, want %q, %s, detail with %q", fl, tt.wantOut, tt.wantCode, tt.wantDetail)
			}
			if strings.Contains(fl.problem.Detail, "s3cret") {
				t.Errorf("detail repeats the URL and its secret: %q", fl.problem.Detail)
			}

			resp, err := f.settleFailure(fl)
			if tt.wantStatus == 0 {
				if resp != nil || !errors.Is(err, ErrClientGone) {
					t.Errorf("settleFailure = %v, %v; want no answer and ErrClientGone", resp, err)
				}
			} else if err != nil || resp == nil || resp.StatusCode != tt.wantStatus {
				t.Errorf("settleFailure = %v, %v; want a %d answer", resp, err, tt.wantStatus)
			}
			if tx := rec.only(t); tx.Outcome != tt.wantOut || !hasFinding(tx.Findings, tt.wantCode) {
				t.Errorf("recorded %q with %+v, want %q with %s", tx.Outcome, tx.Findings, tt.wantOut, tt.wantCode)
			}
			if released != 1 {
				t.Errorf("budget released %d times, want once", released)
			}
		})
	}
}

// blockingTransport answers only when the request's context ends.
type blockingTransport struct{}

func (blockingTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	<-req.Context().Done()
	return nil, &url.Error{Op: req.Method, URL: req.URL.String(), Err: req.Context().Err()}
}

func TestSendMarksRouteTimeout(t *testing.T) {
	req, _ := http.NewRequest(http.MethodGet, "http://mtguard.local/crm/v1/slow", nil)
	route := stageRoute(t)
	route.Timeout = 10 * time.Millisecond
	f, _ := newTestFlight(t, PipelineConfig{Transport: blockingTransport{}}, req, &Call{Route: route})
	_, err := f.send()
	if !errors.Is(err, errUpstreamTimeout) {
		t.Fatalf("send error %v does not say the route's timeout cut it off", err)
	}
	if fl := f.classifyFailure(err); fl.outcome != txn.OutcomeTimeout {
		t.Errorf("classified as %q, want %q", fl.outcome, txn.OutcomeTimeout)
	}
}

func gzipped(t *testing.T, s string) []byte {
	t.Helper()
	var b bytes.Buffer
	zw := gzip.NewWriter(&b)
	if _, err := io.WriteString(zw, s); err != nil {
		t.Fatal(err)
	}
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

func TestClassify(t *testing.T) {
	partial := func(_ time.Time, _ *schemas.Request, resp *schemas.Response, v *schemas.ResponseVerdict) {
		if resp.Status == http.StatusOK && strings.Contains(string(resp.Raw), `"errors"`) {
			v.Outcome = txn.OutcomePartial
			v.Records = []txn.RecordResult{{Index: 1, Key: "b@x.io", Reason: "invalid"}}
		}
	}
	zipped := gzipped(t, `{"status":"ok"}`)
	tests := []struct {
		name          string
		status        int
		encoding      string
		captured      []byte
		total         int64 // 0: len(captured)
		readErr       error
		check         schemas.ResponseCheck
		wantOutcome   txn.Outcome
		wantErrMsg    string
		wantBody      string
		wantDecoded   string
		wantTruncated bool
		wantRecords   int
	}{
		{name: "2xx", status: 201, captured: []byte(`{"id":"1"}`), readErr: io.EOF, wantOutcome: txn.OutcomeDelivered, wantBody: `{"id":"1"}`},
		{name: "4xx", status: 404, captured: []byte(`{"message":"no such list"}`), readErr: io.EOF, wantOutcome: txn.OutcomeFailed, wantBody: `{"message":"no such list"}`},
		{name: "5xx", status: 503, readErr: io.EOF, wantOutcome: txn.OutcomeFailed},
		{name: "body broke off", status: 200, captured: []byte(`{"id":`), readErr: io.ErrUnexpectedEOF, wantOutcome: txn.OutcomeDelivered, wantErrMsg: "broke off after 6 bytes", wantBody: `{"id":`},
		{name: "check overrides status", status: 200, captured: []byte(`{"errors":[{"index":1}]}`), readErr: io.EOF, check: partial, wantOutcome: txn.OutcomePartial, wantBody: `{"errors":[{"index":1}]}`, wantRecords: 1},
		{name: "check that finds nothing", status: 200, captured: []byte(`{"ok":true}`), readErr: io.EOF, check: partial, wantOutcome: txn.OutcomeDelivered, wantBody: `{"ok":true}`},
		{name: "gzip stored decoded", status: 200, encoding: "gzip", captured: zipped, readErr: io.EOF, wantOutcome: txn.OutcomeDelivered, wantBody: `{"status":"ok"}`, wantDecoded: "gzip"},
		{name: "truncated gzip kept as sent", status: 200, encoding: "gzip", captured: zipped[:8], total: int64(len(zipped)), readErr: io.EOF, wantOutcome: txn.OutcomeDelivered, wantTruncated: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			req, _ := http.NewRequest(http.MethodPost, "http://mtguard.local/crm/v1/leads", nil)
			route := stageRoute(t)
			if tt.check != nil {
				route.Checks = &schemas.Checks{Response: []schemas.ResponseCheck{tt.check}}
			}
			f, _ := newTestFlight(t, PipelineConfig{CaptureBody: 1024}, req, &Call{Route: route})
			if tt.check != nil {
				f.creq = &schemas.Request{Method: req.Method, Path: req.URL.Path, Header: req.Header}
			}
			f.resp = &http.Response{StatusCode: tt.status, Header: http.Header{"Content-Type": {"application/json"}}}
			if tt.encoding != "" {
				f.resp.Header.Set("Content-Encoding", tt.encoding)
			}
			total := tt.total
			if total == 0 {
				total = int64(len(tt.captured))
			}

			r := f.classify(tt.captured, total, tt.readErr)
			if r.outcome != tt.wantOutcome {
				t.Errorf("outcome %q, want %q", r.outcome, tt.wantOutcome)
			}
			if (tt.wantErrMsg == "") != (r.errMsg == "") || !strings.Contains(r.errMsg, tt.wantErrMsg) {
				t.Errorf("error %q, want %q", r.errMsg, tt.wantErrMsg)
			}
			if !tt.wantTruncated && r.response.Body != tt.wantBody {
				t.Errorf("stored body %q, want %q", r.response.Body, tt.wantBody)
			}
			if r.response.Decoded != tt.wantDecoded || r.response.Truncated != tt.wantTruncated {
				t.Errorf("stored decoded %q truncated %v, want %q %v", r.response.Decoded, r.response.Truncated, tt.wantDecoded, tt.wantTruncated)
			}
			if len(r.records) != tt.wantRecords {
				t.Errorf("%d record results, want %d", len(r.records), tt.wantRecords)
			}
		})
	}
}

func TestSettle(t *testing.T) {
	limitSignal := []schemas.Signal{{Kind: vendors.SignalRateLimit, RetryAfter: time.Minute}}
	tests := []struct {
		name       string
		status     int
		signals    []schemas.Signal
		wantPaused bool
	}{
		{"2xx leaves the group alone", 200, nil, false},
		{"unread 429 pauses the group", 429, nil, true},
		{"limit read by a check pauses the group", 200, limitSignal, true},
		{"4xx other than 429 leaves the group alone", 400, nil, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			lim, err := NewLimiter([]LimitGroup{{Name: "crm", Windows: []Window{{Requests: 100, Per: time.Minute}}}}, nil, nil, nil)
			if err != nil {
				t.Fatal(err)
			}
			route := stageRoute(t)
			route.LimitGroup = "crm"
			req, _ := http.NewRequest(http.MethodPost, "http://mtguard.local/crm/v1/leads", nil)
			f, rec := newTestFlight(t, PipelineConfig{Limiter: lim}, req, &Call{Route: route})
			if s := f.acquireBudget(); s != nil {
				t.Fatalf("no budget: %+v", s)
			}
			f.resp = &http.Response{StatusCode: tt.status, Header: http.Header{}}

			f.settle(ruling{outcome: txn.OutcomeDelivered, signals: tt.signals})
			st := lim.Status()[0]
			if paused := !st.PausedUntil.IsZero(); paused != tt.wantPaused {
				t.Errorf("group paused %v (%s), want %v", paused, st.PauseReason, tt.wantPaused)
			}
			if st.InFlight != 0 {
				t.Errorf("%d calls still in flight: the budget was not released", st.InFlight)
			}
			if tx := rec.only(t); tx.Outcome != txn.OutcomeDelivered || tx.Status != tt.status {
				t.Errorf("recorded %q %d, want %q %d", tx.Outcome, tx.Status, txn.OutcomeDelivered, tt.status)
			}
		})
	}
}

// TestRejectionRecordsItsFindingOnce: a check that rejects a call has already reported why
// (one schema.request.invalid per violation); mtguard's refusal must not add the same code
// again, which stored one violation twice and counted it twice in mtguard_findings_total.
func TestRejectionRecordsItsFindingOnce(t *testing.T) {
	for _, code := range []string{txn.CodeSchemaRequestInvalid, txn.CodeSchemaRequestMalformed} {
		t.Run(code, func(t *testing.T) {
			route := stageRoute(t)
			route.Checks = &schemas.Checks{Request: []schemas.RequestCheck{func(_ time.Time, req *schemas.Request, v *schemas.RequestVerdict) {
				v.Findings = append(v.Findings, txn.NewFinding(code, "/email: bad", "POST /contacts · lead.json"))
				v.Reject = &schemas.Rejection{Status: 422, Code: code, Title: "Request violates its contract", Detail: "1 violation", Errors: []string{"/email: bad"}}
			}}}
			req, _ := http.NewRequest(http.MethodPost, "http://crm.example/contacts", strings.NewReader(`{"email":"bad"}`))
			req.Header.Set("Content-Type", "application/json")
			f, rec := newTestFlight(t, PipelineConfig{MaxBody: 1024, CaptureBody: 1024}, req, &Call{Route: route, Front: "reverse"})
			if s := f.admit(); s != nil {
				t.Fatalf("admit refused: %+v", s)
			}
			s := f.checkRequest()
			if s == nil || s.resp == nil || s.resp.StatusCode != 422 {
				t.Fatalf("checkRequest = %+v, want a 422 answer", s)
			}
			tx := rec.only(t)
			n := 0
			for _, fd := range tx.Findings {
				if fd.Code == code {
					n++
				}
			}
			if n != 1 || tx.Outcome != txn.OutcomeRejected {
				t.Errorf("recorded %q with %d %s findings (%+v), want rejected with 1", tx.Outcome, n, code, tx.Findings)
			}
		})
	}
}

func (r *memRecorder) RecordProvisional(_ context.Context, _ *txn.Transaction, res txn.Result) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.provisional = append(r.provisional, res)
	return nil
}

// TestAnswerRecordsProvisional: the answer stage records the outcome the vendor's status
// gives before it hands the answer on, so that a crash while the body streams cannot leave a
// call the tool saw as interrupted. The final result is recorded when the body ends.
func TestAnswerRecordsProvisional(t *testing.T) {
	tests := []struct {
		status int
		want   txn.Outcome
	}{{201, txn.OutcomeDelivered}, {503, txn.OutcomeFailed}}
	for _, tt := range tests {
		t.Run(strconv.Itoa(tt.status), func(t *testing.T) {
			req, _ := http.NewRequest(http.MethodPost, "http://mtguard.local/crm/v1/leads", nil)
			f, rec := newTestFlight(t, PipelineConfig{CaptureBody: 1024}, req, &Call{Route: stageRoute(t)})
			f.cancel = func(error) {}
			f.tx.Findings = []txn.Finding{finding(txn.CodeVersionUnpinned, "request check")}
			body := &readTracker{r: strings.NewReader(`{"id":"1"}`)}
			f.resp = &http.Response{StatusCode: tt.status, ContentLength: 10, Body: body,
				Header: http.Header{"Content-Type": {"application/json"}, "Set-Cookie": {"session=s3cret"}}}

			resp := f.answer(f.resp)
			if len(rec.provisional) != 1 {
				t.Fatalf("%d provisional results recorded before the answer was handed on, want 1", len(rec.provisional))
			}
			if body.read {
				t.Error("the body was read before the provisional result was recorded")
			}
			p := rec.provisional[0]
			if p.Status != tt.status || p.Outcome != tt.want {
				t.Errorf("provisional %d %q, want %d %q", p.Status, p.Outcome, tt.status, tt.want)
			}
			if p.Response.ContentType != "application/json" || p.Response.Size != 10 || p.Response.Headers.Get(HeaderID) != f.tx.ID {
				t.Errorf("provisional response %+v, want the vendor's headers and size", p.Response)
			}
			if v := p.Response.Headers.Get("Set-Cookie"); v != txn.Redacted {
				t.Errorf("provisional Set-Cookie %q, want it redacted", v)
			}
			if !hasFinding(p.Findings, txn.CodeVersionUnpinned) {
				t.Errorf("provisional findings %+v lack the request's", p.Findings)
			}
			if len(rec.results) != 0 {
				t.Fatalf("a final result was recorded before the body ended")
			}
			io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			if tx := rec.only(t); tx.Outcome != tt.want || tx.Response.Body != `{"id":"1"}` {
				t.Errorf("final result %q body %q", tx.Outcome, tx.Response.Body)
			}
		})
	}
}

// readTracker says whether anything read it.
type readTracker struct {
	r    io.Reader
	read bool
}

func (b *readTracker) Read(p []byte) (int, error) { b.read = true; return b.r.Read(p) }

func (b *readTracker) Close() error { return nil }

// intentCounter is a memRecorder that counts intents.
type intentCounter struct {
	memRecorder
	intents int
}

func (r *intentCounter) RecordIntent(context.Context, *txn.Transaction) error {
	r.intents++
	return nil
}

// TestRecordIntentWhileStoreFails: with store.on_error reject, a call is refused with 503 and
// store.write_failed while any write of the store fails (a bbolt commit, say), though its own
// intent could still be journaled; with forward, it goes on.
func TestRecordIntentWhileStoreFails(t *testing.T) {
	storeErr := errors.New("commit failing since 10:00 (3 attempts): no space left on device")
	for _, reject := range []bool{false, true} {
		t.Run(fmt.Sprintf("reject=%v", reject), func(t *testing.T) {
			rec := &intentCounter{}
			p, err := NewPipeline(PipelineConfig{Recorder: rec, RejectOnStoreError: reject, StoreHealth: func() error { return storeErr }})
			if err != nil {
				t.Fatal(err)
			}
			req, _ := http.NewRequest(http.MethodPost, "http://mtguard.local/crm/contacts", strings.NewReader(`{"email":"a@b.io"}`))
			f, err := p.newFlight(req.WithContext(WithCall(req.Context(), &Call{Route: stageRoute(t), Front: "reverse"})))
			if err != nil {
				t.Fatal(err)
			}
			s := f.recordIntent()
			if !reject {
				if s != nil || rec.intents != 1 {
					t.Fatalf("on_error forward: stop %+v, %d intents; want the call to go on", s, rec.intents)
				}
				return
			}
			if s == nil || s.resp == nil || s.resp.StatusCode != http.StatusServiceUnavailable {
				t.Fatalf("recordIntent = %+v, want a 503", s)
			}
			if ct := s.resp.Header.Get("Content-Type"); ct != txn.ProblemContentType {
				t.Errorf("Content-Type %q, want %s", ct, txn.ProblemContentType)
			}
			body, _ := io.ReadAll(s.resp.Body)
			if !bytes.Contains(body, []byte("store-write-failed")) || !bytes.Contains(body, []byte("no space left")) {
				t.Errorf("problem %s, want the finding and the store's error", body)
			}
			if rec.intents != 0 {
				t.Errorf("the intent was tried while the store fails")
			}
			if tx := rec.only(t); tx.Outcome != txn.OutcomeRejected || !hasFinding(tx.Findings, txn.CodeStoreWriteFailed) {
				t.Errorf("recorded %q %+v, want rejected with %s", tx.Outcome, tx.Findings, txn.CodeStoreWriteFailed)
			}
			if p.StoreErrors() != 1 {
				t.Errorf("StoreErrors = %d, want 1", p.StoreErrors())
			}
		})
	}
}
