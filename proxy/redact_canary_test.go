package proxy

import (
	"bytes"
	"compress/flate"
	"compress/gzip"
	"compress/zlib"
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"io"
	"io/fs"
	"mime/multipart"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/andybalholm/brotli"
	"github.com/rs/zerolog"

	"github.com/mtguard/mtguard/schemas"
	"github.com/mtguard/mtguard/store"
	"github.com/mtguard/mtguard/txn"
)

// echoVendor answers every call with what it received, the way a careless vendor reflects a
// caller's credentials: the Authorization value in a JSON body and in a header, a bearer
// token inside a URL, the query and the decoded request body. Paths ending in /deflate,
// /rawdeflate, /br and /gzip encode the answer that way.
type echoVendor struct {
	*httptest.Server
	mu      sync.Mutex
	bodies  [][]byte // request bodies as received (still encoded)
	headers []http.Header
}

func newEchoVendor(t *testing.T) *echoVendor {
	t.Helper()
	v := &echoVendor{}
	v.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		raw, _ := io.ReadAll(r.Body)
		v.mu.Lock()
		v.bodies = append(v.bodies, raw)
		v.headers = append(v.headers, r.Header.Clone())
		v.mu.Unlock()
		body := raw
		if plain, enc, ok := decodeForTest(r.Header.Get("Content-Encoding"), raw); ok && enc != "" {
			body = plain
		}
		auth := r.Header.Get("Authorization")
		_, tok, _ := strings.Cut(auth, " ")
		answer, _ := json.Marshal(map[string]any{
			"seen_authorization": auth,
			"next":               "https://vendor.example/callback?token=" + url.QueryEscape(tok) + "&page=2",
			"query":              r.URL.RawQuery,
			"path":               r.URL.Path,
			"body":               string(body),
			"cookie":             r.Header.Get("Cookie"),
			"headers":            r.Header,
			"status":             "ok",
		})
		w.Header().Set("Content-Type", "application/json")
		w.Header().Set("X-Echo-Authorization", auth)
		w.Header().Set("Location", "https://vendor.example/leads/1?token="+tok)
		var out io.Writer = w
		var closer io.Closer
		switch {
		case strings.HasSuffix(r.URL.Path, "/deflate"):
			w.Header().Set("Content-Encoding", "deflate")
			zw := zlib.NewWriter(w)
			out, closer = zw, zw
		case strings.HasSuffix(r.URL.Path, "/rawdeflate"):
			w.Header().Set("Content-Encoding", "deflate")
			zw, _ := flate.NewWriter(w, flate.DefaultCompression)
			out, closer = zw, zw
		case strings.HasSuffix(r.URL.Path, "/br"):
			w.Header().Set("Content-Encoding", "br")
			zw := brotli.NewWriter(w)
			out, closer = zw, zw
		case strings.HasSuffix(r.URL.Path, "/gzip"):
			w.Header().Set("Content-Encoding", "gzip")
			zw := gzip.NewWriter(w)
			out, closer = zw, zw
		}
		out.Write(answer)
		if closer != nil {
			closer.Close()
		}
	}))
	t.Cleanup(v.Close)
	return v
}

// decodeForTest undoes one Content-Encoding, independently of the code under test.
func decodeForTest(enc string, b []byte) ([]byte, string, bool) {
	var r io.Reader
	switch strings.ToLower(strings.TrimSpace(enc)) {
	case "":
		return b, "", true
	case "gzip":
		zr, err := gzip.NewReader(bytes.NewReader(b))
		if err != nil {
			return nil, "", false
		}
		r = zr
	case "deflate":
		zr, err := zlib.NewReader(bytes.NewReader(b))
		if err != nil {
			r = flate.NewReader(bytes.NewReader(b)) // raw deflate, as some servers send it
		} else {
			r = zr
		}
	case "br":
		r = brotli.NewReader(bytes.NewReader(b))
	default:
		return nil, "", false
	}
	plain, err := io.ReadAll(r)
	return plain, enc, err == nil
}

func encodeForTest(t *testing.T, enc string, plain []byte) []byte {
	t.Helper()
	var buf bytes.Buffer
	var w io.WriteCloser
	switch enc {
	case "gzip":
		w = gzip.NewWriter(&buf)
	case "deflate":
		w = zlib.NewWriter(&buf)
	case "br":
		w = brotli.NewWriter(&buf)
	default:
		t.Fatalf("encoding %q", enc)
	}
	w.Write(plain)
	w.Close()
	return buf.Bytes()
}

type canaryHarness struct {
	proxy  *httptest.Server
	px     *Proxy
	store  *store.Store
	log    *bytes.Buffer
	dir    string
	vendor *echoVendor
}

// routeCredential is the vendor credential the "crm" route holds (auth:), which a tool may
// also carry in a header whose name says nothing.
func newCanaryHarness(t *testing.T, routeCredential string) *canaryHarness {
	t.Helper()
	v := newEchoVendor(t)
	dir := t.TempDir()
	st, err := store.Open(filepath.Join(dir, "mtguard.db"), store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	u, _ := url.Parse(v.URL)
	keys, _ := schemas.ParseKeyPaths([]string{"email", "properties.email"})
	routes := []Route{{Name: "crm", Prefix: "/crm", Upstream: u, RecordKeys: keys, Timeout: 5 * time.Second,
		Auth: &Auth{Header: "X-Vendor-Credential", Value: routeCredential}}}
	logBuf := &bytes.Buffer{}
	logger := zerolog.New(&syncWriter{w: logBuf}).Level(zerolog.DebugLevel)
	pl, err := NewPipeline(PipelineConfig{Recorder: st, Logger: logger})
	if err != nil {
		t.Fatal(err)
	}
	px := NewProxy(routes, pl, logger)
	srv := httptest.NewServer(px)
	t.Cleanup(srv.Close)
	return &canaryHarness{proxy: srv, px: px, store: st, log: logBuf, dir: dir, vendor: v}
}

// do sends one call and reads the whole answer; it returns the stored transaction.
func (h *canaryHarness) do(t *testing.T, method, path string, body []byte, header http.Header) (txn.Transaction, []byte) {
	t.Helper()
	req, _ := http.NewRequest(method, h.proxy.URL+path, bytes.NewReader(body))
	for k, vs := range header {
		req.Header[k] = vs
	}
	// The transport must not undo the vendor's encodings: the test reads them as sent.
	req.Header.Set("Accept-Encoding", "identity")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	answer, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	id := resp.Header.Get(HeaderID)
	if err := h.store.Sync(context.Background()); err != nil {
		t.Fatal(err)
	}
	tx, err := h.store.Get(context.Background(), id)
	if err != nil {
		t.Fatalf("%s %s: transaction %q: %v", method, path, id, err)
	}
	return tx, answer
}

// storeBytes reads every file under the store's directory (the bbolt file and the journal
// segments) as raw bytes.
func storeBytes(t *testing.T, dir string) map[string][]byte {
	t.Helper()
	out := map[string][]byte{}
	filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return nil
		}
		b, err := os.ReadFile(p)
		if err == nil {
			out[filepath.Base(p)] = b
		}
		return nil
	})
	return out
}

func newCanary(t *testing.T) string {
	t.Helper()
	b := make([]byte, 6)
	rand.Read(b)
	return "cnry" + hex.EncodeToString(b)
}

// TestRedactionCanaryEveryVariant sends one unique canary secret through a real reverse proxy
// in every variant of issue 17 item 2, with a vendor that echoes what it gets, and then reads
// the bbolt file and the journal segments raw, and the log: the canary is nowhere. The vendor
// still receives every credential.
func TestRedactionCanaryEveryVariant(t *testing.T) {
	canary := newCanary(t)
	secret := func(variant string) string { return canary + "-" + variant }
	routeCredential := "Bearer " + secret("route-auth")
	h := newCanaryHarness(t, routeCredential)

	type call struct {
		name   string
		method string
		path   string
		header http.Header
		body   []byte
	}
	var mp bytes.Buffer
	mw := multipart.NewWriter(&mp)
	mw.WriteField("email", "mp@acme.com")
	mw.WriteField("clientSecret", secret("multipart"))
	mw.Close()
	jsonCT := http.Header{"Content-Type": {"application/json"}}
	with := func(h http.Header, kv ...string) http.Header {
		c := h.Clone()
		if c == nil {
			c = http.Header{}
		}
		for i := 0; i < len(kv); i += 2 {
			c.Set(kv[i], kv[i+1])
		}
		return c
	}
	secretJSON := func(variant string) []byte {
		return []byte(`{"email":"jane@acme.com","clientSecret":"` + secret(variant+"-cs") + `","refreshToken":"` + secret(variant+"-rt") +
			`","accessToken":"` + secret(variant+"-at") + `","Client-Secret":"` + secret(variant+"-kebab") + `","pass\u0077ord":"` + secret(variant+"-esc") + `"}`)
	}
	calls := []call{
		{"license key header", "GET", "/crm/v1/leads", http.Header{"X-License-Key": {secret("license")}, "X-Hubspot-Key": {secret("hubspot")}}, nil},
		{"query private_key", "GET", "/crm/v1/leads?private_key=" + secret("query-pk") + "&accessToken=" + secret("query-at") + "&source=web", nil, nil},
		{"bearer echoed", "POST", "/crm/v1/leads", with(jsonCT, "Authorization", "Bearer "+secret("bearer")), []byte(`{"email":"a@acme.com"}`)},
		{"bearer in path", "GET", "/crm/v1/hooks/" + secret("bearer") + "/catch", with(nil, "Authorization", "Bearer "+secret("bearer")), nil},
		{"basic auth", "GET", "/crm/v1/leads", with(nil, "Authorization", "Basic "+base64.StdEncoding.EncodeToString([]byte("user:"+secret("basic")))), nil},
		{"cookie", "GET", "/crm/v1/leads", with(nil, "Cookie", "sid="+secret("cookie")+"; theme=dark"), nil},
		{"route credential in an unnamed header", "GET", "/crm/v1/leads", with(nil, "X-Partner", routeCredential), nil},
		{"case styles", "POST", "/crm/v1/leads", jsonCT, secretJSON("json")},
		{"form case styles", "POST", "/crm/v1/leads", http.Header{"Content-Type": {"application/x-www-form-urlencoded"}},
			[]byte(url.Values{"email": {"f@acme.com"}, "clientSecret": {secret("form-cs")}, "refresh-token": {secret("form-rt")}}.Encode())},
		{"text/plain", "POST", "/crm/v1/notes", http.Header{"Content-Type": {"text/plain"}}, []byte("lead jane@acme.com\npassword: " + secret("text") + "\n")},
		{"multipart", "POST", "/crm/v1/upload", http.Header{"Content-Type": {mw.FormDataContentType()}}, mp.Bytes()},
		{"malformed JSON", "POST", "/crm/v1/leads", jsonCT, []byte(`{"email":"m@acme.com","refreshToken":"` + secret("malformed") + `",`)},
		{"gzip request", "POST", "/crm/v1/leads", with(jsonCT, "Content-Encoding", "gzip"), encodeForTest(t, "gzip", secretJSON("gzip"))},
		{"deflate request", "POST", "/crm/v1/leads", with(jsonCT, "Content-Encoding", "deflate"), encodeForTest(t, "deflate", secretJSON("deflate"))},
		{"br request", "POST", "/crm/v1/leads", with(jsonCT, "Content-Encoding", "br"), encodeForTest(t, "br", secretJSON("br"))},
		{"deflate response", "GET", "/crm/v1/deflate", with(nil, "Authorization", "Bearer "+secret("deflate-resp")), nil},
		{"raw deflate response", "GET", "/crm/v1/rawdeflate", with(nil, "Authorization", "Bearer "+secret("rawdeflate-resp")), nil},
		{"br response", "GET", "/crm/v1/br", with(nil, "Authorization", "Bearer "+secret("br-resp")), nil},
		{"gzip response", "GET", "/crm/v1/gzip", with(nil, "Authorization", "Bearer "+secret("gzip-resp")), nil},
	}
	for _, c := range calls {
		tx, answer := h.do(t, c.method, c.path, c.body, c.header)
		if !bytes.Contains(answer, []byte(canary)) && c.name != "basic auth" { // basic: echoed in base64
			// Encoded answers hold the canary only once decoded.
			if plain, _, ok := decodeForTest(tx.Response.Decoded, answer); !ok || !bytes.Contains(plain, []byte(canary)) {
				t.Errorf("%s: the vendor's echo lacks the canary; the test does not test anything: %s", c.name, answer)
			}
		}
		if tx.Request.BodyEncoding != "" || tx.Response.BodyEncoding != "" {
			t.Errorf("%s: a body was stored as %s/%s, not decoded text, so this test cannot see into it", c.name, tx.Request.BodyEncoding, tx.Response.BodyEncoding)
		}
		blob, _ := json.Marshal(tx)
		if bytes.Contains(blob, []byte(canary)) {
			t.Errorf("%s: the canary is in the stored transaction:\n%s", c.name, blob)
		}
	}
	// The vendor got the real credentials.
	h.vendor.mu.Lock()
	n := len(h.vendor.bodies)
	h.vendor.mu.Unlock()
	if n != len(calls) {
		t.Fatalf("vendor received %d calls, want %d", n, len(calls))
	}

	check := func(when string) {
		for name, b := range storeBytes(t, h.dir) {
			if i := bytes.Index(b, []byte(canary)); i >= 0 {
				lo, hi := max(0, i-120), min(len(b), i+80)
				t.Errorf("%s: the canary is in %s: ...%q...", when, name, b[lo:hi])
			}
		}
	}
	journaled := false
	for name := range storeBytes(t, h.dir) {
		journaled = journaled || strings.Contains(name, ".wal.")
	}
	if !journaled {
		t.Error("no journal segment next to the store file: the test would not read the journal")
	}
	check("before close (journal segments live)")
	if strings.Contains(h.log.String(), canary) {
		t.Errorf("the canary is in the log:\n%s", h.log.String())
	}
	h.store.Close()
	check("after close")
}

// TestRedactEncodedRequestBodies: gzip, deflate and brotli request bodies are stored decoded,
// so their record keys are found and their secret fields redacted; the vendor gets the bytes
// the tool sent.
func TestRedactEncodedRequestBodies(t *testing.T) {
	h := newCanaryHarness(t, "Bearer route-credential-0000")
	const secretVal = "encoded-request-secret-77"
	plain := []byte(`{"email":"zip@acme.com","clientSecret":"` + secretVal + `"}`)
	for _, enc := range []string{"gzip", "deflate", "br"} {
		t.Run(enc, func(t *testing.T) {
			wire := encodeForTest(t, enc, plain)
			tx, _ := h.do(t, "POST", "/crm/v1/leads", wire, http.Header{"Content-Type": {"application/json"}, "Content-Encoding": {enc}})
			h.vendor.mu.Lock()
			got := h.vendor.bodies[len(h.vendor.bodies)-1]
			h.vendor.mu.Unlock()
			if !bytes.Equal(got, wire) {
				t.Errorf("the vendor did not get the encoded bytes as sent")
			}
			if tx.Request.Decoded != enc || tx.Request.BodyEncoding != "" {
				t.Errorf("stored request: decoded %q encoding %q body %q, want decoded %q text", tx.Request.Decoded, tx.Request.BodyEncoding, tx.Request.Body, enc)
			}
			if strings.Join(tx.RecordKeys, ",") != "zip@acme.com" {
				t.Errorf("record keys %v, want [zip@acme.com]", tx.RecordKeys)
			}
			if strings.Contains(tx.Request.Body, secretVal) || !strings.Contains(tx.Request.Body, "zip@acme.com") {
				t.Errorf("stored body %q", tx.Request.Body)
			}
			if tx.Request.Size != int64(len(wire)) {
				t.Errorf("stored size %d, want the %d bytes on the wire", tx.Request.Size, len(wire))
			}
		})
	}
}

// TestRedactEncodedResponses: deflate (zlib and raw) and brotli answers are stored decoded, as
// gzip ones were, and redacted.
func TestRedactEncodedResponses(t *testing.T) {
	h := newCanaryHarness(t, "Bearer route-credential-0000")
	for _, tt := range []struct{ path, enc string }{{"/crm/v1/deflate", "deflate"}, {"/crm/v1/rawdeflate", "deflate"}, {"/crm/v1/br", "br"}, {"/crm/v1/gzip", "gzip"}} {
		t.Run(tt.path, func(t *testing.T) {
			tok := "encoded-answer-token-" + tt.enc
			tx, _ := h.do(t, "GET", tt.path+"?q=1", nil, http.Header{"Authorization": {"Bearer " + tok}})
			if tx.Response.Decoded != tt.enc || tx.Response.BodyEncoding != "" {
				t.Fatalf("stored answer: decoded %q encoding %q, want %q as text", tx.Response.Decoded, tx.Response.BodyEncoding, tt.enc)
			}
			if !strings.Contains(tx.Response.Body, `"status":"ok"`) || strings.Contains(tx.Response.Body, tok) {
				t.Errorf("stored answer %q", tx.Response.Body)
			}
		})
	}
}

// TestScrubEchoedSecrets: a secret value seen in the call's request, or held by the route, is
// replaced wherever it appears in what is stored: the answer's body (also inside a URL), its
// headers, the stored URL. Values shorter than minScrubLen are left alone.
func TestScrubEchoedSecrets(t *testing.T) {
	routeCredential := "Bearer route-held-credential-4242"
	h := newCanaryHarness(t, routeCredential)
	const tok = "echoed-bearer-token-9999"
	tx, _ := h.do(t, "POST", "/crm/v1/hooks/"+tok+"?source=web", []byte(`{"email":"e@acme.com"}`),
		http.Header{"Authorization": {"Bearer " + tok}, "Content-Type": {"application/json"}, "X-Partner": {routeCredential}})
	blob, _ := json.Marshal(tx)
	for _, s := range []string{tok, "route-held-credential-4242"} {
		if bytes.Contains(blob, []byte(s)) {
			t.Errorf("%q is stored:\n%s", s, blob)
		}
	}
	if !strings.Contains(tx.Response.Body, `"status":"ok"`) || !strings.Contains(tx.Response.Body, "vendor.example/callback?token=") {
		t.Errorf("scrubbing removed more than the secret: %s", tx.Response.Body)
	}
	if tx.Response.Headers.Get("X-Echo-Authorization") != Redacted {
		t.Errorf("echoed header stored as %q", tx.Response.Headers.Get("X-Echo-Authorization"))
	}
	if !strings.Contains(tx.Path, "source=web") || !strings.Contains(tx.Path, Redacted) {
		t.Errorf("stored path %q", tx.Path)
	}

	// A short secret is not hunted down in the rest of the call: it would wreck ordinary text.
	tx, _ = h.do(t, "GET", "/crm/v1/leads", nil, http.Header{"Authorization": {"Bearer abc12"}})
	if !strings.Contains(tx.Response.Body, "callback?token=abc12") {
		t.Errorf("a 5-byte token was scrubbed from the answer: %s", tx.Response.Body)
	}
}

// TestReplayDecodedBody: a request stored decoded is resent plain, without the
// Content-Encoding it arrived with.
func TestReplayDecodedBody(t *testing.T) {
	h := newCanaryHarness(t, "Bearer route-credential-0000")
	plain := []byte(`{"email":"replay@acme.com"}`)
	tx, _ := h.do(t, "POST", "/crm/v1/leads", encodeForTest(t, "gzip", plain), http.Header{"Content-Type": {"application/json"}, "Content-Encoding": {"gzip"}})
	if tx.Request.Decoded != "gzip" {
		t.Fatalf("stored request not decoded: %+v", tx.Request)
	}
	if _, err := h.px.Replay(context.Background(), tx, false); err != nil {
		t.Fatal(err)
	}
	h.vendor.mu.Lock()
	got := h.vendor.bodies[len(h.vendor.bodies)-1]
	gotHeader := h.vendor.headers[len(h.vendor.headers)-1]
	h.vendor.mu.Unlock()
	if !bytes.Equal(got, plain) || gotHeader.Get("Content-Encoding") != "" {
		t.Errorf("replay sent %q with Content-Encoding %q, want the plain body %q without", got, gotHeader.Get("Content-Encoding"), plain)
	}
}
