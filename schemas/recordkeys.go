package schemas

import (
	"fmt"
	"net/url"
	"strings"
)

// KeyPath says where a record's identity lives in a body, e.g. "email", "properties.email" or
// "input[].email" (every element of the array input). Segments are object keys; a segment ending
// in "[]" walks every element of an array.
type KeyPath struct {
	raw  string
	segs []keySeg
}

type keySeg struct {
	name  string
	array bool
}

// String returns the path as written.
func (p KeyPath) String() string { return p.raw }

// ParseKeyPath parses one record-key path.
func ParseKeyPath(s string) (KeyPath, error) {
	if strings.TrimSpace(s) != s || s == "" {
		return KeyPath{}, fmt.Errorf("record key path %q: must be non-empty with no surrounding spaces", s)
	}
	p := KeyPath{raw: s}
	for _, part := range strings.Split(s, ".") {
		seg := keySeg{name: part}
		if name, ok := strings.CutSuffix(part, "[]"); ok {
			seg = keySeg{name: name, array: true}
		}
		if seg.name == "" || strings.ContainsAny(seg.name, "[]") {
			return KeyPath{}, fmt.Errorf("record key path %q: segment %q is not a key name (write a.b or items[].email)", s, part)
		}
		p.segs = append(p.segs, seg)
	}
	return p, nil
}

// ParseKeyPaths parses a list of record-key paths.
func ParseKeyPaths(ss []string) ([]KeyPath, error) {
	out := make([]KeyPath, 0, len(ss))
	for _, s := range ss {
		p, err := ParseKeyPath(s)
		if err != nil {
			return nil, err
		}
		out = append(out, p)
	}
	return out, nil
}

// RecordKeys returns the normalised, de-duplicated record keys found in body at paths, in the
// order of the paths. A JSON body is walked as a tree; a form body is looked up by the whole
// path as a field name (form tools name fields "email" or "properties.email").
func RecordKeys(paths []KeyPath, body Body) []string {
	var keys []string
	add := func(v any) {
		s, ok := v.(string)
		if !ok {
			return
		}
		k := NormaliseKey(s)
		if k == "" {
			return
		}
		for _, have := range keys {
			if have == k {
				return
			}
		}
		keys = append(keys, k)
	}
	for _, p := range paths {
		switch {
		case body.Form != nil:
			for _, v := range body.Form[p.raw] {
				add(v)
			}
		case body.JSON != nil:
			walkKeyPath(body.JSON, p.segs, add)
		}
	}
	return keys
}

func walkKeyPath(v any, segs []keySeg, add func(any)) {
	if len(segs) == 0 {
		add(v)
		return
	}
	obj, ok := v.(map[string]any)
	if !ok {
		return
	}
	next, ok := obj[segs[0].name]
	if !ok {
		return
	}
	if !segs[0].array {
		walkKeyPath(next, segs[1:], add)
		return
	}
	arr, ok := next.([]any)
	if !ok {
		return
	}
	for _, el := range arr {
		walkKeyPath(el, segs[1:], add)
	}
}

// NormaliseKey trims a record key and lower-cases it when it is an email address, so that
// "Jane@Acme.com " and "jane@acme.com" find the same lead.
func NormaliseKey(s string) string {
	s = strings.TrimSpace(s)
	if strings.Contains(s, "@") {
		s = strings.ToLower(s)
	}
	return s
}

// FormValues is a parsed application/x-www-form-urlencoded body.
type FormValues = url.Values
