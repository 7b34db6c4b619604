package schemas

import (
	"fmt"
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

// BenchmarkValidate measures what a pinned request contract adds to a call: matching the pin
// and validating the parsed body (the pipeline parses every body once, contract or not).
// The budget is ~80 µs of CPU per 1 KB body:
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
	// For scale: parsing the same body, which every call pays with or without a contract.
	b.Run("parse-only", func(b *testing.B) {
		body := []byte(cases["valid"])
		b.SetBytes(int64(len(body)))
		b.ReportAllocs()
		for b.Loop() {
			ParseBody("application/json", body)
		}
	})
}
