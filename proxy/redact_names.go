package proxy

import (
	"strings"
	"sync"
	"sync/atomic"
	"unicode"
	"unicode/utf8"
)

// Which kind of name a redaction rule looks at: a header, a query parameter, or a body field
// (a JSON object key, a form or multipart field, a name in a text body).
type nameKind int

const (
	kindHeader nameKind = iota
	kindQuery
	kindField
)

// A name is split into its parts whatever its case style (X-License-Key, private_key,
// clientSecret, APIKey, Client-Secret all give lower-case words), and the parts decide.
var (
	// secretSuffixes make a part secret when it is, or ends with, one of them: "token",
	// "accesstoken" and "hapikey" are secret, "tokens" and "secretary" are not.
	secretSuffixes = []string{"token", "secret", "secrets", "password", "passwd", "passphrase", "apikey",
		"credential", "credentials", "cookie", "privatekey", "secretkey", "accesskey", "licensekey", "signingkey"}
	// secretWords make a part secret when it is exactly one of them ("author" is not "auth").
	secretWords = map[string]bool{"auth": true, "authorization": true, "authentication": true, "signature": true,
		"pwd": true, "jwt": true, "bearer": true}
	// headerQueryWords are secret parts of header and query names only: in a body, session_id
	// is an analytics parameter and a "key" field is usually one half of a key/value pair.
	headerQueryWords = map[string]bool{"key": true, "session": true, "sessionid": true, "sid": true, "sig": true}
	// keyQualifiers make a body field ending in "key" secret: apiKey, private_key, licenseKey.
	keyQualifiers = map[string]bool{"api": true, "private": true, "secret": true, "access": true, "license": true,
		"client": true, "signing": true, "sign": true, "auth": true, "app": true, "subscription": true, "master": true,
		"encryption": true, "developer": true, "dev": true, "server": true, "service": true, "account": true,
		"write": true, "ingest": true, "hubspot": true, "partner": true, "consumer": true, "webhook": true}
	// notSecretNames are never redacted by their parts (a configured name still is), written
	// as their joined parts: they carry a secret word but hold no secret.
	notSecretNames = map[string]bool{
		"accesscontrolallowcredentials": true, // "true": whether a browser may send credentials
		"accesscontrolallowheaders":     true, // lists header names such as Authorization
		"accesscontrolexposeheaders":    true,
		"accesscontrolrequestheaders":   true,
		"wwwauthenticate":               true, // a challenge, not a credential
		"proxyauthenticate":             true,
		"idempotencykey":                true, // a caller's deduplication id; replays need it
		"xidempotencykey":               true,
		"secwebsocketkey":               true, // a handshake nonce
		"secwebsocketaccept":            true,
		"tokentype":                     true, // "bearer"
		"xratelimitremaining":           true,
	}
)

// nameParts splits name into lower-case words: at every byte that is neither a letter nor a
// digit, where a lower-case letter or digit meets an upper-case one (clientSecret), before the
// last capital of a run followed by a lower-case letter (APIKey), and between letters and
// digits (sha256).
func nameParts(name string) []string {
	var parts []string
	var cur strings.Builder
	flush := func() {
		if cur.Len() > 0 {
			parts = append(parts, cur.String())
			cur.Reset()
		}
	}
	var prev rune = -1
	for i, c := range name {
		if !unicode.IsLetter(c) && !unicode.IsDigit(c) {
			flush()
			prev = -1
			continue
		}
		if prev >= 0 {
			next, _ := utf8.DecodeRuneInString(name[i+utf8.RuneLen(c):])
			switch {
			case unicode.IsUpper(c) && (unicode.IsLower(prev) || unicode.IsDigit(prev)):
				flush()
			case unicode.IsUpper(c) && unicode.IsUpper(prev) && unicode.IsLower(next):
				flush()
			case unicode.IsDigit(c) != unicode.IsDigit(prev):
				flush()
			}
		}
		cur.WriteRune(unicode.ToLower(c))
		prev = c
	}
	flush()
	return parts
}

// compactName is name's parts joined: the form in which configured names, the built-in
// lists and notSecretNames are compared, so client_secret also names clientSecret.
func compactName(name string) string {
	return strings.Join(nameParts(name), "")
}

// secretByParts reports whether a name of kind is secret by its parts alone.
func secretByParts(kind nameKind, parts []string) bool {
	for i, p := range parts {
		if secretWords[p] {
			return true
		}
		if kind != kindField && headerQueryWords[p] {
			return true
		}
		if kind == kindField && p == "key" && i > 0 && keyQualifiers[parts[i-1]] {
			return true
		}
		for _, s := range secretSuffixes {
			if strings.HasSuffix(p, s) {
				return true
			}
		}
	}
	return false
}

// nameCache remembers a Redactor's decisions for one kind of name: a proxy sees the same few
// hundred names on every call. It is bounded, since callers choose the names.
//
// Every call looks up each of its header names and body keys, on every CPU at once. A read
// lock would make each lookup write to the lock's shared word, which the CPUs then pass back
// and forth; instead lookups read a map that is never changed once published, and a new
// decision is published in a fresh copy (in batches once the map is large, so that a flood of
// new names costs little copying).
type nameCache struct {
	read    atomic.Pointer[map[string]bool]
	mu      sync.Mutex
	pending map[string]bool // decisions not yet in read
}

// maxNamesCached bounds each cache of name decisions; publishEvery is how many new decisions
// wait before a copy is published, once read holds publishAlways names or more.
const (
	maxNamesCached = 4096
	publishAlways  = 256
	publishEvery   = 32
)

func (c *nameCache) get(name string) (secret, ok bool) {
	if m := c.read.Load(); m != nil {
		if secret, ok = (*m)[name]; ok {
			return secret, true
		}
	}
	return c.getPending(name)
}

// getBytes is get for a name as bytes, without copying it.
func (c *nameCache) getBytes(name []byte) (secret, ok bool) {
	if m := c.read.Load(); m != nil {
		if secret, ok = (*m)[string(name)]; ok {
			return secret, true
		}
	}
	return c.getPending(string(name))
}

func (c *nameCache) getPending(name string) (secret, ok bool) {
	c.mu.Lock()
	secret, ok = c.pending[name]
	c.mu.Unlock()
	return secret, ok
}

func (c *nameCache) put(name string, secret bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	var old map[string]bool
	if m := c.read.Load(); m != nil {
		old = *m
	}
	if _, ok := old[name]; ok || len(old)+len(c.pending) >= maxNamesCached {
		return
	}
	if c.pending == nil {
		c.pending = make(map[string]bool)
	}
	c.pending[name] = secret
	if len(old) >= publishAlways && len(c.pending) < publishEvery {
		return
	}
	m := make(map[string]bool, len(old)+len(c.pending))
	for k, v := range old {
		m[k] = v
	}
	for k, v := range c.pending {
		m[k] = v
	}
	c.read.Store(&m)
	clear(c.pending)
}
