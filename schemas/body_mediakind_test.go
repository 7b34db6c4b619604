package schemas

import "testing"

// TestMediaKind covers the content types tools and vendors send, including the spellings the
// fast path takes without the MIME parser.
func TestMediaKind(t *testing.T) {
	const obj = `{"email":"jane@acme.com"}`
	tests := []struct {
		ct, body, want string
	}{
		{"application/json", obj, "json"},
		{"Application/JSON", obj, "json"},
		{"application/json;charset=utf-8", obj, "json"},
		{"application/json; charset=UTF-8", obj, "json"},
		{`application/json; charset="utf-8"`, obj, "json"},
		{"application/json; charset=iso-8859-1", obj, "json"}, // the parser's answer, not the fast path's
		{"application/vnd.api+json", obj, "json"},
		{"application/x-www-form-urlencoded", "email=jane%40acme.com", "form"},
		{"application/x-www-form-urlencoded; charset=utf-8", "email=jane%40acme.com", "form"},
		{"text/plain", obj, "other"},
		{"application/jsonx", obj, "other"},
		{"", obj, "json"},
		{"", "email=jane", "other"},
		{"application/json", "  \n", "empty"},
		{"text/plain; charset", obj, "json"}, // unparsable: decided by the body
	}
	for _, tt := range tests {
		if got := MediaKind(tt.ct, []byte(tt.body)); got != tt.want {
			t.Errorf("MediaKind(%q, %q) = %q, want %q", tt.ct, tt.body, got, tt.want)
		}
	}
}
