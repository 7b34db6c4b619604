package store

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"net/url"
	"strings"

	"github.com/mtguard/mtguard/txn"
)

// Erased is what Forget writes in place of an erased person's values in the calls it keeps
// (batch calls that also carried other people).
const Erased = "[ERASED]"

// scrubber replaces one person's values in a stored call. An email (a key with "@") is matched
// case-insensitively, also inside longer strings ("Lead jane@acme.com already exists") and
// URL-encoded (jane%40acme.com); any other key (an id) only where a whole value equals it.
type scrubber struct {
	key   string
	email bool
	forms []string // the key as it appears in text: itself and, for an email, URL-encoded
}

func newScrubber(key string) scrubber {
	sc := scrubber{key: key, email: strings.Contains(key, "@"), forms: []string{key}}
	if esc := url.QueryEscape(key); esc != key {
		sc.forms = append(sc.forms, esc)
	}
	return sc
}

// equal reports whether a whole value is the key.
func (sc scrubber) equal(v string) bool {
	v = strings.TrimSpace(v)
	if sc.email {
		return strings.EqualFold(v, sc.key)
	}
	return v == sc.key
}

// value scrubs one decoded value: Erased when it is the key; for an email, every occurrence
// within it replaced.
func (sc scrubber) value(v string) string {
	if sc.equal(v) {
		return Erased
	}
	return sc.text(v)
}

// text replaces every occurrence of an email key (plain or URL-encoded, any case) in s; it
// leaves s as it is for other keys, whose substrings may be anything.
func (sc scrubber) text(s string) string {
	if !sc.email {
		return s
	}
	for _, f := range sc.forms {
		s = replaceFold(s, f, Erased)
	}
	return s
}

// replaceFold replaces every occurrence of old in s, ignoring ASCII and Unicode case, byte by
// byte (s may be any bytes).
func replaceFold(s, old, repl string) string {
	if len(old) == 0 || len(s) < len(old) {
		return s
	}
	var b strings.Builder
	last := 0
	for i := 0; i+len(old) <= len(s); {
		if strings.EqualFold(s[i:i+len(old)], old) {
			b.WriteString(s[last:i])
			b.WriteString(repl)
			i += len(old)
			last = i
			continue
		}
		i++
	}
	if last == 0 {
		return s
	}
	b.WriteString(s[last:])
	return b.String()
}

// json scrubs a JSON text literal by literal, leaving everything else (order, spacing) as it
// was: a string (or a number) that is the key becomes "[ERASED]". It reports false when s is
// not JSON.
func (sc scrubber) json(s string) (string, bool) {
	if !json.Valid([]byte(s)) {
		return s, false
	}
	var b strings.Builder
	last := 0
	replace := func(from, to int, v string) {
		enc, _ := json.Marshal(v)
		b.WriteString(s[last:from])
		b.Write(enc)
		last = to
	}
	for i := 0; i < len(s); {
		switch c := s[i]; {
		case c == '"':
			j := i + 1
			for j < len(s) && s[j] != '"' {
				if s[j] == '\\' {
					j++
				}
				j++
			}
			var v string
			if json.Unmarshal([]byte(s[i:j+1]), &v) == nil {
				if nv := sc.value(v); nv != v {
					replace(i, j+1, nv)
				}
			}
			i = j + 1
		case c == '-' || c >= '0' && c <= '9':
			j := i
			for j < len(s) && strings.IndexByte("+-.eE0123456789", s[j]) >= 0 {
				j++
			}
			if sc.equal(s[i:j]) {
				replace(i, j, Erased)
			}
			i = j
		default:
			i++
		}
	}
	if last == 0 {
		return s, true
	}
	b.WriteString(s[last:])
	return b.String(), true
}

// form scrubs an application/x-www-form-urlencoded text (a body or a query string) pair by
// pair: a name or value that is the key becomes [ERASED]; the others keep their encoding.
func (sc scrubber) form(s string) string {
	parts := strings.Split(s, "&")
	for i, p := range parts {
		name, val, hasVal := strings.Cut(p, "=")
		one := func(enc string) string {
			dec, err := url.QueryUnescape(enc)
			if err != nil {
				return sc.text(enc)
			}
			switch nv := sc.value(dec); {
			case nv == dec:
				return enc
			case nv == Erased:
				return Erased
			default:
				return strings.ReplaceAll(url.QueryEscape(nv), url.QueryEscape(Erased), Erased)
			}
		}
		name = one(name)
		if hasVal {
			parts[i] = name + "=" + one(val)
		} else {
			parts[i] = name
		}
	}
	return strings.Join(parts, "&")
}

// url scrubs a path or URL: path segments that are the key, and its query as a form.
func (sc scrubber) url(s string) string {
	path, query, hasQuery := strings.Cut(s, "?")
	segs := strings.Split(path, "/")
	for i, seg := range segs {
		if dec, err := url.PathUnescape(seg); err == nil && sc.equal(dec) {
			segs[i] = Erased
		} else {
			segs[i] = sc.text(seg)
		}
	}
	path = strings.Join(segs, "/")
	if !hasQuery {
		return path
	}
	return path + "?" + sc.form(query)
}

// message scrubs a stored request or response: headers and body.
func (sc scrubber) message(m *txn.Message) {
	for k, vs := range m.Headers {
		for i, v := range vs {
			vs[i] = sc.value(v)
		}
		m.Headers[k] = vs
	}
	if m.Body == "" {
		return
	}
	if m.BodyEncoding == "base64" {
		if raw, err := base64.StdEncoding.DecodeString(m.Body); err == nil {
			m.Body = base64.StdEncoding.EncodeToString([]byte(sc.text(string(raw))))
		}
		return
	}
	if out, ok := sc.json(m.Body); ok {
		m.Body = out
		return
	}
	if strings.Contains(strings.ToLower(m.ContentType), "x-www-form-urlencoded") {
		m.Body = sc.form(m.Body)
		return
	}
	m.Body = sc.text(m.Body)
}

// call scrubs a whole stored call and drops the key from its record keys.
func (sc scrubber) call(tx *txn.Transaction) {
	keys := tx.RecordKeys[:0]
	for _, k := range tx.RecordKeys {
		if k != sc.key {
			keys = append(keys, k)
		}
	}
	tx.RecordKeys = keys
	tx.Path = sc.url(tx.Path)
	tx.UpstreamURL = sc.url(tx.UpstreamURL)
	sc.message(&tx.Request)
	sc.message(&tx.Response)
	for i := range tx.Records {
		r := &tx.Records[i]
		r.Key, r.Reason = sc.value(r.Key), sc.text(r.Reason)
	}
	for i := range tx.Findings {
		f := &tx.Findings[i]
		f.Message, f.Detail = sc.text(f.Message), sc.text(f.Detail)
	}
	tx.Error = sc.text(tx.Error)
}

// mentions reports whether encoded (a stored record) still holds an email key, in any case.
func (sc scrubber) mentions(encoded []byte) bool {
	if !sc.email {
		return false
	}
	low := bytes.ToLower(encoded)
	for _, f := range sc.forms {
		if bytes.Contains(low, []byte(strings.ToLower(f))) {
			return true
		}
	}
	return false
}
