package schemas

import (
	"fmt"
	"net/http"
	"strings"
)

// pathTemplate is a parsed "METHOD /path/{param}" match of a pin. A {param} stands for one
// non-empty path segment, alone or with literal text around it (Marketo's
// /rest/v1/lead/{leadId}.json).
type pathTemplate struct {
	method   string // upper case; "*" matches every method
	segments []segment
	text     string // as written, normalised: "POST /crm/v3/objects/{objectType}"
}

// segment is one path segment of a template: literal when param is false, otherwise
// prefix{param}suffix.
type segment struct {
	param          bool
	prefix, suffix string // for a param; the literal text when param is false lives in prefix
}

// specificity ranks a segment: a literal beats a param with literal text around it, which
// beats a bare param.
func (s segment) specificity() int {
	switch {
	case !s.param:
		return 2
	case s.prefix != "" || s.suffix != "":
		return 1
	}
	return 0
}

// parseMatch reads a pin's match: an HTTP method (or *) and a path template.
func parseMatch(s string) (pathTemplate, error) {
	method, path, ok := strings.Cut(strings.TrimSpace(s), " ")
	path = strings.TrimSpace(path)
	if !ok || path == "" {
		return pathTemplate{}, fmt.Errorf("%q is not a match; write a method and a path, like POST /crm/v3/objects/{objectType}", s)
	}
	method = strings.ToUpper(method)
	if method != "*" && !validMethod(method) {
		return pathTemplate{}, fmt.Errorf("%q: %q is not an HTTP method (write GET, POST, PUT, PATCH, DELETE, ... or * for any)", s, method)
	}
	if !strings.HasPrefix(path, "/") {
		return pathTemplate{}, fmt.Errorf("%q: the path must start with \"/\"", s)
	}
	if strings.ContainsAny(path, "?# \t") {
		return pathTemplate{}, fmt.Errorf("%q: the path must be a plain path, without query, fragment or spaces", s)
	}
	t := pathTemplate{method: method}
	for _, part := range splitPath(path) {
		seg, err := parseSegment(part)
		if err != nil {
			return pathTemplate{}, fmt.Errorf("%q: %v", s, err)
		}
		t.segments = append(t.segments, seg)
	}
	t.text = method + " " + "/" + strings.Join(splitPath(path), "/")
	return t, nil
}

func validMethod(m string) bool {
	switch m {
	case http.MethodGet, http.MethodHead, http.MethodPost, http.MethodPut, http.MethodPatch,
		http.MethodDelete, http.MethodOptions:
		return true
	}
	return false
}

func parseSegment(part string) (segment, error) {
	open := strings.IndexByte(part, '{')
	if open < 0 {
		if strings.ContainsRune(part, '}') {
			return segment{}, fmt.Errorf("segment %q has a } without {", part)
		}
		return segment{prefix: part}, nil
	}
	end := strings.IndexByte(part[open:], '}')
	if end < 0 {
		return segment{}, fmt.Errorf("segment %q has a { without }", part)
	}
	end += open
	name, suffix := part[open+1:end], part[end+1:]
	if name == "" {
		return segment{}, fmt.Errorf("segment %q has an empty {}; name the parameter, like {objectType}", part)
	}
	if strings.ContainsAny(suffix, "{}") {
		return segment{}, fmt.Errorf("segment %q has more than one parameter; mtguard matches one per segment", part)
	}
	return segment{param: true, prefix: part[:open], suffix: suffix}, nil
}

// splitPath splits a path into its non-empty segments, so trailing and doubled slashes do not
// change which pin matches.
func splitPath(p string) []string {
	var out []string
	for _, s := range strings.Split(p, "/") {
		if s != "" {
			out = append(out, s)
		}
	}
	return out
}

// shape is the template with its parameter names left out: two pins of one shape would match
// the same calls.
func (t pathTemplate) shape() string {
	var b strings.Builder
	b.WriteString(t.method)
	for _, s := range t.segments {
		b.WriteByte('/')
		if s.param {
			b.WriteString(s.prefix + "{}" + s.suffix)
		} else {
			b.WriteString(s.prefix)
		}
	}
	return b.String()
}

// matches reports whether a call with method and path segments segs matches t.
func (t pathTemplate) matches(method string, segs []string) bool {
	if t.method != "*" && t.method != method {
		return false
	}
	if len(segs) != len(t.segments) {
		return false
	}
	for i, s := range t.segments {
		v := segs[i]
		if !s.param {
			if v != s.prefix {
				return false
			}
			continue
		}
		if len(v) <= len(s.prefix)+len(s.suffix) || !strings.HasPrefix(v, s.prefix) || !strings.HasSuffix(v, s.suffix) {
			return false
		}
	}
	return true
}

// moreSpecific reports whether t should win over u when both match a call: segment by segment
// from the left, a literal beats a param; then an exact method beats "*".
func (t pathTemplate) moreSpecific(u pathTemplate) bool {
	for i := range t.segments {
		a, b := t.segments[i].specificity(), u.segments[i].specificity()
		if a != b {
			return a > b
		}
	}
	return t.method != "*" && u.method == "*"
}
