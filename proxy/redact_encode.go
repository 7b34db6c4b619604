package proxy

import (
	"encoding/json"
	"slices"

	"github.com/mtguard/mtguard/txn"
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
		return txn.AppendJSONString(b, t), true
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
			b = txn.AppendJSONString(b, k)
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
