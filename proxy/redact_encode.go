package proxy

import (
	"encoding/json"
	"slices"
	"unicode/utf8"
)

// The redacted copy of a JSON body is stored as encoding/json would write it (json.Marshal of
// the tree: object keys sorted, HTML-safe escapes). Marshal reaches every value of that tree
// through reflection and sorts each object's keys through a slice of reflect values, which
// made it a third of the cost of redacting a body; appendJSONTree writes the same bytes
// directly. TestAppendJSONTreeMatchesMarshal holds the two together.

// marshalTree returns json.Marshal(v) for a tree decoded by schemas.ParseBody (objects as
// map[string]any, arrays as []any, numbers as json.Number, strings, booleans, nil).
func marshalTree(v any) ([]byte, error) {
	if b, ok := appendJSONTree(make([]byte, 0, 1024), v, 0); ok {
		return b, nil
	}
	return json.Marshal(v) // a value of another type: Marshal knows what to do with it
}

// appendJSONTree appends v's JSON to b; ok is false when v holds a value of a type a decoded
// tree does not have, or is nested deeper than Marshal would go.
func appendJSONTree(b []byte, v any, depth int) ([]byte, bool) {
	if depth > 1000 {
		return b, false
	}
	switch t := v.(type) {
	case nil:
		return append(b, "null"...), true
	case bool:
		if t {
			return append(b, "true"...), true
		}
		return append(b, "false"...), true
	case string:
		return appendJSONText(b, t), true
	case json.Number:
		if t == "" || !json.Valid([]byte(t)) || t[0] == '"' || t[0] == '[' || t[0] == '{' {
			return b, false // Marshal writes "" as 0 and refuses the rest: let it
		}
		return append(b, t...), true
	case map[string]any:
		if t == nil {
			return append(b, "null"...), true
		}
		keys := make([]string, 0, len(t))
		for k := range t {
			keys = append(keys, k)
		}
		slices.Sort(keys)
		b = append(b, '{')
		for i, k := range keys {
			if i > 0 {
				b = append(b, ',')
			}
			b = appendJSONText(b, k)
			b = append(b, ':')
			var ok bool
			if b, ok = appendJSONTree(b, t[k], depth+1); !ok {
				return b, false
			}
		}
		return append(b, '}'), true
	case []any:
		if t == nil {
			return append(b, "null"...), true
		}
		b = append(b, '[')
		for i, el := range t {
			if i > 0 {
				b = append(b, ',')
			}
			var ok bool
			if b, ok = appendJSONTree(b, el, depth+1); !ok {
				return b, false
			}
		}
		return append(b, ']'), true
	}
	return b, false
}

// jsonSafe[c] is true for the ASCII bytes a JSON string holds as they are, with encoding/json's
// HTML escaping (<, > and & are escaped).
var jsonSafe = func() (t [utf8.RuneSelf]bool) {
	for c := 0x20; c < utf8.RuneSelf; c++ {
		t[c] = c != '"' && c != '\\' && c != '<' && c != '>' && c != '&'
	}
	return t
}()

// appendJSONText quotes s as encoding/json does: <, > and & as \u003c..., control characters,
// invalid UTF-8 as \ufffd, and U+2028/U+2029 escaped.
func appendJSONText(b []byte, s string) []byte {
	const hex = "0123456789abcdef"
	b = append(b, '"')
	start := 0
	for i := 0; i < len(s); {
		c := s[i]
		if c < utf8.RuneSelf {
			if jsonSafe[c] {
				i++
				continue
			}
			b = append(b, s[start:i]...)
			switch c {
			case '"', '\\':
				b = append(b, '\\', c)
			case '\b':
				b = append(b, '\\', 'b')
			case '\f':
				b = append(b, '\\', 'f')
			case '\n':
				b = append(b, '\\', 'n')
			case '\r':
				b = append(b, '\\', 'r')
			case '\t':
				b = append(b, '\\', 't')
			default:
				b = append(b, '\\', 'u', '0', '0', hex[c>>4], hex[c&0xF])
			}
			i++
			start = i
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		switch {
		case r == utf8.RuneError && size == 1:
			b = append(b, s[start:i]...)
			b = append(b, `\ufffd`...)
		case r == '\u2028' || r == '\u2029':
			b = append(b, s[start:i]...)
			b = append(b, '\\', 'u', '2', '0', '2', hex[r&0xF])
		default:
			i += size
			continue
		}
		i += size
		start = i
	}
	b = append(b, s[start:]...)
	return append(b, '"')
}
