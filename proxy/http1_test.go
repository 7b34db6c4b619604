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
