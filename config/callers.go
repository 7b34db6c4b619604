package config

import (
	"fmt"
	"net/netip"
	"strings"

	"go.yaml.in/yaml/v3"

	"github.com/mtguard/mtguard/proxy"
	"github.com/mtguard/mtguard/yamlstrict"
)

// Caller is one item of a route's callers: list, who may use the route. Exactly one of Key,
// Signature and CIDRs is set. Secrets are named by environment variable and read at start.
type Caller struct {
	// Name is stored on every call that authenticated as this caller; unique in the route, and
	// matches the route name pattern.
	Name      string
	Key       *CallerKey
	Signature *CallerSignature
	// CIDRs are the networks the caller's connections come from; a bare address is a network
	// of one.
	CIDRs []netip.Prefix
	Line  int
}

// CallerKey is a caller's shared key: the header it comes in and the variable holding it.
type CallerKey struct {
	Header, ValueEnv string
}

// CallerSignature is a caller that signs its bodies: the header, the variable holding the HMAC
// secret, and how the header value is written.
type CallerSignature struct {
	Header, SecretEnv string
	Scheme            proxy.SignatureScheme
}

// callers reads a route's callers: list.
func (p *configParser) callers(n *yaml.Node, key string) []Caller {
	n = yamlstrict.Deref(n)
	if !yamlstrict.Present(n) {
		return nil
	}
	items := p.Seq(n, key)
	if len(items) == 0 && n.Kind == yaml.SequenceNode {
		p.Addf(n.Line, key, "the list is empty, so no call could use the route; name at least one caller, or remove callers: to let anyone who reaches the listener call")
	}
	var out []Caller
	seen := map[string]int{}
	for i, item := range items {
		ck := fmt.Sprintf("%s[%d]", key, i)
		c, ok := p.caller(item, ck)
		if !ok {
			continue
		}
		if line, dup := seen[c.Name]; dup && c.Name != "" {
			p.Addf(c.Line, ck+".name", "%q is already the name of the caller on line %d; give each caller its own name", c.Name, line)
			continue
		}
		seen[c.Name] = c.Line
		out = append(out, c)
	}
	return out
}

// caller reads one callers: item: {name, key: {...}} or {name, signature: {...}} or {name, cidrs: [...]}.
func (p *configParser) caller(item *yaml.Node, key string) (Caller, bool) {
	if item.Kind != yaml.MappingNode {
		p.Addf(item.Line, key, "expected a caller (a mapping with name and one of key, signature, cidrs), found %s", yamlstrict.Describe(item))
		return Caller{}, false
	}
	f, _ := p.Mapping(item, key, "name", "key", "signature", "cidrs")
	c := Caller{Line: item.Line}
	if v, ok := p.Str(f.Get("name"), key+".name"); ok {
		if !routeNameRE.MatchString(v) {
			p.Addf(f.Get("name").Line, key+".name", "%q is not a caller name (use lowercase letters, digits, _ and -, e.g. typeform)", v)
		}
		c.Name = v
	} else if !yamlstrict.Given(f.Get("name")) {
		p.Addf(item.Line, key, "name is required (a short id like typeform, stored on every call it makes)")
	}
	var kinds []string // in the order written
	for _, fd := range f.Fields() {
		if fd.Name != "name" && f.Has(fd.Name) {
			kinds = append(kinds, fd.Name)
		}
	}
	switch len(kinds) {
	case 0:
		p.Addf(item.Line, key, "give the caller one of key (a shared key in a header), signature (an HMAC of the body) or cidrs (the networks it calls from)")
		return c, false
	case 1:
	default:
		p.Addf(f.Get(kinds[1]).Line, key+"."+kinds[1], "a caller has one of key, signature or cidrs (found %s); write two callers to accept either", strings.Join(kinds, " and "))
		return c, false
	}
	switch kinds[0] {
	case "key":
		m, _ := p.Mapping(f.Get("key"), key+".key", "header", "value_env")
		c.Key = &CallerKey{
			Header:   p.callerHeader(m, f.Get("key"), key+".key", "X-Mtguard-Key"),
			ValueEnv: p.callerEnv(m, f.Get("key"), key+".key", "value_env", "the key", "SITE_KEY"),
		}
	case "signature":
		sn := f.Get("signature")
		m, _ := p.Mapping(sn, key+".signature", "header", "secret_env", "scheme")
		s := &CallerSignature{
			Header:    p.callerHeader(m, sn, key+".signature", "Typeform-Signature"),
			SecretEnv: p.callerEnv(m, sn, key+".signature", "secret_env", "the HMAC secret", "TYPEFORM_SECRET"),
		}
		if v, ok := p.Str(m.Get("scheme"), key+".signature.scheme"); ok {
			sc, err := proxy.ParseSignatureScheme(v)
			if err != nil {
				p.Addf(m.Get("scheme").Line, key+".signature.scheme", "%q %v", v, err)
			}
			s.Scheme = sc
		} else if !yamlstrict.Given(m.Get("scheme")) {
			p.Addf(yamlstrict.Deref(sn).Line, key+".signature", `scheme is required: how the header value is written, e.g. "sha256={base64 hmac}" or "{hex hmac}"`)
		}
		c.Signature = s
	case "cidrs":
		for _, it := range p.List(f.Get("cidrs"), key+".cidrs") {
			if pf, ok := p.cidr(it); ok {
				c.CIDRs = append(c.CIDRs, pf)
			}
		}
	}
	return c, true
}

// callerHeader reads the header of a key or signature caller.
func (p *configParser) callerHeader(m yamlstrict.Map, n *yaml.Node, key, example string) string {
	v, ok := p.Str(m.Get("header"), key+".header")
	switch {
	case ok && !headerNameRE.MatchString(v):
		p.Addf(m.Get("header").Line, key+".header", "%q is not a header name (e.g. %s)", v, example)
	case !ok && !yamlstrict.Given(m.Get("header")):
		p.Addf(yamlstrict.Deref(n).Line, key, "header is required (the header the caller sends it in, e.g. %s)", example)
	}
	return v
}

// callerEnv reads the variable name that holds a caller's secret.
func (p *configParser) callerEnv(m yamlstrict.Map, n *yaml.Node, key, field, what, example string) string {
	v, ok := p.Str(m.Get(field), key+"."+field)
	switch {
	case ok && !envNameRE.MatchString(v):
		p.Addf(m.Get(field).Line, key+"."+field, "%q is not an environment variable name; put %s in a variable (e.g. %s) and name the variable here, never the secret itself", v, what, example)
	case !ok && !yamlstrict.Given(m.Get(field)):
		p.Addf(yamlstrict.Deref(n).Line, key, "%s is required (the environment variable holding %s, e.g. %s)", field, what, example)
	}
	return v
}

// cidr reads one network of a cidrs: list; a bare address is a network of one.
func (p *configParser) cidr(it yamlstrict.Item) (netip.Prefix, bool) {
	if a, err := netip.ParseAddr(it.Val); err == nil {
		return netip.PrefixFrom(a.Unmap(), a.Unmap().BitLen()), true
	}
	pf, err := netip.ParsePrefix(it.Val)
	if err != nil {
		p.Addf(it.Line, it.Key, "%q is not a network (write CIDR notation such as 203.0.113.0/24 or 2001:db8::/32, or one address)", it.Val)
		return netip.Prefix{}, false
	}
	if m := pf.Masked(); m != pf {
		p.Addf(it.Line, it.Key, "%q has bits set past its /%d; write %s", it.Val, pf.Bits(), m)
		return netip.Prefix{}, false
	}
	return pf, true
}

// checkCallersRequired refuses a route that holds a credential and is reachable beyond this
// machine without naming its callers: anyone who reaches the listener could make mtguard use it.
func (p *configParser) checkCallersRequired(cfg *Config) {
	for i, r := range cfg.Routes {
		if r.Auth == nil || len(r.Callers) > 0 || p.reported(routeKey(i)+".callers") {
			continue
		}
		var open []string
		if r.Prefix != "" && !isLoopback(cfg.Listen) {
			open = append(open, fmt.Sprintf("listen %s", cfg.Listen))
		}
		if r.Host != "" && cfg.Forward.Listen != "" && !isLoopback(cfg.Forward.Listen) {
			open = append(open, fmt.Sprintf("forward.listen %s", cfg.Forward.Listen))
		}
		if len(open) == 0 {
			continue
		}
		p.Addf(r.Auth.Line, routeKey(i)+".auth", "route %q holds a vendor credential and is reachable from other hosts (%s), so it must name its callers: add callers: with a key, signature or cidrs entry for each tool that may use it (see docs/configuration.md#callers-who-may-use-a-route)",
			r.Name, strings.Join(open, ", "))
	}
}

// reported reports whether a problem about key (or a key under it) is already listed.
func (p *configParser) reported(key string) bool {
	for _, pr := range p.Problems {
		if pr.Key == key || strings.HasPrefix(pr.Key, key+".") || strings.HasPrefix(pr.Key, key+"[") {
			return true
		}
	}
	return false
}
