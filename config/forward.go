package config

import (
	"fmt"
	"net"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"

	"go.yaml.in/yaml/v3"

	"github.com/mtguard/mtguard/proxy"
	"github.com/mtguard/mtguard/yamlstrict"
)

// Defaults of the forward: block.
const (
	// DefaultForwardListen is where tools find the forward proxy (HTTPS_PROXY); loopback, so
	// that only local tools can use it out of the box.
	DefaultForwardListen = "127.0.0.1:8443"
	// DefaultCACert and DefaultCAKey are the files "mtguard ca init" writes; Load
	// resolves them against the config file's directory.
	DefaultCACert = "./mtguard-ca.pem"
	DefaultCAKey  = "./mtguard-ca-key.pem"
	// DefaultUnknownHosts refuses calls for hosts no route claims: mtguard is not an open proxy.
	DefaultUnknownHosts = proxy.UnknownHostsRefuse
)

// Forward configures the forward proxy. The zero value (no forward: block) leaves
// forward mode off.
type Forward struct {
	// Listen is the forward proxy's address, for HTTPS_PROXY; "" when forward mode is off.
	// Default DefaultForwardListen.
	Listen string
	// CA is mtguard's CA, which signs the certificates of intercepted hosts.
	CA ForwardCA
	// UnknownHosts is proxy.UnknownHostsRefuse or proxy.UnknownHostsTunnel. Default DefaultUnknownHosts.
	UnknownHosts string
	// ProxyAuth, when set, names the environment variables holding the user and password every
	// client must present (Proxy-Authorization: Basic); nil when the proxy asks for none.
	ProxyAuth *ProxyAuth
	// UpstreamCA is a PEM bundle of extra CA certificates trusted, besides the system roots,
	// when mtguard connects to vendors (a private vendor, a test server); "" for the system
	// roots alone. Both fronts share one transport, so it applies to reverse routes too.
	// Verification itself cannot be turned off. Load resolves it like the CA files.
	UpstreamCA string
	// Line is where the forward: block starts, for messages about it.
	Line int
}

// ForwardCA names the CA's files. Defaults DefaultCACert and DefaultCAKey.
type ForwardCA struct {
	Cert, Key string
}

// ProxyAuth names the environment variables of the forward proxy's credentials.
type ProxyAuth struct {
	UsernameEnv, PasswordEnv string
}

// resolve makes the relative paths of the forward block relative to dir, as Load does
// for store.path.
func (fc *Forward) resolve(dir string) {
	if fc.Listen == "" {
		return
	}
	for _, p := range []*string{&fc.CA.Cert, &fc.CA.Key, &fc.UpstreamCA} {
		if *p != "" && !filepath.IsAbs(*p) {
			*p = filepath.Join(dir, *p)
		}
	}
}

func (p *configParser) forward(n *yaml.Node) Forward {
	n = yamlstrict.Deref(n)
	if !yamlstrict.Present(n) {
		return Forward{}
	}
	f, ok := p.Mapping(n, "forward", "listen", "ca", "unknown_hosts", "proxy_auth", "upstream_ca")
	if !ok {
		return Forward{}
	}
	fc := Forward{
		Listen:       p.Addr(f.Get("listen"), "forward.listen", DefaultForwardListen),
		CA:           ForwardCA{Cert: DefaultCACert, Key: DefaultCAKey},
		UnknownHosts: DefaultUnknownHosts,
		Line:         n.Line,
	}
	ca, _ := p.Mapping(f.Get("ca"), "forward.ca", "cert", "key")
	fc.CA.Cert = p.filePath(ca.Get("cert"), "forward.ca.cert", DefaultCACert)
	fc.CA.Key = p.filePath(ca.Get("key"), "forward.ca.key", DefaultCAKey)
	if fc.CA.Cert == fc.CA.Key {
		p.Addf(n.Line, "forward.ca", "cert and key are the same file %q; mtguard ca init writes two files", fc.CA.Cert)
	}
	if v, ok := p.Str(f.Get("unknown_hosts"), "forward.unknown_hosts"); ok {
		if v == proxy.UnknownHostsRefuse || v == proxy.UnknownHostsTunnel {
			fc.UnknownHosts = v
		} else {
			p.Addf(f.Get("unknown_hosts").Line, "forward.unknown_hosts", "%q is not an option (write %s, the default, or %s)", v, proxy.UnknownHostsRefuse, proxy.UnknownHostsTunnel)
		}
	}
	if an := yamlstrict.Deref(f.Get("proxy_auth")); yamlstrict.Present(an) {
		if af, ok := p.Mapping(an, "forward.proxy_auth", "username_env", "password_env"); ok {
			fc.ProxyAuth = &ProxyAuth{
				UsernameEnv: p.envName(af.Get("username_env"), an.Line, "forward.proxy_auth.username_env", "MTGUARD_PROXY_USER"),
				PasswordEnv: p.envName(af.Get("password_env"), an.Line, "forward.proxy_auth.password_env", "MTGUARD_PROXY_PASSWORD"),
			}
		}
	}
	if yamlstrict.Given(f.Get("upstream_ca")) {
		fc.UpstreamCA = p.filePath(f.Get("upstream_ca"), "forward.upstream_ca", "")
	}
	return fc
}

// filePath reads a file path; an empty one is reported and gives def.
func (p *configParser) filePath(n *yaml.Node, key, def string) string {
	v, ok := p.Str(n, key)
	if !ok {
		return def
	}
	if strings.TrimSpace(v) == "" {
		p.Addf(n.Line, key, "empty path; remove the key for the default")
		return def
	}
	return v
}

// envName reads a required environment variable name; line is the enclosing block's, for a
// missing key.
func (p *configParser) envName(n *yaml.Node, line int, key, example string) string {
	v, ok := p.Str(n, key)
	switch {
	case !ok && !yamlstrict.Given(n):
		p.Addf(line, key, "is required: the name of the environment variable that holds it (e.g. %s)", example)
	case ok && !envNameRE.MatchString(v):
		p.Addf(n.Line, key, "%q is not an environment variable name; write the variable's name (e.g. %s), not its value", v, example)
	case ok:
		return v
	}
	return ""
}

// routeHost reads a route's host: key, normalised (lower case).
func (p *configParser) routeHost(n *yaml.Node, key string) string {
	v, ok := p.Str(n, key)
	if !ok {
		return ""
	}
	h, msg := normalizeHost(v)
	if msg != "" {
		p.Addf(n.Line, key, "%q %s", v, msg)
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
func (p *configParser) checkForward(cfg *Config, top yamlstrict.Map) {
	fc := cfg.Forward
	anyHost := false
	type hostClaim struct {
		route string
		line  int
	}
	hosts := map[string]hostClaim{}
	if routes := yamlstrict.Deref(top.Get("routes")); routes != nil && routes.Kind == yaml.SequenceNode {
		for i, item := range routes.Content {
			item = yamlstrict.Deref(item)
			hn := yamlstrict.Deref(yamlstrict.Lookup(item, "host"))
			if !yamlstrict.Present(hn) || hn.Kind != yaml.ScalarNode {
				continue
			}
			anyHost = true
			name := ""
			if nn := yamlstrict.Deref(yamlstrict.Lookup(item, "name")); nn != nil {
				name = nn.Value
			}
			if fc.Listen == "" && !yamlstrict.Given(yamlstrict.Lookup(item, "prefix")) {
				p.Addf(item.Line, routeKey(i), "has a host but no prefix, and there is no forward: block, so no call can reach it; add a forward: block (see mtguard ca init) or a prefix")
			}
			h, msg := normalizeHost(hn.Value)
			if msg != "" {
				continue // reported with the route
			}
			if c, dup := hosts[h]; dup {
				p.Addf(hn.Line, routeKey(i)+".host", "%q is already the host of route %q (line %d); give each vendor host one route", hn.Value, c.route, c.line)
				continue
			}
			hosts[h] = hostClaim{route: name, line: hn.Line}
		}
	}
	if fc.Listen == "" {
		return
	}
	fwd := top.Get("forward")
	listenLine := fc.Line
	if n := yamlstrict.Deref(yamlstrict.Lookup(fwd, "listen")); n != nil {
		listenLine = n.Line
	}
	if !anyHost {
		p.Addf(fc.Line, "forward", "no route has a host: key, so the forward proxy would intercept nothing; add host: <vendor host> (e.g. api.hubapi.com) to the routes it should intercept")
	}
	if !strings.HasSuffix(fc.Listen, ":0") {
		switch fc.Listen {
		case cfg.Listen:
			p.Addf(listenLine, "forward.listen", "%q is also the data-plane listen address; give the forward proxy its own port", fc.Listen)
		case cfg.Admin.Listen:
			p.Addf(listenLine, "forward.listen", "%q is also admin.listen; give the forward proxy its own port", fc.Listen)
		}
	}
	if fc.UnknownHosts == proxy.UnknownHostsTunnel && fc.ProxyAuth == nil && !isLoopback(fc.Listen) {
		line := fc.Line
		if n := yamlstrict.Deref(yamlstrict.Lookup(fwd, "unknown_hosts")); n != nil {
			line = n.Line
		}
		p.Addf(line, "forward.unknown_hosts", "tunnel with forward.listen %q, reachable from other hosts, would make mtguard an open proxy; add forward.proxy_auth or keep unknown_hosts: refuse", fc.Listen)
	}
}
