package proxy

import (
	"net/url"
	"sort"
	"strings"
	"time"

	"github.com/mtguard/mtguard/schemas"
)

// Route is one configured integration: calls under Prefix go to Upstream.
type Route struct {
	Name   string
	Prefix string // path prefix in reverse mode, e.g. "/crm"; no trailing slash; "" for a forward-only route
	// Host is the vendor host[:port] the forward front intercepts for this route, e.g.
	// "api.hubapi.com"; "" for a reverse-only route. Without a port it means the scheme's default.
	Host     string
	Upstream *url.URL // vendor base URL; its path, if any, is prepended to the forwarded path
	Owner    string
	// RecordKeys say where a record's identity lives in a request body.
	RecordKeys []schemas.KeyPath
	// Auth is the vendor credential mtguard holds for this route, used to resend calls (whose
	// own credentials were never stored). If nil, replays of calls that carried credentials
	// are refused.
	Auth *Auth
	// Callers are who may use the route (callers.go); a call that is none of them is refused
	// with 401 and caller.unknown. If empty, anyone who reaches the listener may.
	Callers []Caller
	// LimitGroup names the Limiter group whose budget the route's calls spend; "" means
	// the route is not throttled.
	LimitGroup string
	// Checks are the route's compiled request and response checks (contracts, vendor rules).
	// If nil, nothing is checked.
	Checks *schemas.Checks
	// Timeout bounds the wait from sending a call to the vendor's response headers
	// (dial, TLS and the vendor's think time). If zero, DefaultTimeout.
	Timeout time.Duration
	// Queue, when set, answers the route's calls itself once they are durable and leaves their
	// delivery to the redeliverer (queue.go).
	Queue *QueueAnswer
	// Retry, when set, sends a call again while the tool waits (retry.go).
	Retry *InlineRetry
}

// vendorPath is path relative to the route's upstream base path: /crm/v3/objects/contacts for
// /hubspot/crm/v3/objects/contacts when the upstream is http://host/hubspot. Contracts, version
// and outcome rules are written for the vendor's own paths, so this is the path they see. A path
// outside the base path (a forward-mode call elsewhere on the host) is returned as it is.
func (r *Route) vendorPath(path string) string {
	if r == nil || r.Upstream == nil {
		return path
	}
	base := strings.TrimSuffix(r.Upstream.Path, "/")
	if base == "" {
		return path
	}
	rest, ok := strings.CutPrefix(path, base)
	switch {
	case !ok || (rest != "" && rest[0] != '/'):
		return path
	case rest == "":
		return "/"
	}
	return rest
}

// Auth is a credential header mtguard adds on the route's behalf. Value is the whole header
// value (e.g. "Bearer pat-na1-..."), read from the environment at start; it is never stored
// or logged.
type Auth struct {
	Header string
	Value  string
}

// DefaultTimeout is the Route.Timeout used when none is set.
const DefaultTimeout = 30 * time.Second

// routeTable matches paths to routes by the longest prefix that ends on a segment boundary,
// so "/crm" matches "/crm" and "/crm/v1" but not "/crmx".
type routeTable struct {
	routes []*Route // longest prefix first
}

func newRouteTable(routes []Route) *routeTable {
	t := &routeTable{}
	for i := range routes {
		r := routes[i]
		if r.Timeout == 0 {
			r.Timeout = DefaultTimeout
		}
		if r.Upstream != nil && r.Upstream.Path != "" && !strings.HasPrefix(r.Upstream.Path, "/") {
			// url.URL.JoinPath on a host-only URL yields "base" rather than "/base".
			u := *r.Upstream
			u.Path, u.RawPath = "/"+u.Path, ""
			r.Upstream = &u
		}
		t.routes = append(t.routes, &r)
	}
	sort.SliceStable(t.routes, func(i, j int) bool { return len(t.routes[i].Prefix) > len(t.routes[j].Prefix) })
	return t
}

func (t *routeTable) match(path string) *Route {
	for _, r := range t.routes {
		if r.Prefix == "" {
			continue // forward-only
		}
		if rest, ok := strings.CutPrefix(path, r.Prefix); ok && (rest == "" || rest[0] == '/') {
			return r
		}
	}
	return nil
}

// byName returns the route called name, or nil.
func (t *routeTable) byName(name string) *Route {
	for _, r := range t.routes {
		if r.Name == name {
			return r
		}
	}
	return nil
}

// prefixes lists the configured prefixes, for the message that answers an unknown path.
func (t *routeTable) prefixes() []string {
	out := make([]string, 0, len(t.routes))
	for _, r := range t.routes {
		if r.Prefix != "" {
			out = append(out, r.Prefix+"/")
		}
	}
	sort.Strings(out)
	return out
}
