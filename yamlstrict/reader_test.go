package yamlstrict

import (
	"fmt"
	"reflect"
	"strings"
	"testing"
	"time"

	"go.yaml.in/yaml/v3"
)

// root parses src and returns its document's root node.
func root(t *testing.T, src string) *yaml.Node {
	t.Helper()
	var doc yaml.Node
	if err := yaml.Unmarshal([]byte(src), &doc); err != nil {
		t.Fatalf("%q: %v", src, err)
	}
	return doc.Content[0]
}

// line prints vals separated by spaces, like fmt.Sprintln without the newline.
func line(vals ...any) string { return strings.TrimSuffix(fmt.Sprintln(vals...), "\n") }

// TestReader reads one small document with one helper and checks what it returned and every
// problem it reported, as "line:key: msg".
func TestReader(t *testing.T) {
	tests := []struct {
		name string
		src  string
		dup  bool // Reader.DuplicateLine
		// known are the root's keys; nil reads it with AnyMapping.
		known []string
		// read reads the document's root mapping m with one helper and returns what it got.
		read     func(r *Reader, m Map) any
		want     any
		problems []string
	}{
		{
			name:  "unknown key lists the known keys",
			known: []string{"name", "upstream"},
			src:   "name: a\nnmae: b\n",
			read:  func(r *Reader, _ Map) any { return nil },
			problems: []string{
				"2:nmae: unknown key (known keys: name, upstream)",
			},
		},
		{
			name:     "unknown key below a path",
			src:      "route:\n  prefx: /a\n",
			read:     func(r *Reader, m Map) any { _, ok := r.Mapping(m.Get("route"), "routes[0]", "prefix"); return ok },
			want:     true,
			problems: []string{"2:routes[0].prefx: unknown key (known keys: prefix)"},
		},
		{
			name:  "a key set twice",
			known: []string{"name", "upstream"},
			src:   "name: a\nupstream: x\nname: b\n",
			read:  func(r *Reader, m Map) any { s, _ := r.Str(m.Get("name"), "name"); return s },
			want:  "a", // the first one counts
			problems: []string{
				"3:name: is set twice; remove one",
			},
		},
		{
			name:  "a key set twice, with the first line",
			known: []string{"name", "upstream"},
			src:   "name: a\nupstream: x\nname: b\n",
			dup:   true,
			read:  func(r *Reader, m Map) any { return nil },
			problems: []string{
				"3:name: is set twice (first on line 1); remove one",
			},
		},
		{
			name:     "merge keys and non-scalar keys",
			known:    []string{"name", "upstream"},
			src:      "name: a\n<<: {upstream: x}\n? [a]\n: 1\n",
			read:     func(r *Reader, m Map) any { return len(m.Fields()) },
			want:     1,
			problems: []string{"2:: YAML merge keys (<<) are not supported; write the keys out", "3:: found a list used as a key; keys are plain names"},
		},
		{
			name:     "a mapping that is a value",
			src:      "name: a\nupstream: x\n",
			read:     func(r *Reader, m Map) any { _, ok := r.Mapping(m.Get("upstream"), "upstream", "url"); return ok },
			want:     false,
			problems: []string{`2:upstream: expected a mapping with keys url, found the value "x"`},
		},
		{
			name: "null and absent are both not set, and not a mistake",
			src:  "name:\nupstream: ~\n",
			read: func(r *Reader, m Map) any {
				s, ok := r.Str(m.Get("name"), "name")
				_, ok2 := r.Str(m.Get("owner"), "owner")
				sub, subOK := r.Mapping(m.Get("upstream"), "upstream", "url")
				return line(s, ok, ok2, m.Get("name") != nil, m.Get("owner") != nil, m.Has("name"), Given(m.Get("upstream")), len(sub.Fields()), subOK)
			},
			want: " false false true false false false 0 true",
		},
		{
			name: "an alias is followed",
			src:  "name: &n a\nupstream: *n\n",
			read: func(r *Reader, m Map) any { s, _ := r.Str(m.Get("upstream"), "upstream"); return s },
			want: "a",
		},
		{
			name:     "a list where a value goes",
			src:      "name: [a, b]\n",
			read:     func(r *Reader, m Map) any { _, ok := r.Str(m.Get("name"), "name"); return ok },
			want:     false,
			problems: []string{"1:name: expected a single value, found a list"},
		},
		{
			name: "free keys",
			src:  "name: {X-A: 1, Y: 2, X-A: 3}\n",
			read: func(r *Reader, m Map) any {
				sub, _ := r.AnyMapping(m.Get("name"), "headers")
				var names []string
				for _, f := range sub.Fields() {
					names = append(names, f.Name+"="+f.Val.Value)
				}
				return strings.Join(names, ",")
			},
			want:     "X-A=1,Y=2",
			problems: []string{"1:headers.X-A: is set twice; remove one"},
		},
		{
			name: "strs takes one value or a list",
			src:  "name: a\nupstream: [b, {c: d}, e]\n",
			read: func(r *Reader, m Map) any {
				return append(r.Strs(m.Get("name"), "name"), r.Strs(m.Get("upstream"), "upstream")...)
			},
			want:     []string{"a", "b", "e"},
			problems: []string{"2:upstream[1]: expected a single value, found a mapping (key: value lines)"},
		},
		{
			name: "list refuses one value and empty items",
			src:  "name: a\nupstream:\n  - b\n  - ''\n  - [c]\n",
			read: func(r *Reader, m Map) any {
				return line(r.StrList(m.Get("name"), "name"), r.List(m.Get("upstream"), "upstream"))
			},
			want: "[] [{b upstream[0] 3}]",
			problems: []string{
				"1:name: expected a list, found the value \"a\" (write [a])",
				"4:upstream[1]: empty item; remove it or give it a value",
				"5:upstream[2]: expected a single value, found a list",
			},
		},
		{
			name: "an alias to null is not set",
			src:  "name: &e ~\nupstream: *e\nowner: [a, *e]\nlist: [*e]\n",
			read: func(r *Reader, m Map) any {
				_, ok := r.Str(m.Get("upstream"), "upstream")
				return line(ok, Given(m.Get("upstream")), r.Strs(m.Get("owner"), "owner"), r.StrList(m.Get("list"), "list"))
			},
			want:     "false false [a] []",
			problems: []string{"4:list[0]: empty item; remove it or give it a value"},
		},
		{
			name: "seq follows aliases",
			src:  "name: &m {a: 1}\nupstream: [*m]\n",
			read: func(r *Reader, m Map) any { return r.Seq(m.Get("upstream"), "upstream")[0].Kind == yaml.MappingNode },
			want: true,
		},
		{
			name:     "strs refuses a mapping",
			src:      "name: {a: 1}\n",
			read:     func(r *Reader, m Map) any { return len(r.Strs(m.Get("name"), "name")) },
			want:     0,
			problems: []string{"1:name: expected a value or a list, found a mapping (key: value lines)"},
		},
		{
			name: "seq",
			src:  "name: [a, b]\nupstream: c\n",
			read: func(r *Reader, m Map) any {
				return len(r.Seq(m.Get("name"), "name")) + len(r.Seq(m.Get("upstream"), "upstream"))
			},
			want:     2,
			problems: []string{`2:upstream: expected a list (items starting with "- "), found the value "c"`},
		},
		{
			name: "numbers, booleans, durations, dates, words",
			src:  "a: 50_000\nb: -1\nc: Yes\nd: maybe\ne: 20s\nf: 0s\ng: 2026-04-30\nh: 2026-4-30\ni: warn\nj: loud\n",
			read: func(r *Reader, m Map) any {
				a, _ := r.Int(m.Get("a"), "a")
				_, okB := r.Int(m.Get("b"), "b")
				c, _ := r.Bool(m.Get("c"), "c")
				_, okD := r.Bool(m.Get("d"), "d")
				e, _ := r.Duration(m.Get("e"), "e")
				_, okF := r.Duration(m.Get("f"), "f")
				g, _ := r.Date(m.Get("g"), "g")
				_, okH := r.Date(m.Get("h"), "h")
				i, _ := r.OneOf(m.Get("i"), "i", "info", "warn")
				_, okJ := r.OneOf(m.Get("j"), "j", "info", "warn")
				return line(a, okB, c, okD, e, okF, g.Equal(time.Date(2026, 4, 30, 0, 0, 0, 0, time.UTC)), okH, i, okJ)
			},
			want: "50000 false true false 20s false true false warn false",
			problems: []string{
				`2:b: "-1" is not a whole number of zero or more`,
				`4:d: "maybe" is not true or false`,
				`6:f: "0s" is not a duration greater than zero (write Go syntax like 10s, 20s or 24h)`,
				`8:h: "2026-4-30" is not a date (write 2026-04-30)`,
				`10:j: "loud" is not one of info, warn`,
			},
		},
		{
			name: "addresses and sizes",
			src:  "a: :8080\nb: localhost\nc: x:99999\nd: 10 MiB\ne: 2kb\nf: 10 megs\ng: 3.5 MB\n",
			read: func(r *Reader, m Map) any {
				var out []any
				for _, k := range []string{"a", "b", "c"} {
					out = append(out, r.Addr(m.Get(k), k, "def"))
				}
				for _, k := range []string{"d", "e", "f", "g", "h"} {
					v, ok := r.Size(m.Get(k), k)
					out = append(out, v, ok)
				}
				return line(out...)
			},
			want: line(":8080", "def", "def", int64(10<<20), true, int64(2000), true, int64(0), false, int64(0), false, int64(0), false),
			problems: []string{
				`2:b: "localhost" is not host:port (write 127.0.0.1:8080, or :8080 for every interface)`,
				`3:c: "x:99999" has port "99999"; write a number from 0 to 65535`,
				`6:f: "10 megs" is not a size: unknown unit "megs" (use B, KB, MB, GB, KiB, MiB or GiB)`,
				`7:g: "3.5 MB" is not a size (write 10MiB or 1048576)`,
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := Reader{DuplicateLine: tt.dup}
			n := root(t, tt.src)
			var m Map
			if tt.known != nil {
				m, _ = r.Mapping(n, "", tt.known...)
			} else {
				m, _ = r.AnyMapping(n, "")
			}
			got := tt.read(&r, m)
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("got %#v, want %#v", got, tt.want)
			}
			var ps []string
			for _, p := range r.Problems {
				ps = append(ps, fmt.Sprintf("%d:%s: %s", p.Line, p.Key, p.Msg))
			}
			if strings.Join(ps, "\n") != strings.Join(tt.problems, "\n") {
				t.Errorf("problems:\n%s\nwant:\n%s", strings.Join(ps, "\n"), strings.Join(tt.problems, "\n"))
			}
		})
	}
}

// TestDecode checks the problems of a document that cannot be read, each with its line.
func TestDecode(t *testing.T) {
	const empty = "the file is empty"
	tests := []struct {
		src      string
		ok       bool
		problems []string
	}{
		{"a: 1\n", true, nil},
		{"", false, []string{"1:: the file is empty"}},
		{"# only a comment\n~\n", false, []string{"1:: the file is empty"}},
		{"a: 1\n---\nb: 2\n", true, []string{`2:: a second YAML document starts here; mtguard reads one, so remove the "---" separator`}},
		{"a: 1\nb: [\n", false, []string{"2:: YAML syntax error: did not find expected node content"}},
		{"a: [\n", false, []string{"1:: YAML syntax error: did not find expected node content"}},
		{"a: b: c\n", false, []string{"1:: YAML syntax error: mapping values are not allowed in this context"}},
		{"a: 1\nb: *nope\n", false, []string{"2:: YAML syntax error: unknown anchor 'nope' referenced"}},
		{"a: 1\nb: \x01\n", false, []string{"2:: YAML syntax error: control characters are not allowed"}},
	}
	for _, tt := range tests {
		var r Reader
		n := r.Decode([]byte(tt.src), empty)
		var ps []string
		for _, p := range r.Problems {
			ps = append(ps, fmt.Sprintf("%d:%s: %s", p.Line, p.Key, p.Msg))
		}
		if (n != nil) != tt.ok || strings.Join(ps, "\n") != strings.Join(tt.problems, "\n") {
			t.Errorf("Decode(%q) = %v, problems:\n%s\nwant %v,\n%s", tt.src, n != nil, strings.Join(ps, "\n"), tt.ok, strings.Join(tt.problems, "\n"))
		}
	}
}

// TestProblems checks how Problems print and sort.
func TestProblems(t *testing.T) {
	ps := Problems{{Line: 3, Key: "b", Msg: "x"}, {Msg: "y"}, {Line: 3, Msg: "z"}, {Line: 1, Key: "a", Msg: "w"}}
	if got, want := ps.Error(), "line 3: b: x\ny\nline 3: z\nline 1: a: w"; got != want {
		t.Errorf("Error() = %q, want %q", got, want)
	}
	ps.SortByLine()
	if got, want := ps.Error(), "y\nline 1: a: w\nline 3: b: x\nline 3: z"; got != want {
		t.Errorf("sorted = %q, want %q", got, want)
	}
}
