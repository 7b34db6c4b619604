package vendors

import (
	"fmt"
	"net/http"
	"testing"
	"time"

	"github.com/mtguard/mtguard/schemas"
)

// benchCall builds a clean batch call of a preset whose answer is about 1 KB.
func benchCall(b *testing.B, preset string) (*schemas.Checks, *schemas.Request, *schemas.Response) {
	b.Helper()
	p, err := LoadPreset(preset)
	if err != nil {
		b.Fatal(err)
	}
	keys, _ := schemas.ParseKeyPaths(p.RecordKeys)
	c := &schemas.Checks{}
	p.AddTo(c, keys)
	var call cleanCall
	switch preset {
	case "marketo":
		in, res := make([]any, 30), make([]any, 30)
		for i := range in {
			in[i] = map[string]any{"email": fmt.Sprintf("lead%d@example.com", i), "firstName": "F"}
			res[i] = map[string]any{"id": 1000 + i, "status": "updated"}
		}
		call = cleanCall{method: "POST", path: "/rest/v1/leads.json", header: http.Header{"Authorization": {"Bearer cdf01657-110d-4155-99a7-f986b2ff13a0:int"}},
			body: map[string]any{"action": "createOrUpdate", "lookupField": "email", "input": in}, status: 200,
			resp: map[string]any{"requestId": "e42b#14272d07d78", "success": true, "result": res}}
	case "salesforce":
		recs, res := make([]any, 19), make([]any, 19)
		for i := range recs {
			recs[i] = map[string]any{"attributes": map[string]any{"type": "Lead"}, "Email": fmt.Sprintf("lead%d@example.com", i), "LastName": "X"}
			res[i] = map[string]any{"id": fmt.Sprintf("00Q5e00000AbC%03d", i), "success": true, "errors": []any{}}
		}
		call = cleanCall{method: "POST", path: "/services/data/v62.0/composite/sobjects", body: map[string]any{"allOrNone": false, "records": recs}, status: 200,
			respHeader: http.Header{"Sforce-Limit-Info": {"api-usage=10018/100000"}}, resp: res}
	case "hubspot":
		in, res := make([]any, 15), make([]any, 15)
		for i := range in {
			in[i] = map[string]any{"objectWriteTraceId": fmt.Sprint("t-", i), "properties": map[string]any{"email": fmt.Sprintf("lead%d@example.com", i)}}
			res[i] = map[string]any{"id": fmt.Sprint(5000 + i), "properties": map[string]any{"email": fmt.Sprintf("lead%d@example.com", i)}}
		}
		call = cleanCall{method: "POST", path: "/crm/objects/2026-09/contacts/batch/create", body: map[string]any{"inputs": in}, status: 201,
			header:     http.Header{"Authorization": {"Bearer " + testJWT(time.Date(2026, 11, 28, 13, 0, 0, 0, time.UTC))}},
			respHeader: http.Header{"X-Hubspot-Ratelimit-Max": {"190"}, "X-Hubspot-Ratelimit-Remaining": {"150"}, "X-Hubspot-Ratelimit-Interval-Milliseconds": {"10000"}},
			resp:       map[string]any{"status": "COMPLETE", "results": res, "startedAt": "2026-11-28T12:00:00.000Z", "completedAt": "2026-11-28T12:00:00.120Z"}}
	}
	req, resp := call.build(b)
	if n := len(resp.Raw); n < 800 || n > 1300 {
		b.Fatalf("%s answer is %d bytes; the benchmark is about 1 KB", preset, n)
	}
	return c, req, resp
}

// BenchmarkRuleEvaluation measures a preset's request and response checks on a clean batch
// call with a 1 KB answer, the bodies already parsed (the pipeline parses them once for
// every check and for the log). Run:
//
//	go test -run '^$' -bench RuleEvaluation -benchmem ./schemas
func BenchmarkRuleEvaluation(b *testing.B) {
	now := time.Date(2026, 11, 28, 12, 0, 0, 0, time.UTC)
	for _, preset := range []string{"marketo", "salesforce", "hubspot"} {
		b.Run(preset, func(b *testing.B) {
			c, req, resp := benchCall(b, preset)
			b.SetBytes(int64(len(resp.Raw)))
			b.ReportAllocs()
			for b.Loop() {
				rv := c.CheckRequest(now, req)
				v := c.CheckResponse(now, req, resp)
				if len(rv.Findings)+len(v.Findings) > 0 {
					b.Fatal(rv.Findings, v.Findings)
				}
			}
		})
	}
	// With parsing the answer, for comparison: what a call costs if nothing else parsed it.
	b.Run("marketo+parse", func(b *testing.B) {
		c, req, resp := benchCall(b, "marketo")
		raw := resp.Raw
		b.ReportAllocs()
		for b.Loop() {
			r := *resp
			r.Body = schemas.ParseBody("application/json", raw)
			c.CheckRequest(now, req)
			c.CheckResponse(now, req, &r)
		}
	})
}
