package schemas

import (
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"testing"
)

// benchBody is a HubSpot batch upsert of about 1 KB, the size the budget is stated for.
func benchBody(email func(i int) string) string {
	var inputs []string
	for i := range 5 {
		inputs = append(inputs, fmt.Sprintf(`{"id":%q,"idProperty":"email","properties":{"email":%q,"firstname":"Jane","lastname":"Doe","company":"Acme Industries","phone":"+1 555 0100","lifecyclestage":"lead","hs_lead_status":"NEW","annualrevenue":125000}}`, email(i), email(i)))
	}
	return `{"inputs":[` + strings.Join(inputs, ",") + `]}`
}

// BenchmarkValidate measures what a pinned contract adds to a call: matching the pin and
// validating the body. valid and invalid hand over a body parsed already; create-request and
// create-response compare the full path with the fast validator on an unparsed body. The
// budget is ~80 µs of CPU per 1 KB body:
//
//	go test -run '^$' -bench Validate -benchmem ./schemas/
func BenchmarkValidate(b *testing.B) {
	pins, _ := BuiltinVendorPins("hubspot")
	c, err := CompileContracts(ContractsSpec{Mode: ModeEnforce, Pins: pins}, ContractOptions{})
	if err != nil {
		b.Fatal(err)
	}
	cases := map[string]string{
		"valid":   benchBody(func(i int) string { return fmt.Sprintf("lead%d@acme.com", i) }),
		"invalid": benchBody(func(i int) string { return fmt.Sprintf("lead%d-at-acme.com", i) }),
	}
	for _, name := range []string{"valid", "invalid"} {
		body := cases[name]
		b.Run(name, func(b *testing.B) {
			req := contractRequest("POST", "/crm/v3/objects/contacts/batch/upsert", body)
			b.SetBytes(int64(len(body)))
			b.ReportAllocs()
			for b.Loop() {
				var v RequestVerdict
				c.CheckRequest(checkTime, req, &v)
				if (v.Reject == nil) != (name == "valid") {
					b.Fatalf("%s: %+v", name, v)
				}
			}
			b.ReportMetric(float64(len(body)), "body-bytes")
		})
	}
	// The common case, side by side: a valid contact create and its answer, through the full
	// path (parse the body, run jsonschema) and through the fast validator (the raw bytes
	// only). The body is handed over unparsed, as the pipeline does when its scan read it.
	reqBody, respBody := contactCreateBody()
	h := http.Header{"Content-Type": {"application/json"}}
	for _, path := range []string{"full", "fast"} {
		cs := c
		if path == "full" {
			cs = withoutFast(c)
		}
		b.Run("create-request/"+path, func(b *testing.B) {
			req := &Request{Method: "POST", Path: "/crm/v3/objects/contacts", Header: h, Raw: []byte(reqBody)}
			b.SetBytes(int64(len(reqBody)))
			b.ReportAllocs()
			for b.Loop() {
				req.Body = Body{}
				var v RequestVerdict
				cs.CheckRequest(checkTime, req, &v)
				if len(v.Findings) != 0 {
					b.Fatalf("findings: %+v", v.Findings)
				}
			}
			b.ReportMetric(float64(len(reqBody)), "body-bytes")
		})
		b.Run("create-response/"+path, func(b *testing.B) {
			req := &Request{Method: "POST", Path: "/crm/v3/objects/contacts", Header: h, Raw: []byte(reqBody)}
			resp := &Response{Status: http.StatusCreated, Header: h, Raw: []byte(respBody)}
			b.SetBytes(int64(len(respBody)))
			b.ReportAllocs()
			for b.Loop() {
				resp.Body = Body{}
				var v ResponseVerdict
				cs.CheckResponse(checkTime, req, resp, &v)
				if len(v.Findings) != 0 {
					b.Fatalf("findings: %+v", v.Findings)
				}
			}
			b.ReportMetric(float64(len(respBody)), "body-bytes")
		})
	}
	// The error path: a contact's answer whose archived is a string where the contract wants
	// a boolean, as HubSpot sends it (every property echoed, 1.1 KB) and as the proxy
	// benchmark's fake vendor does (230 bytes). The fast validator fails, then the members it
	// is not sure of are parsed and validated (contract_members.go) and the message written.
	// invalid-small is the proxy benchmark's answer (bench/pipeline_test.go), 230 bytes.
	small := `{"id":"51","properties":{"createdate":"2025-06-02T09:14:07.052Z","hs_object_id":"51","lastmodifieddate":"2025-06-02T09:14:07.052Z"},"createdAt":"2025-06-02T09:14:07.052Z","updatedAt":"2025-06-02T09:14:07.052Z","archived":false}`
	for name, answer := range map[string]string{"invalid": respBody, "invalid-small": small} {
		b.Run("create-response/"+name, func(b *testing.B) {
			req := &Request{Method: "POST", Path: "/crm/v3/objects/contacts", Header: h, Raw: []byte(reqBody)}
			bad := strings.Replace(answer, `"archived":false`, `"archived":"false"`, 1)
			resp := &Response{Status: http.StatusCreated, Header: h, Raw: []byte(bad)}
			b.SetBytes(int64(len(bad)))
			b.ReportAllocs()
			for b.Loop() {
				resp.Body = Body{}
				var v ResponseVerdict
				c.CheckResponse(checkTime, req, resp, &v)
				if len(v.Findings) != 1 {
					b.Fatalf("findings: %+v", v.Findings)
				}
			}
			b.ReportMetric(float64(len(bad)), "body-bytes")
		})
	}
	// For scale: building the tree of the same body, which the full path needs and the fast path
	// avoids (the pipeline itself only scans bodies, for record keys and secret fields).
	b.Run("parse-only", func(b *testing.B) {
		body := []byte(cases["valid"])
		b.SetBytes(int64(len(body)))
		b.ReportAllocs()
		for b.Loop() {
			ParseBody("application/json", body)
		}
	})
}

// contactCreateBody is a HubSpot contact create of about 1 KB, and its answer.
func contactCreateBody() (request, response string) {
	props := []string{`"email":"jane.doe@acme-industries.com"`, `"firstname":"Jane"`, `"lastname":"Doe"`,
		`"company":"Acme Industries"`, `"phone":"+1 555 0100"`, `"mobilephone":"+1 555 0101"`, `"website":"https://acme-industries.example"`,
		`"address":"1 Main Street"`, `"city":"Springfield"`, `"state":"IL"`, `"zip":"62701"`, `"country":"United States"`,
		`"jobtitle":"Head of Operations"`, `"lifecyclestage":"lead"`, `"hs_lead_status":"NEW"`, `"industry":"MANUFACTURING"`,
		`"annualrevenue":125000`, `"numberofemployees":250`, `"date_of_birth":"1990-03-15"`, `"hs_marketable_status":true`,
		`"utm_source":"newsletter"`, `"utm_medium":"email"`, `"utm_campaign":"spring-launch-2026"`, `"salutation":"Ms."`,
		`"hs_language":"en"`, `"twitterhandle":"janedoe_ops"`, `"hs_persona":"persona_1"`, `"fax":"+1 555 0199"`,
		`"hs_analytics_source":"EMAIL_MARKETING"`, `"hs_content_membership_status":"active"`,
		`"message":"Interested in the enterprise plan for our three plants; please call after 2pm CT."`}
	request = `{"properties":{` + strings.Join(props, ",") + `},"associations":[{"to":{"id":"101"},"types":[{"associationCategory":"HUBSPOT_DEFINED","associationTypeId":279}]}]}`
	var out []string
	for _, p := range props {
		k, v, _ := strings.Cut(p, ":")
		if !strings.HasPrefix(v, `"`) {
			v = strconv.Quote(v)
		}
		out = append(out, k+":"+v)
	}
	response = `{"id":"512","properties":{` + strings.Join(out, ",") + `,"createdate":"2026-11-28T12:00:00.000Z","hs_object_id":"512","lastmodifieddate":"2026-11-28T12:00:00.000Z"},` +
		`"createdAt":"2026-11-28T12:00:00.000Z","updatedAt":"2026-11-28T12:00:00.000Z","archived":false}`
	return request, response
}
