package proxy

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"github.com/mtguard/mtguard/store"
	"github.com/mtguard/mtguard/txn"
)

// wire is a reverse front in front of a vendor handler, served by an http.Server whose limits
// the test chooses, as the composition root's are: for what only shows on the wire.
type wire struct {
	url   string
	addr  string
	store *store.Store
}

func newWire(t *testing.T, vendor http.HandlerFunc, srvCfg func(*http.Server), mutate func(*PipelineConfig)) *wire {
	t.Helper()
	v := httptest.NewServer(vendor)
	t.Cleanup(v.Close)
	st, err := store.Open(filepath.Join(t.TempDir(), "mtguard.db"), store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	u, _ := url.Parse(v.URL)
	cfg := PipelineConfig{Recorder: st, CaptureBody: 1024, MaxBody: 4096, Logger: zerolog.Nop()}
	if mutate != nil {
		mutate(&cfg)
	}
	pl, err := NewPipeline(cfg)
	if err != nil {
		t.Fatal(err)
	}
	routes := []Route{{Name: "crm", Prefix: "/crm", Upstream: u, Timeout: 2 * time.Second}}
	srv := httptest.NewUnstartedServer(NewProxy(routes, pl, cfg.Logger))
	if srvCfg != nil {
		srvCfg(srv.Config)
	}
	srv.Start()
	t.Cleanup(srv.Close)
	return &wire{url: srv.URL, addr: srv.Listener.Addr().String(), store: st}
}

// get returns the stored call id once its outcome is recorded.
func (w *wire) get(t *testing.T, id string) txn.Transaction {
	t.Helper()
	return w.waitFor(t, func(tx txn.Transaction) bool { return tx.ID == id })
}

// waitFor returns the first call with an outcome that match accepts, waiting up to 5 s.
func (w *wire) waitFor(t *testing.T, match func(txn.Transaction) bool) txn.Transaction {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for time.Now().Before(deadline) {
		if err := w.store.Sync(context.Background()); err != nil {
			t.Fatal(err)
		}
		page, err := w.store.Query(context.Background(), store.Query{Limit: 100})
		if err != nil {
			t.Fatal(err)
		}
		for _, tx := range page.Transactions {
			if tx.Outcome != txn.OutcomePending && match(tx) {
				return tx
			}
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Fatal("no matching call recorded within 5 s")
	return txn.Transaction{}
}

// sseVendor streams n events, one every gap, flushing each.
func sseVendor(n int, gap time.Duration) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/event-stream")
		for i := range n {
			fmt.Fprintf(w, "data: event %d\n\n", i)
			w.(http.Flusher).Flush()
			select {
			case <-time.After(gap):
			case <-r.Context().Done():
				return
			}
		}
	}
}

// TestStreamOutlastsWriteTimeout is issue 18 item 3: an answer that streams for longer than
// the server's WriteTimeout (the time allowed to answer at all) passes whole, because every
// write gets its own deadline.
func TestStreamOutlastsWriteTimeout(t *testing.T) {
	const events = 12
	w := newWire(t, sseVendor(events, 60*time.Millisecond),
		func(s *http.Server) { s.WriteTimeout = 300 * time.Millisecond }, nil)
	resp, err := http.Get(w.url + "/crm/stream")
	if err != nil {
		t.Fatal(err)
	}
	body, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	if err != nil {
		t.Fatalf("the stream broke off after %d bytes, %d events: %v", len(body), strings.Count(string(body), "data:"), err)
	}
	if got := strings.Count(string(body), "data:"); got != events {
		t.Fatalf("the tool got %d of %d events", got, events)
	}
	tx := w.get(t, resp.Header.Get(HeaderID))
	if tx.Outcome != txn.OutcomeDelivered || tx.Response.Size != int64(len(body)) {
		t.Errorf("recorded %s with %d bytes, want delivered with %d", tx.Outcome, tx.Response.Size, len(body))
	}
	if tx.Response.Incomplete || tx.Response.SizeAtLeast || hasFinding(tx.Findings, txn.CodeClientStalled) {
		t.Errorf("a whole stream was recorded as cut: %+v, findings %+v", tx.Response, tx.Findings)
	}
}

// rawCall writes head (a request without its body) on a new connection to addr.
func rawCall(t *testing.T, addr, head string) (net.Conn, *bufio.Reader) {
	t.Helper()
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	c.SetDeadline(time.Now().Add(5 * time.Second))
	if _, err := io.WriteString(c, head); err != nil {
		t.Fatal(err)
	}
	return c, bufio.NewReader(c)
}

// TestExpectContinue is issue 18 item 4: one 100 Continue (mtguard's), Expect not forwarded
// once mtguard has read the body, and a body announced over max_body refused before any 100.
func TestExpectContinue(t *testing.T) {
	seen := make(chan http.Header, 10)
	w := newWire(t, func(w http.ResponseWriter, r *http.Request) {
		seen <- r.Header.Clone()
		io.Copy(io.Discard, r.Body)
		w.WriteHeader(http.StatusCreated)
		io.WriteString(w, `{"id":"1"}`)
	}, nil, nil)

	t.Run("one 100 Continue", func(t *testing.T) {
		const body = `{"email":"jane@acme.com"}`
		c, br := rawCall(t, w.addr, "POST /crm/v1/leads HTTP/1.1\r\nHost: mtguard\r\nContent-Type: application/json\r\n"+
			fmt.Sprintf("Content-Length: %d\r\nExpect: 100-continue\r\n\r\n", len(body)))
		resp, err := http.ReadResponse(br, nil)
		if err != nil {
			t.Fatal(err)
		}
		if resp.StatusCode != http.StatusContinue {
			t.Fatalf("first answer %s, want 100 Continue", resp.Status)
		}
		io.WriteString(c, body)
		resp, err = http.ReadResponse(br, nil)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusCreated {
			t.Fatalf("answer after the body: %s, want the vendor's 201 (a second 100 Continue was relayed)", resp.Status)
		}
		if h := <-seen; h.Get("Expect") != "" {
			t.Errorf("the vendor got Expect: %s for a body mtguard had already read", h.Get("Expect"))
		}
	})

	t.Run("over max_body refused before 100", func(t *testing.T) {
		c, br := rawCall(t, w.addr, "POST /crm/v1/leads HTTP/1.1\r\nHost: mtguard\r\nContent-Type: application/json\r\n"+
			"Content-Length: 5000\r\nExpect: 100-continue\r\n\r\n")
		resp, err := http.ReadResponse(br, nil)
		if err != nil {
			t.Fatal(err)
		}
		if resp.StatusCode != http.StatusRequestEntityTooLarge {
			t.Fatalf("answer %s, want 413 before any 100 Continue", resp.Status)
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		c.Close()
		tx := w.get(t, resp.Header.Get(HeaderID))
		if tx.Outcome != txn.OutcomeRejected || !hasFinding(tx.Findings, txn.CodeRequestTooLarge) {
			t.Errorf("recorded %s with %+v, want rejected with %s", tx.Outcome, tx.Findings, txn.CodeRequestTooLarge)
		}
		if tx.Request.Size != 5000 || tx.Request.SizeAtLeast {
			t.Errorf("recorded request size %d (at least: %v), want the announced 5000", tx.Request.Size, tx.Request.SizeAtLeast)
		}
		select {
		case <-seen:
			t.Error("an oversize call reached the vendor")
		default:
		}
	})
}

// TestTrailersRecorded is issue 18 item 5: trailers on both sides are passed and recorded,
// secret ones redacted like headers.
func TestTrailersRecorded(t *testing.T) {
	vendorGot := make(chan http.Header, 1)
	w := newWire(t, func(w http.ResponseWriter, r *http.Request) {
		io.Copy(io.Discard, r.Body)
		vendorGot <- r.Trailer
		w.Header().Set("Trailer", "X-Checksum, X-Api-Key")
		w.Header().Set("Content-Type", "text/plain")
		io.WriteString(w, "streamed answer")
		w.(http.Flusher).Flush()
		w.Header().Set("X-Checksum", "crc32=1234")
		w.Header().Set("X-Api-Key", "vendor-secret")
		w.Header().Set(http.TrailerPrefix+"X-Late", "undeclared")
	}, nil, nil)
	req, _ := http.NewRequest(http.MethodPost, w.url+"/crm/upload", io.NopCloser(strings.NewReader(`{"email":"jane@acme.com"}`)))
	req.ContentLength = -1
	req.Trailer = http.Header{"X-Body-Sum": {"abc"}, "X-Api-Key": {"tool-secret"}}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.Trailer.Get("X-Checksum") != "crc32=1234" {
		t.Fatalf("the tool got trailers %v", resp.Trailer)
	}
	if got := <-vendorGot; got.Get("X-Body-Sum") != "abc" || got.Get("X-Api-Key") != "tool-secret" {
		t.Errorf("the vendor got request trailers %v", got)
	}
	tx := w.get(t, resp.Header.Get(HeaderID))
	if got := tx.Request.Trailers; got.Get("X-Body-Sum") != "abc" || got.Get("X-Api-Key") != txn.Redacted {
		t.Errorf("request trailers recorded as %v, want X-Body-Sum and X-Api-Key redacted", got)
	}
	got := tx.Response.Trailers
	if got.Get("X-Checksum") != "crc32=1234" || got.Get("X-Api-Key") != txn.Redacted || got.Get("X-Late") != "undeclared" {
		t.Errorf("response trailers recorded as %v, want X-Checksum, X-Late and X-Api-Key redacted", got)
	}
}

// TestChunkedOverMaxBodyIsAtLeast is issue 18 item 5: a body of unknown length over max_body
// is recorded with the bytes read and marked as a lower bound; an announced length is exact.
func TestChunkedOverMaxBodyIsAtLeast(t *testing.T) {
	w := newWire(t, func(w http.ResponseWriter, r *http.Request) { t.Error("an oversize call reached the vendor") }, nil, nil)
	big := `{"email":"jane@acme.com","pad":"` + strings.Repeat("p", 6000) + `"}`
	for _, chunked := range []bool{true, false} {
		req, _ := http.NewRequest(http.MethodPost, w.url+"/crm/v1/leads", io.NopCloser(strings.NewReader(big)))
		req.ContentLength = int64(len(big))
		if chunked {
			req.ContentLength = -1
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusRequestEntityTooLarge {
			t.Fatalf("chunked %v: status %d, want 413", chunked, resp.StatusCode)
		}
		m := w.get(t, resp.Header.Get(HeaderID)).Request
		switch {
		case chunked && (!m.SizeAtLeast || m.Size != 4097):
			t.Errorf("chunked: recorded size %d (at least: %v), want at least 4097 (max_body + 1)", m.Size, m.SizeAtLeast)
		case !chunked && (m.SizeAtLeast || m.Size != int64(len(big))):
			t.Errorf("announced length: recorded size %d (at least: %v), want exactly %d", m.Size, m.SizeAtLeast, len(big))
		}
		if !m.Truncated {
			t.Errorf("chunked %v: a partly read body is not marked truncated", chunked)
		}
	}
}

// TestStalledClientIsCut is issue 18 item 3: a tool that stops reading is cut off once a
// write makes no progress for the write idle timeout, and the call is recorded as cut.
func TestStalledClientIsCut(t *testing.T) {
	chunk := strings.Repeat("x", 64<<10)
	w := newWire(t, func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/octet-stream")
		for range 4096 { // 256 MiB at most: far more than the socket buffers hold
			if _, err := io.WriteString(w, chunk); err != nil {
				return
			}
		}
	}, func(s *http.Server) { s.WriteTimeout = time.Minute },
		func(c *PipelineConfig) { c.WriteIdleTimeout = 200 * time.Millisecond })
	start := time.Now()
	rawCall(t, w.addr, "GET /crm/export HTTP/1.1\r\nHost: mtguard\r\n\r\n") // and never read
	tx := w.waitFor(t, func(txn.Transaction) bool { return true })
	if waited := time.Since(start); waited > 4*time.Second {
		t.Errorf("the stalled answer was cut after %s", waited)
	}
	if !tx.Response.Incomplete || !tx.Response.SizeAtLeast || !hasFinding(tx.Findings, txn.CodeClientStalled) {
		t.Errorf("a cut answer was recorded as %+v with findings %+v, want incomplete, size_at_least and %s",
			txn.Message{Size: tx.Response.Size, SizeAtLeast: tx.Response.SizeAtLeast, Incomplete: tx.Response.Incomplete}, tx.Findings, txn.CodeClientStalled)
	}
	if tx.Status != http.StatusOK || tx.Outcome != txn.OutcomeDelivered {
		t.Errorf("recorded %d %s, want the vendor's 200, delivered", tx.Status, tx.Outcome)
	}
}

// TestForwardStreamOutlastsWriteTimeout is item 3 for a plain-HTTP call through the forward
// front: the answer streams for longer than the listener's WriteTimeout and passes whole.
func TestForwardStreamOutlastsWriteTimeout(t *testing.T) {
	const events = 12
	v := httptest.NewServer(sseVendor(events, 60*time.Millisecond))
	t.Cleanup(v.Close)
	vu, _ := url.Parse(v.URL)
	st, err := store.Open(filepath.Join(t.TempDir(), "mtguard.db"), store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	pl, err := NewPipeline(PipelineConfig{Recorder: st, Logger: zerolog.Nop()})
	if err != nil {
		t.Fatal(err)
	}
	ca, _ := newTestCA(t)
	fwd, err := NewForward([]Route{{Name: "crm", Host: vu.Host, Upstream: vu, Timeout: 2 * time.Second}}, pl, ForwardConfig{CA: ca}, zerolog.Nop())
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go fwd.Serve(&http.Server{WriteTimeout: 300 * time.Millisecond}, ln)
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		fwd.Shutdown(ctx)
	})
	client := &http.Client{Transport: &http.Transport{Proxy: http.ProxyURL(&url.URL{Scheme: "http", Host: ln.Addr().String()})}}
	resp, err := client.Get(v.URL + "/stream")
	if err != nil {
		t.Fatal(err)
	}
	body, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	if got := strings.Count(string(body), "data:"); err != nil || got != events {
		t.Fatalf("the tool got %d of %d events (%v)", got, events, err)
	}
}
