package proxy

import (
	"bufio"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"net/http/httptest"
	"net/http/httptrace"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"github.com/mtguard/mtguard/schemas"
	"github.com/mtguard/mtguard/store"
	"github.com/mtguard/mtguard/txn"
)

// fronts runs one pipeline behind both front ends: a reverse listener and a forward proxy,
// in front of a real HTTPS fake vendor that the pipeline trusts through an extra CA bundle,
// as forward.upstream_ca does.
type fronts struct {
	vendor     *vendor          // what reached the vendor, whichever front sent it
	vendorTLS  *httptest.Server // the HTTPS vendor
	vendorHost string           // 127.0.0.1:port
	deadHost   string           // a host:port where nothing listens
	store      *store.Store
	reverse    *httptest.Server
	forward    *Forward
	proxyURL   *url.URL // http://forward-listener
	caFile     string   // mtguard's CA certificate, for clients
	caPool     *x509.CertPool
}

// frontChecks rejects a body containing "bad" and notes one containing "flag", so the table
// covers check findings and check rejections in both fronts.
var frontChecks = &schemas.Checks{
	Request: []schemas.RequestCheck{func(now time.Time, req *schemas.Request, vd *schemas.RequestVerdict) {
		switch {
		case strings.Contains(string(req.Raw), "bad"):
			vd.Reject = &schemas.Rejection{Status: 422, Code: txn.CodeRequestTooLarge, Title: "Contract violated", Detail: "bad payload", Errors: []string{"/email: bad"}}
		case strings.Contains(string(req.Raw), "flag"):
			vd.Findings = append(vd.Findings, txn.NewFinding(txn.CodeClientGone, "flagged", req.Path))
		}
	}},
}

func newFronts(t *testing.T, mutate func(*ForwardConfig)) *fronts {
	t.Helper()
	return startFrontsWithVendor(t, frontsOptions{forward: mutate})
}

// startFrontsWithVendor starts both fronts in front of the fake vendor of proxy_test.go.
func startFrontsWithVendor(t *testing.T, opts frontsOptions) *fronts {
	t.Helper()
	v := newVendor(t)
	fr := startFronts(t, v.Config.Handler, opts)
	fr.vendor = v
	return fr
}

// frontsOptions vary startFronts' setup.
type frontsOptions struct {
	recorder Recorder             // if nil, the bbolt store
	timeout  time.Duration        // the crm route's timeout; if zero, 300 ms
	forward  func(*ForwardConfig) // adjusts the forward front's config
	pipeline func(*PipelineConfig, []Route)
}

// startFronts starts both fronts in front of an HTTPS vendor answering with h.
func startFronts(t testing.TB, h http.Handler, opts frontsOptions) *fronts {
	t.Helper()
	fr := &fronts{}
	fr.vendorTLS = httptest.NewTLSServer(h)
	t.Cleanup(fr.vendorTLS.Close)
	vu, _ := url.Parse(fr.vendorTLS.URL)
	fr.vendorHost = vu.Host
	fr.deadHost = unusedAddr(t)

	dir := t.TempDir()
	st, err := store.Open(filepath.Join(dir, "mtguard.db"), store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	fr.store = st
	rec := opts.recorder
	if rec == nil {
		rec = st
	}
	if opts.timeout == 0 {
		opts.timeout = 300 * time.Millisecond
	}

	// The pipeline's transport verifies the vendor's certificate against the bundle, exactly
	// as for a real vendor against the system roots.
	tr := NewTransport()
	vendorRoots := x509.NewCertPool()
	vendorRoots.AddCert(fr.vendorTLS.Certificate())
	tr.TLSClientConfig = &tls.Config{RootCAs: vendorRoots}
	t.Cleanup(tr.CloseIdleConnections)
	plCfg := PipelineConfig{
		Recorder: rec, Transport: tr, CaptureBody: 1024, MaxBody: 4096,
		Redactor: NewRedactor(RedactConfig{Fields: []string{"ssn"}}),
		Logger:   zerolog.Nop(),
	}
	keys, _ := schemas.ParseKeyPaths([]string{"email", "properties.email", "inputs[].email"})
	dead, _ := url.Parse("https://" + fr.deadHost)
	routes := []Route{
		{Name: "crm", Prefix: "/crm", Host: fr.vendorHost, Upstream: vu, RecordKeys: keys, Timeout: opts.timeout, Checks: frontChecks},
		{Name: "dead", Prefix: "/dead", Host: fr.deadHost, Upstream: dead},
	}
	if opts.pipeline != nil {
		opts.pipeline(&plCfg, routes)
	}
	pl, err := NewPipeline(plCfg)
	if err != nil {
		t.Fatal(err)
	}
	fr.reverse = httptest.NewServer(NewProxy(routes, pl, zerolog.Nop()))
	t.Cleanup(fr.reverse.Close)

	ca, caFile := newTestCA(t)
	fr.caFile = caFile
	fr.caPool = x509.NewCertPool()
	pem, _ := os.ReadFile(caFile)
	fr.caPool.AppendCertsFromPEM(pem)
	cfg := ForwardConfig{CA: ca}
	if opts.forward != nil {
		opts.forward(&cfg)
	}
	fwd, err := NewForward(routes, pl, cfg, zerolog.Nop())
	if err != nil {
		t.Fatal(err)
	}
	fr.forward = fwd
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go fwd.Serve(&http.Server{ReadHeaderTimeout: 5 * time.Second}, ln)
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		if err := fwd.Shutdown(ctx); err != nil {
			t.Errorf("forward shutdown: %v", err)
		}
	})
	fr.proxyURL = &url.URL{Scheme: "http", Host: ln.Addr().String()}
	return fr
}

// unusedAddr returns a loopback address where nothing listens.
//
// It is on 127.0.0.2 where the system has it (Linux routes all of 127/8 to loopback): a port
// freed on 127.0.0.1 can be handed to the next httptest server of the same test, which then
// answers for the "dead" route (seen in CI: an unknown host's CONNECT tunnelled to it).
// httptest servers listen on 127.0.0.1 only.
func unusedAddr(t testing.TB) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.2:0")
	if err != nil {
		l, err = net.Listen("tcp", "127.0.0.1:0")
	}
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().String()
}

// newTestCA writes a fresh CA to a temporary directory and loads it.
func newTestCA(t testing.TB) (*CA, string) {
	t.Helper()
	dir := t.TempDir()
	certPEM, keyPEM, err := GenerateCA(time.Now())
	if err != nil {
		t.Fatal(err)
	}
	certFile, keyFile := filepath.Join(dir, "ca.pem"), filepath.Join(dir, "ca-key.pem")
	if err := os.WriteFile(certFile, certPEM, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(keyFile, keyPEM, 0o600); err != nil {
		t.Fatal(err)
	}
	ca, err := LoadCA(certFile, keyFile, nil)
	if err != nil {
		t.Fatal(err)
	}
	return ca, certFile
}

// client returns a client that uses the forward proxy and trusts mtguard's CA only, as a tool
// configured with HTTPS_PROXY and NODE_EXTRA_CA_CERTS (or the like) would. proxyUser, when
// set, goes into the proxy URL.
func (fr *fronts) client(t testing.TB, proxyUser *url.Userinfo) *http.Client {
	t.Helper()
	pu := *fr.proxyURL
	pu.User = proxyUser
	tr := &http.Transport{
		Proxy:           http.ProxyURL(&pu),
		TLSClientConfig: &tls.Config{RootCAs: fr.caPool},
	}
	t.Cleanup(tr.CloseIdleConnections)
	return &http.Client{Transport: tr, Timeout: 10 * time.Second}
}

func (fr *fronts) get(t *testing.T, id string) txn.Transaction {
	t.Helper()
	if err := fr.store.Sync(context.Background()); err != nil {
		t.Fatal(err)
	}
	tx, err := fr.store.Get(context.Background(), id)
	if err != nil {
		t.Fatalf("transaction %q: %v", id, err)
	}
	return tx
}

// waitFor returns the first stored transaction that match accepts, waiting for its record.
func (fr *fronts) waitFor(t *testing.T, match func(txn.Transaction) bool) txn.Transaction {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for time.Now().Before(deadline) {
		fr.store.Sync(context.Background())
		page, err := fr.store.Query(context.Background(), store.Query{Limit: 1000})
		if err != nil {
			t.Fatal(err)
		}
		for _, tx := range page.Transactions {
			if tx.Outcome != txn.OutcomePending && match(tx) {
				return tx
			}
		}
		time.Sleep(10 * time.Millisecond)
	}
	t.Fatal("no matching transaction was recorded")
	return txn.Transaction{}
}

// TestFrontsRecordTheSame runs one table of calls through the reverse front and the forward
// front (intercepted HTTPS) and checks that both answer alike and store the same transaction.
// Path semantics: path is what the tool addressed — /<prefix>/<vendor path> in reverse mode,
// the absolute https URL in forward mode — and upstream_url, where the call went, is the same
// in both.
func TestFrontsRecordTheSame(t *testing.T) {
	fr := newFronts(t, nil)
	fwdClient := fr.client(t, nil)
	tests := []struct {
		name        string
		route       string // route prefix in reverse mode; its host in forward mode
		method      string
		path        string // the vendor-side path and query
		ctype       string
		body        string
		wantStatus  int
		wantOutcome txn.Outcome
		wantKeys    []string
		wantCodes   []string
	}{
		{"delivered json", "crm", "POST", "/v1/leads?source=form", "application/json", `{"email":" Jane@Acme.com ","first_name":"Jane"}`, 201, txn.OutcomeDelivered, []string{"jane@acme.com"}, nil},
		{"delivered form", "crm", "POST", "/v1/leads", "application/x-www-form-urlencoded", "email=bob%40acme.com&first_name=Bob", 201, txn.OutcomeDelivered, []string{"bob@acme.com"}, nil},
		{"batch keys", "crm", "POST", "/v1/leads/batch", "application/json", `{"inputs":[{"email":"a@x.io"},{"email":"b@x.io"}]}`, 201, txn.OutcomeDelivered, []string{"a@x.io", "b@x.io"}, nil},
		{"lookup by query", "crm", "GET", "/v1/contacts?email=Q@x.io", "", "", 201, txn.OutcomeDelivered, []string{"q@x.io"}, nil},
		{"gzip answer", "crm", "GET", "/v1/gzip", "", "", 200, txn.OutcomeDelivered, nil, nil},
		{"check finding", "crm", "POST", "/v1/leads", "application/json", `{"email":"f@x.io","note":"flag"}`, 201, txn.OutcomeDelivered, []string{"f@x.io"}, []string{txn.CodeClientGone}},
		{"check rejects", "crm", "POST", "/v1/leads", "application/json", `{"email":"bad"}`, 422, txn.OutcomeRejected, []string{"bad"}, []string{txn.CodeRequestTooLarge}},
		{"oversize", "crm", "POST", "/v1/leads", "application/json", `{"email":"big@acme.com","pad":"` + strings.Repeat("p", 5000) + `"}`, 413, txn.OutcomeRejected, []string{"big@acme.com"}, []string{txn.CodeRequestTooLarge}},
		{"vendor 400", "crm", "POST", "/v1/invalid", "application/json", `{"email":"x@y.io"}`, 400, txn.OutcomeFailed, []string{"x@y.io"}, nil},
		{"vendor 503", "crm", "POST", "/v1/boom", "application/json", `{}`, 503, txn.OutcomeFailed, nil, nil},
		{"timeout", "crm", "GET", "/v1/slow", "", "", 504, txn.OutcomeTimeout, nil, []string{txn.CodeUpstreamTimeout}},
		{"unreachable", "dead", "POST", "/v1/leads", "application/json", `{"email":"u@x.io"}`, 502, txn.OutcomeUnreachable, nil, []string{txn.CodeUpstreamUnreachable}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			host := fr.vendorHost
			if tt.route == "dead" {
				host = fr.deadHost
			}
			var txs [2]txn.Transaction
			var bodies [2]string
			for i, front := range []string{FrontReverse, FrontForward} {
				target, client := fr.reverse.URL+"/"+tt.route+tt.path, http.DefaultClient
				if front == FrontForward {
					target, client = "https://"+host+tt.path, fwdClient
				}
				before := fr.vendor.Received()
				req, _ := http.NewRequest(tt.method, target, strings.NewReader(tt.body))
				if tt.body == "" {
					req.Body = nil
				}
				if tt.ctype != "" {
					req.Header.Set("Content-Type", tt.ctype)
				}
				req.Header.Set("Authorization", "Bearer secret-token")
				resp, err := client.Do(req)
				if err != nil {
					t.Fatalf("%s: %v", front, err)
				}
				b, _ := io.ReadAll(resp.Body)
				resp.Body.Close()
				if resp.StatusCode != tt.wantStatus {
					t.Fatalf("%s: status %d, want %d; body %s", front, resp.StatusCode, tt.wantStatus, b)
				}
				id := resp.Header.Get(HeaderID)
				if id == "" {
					t.Fatalf("%s: no %s header", front, HeaderID)
				}
				txs[i], bodies[i] = fr.get(t, id), strings.ReplaceAll(string(b), id, "ID")
				tx := txs[i]
				if tx.Front != front || tx.Route != tt.route || tx.Method != tt.method || tx.Status != tt.wantStatus || tx.Outcome != tt.wantOutcome {
					t.Errorf("%s: stored front %q route %q %s status %d outcome %q (error %q)", front, tx.Front, tx.Route, tx.Method, tx.Status, tx.Outcome, tx.Error)
				}
				if !slices.Equal(tx.RecordKeys, tt.wantKeys) && (len(tx.RecordKeys)+len(tt.wantKeys) > 0) {
					t.Errorf("%s: record keys %v, want %v", front, tx.RecordKeys, tt.wantKeys)
				}
				if got := findingCodes(tx); !slices.Equal(got, tt.wantCodes) && len(got)+len(tt.wantCodes) > 0 {
					t.Errorf("%s: findings %v, want %v", front, got, tt.wantCodes)
				}
				wantPath := "/" + tt.route + tt.path
				if front == FrontForward {
					wantPath = "https://" + host + tt.path
				}
				if tx.Path != wantPath {
					t.Errorf("%s: stored path %q, want %q", front, tx.Path, wantPath)
				}
				reached := fr.vendor.Received() > before
				if wantReach := tt.wantOutcome != txn.OutcomeRejected && tt.wantOutcome != txn.OutcomeUnreachable; reached != wantReach {
					t.Errorf("%s: reached the vendor %v, want %v", front, reached, wantReach)
				}
			}
			rev, fwd := txs[0], txs[1]
			if rev.UpstreamURL != fwd.UpstreamURL || (rev.UpstreamURL == "" && tt.route != "") {
				t.Errorf("upstream_url: reverse %q, forward %q", rev.UpstreamURL, fwd.UpstreamURL)
			}
			if bodies[0] != bodies[1] {
				t.Errorf("answers differ:\nreverse %s\nforward %s", bodies[0], bodies[1])
			}
			if !reflect.DeepEqual(rev.Request, fwd.Request) {
				t.Errorf("stored requests differ:\nreverse %+v\nforward %+v", rev.Request, fwd.Request)
			}
			rr, fw := comparable(rev.Response), comparable(fwd.Response)
			if !reflect.DeepEqual(rr, fw) {
				t.Errorf("stored responses differ:\nreverse %+v\nforward %+v", rr, fw)
			}
			if !reflect.DeepEqual(rev.Findings, fwd.Findings) || rev.Error != fwd.Error || !reflect.DeepEqual(rev.Records, fwd.Records) {
				t.Errorf("findings, records or error differ:\nreverse %+v %+v %q\nforward %+v %+v %q", rev.Findings, rev.Records, rev.Error, fwd.Findings, fwd.Records, fwd.Error)
			}
		})
	}
}

// comparable drops what legitimately differs between two recordings of the same call: the
// transaction id and the date.
func comparable(m txn.Message) txn.Message {
	m.Headers = m.Headers.Clone()
	m.Headers.Del(HeaderID)
	m.Headers.Del("Date")
	if i := strings.Index(m.Body, `"instance":"`); i >= 0 {
		m.Body = m.Body[:i] + m.Body[i+len(`"instance":"`)+26:]
	}
	return m
}

func findingCodes(tx txn.Transaction) []string {
	var out []string
	for _, f := range tx.Findings {
		out = append(out, f.Code)
	}
	return out
}

// TestForwardRefusesUnknownHosts checks that the forward proxy is not an open proxy: CONNECT and
// plain-HTTP calls for hosts no route claims get a recorded 403, and a call for another host
// inside an intercepted tunnel is refused too.
func TestForwardRefusesUnknownHosts(t *testing.T) {
	fr := newFronts(t, nil)
	other := httptest.NewTLSServer(fr.vendor.Config.Handler)
	defer other.Close()
	otherHost := strings.TrimPrefix(other.URL, "https://")

	t.Run("CONNECT", func(t *testing.T) {
		conn, err := net.Dial("tcp", fr.proxyURL.Host)
		if err != nil {
			t.Fatal(err)
		}
		defer conn.Close()
		fmt.Fprintf(conn, "CONNECT %s HTTP/1.1\r\nHost: %s\r\n\r\n", otherHost, otherHost)
		resp, err := http.ReadResponse(bufio.NewReader(conn), &http.Request{Method: "CONNECT"})
		if err != nil {
			t.Fatal(err)
		}
		var pb txn.Problem
		json.NewDecoder(resp.Body).Decode(&pb)
		if resp.StatusCode != http.StatusForbidden || pb.Status != 403 || !strings.Contains(pb.Type, "route-unknown") || !strings.Contains(pb.Detail, otherHost) {
			t.Fatalf("CONNECT answered %d %+v, want a 403 problem", resp.StatusCode, pb)
		}
		tx := fr.get(t, resp.Header.Get(HeaderID))
		if tx.Method != "CONNECT" || tx.Path != otherHost || tx.Route != "" || tx.Front != FrontForward || tx.Outcome != txn.OutcomeRejected || tx.Status != 403 {
			t.Errorf("stored %s %s route %q front %q outcome %q status %d", tx.Method, tx.Path, tx.Route, tx.Front, tx.Outcome, tx.Status)
		}
		// The Go client sees the refusal as a failed proxy CONNECT.
		if _, err := fr.client(t, nil).Get(other.URL + "/v1/leads"); err == nil || !strings.Contains(err.Error(), "Forbidden") {
			t.Errorf("client through the proxy to an unknown host: %v, want Forbidden", err)
		}
	})

	t.Run("plain HTTP", func(t *testing.T) {
		before := fr.vendor.Received()
		resp, err := fr.client(t, nil).Post("http://"+otherHost+"/v1/leads", "application/json", strings.NewReader(`{"email":"p@x.io"}`))
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusForbidden || fr.vendor.Received() != before {
			t.Fatalf("plain HTTP to an unknown host: status %d, vendor reached %v", resp.StatusCode, fr.vendor.Received() != before)
		}
		tx := fr.get(t, resp.Header.Get(HeaderID))
		if tx.Outcome != txn.OutcomeRejected || tx.Path != "http://"+otherHost+"/v1/leads" || tx.Request.Body != `{"email":"p@x.io"}` {
			t.Errorf("stored outcome %q path %q body %q", tx.Outcome, tx.Path, tx.Request.Body)
		}
	})

	t.Run("plain HTTP to a configured host on another port", func(t *testing.T) {
		// The route's host has a port, so http://host:otherport is not claimed.
		resp, err := fr.client(t, nil).Get("http://127.0.0.1:1/v1/leads")
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusForbidden {
			t.Fatalf("status %d, want 403", resp.StatusCode)
		}
	})

	t.Run("other host inside a tunnel", func(t *testing.T) {
		conn, err := net.Dial("tcp", fr.proxyURL.Host)
		if err != nil {
			t.Fatal(err)
		}
		defer conn.Close()
		br := bufio.NewReader(conn)
		fmt.Fprintf(conn, "CONNECT %s HTTP/1.1\r\nHost: %s\r\n\r\n", fr.vendorHost, fr.vendorHost)
		resp, err := http.ReadResponse(br, &http.Request{Method: "CONNECT"})
		if err != nil || resp.StatusCode != 200 {
			t.Fatalf("CONNECT to the configured host: %v %v", resp, err)
		}
		tc := tls.Client(&bufConn{Conn: conn, r: br}, &tls.Config{RootCAs: fr.caPool, ServerName: "127.0.0.1"})
		before := fr.vendor.Received()
		fmt.Fprintf(tc, "POST /v1/leads HTTP/1.1\r\nHost: %s\r\nContent-Type: application/json\r\nContent-Length: 2\r\n\r\n{}", otherHost)
		resp, err = http.ReadResponse(bufio.NewReader(tc), nil)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusForbidden || fr.vendor.Received() != before {
			t.Fatalf("call for another host inside the tunnel: status %d, vendor reached %v", resp.StatusCode, fr.vendor.Received() != before)
		}
	})

	t.Run("not a proxy request", func(t *testing.T) {
		resp, err := http.Get(fr.proxyURL.String() + "/crm/v1/leads")
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusBadRequest || !strings.Contains(string(b), "HTTPS_PROXY") {
			t.Fatalf("origin-form request to the forward listener: %d %s", resp.StatusCode, b)
		}
	})
}

type bufConn struct {
	net.Conn
	r *bufio.Reader
}

func (c *bufConn) Read(b []byte) (int, error) { return c.r.Read(b) }

// TestForwardInterception checks what a tool sees of an intercepted host: mtguard's leaf
// certificate (P-256, signed by the configured CA, cached per host), keep-alive inside the
// tunnel, its own Accept-Encoding passed on, and verified TLS towards the vendor.
func TestForwardInterception(t *testing.T) {
	fr := newFronts(t, nil)
	client := fr.client(t, nil)

	var reused []bool
	var peer []*x509.Certificate
	for range 3 {
		trace := &httptrace.ClientTrace{GotConn: func(i httptrace.GotConnInfo) {
			reused = append(reused, i.Reused)
			if tc, ok := i.Conn.(*tls.Conn); ok {
				peer = tc.ConnectionState().PeerCertificates
			}
		}}
		req, _ := http.NewRequestWithContext(httptrace.WithClientTrace(context.Background(), trace), "GET", "https://"+fr.vendorHost+"/v1/leads", nil)
		req.Header.Set("Accept-Encoding", "br;q=1.0, identity;q=0.5")
		resp, err := client.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 201 {
			t.Fatalf("status %d", resp.StatusCode)
		}
		if got, _ := fr.vendor.last(); got.Header.Get("Accept-Encoding") != "br;q=1.0, identity;q=0.5" {
			t.Errorf("vendor saw Accept-Encoding %q", got.Header.Get("Accept-Encoding"))
		}
	}
	if !slices.Equal(reused, []bool{false, true, true}) {
		t.Errorf("connection reuse %v: keep-alive inside the tunnel does not hold", reused)
	}
	if len(peer) != 1 {
		t.Fatalf("the tool got %d certificates", len(peer))
	}
	leaf := peer[0]
	if pk, ok := leaf.PublicKey.(*ecdsa.PublicKey); !ok || pk.Curve != elliptic.P256() || len(leaf.IPAddresses) != 1 || leaf.IPAddresses[0].String() != "127.0.0.1" {
		t.Errorf("leaf: %v key, IPs %v; want a P-256 leaf for 127.0.0.1", leaf.PublicKeyAlgorithm, leaf.IPAddresses)
	}
	if strings.Contains(leaf.Issuer.String(), "GoProxy") || !strings.Contains(leaf.Issuer.CommonName, "mtguard") {
		t.Errorf("leaf issued by %s, want mtguard's CA", leaf.Issuer)
	}
	c1, _ := fr.forward.cfg.CA.Certificate(fr.vendorHost)
	c2, _ := fr.forward.cfg.CA.Certificate("127.0.0.1:1")
	if c1 != c2 || c1.Leaf.SerialNumber.Cmp(leaf.SerialNumber) != 0 {
		t.Errorf("the leaf of 127.0.0.1 is not cached per host")
	}

	t.Run("upstream verification stays on", func(t *testing.T) {
		// A vendor whose certificate the pipeline does not trust is unreachable, never
		// silently accepted.
		untrusted := httptest.NewUnstartedServer(fr.vendor.Config.Handler)
		otherCA, _ := newTestCA(t)
		cert, err := otherCA.Certificate("127.0.0.1")
		if err != nil {
			t.Fatal(err)
		}
		untrusted.TLS = &tls.Config{Certificates: []tls.Certificate{*cert}}
		untrusted.Config.ErrorLog = log.New(io.Discard, "", 0) // the handshake mtguard refuses
		untrusted.StartTLS()
		defer untrusted.Close()
		host := strings.TrimPrefix(untrusted.URL, "https://")
		u, _ := url.Parse(untrusted.URL)
		f2, err := NewForward([]Route{{Name: "untrusted", Host: host, Upstream: u}}, fr.forward.pipeline, fr.forward.cfg, zerolog.Nop())
		if err != nil {
			t.Fatal(err)
		}
		srv := httptest.NewServer(f2)
		defer srv.Close()
		pu, _ := url.Parse(srv.URL)
		cl := &http.Client{Transport: &http.Transport{Proxy: http.ProxyURL(pu), TLSClientConfig: &tls.Config{RootCAs: fr.caPool}}}
		before := fr.vendor.Received()
		resp, err := cl.Get(untrusted.URL + "/v1/leads")
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusBadGateway || !strings.Contains(string(b), "certificate") || fr.vendor.Received() != before {
			t.Fatalf("untrusted vendor: %d %s", resp.StatusCode, b)
		}
	})
}

func TestForwardProxyAuth(t *testing.T) {
	fr := newFronts(t, func(c *ForwardConfig) { c.Auth = &ProxyAuth{Username: "tool", Password: "s3cret"} })
	target := "https://" + fr.vendorHost + "/v1/leads"
	if _, err := fr.client(t, nil).Get(target); err == nil || !strings.Contains(err.Error(), "Proxy Authentication Required") {
		t.Errorf("CONNECT without credentials: %v, want 407", err)
	}
	if _, err := fr.client(t, url.UserPassword("tool", "wrong")).Get(target); err == nil {
		t.Errorf("CONNECT with a wrong password succeeded")
	}
	resp, err := fr.client(t, nil).Get("http://" + fr.vendorHost + "/v1/leads")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusProxyAuthRequired || !strings.HasPrefix(resp.Header.Get("Proxy-Authenticate"), "Basic") {
		t.Errorf("plain HTTP without credentials: %d %v", resp.StatusCode, resp.Header)
	}
	resp, err = fr.client(t, url.UserPassword("tool", "s3cret")).Get(target)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 201 {
		t.Fatalf("with credentials: status %d", resp.StatusCode)
	}
	if got, _ := fr.vendor.last(); got.Header.Get("Proxy-Authorization") != "" {
		t.Errorf("the proxy credentials reached the vendor")
	}
}

// TestForwardTunnel checks unknown_hosts: tunnel: the call passes through untouched (the tool
// sees the host's own certificate) and is recorded as metadata only.
func TestForwardTunnel(t *testing.T) {
	// goproxy's defaults would send tunnels through a proxy named in the environment.
	t.Setenv("HTTPS_PROXY", "http://"+unusedAddr(t))
	t.Setenv("HTTP_PROXY", "http://"+unusedAddr(t))
	fr := newFronts(t, func(c *ForwardConfig) { c.UnknownHosts = UnknownHostsTunnel })
	other := httptest.NewTLSServer(fr.vendor.Config.Handler)
	defer other.Close()
	otherHost := strings.TrimPrefix(other.URL, "https://")

	roots := x509.NewCertPool()
	roots.AddCert(other.Certificate()) // the host's own certificate, not mtguard's CA
	tr := &http.Transport{Proxy: http.ProxyURL(fr.proxyURL), TLSClientConfig: &tls.Config{RootCAs: roots}}
	resp, err := (&http.Client{Transport: tr}).Post(other.URL+"/v1/leads", "application/json", strings.NewReader(`{"email":"t@x.io"}`))
	if err != nil {
		t.Fatal(err)
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 201 || resp.Header.Get(HeaderID) != "" {
		t.Fatalf("tunnelled call: status %d, id %q", resp.StatusCode, resp.Header.Get(HeaderID))
	}
	tr.CloseIdleConnections() // ends the tunnel, which records it
	tx := fr.waitFor(t, func(tx txn.Transaction) bool { return tx.Method == "CONNECT" && tx.Path == otherHost })
	if tx.Route != "" || tx.Front != FrontForward || tx.Outcome != txn.OutcomeDelivered || tx.Status != 200 ||
		tx.Request.Size == 0 || tx.Response.Size == 0 || tx.Request.Body != "" || len(tx.RecordKeys) != 0 {
		t.Errorf("stored tunnel: %+v", tx)
	}

	// Plain HTTP to an unknown host passes through too, recorded without body or headers.
	plain := httptest.NewServer(fr.vendor.Config.Handler)
	defer plain.Close()
	resp, err = fr.client(t, nil).Post(plain.URL+"/v1/leads?hapikey=secret", "application/json", strings.NewReader(`{"email":"h@x.io"}`))
	if err != nil {
		t.Fatal(err)
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	tx = fr.waitFor(t, func(tx txn.Transaction) bool { return strings.HasPrefix(tx.Path, plain.URL) })
	if tx.Status != 201 || tx.Outcome != txn.OutcomeDelivered || tx.Request.Body != "" || tx.Request.Headers != nil || tx.Request.Size != 18 ||
		tx.Response.Size == 0 || strings.Contains(tx.Path, "secret") {
		t.Errorf("stored plain pass-through: %+v", tx)
	}

	// A tunnel that cannot be opened gets a problem, not goproxy's raw error.
	conn, err := net.Dial("tcp", fr.proxyURL.Host)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	dead := closedAddr(t)
	fmt.Fprintf(conn, "CONNECT %s HTTP/1.1\r\nHost: %s\r\n\r\n", dead, dead)
	resp, err = http.ReadResponse(bufio.NewReader(conn), &http.Request{Method: "CONNECT"})
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusBadGateway || resp.Header.Get("Content-Type") != "application/problem+json" {
		t.Fatalf("tunnel to a closed port: %d %s", resp.StatusCode, b)
	}
	if tx := fr.get(t, resp.Header.Get(HeaderID)); tx.Outcome != txn.OutcomeUnreachable || tx.Path != dead {
		t.Errorf("stored failed tunnel: %+v", tx)
	}
}

// TestForwardShutdown checks that Shutdown lets a call in an intercepted tunnel finish, then
// closes the idle tunnels that net/http no longer tracks.
func TestForwardShutdown(t *testing.T) {
	fr := newFronts(t, nil)
	client := fr.client(t, nil)
	resp, err := client.Get("https://" + fr.vendorHost + "/v1/leads") // leaves an idle tunnel
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	before := fr.vendor.Received()
	slow := make(chan int, 1)
	go func() {
		resp, err := client.Get("https://" + fr.vendorHost + "/v1/slow")
		if err != nil {
			slow <- 0
			return
		}
		resp.Body.Close()
		slow <- resp.StatusCode
	}()
	for fr.vendor.Received() == before { // the slow call is in flight
		time.Sleep(time.Millisecond)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	start := time.Now()
	if err := fr.forward.Shutdown(ctx); err != nil {
		t.Fatalf("shutdown: %v", err)
	}
	if code := <-slow; code != http.StatusGatewayTimeout {
		t.Errorf("the call in flight during shutdown got %d, want its 504", code)
	}
	// The slow call ends after the route's 300 ms timeout; waiting on the idle tunnel instead
	// would last until ctx ends.
	if d := time.Since(start); d > 10*time.Second {
		t.Errorf("shutdown took %v", d)
	}
	fr.forward.mu.Lock()
	n := len(fr.forward.hijacked)
	fr.forward.mu.Unlock()
	if n != 0 {
		t.Errorf("%d tunnels left open after shutdown", n)
	}
}

// TestForwardCurl checks that curl, configured with --proxy and --cacert, works through the
// forward proxy.
func TestForwardCurl(t *testing.T) {
	curl, err := exec.LookPath("curl")
	if err != nil {
		t.Skip("curl is not installed")
	}
	fr := newFronts(t, func(c *ForwardConfig) { c.Auth = &ProxyAuth{Username: "tool", Password: "pw"} })
	cmd := exec.Command(curl, "-sS", "-i", "--noproxy", "", "--proxy", fr.proxyURL.String(), "--proxy-user", "tool:pw",
		"--cacert", fr.caFile, "-H", "Content-Type: application/json", "-d", `{"email":"Curl@Acme.com"}`,
		"https://"+fr.vendorHost+"/v1/leads")
	cmd.Env = []string{"PATH=" + os.Getenv("PATH"), "HOME=" + t.TempDir()}
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("curl: %v\n%s", err, out)
	}
	text := string(out)
	if !strings.Contains(text, " 201") || !strings.Contains(text, `"id":"101"`) {
		t.Fatalf("curl output:\n%s", text)
	}
	i := strings.Index(strings.ToLower(text), strings.ToLower(HeaderID)+": ")
	if i < 0 {
		t.Fatalf("no %s in curl's output:\n%s", HeaderID, text)
	}
	id := strings.TrimSpace(strings.SplitN(text[i+len(HeaderID)+2:], "\n", 2)[0])
	tx := fr.get(t, id)
	if tx.Front != FrontForward || tx.Route != "crm" || tx.Outcome != txn.OutcomeDelivered || !slices.Equal(tx.RecordKeys, []string{"curl@acme.com"}) {
		t.Errorf("stored %+v", tx)
	}
}
