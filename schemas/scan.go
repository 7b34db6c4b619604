package schemas

import (
	"bytes"
	"encoding/json"
	"slices"
	"sort"
	"unicode/utf8"

	"github.com/mtguard/mtguard/txn"
)

// ScanJSON walks a JSON document once without building it: it returns the values found at
// paths (normalised, de-duplicated, like RecordKeys) and whether any object key, at any depth,
// is one isSecret recognises. It is the pipeline's fast path for routes with no checks, where
// decoding the whole body into maps would be wasted work. ok is false when raw is not valid
// JSON; the caller then falls back to ParseBody, which reports why.
func ScanJSON(raw []byte, paths []KeyPath, isSecret func(key []byte) bool) (keys []string, secret bool, ok bool) {
	s := scanner{lexer: lexer{b: raw}, isSecret: isSecret}
	keys, ok = s.scan(paths)
	return keys, s.secret, ok
}

// scan walks the document and returns the record keys found at paths.
func (s *scanner) scan(paths []KeyPath) (keys []string, ok bool) {
	var active [8]pathPos
	cands := active[:0]
	for i := range paths {
		cands = append(cands, pathPos{idx: i, path: &paths[i]})
	}
	s.ws()
	if !s.value(cands, 0) {
		return nil, false
	}
	s.ws()
	if s.i != len(s.b) {
		return nil, false
	}
	// RecordKeys orders keys by path first, then by position in the document.
	sort.SliceStable(s.found, func(i, j int) bool { return s.found[i].idx < s.found[j].idx })
	for _, f := range s.found {
		if !slices.Contains(keys, f.key) {
			keys = append(keys, f.key)
		}
	}
	return keys, true
}

// Scanned is what ScanJSONSpans reads of a document.
type Scanned struct {
	Keys   []string // as ScanJSON returns them
	Secret bool     // a secret field is there
	// Spans are the byte ranges of the values of the secret fields, outermost only (a
	// secret field inside a secret value is part of its span), in document order.
	Spans [][2]int
	// Canonical says raw is written as a one-pass JSON redactor writes it: no space between
	// tokens, every string printable ASCII with no escape and no <, > or &, every number in
	// JSON's strict grammar. Replacing each span of a canonical document gives that redactor's
	// output byte for byte, without a second walk.
	Canonical bool
}

// ScanJSONSpans is ScanJSON for a body that is to be stored redacted: it also returns where
// the secret fields' values are and whether the document is canonical (see Scanned).
func ScanJSONSpans(raw []byte, paths []KeyPath, isSecret func(key []byte) bool) (Scanned, bool) {
	s := scanner{lexer: lexer{b: raw}, isSecret: isSecret, spans: true}
	keys, ok := s.scan(paths)
	if !ok {
		return Scanned{}, false
	}
	// Judged after the walk, and only for a document with a secret, so that the common
	// body without one pays nothing for it.
	canonical := s.secret && !s.spaced && canonicalText(raw)
	return Scanned{Keys: keys, Secret: s.secret, Spans: s.secretSpans, Canonical: canonical}, true
}

// canonicalText reports, for a document the scanner took and that has no space between
// tokens, whether every string is plain (txn.PlainJSON, which rules out escapes) and every
// number in JSON's strict grammar.
func canonicalText(b []byte) bool {
	for i := 0; i < len(b); i++ {
		switch c := b[i]; {
		case c == '"':
			j := bytes.IndexByte(b[i+1:], '"') // the closing quote: no escape may come before it
			if j < 0 {
				return false
			}
			if !txn.PlainJSON(b[i+1 : i+1+j]) {
				return false
			}
			i += j + 1
		case c == '-' || c >= '0' && c <= '9':
			j := i
			for j < len(b) && (b[j] >= '0' && b[j] <= '9' || b[j] == '-' || b[j] == '+' || b[j] == '.' || b[j] == 'e' || b[j] == 'E') {
				j++
			}
			if num, ok := parseNumber(b[:j], i); !ok || num.end != j {
				return false
			}
			i = j - 1
		}
	}
	return true
}

type foundKey struct {
	idx int
	key string
}

// pathPos is a record-key path and how many of its segments the walk has matched. needArray
// is set right after a segment written items[]: only an array continues the path there.
type pathPos struct {
	idx       int // the path's position in the caller's list, to order the keys found
	path      *KeyPath
	seg       int
	needArray bool
}

// lexer holds a position in a JSON document and the steps every reader of it shares: the
// scanner (record keys, secret fields), the decoder (trees) and the contract fast path.
type lexer struct {
	b      []byte
	i      int
	spaced bool // ws skipped a space somewhere
}

func (l *lexer) ws() {
	for l.i < len(l.b) {
		switch l.b[l.i] {
		case ' ', '\t', '\n', '\r':
			l.i++
			l.spaced = true
		default:
			return
		}
	}
}

func (l *lexer) literal(lit string) bool {
	if len(l.b)-l.i < len(lit) || string(l.b[l.i:l.i+len(lit)]) != lit {
		return false
	}
	l.i += len(lit)
	return true
}

// empty moves past closer when the container just opened is empty.
func (l *lexer) empty(closer byte) bool {
	l.ws()
	if l.i < len(l.b) && l.b[l.i] == closer {
		l.i++
		return true
	}
	return false
}

// colon moves past the ':' after an object key and the spaces around it.
func (l *lexer) colon() bool {
	l.ws()
	if l.i >= len(l.b) || l.b[l.i] != ':' {
		return false
	}
	l.i++
	l.ws()
	return true
}

// next moves past what follows an element: a ',' (more is true) or closer (more is false).
// ok is false for anything else.
func (l *lexer) next(closer byte) (more, ok bool) {
	l.ws()
	if l.i < len(l.b) {
		switch l.b[l.i] {
		case ',':
			l.i++
			return true, true
		case closer:
			l.i++
			return false, true
		}
	}
	return false, false
}

type scanner struct {
	lexer
	isSecret func([]byte) bool
	found    []foundKey
	secret   bool

	// With spans, every key outside a secret value is judged and the secret values' spans
	// kept (ScanJSONSpans).
	spans       bool
	secretSpans [][2]int
	inSecret    int // how many secret values the walk is inside
}

const maxScanDepth = 200

// value scans one value. cands are the paths that arrive here; a path whose segments are all
// matched collects this value when it is a string.
func (s *scanner) value(cands []pathPos, depth int) bool {
	if s.i >= len(s.b) || depth > maxScanDepth {
		return false
	}
	switch c := s.b[s.i]; {
	case c == '{':
		return s.object(cands, depth)
	case c == '[':
		return s.array(cands, depth)
	case c == '"':
		start := s.i
		if !s.skipString() {
			return false
		}
		for _, p := range cands {
			if p.seg == len(p.path.segs) && !p.needArray {
				s.addKey(p.idx, s.b[start:s.i])
			}
		}
		return true
	case c == 't':
		return s.literal("true")
	case c == 'f':
		return s.literal("false")
	case c == 'n':
		return s.literal("null")
	case c == '-' || c >= '0' && c <= '9':
		return s.number()
	}
	return false
}

func (s *scanner) object(cands []pathPos, depth int) bool {
	s.i++ // {
	if s.empty('}') {
		return true
	}
	var next [8]pathPos
	for {
		s.ws()
		if s.i >= len(s.b) || s.b[s.i] != '"' {
			return false
		}
		start := s.i
		if !s.skipString() {
			return false
		}
		key := s.b[start+1 : s.i-1]
		escaped := bytes.IndexByte(key, '\\') >= 0
		if escaped {
			var k string
			if json.Unmarshal(s.b[start:s.i], &k) != nil {
				return false
			}
			key = []byte(k)
		}
		secretHere := false
		switch {
		case s.spans:
			secretHere = s.inSecret == 0 && s.isSecret != nil && s.isSecret(key)
			s.secret = s.secret || secretHere
		case !s.secret && s.isSecret != nil && s.isSecret(key):
			s.secret = true
		}
		sub := next[:0]
		for _, p := range cands {
			if !p.needArray && p.seg < len(p.path.segs) && p.path.segs[p.seg].name == string(key) {
				sub = append(sub, pathPos{idx: p.idx, path: p.path, seg: p.seg + 1, needArray: p.path.segs[p.seg].array})
			}
		}
		if !s.colon() {
			return false
		}
		// A path segment written items[] walks an array; the array's elements continue it.
		if secretHere {
			vstart := s.i
			s.inSecret++
			ok := s.value(sub, depth+1)
			s.inSecret--
			if !ok {
				return false
			}
			s.secretSpans = append(s.secretSpans, [2]int{vstart, s.i})
		} else if !s.value(sub, depth+1) {
			return false
		}
		if more, ok := s.next('}'); !more {
			return ok
		}
	}
}

func (s *scanner) array(cands []pathPos, depth int) bool {
	s.i++ // [
	// Only paths whose last matched segment was written with [] walk into the elements.
	var next [8]pathPos
	sub := next[:0]
	for _, p := range cands {
		if p.needArray {
			p.needArray = false
			sub = append(sub, p)
		}
	}
	if s.empty(']') {
		return true
	}
	for {
		s.ws()
		if !s.value(sub, depth+1) {
			return false
		}
		if more, ok := s.next(']'); !more {
			return ok
		}
	}
}

// skipString moves past a string starting at s.i (a quote), validating escapes loosely.
func (l *lexer) skipString() bool {
	l.i++
	// Most strings hold no escape: find the closing quote at once, then only look for the
	// control bytes JSON forbids, instead of judging every byte three ways.
	if q := bytes.IndexByte(l.b[l.i:], '"'); q >= 0 {
		if inner := l.b[l.i : l.i+q]; bytes.IndexByte(inner, '\\') < 0 {
			if !noControl(inner) {
				return false
			}
			l.i += q + 1
			return true
		}
	}
	for l.i < len(l.b) {
		switch c := l.b[l.i]; {
		case c == '"':
			l.i++
			return true
		case c == '\\':
			l.i += 2
		case c < 0x20:
			return false
		default:
			l.i++
		}
	}
	return false
}

// noControl reports whether b holds no byte below 0x20, which a JSON string may not hold as
// it is.
func noControl(b []byte) bool {
	for _, c := range b {
		if c < 0x20 {
			return false
		}
	}
	return true
}

func (l *lexer) number() bool {
	start := l.i
	for l.i < len(l.b) {
		switch c := l.b[l.i]; {
		case c >= '0' && c <= '9', c == '-', c == '+', c == '.', c == 'e', c == 'E':
			l.i++
		default:
			return l.i > start
		}
	}
	return l.i > start
}

// addKey decodes a quoted string value and notes it as a record key of path idx.
func (s *scanner) addKey(idx int, quoted []byte) {
	var v string
	inner := quoted[1 : len(quoted)-1]
	if bytes.IndexByte(inner, '\\') < 0 && utf8.Valid(inner) {
		v = string(inner)
	} else if json.Unmarshal(quoted, &v) != nil {
		return
	}
	if k := NormaliseKey(v); k != "" {
		s.found = append(s.found, foundKey{idx, k})
	}
}
