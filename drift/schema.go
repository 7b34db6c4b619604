package drift

import (
	"sort"
	"strings"
)

// JSONSchema writes the learned shape as a JSON Schema (draft 2020-12): each field with the
// types it was seen with, and required where every learning call that carried its parent
// carried it too; optional otherwise. Additional properties are allowed: a pinned contract
// then rejects a wrong type or a missing required field, not a new field.
func (s *Shape) JSONSchema() map[string]any {
	root := map[string]any{
		"$schema":     "https://json-schema.org/draft/2020-12/schema",
		"title":       "Request payload of route " + s.Route + ", learned by mtguard",
		"description": "Learned from " + itoa(s.Calls) + " calls between " + s.Since.UTC().Format("2006-01-02") + " and " + s.Until.UTC().Format("2006-01-02") + "; a field is required when every call that had its parent had it.",
		"type":        "object",
	}
	paths := make([]string, 0, len(s.Fields))
	for p := range s.Fields {
		paths = append(paths, p)
	}
	sort.Strings(paths) // parents before children
	nodes := map[string]map[string]any{"": root}
	seenOf := func(p string) int64 {
		if p == "" {
			return s.Calls
		}
		return s.Fields[p].Seen
	}
	for _, p := range paths {
		parent := nodes[parentOf(p)]
		if parent == nil {
			continue // under a field whose node was not made (capped)
		}
		f := s.Fields[p]
		n := map[string]any{}
		if ts := typeList(f); len(ts) == 1 {
			n["type"] = ts[0]
		} else {
			n["type"] = ts
		}
		nodes[p] = n
		seg := p[strings.LastIndexByte(p, '/')+1:]
		switch seg {
		case "*":
			parent["items"] = n
			continue
		case "{key}":
			parent["additionalProperties"] = n
			continue
		}
		props, _ := parent["properties"].(map[string]any)
		if props == nil {
			props = map[string]any{}
			parent["properties"] = props
		}
		name := unescape(seg)
		props[name] = n
		if f.Seen >= seenOf(parentOf(p)) {
			req, _ := parent["required"].([]string)
			parent["required"] = append(req, name)
		}
	}
	return root
}

func typeList(f *Field) []string {
	var ts []string
	for t := range f.Types {
		ts = append(ts, t)
	}
	sort.Strings(ts)
	return ts
}

func unescape(seg string) string {
	return strings.ReplaceAll(strings.ReplaceAll(seg, "~1", "/"), "~0", "~")
}

func itoa(n int64) string {
	var b [20]byte
	i := len(b)
	if n == 0 {
		return "0"
	}
	for n > 0 {
		i--
		b[i] = byte('0' + n%10)
		n /= 10
	}
	return string(b[i:])
}
