package vendors

import (
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"go.yaml.in/yaml/v3"
)

// Problem is one mistake in a preset file or in a route's rules, with the line it is on and the
// key path that holds it (outcomes[2].when.status), so a config loader can print it as
// file:line: key: message.
type Problem struct {
	Line int
	Key  string
	Msg  string
}

// Problems is every mistake found in one document; it is an error when non-empty.
type Problems []Problem

func (ps Problems) Error() string {
	var b strings.Builder
	for i, p := range ps {
		if i > 0 {
			b.WriteByte('\n')
		}
		if p.Line > 0 {
			fmt.Fprintf(&b, "line %d: ", p.Line)
		}
		if p.Key != "" {
			b.WriteString(p.Key + ": ")
		}
		b.WriteString(p.Msg)
	}
	return b.String()
}

// yreader walks a YAML node tree, collecting problems instead of stopping at the first one,
// the way the config parser does.
type yreader struct {
	problems Problems
}

func (r *yreader) addf(n *yaml.Node, key, format string, args ...any) {
	line := 0
	if n != nil {
		line = n.Line
	}
	r.problems = append(r.problems, Problem{Line: line, Key: key, Msg: fmt.Sprintf(format, args...)})
}

// yfield is one key of a mapping with its value, in the order written.
type yfield struct {
	name string
	key  *yaml.Node
	val  *yaml.Node
}

// ymap is a mapping's fields by name and in order.
type ymap struct {
	byName map[string]*yaml.Node
	order  []yfield
}

func (m ymap) get(k string) *yaml.Node { return m.byName[k] }

// has reports whether k was given a non-null value.
func (m ymap) has(k string) bool { return ypresent(m.byName[k]) }

// mapping checks that n is a mapping with only known keys, each at most once. An absent or
// null n yields an empty map; anything else that is not a mapping is reported.
func (r *yreader) mapping(n *yaml.Node, path string, known ...string) (ymap, bool) {
	n = yderef(n)
	m := ymap{byName: map[string]*yaml.Node{}}
	if !ypresent(n) {
		return m, true
	}
	if n.Kind != yaml.MappingNode {
		r.addf(n, path, "expected a mapping with keys %s, found %s", strings.Join(known, ", "), ydescribe(n))
		return m, false
	}
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, v := n.Content[i], n.Content[i+1]
		kp := yjoin(path, k.Value)
		switch {
		case k.Kind != yaml.ScalarNode:
			r.addf(k, path, "found %s used as a key; keys are plain names", ydescribe(k))
		case k.Value == "<<":
			r.addf(k, path, "YAML merge keys (<<) are not supported; write the keys out")
		case known != nil && !slices.Contains(known, k.Value):
			r.addf(k, kp, "unknown key (known keys: %s)", strings.Join(known, ", "))
		case m.byName[k.Value] != nil:
			r.addf(k, kp, "is set twice; remove one")
		default:
			m.byName[k.Value] = v
			m.order = append(m.order, yfield{name: k.Value, key: k, val: v})
		}
	}
	return m, true
}

// anyMapping reads a mapping whose keys are free (JSON paths, header names).
func (r *yreader) anyMapping(n *yaml.Node, path string) (ymap, bool) {
	return r.mapping(n, path)
}

func yjoin(path, key string) string {
	if path == "" {
		return key
	}
	return path + "." + key
}

// str reads a scalar's text; ok is false when n is absent, null, or not a scalar (reported).
func (r *yreader) str(n *yaml.Node, key string) (string, bool) {
	n = yderef(n)
	if !ypresent(n) {
		return "", false
	}
	if n.Kind != yaml.ScalarNode {
		r.addf(n, key, "expected a single value, found %s", ydescribe(n))
		return "", false
	}
	return n.Value, true
}

// strs reads one value or a list of values.
func (r *yreader) strs(n *yaml.Node, key string) []string {
	n = yderef(n)
	if !ypresent(n) {
		return nil
	}
	if n.Kind == yaml.ScalarNode {
		return []string{n.Value}
	}
	if n.Kind != yaml.SequenceNode {
		r.addf(n, key, "expected a value or a list, found %s", ydescribe(n))
		return nil
	}
	out := make([]string, 0, len(n.Content))
	for i, it := range n.Content {
		if s, ok := r.str(it, fmt.Sprintf("%s[%d]", key, i)); ok {
			out = append(out, s)
		}
	}
	return out
}

// seq reads a list of nodes; a single item is accepted as a list of one when one is true.
func (r *yreader) seq(n *yaml.Node, key string) []*yaml.Node {
	n = yderef(n)
	if !ypresent(n) {
		return nil
	}
	if n.Kind != yaml.SequenceNode {
		r.addf(n, key, "expected a list (items starting with \"- \"), found %s", ydescribe(n))
		return nil
	}
	out := make([]*yaml.Node, len(n.Content))
	for i, it := range n.Content {
		out[i] = yderef(it)
	}
	return out
}

func (r *yreader) integer(n *yaml.Node, key string) (int, bool) {
	s, ok := r.str(n, key)
	if !ok {
		return 0, false
	}
	v, err := strconv.Atoi(strings.ReplaceAll(s, "_", ""))
	if err != nil || v < 0 {
		r.addf(n, key, "%q is not a whole number of zero or more", s)
		return 0, false
	}
	return v, true
}

func (r *yreader) boolean(n *yaml.Node, key string) (bool, bool) {
	s, ok := r.str(n, key)
	if !ok {
		return false, false
	}
	switch strings.ToLower(s) {
	case "true", "yes", "on":
		return true, true
	case "false", "no", "off":
		return false, true
	}
	r.addf(n, key, "%q is not true or false", s)
	return false, false
}

func (r *yreader) duration(n *yaml.Node, key string) (time.Duration, bool) {
	s, ok := r.str(n, key)
	if !ok {
		return 0, false
	}
	d, err := time.ParseDuration(s)
	if err != nil || d <= 0 {
		r.addf(n, key, "%q is not a duration greater than zero (write Go syntax like 10s, 20s or 24h)", s)
		return 0, false
	}
	return d, true
}

// date reads a calendar day, 2026-04-30, as midnight UTC.
func (r *yreader) date(n *yaml.Node, key string) (time.Time, bool) {
	s, ok := r.str(n, key)
	if !ok {
		return time.Time{}, false
	}
	t, err := time.Parse(time.DateOnly, s)
	if err != nil {
		r.addf(n, key, "%q is not a date (write 2026-04-30)", s)
		return time.Time{}, false
	}
	return t, true
}

// oneOf reads a scalar that must be one of the given words.
func (r *yreader) oneOf(n *yaml.Node, key string, words ...string) (string, bool) {
	s, ok := r.str(n, key)
	if !ok {
		return "", false
	}
	if !slices.Contains(words, s) {
		r.addf(n, key, "%q is not one of %s", s, strings.Join(words, ", "))
		return "", false
	}
	return s, true
}

// yderef follows YAML aliases (*name) to the anchored node.
func yderef(n *yaml.Node) *yaml.Node {
	for n != nil && n.Kind == yaml.AliasNode {
		n = n.Alias
	}
	return n
}

// ypresent reports whether a key was given a value: absent and null both mean "not set".
func ypresent(n *yaml.Node) bool {
	return n != nil && !(n.Kind == yaml.ScalarNode && n.ShortTag() == "!!null")
}

func ydescribe(n *yaml.Node) string {
	switch {
	case n.Kind == yaml.MappingNode:
		return "a mapping (key: value lines)"
	case n.Kind == yaml.SequenceNode:
		return "a list"
	case !ypresent(n):
		return "nothing"
	case n.Kind == yaml.ScalarNode:
		return fmt.Sprintf("the value %q", n.Value)
	}
	return "something else"
}
