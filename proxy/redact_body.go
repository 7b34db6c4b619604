package proxy

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"io"
	"mime"
	"mime/multipart"
	"net/textproto"
	"net/url"
	"regexp"
	"slices"
	"strings"

	"github.com/mtguard/mtguard/txn"
)

// minScrubLen is the shortest secret value that is hunted down wherever it appears in a
// stored call. A shorter one (a 4-digit PIN, "true", a 6-letter password) would also match
// ordinary text and wreck the record; it is still redacted where its name says it is secret.
const minScrubLen = 8

// secretSet holds the secret values seen in one call: in its request's secret headers,
// query parameters and fields, and the credential its route holds. Every stored part of the
// call is scrubbed of them, so a vendor that echoes a token back (in its body, in a URL in
// its body, in a header) does not put it in the log. A nil *secretSet collects nothing.
type secretSet struct {
	vals []string
	// cached is forms() of vals, valid while fresh: a call's secrets are scrubbed from its
	// request, its provisional result and its final result, and each needs every form.
	cached []string
	fresh  bool
}

// add records v, if it is long enough to be hunted down safely.
func (s *secretSet) add(v string) {
	if s == nil {
		return
	}
	v = strings.TrimSpace(v)
	if len(v) < minScrubLen || strings.Contains(v, Redacted) || slices.Contains(s.vals, v) {
		return
	}
	s.vals = append(s.vals, v)
	s.fresh = false
}

// addCredential records a header value and the parts a vendor may echo on their own: the
// token after an auth scheme ("Bearer <token>"), the password inside Basic credentials, each
// cookie's value.
func (s *secretSet) addCredential(v string) {
	if s == nil {
		return
	}
	s.add(v)
	scheme, rest, ok := strings.Cut(strings.TrimSpace(v), " ")
	if ok {
		rest = strings.TrimSpace(rest)
		s.add(rest)
		if strings.EqualFold(scheme, "Basic") {
			if dec, err := base64.StdEncoding.DecodeString(rest); err == nil {
				s.add(string(dec))
				if _, pw, ok := strings.Cut(string(dec), ":"); ok {
					s.add(pw)
				}
			}
		}
	}
	// Cookie: a=1; b=2 and Set-Cookie: a=1; Path=/ (a cookie value may hold a session token).
	for _, kv := range strings.Split(v, ";") {
		if _, val, ok := strings.Cut(kv, "="); ok {
			s.add(strings.Trim(strings.TrimSpace(val), `"`))
		}
	}
}

// addJSON records every scalar under a secret JSON field (an object under "auth" holds
// nothing but secrets).
func (s *secretSet) addJSON(v any) {
	if s == nil {
		return
	}
	switch t := v.(type) {
	case string:
		s.add(t)
	case map[string]any:
		for _, el := range t {
			s.addJSON(el)
		}
	case []any:
		for _, el := range t {
			s.addJSON(el)
		}
	case nil, bool:
	default:
		if b, err := json.Marshal(t); err == nil {
			s.add(string(b))
		}
	}
}

func (s *secretSet) empty() bool { return s == nil || len(s.vals) == 0 }

// forms returns every way the secrets may be written, longest first so that a whole
// "Bearer <token>" is replaced before the token inside it: as they are, percent-encoded (in
// a URL), and JSON-escaped (in a body, "/" also as "\/").
func (s *secretSet) forms() []string {
	if s == nil {
		return nil
	}
	if s.fresh {
		return s.cached
	}
	var out []string
	for _, v := range s.vals {
		if plainSecret(v) {
			// Every form is v itself: the common API key or token, found without the five
			// encodings (a dozen allocations per call).
			if !slices.Contains(out, v) {
				out = append(out, v)
			}
			continue
		}
		b := txn.AppendJSONString(nil, v) // as json.Marshal writes it
		j := string(b[1 : len(b)-1])
		for _, f := range [...]string{v, url.QueryEscape(v), url.PathEscape(v), j, strings.ReplaceAll(j, "/", `\/`)} {
			if !slices.Contains(out, f) {
				out = append(out, f)
			}
		}
	}
	slices.SortStableFunc(out, func(a, b string) int { return len(b) - len(a) })
	s.cached, s.fresh = out, true
	return out
}

// plainSecret reports whether v reads the same in every form forms() writes: only letters,
// digits and the bytes that neither URL escaping nor JSON escaping touches.
func plainSecret(v string) bool {
	for i := 0; i < len(v); i++ {
		c := v[i]
		if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '-' || c == '_' || c == '.' || c == '~') {
			return false
		}
	}
	return true
}

// scrub replaces every form of every secret in v.
func scrubString(v string, forms []string) string {
	for _, f := range forms {
		if strings.Contains(v, f) {
			v = strings.ReplaceAll(v, f, Redacted)
		}
	}
	return v
}

func scrubBytes(b []byte, forms []string) []byte {
	for _, f := range forms {
		if bytes.Contains(b, []byte(f)) {
			b = bytes.ReplaceAll(b, []byte(f), []byte(Redacted))
		}
	}
	return b
}

// scrubMessage replaces the secrets wherever they appear in m: its body (text or base64) and
// its header values. A header value that was nothing but a secret becomes Redacted.
func scrubMessage(m *txn.Message, forms []string) {
	if len(forms) == 0 {
		return
	}
	if m.BodyEncoding == "base64" {
		if b, err := base64.StdEncoding.DecodeString(m.Body); err == nil {
			if s := scrubBytes(b, forms); !bytes.Equal(s, b) {
				m.Body = base64.StdEncoding.EncodeToString(s)
			}
		}
	} else {
		m.Body = scrubString(m.Body, forms)
	}
	for k, vs := range m.Headers {
		var out []string
		for i, v := range vs {
			if s := scrubString(v, forms); s != v {
				if out == nil {
					out = slices.Clone(vs) // the header map may be shared: never write into it
				}
				out[i] = s
			}
		}
		if out != nil {
			m.Headers[k] = out
		}
	}
}

// redactMultipart rebuilds a multipart body (multipart/form-data and its kin) with the
// content of every part whose name is secret replaced. ok is false when raw is not a
// multipart body it could read to the end; the caller then treats it as text.
func (r *Redactor) redactMultipart(raw []byte, contentType string, found *secretSet) ([]byte, bool) {
	mt, params, err := mime.ParseMediaType(contentType)
	if err != nil || !strings.HasPrefix(mt, "multipart/") || params["boundary"] == "" {
		return nil, false
	}
	mr := multipart.NewReader(bytes.NewReader(raw), params["boundary"])
	var out bytes.Buffer
	mw := multipart.NewWriter(&out)
	if mw.SetBoundary(params["boundary"]) != nil {
		return nil, false
	}
	changed := false
	for {
		part, err := mr.NextRawPart()
		if err == io.EOF {
			break
		}
		if err != nil {
			return nil, false
		}
		content, err := io.ReadAll(part)
		if err != nil {
			return nil, false
		}
		if name := part.FormName(); name != "" && r.secretName(kindField, name) {
			found.add(string(content))
			content, changed = []byte(Redacted), true
		} else if b := r.redactText(content, found); !bytes.Equal(b, content) {
			content, changed = b, true
		}
		w, err := mw.CreatePart(textproto.MIMEHeader(part.Header))
		if err != nil {
			return nil, false
		}
		w.Write(content)
	}
	if !changed {
		return raw, true
	}
	mw.Close()
	return out.Bytes(), true
}

// textPair finds a name followed by a separator in text: password=..., "apiKey": "...",
// client_secret: ..., <password>...; the value is read by hand after the match.
var textPair = regexp.MustCompile(`(["'<]?)([A-Za-z0-9_.\-]+)["']?[ \t]*([:=>])[ \t]*`)

// bearerWord finds an auth scheme followed by its token, anywhere in text; a token holds a
// digit ("Basic authentication required" holds none).
var bearerWord = regexp.MustCompile(`(?i)\b(?:bearer|basic)[ \t]+([A-Za-z0-9\-._~+/]{8,}=*)`)

// redactText replaces, where they stand, the values of the secret names a text spells out
// (the field rules apply), and the tokens that follow an auth scheme. It reads text, XML,
// and JSON or forms too malformed to parse, including bodies cut short.
func (r *Redactor) redactText(b []byte, found *secretSet) []byte {
	var buf bytes.Buffer
	last, pos := 0, 0
	for pos < len(b) {
		loc := textPair.FindSubmatchIndex(b[pos:])
		if loc == nil {
			break
		}
		open, name, sep := string(b[pos+loc[2]:pos+loc[3]]), string(b[pos+loc[4]:pos+loc[5]]), b[pos+loc[6]]
		vStart := pos + loc[1]
		if (sep == '>') != (open == "<") || !r.secretName(kindField, name) {
			pos += loc[5] // past the name only: a URL value may hold a secret pair itself
			continue
		}
		vs, ve := textValue(b, vStart, sep)
		if ve > vs && string(b[vs:ve]) != Redacted {
			found.add(string(b[vs:ve]))
			buf.Write(b[last:vs])
			buf.WriteString(Redacted)
			last = ve
		}
		pos = max(ve, vStart)
	}
	if last > 0 {
		buf.Write(b[last:])
		b = buf.Bytes()
	}
	// An auth scheme's token anywhere: "sent with Authorization: Bearer ..." in a note.
	if ms := bearerWord.FindAllSubmatchIndex(b, -1); len(ms) > 0 {
		var out bytes.Buffer
		last := 0
		for _, m := range ms {
			if !bytes.ContainsAny(b[m[2]:m[3]], "0123456789") {
				continue
			}
			found.add(string(b[m[2]:m[3]]))
			out.Write(b[last:m[2]])
			out.WriteString(Redacted)
			last = m[3]
		}
		out.Write(b[last:])
		b = out.Bytes()
	}
	return b
}

// textValue returns the span of the value that starts at i after separator sep: a quoted
// string up to its closing quote (escapes skipped) or the end of the text; after '>' up to
// the next '<'; after '=' up to a space or a delimiter; after ':' up to the end of the line
// or a delimiter. An auth scheme keeps its token: "Bearer abc" is one value.
func textValue(b []byte, i int, sep byte) (int, int) {
	if i >= len(b) {
		return i, i
	}
	if q := b[i]; q == '"' || q == '\'' {
		j := i + 1
		for j < len(b) && b[j] != q {
			if b[j] == '\\' {
				j++
			}
			j++
		}
		return i + 1, min(j, len(b))
	}
	stop := func(c byte) bool {
		switch sep {
		case '>':
			return c == '<'
		case '=':
			return c == ' ' || c == '\t' || c == '\r' || c == '\n' || strings.IndexByte(`&,;"'<>{}[]()`, c) >= 0
		default:
			return c == '\r' || c == '\n' || strings.IndexByte(`&,;"'<>{}[]`, c) >= 0
		}
	}
	j := i
	for j < len(b) && !stop(b[j]) {
		j++
	}
	e := j
	for e > i && (b[e-1] == ' ' || b[e-1] == '\t') {
		e--
	}
	return i, e
}

// scrubCall replaces every secret value seen in tx's request, or held by its route, wherever it
// appears in the answer side of tx: its response, its error and findings. It returns errMsg
// scrubbed too, for the log. The request side (its stored URLs and request) was scrubbed of
// the same set by sealRequest before its intent was written, and is not changed since: a
// second search of the request body for every form cost ~2 µs a call.
func scrubCall(tx *txn.Transaction, set *secretSet, errMsg string) string {
	if set.empty() {
		return errMsg
	}
	forms := set.forms()
	scrubResult(&tx.Result, forms)
	return scrubString(errMsg, forms)
}

// scrubResult removes every form of the call's secrets from the answer side of a call.
func scrubResult(r *txn.Result, forms []string) {
	scrubMessage(&r.Response, forms)
	r.Error = scrubString(r.Error, forms)
	for i := range r.Findings {
		f := &r.Findings[i]
		f.Message, f.Detail = scrubString(f.Message, forms), scrubString(f.Detail, forms)
	}
	for i := range r.Records {
		r.Records[i].Reason = scrubString(r.Records[i].Reason, forms)
	}
}

// requestText is the request body to scan and store: decoded when its Content-Encoding is one
// mtguard undoes (within max_body, so a small bomb cannot inflate past it), otherwise as sent.
// A body over max_body is only its first bytes and is left as it is.
func (f *flight) requestText() ([]byte, string) {
	if f.tooLarge {
		return f.body, ""
	}
	if plain, enc, ok := decodeContent(f.req.Header.Get("Content-Encoding"), f.body, f.p.cfg.MaxBody); ok {
		return plain, enc
	}
	return f.body, ""
}

// sealRequest finishes the stored request: it marks a decoded body (keeping the size sent on
// the wire), gathers every secret value of the call (those capture found in the headers and
// the body, the redacted query values, the credential the route holds), scrubs them from the
// stored request and URLs before the intent is written, and keeps them for finish, which
// scrubs the rest of the call.
func (f *flight) sealRequest(found *secretSet, decoded string, size int64) {
	tx, red := f.tx, f.p.cfg.Redactor
	if decoded != "" {
		tx.Request.Decoded, tx.Request.Size = decoded, size
	}
	red.url(f.req.URL, found) // the caller's query, as forwarded
	if r := f.call.Route; r != nil && r.Auth != nil {
		found.addCredential(r.Auth.Value)
	}
	f.callerSecrets(found)
	if found.empty() {
		return
	}
	forms := found.forms()
	tx.Path = scrubString(tx.Path, forms)
	tx.UpstreamURL = scrubString(tx.UpstreamURL, forms)
	scrubMessage(&tx.Request, forms)
	f.p.secrets.Store(tx, found)
}

// scrubSecrets scrubs the secrets of tx's call from what is stored of it, and forgets them.
func (p *Pipeline) scrubSecrets(tx *txn.Transaction, errMsg string) string {
	v, ok := p.secrets.LoadAndDelete(tx)
	if !ok {
		return errMsg
	}
	return scrubCall(tx, v.(*secretSet), errMsg)
}
