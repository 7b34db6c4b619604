package cli

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"strconv"
	"strings"

	"github.com/mtguard/mtguard/inspect"
)

// setFlags collects --set path=value, in order.
type setFlags []string

func (s *setFlags) String() string     { return strings.Join(*s, ",") }
func (s *setFlags) Set(v string) error { *s = append(*s, v); return nil }

// editedBody is the body an edit-then-replay sends: the file --edit names, or the stored body
// of call id with each --set applied. nil when neither is given.
func editedBody(ctx context.Context, c *inspect.Client, id, file string, sets setFlags) (*string, error) {
	switch {
	case file != "" && len(sets) > 0:
		return nil, fmt.Errorf("replay takes --edit FILE or --set path=value, not both: %w", ErrUsage)
	case file != "":
		b, err := os.ReadFile(file)
		if err != nil {
			return nil, fmt.Errorf("--edit: %w", err)
		}
		s := string(b)
		return &s, nil
	case len(sets) == 0:
		return nil, nil
	}
	tx, err := c.Get(ctx, id)
	if err != nil {
		return nil, err
	}
	if tx.Request.BodyEncoding != "" || tx.Request.Truncated {
		return nil, fmt.Errorf("call %s: its stored body is not whole text, so --set cannot edit it; write the corrected body to a file and use --edit FILE", id)
	}
	var doc any
	if err := json.Unmarshal([]byte(tx.Request.Body), &doc); err != nil {
		return nil, fmt.Errorf("call %s: --set edits JSON bodies, and this one is not JSON (%v); use --edit FILE", id, err)
	}
	for _, s := range sets {
		path, raw, ok := strings.Cut(s, "=")
		if !ok || path == "" {
			return nil, fmt.Errorf("--set %q: write path=value, e.g. --set properties.email=jane@example.com: %w", s, ErrUsage)
		}
		var v any
		if json.Unmarshal([]byte(raw), &v) != nil {
			v = raw // not JSON: a string
		}
		if doc, err = setPath(doc, splitPath(path), v); err != nil {
			return nil, fmt.Errorf("--set %s: %w", path, err)
		}
	}
	b, err := json.Marshal(doc)
	if err != nil {
		return nil, err
	}
	out := string(b)
	return &out, nil
}

// splitPath splits "inputs[0].properties.email" into inputs, [0], properties, email.
func splitPath(p string) []string {
	var out []string
	for _, part := range strings.Split(p, ".") {
		for {
			i := strings.IndexByte(part, '[')
			if i < 0 {
				break
			}
			if i > 0 {
				out = append(out, part[:i])
			}
			j := strings.IndexByte(part, ']')
			if j < i {
				break
			}
			out = append(out, part[i:j+1])
			part = part[j+1:]
		}
		if part != "" {
			out = append(out, part)
		}
	}
	return out
}

// setPath sets the value at path in doc, creating object fields that are missing.
func setPath(doc any, path []string, v any) (any, error) {
	if len(path) == 0 {
		return v, nil
	}
	if p := path[0]; strings.HasPrefix(p, "[") {
		i, err := strconv.Atoi(strings.Trim(p, "[]"))
		list, ok := doc.([]any)
		if err != nil || !ok || i < 0 || i >= len(list) {
			return nil, fmt.Errorf("%s is not an item of a list in the body", p)
		}
		var e error
		list[i], e = setPath(list[i], path[1:], v)
		return list, e
	}
	obj, ok := doc.(map[string]any)
	if !ok {
		if doc != nil {
			return nil, fmt.Errorf("%s is inside a value that is not an object", path[0])
		}
		obj = map[string]any{}
	}
	var err error
	obj[path[0]], err = setPath(obj[path[0]], path[1:], v)
	return obj, err
}
