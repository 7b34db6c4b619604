package proxy

import (
	"bytes"
	"net/http"
	"net/url"
	"regexp"
	"strings"

	"github.com/mtguard/mtguard/schemas"
	"github.com/mtguard/mtguard/txn"
)

// escapedLetter finds an ASCII letter or digit written as a JSON escape: encoders escape
// quotes, controls and non-ASCII text, so one of these spells a name to hide it.
var escapedLetter = regexp.MustCompile(`\\u00[3-7][0-9a-fA-F]`)

// Redacted replaces every secret value before anything is stored or logged.
const Redacted = txn.Redacted

// Built-in redaction lists; RedactConfig adds to them. Names compare by their parts, whatever
// their case style (client_secret also names clientSecret and Client-Secret); beyond these
// lists, a name is secret when one of its parts says so (redact_names.go).
var (
	// defaultSecretHeaders are always redacted.
	defaultSecretHeaders = []string{"Authorization", "Proxy-Authorization", "Cookie", "Set-Cookie", "X-Api-Key", "Api-Key"}
	// defaultSecretQuery are query parameters that vendors use for keys and tokens
	// (HubSpot's legacy hapikey, GA4 Measurement Protocol's api_secret, Meta's access_token).
	defaultSecretQuery = []string{"api_key", "apikey", "hapikey", "access_token", "token", "key", "api_secret", "client_secret", "secret", "password", "signature", "sig", "code", "refresh_token", "private_key"}
	// defaultSecretFields are JSON or form fields whose values are secrets wherever they appear
	// (OAuth token requests and responses pass through the proxy too).
	defaultSecretFields = []string{"password", "client_secret", "access_token", "refresh_token", "id_token", "api_key", "apikey", "api_secret", "secret", "token"}
)

// RedactConfig lists names to redact in addition to the built-in ones.
type RedactConfig struct {
	Headers []string // header names
	Query   []string // query parameter names
	Fields  []string // JSON object keys or form field names, at any depth
}

// Redactor removes secrets from headers, URLs and bodies. It is safe for concurrent use.
type Redactor struct {
	// exact holds the built-in and configured names of each kind, as compactName.
	exact [3]map[string]bool
	// needles are lower-case byte strings without which a body cannot hold a secret field,
	// to skip the bodies (most of them) that cannot.
	needles [][]byte
	// seen caches the decision for each name of each kind.
	seen [3]nameCache
}

// NewRedactor returns a Redactor for the built-in names plus cfg's.
func NewRedactor(cfg RedactConfig) *Redactor {
	set := func(a, b []string) map[string]bool {
		m := make(map[string]bool, len(a)+len(b))
		for _, s := range append(append([]string(nil), a...), b...) {
			if c := compactName(s); c != "" {
				m[c] = true
			}
		}
		return m
	}
	r := &Redactor{}
	r.exact[kindHeader] = set(defaultSecretHeaders, cfg.Headers)
	r.exact[kindQuery] = set(defaultSecretQuery, cfg.Query)
	r.exact[kindField] = set(defaultSecretFields, cfg.Fields)
	add := func(s string) {
		for _, n := range r.needles {
			if string(n) == s {
				return
			}
		}
		r.needles = append(r.needles, []byte(s))
	}
	for _, s := range secretSuffixes {
		add(s)
	}
	for s := range secretWords {
		add(s)
	}
	add("key") // apiKey, private_key, X-License-Key
	for f := range r.exact[kindField] {
		add(f)
	}
	for _, f := range cfg.Fields {
		add(strings.ToLower(f))
	}
	return r
}

// secretName reports whether a name of kind holds a secret: a built-in or configured name, or
// a name whose parts say so and which is not one of the notSecretNames.
func (r *Redactor) secretName(kind nameKind, name string) bool {
	if secret, ok := r.seen[kind].get(name); ok {
		return secret
	}
	secret := r.decide(kind, name)
	r.seen[kind].put(name, secret)
	return secret
}

func (r *Redactor) decide(kind nameKind, name string) bool {
	parts := nameParts(name)
	compact := strings.Join(parts, "")
	switch {
	case r.exact[kind][compact]:
		return true
	case kind == kindQuery && r.exact[kindField][compact]:
		return true // a field name in the query string is as secret as in a body
	case notSecretNames[compact]:
		return false
	}
	return secretByParts(kind, parts)
}

// secretHeader is secretName for header names.
func (r *Redactor) secretHeader(name string) bool { return r.secretName(kindHeader, name) }

// Header returns a copy of h with secret values replaced.
func (r *Redactor) Header(h http.Header) http.Header { return r.header(h, nil) }

// header is Header that also adds the values it replaced to found, when found is not nil.
func (r *Redactor) header(h http.Header, found *secretSet) http.Header {
	out := make(http.Header, len(h))
	n := 0
	for _, vs := range h {
		n += len(vs)
	}
	// One backing array for every value: a header map costs two allocations, not one per key.
	all := make([]string, 0, n)
	for k, vs := range h {
		start := len(all)
		if r.secretHeader(k) {
			for _, v := range vs {
				found.addCredential(v)
				all = append(all, Redacted)
			}
		} else {
			all = append(all, vs...)
		}
		out[k] = all[start:len(all):len(all)]
	}
	return out
}

// URL returns u's path and query (and scheme and host when u has them) with secret query
// values and any userinfo replaced.
func (r *Redactor) URL(u *url.URL) string {
	s, _ := r.url(u, nil)
	return s
}

// url is URL that also adds the values it replaced to found, when found is not nil.
func (r *Redactor) url(u *url.URL, found *secretSet) (string, bool) {
	c := *u
	changed := false
	if c.User != nil {
		if p, ok := c.User.Password(); ok {
			found.add(p)
		}
		c.User = url.User(Redacted)
		changed = true
	}
	if c.RawQuery != "" {
		q, err := url.ParseQuery(c.RawQuery)
		if err != nil {
			// An unparsable query may still hold a secret: keep none of it.
			c.RawQuery = "[unparsable query redacted]"
			changed = true
		} else if r.redactValues(q, kindQuery, found) {
			c.RawQuery = q.Encode()
			changed = true
		}
	}
	return c.String(), changed
}

// redactValues replaces the values of secret names of kind in v, adds them to found, and
// reports whether it changed any.
func (r *Redactor) redactValues(v url.Values, kind nameKind, found *secretSet) bool {
	changed := false
	for k, vs := range v {
		if r.secretName(kind, k) {
			for i := range vs {
				found.add(vs[i])
				vs[i] = Redacted
			}
			changed = true
		}
	}
	return changed
}

// Body returns raw with the values of secret fields replaced. parsed is raw already parsed, or
// the zero Body when the caller did not parse it (Body then parses it if it may hold a
// secret). When nothing needs redacting raw itself is returned, so the stored body keeps the
// caller's formatting; otherwise a JSON or form body is re-encoded. A multipart body is
// rebuilt with its secret parts emptied; any other body (text, XML, malformed JSON or form)
// has the values of the secret names it spells out (password=..., "apiKey": "...",
// Authorization: Bearer ...) replaced where they stand.
func (r *Redactor) Body(raw []byte, parsed schemas.Body, contentType string) []byte {
	return r.body(raw, parsed, contentType, nil)
}

// body is Body that also adds the values it replaced to found, when found is not nil.
func (r *Redactor) body(raw []byte, parsed schemas.Body, contentType string, found *secretSet) []byte {
	if !r.mayHoldSecret(raw) {
		return raw
	}
	return r.redactBody(raw, parsed, contentType, found)
}

// redactBody is body for a body already known to hold a secret field (a scan found one), or
// one mayHoldSecret let through.
func (r *Redactor) redactBody(raw []byte, parsed schemas.Body, contentType string, found *secretSet) []byte {
	owned := parsed.Kind == "" // a tree parsed here, which nothing else reads: redact it in place
	if parsed.JSON != nil || owned && schemas.MediaKind(contentType, raw) == "json" {
		// One pass over the bytes, no tree (redact_stream.go); a document it does not take
		// goes the tree's way below.
		if out, changed, ok := r.redactJSONStream(raw, found); ok {
			if !changed {
				return raw
			}
			return out
		}
	}
	if owned {
		parsed = schemas.ParseBody(contentType, raw)
	}
	switch {
	case parsed.Form != nil:
		f := url.Values{}
		for k, vs := range parsed.Form {
			f[k] = append([]string(nil), vs...)
		}
		if !r.redactValues(f, kindField, found) {
			return raw
		}
		return []byte(f.Encode())
	case parsed.JSON != nil:
		red, changed := parsed.JSON, false
		if owned {
			changed = r.redactJSONInPlace(parsed.JSON, found)
		} else {
			red, changed = r.redactJSON(parsed.JSON, found)
		}
		if !changed {
			return raw
		}
		b, err := marshalTree(red)
		if err != nil {
			return []byte(`"[body redacted: could not re-encode]"`)
		}
		return b
	}
	if b, ok := r.redactMultipart(raw, contentType, found); ok {
		return b
	}
	return r.redactText(raw, found)
}

// IsSecretField reports whether an object key or form field name is a secret field, in any
// case style; ScanJSON calls it for every (decoded) key of a body.
func (r *Redactor) IsSecretField(key []byte) bool {
	if secret, ok := r.seen[kindField].getBytes(key); ok {
		return secret
	}
	name := string(key)
	secret := r.decide(kindField, name)
	r.seen[kindField].put(name, secret)
	return secret
}

// mayHoldSecret is a cheap pre-check: a body that contains no secret word anywhere cannot
// hold a secret field, and most payloads do not. A letter written as a JSON escape
// ("pass\u0077ord") may spell any key, so a body with one is looked at.
func (r *Redactor) mayHoldSecret(raw []byte) bool {
	if escapedLetter.Match(raw) {
		return true
	}
	lower := bytes.ToLower(raw)
	for _, n := range r.needles {
		if bytes.Contains(lower, n) {
			return true
		}
	}
	return false
}

// jsonHasSecret reports whether any object key in v, at any depth, is a secret field.
func (r *Redactor) jsonHasSecret(v any, depth int) bool {
	if depth > 200 {
		return true // absurdly deep: let the byte search decide
	}
	switch t := v.(type) {
	case map[string]any:
		for k, el := range t {
			if r.secretName(kindField, k) || r.jsonHasSecret(el, depth+1) {
				return true
			}
		}
	case []any:
		for _, el := range t {
			if r.jsonHasSecret(el, depth+1) {
				return true
			}
		}
	}
	return false
}

// redactJSONInPlace is redactJSON for a tree nobody else reads: it replaces the secret fields'
// values in v itself, without copying it, and reports whether it replaced any.
func (r *Redactor) redactJSONInPlace(v any, found *secretSet) bool {
	changed := false
	switch t := v.(type) {
	case map[string]any:
		for k, el := range t {
			if r.secretName(kindField, k) {
				found.addJSON(el)
				t[k] = Redacted
				changed = true
				continue
			}
			changed = r.redactJSONInPlace(el, found) || changed
		}
	case []any:
		for _, el := range t {
			changed = r.redactJSONInPlace(el, found) || changed
		}
	}
	return changed
}

// redactJSON returns a copy of v with secret fields replaced, adding their values to found;
// it does not modify v, which later checks still read.
func (r *Redactor) redactJSON(v any, found *secretSet) (any, bool) {
	switch t := v.(type) {
	case map[string]any:
		out := make(map[string]any, len(t))
		changed := false
		for k, el := range t {
			if r.secretName(kindField, k) {
				found.addJSON(el)
				out[k] = Redacted
				changed = true
				continue
			}
			red, c := r.redactJSON(el, found)
			out[k] = red
			changed = changed || c
		}
		return out, changed
	case []any:
		out := make([]any, len(t))
		changed := false
		for i, el := range t {
			red, c := r.redactJSON(el, found)
			out[i] = red
			changed = changed || c
		}
		return out, changed
	}
	return v, false
}
