package schemas

import (
	"strings"
	"testing"
)

func TestRecordKeys(t *testing.T) {
	tests := []struct {
		name  string
		paths []string
		ctype string
		body  string
		want  []string
	}{
		{"top-level email normalised", []string{"email"}, "application/json", `{"email":"  Jane@ACME.com "}`, []string{"jane@acme.com"}},
		{"nested", []string{"properties.email"}, "application/json", `{"properties":{"email":"a@b.io"}}`, []string{"a@b.io"}},
		{"array walk and dedupe", []string{"input[].email"}, "application/json", `{"input":[{"email":"a@b.io"},{"email":"c@d.io"},{"email":"A@B.io"}]}`, []string{"a@b.io", "c@d.io"}},
		{"several paths in order", []string{"email", "properties.email"}, "application/json", `{"properties":{"email":"p@b.io"},"email":"e@b.io"}`, []string{"e@b.io", "p@b.io"}},
		{"non-email kept as is", []string{"id"}, "application/json", `{"id":"Lead-00Q1"}`, []string{"Lead-00Q1"}},
		{"numbers and missing ignored", []string{"email", "x.y"}, "application/json", `{"email":42}`, nil},
		{"form by whole name", []string{"email", "properties.email"}, "application/x-www-form-urlencoded", "email=Bob%40Acme.com&properties.email=p%40b.io", []string{"bob@acme.com", "p@b.io"}},
		{"json without content type", []string{"email"}, "", `{"email":"x@y.io"}`, []string{"x@y.io"}},
		{"invalid json yields none", []string{"email"}, "application/json", `{"email":`, nil},
		{"array where object expected", []string{"properties.email"}, "application/json", `{"properties":[1,2]}`, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			paths, err := ParseKeyPaths(tt.paths)
			if err != nil {
				t.Fatal(err)
			}
			got := RecordKeys(paths, ParseBody(tt.ctype, []byte(tt.body)))
			if strings.Join(got, ",") != strings.Join(tt.want, ",") {
				t.Fatalf("got %v, want %v", got, tt.want)
			}
		})
	}
}

func TestParseKeyPathErrors(t *testing.T) {
	for _, bad := range []string{"", " email", "a..b", "a[0].b", "[].x", "a.[]"} {
		if _, err := ParseKeyPath(bad); err == nil {
			t.Errorf("ParseKeyPath(%q) accepted a malformed path", bad)
		}
	}
}

func TestParseBodyKinds(t *testing.T) {
	tests := []struct{ ctype, body, kind string }{
		{"application/json; charset=utf-8", `{"a":1}`, "json"},
		{"application/vnd.api+json", `{"a":1}`, "json"},
		{"application/x-www-form-urlencoded", "a=1", "form"},
		{"text/plain", "hello", "other"},
		{"application/json", "   ", "empty"},
	}
	for _, tt := range tests {
		if got := ParseBody(tt.ctype, []byte(tt.body)); got.Kind != tt.kind || got.Err != nil {
			t.Errorf("ParseBody(%q, %q) = kind %q err %v, want %q", tt.ctype, tt.body, got.Kind, got.Err, tt.kind)
		}
	}
	if b := ParseBody("application/json", []byte("{")); b.Err == nil {
		t.Error("invalid JSON has no error")
	}
}
