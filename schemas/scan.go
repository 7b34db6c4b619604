package schemas

import (
	"bytes"
	"encoding/json"
	"slices"
	"sort"
	"unicode/utf8"
)

// ScanJSON walks a JSON document once without building it: it returns the values found at
// paths (normalised, de-duplicated, like RecordKeys) and whether any object key, at any depth,
// is one isSecret recognises. It is the pipeline's fast path for routes with no checks, where
// decoding the whole body into maps would be wasted work. ok is false when raw is not valid
// JSON; the caller then falls back to ParseBody, which reports why.
func ScanJSON(raw []byte, paths []KeyPath, isSecret func(key []byte) bool) (keys []string, secret bool, ok bool) {
	s := scanner{b: raw, isSecret: isSecret}
	var active [8]pathPos
	cands := active[:0]
	for i := range paths {
		cands = append(cands, pathPos{idx: i, path: &paths[i]})
	}
	s.ws()
	if !s.value(cands, 0) {
		return nil, false, false
	}
	s.ws()
	if s.i != len(s.b) {
		return nil, false, false
	}
	// RecordKeys orders keys by path first, then by position in the document.
	sort.SliceStable(s.found, func(i, j int) bool { return s.found[i].idx < s.found[j].idx })
	for _, f := range s.found {
		if !slices.Contains(keys, f.key) {
			keys = append(keys, f.key)
		}
	}
	return keys, s.secret, true
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

type scanner struct {
	b        []byte
	i        int
	isSecret func([]byte) bool
	found    []foundKey
	secret   bool
}

const maxScanDepth = 200

func (s *scanner) ws() {
	for s.i < len(s.b) {
		switch s.b[s.i] {
		case ' ', '\t', '\n', '\r':
			s.i++
		default:
			return
		}
	}
}

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
	s.ws()
	if s.i < len(s.b) && s.b[s.i] == '}' {
		s.i++
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
		if !s.secret && s.isSecret != nil && s.isSecret(key) {
			s.secret = true
		}
		sub := next[:0]
		for _, p := range cands {
			if !p.needArray && p.seg < len(p.path.segs) && p.path.segs[p.seg].name == string(key) {
				sub = append(sub, pathPos{idx: p.idx, path: p.path, seg: p.seg + 1, needArray: p.path.segs[p.seg].array})
			}
		}
		s.ws()
		if s.i >= len(s.b) || s.b[s.i] != ':' {
			return false
		}
		s.i++
		s.ws()
		// A path segment written items[] walks an array; the array's elements continue it.
		if !s.value(sub, depth+1) {
			return false
		}
		s.ws()
		if s.i >= len(s.b) {
			return false
		}
		switch s.b[s.i] {
		case ',':
			s.i++
		case '}':
			s.i++
			return true
		default:
			return false
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
	s.ws()
	if s.i < len(s.b) && s.b[s.i] == ']' {
		s.i++
		return true
	}
	for {
		s.ws()
		if !s.value(sub, depth+1) {
			return false
		}
		s.ws()
		if s.i >= len(s.b) {
			return false
		}
		switch s.b[s.i] {
		case ',':
			s.i++
		case ']':
			s.i++
			return true
		default:
			return false
		}
	}
}

// skipString moves past a string starting at s.i (a quote), validating escapes loosely.
func (s *scanner) skipString() bool {
	s.i++
	for s.i < len(s.b) {
		switch c := s.b[s.i]; {
		case c == '"':
			s.i++
			return true
		case c == '\\':
			s.i += 2
		case c < 0x20:
			return false
		default:
			s.i++
		}
	}
	return false
}

func (s *scanner) literal(lit string) bool {
	if !bytes.HasPrefix(s.b[s.i:], []byte(lit)) {
		return false
	}
	s.i += len(lit)
	return true
}

func (s *scanner) number() bool {
	start := s.i
	for s.i < len(s.b) {
		switch c := s.b[s.i]; {
		case c >= '0' && c <= '9', c == '-', c == '+', c == '.', c == 'e', c == 'E':
			s.i++
		default:
			return s.i > start
		}
	}
	return s.i > start
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
