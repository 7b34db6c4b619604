package schemas

import (
	"slices"
	"sort"
)

// ScanJSONPrefix returns the record keys at paths in the first bytes of a JSON document that
// was cut off (a body over max_body, of which only a prefix was read): every string value at
// a path that ends before the cut counts, a value the cut went through does not. It never
// fails; a prefix that is not JSON at all yields no keys.
func ScanJSONPrefix(raw []byte, paths []KeyPath) []string {
	s := scanner{lexer: lexer{b: raw}}
	var active [8]pathPos
	cands := active[:0]
	for i := range paths {
		cands = append(cands, pathPos{idx: i, path: &paths[i]})
	}
	s.ws()
	s.value(cands, 0) // stops at the cut: the keys found before it are kept
	sort.SliceStable(s.found, func(i, j int) bool { return s.found[i].idx < s.found[j].idx })
	keys := []string{}
	for _, f := range s.found {
		if !slices.Contains(keys, f.key) {
			keys = append(keys, f.key)
		}
	}
	return keys
}
