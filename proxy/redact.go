package proxy

import (
	"bytes"
	"encoding/json"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"

	"github.com/mtguard/mtguard/schemas"
	"github.com/mtguard/mtguard/txn"
)

// Redacted replaces every secret value before anything is stored or logged.
const Redacted = txn.Redacted

// Built-in redaction lists; RedactConfig adds to them. Names compare case-insensitively.
var (
	// defaultSecretHeaders are always redacted.
	defaultSecretHeaders = []string{"Authorization", "Proxy-Authorization", "Cookie", "Set-Cookie", "X-Api-Key", "Api-Key"}
	// defaultSecretQuery are query parameters that vendors use for keys and tokens
	// (HubSpot's legacy hapikey, GA4 Measurement Protocol's api_secret, Meta's access_token).
	defaultSecretQuery = []string{"api_key", "apikey", "hapikey", "access_token", "token", "key", "api_secret", "client_secret", "secret", "password", "signature", "sig", "code", "refresh_token"}
	// defaultSecretFields are JSON or form fields whose values are secrets wherever they appear
	// (OAuth token requests and responses pass through the proxy too).
	defaultSecretFields = []string{"password", "client_secret", "access_token", "refresh_token", "id_token", "api_key", "apikey", "api_secret", "secret", "token"}
	// secretNameParts mark a header or query name as secret when they appear anywhere in it.
	secretNameParts = []string{"token", "secret", "password", "passwd", "apikey", "api-key", "api_key", "auth", "session", "signature", "credential", "cookie"}
)

// RedactConfig lists names to redact in addition to the built-in ones.
type RedactConfig struct {
	Headers []string // header names
	Query   []string // query parameter names
	Fields  []string // JSON object keys or form field names, at any depth
}

// Redactor removes secrets from headers, URLs and bodies. It is safe for concurrent use.
type Redactor struct {
	headers map[string]bool // lower-case names
	query   map[string]bool
	fields  map[string]bool
	needles [][]byte // lower-case field names, to skip bodies that cannot hold a secret field
	// fieldList is fields as a list, for IsSecretField.
	fieldList [][]byte
	// headerSeen caches secretHeader's answers (name -> bool); headerSeenN counts entries.
	headerSeen  sync.Map
	headerSeenN atomic.Int64
}

// NewRedactor returns a Redactor for the built-in names plus cfg's.
func NewRedactor(cfg RedactConfig) *Redactor {
	set := func(a, b []string) map[string]bool {
		m := make(map[string]bool, len(a)+len(b))
		for _, s := range append(append([]string(nil), a...), b...) {
			m[strings.ToLower(s)] = true
		}
		return m
	}
	r := &Redactor{
		headers: set(defaultSecretHeaders, cfg.Headers),
		query:   set(defaultSecretQuery, cfg.Query),
		fields:  set(defaultSecretFields, cfg.Fields),
	}
	for f := range r.fields {
		r.needles = append(r.needles, []byte(f))
	}
	r.fieldList = r.needles
	return r
}

func (r *Redactor) secretName(exact map[string]bool, name string) bool {
	n := strings.ToLower(name)
	if exact[n] {
		return true
	}
	for _, p := range secretNameParts {
		if strings.Contains(n, p) {
			return true
		}
	}
	return false
}

// secretHeader is secretName for header names, remembered per name: a proxy sees the same
// few dozen header names on every call.
func (r *Redactor) secretHeader(name string) bool {
	if v, ok := r.headerSeen.Load(name); ok {
		return v.(bool)
	}
	secret := r.secretName(r.headers, name)
	if r.headerSeenN.Add(1) <= maxHeaderNamesCached {
		r.headerSeen.Store(name, secret)
	}
	return secret
}

// maxHeaderNamesCached bounds the cache of header-name decisions; callers choose header names,
// so without a bound they could grow it forever.
const maxHeaderNamesCached = 4096

// Header returns a copy of h with secret values replaced.
func (r *Redactor) Header(h http.Header) http.Header {
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
			for range vs {
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
	c := *u
	if c.User != nil {
		c.User = url.User(Redacted)
	}
	if c.RawQuery != "" {
		q, err := url.ParseQuery(c.RawQuery)
		if err != nil {
			// An unparsable query may still hold a secret: keep none of it.
			c.RawQuery = "[unparsable query redacted]"
		} else if r.redactValues(q, r.query) {
			c.RawQuery = q.Encode()
		}
	}
	return c.String()
}

// redactValues replaces the values of secret names in v and reports whether it changed any.
func (r *Redactor) redactValues(v url.Values, exact map[string]bool) bool {
	changed := false
	for k, vs := range v {
		if r.secretName(exact, k) || r.fields[strings.ToLower(k)] {
			for i := range vs {
				vs[i] = Redacted
			}
			changed = true
		}
	}
	return changed
}

// Body returns raw with the values of secret fields replaced. parsed is raw already parsed, or
// the zero Body when the caller did not parse it (Body then parses it if it may hold a
// secret). When nothing needs redacting raw itself is returned,
// so the stored body keeps the caller's formatting; otherwise the body is re-encoded.
func (r *Redactor) Body(raw []byte, parsed schemas.Body, contentType string) []byte {
	if !r.mayHoldSecret(raw) {
		return raw
	}
	if parsed.Kind == "" {
		parsed = schemas.ParseBody(contentType, raw)
	}
	switch {
	case parsed.Form != nil:
		f := url.Values{}
		for k, vs := range parsed.Form {
			f[k] = append([]string(nil), vs...)
		}
		if !r.redactFields(f) {
			return raw
		}
		return []byte(f.Encode())
	case parsed.JSON != nil:
		red, changed := r.redactJSON(parsed.JSON)
		if !changed {
			return raw
		}
		b, err := json.Marshal(red)
		if err != nil {
			return []byte(`"[body redacted: could not re-encode]"`)
		}
		return b
	}
	return raw
}

func (r *Redactor) redactFields(f url.Values) bool {
	changed := false
	for k, vs := range f {
		if r.fields[strings.ToLower(k)] {
			for i := range vs {
				vs[i] = Redacted
			}
			changed = true
		}
	}
	return changed
}

// IsSecretField reports whether an object key or form field name is a secret field, ignoring
// case; ScanJSON calls it for every key of a body.
func (r *Redactor) IsSecretField(key []byte) bool {
	for _, f := range r.fieldList {
		if len(f) == len(key) && bytes.EqualFold(f, key) {
			return true
		}
	}
	return false
}

// mayHoldSecret is a cheap pre-check: a body that contains no secret field name anywhere
// cannot hold a secret field, and most payloads do not.
func (r *Redactor) mayHoldSecret(raw []byte) bool {
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
			if r.fields[strings.ToLower(k)] || r.jsonHasSecret(el, depth+1) {
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

// redactJSON returns a copy of v with secret fields replaced; it does not modify v, which
// later checks still read.
func (r *Redactor) redactJSON(v any) (any, bool) {
	switch t := v.(type) {
	case map[string]any:
		out := make(map[string]any, len(t))
		changed := false
		for k, el := range t {
			if r.fields[strings.ToLower(k)] {
				out[k] = Redacted
				changed = true
				continue
			}
			red, c := r.redactJSON(el)
			out[k] = red
			changed = changed || c
		}
		return out, changed
	case []any:
		out := make([]any, len(t))
		changed := false
		for i, el := range t {
			red, c := r.redactJSON(el)
			out[i] = red
			changed = changed || c
		}
		return out, changed
	}
	return v, false
}
