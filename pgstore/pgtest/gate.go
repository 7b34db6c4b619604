package pgtest

import (
	"io"
	"net"
	"net/url"
	"sync"
	"testing"
)

// Gate forwards TCP connections from a loopback port to a PostgreSQL server. Cut closes every
// connection it carries and refuses new ones, as a database that went away would; Restore
// lets them through again.
type Gate struct {
	ln     net.Listener
	target string
	dsn    url.URL

	mu    sync.Mutex
	cut   bool
	conns map[net.Conn]bool
}

// NewGate starts a gate to the server of dsn (a postgres:// URL), closed when the test ends.
func NewGate(t testing.TB, dsn string) *Gate {
	t.Helper()
	u, err := url.Parse(dsn)
	if err != nil || u.Host == "" {
		t.Fatalf("the test DSN is not a postgres:// URL with a host (%v)", err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	g := &Gate{ln: ln, target: u.Host, dsn: *u, conns: map[net.Conn]bool{}}
	g.dsn.Host = ln.Addr().String()
	go g.accept()
	t.Cleanup(func() {
		ln.Close()
		g.Cut()
	})
	return g
}

// DSN is the DSN NewGate was given, pointed at the gate.
func (g *Gate) DSN() string { return g.dsn.String() }

// Cut closes the connections the gate carries and refuses new ones until Restore.
func (g *Gate) Cut() {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.cut = true
	for c := range g.conns {
		c.Close()
	}
	clear(g.conns)
}

// Restore lets connections through again.
func (g *Gate) Restore() {
	g.mu.Lock()
	g.cut = false
	g.mu.Unlock()
}

func (g *Gate) accept() {
	for {
		c, err := g.ln.Accept()
		if err != nil {
			return
		}
		go g.forward(c)
	}
}

func (g *Gate) forward(c net.Conn) {
	g.mu.Lock()
	cut, target := g.cut, g.target
	g.mu.Unlock()
	if cut {
		c.Close()
		return
	}
	up, err := net.Dial("tcp", target)
	if err != nil {
		c.Close()
		return
	}
	g.mu.Lock()
	if g.cut {
		g.mu.Unlock()
		c.Close()
		up.Close()
		return
	}
	g.conns[c], g.conns[up] = true, true
	g.mu.Unlock()
	done := make(chan struct{}, 2)
	pipe := func(dst, src net.Conn) {
		_, _ = io.Copy(dst, src)
		done <- struct{}{}
	}
	go pipe(up, c)
	go pipe(c, up)
	<-done
	c.Close()
	up.Close()
	g.mu.Lock()
	delete(g.conns, c)
	delete(g.conns, up)
	g.mu.Unlock()
}
