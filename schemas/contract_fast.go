package schemas

import (
	"encoding/json"
	"fmt"
	"hash/maphash"
	"math/big"
	"net/http"
	"reflect"
	"sync"

	"github.com/santhosh-tekuri/jsonschema/v6"
)

// fastValidator checks a raw JSON body against one pinned schema in a single pass, without
// building the body's tree. It answers only "certainly valid" or "not sure": a body it is not
// sure about (invalid, malformed, or reaching a keyword it does not implement) takes the full
// path, which builds the tree, runs jsonschema and explains what is wrong. Most calls are valid,
// and for them the tree and jsonschema's bookkeeping were most of what a pinned contract cost.
//
// Soundness rests on one rule: a node claims valid or invalid only when jsonschema would say
// the same about the same value, and anything else is unsure. Keywords combine in three-valued
// logic (an unsure branch of an anyOf does not stop another branch from being certainly valid),
// so that not, if and anyOf, which the shipped contracts use, stay on the fast path.
type fastValidator struct {
	root    *fastNode
	targets []*fastNode // {root}: a run starts from a slice it need not allocate
	// complete is true when every node reachable from root is supported; with it false the
	// validator still answers, but bodies that reach an unsupported node are "not sure".
	complete bool
	// failFast is set when no node can turn a failure into success (no anyOf, oneOf, not or
	// if): then any value found invalid makes the body invalid, and reading stops there, so
	// that an invalid body pays little before the full path runs.
	failFast bool
	// seed hashes object keys to find duplicates: jsonschema sees the last of duplicate
	// keys only, so a body with any is left to the full path.
	seed maphash.Seed
	runs sync.Pool // *fastRun: the stacks of a run are reused
}

// fastNode is one jsonschema.Schema compiled for the fast validator.
type fastNode struct {
	// why says what keeps the node from being checked ("" when it is supported). A node that
	// is not supported is unsure about every value.
	why         string
	falseSchema bool // the schema false: nothing is valid
	types       fastTypes
	enum, cnst  *fastEnum
	format      *jsonschema.Format

	// strings; -1 when absent
	minLen, maxLen int
	pattern        jsonschema.Regexp

	// numbers
	min, max, exMin, exMax *fastBound

	// objects
	object             bool // any object keyword below is set
	keys               map[string]fastKey
	required           int // distinct names in required
	addlFalse          bool
	addl               *fastNode // additionalProperties as a schema
	minProps, maxProps int
	propNames          *fastNode

	// arrays
	items              *fastNode
	minItems, maxItems int

	// applied to the same value
	ref                 *fastNode
	allOf, anyOf, oneOf []*fastNode
	not                 *fastNode
	ifN, thenN, elseN   *fastNode
	hasInPlace          bool // any of the above is set
	// closure is the node and every node it applies in place, transitively, each after the
	// nodes it combines: a value is checked against all of them in one pass.
	closure []*fastNode
}

// fastKey is what a node says about one object key.
type fastKey struct {
	node     *fastNode // the key's schema under properties
	inProps  bool      // the key is under properties (otherwise additionalProperties applies)
	required bool
}

// fastTypes is a set of JSON types, like jsonschema.Types.
type fastTypes uint8

const (
	ftNull fastTypes = 1 << iota
	ftBool
	ftNumber
	ftInteger
	ftString
	ftArray
	ftObject
)

// fastEnum is an enum or const. Strings, booleans and null are compared exactly; a number,
// object or array value among them makes the answer for an instance of that kind unsure,
// because jsonschema compares those by value (1.0 equals 1).
type fastEnum struct {
	strs                  []string
	set                   map[string]struct{} // strs, when there are many
	null, yes, no         bool
	number, object, array bool
}

// fastBound is a minimum or maximum, with an int64 copy for the common integer comparison.
type fastBound struct {
	rat   *big.Rat
	i64   int64
	isInt bool // rat is an integer that fits in i64
}

// newFastValidator compiles s for the fast validator; nil when its root is not supported, so
// that a contract which cannot use it pays nothing.
func newFastValidator(s *jsonschema.Schema) *fastValidator {
	c := fastCompiler{nodes: map[*jsonschema.Schema]*fastNode{}}
	root := c.node(s)
	c.breakCycles()
	complete, failFast := true, true
	for _, n := range c.order {
		n.closure = c.closure(n, map[*fastNode]bool{})
		complete = complete && n.why == ""
		failFast = failFast && len(n.anyOf) == 0 && len(n.oneOf) == 0 && n.not == nil && n.ifN == nil
	}
	if root.why != "" {
		return nil
	}
	fv := &fastValidator{root: root, targets: []*fastNode{root}, complete: complete, failFast: failFast, seed: maphash.MakeSeed()}
	fv.runs.New = func() any { return new(fastRun) }
	return fv
}

type fastCompiler struct {
	nodes map[*jsonschema.Schema]*fastNode
	order []*fastNode // creation order, so that compiling is deterministic
}

// node compiles s once; schemas that refer to each other share nodes.
func (c *fastCompiler) node(s *jsonschema.Schema) *fastNode {
	if n, ok := c.nodes[s]; ok {
		return n
	}
	n := &fastNode{minLen: -1, maxLen: -1, minProps: -1, maxProps: -1, minItems: -1, maxItems: -1}
	c.nodes[s] = n
	c.order = append(c.order, n)
	if why := c.refuse(s); why != "" {
		n.why = why
		return n
	}
	c.fill(n, s)
	return n
}

// refuse says why s cannot be checked, before anything under it is compiled; "" when it can.
func (c *fastCompiler) refuse(s *jsonschema.Schema) string {
	v := reflect.ValueOf(s).Elem()
	t := v.Type()
	keywords := 0
	for i := range t.NumField() {
		if v.Field(i).IsZero() {
			continue
		}
		switch name := t.Field(i).Name; fastFieldKind(name) {
		case fastKeyword:
			if name != "Ref" {
				keywords++
			}
		case fastUnknown:
			return "keyword field " + name + " is not implemented"
		}
	}
	// Before 2019-09 a $ref hides its siblings and jsonschema compiles none; if one were set,
	// jsonschema would check some of them, and which ones is not worth mirroring.
	if s.DraftVersion < 2019 && s.Ref != nil && keywords > 0 {
		return "keywords beside $ref before draft 2019-09"
	}
	// jsonschema reads items by draft: Items before 2020-12, Items2020 from it.
	switch s.Items.(type) {
	case nil:
	case *jsonschema.Schema:
		if s.DraftVersion >= 2020 {
			return "items of an older draft in a 2020-12 schema"
		}
	default:
		return "items as a list of schemas"
	}
	if s.Items2020 != nil && s.DraftVersion < 2020 {
		return "2020-12 items in an older draft"
	}
	switch s.AdditionalProperties.(type) {
	case nil, bool, *jsonschema.Schema:
	default:
		return fmt.Sprintf("additionalProperties of type %T", s.AdditionalProperties)
	}
	if s.Format != nil && s.Format.Validate == nil {
		return "format " + s.Format.Name + " without a validate function"
	}
	if s.Enum != nil {
		if _, err := newFastEnum(s.Enum.Values); err != nil {
			return err.Error()
		}
	}
	if s.Const != nil {
		if _, err := newFastEnum([]any{*s.Const}); err != nil {
			return err.Error()
		}
	}
	return ""
}

type fastFieldClass int

const (
	fastUnknown fastFieldClass = iota
	fastKeyword
	fastIgnored
)

// fastFieldKind classifies a field of jsonschema.Schema by name. A non-zero field of unknown
// kind, including any that a later jsonschema version adds, makes its node unsupported: the
// fast validator must never call valid what a keyword it does not know would reject.
func fastFieldKind(name string) fastFieldClass {
	switch name {
	case "Bool", "Ref", "Types", "Enum", "Const", "Not", "AllOf", "AnyOf", "OneOf", "If", "Then", "Else", "Format",
		"MaxProperties", "MinProperties", "Required", "PropertyNames", "Properties", "AdditionalProperties",
		"MinItems", "MaxItems", "Items", "Items2020",
		"MinLength", "MaxLength", "Pattern",
		"Maximum", "Minimum", "ExclusiveMaximum", "ExclusiveMinimum":
		return fastKeyword
	case "Title", "Description", "Default", "Comment", "ReadOnly", "WriteOnly", "Examples", "Deprecated":
		// Annotations: jsonschema validates none of them.
		return fastIgnored
	case "DraftVersion", "Location", "ID", "Anchor", "DynamicAnchor", "RecursiveAnchor",
		"up", "resource", "dynamicAnchors", "allPropsEvaluated", "allItemsEvaluated", "numItemsEvaluated":
		// Identity and bookkeeping. Anchors only steer $dynamicRef and $recursiveRef, and the
		// evaluated flags only unevaluated*, none of which is implemented.
		return fastIgnored
	}
	return fastUnknown
}

// fill compiles the keywords of a schema that refuse accepted.
func (c *fastCompiler) fill(n *fastNode, s *jsonschema.Schema) {
	if s.Bool != nil {
		n.falseSchema = !*s.Bool
		return
	}
	if s.Types != nil {
		for _, t := range s.Types.ToStrings() {
			n.types |= fastTypeOf(t)
		}
	}
	if s.Enum != nil {
		n.enum, _ = newFastEnum(s.Enum.Values)
	}
	if s.Const != nil {
		n.cnst, _ = newFastEnum([]any{*s.Const})
	}
	n.format = s.Format
	n.minLen, n.maxLen = intOr(s.MinLength), intOr(s.MaxLength)
	n.pattern = s.Pattern
	n.min, n.max = newFastBound(s.Minimum), newFastBound(s.Maximum)
	n.exMin, n.exMax = newFastBound(s.ExclusiveMinimum), newFastBound(s.ExclusiveMaximum)

	n.minProps, n.maxProps = intOr(s.MinProperties), intOr(s.MaxProperties)
	if len(s.Properties) > 0 || len(s.Required) > 0 {
		n.keys = make(map[string]fastKey, len(s.Properties)+len(s.Required))
		for _, k := range sortedKeys(s.Properties) {
			n.keys[k] = fastKey{node: c.node(s.Properties[k]), inProps: true}
		}
		for _, k := range s.Required {
			fk := n.keys[k]
			if !fk.required {
				n.required++
			}
			fk.required = true
			n.keys[k] = fk
		}
	}
	switch a := s.AdditionalProperties.(type) {
	case bool:
		n.addlFalse = !a
	case *jsonschema.Schema:
		n.addl = c.node(a)
	}
	if s.PropertyNames != nil {
		n.propNames = c.node(s.PropertyNames)
	}
	n.object = n.keys != nil || n.addlFalse || n.addl != nil || n.propNames != nil || n.minProps >= 0 || n.maxProps >= 0

	n.minItems, n.maxItems = intOr(s.MinItems), intOr(s.MaxItems)
	if it, ok := s.Items.(*jsonschema.Schema); ok {
		n.items = c.node(it)
	}
	if s.Items2020 != nil {
		n.items = c.node(s.Items2020)
	}

	if s.Ref != nil {
		n.ref = c.node(s.Ref)
	}
	n.allOf, n.anyOf, n.oneOf = c.nodeList(s.AllOf), c.nodeList(s.AnyOf), c.nodeList(s.OneOf)
	if s.Not != nil {
		n.not = c.node(s.Not)
	}
	// then and else mean nothing without if; jsonschema ignores them too.
	if s.If != nil {
		n.ifN = c.node(s.If)
		if s.Then != nil {
			n.thenN = c.node(s.Then)
		}
		if s.Else != nil {
			n.elseN = c.node(s.Else)
		}
	}
	n.hasInPlace = len(n.inPlace()) > 0
}

func (c *fastCompiler) nodeList(ss []*jsonschema.Schema) []*fastNode {
	if len(ss) == 0 {
		return nil
	}
	out := make([]*fastNode, len(ss))
	for i, s := range ss {
		out[i] = c.node(s)
	}
	return out
}

// inPlace lists the nodes that n applies to its own value.
func (n *fastNode) inPlace() []*fastNode {
	var out []*fastNode
	for _, d := range []*fastNode{n.ref, n.not, n.ifN, n.thenN, n.elseN} {
		if d != nil {
			out = append(out, d)
		}
	}
	out = append(out, n.allOf...)
	out = append(out, n.anyOf...)
	return append(out, n.oneOf...)
}

// breakCycles makes unsupported every node that applies itself to its own value through
// $ref, allOf and the like: jsonschema reports such a cycle as an error, and a closure could
// not be ordered. The cycle is only broken where it closes; being unsure is always sound.
func (c *fastCompiler) breakCycles() {
	for {
		state := map[*fastNode]int{} // 1 on the walk's path, 2 done
		var closing []*fastNode
		var walk func(n *fastNode)
		walk = func(n *fastNode) {
			state[n] = 1
			for _, d := range n.inPlace() {
				switch state[d] {
				case 0:
					walk(d)
				case 1:
					closing = append(closing, d)
				}
			}
			state[n] = 2
		}
		for _, n := range c.order {
			if state[n] == 0 {
				walk(n)
			}
		}
		if len(closing) == 0 {
			return
		}
		for _, n := range closing {
			*n = fastNode{why: "applies itself to its own value (a $ref cycle)"}
		}
	}
}

// closure lists n and the nodes it applies in place, transitively, each after the nodes it
// combines, so that one pass in order can combine their results.
func (c *fastCompiler) closure(n *fastNode, seen map[*fastNode]bool) []*fastNode {
	var out []*fastNode
	var walk func(n *fastNode)
	walk = func(n *fastNode) {
		if seen[n] {
			return
		}
		seen[n] = true
		for _, d := range n.inPlace() {
			walk(d)
		}
		out = append(out, n)
	}
	walk(n)
	return out
}

func fastTypeOf(t string) fastTypes {
	switch t {
	case "null":
		return ftNull
	case "boolean":
		return ftBool
	case "number":
		return ftNumber
	case "integer":
		return ftInteger
	case "string":
		return ftString
	case "array":
		return ftArray
	case "object":
		return ftObject
	}
	return 0
}

// enumSetFrom is the size from which an enum of strings is looked up in a map.
const enumSetFrom = 8

func newFastEnum(vals []any) (*fastEnum, error) {
	e := &fastEnum{}
	for _, v := range vals {
		switch v := v.(type) {
		case string:
			e.strs = append(e.strs, v)
		case bool:
			e.yes, e.no = e.yes || v, e.no || !v
		case nil:
			e.null = true
		case json.Number, float64, float32, int, int8, int16, int32, int64, uint, uint8, uint16, uint32, uint64:
			e.number = true
		case map[string]any:
			e.object = true
		case []any:
			e.array = true
		default:
			return nil, fmt.Errorf("enum or const value of type %T", v)
		}
	}
	if len(e.strs) >= enumSetFrom {
		e.set = make(map[string]struct{}, len(e.strs))
		for _, s := range e.strs {
			e.set[s] = struct{}{}
		}
	}
	return e, nil
}

func newFastBound(r *big.Rat) *fastBound {
	if r == nil {
		return nil
	}
	b := &fastBound{rat: r}
	if r.IsInt() && r.Num().IsInt64() {
		b.i64, b.isInt = r.Num().Int64(), true
	}
	return b
}

func intOr(p *int) int {
	if p == nil {
		return -1
	}
	return *p
}

// fastValid reports whether a message's body certainly satisfies s, judging its raw bytes.
// parsed is the message's Body: one parsed already must have been read as JSON (it was parsed
// from the same bytes); one not parsed yet is only judged if ParseBody would read it as JSON,
// so that forms and other media types keep the full path's handling.
func (s *pinnedSchema) fastValid(h http.Header, raw []byte, parsed Body) bool {
	if s.fast == nil {
		return false
	}
	switch {
	case parsed.Kind == "json" && parsed.Err == nil:
	case !parsed.unparsed():
		return false
	case MediaKind(h.Get("Content-Type"), raw) != "json":
		return false
	}
	return s.fast.valid(raw)
}
