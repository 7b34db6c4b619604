package proxy

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"net/url"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"github.com/mtguard/mtguard/store"
	"github.com/mtguard/mtguard/txn"
)

// callerHarness is a reverse proxy whose routes name callers, in front of an echoing vendor,
// with a store in a temporary folder.
type callerHarness struct {
	*canaryHarness
}

const (
	testSiteKey      = "site-key-0123456789abcdef"
	testSigSecret    = "whsec-typeform-fedcba9876543210"
	testGitHubSecret = "ghsec-abcdefabcdef0123"
)

func newCallerHarness(t *testing.T) *callerHarness {
	t.Helper()
	v := newEchoVendor(t)
	dir := t.TempDir()
	st, err := store.Open(filepath.Join(dir, "mtguard.db"), store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	u, _ := url.Parse(v.URL)
	signed := []Caller{
		{Name: "typeform", Signature: &CallerSignature{Header: "Typeform-Signature", Secret: testSigSecret, Scheme: SignatureScheme{Prefix: "sha256=", Encoding: SignatureBase64}}},
		{Name: "github", Signature: &CallerSignature{Header: "X-Hub-Signature-256", Secret: testGitHubSecret, Scheme: SignatureScheme{Prefix: "sha256=", Encoding: SignatureHex}}},
		// A header whose name says nothing secret: it is redacted all the same.
		{Name: "site", Key: &CallerKey{Header: "X-Site", Value: testSiteKey}},
	}
	routes := []Route{
		{Name: "forms", Prefix: "/forms", Upstream: u, Timeout: 5 * time.Second, Callers: signed},
		{Name: "office", Prefix: "/office", Upstream: u, Timeout: 5 * time.Second,
			Callers: []Caller{{Name: "office", CIDRs: []netip.Prefix{netip.MustParsePrefix("10.0.0.0/8"), netip.MustParsePrefix("127.0.0.1/32")}}}},
		{Name: "branch", Prefix: "/branch", Upstream: u, Timeout: 5 * time.Second,
			Callers: []Caller{{Name: "branch", CIDRs: []netip.Prefix{netip.MustParsePrefix("203.0.113.0/24")}}}},
		{Name: "open", Prefix: "/open", Upstream: u, Timeout: 5 * time.Second},
	}
	logBuf := &bytes.Buffer{}
	logger := zerolog.New(&syncWriter{w: logBuf}).Level(zerolog.DebugLevel)
	pl, err := NewPipeline(PipelineConfig{Recorder: st, Logger: logger, MaxBody: 4096})
	if err != nil {
		t.Fatal(err)
	}
	px := NewProxy(routes, pl, logger)
	srv := httptest.NewServer(px)
	t.Cleanup(srv.Close)
	return &callerHarness{&canaryHarness{proxy: srv, px: px, store: st, log: logBuf, dir: dir, vendor: v}}
}

func hmacSHA256(secret string, body []byte) []byte {
	m := hmac.New(sha256.New, []byte(secret))
	m.Write(body)
	return m.Sum(nil)
}

func TestCallers(t *testing.T) {
	h := newCallerHarness(t)
	body := []byte(`{"email":"jane@acme.com","form":"webinar"}`)
	sigB64 := "sha256=" + base64.StdEncoding.EncodeToString(hmacSHA256(testSigSecret, body))
	sigHex := "sha256=" + hex.EncodeToString(hmacSHA256(testGitHubSecret, body))
	tests := []struct {
		name       string
		path       string
		body       []byte
		header     http.Header
		wantCaller string // "" for a refusal
	}{
		{"signature base64", "/forms/hook", body, http.Header{"Typeform-Signature": {sigB64}}, "typeform"},
		{"signature prefix in another case", "/forms/hook", body, http.Header{"X-Hub-Signature-256": {strings.ToUpper(sigHex[:7]) + strings.ToUpper(sigHex[7:])}}, ""},
		{"signature hex", "/forms/hook", body, http.Header{"X-Hub-Signature-256": {"sha256=" + strings.ToUpper(sigHex[7:])}}, "github"},
		{"key", "/forms/hook", body, http.Header{"X-Site": {testSiteKey}}, "site"},
		{"cidr", "/office/hook", body, nil, "office"},
		{"route without callers", "/open/hook", body, nil, ""},
		{"no credential", "/forms/hook", body, nil, ""},
		{"wrong key", "/forms/hook", body, http.Header{"X-Site": {"wrong-key-presented-by-a-stranger"}}, ""},
		{"key of the right length, wrong", "/forms/hook", body, http.Header{"X-Site": {testSiteKey[:len(testSiteKey)-1] + "0"}}, ""},
		{"signature of another body", "/forms/hook", []byte(`{"email":"mallory@evil.example"}`), http.Header{"Typeform-Signature": {sigB64}}, ""},
		{"signature with the wrong secret", "/forms/hook", body, http.Header{"Typeform-Signature": {"sha256=" + base64.StdEncoding.EncodeToString(hmacSHA256("guessed-secret-000", body))}}, ""},
		{"address outside the cidrs", "/branch/hook", body, nil, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			before := h.vendor.count()
			tx, answer := h.do(t, http.MethodPost, tt.path, tt.body, tt.header)
			refused := tt.wantCaller == "" && tt.path != "/open/hook"
			if tx.Caller != tt.wantCaller {
				t.Errorf("caller = %q, want %q", tx.Caller, tt.wantCaller)
			}
			if !refused {
				if tx.Outcome != txn.OutcomeDelivered || h.vendor.count() != before+1 {
					t.Fatalf("outcome %s, vendor got %d calls: %s", tx.Outcome, h.vendor.count()-before, answer)
				}
				if got := h.vendor.lastHeader().Get("X-Site"); got != "" {
					t.Errorf("the vendor got the caller's key %q", got)
				}
				if tt.header.Get("Typeform-Signature") != "" && h.vendor.lastHeader().Get("Typeform-Signature") != sigB64 {
					t.Errorf("the signature header was not forwarded as it came")
				}
				return
			}
			if h.vendor.count() != before {
				t.Fatalf("a call of an unknown caller reached the vendor")
			}
			if tx.Status != http.StatusUnauthorized || tx.Outcome != txn.OutcomeRejected || tx.Response.ContentType != txn.ProblemContentType {
				t.Fatalf("status %d outcome %s content type %q, want 401 rejected problem+json", tx.Status, tx.Outcome, tx.Response.ContentType)
			}
			var pb txn.Problem
			if err := json.Unmarshal(answer, &pb); err != nil || pb.Status != http.StatusUnauthorized || !strings.Contains(pb.Type, "finding-caller-unknown") {
				t.Fatalf("answer %s (%v)", answer, err)
			}
			n := 0
			for _, f := range tx.Findings {
				if f.Code == txn.CodeCallerUnknown {
					n++
				}
			}
			if n != 1 {
				t.Errorf("findings %+v, want caller.unknown once", tx.Findings)
			}
			if tx.Request.Body != string(tt.body) {
				t.Errorf("stored body %q, want the refused body (replayable once fixed)", tx.Request.Body)
			}
			for _, hn := range []string{"X-Site", "Typeform-Signature", "X-Hub-Signature-256"} {
				if v := tx.Request.Headers.Get(hn); v != "" && v != Redacted {
					t.Errorf("stored %s = %q, want it redacted", hn, v)
				}
			}
		})
	}

	// No secret, configured or presented, is anywhere in the store's files or the log.
	if err := h.store.Sync(context.Background()); err != nil {
		t.Fatal(err)
	}
	secrets := []string{testSiteKey, testSigSecret, testGitHubSecret, "wrong-key-presented-by-a-stranger", sigB64[7:], sigHex[7:], strings.ToUpper(sigHex[7:])}
	files := storeBytes(t, h.dir)
	files["log"] = h.log.Bytes()
	for name, b := range files {
		for _, s := range secrets {
			if bytes.Contains(b, []byte(s)) {
				t.Errorf("%s holds the secret %q", name, s)
			}
		}
	}

	// The caller is a filter of the store's queries.
	page, err := h.store.Query(context.Background(), store.Query{Caller: "site"})
	if err != nil {
		t.Fatal(err)
	}
	if len(page.Transactions) != 1 || page.Transactions[0].Caller != "site" {
		t.Fatalf("query caller=site: %+v", page.Transactions)
	}
	page, _ = h.store.Query(context.Background(), store.Query{Finding: txn.CodeCallerUnknown, Limit: 100})
	if len(page.Transactions) != 7 {
		t.Errorf("%d calls carry caller.unknown, want 7", len(page.Transactions))
	}
}

// TestCallersReplay: a call made with a caller's key is replayed through the admin path
// without it (the stored key is redacted; the replay is the admin API's), and the replay
// names no caller.
func TestCallersReplay(t *testing.T) {
	h := newCallerHarness(t)
	tx, _ := h.do(t, http.MethodPost, "/forms/hook", []byte(`{"email":"jane@acme.com"}`), http.Header{"X-Site": {testSiteKey}, "Content-Type": {"application/json"}})
	if tx.Caller != "site" {
		t.Fatalf("caller %q", tx.Caller)
	}
	id, err := h.px.Replay(context.Background(), tx, false)
	if err != nil {
		t.Fatal(err)
	}
	re, err := h.store.Get(context.Background(), id)
	if err != nil {
		t.Fatal(err)
	}
	if re.Outcome != txn.OutcomeDelivered || re.Caller != "" || re.ReplayOf != tx.ID {
		t.Fatalf("replay: outcome %s caller %q replay_of %q", re.Outcome, re.Caller, re.ReplayOf)
	}
	if got := h.vendor.lastHeader().Get("X-Site"); got != "" {
		t.Errorf("the replay sent %q", got)
	}
}

// TestCallersEmptySecretNeverMatches: a caller whose variable was empty lets nobody in, not
// even a call with an empty header or signed with the empty key.
func TestCallersEmptySecretNeverMatches(t *testing.T) {
	body := []byte("x")
	for _, c := range []Caller{
		{Name: "k", Key: &CallerKey{Header: "X-Key"}},
		{Name: "s", Signature: &CallerSignature{Header: "X-Sig", Scheme: SignatureScheme{Encoding: SignatureHex}}},
	} {
		req := httptest.NewRequest(http.MethodPost, "/r", bytes.NewReader(body))
		req.Header["X-Key"] = []string{""}
		req.Header.Set("X-Sig", hex.EncodeToString(hmacSHA256("", body)))
		f := &flight{req: req, call: &Call{RemoteAddr: "127.0.0.1:1"}, body: body}
		if ok, _ := f.matchCaller(&c); ok {
			t.Errorf("caller %s with an empty secret matched", c.Name)
		}
	}
}

func TestParseSignatureScheme(t *testing.T) {
	for in, want := range map[string]SignatureScheme{
		"sha256={base64 hmac}": {Prefix: "sha256=", Encoding: SignatureBase64},
		"{hex hmac}":           {Encoding: SignatureHex},
		"v1={ hex  hmac }":     {Prefix: "v1=", Encoding: SignatureHex},
	} {
		got, err := ParseSignatureScheme(in)
		if err != nil || got != want {
			t.Errorf("%q: %+v, %v; want %+v", in, got, err, want)
		}
	}
	for _, in := range []string{"sha256=", "{sha1 hmac}", "{hex hmac", "{hex hmac}=", ""} {
		if _, err := ParseSignatureScheme(in); err == nil {
			t.Errorf("%q: no error", in)
		}
	}
}

func (v *echoVendor) count() int {
	v.mu.Lock()
	defer v.mu.Unlock()
	return len(v.headers)
}

func (v *echoVendor) lastHeader() http.Header {
	v.mu.Lock()
	defer v.mu.Unlock()
	if len(v.headers) == 0 {
		return http.Header{}
	}
	return v.headers[len(v.headers)-1]
}
