package schemas

import (
	"errors"
	"fmt"
	"reflect"
	"slices"

	"github.com/santhosh-tekuri/jsonschema/v6"
	"github.com/santhosh-tekuri/jsonschema/v6/kind"
)

// A vendor's answer that breaks its contract usually breaks it in one member (a field whose
// type changed), yet the full path parses the whole answer and runs jsonschema over all of it:
// on HubSpot's 1 KB contact answer that is ten times the fast path. When the contract's root is
// a plain object schema (properties, required, additionalProperties and nothing that relates
// members to each other), the violations of a document are those of the root's own keywords
// plus those of each member against its own schema, each at its own location. So the members
// the fast validator certainly accepts can be left out: only the others are parsed and
// validated, and the root's required list is judged on every key the document has. The
// messages are the full path's (TestMemberPathMatchesFullPath holds them to that).

// memberPlan is what a plain object contract needs to check a document member by member.
type memberPlan struct {
	// props holds, for each key under properties, the fast validator of its schema (nil when
	// that schema is beyond the fast validator: such a member is always validated in full).
	props map[string]*fastValidator
	// addl is how additionalProperties treats other keys; addlFast its schema's validator.
	addl     memberAddl
	addlFast *fastValidator
	// types holds, for each key under properties whose schema says nothing but its type, the
	// types it allows: a member of another type is phrased here without jsonschema.
	types map[string][]string
	// required is the root's required list, in the contract's order.
	required []string
}

type memberAddl int

const (
	addlAny    memberAddl = iota // absent or true: other keys are not checked
	addlNone                     // false: other keys are violations
	addlSchema                   // a schema checks other keys' values
)

// newMemberPlan returns the plan of s, or nil when s (after a root that is only a $ref) is
// not a plain object schema.
func newMemberPlan(s *jsonschema.Schema) *memberPlan {
	for range 8 { // a root that only points elsewhere: follow it, a few steps at most
		if s.Ref == nil || !onlyKeywords(s, "Ref") {
			break
		}
		s = s.Ref
	}
	if s.Ref != nil || !onlyKeywords(s, "Types", "Properties", "Required", "AdditionalProperties") {
		return nil
	}
	p := &memberPlan{props: make(map[string]*fastValidator, len(s.Properties)), types: map[string][]string{}, required: s.Required}
	for k, sub := range s.Properties {
		p.props[k] = newFastValidator(sub)
		if sub.Types != nil && sub.Ref == nil && onlyKeywords(sub, "Types") {
			p.types[k] = sub.Types.ToStrings()
		}
	}
	switch a := s.AdditionalProperties.(type) {
	case nil:
	case bool:
		if !a {
			p.addl = addlNone
		}
	case *jsonschema.Schema:
		p.addl, p.addlFast = addlSchema, newFastValidator(a)
	default:
		return nil
	}
	return p
}

// onlyKeywords reports whether every keyword s sets is one of allowed; annotations and
// bookkeeping fields do not count (fastFieldKind).
func onlyKeywords(s *jsonschema.Schema, allowed ...string) bool {
	v := reflect.ValueOf(s).Elem()
	t := v.Type()
	for i := range t.NumField() {
		if v.Field(i).IsZero() {
			continue
		}
		name := t.Field(i).Name
		if fastFieldKind(name) != fastIgnored && !slices.Contains(allowed, name) {
			return false
		}
	}
	return true
}

// certain reports whether the member key, whose value is raw, certainly adds no violation.
func (p *memberPlan) certain(key string, raw []byte) bool {
	if fv, ok := p.props[key]; ok {
		return fv != nil && fv.valid(raw)
	}
	switch p.addl {
	case addlAny:
		return true
	case addlSchema:
		return p.addlFast != nil && p.addlFast.valid(raw)
	}
	return false
}

// validateMembers checks raw, a JSON document, member by member (see memberPlan). ok is false
// when raw is not an object this path takes (not an object, malformed, a key given twice,
// data after it): the caller then takes the full path, which says what is wrong. phrasedHere
// says the messages were phrased without jsonschema (every member not certain was a plain
// type mismatch).
func (s *pinnedSchema) validateMembers(raw []byte) (msgs []string, ok, phrasedHere bool) {
	d := decoder{lexer: lexer{b: raw}}
	d.ws()
	if d.i >= len(d.b) || d.b[d.i] != '{' {
		return nil, false, false
	}
	d.i++
	keys := map[string]bool{}
	doc := map[string]any{}
	var phrased []violation // the violations of the members not certain, while each is a plain type mismatch
	plain := true
	if !d.empty('}') {
		for {
			d.ws()
			if d.i >= len(d.b) || d.b[d.i] != '"' {
				return nil, false, false
			}
			k, ok := d.str()
			if !ok || !d.colon() || keys[k] {
				return nil, false, false // jsonschema sees only the last of duplicate keys
			}
			keys[k] = true
			start := d.i
			if !d.skipValue(1) {
				return nil, false, false
			}
			if !s.members.certain(k, raw[start:d.i]) {
				// Decoded as the whole document's decoding would decode it, at its depth.
				md := decoder{lexer: lexer{b: raw, i: start}}
				v, ok := md.val(1)
				if !ok || md.i != d.i {
					return nil, false, false
				}
				doc[k] = v
				if plain {
					var vi violation
					if vi, plain = s.members.typeMismatch(k, v); plain {
						phrased = append(phrased, vi)
					}
				}
			}
			more, ok := d.next('}')
			if !ok {
				return nil, false, false
			}
			if !more {
				break
			}
		}
	}
	d.ws()
	if d.i != len(d.b) {
		return nil, false, false
	}
	if plain && len(phrased) > 0 {
		return s.members.phrase(phrased, keys), true, true
	}
	return s.validatePart(doc, keys), true, false
}

// typeMismatch phrases member k, whose value is v, when its schema says nothing but a type
// and v is not of it: the one violation jsonschema would report there, phrased as leaf
// phrases it. ok is false for anything else (a number, whose integer or not is jsonschema's
// to judge; a schema with more keywords), which goes to jsonschema.
func (p *memberPlan) typeMismatch(k string, v any) (violation, bool) {
	want, ok := p.types[k]
	if !ok {
		return violation{}, false
	}
	switch got := jsonTypeOf(v); got {
	case "integer", "number":
		return violation{}, false
	default:
		if slices.Contains(want, got) {
			return violation{}, false
		}
	}
	loc := []string{k}
	return violation{loc: loc, msg: typeMessage(v, loc, want), typ: true}, true
}

// phrase returns the messages of a document whose members' violations are vs, adding the
// root's required fields that keys lacks, as explain gives them.
func (p *memberPlan) phrase(vs []violation, keys map[string]bool) []string {
	var missing []string
	for _, r := range p.required {
		if !keys[r] && !slices.Contains(missing, r) {
			missing = append(missing, r)
		}
	}
	if len(missing) > 0 {
		vs = append(vs, violation{msg: "missing required " + fieldList(missing)})
	}
	return render(vs)
}

// validatePart is validate for doc, the members of a document that may hold a violation;
// keys are all the document's keys, which the root's required list is judged on.
func (s *pinnedSchema) validatePart(doc map[string]any, keys map[string]bool) (msgs []string) {
	defer func() {
		// As in validate: jsonschema v6.0.3 panics on numbers big.Rat cannot hold.
		if r := recover(); r != nil {
			msgs = []string{fmt.Sprintf("/: the contract could not be evaluated on this document (%v); look for a number out of any sensible range", r)}
		}
	}()
	err := s.schema.Validate(doc)
	if err == nil {
		return nil
	}
	ve, ok := err.(*jsonschema.ValidationError) // what Validate returns; errors.As is slower
	if !ok && !errors.As(err, &ve) {
		return []string{"/: " + err.Error()}
	}
	if !keepMissing(ve, keys) {
		return nil
	}
	return explain(ve, doc)
}

// keepMissing narrows the root's required errors under e to the keys the document lacks,
// drops those left empty and any error left without causes, and reports whether e remains.
func keepMissing(e *jsonschema.ValidationError, keys map[string]bool) bool {
	if rk, ok := e.ErrorKind.(*kind.Required); ok && len(e.InstanceLocation) == 0 {
		missing := slices.DeleteFunc(slices.Clone(rk.Missing), func(k string) bool { return keys[k] })
		if len(missing) == 0 {
			return false
		}
		e.ErrorKind = &kind.Required{Missing: missing}
		return true
	}
	if len(e.Causes) == 0 {
		return true
	}
	e.Causes = slices.DeleteFunc(e.Causes, func(c *jsonschema.ValidationError) bool { return !keepMissing(c, keys) })
	return len(e.Causes) > 0
}

// skipValue moves past one JSON value at depth, checking its structure as decoder.val does,
// without building it. Strings are only delimited: a member whose value is kept is decoded,
// and one left out was read by the fast validator, which takes only well-formed values.
func (l *lexer) skipValue(depth int) bool {
	if l.i >= len(l.b) || depth > maxScanDepth {
		return false
	}
	switch c := l.b[l.i]; {
	case c == '{', c == '[':
		closer := byte('}')
		if c == '[' {
			closer = ']'
		}
		l.i++
		if l.empty(closer) {
			return true
		}
		for {
			l.ws()
			if closer == '}' {
				if l.i >= len(l.b) || l.b[l.i] != '"' || !l.skipString() || !l.colon() {
					return false
				}
			}
			if !l.skipValue(depth + 1) {
				return false
			}
			more, ok := l.next(closer)
			if !ok {
				return false
			}
			if !more {
				return true
			}
		}
	case c == '"':
		return l.skipString()
	case c == 't':
		return l.literal("true")
	case c == 'f':
		return l.literal("false")
	case c == 'n':
		return l.literal("null")
	case c == '-' || c >= '0' && c <= '9':
		start := l.i
		return l.number() && validNumber(l.b[start:l.i])
	}
	return false
}
