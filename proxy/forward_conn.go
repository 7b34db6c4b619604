package proxy

import (
	"context"
	"net"
	"net/http"
	"sync"
	"sync/atomic"
	"time"
)

// Serve accepts forward-proxy connections on ln until Shutdown. srv carries the listener's
// limits (header size, timeouts of plain-HTTP calls and of CONNECT lines); Serve sets its
// Handler and wraps its ConnState.
//
// net/http forgets a connection once goproxy hijacks it for a tunnel, clearing its deadlines
// and leaving it out of Shutdown. Serve therefore tracks hijacked connections itself: each
// gets an idle deadline (ForwardConfig.IdleTimeout, renewed by every read or write), and
// Shutdown closes them once the calls in them are answered.
func (f *Forward) Serve(srv *http.Server, ln net.Listener) error {
	f.mu.Lock()
	if f.stopped {
		f.mu.Unlock()
		ln.Close()
		return http.ErrServerClosed
	}
	f.srv = srv
	f.mu.Unlock()
	srv.Handler = f
	prev := srv.ConnState
	srv.ConnState = func(c net.Conn, s http.ConnState) {
		if tc, ok := c.(*trackedConn); ok && s == http.StateHijacked {
			f.track(tc)
		}
		if prev != nil {
			prev(c, s)
		}
	}
	return srv.Serve(&trackedListener{Listener: ln, f: f})
}

// Shutdown stops accepting connections, lets the calls in progress finish (bounded by ctx),
// then closes every tunnel and intercepted connection and waits until the tunnels are recorded
// and their connections released.
func (f *Forward) Shutdown(ctx context.Context) error {
	f.mu.Lock()
	f.stopped = true // a Serve that has not started yet will not
	srv := f.srv
	f.mu.Unlock()
	var err error
	if srv != nil {
		err = srv.Shutdown(ctx)
	}
	f.closing.Store(true)
	werr := waitFor(ctx, func() bool { return f.requests.Load() == 0 })
	f.mu.Lock()
	for c := range f.hijacked {
		c.Conn.Close() // the wrapper's Close would take f.mu again
	}
	f.mu.Unlock()
	if err == nil {
		err = werr
	}
	// goproxy releases a closed connection (our wrapper's Close) from its own goroutine, after
	// the tunnel is recorded; wait for that too, so nothing is left when Shutdown returns.
	released := func() bool {
		f.mu.Lock()
		defer f.mu.Unlock()
		return len(f.hijacked) == 0
	}
	if werr := waitFor(ctx, func() bool { return f.tunnels.Load() == 0 && released() }); err == nil {
		err = werr
	}
	return err
}

// track registers a connection goproxy has just hijacked.
func (f *Forward) track(c *trackedConn) {
	c.hijacked.Store(true)
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.closing.Load() {
		c.Conn.Close()
		return
	}
	f.hijacked[c] = struct{}{}
}

// waitFor polls done until it reports true or ctx ends, like http.Server.Shutdown.
func waitFor(ctx context.Context, done func() bool) error {
	tick := time.NewTicker(10 * time.Millisecond)
	defer tick.Stop()
	for !done() {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-tick.C:
		}
	}
	return nil
}

type trackedListener struct {
	net.Listener
	f *Forward
}

func (l *trackedListener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err != nil {
		return nil, err
	}
	return &trackedConn{Conn: c, f: l.f}, nil
}

// trackedConn is a client connection of the forward listener. Until it is hijacked, net/http
// manages its deadlines; afterwards every read and write pushes its deadline IdleTimeout ahead
// (at most once a second, which keeps the cost of a busy tunnel negligible).
type trackedConn struct {
	net.Conn
	f        *Forward
	hijacked atomic.Bool
	touched  atomic.Int64 // unix nanoseconds of the last deadline renewal
	once     sync.Once
}

func (c *trackedConn) Read(b []byte) (int, error) {
	c.touch()
	return c.Conn.Read(b)
}

func (c *trackedConn) Write(b []byte) (int, error) {
	c.touch()
	return c.Conn.Write(b)
}

func (c *trackedConn) touch() {
	if !c.hijacked.Load() {
		return
	}
	now := time.Now()
	if now.UnixNano()-c.touched.Load() < int64(time.Second) {
		return
	}
	c.touched.Store(now.UnixNano())
	c.Conn.SetDeadline(now.Add(c.f.cfg.IdleTimeout))
}

func (c *trackedConn) Close() error {
	err := c.Conn.Close()
	c.once.Do(func() {
		c.f.mu.Lock()
		delete(c.f.hijacked, c)
		c.f.mu.Unlock()
	})
	return err
}

// CloseWrite and CloseRead let goproxy half-close a tunnel, as it does with a bare TCP
// connection.
func (c *trackedConn) CloseWrite() error { return closeWrite(c.Conn) }
func (c *trackedConn) CloseRead() error  { return closeRead(c.Conn) }

func closeWrite(c net.Conn) error {
	if hc, ok := c.(interface{ CloseWrite() error }); ok {
		return hc.CloseWrite()
	}
	return nil // the full Close that follows does it
}

func closeRead(c net.Conn) error {
	if hc, ok := c.(interface{ CloseRead() error }); ok {
		return hc.CloseRead()
	}
	return nil
}
