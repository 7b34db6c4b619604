package config

import (
	"regexp"

	"go.yaml.in/yaml/v3"

	"github.com/mtguard/mtguard/yamlstrict"
)

// Auth is a vendor credential mtguard holds for a route: the header to send and the
// environment variable holding its whole value (e.g. "Bearer pat-na1-..."). The value is read
// at start and never written anywhere.
type Auth struct {
	Header   string
	ValueEnv string
	Line     int
}

// headerNameRE is an HTTP header field name (RFC 9110 token).
var headerNameRE = regexp.MustCompile("^[!#$%&'*+.^_`|~0-9A-Za-z-]+$")

// auth reads a route's auth block: {header: Authorization, value_env: HUBSPOT_TOKEN}.
func (p *configParser) auth(n *yaml.Node, key string) *Auth {
	n = yamlstrict.Deref(n)
	if !yamlstrict.Present(n) {
		return nil
	}
	f, ok := p.Mapping(n, key, "header", "value_env")
	if !ok {
		return nil
	}
	a := &Auth{Line: n.Line}
	if v, ok := p.Str(f.Get("header"), key+".header"); ok {
		if !headerNameRE.MatchString(v) {
			p.Addf(f.Get("header").Line, key+".header", "%q is not a header name (e.g. Authorization or X-Api-Key)", v)
		}
		a.Header = v
	} else {
		p.Addf(n.Line, key, "header is required (the header that carries the credential, e.g. Authorization)")
	}
	if v, ok := p.Str(f.Get("value_env"), key+".value_env"); ok {
		if !envNameRE.MatchString(v) {
			p.Addf(f.Get("value_env").Line, key+".value_env", "%q is not an environment variable name; put the credential in a variable (e.g. HUBSPOT_TOKEN) and name the variable here, never the credential itself", v)
		}
		a.ValueEnv = v
	} else {
		p.Addf(n.Line, key, "value_env is required (the environment variable holding the whole header value, e.g. HUBSPOT_TOKEN)")
	}
	return a
}

// checkHeldCredentials requires an admin token when any route holds a credential: the admin
// API can make mtguard resend calls with it, and a credential mtguard holds must never be
// usable by an unauthenticated caller.
func (p *configParser) checkHeldCredentials(cfg *Config) {
	if cfg.Admin.HasTokens() {
		return
	}
	for i, r := range cfg.Routes {
		if r.Auth != nil {
			p.Addf(r.Auth.Line, routeKey(i)+".auth", "route %q holds a vendor credential, so the admin API (which can replay calls with it) needs a token: set admin.tokens (or admin.token_env)", r.Name)
		}
	}
}
