package proxy

import (
	"bufio"
	"context"
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

// limitedProxy is a reverse front with one route, /ws, to upstream, whose limit group allows
// one call in flight and queues the next for at most 200 ms.
func limitedProxy(t *testing.T, upstream string) (*httptest.Server, *store.Store) {
	t.Helper()
	st, err := store.Open(filepath.Join(t.TempDir(), "mtguard.db"), store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	lim, err := NewLimiter([]LimitGroup{{Name: "ws", Concurrency: 1, MaxWait: 200 * time.Millisecond}}, nil, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	pl, err := NewPipeline(PipelineConfig{Recorder: st, CaptureBody: 1024, Limiter: lim})
	if err != nil {
		t.Fatal(err)
	}
	u, _ := url.Parse(upstream)
	srv := httptest.NewServer(NewProxy([]Route{{Name: "ws", Prefix: "/ws", Upstream: u, LimitGroup: "ws", Timeout: 2 * time.Second}}, pl, zerolog.Nop()))
	t.Cleanup(srv.Close)
	return srv, st
}

// settled waits until the call id has an outcome in st.
func settled(t *testing.T, st *store.Store, id string) txn.Transaction {
	t.Helper()
	if id == "" {
		t.Fatal("the answer carries no " + HeaderID)
	}
	deadline := time.Now().Add(5 * time.Second)
	for {
		if err := st.Sync(context.Background()); err != nil {
			t.Fatal(err)
		}
		tx, err := st.Get(context.Background(), id)
		if err == nil && tx.Outcome != "" && tx.Outcome != txn.OutcomePending {
			return tx
		}
		if time.Now().After(deadline) {
			t.Fatalf("call %s has no outcome after 5s (%q, %v)", id, tx.Outcome, err)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// TestUpgradeTunnelsAndFreesTheSlot checks that a WebSocket-style upgrade through the reverse
// front works end to end, is recorded with its handshake and an outcome, and does not keep the
// route's only concurrency slot: a normal call made while the tunnel is still open goes
// through rather than being answered 429.
func TestUpgradeTunnelsAndFreesTheSlot(t *testing.T) {
	vendor := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !strings.EqualFold(r.Header.Get("Upgrade"), "websocket") {
			io.WriteString(w, "plain")
			return
		}
		conn, brw, err := http.NewResponseController(w).Hijack()
		if err != nil {
			t.Error(err)
			return
		}
		defer conn.Close()
		brw.WriteString("HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-Websocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n\r\n")
		brw.Flush()
		buf := make([]byte, 512)
		for { // echo until the other side closes
			n, err := brw.Read(buf)
			if n > 0 {
				if _, werr := conn.Write(buf[:n]); werr != nil {
					return
				}
			}
			if err != nil {
				return
			}
		}
	}))
	t.Cleanup(vendor.Close)
	srv, st := limitedProxy(t, vendor.URL)

	conn, err := net.Dial("tcp", srv.Listener.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	conn.SetDeadline(time.Now().Add(10 * time.Second))
	io.WriteString(conn, "GET /ws/chat HTTP/1.1\r\nHost: mtguard\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n")
	br := bufio.NewReader(conn)
	resp, err := http.ReadResponse(br, &http.Request{Method: "GET"})
	if err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode != http.StatusSwitchingProtocols {
		b, _ := io.ReadAll(io.LimitReader(resp.Body, 512))
		t.Fatalf("upgrade answered %d: %s", resp.StatusCode, b)
	}
	id := resp.Header.Get(HeaderID)
	for _, msg := range []string{"hello", "again"} {
		io.WriteString(conn, msg)
		got := make([]byte, len(msg))
		if _, err := io.ReadFull(br, got); err != nil || string(got) != msg {
			t.Fatalf("echo of %q through the tunnel: %q, %v", msg, got, err)
		}
	}

	// The tunnel is still open: the route's one slot must be free all the same.
	plain, err := http.Get(srv.URL + "/ws/plain")
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(plain.Body)
	plain.Body.Close()
	if plain.StatusCode != http.StatusOK || string(b) != "plain" {
		t.Fatalf("a normal call while the tunnel is open answered %d %q; want 200 (the upgrade kept the concurrency slot?)", plain.StatusCode, b)
	}

	tx := settled(t, st, id)
	if tx.Status != http.StatusSwitchingProtocols || tx.Outcome != txn.OutcomeDelivered || tx.Error != "" {
		t.Errorf("upgrade stored as %d %q (error %q); want 101 delivered", tx.Status, tx.Outcome, tx.Error)
	}
	if !hasFinding(tx.Findings, txn.CodeConnectionUpgraded) {
		t.Errorf("findings %v, want %s", findingCodes(tx), txn.CodeConnectionUpgraded)
	}
	if got := tx.Response.Headers.Get("Upgrade"); got != "websocket" {
		t.Errorf("stored handshake answer has Upgrade %q, want websocket", got)
	}
	if got := tx.Request.Headers.Get("Upgrade"); got != "websocket" {
		t.Errorf("stored handshake request has Upgrade %q, want websocket", got)
	}
}

// TestClientHangsUpMidAnswer checks that a tool that closes the connection while the vendor's
// answer still streams is recorded as the vendor's answer plus client.disconnected, with no
// error blaming the vendor.
func TestClientHangsUpMidAnswer(t *testing.T) {
	vendor := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/plain")
		w.WriteHeader(http.StatusOK)
		chunk := []byte(strings.Repeat("x", 16<<10))
		for range 500 { // 8 MiB over several seconds: far more than the tool reads
			if _, err := w.Write(chunk); err != nil {
				return
			}
			http.NewResponseController(w).Flush()
			select {
			case <-r.Context().Done():
				return
			case <-time.After(10 * time.Millisecond):
			}
		}
	}))
	t.Cleanup(vendor.Close)
	srv, st := limitedProxy(t, vendor.URL)

	resp, err := http.Get(srv.URL + "/ws/export")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := io.ReadFull(resp.Body, make([]byte, 1000)); err != nil {
		t.Fatal(err)
	}
	resp.Body.Close() // hang up mid-answer

	tx := settled(t, st, resp.Header.Get(HeaderID))
	if tx.Status != http.StatusOK || tx.Outcome != txn.OutcomeDelivered {
		t.Errorf("stored %d %q; want the vendor's 200 delivered", tx.Status, tx.Outcome)
	}
	if !hasFinding(tx.Findings, txn.CodeClientDisconnected) {
		t.Errorf("findings %v, want %s", findingCodes(tx), txn.CodeClientDisconnected)
	}
	if hasFinding(tx.Findings, txn.CodeClientGone) {
		t.Errorf("findings %v: client.gone is for a tool gone before mtguard could answer", findingCodes(tx))
	}
	if tx.Error != "" {
		t.Errorf("error %q; the vendor did nothing wrong", tx.Error)
	}
}

// TestClassifyCutAnswer checks who is blamed for an answer that did not reach its end: the
// tool when it hung up (its context ended, or the front end stopped reading for it), the
// vendor when reading broke while the tool was still there.
func TestClassifyCutAnswer(t *testing.T) {
	tests := []struct {
		name         string
		method       string
		length       int64 // the answer's Content-Length; -1 unknown
		readErr      error
		toolGone     bool
		wantFinding  bool
		wantErrMsg   string
		wantComplete bool
	}{
		{name: "whole answer", method: "POST", length: -1, readErr: io.EOF, wantComplete: true},
		{name: "whole answer, tool gone since", method: "POST", length: -1, readErr: io.EOF, toolGone: true, wantComplete: true},
		{name: "tool hung up", method: "POST", length: -1, readErr: context.Canceled, toolGone: true, wantFinding: true},
		{name: "front end stopped reading", method: "POST", length: 100, wantFinding: true},
		{name: "front end closed a bodiless answer", method: "HEAD", length: 100, wantComplete: true},
		{name: "every announced byte read", method: "POST", length: 6, wantComplete: true},
		{name: "vendor broke off", method: "POST", length: -1, readErr: io.ErrUnexpectedEOF, wantErrMsg: "broke off after 6 bytes"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			req, _ := http.NewRequestWithContext(ctx, tt.method, "http://mtguard.local/crm/v1/leads", nil)
			f, _ := newTestFlight(t, PipelineConfig{CaptureBody: 1024}, req, &Call{Route: stageRoute(t)})
			f.resp = &http.Response{StatusCode: 200, ContentLength: tt.length, Header: http.Header{"Content-Type": {"application/json"}}}
			if tt.toolGone {
				cancel()
			}
			r := f.classify([]byte(`{"id":`), 6, tt.readErr)
			if r.outcome != txn.OutcomeDelivered {
				t.Errorf("outcome %q, want delivered: the vendor's answer decides it", r.outcome)
			}
			if got := hasFinding(r.findings, txn.CodeClientDisconnected); got != tt.wantFinding {
				t.Errorf("client.disconnected %v, want %v (findings %v)", got, tt.wantFinding, r.findings)
			}
			if (tt.wantErrMsg == "") != (r.errMsg == "") || !strings.Contains(r.errMsg, tt.wantErrMsg) {
				t.Errorf("error %q, want %q", r.errMsg, tt.wantErrMsg)
			}
			if tt.wantComplete && (r.errMsg != "" || len(r.findings) != 0) {
				t.Errorf("a complete answer got error %q, findings %v", r.errMsg, r.findings)
			}
		})
	}
}
