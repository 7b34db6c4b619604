package proxy

import (
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/http/httputil"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/mtguard/mtguard/txn"
	"github.com/rs/zerolog"
)

// NewTransport returns the transport mtguard uses to reach vendors: many idle connections per
// host (a busy route talks to one vendor host), bounded dial and TLS handshakes, and no proxy
// taken from the environment (mtguard is the proxy; an inherited HTTPS_PROXY would silently
// send vendor traffic elsewhere). Response-header timeouts are per route, in the Pipeline.
func NewTransport() *http.Transport {
	return &http.Transport{
		Proxy: nil,
		DialContext: (&net.Dialer{
			Timeout:   10 * time.Second,
			KeepAlive: 30 * time.Second,
		}).DialContext,
		ForceAttemptHTTP2:     true,
		MaxIdleConns:          1024,
		MaxIdleConnsPerHost:   256,
		IdleConnTimeout:       90 * time.Second,
		TLSHandshakeTimeout:   10 * time.Second,
		ExpectContinueTimeout: 1 * time.Second,
	}
}

// Proxy is the reverse front end: a tool calls http://mtguard/<prefix>/<vendor path> and the
// call goes to <route upstream>/<vendor path> through the Pipeline.
type Proxy struct {
	routes   atomic.Pointer[routeTable] // swapped whole by SetRoutes (reload.go)
	pipeline *Pipeline
	rp       *httputil.ReverseProxy
	log      zerolog.Logger
	now      func() time.Time
}

// NewProxy returns a reverse front end for routes that sends every call through pipeline.
func NewProxy(routes []Route, pipeline *Pipeline, log zerolog.Logger) *Proxy {
	p := &Proxy{pipeline: pipeline, log: log, now: pipeline.cfg.Now}
	p.routes.Store(newRouteTable(routes))
	p.rp = &httputil.ReverseProxy{
		Rewrite:    p.rewrite,
		Transport:  pipeline,
		BufferPool: newBufferPool(),
		// No extra logging from the standard library: the pipeline logs each transaction once.
		ErrorLog:     nil,
		ErrorHandler: p.errorHandler,
	}
	return p
}

// ServeHTTP matches a route and hands the call to the pipeline.
func (p *Proxy) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	c := &Call{Front: "reverse", Start: p.now(), OriginalURL: p.pipeline.cfg.Redactor.URL(r.URL), RemoteAddr: r.RemoteAddr}
	switch {
	case r.Method == http.MethodConnect:
		// The reverse listener is not a forward proxy: never tunnel to an arbitrary host.
		c.Refusal = &Refusal{Status: http.StatusMethodNotAllowed, Title: "CONNECT not allowed", Code: txn.CodeRouteUnknown,
			Detail: "this is mtguard's reverse-proxy listener; point tools at http://HOST/<route prefix>/... instead of using it as a proxy"}
	default:
		c.Route, c.Refusal = p.route(r)
	}
	aw := newAnswerWriter(w, p.pipeline.cfg.WriteIdleTimeout)
	c.answer = aw
	// Whatever the server still writes once the handler returns (the end of a chunked body,
	// trailers) gets its own deadline too.
	defer aw.renew(true)
	p.rp.ServeHTTP(aw, r.WithContext(WithCall(r.Context(), c)))
}

// route matches r to a route on its clean path (cleanPath), which it puts in r.URL, so that
// the checks see and the vendor receives the path the route was chosen by. A path that climbs
// above the root, or out of the route it names ("/crm/../hubspot/..."), is refused.
func (p *Proxy) route(r *http.Request) (*Route, *Refusal) {
	table := p.routes.Load() // one table for the whole match, whatever a reload does meanwhile
	named := table.match(r.URL.Path)
	if !normalizeURL(r.URL) {
		return nil, pathRefusal("the path climbs above the root with \"..\" segments; send the path the vendor expects, without dot segments")
	}
	rt := table.match(r.URL.Path)
	if named != nil && rt != named {
		return nil, pathRefusal(fmt.Sprintf("the path names route %s but its dot segments lead out of it; send the path the vendor expects, without dot segments", named.Name))
	}
	if rt == nil {
		return nil, p.noRoute(r)
	}
	return rt, nil
}

// noRoute answers a path no route matches. Only a caller on this machine (someone trying
// mtguard out) is told the configured prefixes: to anyone else they would map the vendors
// behind mtguard.
func (p *Proxy) noRoute(r *http.Request) *Refusal {
	ref := &Refusal{Status: http.StatusNotFound, Title: "No route for this path", Code: txn.CodeRouteUnknown,
		Detail: fmt.Sprintf("no route matches %s; check the tool's base URL against the prefixes in mtguard's config", r.URL.Path)}
	if loopbackCaller(r.RemoteAddr) {
		ref.Routes = p.routes.Load().prefixes()
		ref.Detail = fmt.Sprintf("no route matches %s; configured prefixes: %s", r.URL.Path, strings.Join(ref.Routes, ", "))
	}
	return ref
}

// loopbackCaller reports whether addr (host:port) is on this machine.
func loopbackCaller(addr string) bool {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return false
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// rewrite maps /<prefix>/<rest> to <upstream>/<rest>. ReverseProxy has already removed
// hop-by-hop headers; Rewrite (unlike Director) adds no X-Forwarded-* headers, so the caller's
// address is not leaked to the vendor.
func (p *Proxy) rewrite(pr *httputil.ProxyRequest) {
	// The server fills the caller's trailer map once the body is read; Clone gave Out a copy
	// that would stay empty.
	pr.Out.Trailer = pr.In.Trailer
	c := callFrom(pr.In.Context())
	if c == nil || c.Route == nil {
		return // refused; the pipeline answers without forwarding
	}
	pr.Out.URL.Path = strings.TrimPrefix(pr.In.URL.Path, c.Route.Prefix)
	if pr.In.URL.RawPath != "" {
		pr.Out.URL.RawPath = strings.TrimPrefix(pr.In.URL.RawPath, c.Route.Prefix)
	}
	pr.SetURL(c.Route.Upstream)
}

// errorHandler handles the errors the pipeline returns: the caller went away (nobody to
// answer; logged like nginx's 499) or its request body could not be read.
func (p *Proxy) errorHandler(w http.ResponseWriter, r *http.Request, err error) {
	if errors.Is(err, ErrClientGone) || r.Context().Err() != nil {
		// The route, not the path: a path may carry a token (a webhook's secret URL), and the
		// call itself is in the log with its secrets scrubbed.
		route := ""
		if c := callFrom(r.Context()); c != nil && c.Route != nil {
			route = c.Route.Name
		}
		p.log.Debug().Str("method", r.Method).Str("route", route).Int("status", 499).Msg("client closed the request")
		return
	}
	pb := txn.Problem{Type: "about:blank", Title: "Bad request", Status: http.StatusBadRequest,
		Detail: fmt.Sprintf("mtguard could not read the request: %v", err)}
	w.Header().Set("Content-Type", txn.ProblemContentType)
	w.WriteHeader(pb.Status)
	w.Write(problemBody(pb))
}

// bufferPool recycles the 32 KiB buffers ReverseProxy copies bodies through.
type bufferPool struct{ p sync.Pool }

func newBufferPool() *bufferPool {
	return &bufferPool{p: sync.Pool{New: func() any { b := make([]byte, 32<<10); return &b }}}
}

func (b *bufferPool) Get() []byte  { return *(b.p.Get().(*[]byte)) }
func (b *bufferPool) Put(x []byte) { b.p.Put(&x) }
