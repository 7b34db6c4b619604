package proxy

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"sync"
	"sync/atomic"

	"github.com/mtguard/mtguard/txn"
)

// Calls for hosts no route claims, with forward.unknown_hosts: tunnel, pass through untouched:
// no body or record key is read, no header is stored (only content types), no check runs, and
// mtguard adds no header.
// Each is still one transaction, route "" and front "forward", written once when it ends
// (no write-ahead): a CONNECT tunnel as method CONNECT, path host:port, status 200 and the
// bytes each way as request and response sizes; a plain-HTTP call with its method, URL,
// status, content types and sizes. A tunnel that cannot be opened is answered 502 (or 504)
// with a problem and recorded unreachable (or timeout), like a vendor mtguard cannot reach.

// tunnel is a pass-through CONNECT tunnel and its record.
type tunnel struct {
	f      *Forward
	req    *http.Request // the CONNECT
	tx     *txn.Transaction
	failed *http.Response // the answer when the tunnel could not be opened
}

func (f *Forward) newTunnel(r *http.Request, target string) *tunnel {
	start := f.now()
	tx := &txn.Transaction{Call: txn.Call{
		ID: f.pipeline.cfg.Recorder.NewID(start), Time: start, Front: FrontForward,
		Method: http.MethodConnect, Path: target, UpstreamURL: target, RemoteAddr: r.RemoteAddr,
		RecordKeys: []string{},
	}}
	return &tunnel{f: f, req: r, tx: tx}
}

// dial opens the tunnel's connection to the host (goproxy's ProxyCtx.Dialer).
func (t *tunnel) dial(ctx context.Context, network, addr string) (net.Conn, error) {
	conn, err := t.f.cfg.TunnelDial(ctx, network, addr)
	if err != nil {
		outcome, code, status, title := txn.OutcomeUnreachable, txn.CodeUpstreamUnreachable, http.StatusBadGateway, "Host unreachable"
		if isTimeout(err) {
			outcome, code, status, title = txn.OutcomeTimeout, txn.CodeUpstreamTimeout, http.StatusGatewayTimeout, "Host timed out"
		}
		t.failed = t.f.pipeline.refuse(t.req, t.tx, outcome, code, txn.Problem{
			Title: title, Status: status, Detail: fmt.Sprintf("could not open a tunnel to %s: %v", addr, err),
		})
		return nil, err
	}
	t.f.tunnels.Add(1)
	return &countingConn{Conn: conn, done: t.finish}, nil
}

// finish records the tunnel once goproxy closes it; up is what the tool sent, down what the
// host sent back.
func (t *tunnel) finish(up, down int64) {
	t.tx.Request = txn.Message{Size: up}
	t.tx.Response = txn.Message{Size: down}
	t.f.pipeline.finish(t.tx, txn.OutcomeDelivered, http.StatusOK, "")
	t.f.tunnels.Add(-1)
}

// passThrough sends a plain-HTTP call for an unknown host as it is and records its metadata.
func (f *Forward) passThrough(req *http.Request, c *Call) *http.Response {
	p := f.pipeline
	tx := &txn.Transaction{Call: txn.Call{
		ID: p.cfg.Recorder.NewID(c.Start), Time: c.Start, Front: FrontForward,
		Method: req.Method, Path: c.OriginalURL, UpstreamURL: c.OriginalURL, RemoteAddr: c.RemoteAddr,
		RecordKeys: []string{},
		Request:    txn.Message{ContentType: req.Header.Get("Content-Type")},
	}}
	out := outgoing(req)
	up := &countingReader{}
	if out.Body != nil && out.Body != http.NoBody {
		up.rc = out.Body
		out.Body = up
	}
	sent := f.now()
	resp, err := p.cfg.Transport.RoundTrip(out)
	tx.UpstreamMS = ms(f.now().Sub(sent))
	if err != nil {
		tx.Request.Size = up.n.Load()
		if req.Context().Err() != nil {
			tx.Findings = append(tx.Findings, finding(txn.CodeClientGone, "the calling tool went away before the host answered"))
			p.finish(tx, txn.OutcomeInterrupted, 0, "the calling tool went away before the host answered")
			return f.errorResponse(out, ErrClientGone)
		}
		outcome, code, status, title := txn.OutcomeUnreachable, txn.CodeUpstreamUnreachable, http.StatusBadGateway, "Host unreachable"
		if isTimeout(err) {
			outcome, code, status, title = txn.OutcomeTimeout, txn.CodeUpstreamTimeout, http.StatusGatewayTimeout, "Host timed out"
		}
		return p.refuse(out, tx, outcome, code, txn.Problem{
			Title: title, Status: status, Detail: fmt.Sprintf("could not reach %s: %v", req.URL.Host, unwrapURLError(err)),
		})
	}
	removeHopHeaders(resp.Header)
	status, ctype := resp.StatusCode, resp.Header.Get("Content-Type")
	down := &countingReader{rc: resp.Body}
	resp.Body = &onCloseBody{ReadCloser: down, done: func() {
		tx.Request.Size = up.n.Load()
		tx.Response = txn.Message{ContentType: ctype, Size: down.n.Load()}
		outcome := txn.OutcomeDelivered
		if status >= 400 {
			outcome = txn.OutcomeFailed
		}
		p.finish(tx, outcome, status, "")
	}}
	return resp
}

// countingReader counts the bytes read through it.
type countingReader struct {
	rc io.ReadCloser
	n  atomic.Int64
}

func (r *countingReader) Read(b []byte) (int, error) {
	n, err := r.rc.Read(b)
	r.n.Add(int64(n))
	return n, err
}

func (r *countingReader) Close() error { return r.rc.Close() }

// countingConn counts a tunnel's bytes each way and reports them once when closed.
type countingConn struct {
	net.Conn
	read, written atomic.Int64
	once          sync.Once
	done          func(written, read int64)
}

func (c *countingConn) Read(b []byte) (int, error) {
	n, err := c.Conn.Read(b)
	c.read.Add(int64(n))
	return n, err
}

func (c *countingConn) Write(b []byte) (int, error) {
	n, err := c.Conn.Write(b)
	c.written.Add(int64(n))
	return n, err
}

func (c *countingConn) Close() error {
	err := c.Conn.Close()
	c.once.Do(func() { c.done(c.written.Load(), c.read.Load()) })
	return err
}

func (c *countingConn) CloseWrite() error { return closeWrite(c.Conn) }
func (c *countingConn) CloseRead() error  { return closeRead(c.Conn) }
