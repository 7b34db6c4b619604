package proxy

import (
	"net"
	"strings"
)

// hostTable matches the targets of forward-proxy calls to routes by Route.Host. A route host
// with a port matches that port only; one without a port matches the default port of the
// call's scheme (443 for CONNECT and https, 80 for plain http), so "api.hubapi.com" claims
// https://api.hubapi.com but not https://api.hubapi.com:8443.
type hostTable struct {
	byHost map[string]*Route
}

func newHostTable(routes []*Route) *hostTable {
	t := &hostTable{byHost: map[string]*Route{}}
	for _, r := range routes {
		if r.Host == "" {
			continue
		}
		name, port := splitHost(r.Host, "")
		t.byHost[hostKey(name, port)] = r
	}
	return t
}

// match returns the route for target (host or host:port, as in a CONNECT line or a URL),
// or nil. defaultPort is the port a target without one means.
func (t *hostTable) match(target, defaultPort string) *Route {
	name, port := splitHost(target, defaultPort)
	if r := t.byHost[hostKey(name, port)]; r != nil {
		return r
	}
	if port == defaultPort {
		return t.byHost[name]
	}
	return nil
}

// sameHost reports whether two targets name the same host and port.
func sameHost(a, b, defaultPort string) bool {
	an, ap := splitHost(a, defaultPort)
	bn, bp := splitHost(b, defaultPort)
	return an == bn && ap == bp
}

// splitHost splits host[:port] into a lower-case name without IPv6 brackets and a port, which
// is defaultPort when the target has none.
func splitHost(target, defaultPort string) (name, port string) {
	name, port = target, defaultPort
	if h, p, err := net.SplitHostPort(target); err == nil {
		name, port = h, p
	}
	name = strings.TrimSuffix(strings.TrimPrefix(name, "["), "]")
	return strings.ToLower(strings.TrimSuffix(name, ".")), port
}

func hostKey(name, port string) string {
	if port == "" {
		return name
	}
	return net.JoinHostPort(name, port)
}

// defaultPort is the port a URL of scheme uses when it names none.
func defaultPort(scheme string) string {
	if scheme == "http" {
		return "80"
	}
	return "443"
}
