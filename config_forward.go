package main

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/rs/zerolog"
	"go.yaml.in/yaml/v3"

	"github.com/mtguard/mtguard/proxy"
)

// Defaults of the forward: block.
const (
	// DefaultForwardListen is where tools find the forward proxy (HTTPS_PROXY); loopback, so
	// that only local tools can use it out of the box.
	DefaultForwardListen = "127.0.0.1:8443"
	// DefaultCACert and DefaultCAKey are the files "mtguard ca init" writes; LoadConfig
	// resolves them against the config file's directory.
	DefaultCACert = "./mtguard-ca.pem"
	DefaultCAKey  = "./mtguard-ca-key.pem"
	// DefaultUnknownHosts refuses calls for hosts no route claims: mtguard is not an open proxy.
	DefaultUnknownHosts = proxy.UnknownHostsRefuse
)

// ForwardConfig configures the forward proxy. The zero value (no forward: block) leaves
// forward mode off.
type ForwardConfig struct {
	// Listen is the forward proxy's address, for HTTPS_PROXY; "" when forward mode is off.
	// Default DefaultForwardListen.
	Listen string
	// CA is mtguard's CA, which signs the certificates of intercepted hosts.
	CA ForwardCAConfig
	// UnknownHosts is proxy.UnknownHostsRefuse or proxy.UnknownHostsTunnel. Default DefaultUnknownHosts.
	UnknownHosts string
	// ProxyAuth, when set, names the environment variables holding the user and password every
	// client must present (Proxy-Authorization: Basic); nil when the proxy asks for none.
	ProxyAuth *ProxyAuthConfig
	// UpstreamCA is a PEM bundle of extra CA certificates trusted, besides the system roots,
	// when mtguard connects to vendors (a private vendor, a test server); "" for the system
	// roots alone. Both fronts share one transport, so it applies to reverse routes too.
	// Verification itself cannot be turned off. LoadConfig resolves it like the CA files.
	UpstreamCA string
	// Line is where the forward: block starts, for messages about it.
	Line int
}

// ForwardCAConfig names the CA's files. Defaults DefaultCACert and DefaultCAKey.
type ForwardCAConfig struct {
	Cert, Key string
}

// ProxyAuthConfig names the environment variables of the forward proxy's credentials.
type ProxyAuthConfig struct {
	UsernameEnv, PasswordEnv string
}

// resolve makes the relative paths of the forward block relative to dir, as LoadConfig does
// for store.path.
func (fc *ForwardConfig) resolve(dir string) {
	if fc.Listen == "" {
		return
	}
	for _, p := range []*string{&fc.CA.Cert, &fc.CA.Key, &fc.UpstreamCA} {
		if *p != "" && !filepath.IsAbs(*p) {
			*p = filepath.Join(dir, *p)
		}
	}
}

func (p *configParser) forward(n *yaml.Node) ForwardConfig {
	n = deref(n)
	if !present(n) {
		return ForwardConfig{}
	}
	f := p.mapping(n, "forward", "listen", "ca", "unknown_hosts", "proxy_auth", "upstream_ca")
	if f == nil {
		return ForwardConfig{}
	}
	fc := ForwardConfig{
		Listen:       p.addr(f.get("listen"), "forward.listen", DefaultForwardListen),
		CA:           ForwardCAConfig{Cert: DefaultCACert, Key: DefaultCAKey},
		UnknownHosts: DefaultUnknownHosts,
		Line:         n.Line,
	}
	ca := p.mapping(f.get("ca"), "forward.ca", "cert", "key")
	fc.CA.Cert = p.filePath(ca.get("cert"), "forward.ca.cert", DefaultCACert)
	fc.CA.Key = p.filePath(ca.get("key"), "forward.ca.key", DefaultCAKey)
	if fc.CA.Cert == fc.CA.Key {
		p.addf(n.Line, "forward.ca", "cert and key are the same file %q; mtguard ca init writes two files", fc.CA.Cert)
	}
	if v, ok := p.str(f.get("unknown_hosts"), "forward.unknown_hosts"); ok {
		if v == proxy.UnknownHostsRefuse || v == proxy.UnknownHostsTunnel {
			fc.UnknownHosts = v
		} else {
			p.addf(f.get("unknown_hosts").Line, "forward.unknown_hosts", "%q is not an option (write %s, the default, or %s)", v, proxy.UnknownHostsRefuse, proxy.UnknownHostsTunnel)
		}
	}
	if an := deref(f.get("proxy_auth")); present(an) {
		if af := p.mapping(an, "forward.proxy_auth", "username_env", "password_env"); af != nil {
			fc.ProxyAuth = &ProxyAuthConfig{
				UsernameEnv: p.envName(af.get("username_env"), an.Line, "forward.proxy_auth.username_env", "MTGUARD_PROXY_USER"),
				PasswordEnv: p.envName(af.get("password_env"), an.Line, "forward.proxy_auth.password_env", "MTGUARD_PROXY_PASSWORD"),
			}
		}
	}
	if present(deref(f.get("upstream_ca"))) {
		fc.UpstreamCA = p.filePath(f.get("upstream_ca"), "forward.upstream_ca", "")
	}
	return fc
}

// filePath reads a file path; an empty one is reported and gives def.
func (p *configParser) filePath(n *yaml.Node, key, def string) string {
	v, ok := p.str(n, key)
	if !ok {
		return def
	}
	if strings.TrimSpace(v) == "" {
		p.addf(n.Line, key, "empty path; remove the key for the default")
		return def
	}
	return v
}

// envName reads a required environment variable name; line is the enclosing block's, for a
// missing key.
func (p *configParser) envName(n *yaml.Node, line int, key, example string) string {
	v, ok := p.str(n, key)
	switch {
	case !ok && !present(deref(n)):
		p.addf(line, key, "is required: the name of the environment variable that holds it (e.g. %s)", example)
	case ok && !envNameRE.MatchString(v):
		p.addf(n.Line, key, "%q is not an environment variable name; write the variable's name (e.g. %s), not its value", v, example)
	case ok:
		return v
	}
	return ""
}

// routeHost reads a route's host: key, normalised (lower case).
func (p *configParser) routeHost(n *yaml.Node, key string) string {
	v, ok := p.str(n, key)
	if !ok {
		return ""
	}
	h, msg := normalizeHost(v)
	if msg != "" {
		p.addf(n.Line, key, "%q %s", v, msg)
		return ""
	}
	return h
}

// dnsLabelRE is one label of a host name (RFC 1123).
var dnsLabelRE = regexp.MustCompile(`^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$`)

// normalizeHost checks a route host (host[:port]) and returns it in lower case, or why it is
// unusable.
func normalizeHost(s string) (host, msg string) {
	switch {
	case strings.Contains(s, "://"):
		return "", "must be a host, not a URL (write api.hubapi.com, without https://)"
	case strings.Contains(s, "*"):
		return "", "wildcards are not supported; give each vendor host its own route"
	case strings.ContainsAny(s, "/?#@ \t"):
		return "", "must be a plain host or host:port (e.g. api.hubapi.com or api.vendor.com:8443)"
	}
	name, port := s, ""
	switch {
	case strings.HasPrefix(s, "[") && strings.HasSuffix(s, "]"):
		name = s[1 : len(s)-1]
	case strings.HasPrefix(s, "[") || strings.Count(s, ":") == 1:
		h, pt, err := net.SplitHostPort(s)
		if err != nil {
			return "", "is not host or host:port"
		}
		name, port = h, pt
		if n, err := strconv.Atoi(port); err != nil || n < 1 || n > 65535 {
			return "", fmt.Sprintf("has port %q; write a number from 1 to 65535", port)
		}
	case strings.Contains(s, ":"):
		return "", "looks like an IPv6 address; write it in brackets ([2001:db8::1] or [2001:db8::1]:443)"
	}
	name = strings.ToLower(strings.TrimSuffix(name, "."))
	if ip := net.ParseIP(name); ip != nil {
		name = ip.String()
	} else {
		if strings.Contains(s, "[") {
			return "", "has brackets around something that is not an IPv6 address"
		}
		labels := strings.Split(name, ".")
		for _, l := range labels {
			if !dnsLabelRE.MatchString(l) {
				return "", "is not a valid host name (letters, digits, - and dots, e.g. api.hubapi.com)"
			}
		}
		if len(name) > 253 {
			return "", "is longer than a host name can be"
		}
	}
	if strings.Contains(name, ":") {
		if port == "" {
			return "[" + name + "]", ""
		}
		return net.JoinHostPort(name, port), ""
	}
	if port == "" {
		return name, ""
	}
	return name + ":" + port, ""
}

// checkForward checks what involves the forward block and the routes together: every route
// can be reached, no two routes claim one host, the forward proxy has a port of its own and
// is not an open proxy.
func (p *configParser) checkForward(cfg *Config, top fields) {
	fc := cfg.Forward
	anyHost := false
	type hostClaim struct {
		route string
		line  int
	}
	hosts := map[string]hostClaim{}
	if routes := deref(top.get("routes")); routes != nil && routes.Kind == yaml.SequenceNode {
		for i, item := range routes.Content {
			item = deref(item)
			hn := deref(lookup(item, "host"))
			if !present(hn) || hn.Kind != yaml.ScalarNode {
				continue
			}
			anyHost = true
			name := ""
			if nn := deref(lookup(item, "name")); nn != nil {
				name = nn.Value
			}
			if fc.Listen == "" && !present(deref(lookup(item, "prefix"))) {
				p.addf(item.Line, routeKey(i), "has a host but no prefix, and there is no forward: block, so no call can reach it; add a forward: block (see mtguard ca init) or a prefix")
			}
			h, msg := normalizeHost(hn.Value)
			if msg != "" {
				continue // reported with the route
			}
			if c, dup := hosts[h]; dup {
				p.addf(hn.Line, routeKey(i)+".host", "%q is already the host of route %q (line %d); give each vendor host one route", hn.Value, c.route, c.line)
				continue
			}
			hosts[h] = hostClaim{route: name, line: hn.Line}
		}
	}
	if fc.Listen == "" {
		return
	}
	fwd := top.get("forward")
	listenLine := fc.Line
	if n := deref(lookup(fwd, "listen")); n != nil {
		listenLine = n.Line
	}
	if !anyHost {
		p.addf(fc.Line, "forward", "no route has a host: key, so the forward proxy would intercept nothing; add host: <vendor host> (e.g. api.hubapi.com) to the routes it should intercept")
	}
	if !strings.HasSuffix(fc.Listen, ":0") {
		switch fc.Listen {
		case cfg.Listen:
			p.addf(listenLine, "forward.listen", "%q is also the data-plane listen address; give the forward proxy its own port", fc.Listen)
		case cfg.Admin.Listen:
			p.addf(listenLine, "forward.listen", "%q is also admin.listen; give the forward proxy its own port", fc.Listen)
		}
	}
	if fc.UnknownHosts == proxy.UnknownHostsTunnel && fc.ProxyAuth == nil && !isLoopback(fc.Listen) {
		line := fc.Line
		if n := deref(lookup(fwd, "unknown_hosts")); n != nil {
			line = n.Line
		}
		p.addf(line, "forward.unknown_hosts", "tunnel with forward.listen %q, reachable from other hosts, would make mtguard an open proxy; add forward.proxy_auth or keep unknown_hosts: refuse", fc.Listen)
	}
}

// forwardSettings prepares forward mode from the config before anything is opened: it loads
// the CA and reads the proxy credentials from the environment. It returns nil when forward
// mode is off.
func forwardSettings(fc ForwardConfig, getenv func(string) string) (*proxy.ForwardConfig, error) {
	if fc.Listen == "" {
		return nil, nil
	}
	ca, err := proxy.LoadCA(fc.CA.Cert, fc.CA.Key, nil)
	if err != nil {
		return nil, fmt.Errorf("forward.ca: %w", err)
	}
	out := &proxy.ForwardConfig{CA: ca, UnknownHosts: fc.UnknownHosts, IdleTimeout: idleTimeout}
	if a := fc.ProxyAuth; a != nil {
		user, pass := getenv(a.UsernameEnv), getenv(a.PasswordEnv)
		for _, v := range []struct{ key, env, val string }{
			{"username_env", a.UsernameEnv, user}, {"password_env", a.PasswordEnv, pass},
		} {
			if v.val == "" {
				return nil, fmt.Errorf("forward.proxy_auth.%s names %s, but that environment variable is empty; set it to the forward proxy's credential", v.key, v.env)
			}
		}
		out.Auth = &proxy.ProxyAuth{Username: user, Password: pass}
	}
	return out, nil
}

// upstreamTransport returns the transport to vendors when forward.upstream_ca adds trusted
// roots, or nil for the pipeline's default.
func upstreamTransport(fc ForwardConfig) (http.RoundTripper, error) {
	if fc.UpstreamCA == "" {
		return nil, nil
	}
	pem, err := os.ReadFile(fc.UpstreamCA)
	if err != nil {
		return nil, fmt.Errorf("forward.upstream_ca: %w", err)
	}
	roots, err := x509.SystemCertPool()
	if err != nil {
		roots = x509.NewCertPool() // no system roots on this platform: the bundle alone
	}
	if !roots.AppendCertsFromPEM(pem) {
		return nil, fmt.Errorf("forward.upstream_ca: %s holds no PEM certificate", fc.UpstreamCA)
	}
	tr := proxy.NewTransport()
	tr.TLSClientConfig = &tls.Config{RootCAs: roots}
	return tr, nil
}

// forwardListener is the forward proxy as the server runs it.
type forwardListener struct {
	fwd  *proxy.Forward
	srv  *http.Server
	ln   net.Listener
	addr string
}

// listenForward builds the forward front and opens its listener; start serves it. It returns
// nil when forward mode is off.
func listenForward(cfg *Config, settings *proxy.ForwardConfig, routes []proxy.Route, pipeline *proxy.Pipeline, writeTimeout time.Duration, log zerolog.Logger) (*forwardListener, error) {
	if settings == nil {
		return nil, nil
	}
	fwd, err := proxy.NewForward(routes, pipeline, *settings, log)
	if err != nil {
		return nil, err
	}
	ln, err := net.Listen("tcp", cfg.Forward.Listen)
	if err != nil {
		return nil, fmt.Errorf("listen on %s (forward.listen): %w", cfg.Forward.Listen, err)
	}
	srv := &http.Server{
		MaxHeaderBytes:    maxHeaderBytes,
		ReadHeaderTimeout: readHeaderTimeout,
		ReadTimeout:       readTimeout,
		WriteTimeout:      writeTimeout,
		IdleTimeout:       idleTimeout,
	}
	return &forwardListener{fwd: fwd, srv: srv, ln: ln, addr: ln.Addr().String()}, nil
}

// start serves the forward proxy in the background; a failure goes to errs.
func (f *forwardListener) start(errs chan<- error) {
	if f == nil {
		return
	}
	go func() {
		if err := f.fwd.Serve(f.srv, f.ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			errs <- err
		}
	}()
}

// describe prints where the forward proxy listens and which routes it intercepts, under
// serve's banner.
func (f *forwardListener) describe(w io.Writer, cfg *Config) {
	if f == nil {
		return
	}
	fmt.Fprintf(w, "  forward proxy http://%s  (HTTPS_PROXY; CA %s; unknown hosts: %s)\n", f.addr, cfg.Forward.CA.Cert, cfg.Forward.UnknownHosts)
	for _, r := range cfg.Routes {
		if r.Host != "" {
			fmt.Fprintf(w, "  route %-16s https://%s/... through the forward proxy -> %s\n", r.Name, r.Host, r.Upstream)
		}
	}
}

// shutdown stops the forward proxy: no new connections, calls in flight finish, tunnels close.
func (f *forwardListener) shutdown(ctx context.Context) error {
	if f == nil {
		return nil
	}
	return f.fwd.Shutdown(ctx)
}
