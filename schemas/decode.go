package schemas

import (
	"bytes"
	"encoding/json"
	"unicode/utf8"
)

// decodeJSON builds the same tree as encoding/json decoding into any with UseNumber (objects
// as map[string]any, arrays as []any, numbers as json.Number), from one pass of the scanner
// ScanJSON uses. It is several times faster than encoding/json for the payloads mtguard sees,
// and every call with checks on its route pays it twice (request and response). A document it
// cannot read is handed to encoding/json, which says precisely what is wrong.
func decodeJSON(raw []byte) (any, error) {
	d := decoder{lexer: lexer{b: raw}}
	d.ws()
	v, ok := d.val(0)
	if ok {
		d.ws()
		ok = d.i == len(d.b)
	}
	if !ok {
		return decodeStd(raw)
	}
	return v, nil
}

// decodeStd is encoding/json's decoding, for its error messages and its leniency (it reads the
// first value and ignores what follows).
func decodeStd(raw []byte) (any, error) {
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil {
		return nil, err
	}
	return v, nil
}

type decoder struct{ lexer }

func (d *decoder) val(depth int) (any, bool) {
	if d.i >= len(d.b) || depth > maxScanDepth {
		return nil, false
	}
	switch c := d.b[d.i]; {
	case c == '{':
		return d.obj(depth)
	case c == '[':
		return d.arr(depth)
	case c == '"':
		s, ok := d.str()
		return s, ok
	case c == 't':
		return true, d.literal("true")
	case c == 'f':
		return false, d.literal("false")
	case c == 'n':
		return nil, d.literal("null")
	case c == '-' || c >= '0' && c <= '9':
		start := d.i
		if !d.number() {
			return nil, false
		}
		if !validNumber(d.b[start:d.i]) {
			return nil, false
		}
		return json.Number(d.b[start:d.i]), true
	}
	return nil, false
}

// validNumber says whether b is exactly one number by JSON's grammar.
func validNumber(b []byte) bool {
	num, ok := parseNumber(b, 0)
	return ok && num.end == len(b)
}

func (d *decoder) obj(depth int) (any, bool) {
	d.i++
	m := map[string]any{}
	if d.empty('}') {
		return m, true
	}
	for {
		d.ws()
		if d.i >= len(d.b) || d.b[d.i] != '"' {
			return nil, false
		}
		k, ok := d.str()
		if !ok {
			return nil, false
		}
		if !d.colon() {
			return nil, false
		}
		v, ok := d.val(depth + 1)
		if !ok {
			return nil, false
		}
		m[k] = v
		more, ok := d.next('}')
		if !ok {
			return nil, false
		}
		if !more {
			return m, true
		}
	}
}

func (d *decoder) arr(depth int) (any, bool) {
	d.i++
	a := []any{}
	if d.empty(']') {
		return a, true
	}
	for {
		d.ws()
		v, ok := d.val(depth + 1)
		if !ok {
			return nil, false
		}
		a = append(a, v)
		more, ok := d.next(']')
		if !ok {
			return nil, false
		}
		if !more {
			return a, true
		}
	}
}

// str reads a string; strings with escapes or invalid UTF-8 go through encoding/json, which
// applies the same replacements ParseBody always did.
func (d *decoder) str() (string, bool) {
	start := d.i
	if !d.skipString() {
		return "", false
	}
	inner := d.b[start+1 : d.i-1]
	if bytes.IndexByte(inner, '\\') < 0 && utf8.Valid(inner) {
		return string(inner), true
	}
	var s string
	if err := json.Unmarshal(d.b[start:d.i], &s); err != nil {
		return "", false
	}
	return s, true
}
