package proxy

import (
	"context"
	"crypto/subtle"
	"crypto/tls"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/elazarl/goproxy"
	"github.com/mtguard/mtguard/txn"
	"github.com/rs/zerolog"
)

// Fronts, as stored in a transaction's front field.
const (
	FrontReverse = "reverse"
	FrontForward = "forward"
)

// Values of ForwardConfig.UnknownHosts.
const (
	// UnknownHostsRefuse answers 403 to calls for hosts no route claims: mtguard is not an
	// open proxy.
	UnknownHostsRefuse = "refuse"
	// UnknownHostsTunnel passes such calls through untouched and records their metadata only.
	UnknownHostsTunnel = "tunnel"
)

// Defaults for ForwardConfig.
const (
	DefaultForwardIdleTimeout = 120 * time.Second
	defaultTunnelDialTimeout  = 10 * time.Second
)

// ProxyAuth is the one user and password a forward-proxy client must present
// (Proxy-Authorization: Basic, RFC 9110 section 11.7.1).
type ProxyAuth struct {
	Username, Password string
}

// ForwardConfig configures a Forward. Zero fields fall back to the stated defaults.
type ForwardConfig struct {
	// CA signs the certificates presented for intercepted hosts. Required.
	CA *CA
	// UnknownHosts is UnknownHostsRefuse or UnknownHostsTunnel. If "", UnknownHostsRefuse.
	UnknownHosts string
	// Auth, when set, is required of every client. If nil, any client that can reach the
	// listener may use it.
	Auth *ProxyAuth
	// IdleTimeout closes an intercepted or tunnelled connection on which nothing was read or
	// written for this long. If zero, DefaultForwardIdleTimeout.
	IdleTimeout time.Duration
	// TunnelDial opens the connections of tunnels to unknown hosts (UnknownHostsTunnel). If
	// nil, a net.Dialer with a 10 s timeout: never a proxy from the environment.
	TunnelDial func(ctx context.Context, network, addr string) (net.Conn, error)
}

// Forward is the forward-proxy front end, built on goproxy: tools that honour HTTPS_PROXY send
// their calls to it. CONNECT tunnels to hosts that a route claims (Route.Host) are intercepted
// with a certificate signed by the CA, and every call inside them, like every plain-HTTP
// absolute-form call, is matched to its route and handed to the same Pipeline as the reverse
// front. goproxy never sends anything itself: its transport is replaced by the pipeline, and
// its raw-error answers by the pipeline's problem responses.
type Forward struct {
	hosts    atomic.Pointer[hostTable] // swapped whole by SetRoutes (reload.go)
	pipeline *Pipeline
	cfg      ForwardConfig
	gp       *goproxy.ProxyHttpServer
	log      zerolog.Logger
	now      func() time.Time

	mu       sync.Mutex
	srv      *http.Server
	stopped  bool                      // Shutdown was called
	hijacked map[*trackedConn]struct{} // connections goproxy took over (tunnels, intercepted)
	requests atomic.Int64              // calls being answered
	tunnels  atomic.Int64              // open pass-through tunnels whose record is pending
	closing  atomic.Bool
}

// NewForward returns a forward front for routes that sends every intercepted call through
// pipeline. Only routes with a Host are intercepted.
func NewForward(routes []Route, pipeline *Pipeline, cfg ForwardConfig, log zerolog.Logger) (*Forward, error) {
	if cfg.CA == nil {
		return nil, errors.New("new forward proxy: a CA is required (mtguard ca init)")
	}
	switch cfg.UnknownHosts {
	case "":
		cfg.UnknownHosts = UnknownHostsRefuse
	case UnknownHostsRefuse, UnknownHostsTunnel:
	default:
		return nil, fmt.Errorf("new forward proxy: unknown_hosts %q is not %s or %s", cfg.UnknownHosts, UnknownHostsRefuse, UnknownHostsTunnel)
	}
	if cfg.IdleTimeout == 0 {
		cfg.IdleTimeout = DefaultForwardIdleTimeout
	}
	if cfg.TunnelDial == nil {
		cfg.TunnelDial = (&net.Dialer{Timeout: defaultTunnelDialTimeout, KeepAlive: 30 * time.Second}).DialContext
	}
	f := &Forward{
		pipeline: pipeline,
		cfg:      cfg,
		log:      log,
		now:      pipeline.cfg.Now,
		hijacked: map[*trackedConn]struct{}{},
	}

	gp := goproxy.NewProxyHttpServer()
	gp.Logger = goproxyLogger{log}
	gp.Verbose = false
	// goproxy's defaults read HTTPS_PROXY from the environment and skip upstream TLS
	// verification. Nothing is sent through them: every call is answered by the request handler
	// below (through the pipeline), and tunnels dial with ctx.Dialer. This transport only
	// makes a forgotten path fail loudly instead of sending unverified, unrecorded traffic.
	gp.ConnectDial, gp.ConnectDialWithReq = nil, nil
	gp.Tr = &http.Transport{Proxy: nil, DialContext: func(context.Context, string, string) (net.Conn, error) {
		return nil, errors.New("mtguard: goproxy's own transport is disabled")
	}}
	gp.KeepAcceptEncoding = true // the vendor sees the tool's Accept-Encoding, as in reverse mode
	gp.AllowHTTP2 = false
	gp.NonproxyHandler = http.HandlerFunc(f.nonProxy)
	gp.ConnectionErrHandler = f.connectionError
	gp.OnRequest().HandleConnectFunc(f.handleConnect)
	gp.OnRequest().DoFunc(f.handleRequest)
	f.gp = gp
	f.hosts.Store(newHostTable(newRouteTable(routes).routes))
	return f, nil
}

// ServeHTTP hands the call to goproxy, which calls back handleConnect and handleRequest. A
// plain-HTTP call's answer gets a write deadline per write, as in the reverse front; goproxy
// takes a CONNECT's connection over, and trackedConn bounds the calls inside it.
func (f *Forward) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.Method == http.MethodConnect {
		f.gp.ServeHTTP(w, r)
		return
	}
	aw := newAnswerWriter(w, f.pipeline.cfg.WriteIdleTimeout)
	defer aw.renew(true)
	f.gp.ServeHTTP(aw, r.WithContext(withAnswer(r.Context(), aw)))
}

// connectInfo is what a CONNECT decided, kept in goproxy's per-tunnel UserData.
type connectInfo struct {
	target string  // the CONNECT target, host:port
	tunnel *tunnel // set for a pass-through tunnel
}

// handleConnect decides what happens to a CONNECT: intercept a configured host, tunnel or
// refuse another.
func (f *Forward) handleConnect(host string, ctx *goproxy.ProxyCtx) (*goproxy.ConnectAction, string) {
	r := ctx.Req
	if !f.authorized(r) {
		ctx.Resp = f.authRequired(r)
		return &goproxy.ConnectAction{Action: goproxy.ConnectReject}, host
	}
	if f.hosts.Load().match(host, "443") != nil {
		ctx.UserData = &connectInfo{target: host}
		return &goproxy.ConnectAction{Action: goproxy.ConnectMitm, TLSConfig: f.tlsConfig}, host
	}
	if f.cfg.UnknownHosts == UnknownHostsTunnel {
		t := f.newTunnel(r, host)
		ctx.UserData = &connectInfo{target: host, tunnel: t}
		ctx.Dialer = t.dial
		return &goproxy.ConnectAction{Action: goproxy.ConnectAccept}, host
	}
	c := &Call{Front: FrontForward, Start: f.now(), OriginalURL: host, RemoteAddr: r.RemoteAddr, Refusal: unknownHost(host, "443")}
	resp, err := f.pipeline.RoundTrip(r.WithContext(WithCall(r.Context(), c)))
	if err != nil {
		return &goproxy.ConnectAction{Action: goproxy.ConnectReject}, host // the client is gone
	}
	resp.Close = true
	ctx.Resp = resp
	return &goproxy.ConnectAction{Action: goproxy.ConnectReject}, host
}

// tlsConfig is what an intercepted tunnel presents to the tool: a leaf for the CONNECT host,
// signed by mtguard's CA. HTTP/1.1 only, so keep-alive inside the tunnel is goproxy's loop.
func (f *Forward) tlsConfig(host string, _ *goproxy.ProxyCtx) (*tls.Config, error) {
	cert, err := f.cfg.CA.Certificate(host)
	if err != nil {
		f.log.Error().Err(err).Str("host", host).Msg("could not sign a certificate for an intercepted host")
		return nil, err
	}
	return &tls.Config{
		Certificates: []tls.Certificate{*cert},
		MinVersion:   tls.VersionTLS12,
		NextProtos:   []string{"http/1.1"},
	}, nil
}

// handleRequest answers one call: a plain-HTTP absolute-form call, or a call inside an
// intercepted tunnel. It always returns a response, so goproxy never sends anything itself.
func (f *Forward) handleRequest(req *http.Request, ctx *goproxy.ProxyCtx) (*http.Request, *http.Response) {
	f.requests.Add(1)
	info, _ := ctx.UserData.(*connectInfo) // set inside an intercepted tunnel
	if info == nil && !f.authorized(req) {
		f.requests.Add(-1)
		return req, f.authRequired(req)
	}
	c := &Call{Front: FrontForward, Start: f.now(), OriginalURL: f.pipeline.cfg.Redactor.URL(req.URL), RemoteAddr: req.RemoteAddr}
	if info == nil {
		c.answer = answerFrom(req.Context()) // a plain-HTTP call, answered through ServeHTTP's writer
	}
	switch {
	case info != nil && !sameHost(info.target, req.URL.Host, defaultPort(req.URL.Scheme)):
		// The tool was given a certificate for the CONNECT host; a call for another host inside
		// that tunnel would otherwise escape the host rule.
		c.Refusal = &Refusal{Status: http.StatusForbidden, Title: "Host differs from the tunnel", Code: txn.CodeRouteUnknown,
			Detail: fmt.Sprintf("this tunnel was opened to %s; a call for %s inside it is refused. Open one tunnel per host.", info.target, req.URL.Host)}
	default:
		c.Route = f.hosts.Load().match(req.URL.Host, defaultPort(req.URL.Scheme))
		if c.Route == nil {
			if info == nil && f.cfg.UnknownHosts == UnknownHostsTunnel {
				return req, f.release(req, f.passThrough(req, c))
			}
			c.Refusal = unknownHost(req.URL.Host, defaultPort(req.URL.Scheme))
		} else if !normalizeURL(req.URL) {
			// As on the reverse front: checks and the vendor see one clean path (cleanPath).
			c.Refusal = pathRefusal("the path climbs above the root with \"..\" segments; send the path the vendor expects, without dot segments")
		}
	}
	out := outgoing(req)
	resp, err := f.pipeline.RoundTrip(out.WithContext(WithCall(out.Context(), c)))
	if err != nil {
		resp = f.errorResponse(out, err)
	}
	removeHopHeaders(resp.Header)
	return req, f.release(req, resp)
}

// release counts a call as answered once goproxy closes its response body, and asks the tool
// to close the connection when the forward front is shutting down. It also ends the pipeline's
// side of the body (which records the outcome) as soon as the vendor's last byte is read,
// before goproxy writes it: as with the reverse front, whoever reads the whole answer can look
// the call up at once.
func (f *Forward) release(req *http.Request, resp *http.Response) *http.Response {
	if f.closing.Load() {
		resp.Close = true
	}
	body := resp.Body
	if body == nil {
		body = http.NoBody
	}
	eb := &endBody{rc: body, left: resp.ContentLength, done: func() { f.requests.Add(-1) }}
	if req.Method == http.MethodHead || resp.StatusCode == http.StatusNoContent || resp.StatusCode == http.StatusNotModified || resp.ContentLength == 0 {
		eb.end() // nothing to read: goproxy only closes it
	}
	resp.Body = eb
	return resp
}

// endBody closes the body it wraps as soon as that body is read to its end, and calls done
// when it is closed itself.
type endBody struct {
	rc      io.ReadCloser
	left    int64 // bytes still to come; negative when unknown
	ended   atomic.Bool
	endOnce sync.Once
	once    sync.Once
	done    func()
}

func (b *endBody) Read(p []byte) (int, error) {
	if b.ended.Load() {
		return 0, io.EOF
	}
	n, err := b.rc.Read(p)
	if b.left >= 0 {
		b.left -= int64(n)
		if err == nil && b.left <= 0 {
			// Every announced byte is here; an HTTP/2 body may still owe its EOF.
			var probe [1]byte
			if m, perr := b.rc.Read(probe[:]); m == 0 && perr != nil {
				err = perr
			}
		}
	}
	if err != nil {
		b.end()
	}
	return n, err
}

func (b *endBody) end() {
	b.endOnce.Do(func() {
		b.ended.Store(true)
		b.rc.Close()
	})
}

func (b *endBody) Close() error {
	b.end()
	b.once.Do(b.done)
	return nil
}

// errorResponse answers the errors the pipeline returns: the caller went away (nobody reads
// the answer) or its request body could not be read. Both end the connection.
func (f *Forward) errorResponse(req *http.Request, err error) *http.Response {
	pb := txn.Problem{Type: "about:blank", Title: "Bad request", Status: http.StatusBadRequest,
		Detail: fmt.Sprintf("mtguard could not read the request: %v", err)}
	if errors.Is(err, ErrClientGone) {
		// The host, not the URL: its query or path may carry a token.
		f.log.Debug().Str("method", req.Method).Str("host", req.URL.Host).Int("status", 499).Msg("client closed the request")
		pb.Title, pb.Detail = "Client gone", "the calling tool went away before mtguard could answer"
	}
	resp := problemResponse(req, pb)
	resp.Close = true
	return resp
}

// nonProxy answers a request that is not for a proxy (GET /path sent to the forward listener):
// recorded like every call mtguard answers itself.
func (f *Forward) nonProxy(w http.ResponseWriter, r *http.Request) {
	if !f.authorized(r) {
		writeResponse(w, f.authRequired(r))
		return
	}
	c := &Call{Front: FrontForward, Start: f.now(), OriginalURL: f.pipeline.cfg.Redactor.URL(r.URL), RemoteAddr: r.RemoteAddr,
		Refusal: &Refusal{Status: http.StatusBadRequest, Title: "Not a proxy request", Code: txn.CodeRouteUnknown,
			Detail: "this is mtguard's forward-proxy listener: set HTTPS_PROXY (or HTTP_PROXY) to its address in the tool's environment, or call the reverse listener at http://HOST/<route prefix>/..."}}
	resp, err := f.pipeline.RoundTrip(r.WithContext(WithCall(r.Context(), c)))
	if err != nil {
		return
	}
	writeResponse(w, resp)
}

// writeResponse answers with resp and closes its body.
func writeResponse(w http.ResponseWriter, resp *http.Response) {
	defer resp.Body.Close()
	for k, vs := range resp.Header {
		w.Header()[k] = vs
	}
	w.WriteHeader(resp.StatusCode)
	io.Copy(w, resp.Body)
}

// connectionError replaces goproxy's answer to a tunnel it could not open (a 502 with the raw
// error) by the problem the tunnel recorded. Other errors (a failed handshake with the tool, a
// broken copy) happen mid-stream, where no HTTP answer fits: goproxy closes the connection.
func (f *Forward) connectionError(w io.Writer, ctx *goproxy.ProxyCtx, err error) {
	info, _ := ctx.UserData.(*connectInfo)
	if info == nil || info.tunnel == nil || info.tunnel.failed == nil {
		f.log.Debug().Err(err).Msg("forward proxy connection failed")
		return
	}
	resp := info.tunnel.failed
	resp.Close = true
	resp.Write(w)
}

// unknownHost is the refusal of a call for target (host[:port]), which no route claims.
func unknownHost(target, defaultPort string) *Refusal {
	name, port := splitHost(target, defaultPort)
	host := hostKey(name, port)
	if port == defaultPort {
		host = hostKey(name, "") // what the route's host: would say
		if strings.Contains(name, ":") {
			host = "[" + name + "]"
		}
	}
	return &Refusal{Status: http.StatusForbidden, Title: "Host not intercepted", Code: txn.CodeRouteUnknown,
		Detail: fmt.Sprintf("no route has host %s and forward.unknown_hosts is refuse, so mtguard does not forward this call; add a route with host: %s, or set forward.unknown_hosts: tunnel to pass such calls through with metadata-only records", host, host)}
}

// authorized reports whether r carries the proxy credentials, when some are required.
func (f *Forward) authorized(r *http.Request) bool {
	a := f.cfg.Auth
	if a == nil {
		return true
	}
	scheme, encoded, ok := strings.Cut(r.Header.Get("Proxy-Authorization"), " ")
	if !ok || !strings.EqualFold(scheme, "Basic") {
		return false
	}
	raw, err := base64.StdEncoding.DecodeString(strings.TrimSpace(encoded))
	if err != nil {
		return false
	}
	user, pass, ok := strings.Cut(string(raw), ":")
	// Compare both in constant time, so the answer's timing tells nothing about either.
	userOK := subtle.ConstantTimeCompare([]byte(user), []byte(a.Username))
	passOK := subtle.ConstantTimeCompare([]byte(pass), []byte(a.Password))
	return ok && userOK&passOK == 1
}

// authRequired is the 407 answer to a client without the proxy credentials. It is logged, not
// recorded: a stranger's calls have no place in the transaction log.
func (f *Forward) authRequired(r *http.Request) *http.Response {
	f.log.Warn().Str("remote_addr", r.RemoteAddr).Str("method", r.Method).Str("host", r.URL.Host).Msg("forward proxy: missing or wrong proxy credentials")
	pb := txn.Problem{Type: "about:blank", Title: "Proxy authentication required", Status: http.StatusProxyAuthRequired,
		Detail: "this forward proxy requires credentials: put them in the proxy URL (HTTPS_PROXY=http://USER:PASSWORD@HOST:PORT)"}
	resp := problemResponse(r, pb)
	resp.Header.Set("Proxy-Authenticate", `Basic realm="mtguard", charset="UTF-8"`)
	resp.Close = true
	return resp
}

// outgoing prepares an intercepted call for the vendor as httputil.ReverseProxy prepares a
// reverse one, so both fronts store and send the same headers: hop-by-hop headers (and the
// proxy credentials) removed, no Go default User-Agent, a connection of mtguard's own.
func outgoing(req *http.Request) *http.Request {
	out := req.WithContext(req.Context())
	out.RequestURI = ""
	out.Close = false
	te := headerHasToken(req.Header, "Te", "trailers")
	removeHopHeaders(req.Header)
	if te {
		req.Header.Set("Te", "trailers")
	}
	if _, ok := req.Header["User-Agent"]; !ok {
		req.Header.Set("User-Agent", "")
	}
	return out
}

// forwardHopHeaders are the hop-by-hop headers of RFC 9110 section 7.6.1, plus the ones some
// proxies use; they describe one connection and are not forwarded.
var forwardHopHeaders = []string{
	"Connection", "Proxy-Connection", "Keep-Alive", "Proxy-Authenticate", "Proxy-Authorization",
	"Te", "Trailer", "Transfer-Encoding", "Upgrade",
}

// removeHopHeaders removes the hop-by-hop headers from h, including those named in Connection.
func removeHopHeaders(h http.Header) {
	for _, v := range h["Connection"] {
		for _, name := range strings.Split(v, ",") {
			if name = strings.TrimSpace(name); name != "" {
				h.Del(name)
			}
		}
	}
	for _, name := range forwardHopHeaders {
		h.Del(name)
	}
}

// headerHasToken reports whether a comma-separated header of h contains token.
func headerHasToken(h http.Header, name, token string) bool {
	for _, v := range h.Values(name) {
		for _, t := range strings.Split(v, ",") {
			if strings.EqualFold(strings.TrimSpace(t), token) {
				return true
			}
		}
	}
	return false
}

// onCloseBody calls done once when closed.
type onCloseBody struct {
	io.ReadCloser
	once sync.Once
	done func()
}

func (b *onCloseBody) Close() error {
	err := b.ReadCloser.Close()
	b.once.Do(b.done)
	return err
}

// goproxyLogger sends goproxy's own messages (mostly connections the tool closed) to the debug
// log: the pipeline logs each call once. A failed TLS handshake with a tool is the exception:
// it usually means the tool does not trust mtguard's CA yet, which its owner needs to hear.
type goproxyLogger struct{ log zerolog.Logger }

func (l goproxyLogger) Printf(format string, v ...any) {
	msg := strings.TrimSpace(fmt.Sprintf(format, v...))
	if strings.Contains(format, "Cannot handshake client") {
		l.log.Warn().Str("component", "goproxy").Str("hint", "does the tool trust mtguard's CA? see mtguard ca init").Msg(msg)
		return
	}
	l.log.Debug().Str("component", "goproxy").Msg(msg)
}
