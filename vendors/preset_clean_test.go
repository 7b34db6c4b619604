package vendors

import (
	"encoding/base64"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"net/http"
	"net/url"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/mtguard/mtguard/schemas"
	"github.com/mtguard/mtguard/txn"
)

// cleanCall is one transaction a vendor accepted in full, as a generator builds it.
type cleanCall struct {
	method, path string
	header       http.Header
	body         any // JSON document, or nil
	status       int
	respHeader   http.Header
	resp         any // JSON document, a string sent as is, or nil for no body
}

// cleanGenerators build varied, fully successful calls per preset: the traffic a healthy
// integration sends. None of them may produce a finding.
var cleanGenerators = map[string]func(r *rand.Rand, now time.Time) cleanCall{
	"generic": func(r *rand.Rand, now time.Time) cleanCall {
		return cleanCall{method: "POST", path: "/v1/leads", body: map[string]any{"email": email(r)}, status: 201,
			respHeader: http.Header{"Ratelimit-Limit": {"100"}, "Ratelimit-Remaining": {strconv.Itoa(r.IntN(100))}, "Ratelimit-Reset": {"12"}},
			resp:       map[string]any{"id": r.IntN(1e6)}}
	},
	"hubspot": func(r *rand.Rand, now time.Time) cleanCall {
		h := http.Header{"X-Hubspot-Ratelimit-Max": {"190"}, "X-Hubspot-Ratelimit-Remaining": {strconv.Itoa(1 + r.IntN(189))}, "X-Hubspot-Ratelimit-Interval-Milliseconds": {"10000"}}
		auth := http.Header{"Authorization": {"Bearer " + testJWT(now.Add(time.Duration(6+r.IntN(24))*time.Minute))}}
		switch r.IntN(4) {
		case 0:
			n := batchSize(r, 100)
			inputs, results := make([]any, n), make([]any, n)
			for i := range inputs {
				inputs[i] = map[string]any{"objectWriteTraceId": fmt.Sprint("t-", i), "properties": map[string]any{"email": email(r), "firstname": "A"}}
				results[i] = map[string]any{"id": strconv.Itoa(i), "properties": map[string]any{}}
			}
			return cleanCall{method: "POST", path: "/crm/objects/2026-09/contacts/batch/create", header: auth, body: map[string]any{"inputs": inputs}, status: 201, respHeader: h,
				resp: map[string]any{"status": "COMPLETE", "results": results, "startedAt": now.Format(time.RFC3339), "completedAt": now.Format(time.RFC3339)}}
		case 1:
			return cleanCall{method: "GET", path: "/crm/objects/2026-09/contacts/" + strconv.Itoa(r.IntN(1e6)), header: auth, status: 200, respHeader: h,
				resp: map[string]any{"id": "1", "properties": map[string]any{"email": email(r)}}}
		case 2:
			return cleanCall{method: "POST", path: "/events/v3/send", header: auth, body: map[string]any{"eventName": "pe1_x", "email": email(r), "properties": map[string]any{}}, status: 204, respHeader: h}
		}
		return cleanCall{method: "POST", path: "/oauth/v1/token", status: 200, resp: map[string]any{"access_token": "x", "refresh_token": "y", "expires_in": 1800}}
	},
	"salesforce": func(r *rand.Rand, now time.Time) cleanCall {
		h := http.Header{"Sforce-Limit-Info": {fmt.Sprintf("api-usage=%d/100000", r.IntN(99999))}}
		version := fmt.Sprintf("v%d.0", 41+r.IntN(28))
		switch r.IntN(4) {
		case 0:
			n := batchSize(r, 200)
			recs, results := make([]any, n), make([]any, n)
			for i := range recs {
				recs[i] = map[string]any{"attributes": map[string]any{"type": "Lead"}, "Email": email(r), "LastName": "X", "Company": "Y"}
				results[i] = map[string]any{"id": fmt.Sprint("00Q", i), "success": true, "errors": []any{}}
			}
			return cleanCall{method: "POST", path: "/services/data/" + version + "/composite/sobjects", body: map[string]any{"allOrNone": r.IntN(2) == 0, "records": recs}, status: 200, respHeader: h, resp: results}
		case 1:
			return cleanCall{method: "PATCH", path: "/services/data/" + version + "/sobjects/Lead/00Q1", body: map[string]any{"Status": "Open"}, status: 204, respHeader: h}
		case 2:
			return cleanCall{method: "POST", path: "/services/data/" + version + "/composite", body: map[string]any{"compositeRequest": []any{}}, status: 200, respHeader: h,
				resp: map[string]any{"compositeResponse": []any{
					map[string]any{"body": map[string]any{"id": "00Q1", "success": true, "errors": []any{}}, "httpHeaders": map[string]any{}, "httpStatusCode": 201, "referenceId": "ref1"},
					map[string]any{"body": map[string]any{"id": "00Q2"}, "httpHeaders": map[string]any{}, "httpStatusCode": 200, "referenceId": "ref2"}}}}
		}
		return cleanCall{method: "POST", path: "/services/data/" + version + "/composite/batch", body: map[string]any{"batchRequests": []any{}}, status: 200, respHeader: h,
			resp: map[string]any{"hasErrors": false, "results": []any{map[string]any{"statusCode": 204, "result": nil}}}}
	},
	"marketo": func(r *rand.Rand, now time.Time) cleanCall {
		switch r.IntN(3) {
		case 0:
			n := batchSize(r, 300)
			in, res := make([]any, n), make([]any, n)
			for i := range in {
				in[i] = map[string]any{"email": email(r), "firstName": "F"}
				res[i] = map[string]any{"id": i + 1, "status": []string{"created", "updated"}[r.IntN(2)]}
			}
			return cleanCall{method: "POST", path: "/rest/v1/leads.json", header: http.Header{"Authorization": {"Bearer abc:int"}},
				body: map[string]any{"action": "createOrUpdate", "lookupField": "email", "input": in}, status: 200,
				resp: map[string]any{"requestId": "e42b#1", "success": true, "result": res}}
		case 1:
			return cleanCall{method: "GET", path: "/identity/oauth/token?grant_type=client_credentials", status: 200,
				resp: map[string]any{"access_token": "abc:int", "token_type": "bearer", "expires_in": 301 + r.IntN(3299), "scope": "x"}}
		}
		return cleanCall{method: "GET", path: "/rest/v1/leads.json?filterType=email&filterValues=" + url.QueryEscape(email(r)), header: http.Header{"Authorization": {"Bearer abc:int"}}, status: 200,
			resp: map[string]any{"requestId": "e42b#2", "success": true, "result": []any{map[string]any{"id": 1, "email": "x@y.z"}}}}
	},
	"pardot": func(r *rand.Rand, now time.Time) cleanCall {
		if r.IntN(2) == 0 {
			return cleanCall{method: "POST", path: "/api/prospect/version/4/do/create/email/" + email(r) + "?format=json", status: 200,
				resp: map[string]any{"@attributes": map[string]any{"stat": "ok", "version": 1}, "prospect": map[string]any{"id": r.IntN(1e6)}}}
		}
		return cleanCall{method: "POST", path: "/api/prospect/version/4/do/read/email/" + email(r), status: 200,
			respHeader: http.Header{"Content-Type": {"application/xml"}},
			resp:       `<?xml version="1.0" encoding="UTF-8"?><rsp stat="ok" version="1.0"><prospect><id>42</id></prospect></rsp>`}
	},
	"segment": func(r *rand.Rand, now time.Time) cleanCall {
		if r.IntN(2) == 0 {
			n := batchSize(r, 2500)
			batch := make([]any, n)
			for i := range batch {
				batch[i] = map[string]any{"type": "track", "userId": fmt.Sprint("u", i), "event": "Viewed"}
			}
			return cleanCall{method: "POST", path: "/v1/batch", body: map[string]any{"batch": batch}, status: 200, resp: map[string]any{"success": true}}
		}
		ids := map[string]any{"userId": "u1", "event": "Signed Up", "properties": map[string]any{}}
		if r.IntN(2) == 0 {
			ids = map[string]any{"anonymousId": "a1", "event": "Viewed"}
		}
		return cleanCall{method: "POST", path: "/v1/track", body: ids, status: 200, resp: map[string]any{"success": true}}
	},
	"ga4": func(r *rand.Rand, now time.Time) cleanCall {
		n := 1 + r.IntN(25)
		ev := make([]any, n)
		for i := range ev {
			ev[i] = map[string]any{"name": []string{"purchase", "page_view", "sign_up", "Lead_Form_1"}[r.IntN(4)], "params": map[string]any{"value": 1}}
		}
		path := "/mp/collect?measurement_id=G-XX&api_secret=s"
		status := 204
		var resp any
		if r.IntN(3) == 0 {
			path, status, resp = "/debug/mp/collect?measurement_id=G-XX&api_secret=s", 200, map[string]any{"validationMessages": []any{}}
		}
		return cleanCall{method: "POST", path: path, body: map[string]any{"client_id": "1.2", "events": ev}, status: status, resp: resp}
	},
	"meta": func(r *rand.Rand, now time.Time) cleanCall {
		n := batchSize(r, 1000)
		data := make([]any, n)
		for i := range data {
			data[i] = map[string]any{"event_name": "Purchase", "event_time": now.Unix(), "action_source": "website", "user_data": map[string]any{"em": []any{"h"}}}
		}
		return cleanCall{method: "POST", path: "/v19.0/1234/events?access_token=x", body: map[string]any{"data": data}, status: 200,
			resp: map[string]any{"events_received": n, "messages": []any{}, "fbtrace_id": "x"}}
	},
	"klaviyo": func(r *rand.Rand, now time.Time) cleanCall {
		rev := []string{"2026-07-15", "2026-01-15", "2025-12-15"}[r.IntN(3)]
		h := http.Header{"Revision": {rev}, "Authorization": {"Klaviyo-API-Key pk"}}
		rh := http.Header{"Ratelimit-Limit": {"3500"}, "Ratelimit-Remaining": {strconv.Itoa(1 + r.IntN(3499))}, "Ratelimit-Reset": {strconv.Itoa(r.IntN(60))}}
		if r.IntN(2) == 0 {
			return cleanCall{method: "POST", path: "/api/events", header: h, status: 202, respHeader: rh,
				body: map[string]any{"data": map[string]any{"type": "event", "attributes": map[string]any{"profile": map[string]any{"data": map[string]any{"attributes": map[string]any{"email": email(r)}}}}}}}
		}
		return cleanCall{method: "POST", path: "/api/profile-import", header: h, status: []int{200, 201}[r.IntN(2)], respHeader: rh,
			body: map[string]any{"data": map[string]any{"type": "profile", "attributes": map[string]any{"email": email(r)}}},
			resp: map[string]any{"data": map[string]any{"type": "profile", "id": "01H"}}}
	},
	"intercom": func(r *rand.Rand, now time.Time) cleanCall {
		h := http.Header{"Intercom-Version": {"2.14"}, "Authorization": {"Bearer tok"}}
		rh := http.Header{"X-Ratelimit-Limit": {"1666"}, "X-Ratelimit-Remaining": {strconv.Itoa(1 + r.IntN(1665))}, "X-Ratelimit-Reset": {strconv.FormatInt(now.Unix()+int64(r.IntN(10)), 10)}}
		if r.IntN(2) == 0 {
			return cleanCall{method: "POST", path: "/events", header: h, status: 202, respHeader: rh, body: map[string]any{"event_name": "x", "created_at": now.Unix(), "user_id": "1"}}
		}
		return cleanCall{method: "POST", path: "/contacts", header: h, status: 200, respHeader: rh, body: map[string]any{"role": "user", "email": email(r)},
			resp: map[string]any{"type": "contact", "id": "1", "email": "x"}}
	},
	"mailchimp": func(r *rand.Rand, now time.Time) cleanCall {
		if r.IntN(2) == 0 {
			n := batchSize(r, 500)
			members := make([]any, n)
			for i := range members {
				members[i] = map[string]any{"email_address": email(r), "status": "subscribed"}
			}
			return cleanCall{method: "POST", path: "/3.0/lists/abc123", body: map[string]any{"members": members}, status: 200,
				resp: map[string]any{"new_members": []any{}, "errors": []any{}, "error_count": 0, "total_created": n}}
		}
		return cleanCall{method: "GET", path: "/3.0/batches/b1", status: 200,
			resp: map[string]any{"id": "b1", "status": "finished", "total_operations": 10, "errored_operations": 0}}
	},
	"mailchimp-transactional": func(r *rand.Rand, now time.Time) cleanCall {
		n := batchSize(r, 50)
		to, res := make([]any, n), make([]any, n)
		for i := range to {
			e := email(r)
			to[i] = map[string]any{"email": e}
			res[i] = map[string]any{"email": e, "status": []string{"sent", "queued", "scheduled"}[r.IntN(3)], "_id": "x", "reject_reason": nil, "queued_reason": nil}
		}
		return cleanCall{method: "POST", path: "/api/1.4/messages/send", body: map[string]any{"key": "k", "message": map[string]any{"to": to}}, status: 200, resp: res}
	},
	"braze": func(r *rand.Rand, now time.Time) cleanCall {
		rh := http.Header{"X-Ratelimit-Limit": {"3000"}, "X-Ratelimit-Remaining": {strconv.Itoa(1 + r.IntN(2999))}, "X-Ratelimit-Reset": {strconv.FormatInt(now.Unix()+3, 10)}}
		n := batchSize(r, 75)
		attrs := make([]any, n)
		for i := range attrs {
			attrs[i] = map[string]any{"external_id": fmt.Sprint("u", i), "email": email(r)}
		}
		if r.IntN(10) == 0 {
			return cleanCall{method: "POST", path: "/users/track", body: map[string]any{"attributes": attrs}, status: 202, resp: map[string]any{"message": "queued"}}
		}
		return cleanCall{method: "POST", path: "/users/track", body: map[string]any{"attributes": attrs}, status: 201, respHeader: rh,
			resp: map[string]any{"message": "success", "attributes_processed": n}}
	},
	"iterable": func(r *rand.Rand, now time.Time) cleanCall {
		if r.IntN(2) == 0 {
			return cleanCall{method: "POST", path: "/api/users/update", body: map[string]any{"email": email(r), "dataFields": map[string]any{}}, status: 200,
				resp: map[string]any{"msg": "", "code": "Success", "params": nil}}
		}
		n := batchSize(r, 100)
		users := make([]any, n)
		for i := range users {
			users[i] = map[string]any{"email": email(r)}
		}
		return cleanCall{method: "POST", path: "/api/users/bulkUpdate", body: map[string]any{"users": users}, status: 200,
			resp: map[string]any{"successCount": n, "failCount": 0, "failedUpdates": map[string]any{"invalidEmails": []any{}}, "filteredOutFields": []any{}, "createdFields": []any{}}}
	},
}

// batchSize is mostly a small batch and sometimes the vendor's documented maximum, which must
// still be clean.
func batchSize(r *rand.Rand, max int) int {
	if r.IntN(25) == 0 {
		return max
	}
	return 1 + r.IntN(min(max, 20))
}

func email(r *rand.Rand) string {
	return fmt.Sprintf("Lead%d@Example%d.com", r.IntN(1e6), r.IntN(50))
}

// testJWT returns an unsigned JWT that expires at exp; only its exp claim is ever read.
func testJWT(exp time.Time) string {
	enc := base64.RawURLEncoding.EncodeToString
	return enc([]byte(`{"alg":"HS256"}`)) + "." + enc([]byte(fmt.Sprintf(`{"sub":"a","exp":%d}`, exp.Unix()))) + ".c2ln"
}

// TestCleanTrafficNoFindings sends 10,000 varied, fully successful calls through every
// preset's checks: a false alarm on healthy traffic would train people to ignore mtguard.
func TestCleanTrafficNoFindings(t *testing.T) {
	const total = 10_000
	names := PresetNames()
	checks := map[string]*schemas.Checks{}
	gens := map[string]func(*rand.Rand, time.Time) cleanCall{}
	for _, name := range names {
		gens[name] = cleanGenerators[name]
		if gens[name] == nil {
			// A preset added without Go: replay its clean fixtures (delivered, no findings).
			gens[name] = cleanFixtures(t, name)
		}
		p, err := LoadPreset(name)
		if err != nil {
			t.Fatal(err)
		}
		keys, err := schemas.ParseKeyPaths(p.RecordKeys)
		if err != nil {
			t.Fatal(err)
		}
		c := &schemas.Checks{}
		p.AddTo(c, keys)
		checks[name] = c
	}
	r := rand.New(rand.NewPCG(4, 2026))
	start := time.Date(2026, 11, 28, 12, 0, 0, 0, time.UTC)
	for i := range total {
		name := names[i%len(names)]
		now := start.Add(time.Duration(i) * time.Second)
		call := gens[name](r, now)
		req, resp := call.build(t)
		rv := checks[name].CheckRequest(now, req)
		v := checks[name].CheckResponse(now, req, resp)
		if len(rv.Findings) > 0 || rv.Reject != nil || len(v.Findings) > 0 || len(v.Records) > 0 || (v.Outcome != "" && v.Outcome != txn.OutcomeDelivered) {
			t.Fatalf("call %d (%s %s %s, %d): request findings %+v, reject %+v; response outcome %q, findings %+v, records %+v",
				i, name, call.method, call.path, call.status, rv.Findings, rv.Reject, v.Outcome, v.Findings, v.Records)
		}
		for _, s := range v.Signals {
			if s.Kind != SignalRemaining {
				t.Fatalf("call %d (%s %s): limit signal %+v on a clean call", i, name, call.path, s)
			}
		}
	}
}

// cleanFixtures returns a generator that picks among a preset's fixture folders whose want.json
// is delivered with no findings.
func cleanFixtures(t *testing.T, preset string) func(*rand.Rand, time.Time) cleanCall {
	t.Helper()
	dirs, _ := filepath.Glob(filepath.Join("testdata", "detect", preset, "*"))
	var calls []cleanCall
	for _, dir := range dirs {
		var want fixtureWant
		readJSON(t, filepath.Join(dir, "want.json"), &want)
		if want.Outcome != txn.OutcomeDelivered || len(want.Findings) > 0 {
			continue
		}
		var fr fixtureRequest
		var fresp fixtureResponse
		readJSON(t, filepath.Join(dir, "request.json"), &fr)
		readJSON(t, filepath.Join(dir, "response.json"), &fresp)
		c := cleanCall{method: fr.Method, path: fr.Path, header: header(fr.Headers), status: fresp.Status, respHeader: header(fresp.Headers)}
		if b := rawBody(fr.Body); b != nil {
			c.body = json.RawMessage(b)
		}
		if b := rawBody(fresp.Body); b != nil {
			c.resp = string(b)
		}
		calls = append(calls, c)
	}
	if len(calls) == 0 {
		t.Fatalf("preset %s has neither a clean-traffic generator in preset_clean_test.go nor a clean fixture (delivered, no findings) under testdata/detect/%s", preset, preset)
	}
	return func(r *rand.Rand, _ time.Time) cleanCall { return calls[r.IntN(len(calls))] }
}

// build encodes a clean call as the pipeline would hand it to the checks.
func (c cleanCall) build(t testing.TB) (*schemas.Request, *schemas.Response) {
	path, query, _ := strings.Cut(c.path, "?")
	q, _ := url.ParseQuery(query)
	req := &schemas.Request{Method: c.method, Path: path, Query: q, Header: c.header}
	if req.Header == nil {
		req.Header = http.Header{}
	}
	if c.body != nil {
		b, err := json.Marshal(c.body)
		if err != nil {
			t.Fatal(err)
		}
		req.Header.Set("Content-Type", "application/json")
		req.Raw = b
	}
	req.Body = schemas.ParseBody(req.Header.Get("Content-Type"), req.Raw)
	resp := &schemas.Response{Status: c.status, Header: c.respHeader}
	if resp.Header == nil {
		resp.Header = http.Header{}
	}
	switch b := c.resp.(type) {
	case nil:
	case string:
		resp.Raw = []byte(b)
	default:
		raw, err := json.Marshal(b)
		if err != nil {
			t.Fatal(err)
		}
		resp.Raw = raw
		if resp.Header.Get("Content-Type") == "" {
			resp.Header.Set("Content-Type", "application/json")
		}
	}
	resp.Body = schemas.ParseBody(resp.Header.Get("Content-Type"), resp.Raw)
	return req, resp
}
