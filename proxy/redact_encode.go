package proxy

import "encoding/json"

// marshalTree writes the redacted copy of a JSON body the tree's way: as json.Marshal writes
// it (object keys sorted, HTML-safe escapes). A JSON body is redacted in one pass over its
// bytes (redact_stream.go); the tree is only the way of a document that reader does not take
// (too deep, or read leniently by schemas.ParseBody), so it keeps no encoder of its own.
func marshalTree(v any) ([]byte, error) {
	return json.Marshal(v)
}
