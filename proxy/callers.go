package proxy

import (
	"crypto/hmac"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/netip"
	"strings"

	"github.com/mtguard/mtguard/txn"
)

// Caller is one party allowed to use a route (a route's callers:). Exactly one of Key,
// Signature and CIDRs is set; a call is the first caller, in order, whose test it passes.
type Caller struct {
	// Name is stored on every call that authenticated as this caller (txn.Call.Caller).
	Name      string
	Key       *CallerKey
	Signature *CallerSignature
	// CIDRs are the networks the caller's connections come from (the TCP peer's address).
	CIDRs []netip.Prefix
}

// CallerKey is a shared key the caller presents in a header. The header is removed before the
// call is forwarded: the key is mtguard's, the vendor has no use for it.
type CallerKey struct {
	Header string
	Value  string // read from the environment at start; never stored or logged
}

// CallerSignature is an HMAC-SHA256 of the raw request body, keyed with Secret, that the caller
// writes in Header as Scheme says. The header is forwarded as it came.
type CallerSignature struct {
	Header string
	Secret string // read from the environment at start; never stored or logged
	Scheme SignatureScheme
}

// SignatureScheme is how a signature header is written: a literal prefix ("sha256=") followed
// by the HMAC in an encoding.
type SignatureScheme struct {
	Prefix   string
	Encoding string // SignatureBase64 or SignatureHex
}

// The encodings of a signature scheme, and the placeholders that name them.
const (
	SignatureBase64 = "base64"
	SignatureHex    = "hex"
)

// ParseSignatureScheme reads a scheme template: an optional prefix, then "{base64 hmac}" or
// "{hex hmac}", and nothing after it ("sha256={base64 hmac}").
func ParseSignatureScheme(s string) (SignatureScheme, error) {
	i := strings.IndexByte(s, '{')
	if i < 0 {
		return SignatureScheme{}, errors.New(`has no placeholder; write where the HMAC goes, e.g. "sha256={base64 hmac}" or "{hex hmac}"`)
	}
	j := strings.IndexByte(s[i:], '}')
	if j < 0 {
		return SignatureScheme{}, fmt.Errorf("has an unclosed placeholder %q; write {base64 hmac} or {hex hmac}", s[i:])
	}
	ph, rest := s[i+1:i+j], s[i+j+1:]
	var enc string
	switch strings.Join(strings.Fields(ph), " ") {
	case "base64 hmac":
		enc = SignatureBase64
	case "hex hmac":
		enc = SignatureHex
	default:
		return SignatureScheme{}, fmt.Errorf("has an unknown placeholder {%s}; write {base64 hmac} or {hex hmac}", ph)
	}
	if rest != "" {
		return SignatureScheme{}, fmt.Errorf("has %q after the placeholder; the HMAC must end the header value", rest)
	}
	return SignatureScheme{Prefix: s[:i], Encoding: enc}, nil
}

// String is the scheme as a template.
func (s SignatureScheme) String() string { return s.Prefix + "{" + s.Encoding + " hmac}" }

// Sign returns the header value the scheme gives body signed with secret: what a caller sends.
func (s SignatureScheme) Sign(secret string, body []byte) string {
	m := hmac.New(sha256.New, []byte(secret))
	m.Write(body)
	sum := m.Sum(nil)
	if s.Encoding == SignatureHex {
		return s.Prefix + hex.EncodeToString(sum)
	}
	return s.Prefix + base64.StdEncoding.EncodeToString(sum)
}

// verify reports whether v, a header value, is the scheme's signature of body with secret. The
// HMACs are compared in constant time.
func (s SignatureScheme) verify(secret string, body []byte, v string) bool {
	rest, ok := strings.CutPrefix(strings.TrimSpace(v), s.Prefix)
	if !ok {
		return false
	}
	var got []byte
	var err error
	if s.Encoding == SignatureHex {
		got, err = hex.DecodeString(rest)
	} else if got, err = base64.StdEncoding.DecodeString(rest); err != nil {
		got, err = base64.RawURLEncoding.DecodeString(strings.TrimRight(rest, "="))
	}
	if err != nil {
		return false
	}
	m := hmac.New(sha256.New, []byte(secret))
	m.Write(body)
	return hmac.Equal(got, m.Sum(nil))
}

// keyEqual compares a presented key with the configured one in constant time, lengths
// included: both are hashed first.
func keyEqual(presented, want string) bool {
	a, b := sha256.Sum256([]byte(presented)), sha256.Sum256([]byte(want))
	return subtle.ConstantTimeCompare(a[:], b[:]) == 1
}

// header is the header a caller presents its credential in; "" for a CIDR caller.
func (c *Caller) header() string {
	switch {
	case c.Key != nil:
		return c.Key.Header
	case c.Signature != nil:
		return c.Signature.Header
	}
	return ""
}

// callerHeader reports whether name is the header of one of the route's callers: it holds a
// credential for mtguard, never stored, and a replay (started through the admin API) goes
// without it.
func (r *Route) callerHeader(name string) bool {
	for i := range r.Callers {
		if h := r.Callers[i].header(); h != "" && strings.EqualFold(h, name) {
			return true
		}
	}
	return false
}

// callerSecrets adds what the route's callers hold and what the call presented in their
// headers to the call's secrets, and redacts those headers in the stored request whatever
// their names: none of it may reach the store.
func (f *flight) callerSecrets(found *secretSet) {
	route := f.call.Route
	if route == nil || len(route.Callers) == 0 {
		return
	}
	for i := range route.Callers {
		c := &route.Callers[i]
		switch {
		case c.Key != nil:
			found.add(c.Key.Value)
		case c.Signature != nil:
			found.add(c.Signature.Secret)
		default:
			continue
		}
		h := http.CanonicalHeaderKey(c.header())
		for _, v := range f.req.Header.Values(h) {
			found.addCredential(v)
		}
		for k, vs := range f.tx.Request.Headers {
			if strings.EqualFold(k, h) {
				for j := range vs {
					vs[j] = Redacted
				}
			}
		}
	}
}

// authenticate finds the caller of a call on a route that names callers, and refuses the call
// (401, caller.unknown) when it is none of them. A replay is not authenticated: the admin API
// that started it was. The key headers are removed before the call goes on.
func (f *flight) authenticate() *stop {
	route := f.call.Route
	if route == nil || len(route.Callers) == 0 || f.call.ReplayOf != "" {
		return nil
	}
	var why []string
	unverifiable := false
	for i := range route.Callers {
		c := &route.Callers[i]
		ok, reason := f.matchCaller(c)
		if ok {
			f.tx.Caller = c.Name
			break
		}
		if reason == errBodyTooLarge {
			unverifiable = true
		}
		why = append(why, c.Name+": "+reason)
	}
	for i := range route.Callers {
		if k := route.Callers[i].Key; k != nil {
			f.req.Header.Del(k.Header)
		}
	}
	if f.tx.Caller != "" || (unverifiable && f.tooLarge) {
		return nil // a body over max_body cannot be verified: the 413 answers it
	}
	f.tx.Findings = append(f.tx.Findings, finding(txn.CodeCallerUnknown,
		"the call matched none of the route's callers ("+strings.Join(why, "; ")+"); it was not forwarded"))
	return f.refuse(txn.OutcomeRejected, txn.CodeCallerUnknown, txn.Problem{
		Title: "Unknown caller", Status: http.StatusUnauthorized,
		Detail: "this route accepts calls only from its configured callers, and this call matched none of them: it was not forwarded",
	})
}

// errBodyTooLarge is matchCaller's reason for a signature it could not check.
const errBodyTooLarge = "the body is over store.max_body, so its signature cannot be checked"

// matchCaller tests the call against one caller; when it fails, reason says why in words that
// hold no secret (it is stored with the call).
func (f *flight) matchCaller(c *Caller) (ok bool, reason string) {
	switch {
	case c.Key != nil:
		vs := f.req.Header.Values(c.Key.Header)
		if c.Key.Value == "" {
			return false, "no key is configured" // an empty key would let an empty header in
		}
		if len(vs) == 0 {
			return false, "no " + c.Key.Header + " header"
		}
		for _, v := range vs {
			if keyEqual(v, c.Key.Value) {
				return true, ""
			}
		}
		return false, "wrong key in " + c.Key.Header
	case c.Signature != nil:
		vs := f.req.Header.Values(c.Signature.Header)
		if c.Signature.Secret == "" {
			return false, "no secret is configured" // anyone can sign with an empty one
		}
		if len(vs) == 0 {
			return false, "no " + c.Signature.Header + " header"
		}
		if f.tooLarge {
			return false, errBodyTooLarge
		}
		for _, v := range vs {
			if c.Signature.Scheme.verify(c.Signature.Secret, f.body, v) {
				return true, ""
			}
		}
		return false, c.Signature.Header + " is not the body's signature (" + c.Signature.Scheme.String() + ")"
	}
	ip, ok := peerAddr(f.call.RemoteAddr)
	if !ok {
		return false, "the caller's address is unknown"
	}
	for _, p := range c.CIDRs {
		if p.Contains(ip) {
			return true, ""
		}
	}
	return false, ip.String() + " is in none of its networks"
}

// peerAddr is the IP of a host:port remote address, IPv4-mapped IPv6 unmapped.
func peerAddr(remote string) (netip.Addr, bool) {
	host, _, err := net.SplitHostPort(remote)
	if err != nil {
		host = remote
	}
	ip, err := netip.ParseAddr(host)
	if err != nil {
		return netip.Addr{}, false
	}
	return ip.Unmap(), true
}
