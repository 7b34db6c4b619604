package schemas

import (
	"encoding/json"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// specsDir holds the vendors' published API descriptions, beside the repository (never copied
// into it).
var specsDir = filepath.Join("..", "..", "shared", "specs")

func readSpec(t *testing.T, name string) *Spec {
	t.Helper()
	data, err := os.ReadFile(filepath.Join(specsDir, name))
	if os.IsNotExist(err) {
		t.Skipf("%s is absent: the vendor specs live in ../shared/specs/ beside the repository; import tests need them", filepath.Join(specsDir, name))
	}
	if err != nil {
		t.Fatal(err)
	}
	spec, err := ParseSpec(data)
	if err != nil {
		t.Fatalf("%s: %v", name, err)
	}
	return spec
}

// importAndCompile imports one operation of a real spec and compiles what it made, as
// `mtguard schemas import` then a pin would.
func importAndCompile(t *testing.T, spec *Spec, match string) (*Contracts, *Imported) {
	t.Helper()
	op, err := spec.FindOperation(match)
	if err != nil {
		t.Fatal(err)
	}
	im, err := spec.ImportOperation(op)
	if err != nil {
		t.Fatal(err)
	}
	fs := map[string]string{}
	ps := PinSpec{Match: match, Responses: map[string]string{}}
	for _, is := range im.Schemas {
		name := is.FileName(op)
		fs[name] = string(MarshalSchema(is.Describe(op, spec, "spec.json")))
		if is.Part == "request" {
			ps.Request = name
		} else {
			ps.Responses[is.Status] = name
		}
	}
	c, err := CompileContracts(ContractsSpec{Mode: ModeEnforce, Pins: []PinSpec{ps}}, ContractOptions{ReadFile: memFiles(fs)})
	if err != nil {
		t.Fatalf("compile what was imported: %v", err)
	}
	return c, im
}

// realCase is one payload checked against an imported contract.
type realCase struct {
	name   string
	part   string // request or response
	status int
	body   string
	want   []string // the findings' messages; nil means valid
}

func runRealCases(t *testing.T, c *Contracts, match string, cases []realCase) {
	t.Helper()
	method, path, _ := strings.Cut(match, " ")
	path = strings.NewReplacer("{contactId}", "512", "{exportId}", "f3c1").Replace(path)
	for _, tt := range cases {
		t.Run(tt.name, func(t *testing.T) {
			var got []string
			if tt.part == "request" {
				var v RequestVerdict
				c.CheckRequest(checkTime, contractRequest(method, path, tt.body), &v)
				for _, f := range v.Findings {
					got = append(got, f.Message)
				}
			} else {
				var v ResponseVerdict
				c.CheckResponse(checkTime, contractRequest(method, path, `{}`), &Response{Status: tt.status, Header: jsonContentType(), Body: ParseBody("application/json", []byte(tt.body)), Raw: []byte(tt.body)}, &v)
				for _, f := range v.Findings {
					got = append(got, f.Message)
				}
			}
			if !slices.Equal(got, tt.want) {
				t.Errorf("got  %q\nwant %q", got, tt.want)
			}
		})
	}
}

func TestImportHubSpotContacts(t *testing.T) {
	spec := readSpec(t, "hubspot-crm-contacts-v3.json")
	if spec.Format != "OpenAPI 3.0.1" || spec.Version != "v3" {
		t.Errorf("format %q version %q", spec.Format, spec.Version)
	}
	c, im := importAndCompile(t, spec, "POST /crm/v3/objects/contacts")
	if len(im.Schemas) != 2 || im.Schemas[1].Status != "2XX" {
		t.Errorf("schemas: %+v", im.Schemas)
	}
	created := `{"id":"512","properties":{"email":"jane@acme.com"},"createdAt":"2026-11-28T12:00:00.000Z","updatedAt":"2026-11-28T12:00:00.000Z","archived":false}`
	runRealCases(t, c, "POST /crm/v3/objects/contacts", []realCase{
		{"request valid", "request", 0, `{"properties":{"email":"jane@acme.com","firstname":"Jane"},"associations":[]}`, nil},
		{"request missing required", "request", 0, `{"properties":{"email":"jane@acme.com"}}`, []string{`/: missing required field "associations"`}},
		{"request wrong shape", "request", 0, `{"properties":{"email":"jane@acme.com","age":42},"associations":[{"to":{"id":"1"},"types":[{"associationCategory":"HUBSPOT","associationTypeId":"1"}]}]}`, []string{
			`/associations/0/types/0/associationCategory: "HUBSPOT" is not one of "HUBSPOT_DEFINED", "INTEGRATOR_DEFINED", "USER_DEFINED", "WORK"`,
			`/associations/0/types/0/associationTypeId: "1" is a string, expected an integer`,
			`/properties/age: 42 is an integer, expected a string`}},
		{"response valid", "response", 201, created, nil},
		{"response wrong date", "response", 201, strings.Replace(created, `"2026-11-28T12:00:00.000Z"`, `"11/28/2026"`, 1), []string{
			`/createdAt: "11/28/2026" is not a valid date-time (expected RFC 3339, like 2026-01-20T21:14:16Z)`}},
		{"response missing required", "response", 201, strings.Replace(created, `"id":"512",`, ``, 1), []string{`/: missing required field "id"`}},
	})
}

func TestImportHubSpotBatchUpsert(t *testing.T) {
	spec := readSpec(t, "hubspot-crm-contacts-v3.json")
	match := "POST /crm/v3/objects/contacts/batch/upsert"
	c, im := importAndCompile(t, spec, match)
	var statuses []string
	for _, is := range im.Schemas {
		statuses = append(statuses, is.Part+" "+is.Status)
	}
	if want := []string{"request ", "response 200", "response 207"}; !slices.Equal(statuses, want) {
		t.Errorf("imported %q, want %q (200 and 207 differ: 207 carries errors)", statuses, want)
	}
	result := `{"id":"512","properties":{"firstname":"Jane"},"createdAt":"2026-11-28T12:00:00Z","updatedAt":"2026-11-28T12:00:00Z","archived":false,"new":true}`
	multi := `{"status":"COMPLETE","results":[` + result + `],"numErrors":1,"errors":[{"status":"error","category":"VALIDATION_ERROR","message":"Property values were not valid","context":{},"links":{},"errors":[]}],"startedAt":"2026-11-28T12:00:00Z","completedAt":"2026-11-28T12:00:01Z"}`
	runRealCases(t, c, match, []realCase{
		{"request valid", "request", 0, `{"inputs":[{"id":"jane@acme.com","idProperty":"email","properties":{"firstname":"Jane"}}]}`, nil},
		{"request missing required", "request", 0, `{"inputs":[{"idProperty":"email","properties":{"firstname":"Jane"}}]}`, []string{`/inputs/0: missing required field "id"`}},
		{"207 valid", "response", 207, multi, nil},
		{"207 wrong date", "response", 207, strings.Replace(multi, `"startedAt":"2026-11-28T12:00:00Z"`, `"startedAt":"2026-11-28"`, 1), []string{
			`/startedAt: "2026-11-28" is not a valid date-time (expected RFC 3339, like 2026-01-20T21:14:16Z)`}},
		{"207 error missing required", "response", 207, strings.Replace(multi, `"category":"VALIDATION_ERROR",`, ``, 1), []string{`/errors/0: missing required field "category"`}},
		{"200 valid", "response", 200, `{"status":"COMPLETE","results":[` + result + `],"startedAt":"2026-11-28T12:00:00Z","completedAt":"2026-11-28T12:00:01Z"}`, nil},
	})
}

func TestImportHubSpotEvents(t *testing.T) {
	spec := readSpec(t, "hubspot-events-send-v3.json")
	match := "POST /events/v3/send"
	c, im := importAndCompile(t, spec, match)
	if len(im.Schemas) != 1 {
		t.Errorf("a 204 has no body to pin: %+v", im.Schemas)
	}
	runRealCases(t, c, match, []realCase{
		{"valid", "request", 0, `{"eventName":"pe1234_signup","email":"jane@acme.com","occurredAt":"2026-01-20T21:14:16.512Z","properties":{"plan":"pro"}}`, nil},
		{"wrong date", "request", 0, `{"eventName":"pe1234_signup","occurredAt":"01/20/2026","properties":{}}`, []string{
			`/occurredAt: "01/20/2026" is not a valid date-time (expected RFC 3339, like 2026-01-20T21:14:16Z)`}},
		{"missing required", "request", 0, `{"email":"jane@acme.com","properties":{}}`, []string{`/: missing required field "eventName"`}},
	})
}

func TestImportMarketoSwagger(t *testing.T) {
	spec := readSpec(t, "marketo-mapi-swagger2.json")
	if spec.Format != "Swagger 2.0" {
		t.Errorf("format %q", spec.Format)
	}
	match := "POST /rest/v1/leads.json"
	c, _ := importAndCompile(t, spec, match)
	ok := `{"requestId":"e42b#1","result":[{"id":50,"status":"created"}],"success":true,"errors":[],"warnings":[]}`
	runRealCases(t, c, match, []realCase{
		{"request valid", "request", 0, `{"action":"createOrUpdate","lookupField":"email","input":[{"email":"jane@acme.com","firstName":"Jane"}]}`, nil},
		{"request missing required", "request", 0, `{"action":"createOnly"}`, []string{`/: missing required field "input"`}},
		{"request wrong enum", "request", 0, `{"action":"upsert","input":[]}`, []string{
			`/action: "upsert" is not one of "createOnly", "updateOnly", "createOrUpdate", "createDuplicate"`}},
		{"response valid", "response", 200, ok, nil},
		{"response missing required", "response", 200, strings.Replace(ok, `"requestId":"e42b#1",`, ``, 1), []string{`/: missing required field "requestId"`}},
	})
	// Marketo's dates are in its export jobs.
	match = "POST /bulk/v1/leads/export/create.json"
	c, _ = importAndCompile(t, spec, match)
	job := `{"requestId":"e42b#2","success":true,"errors":[],"warnings":[],"result":[{"exportId":"f3c1","status":"Created","createdAt":"2026-11-28T12:00:00Z","format":"CSV"}]}`
	runRealCases(t, c, match, []realCase{
		{"request valid", "request", 0, `{"fields":["email","firstName"],"filter":{"createdAt":{"startAt":"2026-11-01T00:00:00Z","endAt":"2026-11-28T00:00:00Z"}},"format":"CSV"}`, nil},
		{"request missing required", "request", 0, `{"fields":["email"]}`, []string{`/: missing required field "filter"`}},
		{"response valid", "response", 200, job, nil},
		{"response wrong date", "response", 200, strings.Replace(job, `"2026-11-28T12:00:00Z"`, `"28.11.2026 12:00"`, 1), []string{
			`/result/0/createdAt: "28.11.2026 12:00" is not a valid date-time (expected RFC 3339, like 2026-01-20T21:14:16Z)`}},
	})
}

// TestImportAll imports every operation of every real spec, as --all does, and compiles each
// schema.
func TestImportAll(t *testing.T) {
	for _, name := range []string{"hubspot-crm-contacts-v3.json", "hubspot-events-send-v3.json", "marketo-mapi-swagger2.json"} {
		t.Run(name, func(t *testing.T) {
			spec := readSpec(t, name)
			n := 0
			for _, op := range spec.Operations() {
				im, err := spec.ImportOperation(op)
				if err != nil {
					t.Errorf("%s: %v", op, err)
					continue
				}
				for _, is := range im.Schemas {
					body := MarshalSchema(is.Describe(op, spec, name))
					c := newContractCompiler(ContractOptions{ReadFile: memFiles(map[string]string{"s.json": string(body)})})
					if _, err := c.schema("s.json"); err != nil {
						t.Errorf("%s %s: %v", op, is.FileName(op), err)
					}
					n++
				}
			}
			if n == 0 {
				t.Error("nothing imported")
			}
		})
	}
}

func TestFindOperation(t *testing.T) {
	spec := readSpec(t, "hubspot-crm-contacts-v3.json")
	op, err := spec.FindOperation("patch /crm/v3/objects/contacts/{id}")
	if err != nil || op.Path != "/crm/v3/objects/contacts/{contactId}" {
		t.Errorf("got %+v, %v", op, err)
	}
	_, err = spec.FindOperation("POST /crm/v3/objects/contact")
	if err == nil || !strings.Contains(err.Error(), "did you mean") {
		t.Errorf("got %v", err)
	}
}

// TestConvert checks the OpenAPI-to-JSON-Schema rules on a small spec, in YAML.
func TestConvert(t *testing.T) {
	spec, err := ParseSpec([]byte(`
openapi: 3.0.3
info: {title: Tiny, version: "1.2"}
paths:
  /leads/{id}:
    put:
      operationId: putLead
      requestBody:
        $ref: '#/components/requestBodies/Lead'
      responses:
        '200':
          description: ok
          content:
            application/json:
              schema: {$ref: '#/components/schemas/Lead'}
components:
  requestBodies:
    Lead:
      content:
        application/json:
          schema: {$ref: '#/components/schemas/Lead'}
  schemas:
    Lead:
      type: object
      required: [id, email, password]
      x-internal: true
      properties:
        id: {type: string, readOnly: true}
        email: {type: string, format: email, nullable: true}
        password: {type: string, writeOnly: true}
        score: {type: integer, minimum: 0, exclusiveMinimum: true, example: 5}
        stage: {type: string, enum: [new, won], nullable: true}
        owner:
          nullable: true
          allOf: [{$ref: '#/components/schemas/Owner'}]
    Owner:
      type: object
      properties:
        name: {type: string}
`))
	if err != nil {
		t.Fatal(err)
	}
	im, err := spec.ImportOperation(Operation{Method: "PUT", Path: "/leads/{id}"})
	if err != nil {
		t.Fatal(err)
	}
	if len(im.Schemas) != 2 {
		t.Fatalf("schemas: %+v", im.Schemas)
	}
	got := func(i int) map[string]any {
		var m map[string]any
		if err := json.Unmarshal(MarshalSchema(im.Schemas[i].Schema), &m); err != nil {
			t.Fatal(err)
		}
		return m["$defs"].(map[string]any)["Lead"].(map[string]any)
	}
	req, resp := got(0), got(1)
	if r := req["required"]; !slices.Equal(anyStrings(r), []string{"email", "password"}) {
		t.Errorf("request required %v: a readOnly id is not sent", r)
	}
	if r := resp["required"]; !slices.Equal(anyStrings(r), []string{"id", "email"}) {
		t.Errorf("response required %v: a writeOnly password is not returned", r)
	}
	props := req["properties"].(map[string]any)
	if ty := props["email"].(map[string]any)["type"]; !slices.Equal(anyStrings(ty), []string{"string", "null"}) {
		t.Errorf("nullable email: %v", ty)
	}
	stage := props["stage"].(map[string]any)
	if e := stage["enum"].([]any); len(e) != 3 || e[2] != nil {
		t.Errorf("nullable enum: %v", e)
	}
	score := props["score"].(map[string]any)
	if score["exclusiveMinimum"] != float64(0) || score["minimum"] != nil || score["examples"] == nil {
		t.Errorf("score: %v", score)
	}
	if owner := props["owner"].(map[string]any); owner["anyOf"] == nil {
		t.Errorf("nullable allOf: %v", owner)
	}
	if _, ok := req["x-internal"]; ok {
		t.Errorf("x- extensions are dropped: %v", req)
	}
	c, _ := importAndCompile(t, spec, "PUT /leads/{id}")
	runRealCases(t, c, "PUT /leads/{id}", []realCase{
		{"null where nullable", "request", 0, `{"email":null,"password":"x","stage":null,"owner":null}`, nil},
		{"exclusive minimum", "request", 0, `{"email":"a@b.co","password":"x","score":0}`, []string{`/score: 0 must be more than 0`}},
		{"nullable type", "request", 0, `{"email":5,"password":"x"}`, []string{`/email: 5 is an integer, expected a string or null`}},
		{"nullable ref", "request", 0, `{"email":"a@b.co","password":"x","owner":{"name":7}}`, []string{`/owner/name: 7 is an integer, expected a string`}},
	})
}

func TestConvertSwaggerForm(t *testing.T) {
	spec, err := ParseSpec([]byte(`{"swagger":"2.0","info":{"title":"Forms","version":"1"},"paths":{"/subscribe":{"post":{
		"consumes":["application/x-www-form-urlencoded"],
		"parameters":[{"in":"formData","name":"email","type":"string","required":true},{"in":"formData","name":"list","type":"integer","enum":[1,2]}],
		"responses":{"200":{"description":"ok","schema":{"type":"object","properties":{"ok":{"type":"boolean","x-nullable":true}}}}}}}}}`))
	if err != nil {
		t.Fatal(err)
	}
	c, im := importAndCompile(t, spec, "POST /subscribe")
	if im.Schemas[0].MediaType != "application/x-www-form-urlencoded" {
		t.Errorf("media type %q", im.Schemas[0].MediaType)
	}
	h := jsonContentType()
	h.Set("Content-Type", "application/x-www-form-urlencoded")
	for body, want := range map[string]int{"email=a%40b.co&list=2": 0, "list=3": 2} {
		var v RequestVerdict
		c.CheckRequest(checkTime, &Request{Method: "POST", Path: "/subscribe", Header: h, Body: ParseBody(h.Get("Content-Type"), []byte(body)), Raw: []byte(body)}, &v)
		if len(v.Findings) != want {
			t.Errorf("%s: %q", body, findingLines(v.Findings))
		}
	}
	runRealCases(t, c, "POST /subscribe", []realCase{{"x-nullable", "response", 200, `{"ok":null}`, nil}})
}

func TestParseSpecErrors(t *testing.T) {
	for body, want := range map[string]string{
		`{"openapi": "3.0.0", "info": {}, "paths": {}`: "not valid JSON: at byte",
		`{"swagger": "1.2", "paths": {}}`:              "not an OpenAPI 3.x or Swagger 2.0 document",
		"openapi: 3.1.0\ninfo: {title: x}\n":           "no paths",
		"- a\n- b\n":                                   "not an OpenAPI or Swagger document",
	} {
		if _, err := ParseSpec([]byte(body)); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%q: got %v, want %q", body, err, want)
		}
	}
	spec, _ := ParseSpec([]byte(`{"openapi":"3.0.0","info":{"title":"x","version":"1"},"paths":{"/a":{"post":{"requestBody":{"content":{"application/json":{"schema":{"$ref":"other.json#/Lead"}}}},"responses":{}}}}}`))
	if _, err := spec.ImportOperation(Operation{Method: "POST", Path: "/a"}); err == nil || !strings.Contains(err.Error(), "bundle the spec") {
		t.Errorf("external $ref: %v", err)
	}
}

func anyStrings(v any) []string {
	var out []string
	for _, x := range v.([]any) {
		out = append(out, x.(string))
	}
	return out
}

func jsonContentType() http.Header {
	return http.Header{"Content-Type": {"application/json"}}
}
