package yamlstrict

import (
	"fmt"
	"math"
	"net"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	"go.yaml.in/yaml/v3"
)

// Str returns a scalar's text; ok is false when n is absent, null, or not a scalar (reported).
// Any scalar is accepted, so `name: 123` is the name "123".
func (r *Reader) Str(n *yaml.Node, key string) (s string, ok bool) {
	n = Deref(n)
	if !Present(n) {
		return "", false
	}
	if n.Kind != yaml.ScalarNode {
		r.AddfAt(n, key, "expected a single value, found %s", Describe(n))
		return "", false
	}
	return n.Value, true
}

// Strs reads one value or a list of values; an item that is not a value is reported and left out.
func (r *Reader) Strs(n *yaml.Node, key string) []string {
	n = Deref(n)
	if !Present(n) {
		return nil
	}
	if n.Kind == yaml.ScalarNode {
		return []string{n.Value}
	}
	if n.Kind != yaml.SequenceNode {
		r.AddfAt(n, key, "expected a value or a list, found %s", Describe(n))
		return nil
	}
	out := make([]string, 0, len(n.Content))
	for i, it := range n.Content {
		if s, ok := r.Str(it, fmt.Sprintf("%s[%d]", key, i)); ok {
			out = append(out, s)
		}
	}
	return out
}

// Item is one non-empty string of a list, with where it was written.
type Item struct {
	Val, Key string
	Line     int
}

// List reads a list of non-empty values, reporting each bad item and leaving it out. A single
// value is reported (with a hint to write it as a list), not taken as a list of one.
func (r *Reader) List(n *yaml.Node, key string) []Item {
	n = Deref(n)
	if !Present(n) {
		return nil
	}
	if n.Kind != yaml.SequenceNode {
		hint := ""
		if n.Kind == yaml.ScalarNode {
			hint = fmt.Sprintf(" (write [%s])", n.Value)
		}
		r.AddfAt(n, key, "expected a list, found %s%s", Describe(n), hint)
		return nil
	}
	var out []Item
	for i, item := range n.Content {
		ik := fmt.Sprintf("%s[%d]", key, i)
		s, ok := r.Str(item, ik)
		if !ok && Given(item) {
			continue // Str reported the wrong kind.
		}
		if strings.TrimSpace(s) == "" {
			r.AddfAt(item, ik, "empty item; remove it or give it a value")
			continue
		}
		out = append(out, Item{Val: s, Key: ik, Line: item.Line})
	}
	return out
}

// StrList is List's values.
func (r *Reader) StrList(n *yaml.Node, key string) []string {
	var out []string
	for _, it := range r.List(n, key) {
		out = append(out, it.Val)
	}
	return out
}

// Seq reads a list of nodes, aliases followed.
func (r *Reader) Seq(n *yaml.Node, key string) []*yaml.Node {
	n = Deref(n)
	if !Present(n) {
		return nil
	}
	if n.Kind != yaml.SequenceNode {
		r.AddfAt(n, key, "expected a list (items starting with \"- \"), found %s", Describe(n))
		return nil
	}
	out := make([]*yaml.Node, len(n.Content))
	for i, it := range n.Content {
		out[i] = Deref(it)
	}
	return out
}

// Int reads a whole number of zero or more; _ may group digits (50_000).
func (r *Reader) Int(n *yaml.Node, key string) (int, bool) {
	s, ok := r.Str(n, key)
	if !ok {
		return 0, false
	}
	v, err := strconv.Atoi(strings.ReplaceAll(s, "_", ""))
	if err != nil || v < 0 {
		r.AddfAt(n, key, "%q is not a whole number of zero or more", s)
		return 0, false
	}
	return v, true
}

// Bool reads true/yes/on or false/no/off, in any case.
func (r *Reader) Bool(n *yaml.Node, key string) (bool, bool) {
	s, ok := r.Str(n, key)
	if !ok {
		return false, false
	}
	switch strings.ToLower(s) {
	case "true", "yes", "on":
		return true, true
	case "false", "no", "off":
		return false, true
	}
	r.AddfAt(n, key, "%q is not true or false", s)
	return false, false
}

// Duration reads a Go duration greater than zero.
func (r *Reader) Duration(n *yaml.Node, key string) (time.Duration, bool) {
	s, ok := r.Str(n, key)
	if !ok {
		return 0, false
	}
	d, err := time.ParseDuration(s)
	if err != nil || d <= 0 {
		r.AddfAt(n, key, "%q is not a duration greater than zero (write Go syntax like 10s, 20s or 24h)", s)
		return 0, false
	}
	return d, true
}

// Date reads a calendar day, 2026-04-30, as midnight UTC.
func (r *Reader) Date(n *yaml.Node, key string) (time.Time, bool) {
	s, ok := r.Str(n, key)
	if !ok {
		return time.Time{}, false
	}
	t, err := time.Parse(time.DateOnly, s)
	if err != nil {
		r.AddfAt(n, key, "%q is not a date (write 2026-04-30)", s)
		return time.Time{}, false
	}
	return t, true
}

// OneOf reads a value that must be one of words.
func (r *Reader) OneOf(n *yaml.Node, key string, words ...string) (string, bool) {
	s, ok := r.Str(n, key)
	if !ok {
		return "", false
	}
	if !slices.Contains(words, s) {
		r.AddfAt(n, key, "%q is not one of %s", s, strings.Join(words, ", "))
		return "", false
	}
	return s, true
}

// Addr reads a host:port listen address; def when absent or invalid (reported).
func (r *Reader) Addr(n *yaml.Node, key, def string) string {
	s, ok := r.Str(n, key)
	if !ok {
		return def
	}
	_, port, err := net.SplitHostPort(s)
	if err != nil {
		r.AddfAt(n, key, "%q is not host:port (write 127.0.0.1:8080, or :8080 for every interface)", s)
		return def
	}
	if pn, err := strconv.Atoi(port); err != nil || pn < 0 || pn > 65535 {
		r.AddfAt(n, key, "%q has port %q; write a number from 0 to 65535", s, port)
		return def
	}
	return s
}

// Size reads a byte count (see ParseSize); ok is false when absent or invalid (reported).
func (r *Reader) Size(n *yaml.Node, key string) (v int64, ok bool) {
	s, ok := r.Str(n, key)
	if !ok {
		return 0, false
	}
	v, err := ParseSize(s)
	if err != nil {
		r.AddfAt(n, key, "%v", err)
		return 0, false
	}
	return v, true
}

// sizeRE splits a size into its number and unit; the unit is checked separately so the
// message can say what went wrong.
var sizeRE = regexp.MustCompile(`^([0-9]+) ?([A-Za-z]*)$`)

// ParseSize reads plain bytes or a number with a unit: B, KB, MB, GB are powers of 1000 and
// KiB, MiB, GiB powers of 1024, as in IEC 80000-13. Units are matched case-insensitively,
// which is unambiguous because the binary units differ by the "i".
func ParseSize(s string) (int64, error) {
	m := sizeRE.FindStringSubmatch(s)
	if m == nil {
		return 0, fmt.Errorf("%q is not a size (write 10MiB or 1048576)", s)
	}
	var mult int64
	switch strings.ToLower(m[2]) {
	case "", "b":
		mult = 1
	case "kb":
		mult = 1000
	case "mb":
		mult = 1000 * 1000
	case "gb":
		mult = 1000 * 1000 * 1000
	case "kib":
		mult = 1 << 10
	case "mib":
		mult = 1 << 20
	case "gib":
		mult = 1 << 30
	default:
		return 0, fmt.Errorf("%q is not a size: unknown unit %q (use B, KB, MB, GB, KiB, MiB or GiB)", s, m[2])
	}
	n, err := strconv.ParseInt(m[1], 10, 64)
	if err != nil || n > math.MaxInt64/mult {
		return 0, fmt.Errorf("%q is too large a size", s)
	}
	return n * mult, nil
}
