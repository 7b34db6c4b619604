package schemas

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"regexp"
	"strconv"
	"strings"

	"go.yaml.in/yaml/v3"
)

// Spec is a vendor's published API description, OpenAPI 3.x or Swagger 2.0, read for
// importing pinned contracts from it.
type Spec struct {
	doc       map[string]any
	swagger   bool // Swagger 2.0 rather than OpenAPI 3.x
	openapi31 bool
	// Format is "OpenAPI 3.0.1" or "Swagger 2.0".
	Format string
	// Title and Version are the spec's info.title and info.version.
	Title, Version string
}

// Operation is one method and path of a spec.
type Operation struct {
	Method  string // upper case
	Path    string // as the spec writes it, with {params}
	ID      string // operationId, if any
	Summary string
}

// String is the operation as a pin's match writes it: "POST /crm/v3/objects/contacts".
func (o Operation) String() string { return o.Method + " " + o.Path }

// ImportedSchema is one JSON Schema 2020-12 document made from an operation.
type ImportedSchema struct {
	// Part is "request" or "response".
	Part string
	// Status is the response status ("201", "2XX" when every success shares one schema);
	// empty for the request.
	Status    string
	MediaType string
	// Schema is self-contained: every $ref of the spec it needs is copied under $defs.
	Schema map[string]any
}

// Imported is what ImportOperation made of one operation.
type Imported struct {
	Operation
	Schemas []ImportedSchema
	// Notes say what could not be imported (a multipart body, a pattern Go cannot run).
	Notes []string
}

var httpMethods = []string{"get", "put", "post", "delete", "options", "head", "patch"}

// ParseSpec reads an OpenAPI 3.x or Swagger 2.0 document, in JSON or YAML.
func ParseSpec(data []byte) (*Spec, error) {
	var doc map[string]any
	trimmed := bytes.TrimSpace(data)
	if len(trimmed) > 0 && trimmed[0] == '{' {
		d := json.NewDecoder(bytes.NewReader(data))
		d.UseNumber()
		if err := d.Decode(&doc); err != nil {
			return nil, jsonFileError(err, data)
		}
	} else {
		var y any
		if err := yaml.Unmarshal(data, &y); err != nil {
			return nil, fmt.Errorf("neither JSON nor valid YAML: %v", err)
		}
		m, ok := normalizeYAML(y).(map[string]any)
		if !ok {
			return nil, errors.New("not an OpenAPI or Swagger document (the top level is not a mapping)")
		}
		doc = m
	}
	s := &Spec{doc: doc}
	info, _ := doc["info"].(map[string]any)
	s.Title, _ = info["title"].(string)
	s.Version = scalarString(info["version"])
	switch {
	case scalarString(doc["swagger"]) == "2.0":
		s.swagger = true
		s.Format = "Swagger 2.0"
	case strings.HasPrefix(scalarString(doc["openapi"]), "3."):
		v := scalarString(doc["openapi"])
		s.openapi31 = !strings.HasPrefix(v, "3.0")
		s.Format = "OpenAPI " + v
	default:
		return nil, errors.New("not an OpenAPI 3.x or Swagger 2.0 document (no openapi: 3.x or swagger: \"2.0\" at the top)")
	}
	if _, ok := doc["paths"].(map[string]any); !ok {
		return nil, errors.New("the document has no paths")
	}
	return s, nil
}

// normalizeYAML turns the maps yaml decodes into map[string]any, as JSON would.
func normalizeYAML(v any) any {
	switch v := v.(type) {
	case map[string]any:
		for k, x := range v {
			v[k] = normalizeYAML(x)
		}
		return v
	case map[any]any:
		m := make(map[string]any, len(v))
		for k, x := range v {
			m[fmt.Sprint(k)] = normalizeYAML(x)
		}
		return m
	case []any:
		for i, x := range v {
			v[i] = normalizeYAML(x)
		}
		return v
	}
	return v
}

func scalarString(v any) string {
	switch v := v.(type) {
	case string:
		return v
	case nil:
		return ""
	}
	return fmt.Sprint(v)
}

// Operations lists the spec's operations, sorted by path and method.
func (s *Spec) Operations() []Operation {
	paths, _ := s.doc["paths"].(map[string]any)
	var ops []Operation
	for _, p := range sortedKeys(paths) {
		item, _ := paths[p].(map[string]any)
		for _, m := range httpMethods {
			op, ok := item[m].(map[string]any)
			if !ok {
				continue
			}
			id, _ := op["operationId"].(string)
			sum, _ := op["summary"].(string)
			ops = append(ops, Operation{Method: strings.ToUpper(m), Path: p, ID: id, Summary: sum})
		}
	}
	return ops
}

// FindOperation finds the operation that a match like "POST /crm/v3/objects/contacts" names.
// Parameter names need not agree with the spec's: /objects/{id} finds /objects/{contactId}.
func (s *Spec) FindOperation(match string) (Operation, error) {
	t, err := parseMatch(match)
	if err != nil {
		return Operation{}, err
	}
	var near []string
	for _, op := range s.Operations() {
		ot, err := parseMatch(op.String())
		if err != nil {
			continue
		}
		if ot.shape() == t.shape() {
			return op, nil
		}
		if ot.method == t.method && strings.EqualFold(ot.shape(), t.shape()) {
			near = append(near, op.String())
		}
	}
	for _, op := range s.Operations() {
		if len(near) < 5 && op.Method == t.method && strings.Contains(op.Path, lastLiteral(t)) {
			near = append(near, op.String())
		}
	}
	msg := fmt.Sprintf("the spec has no operation %s", t.text)
	if len(near) > 0 {
		msg += "; did you mean " + strings.Join(dedupe(near), ", ") + "?"
	}
	return Operation{}, errors.New(msg + " (mtguard schemas import --spec FILE --list shows them all)")
}

func lastLiteral(t pathTemplate) string {
	for i := len(t.segments) - 1; i >= 0; i-- {
		if !t.segments[i].param {
			return t.segments[i].prefix
		}
	}
	return "/"
}

// ImportOperation converts the request and success response bodies of op into JSON Schema
// 2020-12: $refs resolved into $defs, OpenAPI 3.0 nullable and Swagger's x-nullable turned
// into null types, boolean exclusiveMinimum/Maximum into numbers, readOnly fields not required
// of requests (and writeOnly ones not of responses), OpenAPI-only keywords dropped.
func (s *Spec) ImportOperation(op Operation) (*Imported, error) {
	paths, _ := s.doc["paths"].(map[string]any)
	item, _ := paths[op.Path].(map[string]any)
	raw, ok := item[strings.ToLower(op.Method)].(map[string]any)
	if !ok {
		return nil, fmt.Errorf("the spec has no operation %s", op)
	}
	im := &Imported{Operation: op}
	if err := s.importRequest(im, item, raw); err != nil {
		return nil, fmt.Errorf("%s request: %w", op, err)
	}
	if err := s.importResponses(im, raw); err != nil {
		return nil, fmt.Errorf("%s response: %w", op, err)
	}
	return im, nil
}

// preferredMedia picks the media type mtguard can check: JSON first, then a urlencoded form.
func preferredMedia(types []string) (string, bool) {
	rank := func(t string) int {
		base, _, _ := strings.Cut(strings.ToLower(t), ";")
		base = strings.TrimSpace(base)
		switch {
		case base == "application/json":
			return 0
		case strings.HasSuffix(base, "+json"):
			return 1
		case base == "application/x-www-form-urlencoded":
			return 2
		case base == "*/*" || base == "application/*":
			return 3
		}
		return -1
	}
	best, bestRank := "", 99
	for _, t := range types {
		if r := rank(t); r >= 0 && r < bestRank {
			best, bestRank = t, r
		}
	}
	return best, best != ""
}

func (s *Spec) importRequest(im *Imported, item, op map[string]any) error {
	conv := s.newConverter("request")
	if !s.swagger {
		rb, ok := op["requestBody"].(map[string]any)
		if !ok {
			return nil
		}
		rb, err := s.deref(rb)
		if err != nil {
			return err
		}
		content, _ := rb["content"].(map[string]any)
		media, ok := preferredMedia(sortedKeys(content))
		if !ok {
			im.Notes = append(im.Notes, fmt.Sprintf("request: no JSON or urlencoded body (%s); not imported", strings.Join(sortedKeys(content), ", ")))
			return nil
		}
		mt, _ := content[media].(map[string]any)
		sch, ok := mt["schema"]
		if !ok {
			return nil
		}
		root, err := conv.root(sch)
		if err != nil {
			return err
		}
		im.Schemas = append(im.Schemas, ImportedSchema{Part: "request", MediaType: media, Schema: root})
		im.Notes = append(im.Notes, conv.notes...)
		return nil
	}
	// Swagger 2.0: a body parameter, or formData parameters.
	var params []any
	if p, ok := item["parameters"].([]any); ok {
		params = append(params, p...)
	}
	if p, ok := op["parameters"].([]any); ok {
		params = append(params, p...)
	}
	form := map[string]any{"type": "object"}
	props := map[string]any{}
	var required []any
	for _, p := range params {
		pm, ok := p.(map[string]any)
		if !ok {
			continue
		}
		pm, err := s.deref(pm)
		if err != nil {
			return err
		}
		name, _ := pm["name"].(string)
		switch pm["in"] {
		case "body":
			root, err := conv.root(pm["schema"])
			if err != nil {
				return err
			}
			media, ok := preferredMedia(s.mediaTypes(op, "consumes"))
			if !ok {
				media = "application/json"
			}
			im.Schemas = append(im.Schemas, ImportedSchema{Part: "request", MediaType: media, Schema: root})
			im.Notes = append(im.Notes, conv.notes...)
			return nil
		case "formData":
			// A urlencoded form arrives as strings; keep the field's documentation and enum.
			f := map[string]any{"type": "string"}
			if pm["type"] == "file" {
				im.Notes = append(im.Notes, "request: a multipart file upload; not imported")
				return nil
			}
			if d, ok := pm["description"].(string); ok {
				f["description"] = d
			}
			if e, ok := pm["enum"].([]any); ok {
				vals := make([]any, len(e))
				for i, v := range e {
					vals[i] = scalarString(v)
				}
				f["enum"] = vals
			}
			props[name] = f
			if pm["required"] == true {
				required = append(required, name)
			}
		}
	}
	if len(props) == 0 {
		return nil
	}
	media := "application/x-www-form-urlencoded"
	if ms := s.mediaTypes(op, "consumes"); len(ms) > 0 && !slicesContainsFold(ms, media) {
		im.Notes = append(im.Notes, fmt.Sprintf("request: form fields sent as %s; not imported", strings.Join(ms, ", ")))
		return nil
	}
	form["properties"] = props
	if len(required) > 0 {
		form["required"] = required
	}
	form["$schema"] = draft2020
	im.Schemas = append(im.Schemas, ImportedSchema{Part: "request", MediaType: media, Schema: form})
	return nil
}

func slicesContainsFold(list []string, s string) bool {
	for _, x := range list {
		if strings.EqualFold(strings.TrimSpace(strings.Split(x, ";")[0]), s) {
			return true
		}
	}
	return false
}

// mediaTypes returns a Swagger operation's consumes or produces, or the document's.
func (s *Spec) mediaTypes(op map[string]any, key string) []string {
	list, ok := op[key].([]any)
	if !ok {
		list, _ = s.doc[key].([]any)
	}
	var out []string
	for _, v := range list {
		if t, ok := v.(string); ok {
			out = append(out, t)
		}
	}
	return out
}

// importResponses imports the schema of every success status. When all of them share one
// schema, it is imported once for 2XX.
func (s *Spec) importResponses(im *Imported, op map[string]any) error {
	responses, _ := op["responses"].(map[string]any)
	var got []ImportedSchema
	for _, status := range sortedKeys(responses) {
		if !strings.HasPrefix(status, "2") {
			continue
		}
		r, ok := responses[status].(map[string]any)
		if !ok {
			continue
		}
		r, err := s.deref(r)
		if err != nil {
			return err
		}
		conv := s.newConverter("response")
		var sch any
		media := "application/json"
		if s.swagger {
			sch, ok = r["schema"]
			if !ok {
				continue
			}
			if m, ok := preferredMedia(s.mediaTypes(op, "produces")); ok {
				media = m
			}
		} else {
			content, _ := r["content"].(map[string]any)
			if len(content) == 0 {
				continue
			}
			m, ok := preferredMedia(sortedKeys(content))
			if !ok {
				im.Notes = append(im.Notes, fmt.Sprintf("response %s: no JSON body (%s); not imported", status, strings.Join(sortedKeys(content), ", ")))
				continue
			}
			media = m
			mt, _ := content[m].(map[string]any)
			if sch, ok = mt["schema"]; !ok {
				continue
			}
		}
		root, err := conv.root(sch)
		if err != nil {
			return fmt.Errorf("%s: %w", status, err)
		}
		im.Notes = append(im.Notes, conv.notes...)
		got = append(got, ImportedSchema{Part: "response", Status: strings.ToUpper(status), MediaType: media, Schema: root})
	}
	if len(got) > 1 {
		same := true
		first, _ := json.Marshal(got[0].Schema)
		for _, g := range got[1:] {
			b, _ := json.Marshal(g.Schema)
			same = same && bytes.Equal(first, b)
		}
		if same {
			got = got[:1]
		}
	}
	if len(got) == 1 {
		got[0].Status = "2XX"
	}
	im.Schemas = append(im.Schemas, got...)
	return nil
}

// deref follows a $ref of a request body, response or parameter object to its target.
func (s *Spec) deref(m map[string]any) (map[string]any, error) {
	for range 10 {
		ref, ok := m["$ref"].(string)
		if !ok {
			return m, nil
		}
		target, err := s.resolve(ref)
		if err != nil {
			return nil, err
		}
		t, ok := target.(map[string]any)
		if !ok {
			return nil, fmt.Errorf("$ref %q does not name an object", ref)
		}
		m = t
	}
	return nil, errors.New("$refs nested more than 10 deep")
}

// resolve returns what a local $ref ("#/components/schemas/X") names in the spec.
func (s *Spec) resolve(ref string) (any, error) {
	frag, ok := strings.CutPrefix(ref, "#")
	if !ok {
		return nil, fmt.Errorf("$ref %q points outside this file; bundle the spec into one file first (for example with redocly bundle)", ref)
	}
	var v any = s.doc
	for _, tok := range strings.Split(strings.TrimPrefix(frag, "/"), "/") {
		if tok == "" && frag == "" {
			break
		}
		tok = strings.ReplaceAll(strings.ReplaceAll(tok, "~1", "/"), "~0", "~")
		switch c := v.(type) {
		case map[string]any:
			next, ok := c[tok]
			if !ok {
				return nil, fmt.Errorf("$ref %q: %q not found", ref, tok)
			}
			v = next
		case []any:
			i, err := strconv.Atoi(tok)
			if err != nil || i < 0 || i >= len(c) {
				return nil, fmt.Errorf("$ref %q: no item %q", ref, tok)
			}
			v = c[i]
		default:
			return nil, fmt.Errorf("$ref %q: cannot descend into %q", ref, tok)
		}
	}
	return v, nil
}

const draft2020 = "https://json-schema.org/draft/2020-12/schema"

// converter turns the schemas of one direction (request or response) of one operation into
// one self-contained JSON Schema 2020-12 document.
type converter struct {
	spec  *Spec
	dir   string            // "request" or "response"
	names map[string]string // $ref -> name under $defs
	defs  map[string]any
	queue []string // $refs whose target is not converted yet
	notes []string
}

func (s *Spec) newConverter(dir string) *converter {
	return &converter{spec: s, dir: dir, names: map[string]string{}, defs: map[string]any{}}
}

// root converts sch and every schema it refers to.
func (c *converter) root(sch any) (map[string]any, error) {
	out, err := c.convert(sch)
	if err != nil {
		return nil, err
	}
	for len(c.queue) > 0 {
		ref := c.queue[0]
		c.queue = c.queue[1:]
		target, err := c.spec.resolve(ref)
		if err != nil {
			return nil, err
		}
		conv, err := c.convert(target)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", ref, err)
		}
		c.defs[c.names[ref]] = conv
	}
	root, ok := out.(map[string]any)
	if !ok {
		root = map[string]any{"allOf": []any{out}}
	}
	root["$schema"] = draft2020
	if len(c.defs) > 0 {
		root["$defs"] = c.defs
	}
	return root, nil
}

// defName names a $ref's target under $defs: its last segment, made unique.
func (c *converter) defName(ref string) string {
	if n, ok := c.names[ref]; ok {
		return n
	}
	base := ref[strings.LastIndex(ref, "/")+1:]
	base = strings.ReplaceAll(strings.ReplaceAll(base, "~1", "/"), "~0", "~")
	name := base
	for i := 2; ; i++ {
		taken := false
		for _, n := range c.names {
			if n == name {
				taken = true
				break
			}
		}
		if !taken {
			break
		}
		name = base + "_" + strconv.Itoa(i)
	}
	c.names[ref] = name
	c.queue = append(c.queue, ref)
	return name
}

// dropped are OpenAPI keywords that JSON Schema 2020-12 does not have, or that only describe
// serialisation.
var dropped = map[string]bool{"nullable": true, "x-nullable": true, "discriminator": true, "xml": true, "externalDocs": true, "example": true}

// schemaMaps and schemaLists are the keywords whose values are schemas, to convert in turn.
var (
	schemaMaps   = map[string]bool{"properties": true, "patternProperties": true, "definitions": true, "$defs": true}
	schemaValues = map[string]bool{"additionalProperties": true, "items": true, "not": true, "propertyNames": true, "contains": true}
	schemaLists  = map[string]bool{"allOf": true, "anyOf": true, "oneOf": true, "prefixItems": true}
)

// convert turns one OpenAPI schema object into JSON Schema 2020-12.
func (c *converter) convert(v any) (any, error) {
	m, ok := v.(map[string]any)
	if !ok {
		return v, nil // true, false
	}
	if ref, ok := m["$ref"].(string); ok {
		if !strings.HasPrefix(ref, "#") {
			return nil, fmt.Errorf("$ref %q points outside this file; bundle the spec into one file first", ref)
		}
		out := map[string]any{"$ref": "#/$defs/" + escapePointer(c.defName(ref))}
		// OpenAPI 3.0 and Swagger ignore the siblings of $ref; 3.1 applies them.
		if c.spec.openapi31 {
			for k, x := range m {
				if k != "$ref" && !dropped[k] && !strings.HasPrefix(k, "x-") {
					out[k] = x
				}
			}
		}
		return c.nullable(m, out), nil
	}
	out := make(map[string]any, len(m))
	for k, x := range m {
		switch {
		case dropped[k] || strings.HasPrefix(k, "x-"):
			if k == "example" && x != nil {
				out["examples"] = []any{x}
			}
		case schemaMaps[k]:
			mm, ok := x.(map[string]any)
			if !ok {
				continue
			}
			conv := make(map[string]any, len(mm))
			for name, sub := range mm {
				s, err := c.convert(sub)
				if err != nil {
					return nil, fmt.Errorf("%s.%s: %w", k, name, err)
				}
				conv[name] = s
			}
			out[k] = conv
		case schemaValues[k]:
			s, err := c.convert(x)
			if err != nil {
				return nil, fmt.Errorf("%s: %w", k, err)
			}
			out[k] = s
		case schemaLists[k]:
			list, ok := x.([]any)
			if !ok {
				continue
			}
			conv := make([]any, len(list))
			for i, sub := range list {
				s, err := c.convert(sub)
				if err != nil {
					return nil, fmt.Errorf("%s[%d]: %w", k, i, err)
				}
				conv[i] = s
			}
			out[k] = conv
		case k == "type" && x == "file":
			out[k] = "string"
		case k == "pattern":
			p, _ := x.(string)
			if _, err := regexp.Compile(p); err != nil {
				c.notes = append(c.notes, fmt.Sprintf("%s: dropped the pattern %q, which Go's regexp cannot run", c.dir, p))
				continue
			}
			out[k] = x
		default:
			out[k] = x
		}
	}
	// Draft 4 style boolean exclusive bounds (OpenAPI 3.0, Swagger 2.0) become numbers.
	for _, b := range [][2]string{{"exclusiveMinimum", "minimum"}, {"exclusiveMaximum", "maximum"}} {
		switch out[b[0]] {
		case true:
			if lim, ok := out[b[1]]; ok {
				out[b[0]] = lim
				delete(out, b[1])
			} else {
				delete(out, b[0])
			}
		case false:
			delete(out, b[0])
		}
	}
	c.fixRequired(out)
	return c.nullable(m, out), nil
}

// fixRequired drops from required the fields that the other direction owns: a readOnly field
// is not sent in requests, a writeOnly field is not returned in responses.
func (c *converter) fixRequired(out map[string]any) {
	req, ok := out["required"].([]any)
	if !ok {
		return
	}
	props, _ := out["properties"].(map[string]any)
	skip := "readOnly"
	if c.dir == "response" {
		skip = "writeOnly"
	}
	kept := []any{}
	for _, r := range req {
		name, _ := r.(string)
		if p, ok := props[name].(map[string]any); ok && p[skip] == true {
			continue
		}
		kept = append(kept, r)
	}
	if len(kept) == 0 {
		delete(out, "required")
		return
	}
	out["required"] = kept
}

// nullable applies OpenAPI 3.0's nullable (Swagger's x-nullable) of the original schema orig
// to its conversion out.
func (c *converter) nullable(orig, out map[string]any) map[string]any {
	if orig["nullable"] != true && orig["x-nullable"] != true {
		return out
	}
	switch t := out["type"].(type) {
	case string:
		out["type"] = []any{t, "null"}
		if e, ok := out["enum"].([]any); ok {
			out["enum"] = append(e, nil)
		}
		return out
	case []any:
		out["type"] = append(t, "null")
		return out
	}
	_, ref := out["$ref"]
	_, all := out["allOf"]
	_, any1 := out["anyOf"]
	_, one := out["oneOf"]
	if ref || all || any1 || one {
		return map[string]any{"anyOf": []any{out, map[string]any{"type": "null"}}}
	}
	return out // No type: null is allowed already.
}

func escapePointer(s string) string {
	return strings.ReplaceAll(strings.ReplaceAll(s, "~", "~0"), "/", "~1")
}

// FileSlug names the files of an operation: "POST /crm/v3/objects/contacts" becomes
// "post-crm-v3-objects-contacts".
func (o Operation) FileSlug() string {
	var b strings.Builder
	b.WriteString(strings.ToLower(o.Method))
	dash := true
	for _, r := range strings.ToLower(o.Path) {
		switch {
		case r >= 'a' && r <= 'z' || r >= '0' && r <= '9':
			if dash {
				b.WriteByte('-')
				dash = false
			}
			b.WriteRune(r)
		default:
			dash = true
		}
	}
	return b.String()
}

// FileName is the file an imported schema is written to under the import's folder.
func (is ImportedSchema) FileName(op Operation) string {
	switch {
	case is.Part == "request":
		return op.FileSlug() + ".request.json"
	case is.Status == "2XX":
		return op.FileSlug() + ".response.json"
	}
	return op.FileSlug() + ".response." + is.Status + ".json"
}
