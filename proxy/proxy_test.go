package proxy

import (
	"bytes"
	"compress/gzip"
	"context"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"github.com/mtguard/mtguard/schemas"
	"github.com/mtguard/mtguard/store"
	"github.com/mtguard/mtguard/txn"
)

// vendor is a fake vendor that remembers what reached it.
type vendor struct {
	*httptest.Server
	mu   sync.Mutex
	seen []*http.Request
	body [][]byte
}

func newVendor(t *testing.T) *vendor {
	t.Helper()
	v := &vendor{}
	v.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		v.mu.Lock()
		v.seen = append(v.seen, r)
		v.body = append(v.body, b)
		v.mu.Unlock()
		switch {
		case strings.HasSuffix(r.URL.Path, "/slow"):
			// Sleep regardless of the request's context: under a loaded -race run the server
			// has been seen cancelling it early, and answering 200 then made the timeout
			// cases flaky. A proxy that honours its route timeout never sees this answer.
			time.Sleep(1500 * time.Millisecond)
			w.WriteHeader(200)
		case strings.HasSuffix(r.URL.Path, "/invalid"):
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(400)
			io.WriteString(w, `{"status":"error","category":"VALIDATION_ERROR","message":"Property values were not valid"}`)
		case strings.HasSuffix(r.URL.Path, "/boom"):
			w.WriteHeader(503)
		case strings.HasSuffix(r.URL.Path, "/gzip"):
			w.Header().Set("Content-Type", "application/json")
			w.Header().Set("Content-Encoding", "gzip")
			zw := gzip.NewWriter(w)
			io.WriteString(zw, `{"status":"ok","zipped":true}`)
			zw.Close()
		case strings.HasSuffix(r.URL.Path, "/big"):
			w.Header().Set("Content-Type", "text/plain")
			io.WriteString(w, strings.Repeat("x", 5000))
		default:
			w.Header().Set("Content-Type", "application/json")
			w.Header().Set("Set-Cookie", "session=vendor-secret-cookie")
			w.WriteHeader(201)
			io.WriteString(w, `{"id":"101","path":"`+r.URL.Path+`"}`)
		}
	}))
	t.Cleanup(v.Close)
	return v
}

func (v *vendor) last() (*http.Request, []byte) {
	v.mu.Lock()
	defer v.mu.Unlock()
	if len(v.seen) == 0 {
		return nil, nil
	}
	return v.seen[len(v.seen)-1], v.body[len(v.body)-1]
}

type harness struct {
	proxy *httptest.Server
	store *store.Store
	log   *bytes.Buffer
	dir   string
}

func newHarness(t *testing.T, upstream string, mutate func(*PipelineConfig)) *harness {
	t.Helper()
	dir := t.TempDir()
	st, err := store.Open(filepath.Join(dir, "mtguard.db"), store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	u, _ := url.Parse(upstream)
	keys, _ := schemas.ParseKeyPaths([]string{"email", "properties.email", "inputs[].email"})
	dead, _ := url.Parse("http://" + closedAddr(t))
	routes := []Route{
		{Name: "crm", Prefix: "/crm", Upstream: u, RecordKeys: keys, Timeout: 300 * time.Millisecond},
		{Name: "crm-v2", Prefix: "/crm/v2", Upstream: u.JoinPath("/base")},
		{Name: "dead", Prefix: "/dead", Upstream: dead},
	}
	logBuf := &bytes.Buffer{}
	cfg := PipelineConfig{
		Recorder: st, CaptureBody: 1024, MaxBody: 4096,
		Redactor: NewRedactor(RedactConfig{Fields: []string{"ssn"}}),
		Logger:   zerolog.New(&syncWriter{w: logBuf}),
	}
	if mutate != nil {
		mutate(&cfg)
	}
	pl, err := NewPipeline(cfg)
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(NewProxy(routes, pl, cfg.Logger))
	t.Cleanup(srv.Close)
	return &harness{proxy: srv, store: st, log: logBuf, dir: dir}
}

type syncWriter struct {
	mu sync.Mutex
	w  io.Writer
}

func (s *syncWriter) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.w.Write(p)
}

// closedAddr returns a loopback address where nothing listens.
func closedAddr(t *testing.T) string {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	return addr
}

func (h *harness) get(t *testing.T, id string) txn.Transaction {
	t.Helper()
	if err := h.store.Sync(context.Background()); err != nil {
		t.Fatal(err)
	}
	tx, err := h.store.Get(context.Background(), id)
	if err != nil {
		t.Fatalf("transaction %q: %v", id, err)
	}
	return tx
}

func TestReverseProxy(t *testing.T) {
	v := newVendor(t)
	h := newHarness(t, v.URL, nil)
	tests := []struct {
		name        string
		method      string
		path        string
		ctype       string
		body        string
		wantStatus  int
		wantOutcome txn.Outcome
		wantVendor  string // path the vendor saw; "" means the call must not reach it
		wantKeys    []string
	}{
		{"delivered json", "POST", "/crm/v1/leads?source=form", "application/json", `{"email":" Jane@Acme.com ","first_name":"Jane"}`, 201, txn.OutcomeDelivered, "/v1/leads", []string{"jane@acme.com"}},
		{"delivered form", "POST", "/crm/v1/leads", "application/x-www-form-urlencoded", "email=bob%40acme.com&first_name=Bob", 201, txn.OutcomeDelivered, "/v1/leads", []string{"bob@acme.com"}},
		{"batch keys", "POST", "/crm/v1/leads/batch", "application/json", `{"inputs":[{"email":"a@x.io"},{"email":"b@x.io"},{"email":"a@x.io"}]}`, 201, txn.OutcomeDelivered, "/v1/leads/batch", []string{"a@x.io", "b@x.io"}},
		{"longest prefix with base path", "GET", "/crm/v2/things", "", "", 201, txn.OutcomeDelivered, "/base/things", nil},
		{"vendor 400", "POST", "/crm/v1/invalid", "application/json", `{"email":"bad"}`, 400, txn.OutcomeFailed, "/v1/invalid", []string{"bad"}},
		{"vendor 503", "POST", "/crm/v1/boom", "application/json", `{}`, 503, txn.OutcomeFailed, "/v1/boom", nil},
		{"timeout", "GET", "/crm/v1/slow", "", "", 504, txn.OutcomeTimeout, "/v1/slow", nil},
		{"unreachable", "POST", "/dead/v1/leads", "application/json", `{"email":"x@y.io"}`, 502, txn.OutcomeUnreachable, "", nil},
		{"oversize", "POST", "/crm/v1/leads", "application/json", `{"email":"big@acme.com","pad":"` + strings.Repeat("p", 5000) + `"}`, 413, txn.OutcomeRejected, "", []string{"big@acme.com"}},
		{"unknown route", "POST", "/hubspot/v3/contacts", "application/json", `{"email":"lost@acme.com"}`, 404, txn.OutcomeRejected, "", nil},
		{"prefix is a whole segment", "GET", "/crmx/v1", "", "", 404, txn.OutcomeRejected, "", nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			v.mu.Lock()
			before := len(v.seen)
			v.mu.Unlock()
			req, _ := http.NewRequest(tt.method, h.proxy.URL+tt.path, strings.NewReader(tt.body))
			if tt.ctype != "" {
				req.Header.Set("Content-Type", tt.ctype)
			}
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			respBody, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode != tt.wantStatus {
				t.Fatalf("status %d, want %d; body %s", resp.StatusCode, tt.wantStatus, respBody)
			}
			if resp.StatusCode >= 413 && resp.StatusCode != 503 && resp.StatusCode != 400 {
				if ct := resp.Header.Get("Content-Type"); ct != "application/problem+json" {
					t.Errorf("mtguard's own answer has Content-Type %q, want application/problem+json", ct)
				}
			}
			id := resp.Header.Get(HeaderID)
			if id == "" {
				t.Fatalf("no %s header", HeaderID)
			}
			tx := h.get(t, id)
			if tx.Outcome != tt.wantOutcome || tx.Status != tt.wantStatus {
				t.Errorf("stored outcome %q status %d, want %q %d (error %q)", tx.Outcome, tx.Status, tt.wantOutcome, tt.wantStatus, tx.Error)
			}
			if strings.Join(tx.RecordKeys, ",") != strings.Join(tt.wantKeys, ",") {
				t.Errorf("record keys %v, want %v", tx.RecordKeys, tt.wantKeys)
			}
			if tx.Path != tt.path || tx.Method != tt.method {
				t.Errorf("stored %s %s, want %s %s", tx.Method, tx.Path, tt.method, tt.path)
			}
			v.mu.Lock()
			reached := len(v.seen) > before
			v.mu.Unlock()
			if tt.wantVendor == "" {
				if reached {
					t.Errorf("the call reached the vendor; it must not")
				}
				if tx.Response.Body != string(respBody) {
					t.Errorf("stored answer %q differs from the answer given %q", tx.Response.Body, respBody)
				}
				if tx.Outcome != txn.OutcomeUnreachable && tx.Request.Size == 0 && tt.body != "" {
					t.Errorf("refused call's body was not recorded")
				}
				return
			}
			got, _ := v.last()
			if got.URL.Path != tt.wantVendor {
				t.Errorf("vendor saw %s, want %s", got.URL.Path, tt.wantVendor)
			}
			if tt.wantStatus < 300 && tx.Response.Body != string(respBody) {
				t.Errorf("stored response %q, caller got %q", tx.Response.Body, respBody)
			}
		})
	}
	t.Run("unknown route names the prefixes", func(t *testing.T) {
		resp, _ := http.Get(h.proxy.URL + "/nope")
		var pb txn.Problem
		json.NewDecoder(resp.Body).Decode(&pb)
		resp.Body.Close()
		if strings.Join(pb.Routes, " ") != "/crm/ /crm/v2/ /dead/" || !strings.Contains(pb.Detail, "/crm/") {
			t.Fatalf("problem %+v does not name the configured prefixes", pb)
		}
	})
}

func TestHeadersAndCapture(t *testing.T) {
	v := newVendor(t)
	h := newHarness(t, v.URL, nil)
	req, _ := http.NewRequest("POST", h.proxy.URL+"/crm/v1/leads", strings.NewReader(`{"email":"jane@acme.com"}`))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Connection", "X-Hop")
	req.Header.Set("X-Hop", "must not be forwarded")
	req.Header.Set("Keep-Alive", "timeout=5")
	req.Header.Set("X-Custom", "kept")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	got, _ := v.last()
	if got.Header.Get("X-Hop") != "" || got.Header.Get("Keep-Alive") != "" {
		t.Errorf("hop-by-hop headers reached the vendor: %v", got.Header)
	}
	if got.Header.Get("X-Custom") != "kept" {
		t.Errorf("end-to-end header lost")
	}
	if got.Header.Get("X-Forwarded-For") != "" {
		t.Errorf("X-Forwarded-For leaks the caller's address to the vendor")
	}
	if u, _ := url.Parse(v.URL); got.Host != u.Host {
		t.Errorf("vendor saw Host %q, want %q", got.Host, u.Host)
	}

	// A gzipped answer reaches the tool as sent and is stored readable.
	req, _ = http.NewRequest("GET", h.proxy.URL+"/crm/v1/gzip", nil)
	req.Header.Set("Accept-Encoding", "gzip")
	resp, err = http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	zr, err := gzip.NewReader(resp.Body)
	if err != nil {
		t.Fatalf("the tool did not receive the gzip bytes: %v", err)
	}
	io.ReadAll(zr)
	resp.Body.Close()
	if tx := h.get(t, resp.Header.Get(HeaderID)); tx.Response.Body != `{"status":"ok","zipped":true}` || tx.Response.Decoded != "gzip" {
		t.Errorf("stored gzip answer: body %q decoded %q", tx.Response.Body, tx.Response.Decoded)
	}

	// A response larger than the capture limit streams whole but is stored truncated.
	resp, err = http.Get(h.proxy.URL + "/crm/v1/big")
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if len(b) != 5000 {
		t.Fatalf("caller got %d bytes, want all 5000", len(b))
	}
	tx := h.get(t, resp.Header.Get(HeaderID))
	if !tx.Response.Truncated || len(tx.Response.Body) != 1024 || tx.Response.Size != 5000 {
		t.Errorf("stored response: truncated=%v kept=%d size=%d, want true 1024 5000", tx.Response.Truncated, len(tx.Response.Body), tx.Response.Size)
	}
}

// TestRedaction sends canary secrets in every place a secret travels and checks that none of
// them reaches the store file or the log, while the vendor still receives them.
func TestRedaction(t *testing.T) {
	v := newVendor(t)
	h := newHarness(t, v.URL, nil)
	canaries := map[string]string{
		"authorization":  "canary-bearer-7f3a",
		"api key header": "canary-xapikey-91c2",
		"query":          "canary-hapikey-55d0",
		"query token":    "canary-token-e1e1",
		"body field":     "canary-ssn-0042",
		"body password":  "canary-pw-7777",
		"form field":     "canary-formpw-3131",
	}
	body := `{"email":"jane@acme.com","ssn":"` + canaries["body field"] + `","nested":{"Password":"` + canaries["body password"] + `"}}`
	req, _ := http.NewRequest("POST", h.proxy.URL+"/crm/v1/leads?hapikey="+canaries["query"]+"&access_token="+canaries["query token"]+"&source=web", strings.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Authorization", "Bearer "+canaries["authorization"])
	req.Header.Set("X-Api-Key", canaries["api key header"])
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	id := resp.Header.Get(HeaderID)
	resp.Body.Close()
	form := url.Values{"email": {"bob@acme.com"}, "password": {canaries["form field"]}}
	resp, err = http.Post(h.proxy.URL+"/crm/v1/leads", "application/x-www-form-urlencoded", strings.NewReader(form.Encode()))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()

	v.mu.Lock()
	first := v.seen[len(v.seen)-2]
	v.mu.Unlock()
	if first.Header.Get("X-Api-Key") != canaries["api key header"] || first.URL.Query().Get("hapikey") != canaries["query"] {
		t.Fatal("the vendor must still receive the credentials")
	}
	tx := h.get(t, id)
	if tx.Request.Headers.Get("Authorization") != Redacted || !strings.Contains(tx.Path, "source=web") {
		t.Errorf("stored request: %v %s", tx.Request.Headers, tx.Path)
	}
	if !strings.Contains(tx.Request.Body, "jane@acme.com") {
		t.Errorf("redaction removed more than the secrets: %s", tx.Request.Body)
	}
	if tx.Response.Headers.Get("Set-Cookie") != Redacted {
		t.Errorf("vendor Set-Cookie stored: %v", tx.Response.Headers)
	}
	h.store.Close()
	raw, err := os.ReadFile(filepath.Join(h.dir, "mtguard.db"))
	if err != nil {
		t.Fatal(err)
	}
	for where, c := range canaries {
		if bytes.Contains(raw, []byte(c)) {
			t.Errorf("%s secret %q is in the store file", where, c)
		}
		if strings.Contains(h.log.String(), c) {
			t.Errorf("%s secret %q is in the log", where, c)
		}
	}
	if bytes.Contains(raw, []byte("vendor-secret-cookie")) {
		t.Errorf("the vendor's cookie is in the store file")
	}
}

// failingRecorder fails every write, like a full disk.
type failingRecorder struct{}

func (f *failingRecorder) NewID(t time.Time) string { return "01KQ0000000000000000000000" }
func (f *failingRecorder) RecordIntent(context.Context, *txn.Transaction) error {
	return io.ErrShortWrite
}
func (f *failingRecorder) RecordResult(*txn.Transaction) error { return io.ErrShortWrite }
func (f *failingRecorder) Sync(context.Context) error          { return io.ErrShortWrite }
func (f *failingRecorder) RecordProvisional(context.Context, *txn.Transaction, txn.Result) error {
	return io.ErrShortWrite
}

func TestStoreErrorPolicy(t *testing.T) {
	v := newVendor(t)
	for _, reject := range []bool{false, true} {
		h := newHarness(t, v.URL, func(c *PipelineConfig) {
			c.Recorder = &failingRecorder{}
			c.RejectOnStoreError = reject
		})
		resp, err := http.Post(h.proxy.URL+"/crm/v1/leads", "application/json", strings.NewReader(`{"email":"a@b.io"}`))
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		want := 201
		if reject {
			want = 503
		}
		if resp.StatusCode != want {
			t.Errorf("on_error reject=%v: status %d, want %d", reject, resp.StatusCode, want)
		}
		if !strings.Contains(h.log.String(), "could not record the call") {
			t.Errorf("on_error reject=%v: store failure not logged", reject)
		}
	}
}

// TestClientGoneBeforeIntent checks that a call whose caller left while its intent was being
// recorded gets an outcome instead of staying pending.
func TestClientGoneBeforeIntent(t *testing.T) {
	v := newVendor(t)
	h := newHarness(t, v.URL, nil)
	st := h.store
	pl, err := NewPipeline(PipelineConfig{Recorder: st})
	if err != nil {
		t.Fatal(err)
	}
	u, _ := url.Parse(v.URL)
	route := &Route{Name: "crm", Prefix: "/crm", Upstream: u, Timeout: time.Second}
	for range 50 {
		ctx, cancel := context.WithCancel(context.Background())
		cancel()
		req, _ := http.NewRequestWithContext(WithCall(ctx, &Call{Route: route, Front: "reverse"}), "POST", v.URL+"/v1/leads", strings.NewReader(`{"email":"a@b.io"}`))
		if _, err := pl.RoundTrip(req); err == nil {
			t.Fatal("RoundTrip with a cancelled caller succeeded")
		}
	}
	st.Sync(context.Background())
	page, _ := st.Query(context.Background(), store.Query{Outcome: txn.OutcomePending})
	if len(page.Transactions) != 0 {
		t.Fatalf("%d calls left pending after their callers went away", len(page.Transactions))
	}
	v.mu.Lock()
	defer v.mu.Unlock()
	if len(v.seen) != 0 {
		t.Fatalf("a call whose caller had gone was forwarded")
	}
}

// TestChecksHooks checks that the pipeline applies a route's request and response verdicts:
// reject before forwarding, headers to the vendor and to the tool, outcome override, records.
func TestChecksHooks(t *testing.T) {
	v := newVendor(t)
	st, err := store.Open(filepath.Join(t.TempDir(), "m.db"), store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	pl, _ := NewPipeline(PipelineConfig{Recorder: st})
	u, _ := url.Parse(v.URL)
	checks := &schemas.Checks{
		Request: []schemas.RequestCheck{func(now time.Time, req *schemas.Request, vd *schemas.RequestVerdict) {
			if strings.Contains(string(req.Raw), "bad") {
				vd.Reject = &schemas.Rejection{Status: 422, Code: txn.CodeRequestTooLarge, Title: "Contract violated", Detail: "bad payload", Errors: []string{"/email: bad"}}
				return
			}
			vd.SetHeaders = http.Header{"Api-Version": {"2026-01"}}
			vd.AnswerHeaders = http.Header{"X-Mtguard-Warning": {"checked"}}
			vd.Findings = append(vd.Findings, txn.NewFinding(txn.CodeClientGone, "request seen", req.Path))
		}},
		Response: []schemas.ResponseCheck{func(now time.Time, req *schemas.Request, resp *schemas.Response, vd *schemas.ResponseVerdict) {
			if resp.Status == 201 && resp.Doc().JSON != nil {
				vd.Outcome = "partial"
				vd.Records = []txn.RecordResult{{Index: 1, Key: "b@x.io", OK: false, Reason: "skipped"}}
			}
		}},
	}
	srv := httptest.NewServer(NewProxy([]Route{{Name: "crm", Prefix: "/crm", Upstream: u, Checks: checks}}, pl, zerolog.Nop()))
	defer srv.Close()

	resp, err := http.Post(srv.URL+"/crm/v1/leads", "application/json", strings.NewReader(`{"email":"bad"}`))
	if err != nil {
		t.Fatal(err)
	}
	var pb txn.Problem
	json.NewDecoder(resp.Body).Decode(&pb)
	resp.Body.Close()
	if resp.StatusCode != 422 || len(pb.Errors) != 1 || v.Received() != 0 {
		t.Fatalf("rejection: status %d problem %+v, vendor hits %d", resp.StatusCode, pb, v.Received())
	}
	if want := "https://github.com/mtguard/mtguard/blob/main/docs/findings.md#finding-request-too-large"; pb.Type != want {
		t.Errorf("problem type %q, want %q", pb.Type, want)
	}
	tx, _ := st.Get(context.Background(), resp.Header.Get(HeaderID))
	if tx.Outcome != txn.OutcomeRejected || tx.Request.Body != `{"email":"bad"}` {
		t.Fatalf("rejected call stored as %q with body %q", tx.Outcome, tx.Request.Body)
	}

	resp, err = http.Post(srv.URL+"/crm/v1/leads", "application/json", strings.NewReader(`{"email":"ok@x.io"}`))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.Header.Get("X-Mtguard-Warning") != "checked" {
		t.Errorf("answer headers not added: %v", resp.Header)
	}
	if got, _ := v.last(); got.Header.Get("Api-Version") != "2026-01" {
		t.Errorf("SetHeaders not forwarded: %v", got.Header)
	}
	tx, _ = st.Get(context.Background(), resp.Header.Get(HeaderID))
	if tx.Outcome != txn.OutcomePartial || len(tx.Records) != 1 || len(tx.Findings) != 1 || tx.Findings[0].Detail != "/v1/leads" {
		t.Fatalf("stored outcome %q records %+v findings %+v", tx.Outcome, tx.Records, tx.Findings)
	}
}

func (v *vendor) Received() int {
	v.mu.Lock()
	defer v.mu.Unlock()
	return len(v.seen)
}
