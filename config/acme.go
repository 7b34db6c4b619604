package config

import (
	"fmt"
	"net"
	"net/mail"
	"net/url"
	"path/filepath"
	"strings"

	"go.yaml.in/yaml/v3"

	"github.com/mtguard/mtguard/yamlstrict"
)

// DefaultACMEDirectory is the ACME directory used when tls.acme names none: Let's Encrypt's
// production CA.
const DefaultACMEDirectory = "https://acme-v02.api.letsencrypt.org/directory"

// ACME is a tls.acme block: the listener obtains its certificate for Domains from the ACME CA at
// Directory (tls-alpn-01 challenge, answered on the listener itself) and renews it before it
// expires. The account key and the certificates are kept in Cache.
type ACME struct {
	Domains   []string
	Email     string // optional: the CA's contact for the account
	Directory string // the CA's directory URL; DefaultACMEDirectory when not given
	// Cache is the folder of the account key, the certificates and their keys. Load resolves it
	// against the config's folder; when not given, Load makes it DefaultACMECache(store.path).
	Cache string
	// Line is where the block is written, for messages.
	Line int
}

// DefaultACMECache is the cache folder used when tls.acme names none: "acme" beside the store
// file (store.path /var/lib/mtguard/mtguard.db: /var/lib/mtguard/acme).
func DefaultACMECache(storePath string) string {
	return filepath.Join(filepath.Dir(storePath), "acme")
}

// acme reads a tls.acme block, checking each value without contacting the CA.
func (p *configParser) acme(n *yaml.Node, key string) *ACME {
	if !yamlstrict.Present(n) {
		p.AddfAt(n, key, "expected a mapping with keys domains, email, directory, cache, e.g. {domains: [proxy.example.com], email: ops@example.com}")
		return nil
	}
	f, ok := p.Mapping(n, key, "domains", "email", "directory", "cache")
	if !ok {
		return nil
	}
	a := &ACME{Line: n.Line, Directory: DefaultACMEDirectory}
	bad := false
	dn := f.Get("domains")
	if !yamlstrict.Given(dn) {
		p.Addf(n.Line, key, "domains is required: the names the certificate is for, e.g. domains: [proxy.example.com]")
		bad = true
	}
	items := p.List(dn, key+".domains")
	if yamlstrict.Given(dn) && len(items) == 0 && yamlstrict.Deref(dn).Kind == yaml.SequenceNode && len(yamlstrict.Deref(dn).Content) == 0 {
		p.AddfAt(dn, key+".domains", "empty list; name at least one domain the certificate is for")
		bad = true
	}
	seen := map[string]int{}
	for _, it := range items {
		d := strings.ToLower(strings.TrimSpace(it.Val))
		if msg := checkDomain(d); msg != "" {
			p.Addf(it.Line, it.Key, "%q %s", it.Val, msg)
			bad = true
			continue
		}
		if l, dup := seen[d]; dup {
			p.Addf(it.Line, it.Key, "%q is listed twice (first on line %d); remove one", it.Val, l)
			bad = true
			continue
		}
		seen[d] = it.Line
		a.Domains = append(a.Domains, d)
	}
	if en := f.Get("email"); yamlstrict.Given(en) {
		if v, ok := p.Str(en, key+".email"); ok {
			if msg := checkEmail(v); msg != "" {
				p.AddfAt(en, key+".email", "%q %s", v, msg)
				bad = true
			} else {
				a.Email = strings.TrimSpace(v)
			}
		} else {
			bad = true
		}
	}
	if un := f.Get("directory"); yamlstrict.Given(un) {
		if v, ok := p.Str(un, key+".directory"); ok {
			if msg := checkDirectory(v); msg != "" {
				p.AddfAt(un, key+".directory", "%q %s", v, msg)
				bad = true
			} else {
				a.Directory = strings.TrimSpace(v)
			}
		} else {
			bad = true
		}
	}
	if cn := f.Get("cache"); yamlstrict.Given(cn) {
		if v, ok := p.Str(cn, key+".cache"); ok && strings.TrimSpace(v) != "" {
			a.Cache = v
		} else {
			if ok {
				p.AddfAt(cn, key+".cache", "empty path; name the folder for the ACME account key and certificates, or leave cache out for the folder acme beside the store")
			}
			bad = true
		}
	}
	if bad {
		return nil
	}
	return a
}

// checkDomain says what is wrong with d as a name to obtain a certificate for, "" if nothing.
func checkDomain(d string) string {
	switch {
	case d == "":
		return "is empty; name a domain"
	case strings.HasPrefix(d, "*."):
		return "is a wildcard; the tls-alpn-01 challenge mtguard answers cannot prove wildcards: list each name"
	case net.ParseIP(d) != nil:
		return "is an IP address; ACME certificates are for domain names"
	case strings.Contains(d, "://") || strings.ContainsAny(d, "/:"):
		return "is not a domain name; write the bare name, e.g. proxy.example.com (no scheme, port or path)"
	case strings.HasSuffix(d, "."):
		return "ends with a dot; write it without"
	case len(d) > 253:
		return "is longer than 253 characters"
	}
	labels := strings.Split(d, ".")
	if len(labels) < 2 {
		return "is not a fully qualified domain name; name one with a dot, e.g. proxy.example.com"
	}
	for _, l := range labels {
		if l == "" || len(l) > 63 || l[0] == '-' || l[len(l)-1] == '-' {
			return "is not a valid domain name (each dot-separated label 1 to 63 letters, digits or hyphens, not starting or ending with a hyphen)"
		}
		for _, c := range l {
			if (c < 'a' || c > 'z') && (c < '0' || c > '9') && c != '-' {
				if c > 127 {
					return "is not ASCII; write an internationalised name in its xn-- (punycode) form"
				}
				return "is not a valid domain name (letters, digits, hyphens and dots only)"
			}
		}
	}
	return ""
}

// checkEmail says what is wrong with e as the account's contact address, "" if nothing.
func checkEmail(e string) string {
	e = strings.TrimSpace(e)
	a, err := mail.ParseAddress(e)
	if err != nil || a.Address != e || a.Name != "" {
		return "is not an email address; write a bare address, e.g. ops@example.com"
	}
	at := strings.LastIndexByte(e, '@')
	if checkDomain(strings.ToLower(e[at+1:])) != "" {
		return "is not an email address at a domain name, e.g. ops@example.com"
	}
	return ""
}

// checkDirectory says what is wrong with u as an ACME directory URL, "" if nothing.
func checkDirectory(u string) string {
	pu, err := url.Parse(strings.TrimSpace(u))
	switch {
	case err != nil:
		return fmt.Sprintf("is not a URL (%v); name the CA's directory, e.g. %s", err, DefaultACMEDirectory)
	case pu.Scheme != "https":
		return fmt.Sprintf("is not an https URL; ACME directories are served over HTTPS, e.g. %s", DefaultACMEDirectory)
	case pu.Host == "":
		return fmt.Sprintf("has no host; name the CA's directory, e.g. %s", DefaultACMEDirectory)
	case pu.User != nil:
		return "holds credentials; an ACME directory URL has none"
	}
	return ""
}

// fieldLine is the line of key in the mapping read into f, or def.
func fieldLine(f yamlstrict.Map, key string, def int) int {
	for _, fd := range f.Fields() {
		if fd.Name == key {
			return fd.Key.Line
		}
	}
	return def
}
