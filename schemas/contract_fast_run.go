package schemas

import (
	"bytes"
	"encoding/json"
	"hash/maphash"
	"math/big"
	"slices"
	"unicode/utf16"
	"unicode/utf8"
)

// fastResult is what the fast validator knows about a value against one node.
type fastResult uint8

const (
	fastValid   fastResult = iota // jsonschema would certainly accept it
	fastInvalid                   // jsonschema would certainly reject it
	fastUnsure
)

// and combines two results that must both hold: a certain failure wins over doubt.
func (a fastResult) and(b fastResult) fastResult {
	if a == fastInvalid || b == fastInvalid {
		return fastInvalid
	}
	return max(a, b)
}

func (a fastResult) not() fastResult {
	switch a {
	case fastValid:
		return fastInvalid
	case fastInvalid:
		return fastValid
	}
	return fastUnsure
}

// valid reports whether raw is a JSON document that the schema certainly accepts. false means
// "not sure": invalid, malformed, or beyond what the fast validator implements.
func (fv *fastValidator) valid(raw []byte) bool {
	r := fv.runs.Get().(*fastRun)
	r.fv, r.b, r.i = fv, raw, 0
	r.ws()
	base, ok := r.value(fv.targets, 0)
	if ok {
		r.ws()
		ok = r.i == len(r.b)
	}
	valid := ok && r.slots[r.slotOf(base, fv.root)].res == fastValid
	r.release()
	fv.runs.Put(r)
	return valid
}

// fastRun is the state of one validation. Its stacks hold, for the values being read from the
// root down, the nodes each value is checked against (slots), the child nodes being collected
// for the next value (targets, pairs) and the hashes of an object's keys.
type fastRun struct {
	lexer
	fv      *fastValidator
	str     string // b as a string, made the first time a Go string is needed
	hasStr  bool
	slots   []fastSlot
	targets []*fastNode
	pairs   []fastPair
	hashes  []uint64
	buf     []byte // unescaped strings
}

// fastSlot is one node applied to the value being read, and what is known so far.
type fastSlot struct {
	n   *fastNode
	res fastResult
	cnt int // required keys seen
}

// fastPair says that the slot at index slot needs the result of child for the next value.
type fastPair struct {
	slot  int
	child *fastNode
}

// maxKeptBuf bounds the scratch a pooled run keeps between calls.
const maxKeptBuf = 64 << 10

// release drops what belongs to the call, so that a pooled run does not keep a body alive.
func (r *fastRun) release() {
	r.fv, r.b, r.str, r.hasStr = nil, nil, "", false
	r.slots, r.targets, r.pairs, r.hashes = r.slots[:0], r.targets[:0], r.pairs[:0], r.hashes[:0]
	if cap(r.buf) > maxKeptBuf {
		r.buf = nil
	}
}

// wholeStringUpTo is the body size up to which the whole body is turned into one string the
// first time a keyword needs a Go string (format, pattern): one copy instead of one per value.
const wholeStringUpTo = 16 << 10

// text returns b[start:end] as a string.
func (r *fastRun) text(start, end int) string {
	if len(r.b) > wholeStringUpTo {
		return string(r.b[start:end])
	}
	if !r.hasStr {
		r.str, r.hasStr = string(r.b), true
	}
	return r.str[start:end]
}

func (r *fastRun) slotOf(base int, n *fastNode) int {
	for k := base; k < len(r.slots); k++ {
		if r.slots[k].n == n {
			return k
		}
	}
	return -1
}

func (r *fastRun) resultOf(base int, n *fastNode) fastResult {
	return r.slots[r.slotOf(base, n)].res
}

// value reads the value at r.i against targets and the nodes they apply in place; it returns
// where its slots start, for the caller to read the results and then drop them. ok is false
// when the document is not JSON the fast validator can vouch for.
func (r *fastRun) value(targets []*fastNode, depth int) (base int, ok bool) {
	base = len(r.slots)
	for _, t := range targets {
		for _, n := range t.closure {
			if len(targets) == 1 || r.slotOf(base, n) < 0 {
				r.slots = append(r.slots, fastSlot{n: n, res: n.initial()})
			}
		}
	}
	if r.i >= len(r.b) || depth > maxScanDepth {
		return base, false
	}
	switch c := r.b[r.i]; {
	case c == '{':
		ok = r.object(base, depth)
	case c == '[':
		ok = r.array(base, depth)
	case c == '"':
		ok = r.stringValue(base)
	case c == 't':
		ok = r.literal("true") && r.scalar(base, ftBool, true)
	case c == 'f':
		ok = r.literal("false") && r.scalar(base, ftBool, false)
	case c == 'n':
		ok = r.literal("null") && r.scalar(base, ftNull, nil)
	case c == '-' || c >= '0' && c <= '9':
		ok = r.numberValue(base)
	}
	if !ok {
		return base, false
	}
	r.combine(base)
	if r.fv.failFast {
		for k := base; k < len(r.slots); k++ {
			if r.slots[k].res == fastInvalid {
				return base, false
			}
		}
	}
	return base, true
}

func (n *fastNode) initial() fastResult {
	switch {
	case n.why != "":
		return fastUnsure
	case n.falseSchema:
		return fastInvalid
	}
	return fastValid
}

// open reports whether the slot still needs checking: a supported node not yet failed.
func (s *fastSlot) open() bool {
	return s.res != fastInvalid && s.n.why == ""
}

// combine folds the in-place keywords ($ref, allOf, anyOf, oneOf, not, if) of the value's
// slots into their results; the closure order puts every node after those it combines.
func (r *fastRun) combine(base int) {
	for k := base; k < len(r.slots); k++ {
		s := &r.slots[k]
		n := s.n
		if !s.open() || !n.hasInPlace {
			continue
		}
		res := s.res
		if n.ref != nil {
			res = res.and(r.resultOf(base, n.ref))
		}
		for _, a := range n.allOf {
			res = res.and(r.resultOf(base, a))
		}
		if len(n.anyOf) > 0 {
			some := fastInvalid
			for _, a := range n.anyOf {
				if x := r.resultOf(base, a); x == fastValid {
					some = fastValid
					break
				} else if x == fastUnsure {
					some = fastUnsure
				}
			}
			res = res.and(some)
		}
		if len(n.oneOf) > 0 {
			valid, unsure := 0, 0
			for _, a := range n.oneOf {
				switch r.resultOf(base, a) {
				case fastValid:
					valid++
				case fastUnsure:
					unsure++
				}
			}
			switch {
			case valid > 1:
				res = fastInvalid
			case unsure > 0:
				res = res.and(fastUnsure)
			case valid == 0:
				res = fastInvalid
			}
		}
		if n.not != nil {
			res = res.and(r.resultOf(base, n.not).not())
		}
		if n.ifN != nil {
			then, els := fastValid, fastValid
			if n.thenN != nil {
				then = r.resultOf(base, n.thenN)
			}
			if n.elseN != nil {
				els = r.resultOf(base, n.elseN)
			}
			switch r.resultOf(base, n.ifN) {
			case fastValid:
				res = res.and(then)
			case fastInvalid:
				res = res.and(els)
			default:
				switch {
				case then == fastInvalid && els == fastInvalid:
					res = fastInvalid
				case then != fastValid || els != fastValid:
					res = res.and(fastUnsure)
				}
			}
		}
		s.res = res
	}
}

// common checks type, enum and const for a value of kind t. v is the value when it is null or
// a boolean; strings and numbers have checks of their own.
func (s *fastSlot) common(t fastTypes, v any) {
	n := s.n
	if n.types != 0 && n.types&t == 0 {
		s.res = fastInvalid
		return
	}
	if n.enum != nil {
		s.res = s.res.and(n.enum.literal(t, v))
	}
	if n.cnst != nil {
		s.res = s.res.and(n.cnst.literal(t, v))
	}
}

// literal says whether the enum holds a value of kind t (v for null and booleans).
func (e *fastEnum) literal(t fastTypes, v any) fastResult {
	has := false
	switch t {
	case ftNull:
		has = e.null
	case ftBool:
		has = e.yes && v == true || e.no && v == false
	case ftNumber, ftObject, ftArray:
		// Equal by value, which is not worth deciding here.
		if t == ftNumber && e.number || t == ftObject && e.object || t == ftArray && e.array {
			return fastUnsure
		}
	}
	if has {
		return fastValid
	}
	return fastInvalid
}

func (e *fastEnum) str(b []byte) fastResult {
	if e.set != nil {
		if _, ok := e.set[string(b)]; ok {
			return fastValid
		}
		return fastInvalid
	}
	for _, s := range e.strs {
		if s == string(b) {
			return fastValid
		}
	}
	return fastInvalid
}

// scalar checks null, true or false against the slots.
func (r *fastRun) scalar(base int, t fastTypes, v any) bool {
	for k := base; k < len(r.slots); k++ {
		s := &r.slots[k]
		if !s.open() {
			continue
		}
		s.common(t, v)
		if s.res != fastInvalid && s.n.format != nil && s.n.format.Validate(v) != nil {
			s.res = fastInvalid
		}
	}
	return true
}

// stringValue checks a string value against the slots.
func (r *fastRun) stringValue(base int) bool {
	start := r.i + 1
	b, escaped, ok := r.readString()
	if !ok {
		return false
	}
	runes := -1
	var str string // the Go string, made when a keyword needs one
	var boxed any  // str as format functions take it
	goString := func() string {
		if str == "" && len(b) > 0 {
			if escaped {
				str = string(b)
			} else {
				str = r.text(start, start+len(b))
			}
		}
		return str
	}
	for k := base; k < len(r.slots); k++ {
		s := &r.slots[k]
		if !s.open() {
			continue
		}
		n := s.n
		if n.types != 0 && n.types&ftString == 0 {
			s.res = fastInvalid
			continue
		}
		if n.enum != nil {
			s.res = s.res.and(n.enum.str(b))
		}
		if n.cnst != nil {
			s.res = s.res.and(n.cnst.str(b))
		}
		if (n.minLen >= 0 || n.maxLen >= 0) && runes < 0 {
			runes = utf8.RuneCount(b)
		}
		if n.minLen >= 0 && runes < n.minLen || n.maxLen >= 0 && runes > n.maxLen {
			s.res = fastInvalid
			continue
		}
		if n.pattern != nil && !n.pattern.MatchString(goString()) {
			s.res = fastInvalid
			continue
		}
		if n.format != nil && s.res != fastInvalid && !(n.format.Name == "date-time" && plainDateTime(b)) {
			if boxed == nil {
				boxed = goString()
			}
			if n.format.Validate(boxed) != nil {
				s.res = fastInvalid
			}
		}
	}
	return true
}

// readString reads the string at r.i and returns what it stands for: a slice of the body when
// it has no escapes, else of r.buf, which the next string overwrites. ok is false for a string
// that is not valid JSON, holds invalid UTF-8 or a lone surrogate (encoding/json would
// replace those with U+FFFD; the full path does).
func (r *fastRun) readString() (s []byte, escaped, ok bool) {
	start := r.i + 1
	i := start
	high := false
	// Most strings are plain ASCII up to the closing quote: find it, then look at each
	// byte once more only for what makes a string special.
	if q := bytes.IndexByte(r.b[start:], '"'); q >= 0 {
		for _, c := range r.b[start : start+q] {
			if c < 0x20 || c == '\\' || c >= utf8.RuneSelf {
				high = true
				break
			}
		}
		if !high {
			r.i = start + q + 1
			return r.b[start : start+q], false, true
		}
		high = false
	}
	for ; i < len(r.b); i++ {
		c := r.b[i]
		if c == '"' {
			break
		}
		switch {
		case c == '\\':
			escaped = true
			i++ // the escaped byte is checked by unescape
		case c < 0x20:
			return nil, false, false
		case c >= utf8.RuneSelf:
			high = true
		}
	}
	if i >= len(r.b) {
		return nil, false, false
	}
	r.i = i + 1
	raw := r.b[start:i]
	if high && !utf8.Valid(raw) {
		return nil, false, false
	}
	if !escaped {
		return raw, false, true
	}
	r.buf, ok = unescapeJSON(r.buf[:0], raw)
	return r.buf, true, ok
}

// unescapeJSON appends to dst the text that raw, the inside of a JSON string, stands for.
func unescapeJSON(dst, raw []byte) ([]byte, bool) {
	for i := 0; i < len(raw); {
		c := raw[i]
		if c != '\\' {
			dst = append(dst, c)
			i++
			continue
		}
		if i+1 >= len(raw) {
			return dst, false
		}
		switch raw[i+1] {
		case '"', '\\', '/':
			dst = append(dst, raw[i+1])
		case 'b':
			dst = append(dst, '\b')
		case 'f':
			dst = append(dst, '\f')
		case 'n':
			dst = append(dst, '\n')
		case 'r':
			dst = append(dst, '\r')
		case 't':
			dst = append(dst, '\t')
		case 'u':
			r1, ok := hex4(raw[i+2:])
			if !ok {
				return dst, false
			}
			i += 6
			if utf16.IsSurrogate(r1) {
				// Only a high surrogate followed by an escaped low one is a character.
				if r1 >= 0xDC00 || i+1 >= len(raw) || raw[i] != '\\' || raw[i+1] != 'u' {
					return dst, false
				}
				r2, ok := hex4(raw[i+2:])
				if !ok || r2 < 0xDC00 || r2 > 0xDFFF {
					return dst, false
				}
				r1 = utf16.DecodeRune(r1, r2)
				i += 6
			}
			dst = utf8.AppendRune(dst, r1)
			continue
		default:
			return dst, false
		}
		i += 2
	}
	return dst, true
}

func hex4(b []byte) (rune, bool) {
	if len(b) < 4 {
		return 0, false
	}
	var v rune
	for _, c := range b[:4] {
		switch {
		case c >= '0' && c <= '9':
			c -= '0'
		case c >= 'a' && c <= 'f':
			c -= 'a' - 10
		case c >= 'A' && c <= 'F':
			c -= 'A' - 10
		default:
			return 0, false
		}
		v = v<<4 | rune(c)
	}
	return v, true
}

// fastNumber is where the parts of a number are in the body.
type fastNumber struct {
	start, end         int
	intStart, intEnd   int // digits before the point
	fracStart, fracEnd int // digits after it
	exp                int // the exponent's value, 0 when absent
	expOK              bool
	plain              bool // no fraction, no exponent
}

// readNumber reads the number at the cursor and moves past it.
func (r *fastRun) readNumber() (fastNumber, bool) {
	num, ok := parseNumber(r.b, r.i)
	if ok {
		r.i = num.end
	}
	return num, ok
}

// parseNumber reads the number that starts at b[i] by JSON's grammar,
// -?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)?, and says where its parts are. It stops at
// the first byte the grammar does not take; ok is false when no number ends there.
func parseNumber(b []byte, i int) (num fastNumber, ok bool) {
	num = fastNumber{start: i, expOK: true}
	if i < len(b) && b[i] == '-' {
		i++
	}
	digits := func() int {
		n := 0
		for i < len(b) && b[i] >= '0' && b[i] <= '9' {
			i++
			n++
		}
		return n
	}
	num.intStart = i
	switch {
	case i < len(b) && b[i] == '0':
		i++
	case digits() == 0:
		return num, false
	}
	num.intEnd = i
	num.fracStart, num.fracEnd = i, i
	if i < len(b) && b[i] == '.' {
		i++
		num.fracStart = i
		if digits() == 0 {
			return num, false
		}
		num.fracEnd = i
	}
	if i < len(b) && (b[i] == 'e' || b[i] == 'E') {
		i++
		neg := false
		if i < len(b) && (b[i] == '+' || b[i] == '-') {
			neg = b[i] == '-'
			i++
		}
		from := i
		if digits() == 0 {
			return num, false
		}
		// Past a few digits the exponent is left unsure: big.Rat, which jsonschema
		// uses, refuses or takes long over huge ones.
		if i-from > 4 {
			num.expOK = false
		} else {
			for _, c := range b[from:i] {
				num.exp = num.exp*10 + int(c-'0')
			}
			if neg {
				num.exp = -num.exp
			}
		}
	}
	num.end = i
	num.plain = num.fracStart == num.fracEnd && num.end == num.fracEnd
	return num, true
}

// maxFracDigits bounds the fraction whose integer-ness is decided; past it, unsure.
const maxFracDigits = 1000

// integer says whether the number has no fractional part, as jsonschema decides it (1.0 and
// 1e2 are integers).
func (r *fastRun) integer(num fastNumber) fastResult {
	if num.plain {
		return fastValid
	}
	if !num.expOK || num.fracEnd-num.fracStart > maxFracDigits {
		return fastUnsure
	}
	// The value is digits × 10^(exp − fraction digits), where digits are those before and
	// after the point; trailing zeros of the digits make up for a negative power.
	frac := num.fracEnd - num.fracStart
	digits := func(k int) byte { // the k-th digit from the end
		if k < frac {
			return r.b[num.fracEnd-1-k]
		}
		return r.b[num.intEnd-1-(k-frac)]
	}
	total := num.intEnd - num.intStart + frac
	zeros := 0
	for zeros < total && digits(zeros) == '0' {
		zeros++
	}
	if zeros == total || num.exp-frac+zeros >= 0 {
		return fastValid
	}
	return fastInvalid
}

// compare returns the sign of num − bound; ok is false when it is not worth deciding.
func (r *fastRun) compare(num fastNumber, bound *fastBound) (int, bool) {
	if num.plain && bound.isInt && num.end-num.start <= 18 {
		var v int64
		for _, c := range r.b[num.intStart:num.intEnd] {
			v = v*10 + int64(c-'0')
		}
		if r.b[num.start] == '-' {
			v = -v
		}
		switch {
		case v < bound.i64:
			return -1, true
		case v > bound.i64:
			return 1, true
		}
		return 0, true
	}
	if !num.expOK {
		return 0, false
	}
	// As jsonschema does: the number's text as a big.Rat.
	x, ok := new(big.Rat).SetString(r.text(num.start, num.end))
	if !ok {
		return 0, false
	}
	return x.Cmp(bound.rat), true
}

// numberValue checks a number against the slots.
func (r *fastRun) numberValue(base int) bool {
	num, ok := r.readNumber()
	if !ok {
		return false
	}
	isInt := fastUnsure
	intKnown := false
	for k := base; k < len(r.slots); k++ {
		s := &r.slots[k]
		if !s.open() {
			continue
		}
		n := s.n
		if n.types != 0 && n.types&ftNumber == 0 {
			if n.types&ftInteger == 0 {
				s.res = fastInvalid
				continue
			}
			if !intKnown {
				isInt, intKnown = r.integer(num), true
			}
			if s.res = s.res.and(isInt); s.res == fastInvalid {
				continue
			}
		}
		if n.enum != nil {
			s.res = s.res.and(n.enum.literal(ftNumber, nil))
		}
		if n.cnst != nil {
			s.res = s.res.and(n.cnst.literal(ftNumber, nil))
		}
		if n.format != nil && n.format.Validate(json.Number(r.text(num.start, num.end))) != nil {
			s.res = fastInvalid
		}
		s.res = s.res.and(r.bounds(num, n))
	}
	return true
}

// bounds checks minimum, maximum and their exclusive forms.
func (r *fastRun) bounds(num fastNumber, n *fastNode) fastResult {
	res := fastValid
	check := func(b *fastBound, ok func(sign int) bool) {
		if b == nil || res == fastInvalid {
			return
		}
		sign, known := r.compare(num, b)
		switch {
		case !known:
			res = fastUnsure
		case !ok(sign):
			res = fastInvalid
		}
	}
	check(n.min, func(s int) bool { return s >= 0 })
	check(n.max, func(s int) bool { return s <= 0 })
	check(n.exMin, func(s int) bool { return s > 0 })
	check(n.exMax, func(s int) bool { return s < 0 })
	return res
}

// container checks the keywords of an object or array value that do not look inside it.
func (r *fastRun) container(base, end int, t fastTypes) {
	for k := base; k < end; k++ {
		s := &r.slots[k]
		if !s.open() {
			continue
		}
		s.common(t, nil)
		if s.res != fastInvalid && s.n.format != nil {
			// jsonschema passes the whole object or array; not worth building here.
			s.res = s.res.and(fastUnsure)
		}
	}
}

// object reads an object: each value against the schemas its key selects in every slot.
func (r *fastRun) object(base, depth int) bool {
	end := len(r.slots)
	r.container(base, end, ftObject)
	r.i++ // {
	hbase := len(r.hashes)
	keys := 0
	if !r.empty('}') {
		for {
			r.ws()
			if r.i >= len(r.b) || r.b[r.i] != '"' {
				return false
			}
			keyAt := r.i
			key, _, ok := r.readString()
			if !ok {
				return false
			}
			keys++
			r.hashes = append(r.hashes, maphash.Bytes(r.fv.seed, key))
			tbase, pbase := len(r.targets), len(r.pairs)
			names := false
			for k := base; k < end; k++ {
				s := &r.slots[k]
				if !s.open() || !s.n.object {
					continue
				}
				n := s.n
				fk, found := n.keys[string(key)]
				if fk.required {
					s.cnt++
				}
				child := fk.node
				if !found || !fk.inProps {
					if n.addlFalse {
						s.res = fastInvalid
						continue
					}
					child = n.addl
				}
				if child != nil {
					r.addPair(k, child, tbase)
				}
				names = names || n.propNames != nil
			}
			tend, pend := len(r.targets), len(r.pairs)
			if names && !r.propertyNames(base, end, keyAt, depth) {
				return false
			}
			if !r.colon() {
				return false
			}
			cb, ok := r.value(r.targets[tbase:tend], depth+1)
			if !ok {
				return false
			}
			r.fold(cb, pbase, pend)
			r.slots, r.targets, r.pairs = r.slots[:cb], r.targets[:tbase], r.pairs[:pbase]
			more, ok := r.next('}')
			if !ok {
				return false
			}
			if !more {
				break
			}
		}
	}
	if hs := r.hashes[hbase:]; len(hs) > 1 {
		slices.Sort(hs)
		for i := 1; i < len(hs); i++ {
			if hs[i] == hs[i-1] {
				return false // a duplicate key, or two keys that hash alike: either way, not sure
			}
		}
	}
	r.hashes = r.hashes[:hbase]
	for k := base; k < end; k++ {
		s := &r.slots[k]
		if !s.open() || !s.n.object {
			continue
		}
		n := s.n
		if s.cnt < n.required || n.minProps >= 0 && keys < n.minProps || n.maxProps >= 0 && keys > n.maxProps {
			s.res = fastInvalid
		}
	}
	return true
}

// propertyNames checks the key at keyAt, as a string value of its own, against the
// propertyNames of the slots base to end.
func (r *fastRun) propertyNames(base, end, keyAt, depth int) bool {
	resume := r.i
	tbase, pbase := len(r.targets), len(r.pairs)
	for k := base; k < end; k++ {
		if s := &r.slots[k]; s.open() && s.n.propNames != nil {
			r.addPair(k, s.n.propNames, tbase)
		}
	}
	r.i = keyAt
	cb, ok := r.value(r.targets[tbase:], depth+1)
	if !ok {
		return false
	}
	r.fold(cb, pbase, len(r.pairs))
	r.slots, r.targets, r.pairs = r.slots[:cb], r.targets[:tbase], r.pairs[:pbase]
	r.i = resume
	return true
}

// addPair notes that slot k needs the result of child, adding child to the targets from tbase
// unless it is there already.
func (r *fastRun) addPair(k int, child *fastNode, tbase int) {
	r.pairs = append(r.pairs, fastPair{slot: k, child: child})
	if !slices.Contains(r.targets[tbase:], child) {
		r.targets = append(r.targets, child)
	}
}

// fold ands the results of the child value (slots from cb) into the slots of pairs[from:to].
func (r *fastRun) fold(cb, from, to int) {
	for _, p := range r.pairs[from:to] {
		s := &r.slots[p.slot]
		s.res = s.res.and(r.resultOf(cb, p.child))
	}
}

// array reads an array: every element against the items of every slot.
func (r *fastRun) array(base, depth int) bool {
	end := len(r.slots)
	r.container(base, end, ftArray)
	r.i++ // [
	tbase, pbase := len(r.targets), len(r.pairs)
	for k := base; k < end; k++ {
		if s := &r.slots[k]; s.open() && s.n.items != nil {
			r.addPair(k, s.n.items, tbase)
		}
	}
	tend, pend := len(r.targets), len(r.pairs)
	count := 0
	if !r.empty(']') {
		for {
			r.ws()
			cb, ok := r.value(r.targets[tbase:tend], depth+1)
			if !ok {
				return false
			}
			count++
			r.fold(cb, pbase, pend)
			r.slots = r.slots[:cb]
			more, ok := r.next(']')
			if !ok {
				return false
			}
			if !more {
				break
			}
		}
	}
	r.targets, r.pairs = r.targets[:tbase], r.pairs[:pbase]
	for k := base; k < end; k++ {
		s := &r.slots[k]
		if !s.open() {
			continue
		}
		if n := s.n; n.minItems >= 0 && count < n.minItems || n.maxItems >= 0 && count > n.maxItems {
			s.res = fastInvalid
		}
	}
	return true
}
