package schemas

import (
	"encoding/json"
	"errors"
	"fmt"
	"math/big"
	"slices"
	"sort"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/mtguard/mtguard/txn"
	"github.com/santhosh-tekuri/jsonschema/v6"
	"github.com/santhosh-tekuri/jsonschema/v6/kind"
	"golang.org/x/text/language"
	"golang.org/x/text/message"
)

// validate checks doc against s and returns one message per violation, sorted by where in
// the document it is; nil when doc is valid.
func (s *pinnedSchema) validate(doc any) (msgs []string) {
	if _, ok := doc.(emptyBody); ok {
		return []string{"/: the body is empty; the contract expects a JSON document"}
	}
	defer func() {
		// jsonschema v6.0.3 panics comparing a number that big.Rat cannot hold (1e9999999999)
		// with a minimum or maximum. A payload must never take the call down with it.
		if r := recover(); r != nil {
			msgs = []string{fmt.Sprintf("/: the contract could not be evaluated on this document (%v); look for a number out of any sensible range", r)}
		}
	}()
	err := s.schema.Validate(doc)
	if err == nil {
		return nil
	}
	var ve *jsonschema.ValidationError
	if !errors.As(err, &ve) {
		return []string{"/: " + err.Error()}
	}
	return explain(ve, doc)
}

// violation is one broken rule at one place of a document.
type violation struct {
	loc []string // the instance location, as JSON pointer tokens
	msg string   // what is wrong, without the location
	typ bool     // a type mismatch (used to pick among anyOf/oneOf branches)
}

// explain turns a validation error tree into messages a person can act on:
// `/properties/date_of_birth: "03/15/1990" is not a valid date (expected YYYY-MM-DD)`.
// doc is the validated document, used to quote offending values; it may be nil.
func explain(ve *jsonschema.ValidationError, doc any) []string {
	var vs []violation
	collect(ve, doc, &vs)
	return render(vs)
}

// render sorts violations by where in the document they are and writes one message each.
func render(vs []violation) []string {
	sort.SliceStable(vs, func(i, j int) bool { return lessLoc(vs[i].loc, vs[j].loc) })
	out := make([]string, 0, len(vs))
	for _, v := range vs {
		m := pointer(v.loc) + ": " + v.msg
		if len(out) > 0 && out[len(out)-1] == m {
			continue
		}
		out = append(out, m)
	}
	return out
}

// collect appends the leaves of e's tree as violations; anyOf and oneOf failures are reduced
// to the branch that came closest, so a person reads what to fix rather than every
// alternative.
func collect(e *jsonschema.ValidationError, doc any, out *[]violation) {
	switch k := e.ErrorKind.(type) {
	case *kind.AnyOf:
		*out = append(*out, closestBranch(e, doc)...)
		return
	case *kind.OneOf:
		if len(k.Subschemas) == 0 {
			*out = append(*out, closestBranch(e, doc)...)
			return
		}
	}
	if pn, ok := e.ErrorKind.(*kind.PropertyNames); ok {
		// jsonschema v6.0.3 gives a propertyNames error a location that later errors can
		// overwrite, so find the object again: the one at that depth that has the field.
		loc := findKey(doc, pn.Property, len(e.InstanceLocation), nil)
		if loc == nil {
			loc = slices.Clone(e.InstanceLocation)
		}
		// The causes judged the name as a document of its own; say which field it was.
		var inner []violation
		for _, c := range e.Causes {
			collect(c, pn.Property, &inner)
		}
		for _, v := range inner {
			*out = append(*out, violation{loc: loc, msg: "the field name " + v.msg})
		}
		if len(inner) == 0 {
			*out = append(*out, violation{loc: loc, msg: fmt.Sprintf("the field name %q is not allowed", pn.Property)})
		}
		return
	}
	if len(e.Causes) > 0 {
		for _, c := range e.Causes {
			collect(c, doc, out)
		}
		return
	}
	*out = append(*out, leaf(e, doc))
}

// closestBranch picks, among the failed branches of an anyOf or oneOf, the one to report.
// When every branch only wanted another type, the types are merged into one message
// ("42 is a number, expected a string or null"); otherwise branches that only wanted another
// type are dropped and the one with the fewest violations is kept.
func closestBranch(e *jsonschema.ValidationError, doc any) []violation {
	var branches [][]violation
	var wants []string
	allType := true
	for _, c := range e.Causes {
		var vs []violation
		collect(c, doc, &vs)
		if len(vs) == 1 && vs[0].typ && slices.Equal(vs[0].loc, e.InstanceLocation) {
			if tk := typeKindOf(c); tk != nil {
				wants = append(wants, tk.Want...)
			}
			continue
		}
		allType = false
		branches = append(branches, vs)
	}
	if allType {
		if len(wants) == 0 {
			return []violation{{loc: slices.Clone(e.InstanceLocation), msg: "matches none of the allowed shapes"}}
		}
		return []violation{{loc: slices.Clone(e.InstanceLocation), typ: true, msg: typeMessage(valueAt(doc, e.InstanceLocation), e.InstanceLocation, dedupe(wants))}}
	}
	// "userId or anonymousId is required" is written as an anyOf of required lists.
	var missing []string
	for _, c := range e.Causes {
		for len(c.Causes) == 1 {
			c = c.Causes[0]
		}
		rk, ok := c.ErrorKind.(*kind.Required)
		if !ok || !slices.Equal(c.InstanceLocation, e.InstanceLocation) {
			missing = nil
			break
		}
		missing = append(missing, strings.Join(quoteAll(rk.Missing), " and "))
	}
	if len(missing) > 1 {
		return []violation{{loc: slices.Clone(e.InstanceLocation), msg: "missing a required field: give " + strings.Join(missing, " or ")}}
	}
	best := branches[0]
	for _, b := range branches[1:] {
		if len(b) < len(best) {
			best = b
		}
	}
	return best
}

// typeKindOf finds the type error under e, if it is the only leaf.
func typeKindOf(e *jsonschema.ValidationError) *kind.Type {
	for len(e.Causes) == 1 {
		e = e.Causes[0]
	}
	tk, _ := e.ErrorKind.(*kind.Type)
	return tk
}

// printer renders the messages of error kinds mtguard does not phrase itself.
var printer = message.NewPrinter(language.English)

// leaf phrases one violation.
func leaf(e *jsonschema.ValidationError, doc any) violation {
	// The validator reuses the backing array of InstanceLocation; keep a copy.
	loc := slices.Clone(e.InstanceLocation)
	val := valueAt(doc, loc)
	shown := showValue(val, loc)
	v := violation{loc: loc}
	switch k := e.ErrorKind.(type) {
	case *kind.Type:
		v.typ = true
		v.msg = typeMessage(val, loc, k.Want)
	case *kind.Required:
		v.msg = "missing required " + fieldList(k.Missing)
	case *kind.Format:
		shown = showValue(k.Got, loc)
		v.msg = fmt.Sprintf("%s is not a valid %s", shown, k.Want)
		if hint, ok := formatHints[k.Want]; ok {
			v.msg += " (expected " + hint + ")"
		}
	case *kind.Enum:
		v.msg = fmt.Sprintf("%s is not one of %s", shown, valueList(k.Want))
	case *kind.Const:
		v.msg = fmt.Sprintf("%s must be exactly %s", shown, showValue(k.Want, nil))
	case *kind.AdditionalProperties:
		if len(k.Properties) == 1 {
			v.msg = fmt.Sprintf("field %q is not allowed here", k.Properties[0])
		} else {
			// jsonschema lists them in its map's order, which changes from run to run.
			v.msg = fmt.Sprintf("fields %s are not allowed here", quotedList(slices.Sorted(slices.Values(k.Properties))))
		}
	case *kind.MinLength:
		v.msg = fmt.Sprintf("%s is too short (%s, at least %d)", shown, plural(k.Got, "character"), k.Want)
	case *kind.MaxLength:
		v.msg = fmt.Sprintf("%s is too long (%s, at most %d)", shown, plural(k.Got, "character"), k.Want)
	case *kind.Pattern:
		v.msg = fmt.Sprintf("%s does not match the pattern %s", shown, k.Want)
	case *kind.Minimum:
		v.msg = fmt.Sprintf("%s is less than the minimum %s", shown, ratString(k.Want))
	case *kind.Maximum:
		v.msg = fmt.Sprintf("%s is more than the maximum %s", shown, ratString(k.Want))
	case *kind.ExclusiveMinimum:
		v.msg = fmt.Sprintf("%s must be more than %s", shown, ratString(k.Want))
	case *kind.ExclusiveMaximum:
		v.msg = fmt.Sprintf("%s must be less than %s", shown, ratString(k.Want))
	case *kind.MultipleOf:
		v.msg = fmt.Sprintf("%s is not a multiple of %s", shown, ratString(k.Want))
	case *kind.MinItems:
		v.msg = fmt.Sprintf("has %s, at least %d required", plural(k.Got, "item"), k.Want)
	case *kind.MaxItems:
		v.msg = fmt.Sprintf("has %s, at most %d allowed", plural(k.Got, "item"), k.Want)
	case *kind.MinProperties:
		v.msg = fmt.Sprintf("has %s, at least %d required", plural(k.Got, "field"), k.Want)
	case *kind.MaxProperties:
		v.msg = fmt.Sprintf("has %s, at most %d allowed", plural(k.Got, "field"), k.Want)
	case *kind.UniqueItems:
		v.msg = fmt.Sprintf("items %d and %d are equal; items must be unique", k.Duplicates[0], k.Duplicates[1])
	case *kind.DependentRequired:
		v.msg = fmt.Sprintf("field %q needs %s too", k.Prop, fieldList(k.Missing))
	case *kind.Dependency:
		v.msg = fmt.Sprintf("field %q needs %s too", k.Prop, fieldList(k.Missing))
	case *kind.FalseSchema:
		v.msg = "is not allowed here"
	case *kind.Not:
		v.msg = shown + " is a value the contract rules out"
	case *kind.Contains:
		v.msg = "no item has the required shape (contains)"
	default:
		v.msg = e.ErrorKind.LocalizedString(printer)
	}
	return v
}

// formatHints say what a valid value of each asserted format looks like.
var formatHints = map[string]string{
	"date":          "YYYY-MM-DD",
	"date-time":     "RFC 3339, like 2026-01-20T21:14:16Z",
	"time":          "HH:MM:SS with a zone, like 21:14:16Z",
	"email":         "an address like name@example.com",
	"idn-email":     "an address like name@example.com",
	"uri":           "an absolute URI, like https://example.com/page",
	"iri":           "an absolute URI, like https://example.com/page",
	"uri-reference": "a URI or a relative reference",
	"uuid":          "8-4-4-4-12 hex digits, like 3f2504e0-4f89-11d3-9a0c-0305e82c3301",
	"ipv4":          "four numbers 0-255, like 192.0.2.1",
	"ipv6":          "an IPv6 address, like 2001:db8::1",
	"hostname":      "a host name, like www.example.com",
	"duration":      "ISO 8601, like P1DT2H",
}

// typeMessage says that val has the wrong type.
func typeMessage(val any, loc []string, want []string) string {
	// "a string or null" reads better than "null or a string".
	want = slices.Clone(want)
	sort.SliceStable(want, func(i, j int) bool { return want[j] == "null" && want[i] != "null" })
	articled := make([]string, len(want))
	for i, w := range want {
		articled[i] = article(w)
	}
	expected := articled[0]
	if n := len(articled); n > 1 {
		expected = strings.Join(articled[:n-1], ", ") + " or " + articled[n-1]
	}
	got := jsonTypeOf(val)
	switch val.(type) {
	case map[string]any, []any:
		return fmt.Sprintf("got %s, expected %s", article(got), expected)
	}
	return fmt.Sprintf("%s is %s, expected %s", showValue(val, loc), article(got), expected)
}

func article(t string) string {
	switch t {
	case "null":
		return "null"
	case "object", "array", "integer":
		return "an " + t
	}
	return "a " + t
}

func jsonTypeOf(v any) string {
	switch v := v.(type) {
	case nil:
		return "null"
	case bool:
		return "boolean"
	case json.Number:
		if _, err := v.Int64(); err == nil {
			return "integer"
		}
		return "number"
	case float64, float32, int, int64, int32:
		return "number"
	case string:
		return "string"
	case []any:
		return "array"
	case map[string]any:
		return "object"
	}
	return fmt.Sprintf("%T", v)
}

// maxShown bounds a quoted value in a message.
const maxShown = 64

// secretParts mark a field whose value must not be quoted in a finding: findings are stored
// and shown, and the stored body has such values redacted already.
var secretParts = []string{"password", "passwd", "secret", "token", "apikey", "api_key", "credential"}

// showValue quotes a value for a message, shortened, and hidden when loc names a secret.
func showValue(v any, loc []string) string {
	if len(loc) > 0 {
		last := strings.ToLower(loc[len(loc)-1])
		for _, p := range secretParts {
			if strings.Contains(last, p) {
				return txn.Redacted
			}
		}
	}
	switch v := v.(type) {
	case nil:
		return "null"
	case string:
		if utf8.RuneCountInString(v) > maxShown {
			v = string([]rune(v)[:maxShown-1]) + "…"
		}
		return strconv.Quote(v)
	case map[string]any:
		return "{…}"
	case []any:
		return "[…]"
	}
	return fmt.Sprint(v)
}

func valueList(vals []any) string {
	const most = 10
	parts := make([]string, 0, min(len(vals), most+1))
	for i, v := range vals {
		if i == most {
			parts = append(parts, fmt.Sprintf("… (%d more)", len(vals)-most))
			break
		}
		parts = append(parts, showValue(v, nil))
	}
	return strings.Join(parts, ", ")
}

func fieldList(names []string) string {
	if len(names) == 1 {
		return fmt.Sprintf("field %q", names[0])
	}
	return "fields " + quotedList(names)
}

func quotedList(names []string) string {
	return strings.Join(quoteAll(names), ", ")
}

func quoteAll(names []string) []string {
	q := make([]string, len(names))
	for i, n := range names {
		q[i] = strconv.Quote(n)
	}
	return q
}

func ratString(r *big.Rat) string {
	if r == nil {
		return "?"
	}
	if r.IsInt() {
		return r.Num().String()
	}
	s := r.FloatString(6)
	return strings.TrimRight(strings.TrimRight(s, "0"), ".")
}

// findKey returns the location of the first object at depth that has key, in document order;
// nil when there is none.
func findKey(doc any, key string, depth int, at []string) []string {
	switch c := doc.(type) {
	case map[string]any:
		if len(at) == depth {
			if _, ok := c[key]; ok {
				return slices.Clone(at)
			}
			return nil
		}
		for _, k := range sortedKeys(c) {
			if loc := findKey(c[k], key, depth, append(at, k)); loc != nil {
				return loc
			}
		}
	case []any:
		if len(at) >= depth {
			return nil
		}
		for i, x := range c {
			if loc := findKey(x, key, depth, append(at, strconv.Itoa(i))); loc != nil {
				return loc
			}
		}
	}
	return nil
}

// valueAt returns the value at loc in doc, or nil.
func valueAt(doc any, loc []string) any {
	v := doc
	for _, tok := range loc {
		switch c := v.(type) {
		case map[string]any:
			v = c[tok]
		case []any:
			i, err := strconv.Atoi(tok)
			if err != nil || i < 0 || i >= len(c) {
				return nil
			}
			v = c[i]
		default:
			return nil
		}
	}
	return v
}

// pointer renders instance location tokens as an RFC 6901 JSON pointer; the whole document
// is "/" so that every message starts the same way.
func pointer(loc []string) string {
	if len(loc) == 0 {
		return "/"
	}
	var b strings.Builder
	for _, t := range loc {
		b.WriteByte('/')
		t = strings.ReplaceAll(t, "~", "~0")
		b.WriteString(strings.ReplaceAll(t, "/", "~1"))
	}
	return b.String()
}

// lessLoc orders locations as a person reads a document: by field, with array indexes in
// numeric order.
func lessLoc(a, b []string) bool {
	for i := 0; i < len(a) && i < len(b); i++ {
		if a[i] == b[i] {
			continue
		}
		x, errx := strconv.Atoi(a[i])
		y, erry := strconv.Atoi(b[i])
		if errx == nil && erry == nil {
			return x < y
		}
		return a[i] < b[i]
	}
	return len(a) < len(b)
}

func dedupe(s []string) []string {
	var out []string
	for _, x := range s {
		if !slices.Contains(out, x) {
			out = append(out, x)
		}
	}
	return out
}
