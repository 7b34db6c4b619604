package yamlstrict

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"unicode/utf8"

	"go.yaml.in/yaml/v3"
)

// Reader walks a YAML node tree, collecting problems instead of stopping at the first one. The
// zero Reader is ready to use; callers usually embed it in their own reader type and hang their
// key-specific methods on that.
type Reader struct {
	// Problems are the mistakes found so far, in the order found.
	Problems Problems
	// DuplicateLine makes a key set twice name the line of its first occurrence
	// ("is set twice (first on line 3); remove one") instead of "is set twice; remove one".
	DuplicateLine bool
}

// Addf reports a problem on line (0 when unknown) at key path key.
func (r *Reader) Addf(line int, key, format string, args ...any) {
	r.Problems = append(r.Problems, Problem{Line: line, Key: key, Msg: fmt.Sprintf(format, args...)})
}

// AddfAt reports a problem on n's line (0 when n is nil) at key path key.
func (r *Reader) AddfAt(n *yaml.Node, key, format string, args ...any) {
	line := 0
	if n != nil {
		line = n.Line
	}
	r.Addf(line, key, format, args...)
}

// yamlLineErr matches the position yaml puts in its syntax errors, so they can be reprinted
// with the line apart.
var yamlLineErr = regexp.MustCompile(`^yaml: line (\d+): (.*)$`)

// yamlAnchorErr and yamlEncodingErr recognise the yaml errors that carry no position, to
// find it in the input.
var (
	yamlAnchorErr   = regexp.MustCompile(`^(?:unknown anchor|anchor) '([^']*)' (?:referenced|value contains itself)$`)
	yamlEncodingErr = regexp.MustCompile(`UTF-8|UTF-16|Unicode|surrogate|control characters`)
)

// Decode parses data, which must hold one YAML document, and returns the document's root node.
// It returns nil when it cannot: a syntax error (reported with its line), or a document that is
// empty or null (reported on line 1 with the message empty). A second document is reported
// too, but the first is still returned.
func (r *Reader) Decode(data []byte, empty string) *yaml.Node {
	dec := yaml.NewDecoder(bytes.NewReader(data))
	var doc yaml.Node
	if err := dec.Decode(&doc); err != nil {
		if errors.Is(err, io.EOF) {
			r.Addf(1, "", "%s", empty)
		} else {
			r.yamlErr(err, data)
		}
		return nil
	}
	var extra yaml.Node
	if err := dec.Decode(&extra); err == nil {
		r.Addf(extra.Line, "", `a second YAML document starts here; mtguard reads one, so remove the "---" separator`)
	} else if !errors.Is(err, io.EOF) {
		r.yamlErr(err, data)
	}
	if len(doc.Content) == 0 || !Present(doc.Content[0]) {
		r.Addf(1, "", "%s", empty)
		return nil
	}
	return doc.Content[0]
}

// yamlErr reports a yaml parse error with its line.
func (r *Reader) yamlErr(err error, data []byte) {
	msg := err.Error()
	if m := yamlLineErr.FindStringSubmatch(msg); m != nil {
		line, _ := strconv.Atoi(m[1])
		r.Addf(line, "", "YAML syntax error: %s", m[2])
		return
	}
	msg = strings.TrimPrefix(msg, "yaml: ")
	r.Addf(yamlErrLine(msg, data), "", "YAML syntax error: %s", msg)
}

// yamlErrLine finds the line of a yaml error that carries none, or returns 0. yaml.v3 leaves
// the position out of a syntax error on the first line (it tests the 0-based line for != 0),
// of every encoding error, and of anchor errors.
func yamlErrLine(msg string, data []byte) int {
	if m := yamlAnchorErr.FindStringSubmatch(msg); m != nil {
		sigil := "&"
		if strings.HasPrefix(msg, "unknown") {
			sigil = "*"
		}
		if i := bytes.Index(data, []byte(sigil+m[1])); i >= 0 {
			return lineOf(data, i)
		}
		return 0
	}
	if yamlEncodingErr.MatchString(msg) {
		for i := 0; i < len(data); {
			c, size := utf8.DecodeRune(data[i:])
			invalid := c == utf8.RuneError && size <= 1
			control := (c < 0x20 && c != '\t' && c != '\n' && c != '\r') || c == 0x7f
			if invalid || control {
				return lineOf(data, i)
			}
			i += size
		}
		return 0
	}
	if strings.Contains(msg, "aliasing") || strings.Contains(msg, "depth") {
		return 0 // A property of the whole document, not of one line.
	}
	return 1
}

// lineOf returns the 1-based line of byte offset i.
func lineOf(data []byte, i int) int {
	return 1 + bytes.Count(data[:i], []byte("\n"))
}

// Field is one key of a mapping with its value, as written.
type Field struct {
	Name string
	Key  *yaml.Node
	Val  *yaml.Node
}

// Map is a mapping's fields by name and in the order written. The zero Map is empty.
type Map struct {
	byName map[string]*yaml.Node
	fields []Field
}

// Get returns the value of key, or nil when it is absent.
func (m Map) Get(key string) *yaml.Node { return m.byName[key] }

// Has reports whether key was given a non-null value.
func (m Map) Has(key string) bool { return Present(m.byName[key]) }

// Fields returns the fields in the order written, without the ones reported as mistakes.
func (m Map) Fields() []Field { return m.fields }

// Mapping checks that n is a mapping with only the known keys, each at most once. An absent or
// null n yields an empty Map; anything else that is not a mapping is reported, and yields an
// empty Map and false.
func (r *Reader) Mapping(n *yaml.Node, path string, known ...string) (Map, bool) {
	return r.mapping(n, path, false, known)
}

// AnyMapping reads a mapping whose keys are free (JSON paths, header names), each at most once.
func (r *Reader) AnyMapping(n *yaml.Node, path string) (Map, bool) {
	return r.mapping(n, path, true, nil)
}

func (r *Reader) mapping(n *yaml.Node, path string, free bool, known []string) (Map, bool) {
	n = Deref(n)
	m := Map{byName: map[string]*yaml.Node{}}
	if !Present(n) {
		return m, true
	}
	if n.Kind != yaml.MappingNode {
		r.AddfAt(n, path, "expected a mapping with keys %s, found %s", strings.Join(known, ", "), Describe(n))
		return Map{}, false
	}
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, v := n.Content[i], n.Content[i+1]
		kp := Join(path, k.Value)
		switch {
		case k.Kind != yaml.ScalarNode:
			r.AddfAt(k, path, "found %s used as a key; keys are plain names", Describe(k))
		case k.Value == "<<":
			r.AddfAt(k, path, "YAML merge keys (<<) are not supported; write the keys out")
		case !free && !slices.Contains(known, k.Value):
			r.AddfAt(k, kp, "unknown key (known keys: %s)", strings.Join(known, ", "))
		case m.byName[k.Value] != nil && r.DuplicateLine:
			// yaml.v3 only catches duplicate keys when decoding into Go values, not into a Node.
			r.AddfAt(k, kp, "is set twice (first on line %d); remove one", keyLine(n, k.Value))
		case m.byName[k.Value] != nil:
			r.AddfAt(k, kp, "is set twice; remove one")
		default:
			m.byName[k.Value] = v
			m.fields = append(m.fields, Field{Name: k.Value, Key: k, Val: v})
		}
	}
	return m, true
}

// Join appends key to the key path path: Join("routes[0]", "name") is routes[0].name.
func Join(path, key string) string {
	if path == "" {
		return key
	}
	return path + "." + key
}

// keyLine returns the line of the first occurrence of key in mapping n.
func keyLine(n *yaml.Node, key string) int {
	for i := 0; i+1 < len(n.Content); i += 2 {
		if n.Content[i].Value == key {
			return n.Content[i].Line
		}
	}
	return 0
}

// Lookup returns the value of key in mapping n, or nil, without reporting anything.
func Lookup(n *yaml.Node, key string) *yaml.Node {
	n = Deref(n)
	if n == nil || n.Kind != yaml.MappingNode {
		return nil
	}
	for i := 0; i+1 < len(n.Content); i += 2 {
		if n.Content[i].Value == key {
			return n.Content[i+1]
		}
	}
	return nil
}

// Deref follows YAML aliases (*name) to the anchored node.
func Deref(n *yaml.Node) *yaml.Node {
	for n != nil && n.Kind == yaml.AliasNode {
		n = n.Alias
	}
	return n
}

// Present reports whether a key was given a value: an absent key (nil) and an explicit null
// (`key:` with nothing after it) both mean "not set". It does not follow aliases; Given does.
func Present(n *yaml.Node) bool {
	return n != nil && !(n.Kind == yaml.ScalarNode && n.ShortTag() == "!!null")
}

// Given reports whether n holds a value once aliases are followed: Present(Deref(n)).
func Given(n *yaml.Node) bool { return Present(Deref(n)) }

// Describe names a node's kind for "expected X, found Y" messages.
func Describe(n *yaml.Node) string {
	switch {
	case n.Kind == yaml.MappingNode:
		return "a mapping (key: value lines)"
	case n.Kind == yaml.SequenceNode:
		return "a list"
	case !Present(n):
		return "nothing"
	case n.Kind == yaml.ScalarNode:
		return fmt.Sprintf("the value %q", n.Value)
	}
	return "something else"
}
