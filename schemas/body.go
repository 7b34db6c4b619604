package schemas

import (
	"bytes"
	"fmt"
	"mime"
	"net/url"
	"strings"
)

// Body is a request or response body parsed once, shared by every check of a call.
type Body struct {
	// Kind is "json", "form", "empty" or "other".
	Kind string
	// JSON is the decoded document (numbers as json.Number) when Kind is "json".
	JSON any
	// Form holds the fields when Kind is "form".
	Form url.Values
	// Err is the parse error of a body that claimed to be JSON or a form but was not.
	Err error
}

// ParseBody decodes body according to its media type. JSON is recognised by application/json
// and any +json suffix; a body with no content type that starts like JSON is parsed as JSON too,
// because some form tools omit the header.
func ParseBody(contentType string, body []byte) Body {
	if len(bytes.TrimSpace(body)) == 0 {
		return Body{Kind: "empty"}
	}
	switch MediaKind(contentType, body) {
	case "json":
		v, err := decodeJSON(body)
		if err != nil {
			return Body{Kind: "json", Err: fmt.Errorf("invalid JSON: %w", err)}
		}
		return Body{Kind: "json", JSON: v}
	case "form":
		f, err := url.ParseQuery(string(body))
		if err != nil {
			return Body{Kind: "form", Err: fmt.Errorf("invalid form body: %w", err)}
		}
		return Body{Kind: "form", Form: f}
	}
	return Body{Kind: "other"}
}

// MediaKind says how ParseBody would read body: "json", "form", "empty" or "other".
func MediaKind(contentType string, body []byte) string {
	if len(bytes.TrimSpace(body)) == 0 {
		return "empty"
	}
	mt := ""
	switch {
	case isPlainJSON(contentType):
		// Nearly every call says this: skip the parser (and its parameter map).
		return "json"
	case contentType != "":
		if m, _, err := mime.ParseMediaType(contentType); err == nil {
			mt = m
		}
	}
	switch {
	case mt == "application/json" || strings.HasSuffix(mt, "+json") || (mt == "" && looksJSON(body)):
		return "json"
	case mt == "application/x-www-form-urlencoded":
		return "form"
	}
	return "other"
}

// isPlainJSON reports whether ct is application/json with at most a UTF-8 charset
// parameter, which is all the parser would have told MediaKind.
func isPlainJSON(ct string) bool {
	mt, params, _ := strings.Cut(ct, ";")
	if !strings.EqualFold(strings.TrimSpace(mt), "application/json") {
		return false
	}
	params = strings.TrimSpace(params)
	return params == "" || strings.EqualFold(params, "charset=utf-8") || strings.EqualFold(params, `charset="utf-8"`)
}

func looksJSON(b []byte) bool {
	b = bytes.TrimSpace(b)
	return len(b) > 0 && (b[0] == '{' || b[0] == '[')
}
