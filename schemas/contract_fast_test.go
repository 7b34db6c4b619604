package schemas

import (
	"errors"
	"io/fs"
	"math/big"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/santhosh-tekuri/jsonschema/v6"
)

// fullValid is the verdict of the full path on a JSON body: ParseBody, then jsonschema.
func fullValid(s *pinnedSchema, raw []byte) (valid bool) {
	// jsonschema v6.0.3 panics comparing a number big.Rat cannot read (1e9999999999) with a
	// minimum; whatever that is, it is not valid.
	defer func() {
		if recover() != nil {
			valid = false
		}
	}()
	b := ParseBody("application/json", raw)
	if b.Err != nil || b.Kind != "json" {
		return false
	}
	return s.schema.Validate(b.JSON) == nil
}

func fastSaysValid(s *pinnedSchema, raw []byte) bool {
	return s.fast != nil && s.fast.valid(raw)
}

// compileTestSchema compiles one schema file the way a pin does.
func compileTestSchema(t testing.TB, schema string) *pinnedSchema {
	t.Helper()
	cc := newContractCompiler(ContractOptions{ReadFile: memFiles(map[string]string{"s.json": schema})})
	s, err := cc.schema("s.json")
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// builtinSchemas compiles every shipped contract, requests and responses, once each.
func builtinSchemas(t testing.TB) []*pinnedSchema {
	t.Helper()
	var out []*pinnedSchema
	seen := map[string]bool{}
	for _, v := range BuiltinVendors() {
		pins, _ := BuiltinVendorPins(v)
		c, err := CompileContracts(ContractsSpec{Pins: pins}, ContractOptions{})
		if err != nil {
			t.Fatal(err)
		}
		for _, p := range c.pins {
			all := []*pinnedSchema{p.request}
			for _, r := range p.responses {
				all = append(all, r.pinnedSchema)
			}
			for _, s := range all {
				if s != nil && !seen[s.loc] {
					seen[s.loc] = true
					out = append(out, s)
				}
			}
		}
	}
	return out
}

// withoutFast returns a copy of c that always takes the full path (no fast validator, no
// member path).
func withoutFast(c *Contracts) *Contracts {
	out := *c
	out.pins = nil
	strip := func(s *pinnedSchema) *pinnedSchema {
		if s == nil {
			return nil
		}
		cp := *s
		cp.fast, cp.members = nil, nil
		return &cp
	}
	for _, p := range c.pins {
		cp := *p
		cp.request = strip(p.request)
		cp.responses = nil
		for _, r := range p.responses {
			cp.responses = append(cp.responses, statusSchema{key: r.key, pinnedSchema: strip(r.pinnedSchema)})
		}
		out.pins = append(out.pins, &cp)
	}
	return &out
}

// fixturePayload is one request.json or response.json of testdata/contracts.
type fixturePayload struct {
	name    string // vendor/case/file
	vendor  string
	want    contractFixture
	request bool
	raw     []byte
}

func fixturePayloads(t testing.TB) []fixturePayload {
	t.Helper()
	root := filepath.Join("testdata", "contracts")
	dirs, err := filepath.Glob(filepath.Join(root, "*", "*"))
	if err != nil || len(dirs) == 0 {
		t.Fatalf("no fixtures under %s: %v", root, err)
	}
	var out []fixturePayload
	for _, dir := range dirs {
		w := readContractFixture(t, filepath.Join(dir, "want.json"))
		vendor := filepath.Base(filepath.Dir(dir))
		for _, file := range []string{"request.json", "response.json"} {
			raw, err := os.ReadFile(filepath.Join(dir, file))
			if errors.Is(err, fs.ErrNotExist) {
				continue
			}
			if err != nil {
				t.Fatal(err)
			}
			out = append(out, fixturePayload{name: vendor + "/" + filepath.Base(dir) + "/" + file, vendor: vendor, want: w, request: file == "request.json", raw: raw})
		}
	}
	return out
}

func TestFastValidatorBuiltins(t *testing.T) {
	// Every shipped contract, requests and responses, is checked by the fast validator
	// throughout: no node it can reach falls back.
	all := builtinSchemas(t)
	for _, s := range all {
		switch {
		case s.fast == nil:
			t.Errorf("%s: no fast validator", s.loc)
		case !s.fast.complete:
			t.Errorf("%s: the fast validator does not cover every node", s.loc)
		}
	}
	// Contracts without anyOf, oneOf, not or if stop reading at the first violation.
	for _, s := range all {
		if strings.HasPrefix(s.loc, BuiltinPrefix+"hubspot/crm-contacts-") && s.fast != nil && !s.fast.failFast {
			t.Errorf("%s: does not fail fast", s.loc)
		}
		if strings.HasPrefix(s.loc, BuiltinPrefix+"segment/batch") && s.fast != nil && s.fast.failFast {
			t.Errorf("%s: fails fast, but uses if and anyOf", s.loc)
		}
	}
	for _, v := range []string{"hubspot", "marketo", "salesforce", "segment", "ga4"} {
		found := false
		for _, s := range all {
			found = found || strings.HasPrefix(s.loc, BuiltinPrefix+v+"/") && strings.Contains(s.loc, "request")
		}
		if !found {
			t.Errorf("no shipped request contract for %s", v)
		}
	}
}

// TestFastValidatorDifferential runs every fixture payload against every shipped contract: the
// fast validator may only call valid what jsonschema calls valid. Against its own contract a
// fixture whose want.json lists no findings must take the fast path, and the findings of every
// fixture must be those of the full path.
func TestFastValidatorDifferential(t *testing.T) {
	schemas := builtinSchemas(t)
	payloads := fixturePayloads(t)
	fastCount := 0
	for _, p := range payloads {
		for _, s := range schemas {
			fast, full := fastSaysValid(s, p.raw), fullValid(s, p.raw)
			if fast && !full {
				t.Errorf("%s against %s: fast says valid, jsonschema says invalid", p.name, s.loc)
			}
			if fast {
				fastCount++
			}
		}
	}
	if fastCount == 0 {
		t.Fatal("the fast validator never said valid")
	}

	for _, vendor := range BuiltinVendors() {
		pins, _ := BuiltinVendorPins(vendor)
		c, err := CompileContracts(ContractsSpec{Mode: ModeEnforce, Pins: pins}, ContractOptions{})
		if err != nil {
			t.Fatal(err)
		}
		slow := withoutFast(c)
		for _, p := range payloads {
			if p.vendor != vendor {
				continue
			}
			t.Run(p.name, func(t *testing.T) {
				method, path, _ := strings.Cut(p.want.Call, " ")
				pn := c.match(method, path)
				if pn == nil {
					t.Fatalf("no pin matches %s", p.want.Call)
				}
				status := p.want.Status
				if status == 0 {
					status = 200
				}
				s, clean := pn.request, len(p.want.Request) == 0
				if !p.request {
					s, clean = pn.responseSchema(status), len(p.want.Response) == 0
				}
				if s == nil {
					t.Skip("no schema pinned")
				}
				if got := fastSaysValid(s, p.raw); clean && p.want.ContentType == "" && !got {
					t.Errorf("a valid fixture did not take the fast path")
				}
				// The fast path changes no finding.
				h := http.Header{"Content-Type": {"application/json"}}
				newReq := func() *Request {
					raw := p.raw
					if !p.request {
						raw = []byte(`{}`)
					}
					return &Request{Method: method, Path: path, Header: h, Raw: raw}
				}
				if p.request {
					var fast, full RequestVerdict
					c.CheckRequest(checkTime, newReq(), &fast)
					slow.CheckRequest(checkTime, newReq(), &full)
					if !slices.Equal(findingLines(fast.Findings), findingLines(full.Findings)) || (fast.Reject == nil) != (full.Reject == nil) {
						t.Errorf("fast path %+v, full path %+v", fast, full)
					}
					return
				}
				resp := func() *Response { return &Response{Status: status, Header: h, Raw: p.raw} }
				var fast, full ResponseVerdict
				c.CheckResponse(checkTime, newReq(), resp(), &fast)
				slow.CheckResponse(checkTime, newReq(), resp(), &full)
				if !slices.Equal(findingLines(fast.Findings), findingLines(full.Findings)) {
					t.Errorf("fast path %q, full path %q", findingLines(fast.Findings), findingLines(full.Findings))
				}
			})
		}
	}
}

const (
	fastIntSchema = `{"type":"object","properties":{"n":{"type":"integer","minimum":0,"maximum":100},"x":{"type":"number","exclusiveMinimum":0.5,"exclusiveMaximum":1e3}}}`
	fastStrSchema = `{"type":"object","additionalProperties":false,"properties":{
		"s":{"type":"string","minLength":2,"maxLength":3},
		"e":{"enum":["abc","é"]},
		"c":{"const":"x"},
		"p":{"type":"string","pattern":"^[a-z]+$"}}}`
	fastRefSchema = `{"$defs":{
		"a":{"$ref":"#/$defs/b"},
		"b":{"type":"object","required":["id"],"properties":{"id":{"type":"string"},"child":{"$ref":"#/$defs/a"}}}},
		"$ref":"#/$defs/a"}`
	fastFormatSchema = `{"properties":{"d":{"type":"string","format":"date"},"m":{"format":"email"},"t":{"format":"date-time"}}}`
	fastAnyOfSchema  = `{"type":"object","anyOf":[{"required":["a"]},{"required":["b"]}]}`
	fastOneOfSchema  = `{"oneOf":[{"type":"string"},{"type":"number"},{"type":"integer"}]}`
	fastNotSchema    = `{"properties":{"name":{"type":"string","not":{"anyOf":[{"enum":["error","ad_click","app_remove","first_open","first_visit","session_start","user_engagement","os_update"]},{"pattern":"^ga_"}]}}}}`
	fastIfSchema     = `{"if":{"properties":{"kind":{"const":"a"}}},"then":{"required":["x"]},"else":{"required":["y"]}}`
	fastNamesSchema  = `{"propertyNames":{"pattern":"^[a-z]+$"},"maxProperties":2,"minProperties":1}`
	fastArraySchema  = `{"type":"array","items":{"type":"string"},"minItems":1,"maxItems":2}`
	fastEnumSchema   = `{"enum":[1,"a",null,false]}`
	fastNullSchema   = `{"type":["string","null"],"maxLength":2}`
	fastFalseSchema  = `{"properties":{"Id":false,"any":true},"additionalProperties":{"description":"anything"}}`
	fastDraft7Schema = `{"$schema":"http://json-schema.org/draft-07/schema#","definitions":{"s":{"type":"string"}},
		"properties":{"a":{"$ref":"#/definitions/s","maxLength":1}},"items":{"type":"string"}}`
	fastUniqueSchema  = `{"type":"array","uniqueItems":true}`
	fastNestedUnsup   = `{"properties":{"a":{"multipleOf":2}}}`
	fastReqOnlySchema = `{"required":["a"],"additionalProperties":false}`
	fastCycleSchema   = `{"$defs":{"a":{"$ref":"#/$defs/a"}},"properties":{"x":{"$ref":"#/$defs/a"}}}`
)

// TestFastValidatorSemantics pins the cases where reading raw bytes could differ from reading
// the tree. fast is the fast validator's verdict; full is jsonschema's on the parsed body, which
// the fast one may only match or fall short of.
func TestFastValidatorSemantics(t *testing.T) {
	tests := []struct {
		name, schema, body string
		fast, full         bool
	}{
		{"integer", fastIntSchema, `{"n":1}`, true, true},
		{"integer written 1.0", fastIntSchema, `{"n":1.0}`, true, true},
		{"integer written 1e2", fastIntSchema, `{"n":1e2}`, true, true},
		{"integer written 1E+1", fastIntSchema, `{"n":1E+1}`, true, true},
		{"integer written 100e-2", fastIntSchema, `{"n":100e-2}`, true, true},
		{"integer written 1.5e1", fastIntSchema, `{"n":1.5e1}`, true, true},
		{"integer written 0.5e1", fastIntSchema, `{"n":0.5e1}`, true, true},
		{"integer -0", fastIntSchema, `{"n":-0}`, true, true},
		{"integer 0.0", fastIntSchema, `{"n":0.0}`, true, true},
		{"not an integer 1.5", fastIntSchema, `{"n":1.5}`, false, false},
		{"not an integer 1.50", fastIntSchema, `{"n":1.50}`, false, false},
		{"not an integer 1e-2", fastIntSchema, `{"n":1e-2}`, false, false},
		{"integer over maximum", fastIntSchema, `{"n":101}`, false, false},
		{"integer over maximum with exponent", fastIntSchema, `{"n":1.01e2}`, false, false},
		{"integer under minimum", fastIntSchema, `{"n":-1}`, false, false},
		{"huge exponent", fastIntSchema, `{"n":1e99999}`, false, false},
		{"integer as a string", fastIntSchema, `{"n":"1"}`, false, false},
		{"leading zero", fastIntSchema, `{"n":01}`, false, false},
		{"exclusive bounds", fastIntSchema, `{"x":0.75}`, true, true},
		{"exclusive minimum reached", fastIntSchema, `{"x":0.5}`, false, false},
		{"exclusive maximum reached", fastIntSchema, `{"x":1000}`, false, false},
		{"big integer under exclusive maximum", fastIntSchema, `{"x":999.9999999999999999999}`, true, true},
		{"exponent with many digits", fastIntSchema, `{"x":7e-00001}`, false, true},
		{"exponent big.Rat refuses", fastIntSchema, `{"x":1e9999999999}`, false, false},

		{"string length", fastStrSchema, `{"s":"ab"}`, true, true},
		{"escaped length counts code points", fastStrSchema, `{"s":"\u00e9\u00e9"}`, true, true},
		{"raw UTF-8 length counts code points", fastStrSchema, `{"s":"ééé"}`, true, true},
		{"surrogate pairs are one code point each", fastStrSchema, `{"s":"\ud83d\ude00\uD83D\uDE00"}`, true, true},
		{"one surrogate pair is too short", fastStrSchema, `{"s":"\ud83d\ude00"}`, false, false},
		{"too long", fastStrSchema, `{"s":"abcd"}`, false, false},
		{"escaped quote", fastStrSchema, `{"s":"a\"b"}`, true, true},
		{"escapes count once", fastStrSchema, `{"s":"\n\t\\/"}`, false, false},
		{"lone surrogate", fastStrSchema, `{"s":"\ud83dx"}`, false, true},
		{"lone low surrogates", fastStrSchema, `{"s":"x\ude00\ude00"}`, false, true},
		{"bad escape", fastStrSchema, `{"s":"\x41"}`, false, false},
		{"control character", fastStrSchema, "{\"s\":\"a\nb\"}", false, false},
		{"invalid UTF-8", fastStrSchema, "{\"s\":\"a\xff\"}", false, true},
		{"enum", fastStrSchema, `{"e":"abc"}`, true, true},
		{"enum escaped", fastStrSchema, `{"e":"\u0061bc"}`, true, true},
		{"enum non-ASCII", fastStrSchema, `{"e":"\u00e9"}`, true, true},
		{"not in enum", fastStrSchema, `{"e":"ab"}`, false, false},
		{"const", fastStrSchema, `{"c":"x"}`, true, true},
		{"not const", fastStrSchema, `{"c":"y"}`, false, false},
		{"const of another type", fastStrSchema, `{"c":1}`, false, false},
		{"pattern", fastStrSchema, `{"p":"abc"}`, true, true},
		{"pattern escaped", fastStrSchema, `{"p":"\u0061"}`, true, true},
		{"pattern mismatch", fastStrSchema, `{"p":"ab1"}`, false, false},
		{"additionalProperties false", fastStrSchema, `{"x":1}`, false, false},
		{"required is not properties", fastReqOnlySchema, `{"a":1}`, false, false},
		{"required missing", fastReqOnlySchema, `{}`, false, false},
		{"required is not additionalProperties", fastReqOnlySchema, `{"b":1}`, false, false},
		{"escaped key", fastStrSchema, `{"\u0073":"ab"}`, true, true},
		{"escaped key checked", fastStrSchema, `{"\u0073":"a"}`, false, false},
		{"duplicate keys", fastStrSchema, `{"s":"ab","s":"ab"}`, false, true},
		{"duplicate keys once escaped", fastStrSchema, `{"s":"ab","\u0073":"abc"}`, false, true},
		{"duplicate keys, the last valid", fastStrSchema, `{"s":"a","s":"ab"}`, false, true},
		{"trailing data", fastStrSchema, `{"s":"ab"} x`, false, true},
		{"two documents", fastStrSchema, `{"s":"ab"}{}`, false, true},
		{"truncated", fastStrSchema, `{"s":"ab"`, false, false},
		{"trailing comma", fastStrSchema, `{"s":"ab",}`, false, false},
		{"whitespace around", fastStrSchema, " \r\n\t{ \"s\" : \"ab\" }\n", true, true},

		{"nested $ref", fastRefSchema, `{"id":"1","child":{"id":"2","child":{"id":"3"}}}`, true, true},
		{"nested $ref missing required", fastRefSchema, `{"id":"1","child":{"id":"2","child":{}}}`, false, false},
		{"nested $ref wrong type", fastRefSchema, `{"id":"1","child":{"id":2}}`, false, false},

		{"format date", fastFormatSchema, `{"d":"1990-03-15"}`, true, true},
		{"format date US", fastFormatSchema, `{"d":"03/15/1990"}`, false, false},
		{"format date escaped", fastFormatSchema, `{"d":"1990\u002d03-15"}`, true, true},
		{"format email", fastFormatSchema, `{"m":"jane@acme.com"}`, true, true},
		{"format email bad", fastFormatSchema, `{"m":"jane@"}`, false, false},
		{"format on a number", fastFormatSchema, `{"m":5}`, true, true},
		{"format on null", fastFormatSchema, `{"m":null}`, true, true},
		{"format on an object", fastFormatSchema, `{"m":{}}`, false, true},
		{"format date-time", fastFormatSchema, `{"t":"2026-11-28T12:00:00.000Z"}`, true, true},
		{"format date-time bad", fastFormatSchema, `{"t":"2026-11-28 12:00"}`, false, false},

		{"anyOf first", fastAnyOfSchema, `{"a":1}`, true, true},
		{"anyOf second", fastAnyOfSchema, `{"b":1}`, true, true},
		{"anyOf none", fastAnyOfSchema, `{"c":1}`, false, false},
		{"oneOf string", fastOneOfSchema, `"x"`, true, true},
		{"oneOf number only", fastOneOfSchema, `1.5`, true, true},
		{"oneOf two match", fastOneOfSchema, `1`, false, false},
		{"oneOf none", fastOneOfSchema, `true`, false, false},
		{"not", fastNotSchema, `{"name":"signup"}`, true, true},
		{"not enum", fastNotSchema, `{"name":"first_visit"}`, false, false},
		{"not pattern", fastNotSchema, `{"name":"ga_x"}`, false, false},
		{"if then", fastIfSchema, `{"kind":"a","x":1}`, true, true},
		{"if then missing", fastIfSchema, `{"kind":"a"}`, false, false},
		{"if else", fastIfSchema, `{"kind":"b","y":1}`, true, true},
		{"if else missing", fastIfSchema, `{"kind":"b"}`, false, false},
		{"if fails on type", fastIfSchema, `{"kind":1,"y":1}`, true, true},
		{"if on a non-object", fastIfSchema, `5`, true, true},
		{"propertyNames", fastNamesSchema, `{"ab":1}`, true, true},
		{"propertyNames escaped", fastNamesSchema, `{"\u0061b":1}`, true, true},
		{"propertyNames mismatch", fastNamesSchema, `{"Ab":1}`, false, false},
		{"maxProperties", fastNamesSchema, `{"a":1,"b":2,"c":3}`, false, false},
		{"minProperties", fastNamesSchema, `{}`, false, false},
		{"items", fastArraySchema, `["a"]`, true, true},
		{"minItems", fastArraySchema, `[]`, false, false},
		{"maxItems", fastArraySchema, `["a","b","c"]`, false, false},
		{"item type", fastArraySchema, `["a",1]`, false, false},
		{"enum string", fastEnumSchema, `"a"`, true, true},
		{"enum null", fastEnumSchema, `null`, true, true},
		{"enum false", fastEnumSchema, `false`, true, true},
		{"enum true", fastEnumSchema, `true`, false, false},
		{"enum number is compared by value", fastEnumSchema, `1.0`, false, true},
		{"enum object", fastEnumSchema, `{}`, false, false},
		{"nullable null", fastNullSchema, `null`, true, true},
		{"nullable string", fastNullSchema, `"ab"`, true, true},
		{"nullable too long", fastNullSchema, `"abc"`, false, false},
		{"false schema", fastFalseSchema, `{"Id":"1"}`, false, false},
		{"true schema", fastFalseSchema, `{"any":[1,{"a":null}],"other":{"x":[]}}`, true, true},
		{"draft 7 $ref hides siblings", fastDraft7Schema, `{"a":"abc"}`, true, true},
		{"draft 7 $ref", fastDraft7Schema, `{"a":1}`, false, false},
		{"draft 7 items", fastDraft7Schema, `["x"]`, true, true},
		{"draft 7 items bad", fastDraft7Schema, `[1]`, false, false},
		{"unsupported keyword at the root", fastUniqueSchema, `["a","b"]`, false, true},
		{"unsupported keyword not reached", fastNestedUnsup, `{"b":1}`, true, true},
		{"unsupported keyword reached", fastNestedUnsup, `{"a":4}`, false, true},
		{"$ref cycle not reached", fastCycleSchema, `{"y":1}`, true, true},
		{"$ref cycle reached", fastCycleSchema, `{"x":1}`, false, false},
		{"deep nesting", fastArraySchema, strings.Repeat("[", 300) + strings.Repeat("]", 300), false, false},
		{"empty body", fastNullSchema, ``, false, false},
	}
	compiled := map[string]*pinnedSchema{}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := compiled[tt.schema]
			if s == nil {
				s = compileTestSchema(t, tt.schema)
				compiled[tt.schema] = s
			}
			if got := fullValid(s, []byte(tt.body)); got != tt.full {
				t.Errorf("jsonschema says valid=%v, want %v", got, tt.full)
			}
			if got := fastSaysValid(s, []byte(tt.body)); got != tt.fast {
				t.Errorf("fast says valid=%v, want %v", got, tt.fast)
			}
		})
	}
}

// TestFastValidatorRefusesUnknownFields sets, one at a time, fields of a compiled schema that
// the fast validator does not implement: each must make the node unsupported, while
// annotations must not.
func TestFastValidatorRefusesUnknownFields(t *testing.T) {
	base := compileTestSchema(t, `{"type":"object","properties":{"a":{"type":"string"}}}`).schema
	two := big.NewRat(2, 1)
	one := 1
	tests := []struct {
		name    string
		set     func(s *jsonschema.Schema)
		refused bool
	}{
		{"as compiled", func(*jsonschema.Schema) {}, false},
		{"title", func(s *jsonschema.Schema) { s.Title = "t" }, false},
		{"examples", func(s *jsonschema.Schema) { s.Examples = []any{1} }, false},
		{"deprecated", func(s *jsonschema.Schema) { s.Deprecated = true }, false},
		{"uniqueItems", func(s *jsonschema.Schema) { s.UniqueItems = true }, true},
		{"multipleOf", func(s *jsonschema.Schema) { s.MultipleOf = two }, true},
		{"patternProperties", func(s *jsonschema.Schema) { s.PatternProperties = map[jsonschema.Regexp]*jsonschema.Schema{} }, true},
		{"dependentRequired", func(s *jsonschema.Schema) { s.DependentRequired = map[string][]string{"a": {"b"}} }, true},
		{"unevaluatedProperties", func(s *jsonschema.Schema) { s.UnevaluatedProperties = base }, true},
		{"contains", func(s *jsonschema.Schema) { s.Contains = base }, true},
		{"minContains", func(s *jsonschema.Schema) { s.MinContains = &one }, true},
		{"prefixItems", func(s *jsonschema.Schema) { s.PrefixItems = []*jsonschema.Schema{base} }, true},
		{"items as a list", func(s *jsonschema.Schema) { s.Items = []*jsonschema.Schema{base} }, true},
		{"$dynamicRef", func(s *jsonschema.Schema) { s.DynamicRef = &jsonschema.DynamicRef{Ref: base} }, true},
		{"extensions", func(s *jsonschema.Schema) { s.Extensions = []jsonschema.SchemaExt{nil} }, true},
		{"format without a function", func(s *jsonschema.Schema) { s.Format = &jsonschema.Format{Name: "x"} }, true},
		{"enum of another type", func(s *jsonschema.Schema) { s.Enum = &jsonschema.Enum{Values: []any{struct{}{}}} }, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := *base
			tt.set(&s)
			fv := newFastValidator(&s)
			if got := fv == nil; got != tt.refused {
				t.Errorf("refused=%v, want %v", got, tt.refused)
			}
		})
	}
}

// TestFastPathSkipsTree checks that a valid JSON body is judged without being parsed, and that
// every other body keeps the full path's handling.
func TestFastPathSkipsTree(t *testing.T) {
	c := mustCompileContracts(t, ContractsSpec{Mode: ModeEnforce, Pins: []PinSpec{{Match: "POST /leads", Request: "s.json", Responses: map[string]string{"2XX": "s.json"}}}},
		map[string]string{"s.json": `{"type":"object","required":["email"],"properties":{"email":{"type":"string","format":"email"}}}`})
	tests := []struct {
		name, ctype, body string
		parsed            bool // the full path ran
		findings          int
		// members: the answer's violations are found member by member (contract_members.go),
		// which builds no tree of it either.
		members bool
	}{
		{"json", "application/json", `{"email":"jane@acme.com"}`, false, 0, false},
		{"json with charset", "application/json; charset=utf-8", `{"email":"jane@acme.com"}`, false, 0, false},
		{"+json", "application/vnd.api+json", `{"email":"jane@acme.com"}`, false, 0, false},
		{"untyped json", "", `{"email":"jane@acme.com"}`, false, 0, false},
		{"invalid json", "application/json", `{"email":"jane"}`, true, 1, true},
		{"malformed json", "application/json", `{"email":"jane@acme.com"`, true, 1, false},
		{"form", "application/x-www-form-urlencoded", `email=jane%40acme.com`, true, 0, false},
		{"text", "text/plain", `{"email":"jane@acme.com"}`, true, 1, false},
		{"empty", "application/json", ` `, true, 1, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := http.Header{}
			if tt.ctype != "" {
				h.Set("Content-Type", tt.ctype)
			}
			req := &Request{Method: "POST", Path: "/leads", Header: h, Raw: []byte(tt.body)}
			var v RequestVerdict
			c.CheckRequest(checkTime, req, &v)
			if got := !req.Body.unparsed(); got != tt.parsed {
				t.Errorf("request parsed=%v, want %v", got, tt.parsed)
			}
			if len(v.Findings) != tt.findings {
				t.Errorf("request findings %q", findingLines(v.Findings))
			}
			resp := &Response{Status: 201, Header: h, Raw: []byte(tt.body)}
			var rv ResponseVerdict
			c.CheckResponse(checkTime, &Request{Method: "POST", Path: "/leads", Header: h}, resp, &rv)
			if got, want := !resp.Body.unparsed(), tt.parsed && !tt.members; got != want {
				t.Errorf("response parsed=%v, want %v", got, want)
			}
			if len(rv.Findings) != tt.findings {
				t.Errorf("response findings %q", findingLines(rv.Findings))
			}
		})
	}
	// A truncated answer is still not checked at all.
	resp := &Response{Status: 201, Header: http.Header{"Content-Type": {"application/json"}}, Raw: []byte(`{"email":"ja`), Truncated: true}
	var rv ResponseVerdict
	c.CheckResponse(checkTime, &Request{Method: "POST", Path: "/leads"}, resp, &rv)
	if len(rv.Findings) != 0 || !resp.Body.unparsed() {
		t.Errorf("truncated answer: %+v", rv)
	}
}

func TestFastValidatorConcurrent(t *testing.T) {
	s := compileTestSchema(t, fastRefSchema)
	bodies := [][]byte{[]byte(`{"id":"1","child":{"id":"2"}}`), []byte(`{"id":"1","child":{}}`)}
	var wg sync.WaitGroup
	for g := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range 200 {
				b := bodies[(g+i)%2]
				if got, want := s.fast.valid(b), (g+i)%2 == 0; got != want {
					t.Errorf("%s: got %v", b, got)
					return
				}
			}
		}()
	}
	wg.Wait()
}

// FuzzFastValidator mutates the fixture payloads: whatever the fast validator calls valid,
// jsonschema must call valid too, against every shipped contract and the schemas above.
func FuzzFastValidator(f *testing.F) {
	for _, p := range fixturePayloads(f) {
		f.Add(p.raw)
	}
	for _, s := range []string{`{"n":1e2,"x":0.75}`, `{"s":"\ud83d\ude00\ud83d\ude00","e":"\u0061bc"}`, `{"id":"1","child":{"id":"2"}}`,
		`{"kind":"a","x":1}`, `{"name":"signup"}`, `["a"]`, `{"s":"ab","\u0073":"ab"}`, `{"d":"03/15/1990"}`, `{"a":"\ud800"}`, "{\"a\":\"\xff\"}"} {
		f.Add([]byte(s))
	}
	schemas := builtinSchemas(f)
	for _, s := range []string{fastIntSchema, fastStrSchema, fastRefSchema, fastFormatSchema, fastAnyOfSchema, fastOneOfSchema,
		fastNotSchema, fastIfSchema, fastNamesSchema, fastArraySchema, fastEnumSchema, fastNullSchema, fastFalseSchema, fastDraft7Schema} {
		schemas = append(schemas, compileTestSchema(f, s))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		for i, s := range schemas {
			if fastSaysValid(s, body) && !fullValid(s, body) {
				t.Fatalf("schema %d (%s): fast says %q is valid, jsonschema does not", i, s.loc, body)
			}
		}
	})
}

// TestValidateSurvivesHugeNumbers: a number jsonschema cannot compare makes a violation, not
// a panic that would drop the call unrecorded.
func TestValidateSurvivesHugeNumbers(t *testing.T) {
	s := compileTestSchema(t, `{"type":"object","properties":{"x":{"type":"number","minimum":0}}}`)
	b := ParseBody("application/json", []byte(`{"x":1e9999999999}`))
	if b.Err != nil {
		t.Fatal(b.Err)
	}
	msgs := s.validate(b.JSON)
	if len(msgs) != 1 || !strings.Contains(msgs[0], "could not be evaluated") {
		t.Fatalf("validate = %q, want one message saying the contract could not be evaluated", msgs)
	}
}
