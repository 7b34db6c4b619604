package proxy

import (
	"bytes"
	"encoding/json"
	"unicode/utf8"

	"github.com/mtguard/mtguard/txn"
)

// Redacting a JSON body used to decode it into a tree, replace the secret fields' values and
// encode the tree again: two thirds of the cost of the full pipeline's stored copy of a call
// (issue 20). redactJSONStream writes the redacted copy in one pass over the bytes instead.
// Its output is what marshalTree writes for the redacted tree (compact, every string in
// encoding/json's escaping, so the byte search for a secret's forms that follows sees the
// same text), except that object keys stay in the order they were sent in.

// maxRedactDepth matches the depth schemas' own reader gives up at; a deeper document goes
// the tree's way.
const maxRedactDepth = 200

// redactJSONStream returns raw with the value of every secret field replaced by Redacted,
// adding the values to found. ok is false when raw is not one JSON document this reader
// accepts (invalid, trailing data, too deep); the caller then takes the tree's way, which
// says why or reads it leniently.
func (r *Redactor) redactJSONStream(raw []byte, found *secretSet) (out []byte, changed, ok bool) {
	w := jsonRedactor{r: r, b: raw, out: make([]byte, 0, len(raw)+32), found: found}
	w.ws()
	if !w.value(0) {
		return nil, false, false
	}
	w.ws()
	if w.i != len(w.b) {
		return nil, false, false
	}
	return w.out, w.changed, true
}

type jsonRedactor struct {
	r       *Redactor
	b       []byte
	i       int
	out     []byte
	found   *secretSet
	changed bool
}

func (w *jsonRedactor) ws() {
	for w.i < len(w.b) {
		switch w.b[w.i] {
		case ' ', '\t', '\n', '\r':
			w.i++
		default:
			return
		}
	}
}

func (w *jsonRedactor) value(depth int) bool {
	if w.i >= len(w.b) || depth > maxRedactDepth {
		return false
	}
	switch c := w.b[w.i]; {
	case c == '{':
		return w.object(depth)
	case c == '[':
		return w.array(depth)
	case c == '"':
		start := w.i
		if !w.skipString() {
			return false
		}
		return w.writeString(w.b[start:w.i])
	case c == 't':
		return w.literal("true")
	case c == 'f':
		return w.literal("false")
	case c == 'n':
		return w.literal("null")
	case c == '-' || c >= '0' && c <= '9':
		return w.number()
	}
	return false
}

func (w *jsonRedactor) object(depth int) bool {
	w.i++ // {
	w.out = append(w.out, '{')
	w.ws()
	if w.i < len(w.b) && w.b[w.i] == '}' {
		w.i++
		w.out = append(w.out, '}')
		return true
	}
	for first := true; ; first = false {
		w.ws()
		if w.i >= len(w.b) || w.b[w.i] != '"' {
			return false
		}
		start := w.i
		if !w.skipString() {
			return false
		}
		quoted := w.b[start:w.i]
		key := quoted[1 : len(quoted)-1]
		if bytes.IndexByte(key, '\\') >= 0 {
			var k string
			if json.Unmarshal(quoted, &k) != nil {
				return false
			}
			key = []byte(k)
		}
		if !first {
			w.out = append(w.out, ',')
		}
		if !w.writeString(quoted) {
			return false
		}
		w.ws()
		if w.i >= len(w.b) || w.b[w.i] != ':' {
			return false
		}
		w.i++
		w.out = append(w.out, ':')
		w.ws()
		if w.r.IsSecretField(key) {
			if !w.secretValue(depth + 1) {
				return false
			}
		} else if !w.value(depth + 1) {
			return false
		}
		if more, ok := w.next('}'); !more {
			return ok
		}
	}
}

func (w *jsonRedactor) array(depth int) bool {
	w.i++ // [
	w.out = append(w.out, '[')
	w.ws()
	if w.i < len(w.b) && w.b[w.i] == ']' {
		w.i++
		w.out = append(w.out, ']')
		return true
	}
	for first := true; ; first = false {
		if !first {
			w.out = append(w.out, ',')
		}
		w.ws()
		if !w.value(depth + 1) {
			return false
		}
		if more, ok := w.next(']'); !more {
			return ok
		}
	}
}

// next reads what follows an object's member or an array's element: a comma (more is true)
// or the closing byte, which it writes (ok is true). Anything else fails the document.
func (w *jsonRedactor) next(closing byte) (more, ok bool) {
	w.ws()
	if w.i >= len(w.b) {
		return false, false
	}
	switch w.b[w.i] {
	case ',':
		w.i++
		return true, true
	case closing:
		w.i++
		w.out = append(w.out, closing)
		return false, true
	}
	return false, false
}

// secretValue reads the value of a secret field (checking it as any other), adds its scalars
// to found, and writes Redacted in its place.
func (w *jsonRedactor) secretValue(depth int) bool {
	start, mark := w.i, len(w.out)
	if !w.value(depth) {
		return false
	}
	w.out = append(w.out[:mark], `"`+Redacted+`"`...)
	w.changed = true
	return addSecretValue(w.found, w.b[start:w.i])
}

// addSecretValue adds the scalars of v, a secret field's JSON value, to found. It is false
// when v does not decode.
func addSecretValue(found *secretSet, v []byte) bool {
	if len(v) > 1 && v[0] == '"' && bytes.IndexByte(v, '\\') < 0 && utf8.Valid(v) {
		found.add(string(v[1 : len(v)-1]))
		return true
	}
	dec := json.NewDecoder(bytes.NewReader(v))
	dec.UseNumber()
	var tree any
	if err := dec.Decode(&tree); err != nil {
		return false
	}
	found.addJSON(tree)
	return true
}

// spliceRedacted returns raw, a canonical JSON document (schemas.Scanned), with each of the
// secret values at spans replaced by Redacted: what redactJSONStream writes for it, from the
// scan the record keys took anyway. It adds the values to found. nil when a value does not
// decode (the caller then takes the stream's way, which says so).
func spliceRedacted(raw []byte, spans [][2]int, found *secretSet) []byte {
	out := make([]byte, 0, len(raw)+32)
	last := 0
	for _, sp := range spans {
		if !addSecretValue(found, raw[sp[0]:sp[1]]) {
			return nil
		}
		out = append(out, raw[last:sp[0]]...)
		out = append(out, `"`+Redacted+`"`...)
		last = sp[1]
	}
	return append(out, raw[last:]...)
}

// skipString moves past a string starting at w.i (a quote); its escapes are checked when it
// is written.
func (w *jsonRedactor) skipString() bool {
	w.i++
	// Most strings hold no escape: find the closing quote at once, then only look for the
	// control bytes JSON forbids (as schemas' scanner does).
	if q := bytes.IndexByte(w.b[w.i:], '"'); q >= 0 {
		if inner := w.b[w.i : w.i+q]; bytes.IndexByte(inner, '\\') < 0 {
			for _, c := range inner {
				if c < 0x20 {
					return false
				}
			}
			w.i += q + 1
			return true
		}
	}
	for w.i < len(w.b) {
		switch c := w.b[w.i]; {
		case c == '"':
			w.i++
			return true
		case c == '\\':
			w.i += 2
		case c < 0x20:
			return false
		default:
			w.i++
		}
	}
	return false
}

// writeString writes a quoted string as encoding/json would: one of plain ASCII as it is, any
// other decoded and escaped again.
func (w *jsonRedactor) writeString(quoted []byte) bool {
	inner := quoted[1 : len(quoted)-1]
	if txn.PlainJSON(inner) {
		w.out = append(w.out, quoted...)
		return true
	}
	var s string
	if bytes.IndexByte(inner, '\\') < 0 {
		s = string(inner)
	} else if json.Unmarshal(quoted, &s) != nil {
		return false
	}
	w.out = txn.AppendJSONString(w.out, s)
	return true
}

func (w *jsonRedactor) literal(lit string) bool {
	if len(w.b)-w.i < len(lit) || string(w.b[w.i:w.i+len(lit)]) != lit {
		return false
	}
	w.i += len(lit)
	w.out = append(w.out, lit...)
	return true
}

// number moves past a number in JSON's grammar and writes it as it is (the tree kept it as a
// json.Number, which is written the same way).
func (w *jsonRedactor) number() bool {
	start := w.i
	if w.b[w.i] == '-' {
		w.i++
	}
	switch {
	case w.i < len(w.b) && w.b[w.i] == '0':
		w.i++
	case w.digits() == 0:
		return false
	}
	if w.i < len(w.b) && w.b[w.i] == '.' {
		w.i++
		if w.digits() == 0 {
			return false
		}
	}
	if w.i < len(w.b) && (w.b[w.i] == 'e' || w.b[w.i] == 'E') {
		w.i++
		if w.i < len(w.b) && (w.b[w.i] == '+' || w.b[w.i] == '-') {
			w.i++
		}
		if w.digits() == 0 {
			return false
		}
	}
	w.out = append(w.out, w.b[start:w.i]...)
	return true
}

func (w *jsonRedactor) digits() int {
	n := 0
	for w.i < len(w.b) && w.b[w.i] >= '0' && w.b[w.i] <= '9' {
		w.i++
		n++
	}
	return n
}
