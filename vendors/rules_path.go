package vendors

import (
	"encoding/json"
	"fmt"
	"sort"
	"strconv"
	"strings"
)

// jpath is a compiled JSON path of the rule language. It is written the way record keys are:
// dotted object keys ("error.code"), "name[]" for every element of an array, "name[0]" for one
// element ("name[-1]" for the last), "*" for every value of an object (its key is then
// available as $key), and a leading "[]" when the document itself is an array
// ("[].success"). "." alone is the value itself (a record that is a bare string).
type jpath struct {
	raw   string
	steps []jstep
}

type jstepKind uint8

const (
	stepKey jstepKind = iota
	stepEach
	stepIndex
	stepAny
)

type jstep struct {
	kind  jstepKind
	key   string
	index int
}

func (p jpath) String() string { return p.raw }

// parseJPath compiles a path; the error says what to write instead.
func parseJPath(s string) (jpath, error) {
	p := jpath{raw: s}
	if s == "." {
		return p, nil
	}
	if s == "" || strings.TrimSpace(s) != s {
		return p, fmt.Errorf("path %q: must be non-empty with no surrounding spaces", s)
	}
	for i, part := range strings.Split(s, ".") {
		name, br := part, ""
		if j := strings.IndexByte(part, '['); j >= 0 {
			name, br = part[:j], part[j:]
		}
		switch {
		case name == "" && (i > 0 || br == ""):
			return p, fmt.Errorf("path %q: empty segment (write a.b, items[].email or [].success)", s)
		case name == "*":
			p.steps = append(p.steps, jstep{kind: stepAny})
		case strings.ContainsAny(name, "]"):
			return p, fmt.Errorf("path %q: unbalanced brackets in %q", s, part)
		case name != "":
			p.steps = append(p.steps, jstep{kind: stepKey, key: name})
		}
		for br != "" {
			end := strings.IndexByte(br, ']')
			if br[0] != '[' || end < 0 {
				return p, fmt.Errorf("path %q: unbalanced brackets in %q", s, part)
			}
			inner := br[1:end]
			br = br[end+1:]
			if inner == "" {
				p.steps = append(p.steps, jstep{kind: stepEach})
				continue
			}
			n, err := strconv.Atoi(inner)
			if err != nil {
				return p, fmt.Errorf("path %q: [%s] is not an array index (write [] for every element or [0] for the first)", s, inner)
			}
			p.steps = append(p.steps, jstep{kind: stepIndex, index: n})
		}
	}
	return p, nil
}

// hasEach reports whether the path walks an array, i.e. may yield several values.
func (p jpath) hasEach() bool {
	for _, s := range p.steps {
		if s.kind == stepEach || s.kind == stepAny {
			return true
		}
	}
	return false
}

// splitAtEach cuts a record-key path like "input[].email" into the path of the array
// ("input") and the path inside each element ("email"); ok is false when the path walks no
// array.
func (p jpath) splitAtEach() (arr, rest jpath, ok bool) {
	for i, s := range p.steps {
		if s.kind == stepEach {
			return jpath{raw: p.raw, steps: p.steps[:i]}, jpath{raw: p.raw, steps: p.steps[i+1:]}, true
		}
	}
	return jpath{}, jpath{}, false
}

// walk calls fn with every value the path yields in v, and the object key of the last "*"
// step ("" when there is none). fn returns false to stop; walk then returns false.
func (p jpath) walk(v any, fn func(v any, key string) bool) bool {
	return walkSteps(v, p.steps, "", fn)
}

func walkSteps(v any, steps []jstep, key string, fn func(any, string) bool) bool {
	for i, s := range steps {
		switch s.kind {
		case stepKey:
			m, ok := v.(map[string]any)
			if !ok {
				return true
			}
			if v, ok = m[s.key]; !ok {
				return true
			}
		case stepIndex:
			a, ok := v.([]any)
			idx := s.index
			if idx < 0 {
				idx += len(a)
			}
			if !ok || idx < 0 || idx >= len(a) {
				return true
			}
			v = a[idx]
		case stepEach:
			a, ok := v.([]any)
			if !ok {
				return true
			}
			for _, e := range a {
				if !walkSteps(e, steps[i+1:], key, fn) {
					return false
				}
			}
			return true
		case stepAny:
			m, ok := v.(map[string]any)
			if !ok {
				return true
			}
			// Sorted, so that record results and messages come out the same every time.
			keys := make([]string, 0, len(m))
			for k := range m {
				keys = append(keys, k)
			}
			sort.Strings(keys)
			for _, k := range keys {
				if !walkSteps(m[k], steps[i+1:], k, fn) {
					return false
				}
			}
			return true
		}
	}
	return fn(v, key)
}

// first returns the first value the path yields, or nil.
func (p jpath) first(v any) (out any, found bool) {
	p.walk(v, func(x any, _ string) bool {
		out, found = x, true
		return false
	})
	return out, found
}

// scalarText is the text of a JSON scalar as a rule compares and prints it; ok is false for
// objects and arrays.
func scalarText(v any) (string, bool) {
	switch x := v.(type) {
	case string:
		return x, true
	case json.Number:
		return string(x), true
	case bool:
		if x {
			return "true", true
		}
		return "false", true
	case nil:
		return "null", true
	case float64:
		return strconv.FormatFloat(x, 'f', -1, 64), true
	}
	return "", false
}

// number reads a JSON number, or a string holding one (Marketo quotes its codes).
func number(v any) (float64, bool) {
	switch x := v.(type) {
	case json.Number:
		f, err := x.Float64()
		return f, err == nil
	case string:
		f, err := strconv.ParseFloat(strings.TrimSpace(x), 64)
		return f, err == nil
	case float64:
		return x, true
	}
	return 0, false
}

// isEmpty reports whether a value carries nothing: null, "", [] or {}.
func isEmpty(v any) bool {
	switch x := v.(type) {
	case nil:
		return true
	case string:
		return strings.TrimSpace(x) == ""
	case []any:
		return len(x) == 0
	case map[string]any:
		return len(x) == 0
	}
	return false
}

// pathPattern is a compiled vendor-path pattern: literal segments, "*" for one segment, "**"
// for any number of segments, and in version rules one "{version}" placeholder inside a
// segment ("v{version}") that captures a version starting with a digit. A pattern may match
// after any leading segments, so that it still matches when the route's upstream URL has a
// base path (https://mandrillapp.com/api/1.4).
type pathPattern struct {
	raw  string
	segs []pseg
	// prefix patterns (version selectors, or those ending in "/") match the start of the rest of
	// the path; others must match it to the end.
	prefix bool
}

type pseg struct {
	lit          string // a literal segment, or the text before {version}
	after        string // the text after {version}
	star, double bool
	capture      bool
}

func parsePathPattern(s string, allowVersion bool) (pathPattern, error) {
	p := pathPattern{raw: s}
	if !strings.HasPrefix(s, "/") {
		return p, fmt.Errorf("path pattern %q must start with \"/\" (e.g. /rest/v1/leads.json)", s)
	}
	body := strings.TrimPrefix(s, "/")
	if strings.HasSuffix(body, "/") || body == "" {
		p.prefix = true
		body = strings.TrimSuffix(body, "/")
	}
	captures := 0
	if body != "" {
		for _, seg := range strings.Split(body, "/") {
			switch {
			case seg == "":
				return p, fmt.Errorf("path pattern %q has an empty segment (\"//\")", s)
			case seg == "*":
				p.segs = append(p.segs, pseg{star: true})
			case seg == "**":
				p.segs = append(p.segs, pseg{double: true})
			case strings.Contains(seg, "{version}"):
				if !allowVersion {
					return p, fmt.Errorf("path pattern %q: {version} belongs in a versions rule's path", s)
				}
				before, after, _ := strings.Cut(seg, "{version}")
				if strings.ContainsAny(before+after, "{}*") {
					return p, fmt.Errorf("path pattern %q: write {version} once, with plain text around it (v{version})", s)
				}
				captures++
				p.segs = append(p.segs, pseg{lit: before, after: after, capture: true})
			case strings.ContainsAny(seg, "{}"):
				return p, fmt.Errorf("path pattern %q: only {version} may appear in braces", s)
			default:
				p.segs = append(p.segs, pseg{lit: seg})
			}
		}
	}
	if allowVersion {
		if captures != 1 {
			return p, fmt.Errorf("path pattern %q must contain {version} once (e.g. /services/data/v{version}/)", s)
		}
		p.prefix = true
	}
	return p, nil
}

// pathSegments cuts a vendor path into its segments, ignoring leading and trailing slashes.
func pathSegments(path string) []string {
	path = strings.Trim(path, "/")
	if path == "" {
		return nil
	}
	return strings.Split(path, "/")
}

// match reports whether the path (as split by pathSegments) matches, and the captured version.
func (p *pathPattern) match(segs []string) (version string, ok bool) {
	for i := 0; i <= len(segs); i++ {
		if v, ok := p.matchSegs(segs[i:], p.segs); ok {
			return v, true
		}
	}
	return "", false
}

func (p *pathPattern) matchSegs(path []string, pat []pseg) (string, bool) {
	if len(pat) == 0 {
		return "", p.prefix || len(path) == 0
	}
	s := pat[0]
	if s.double {
		for k := 0; k <= len(path); k++ {
			if v, ok := p.matchSegs(path[k:], pat[1:]); ok {
				return v, true
			}
		}
		return "", false
	}
	if len(path) == 0 {
		return "", false
	}
	seg, version := path[0], ""
	switch {
	case s.star:
	case s.capture:
		if len(seg) <= len(s.lit)+len(s.after) || !strings.HasPrefix(seg, s.lit) || !strings.HasSuffix(seg, s.after) {
			return "", false
		}
		version = seg[len(s.lit) : len(seg)-len(s.after)]
		if version[0] < '0' || version[0] > '9' {
			return "", false
		}
	case s.lit != seg:
		return "", false
	}
	v, ok := p.matchSegs(path[1:], pat[1:])
	if version == "" {
		version = v
	}
	return version, ok
}
