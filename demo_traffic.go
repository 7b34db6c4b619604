package main

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"time"

	"github.com/mtguard/mtguard/config"
	"github.com/mtguard/mtguard/examples/fakevendors"
	"github.com/mtguard/mtguard/txn"
)

// vendorCall is one call the demo sends to a vendor preset route: each looks fine to the tool
// that sends it (most get a 2xx) and each hides a failure mtguard catches.
type vendorCall struct {
	submission
	header map[string]string
}

// silentFailureCalls are the documented silent failures (docs/vendors.md), sent
// to the fake vendors through mtguard.
func silentFailureCalls(v *fakevendors.Vendors) []vendorCall {
	mkto := map[string]string{"Authorization": "Bearer " + v.Marketo.Token()}
	sf := map[string]string{"Authorization": "Bearer " + v.Salesforce.Session()}
	hs := map[string]string{"Authorization": "Bearer " + v.HubSpot.Token()}
	js := "application/json"
	return []vendorCall{
		{submission{"marketo: nightly sync, three leads", "POST", "/marketo/rest/v1/leads.json", js,
			`{"action":"createOnly","lookupField":"email","input":[{"email":"ana@globex.io"},{"email":"raj@initech.com"},{"email":"li@umbrella.org"}]}`}, mkto},
		{submission{"marketo: sync re-run, one lead exists", "POST", "/marketo/rest/v1/leads.json", js,
			`{"action":"createOnly","lookupField":"email","input":[{"email":"kim@hooli.com"},{"email":"Raj@Initech.com"}]}`}, mkto},
		{submission{"marketo: a typo in the action", "POST", "/marketo/rest/v1/leads.json", js,
			`{"action":"upsert","input":[{"email":"kim@hooli.com"}]}`}, mkto},
		{submission{"marketo: yesterday's access token", "POST", "/marketo/rest/v1/leads.json", js,
			`{"input":[{"email":"kim@hooli.com"}]}`}, map[string]string{"Authorization": "Bearer 0bsolete-token:int"}},
		{submission{"salesforce: two leads, one duplicate", "POST", "/salesforce/services/data/v62.0/composite/sobjects", js,
			`{"records":[{"attributes":{"type":"Lead"},"Email":"ana@globex.io","LastName":"Ana","Company":"Globex"},{"attributes":{"type":"Lead"},"Email":"ana@globex.io","LastName":"Ana","Company":"Globex"}]}`}, sf},
		{submission{"salesforce: old integration on v30.0", "POST", "/salesforce/services/data/v30.0/sobjects/Lead", js,
			`{"Email":"raj@initech.com","LastName":"Raj","Company":"Initech"}`}, sf},
		{submission{"salesforce: integration on v35.0", "POST", "/salesforce/services/data/v35.0/sobjects/Lead", js,
			`{"Email":"li@umbrella.org","LastName":"Li","Company":"Umbrella"}`}, sf},
		{submission{"hubspot: batch with one bad email", "POST", "/hubspot-crm/crm/objects/2026-09/contacts/batch/create", js,
			`{"inputs":[{"objectWriteTraceId":"r1","properties":{"email":"ana@globex.io"}},{"objectWriteTraceId":"r2","properties":{"email":"carol(at)acme.com"}}]}`}, hs},
		{submission{"hubspot: list export on Lists v1", "GET", "/hubspot-crm/contacts/v1/lists/all", "", ""}, hs},
		{submission{"segment: track without an event name", "POST", "/segment/v1/track", js,
			`{"userId":"u-42","properties":{"plan":"pro"}}`}, nil},
		{submission{"ga4: event named _signup", "POST", "/ga4/mp/collect?measurement_id=G-DEMO&api_secret=demo", js,
			`{"client_id":"555.1","events":[{"name":"_signup"}]}`}, nil},
		{submission{"meta: two purchases, one without user_data", "POST", "/meta/v19.0/1234567890/events?access_token=" + v.Meta.Token(), js,
			fmt.Sprintf(`{"data":[{"event_name":"Purchase","event_time":%[1]d,"action_source":"website","user_data":{"em":["309a0a5c3e211326ae75ca18196d301a9bdbd1a882a4d2569511033da23f0abd"]}},{"event_name":"Purchase","event_time":%[1]d,"action_source":"website"}]}`, time.Now().Unix())}, nil},
		{submission{"klaviyo: revision from 2023", "POST", "/klaviyo/api/events", "application/vnd.api+json",
			`{"data":{"type":"event","attributes":{"properties":{},"metric":{"data":{"type":"metric","attributes":{"name":"Signed Up"}}},"profile":{"data":{"type":"profile","attributes":{"email":"ana@globex.io"}}}}}}`},
			map[string]string{"Authorization": "Klaviyo-API-Key " + v.Klaviyo.Key(), "revision": "2023-02-22"}},
		{submission{"intercom: event without Intercom-Version", "POST", "/intercom/events", js,
			`{"event_name":"webinar-registered","created_at":1795867200,"email":"ana@globex.io"}`}, map[string]string{"Authorization": "Bearer " + v.Intercom.Token()}},
		{submission{"braze: two profiles, one without an id", "POST", "/braze/users/track", js,
			`{"attributes":[{"external_id":"u-1","email":"ana@globex.io"},{"first_name":"Raj"}]}`}, map[string]string{"Authorization": "Bearer " + v.Braze.Key()}},
		{submission{"iterable: bulk update with a bad email", "POST", "/iterable/api/users/bulkUpdate", js,
			`{"users":[{"email":"ana@globex.io"},{"email":"carol(at)acme.com"}]}`}, map[string]string{"Api-Key": v.Iterable.Key()}},
		{submission{"mandrill: receipt to a bounced address", "POST", "/mandrill/messages/send.json", js,
			`{"key":"` + v.Mandrill.Key() + `","message":{"subject":"Your receipt","to":[{"email":"ana@globex.io"},{"email":"bounce@initech.com"}]}}`}, nil},
	}
}

// startFakeVendors serves every fake vendor on a loopback port, each under /<preset>/.
func startFakeVendors() (*fakevendors.Vendors, *httptest.Server, error) {
	v := fakevendors.New(nil)
	srv := httptest.NewUnstartedServer(v)
	srv.Listener.Close()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, nil, fmt.Errorf("start the fake vendors: %w", err)
	}
	srv.Listener = ln
	srv.Start()
	return v, srv, nil
}

// pointAtFakeVendors sends every preset route of the demo config to its fake vendor.
func pointAtFakeVendors(cfg *config.Config, base string) {
	for i := range cfg.Routes {
		if p := cfg.Routes[i].Preset; p != "" {
			cfg.Routes[i].Upstream = base + "/" + p
		}
	}
}

// sendVendorCalls sends the silent-failure calls and prints one line per call.
func sendVendorCalls(ctx context.Context, client *http.Client, proxyURL string, calls []vendorCall, stdout io.Writer) {
	for _, c := range calls {
		req, err := http.NewRequestWithContext(ctx, c.method, proxyURL+c.path, strings.NewReader(c.body))
		status, id := "", "-"
		if err == nil {
			if c.ctype != "" {
				req.Header.Set("Content-Type", c.ctype)
			}
			for k, v := range c.header {
				req.Header.Set(k, v)
			}
			var resp *http.Response
			if resp, err = client.Do(req); err == nil {
				io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
				status, id = resp.Status, resp.Header.Get("X-Mtguard-Id")
			}
		}
		if err != nil {
			status = "error: " + err.Error()
		}
		path := c.path
		if i := strings.IndexByte(path, '?'); i >= 0 {
			path = path[:i] // keep secrets in query strings off the screen
		}
		fmt.Fprintf(stdout, "  %-44s %-4s %s -> %s  (X-Mtguard-Id %s)\n", c.what, c.method, path, status, id)
	}
}

// maxCaughtMessage bounds one finding's message on the demo's screen.
const maxCaughtMessage = 150

// writeCaught lists what mtguard found on calls to vendor preset routes: outcome and findings,
// next to the status the tool saw.
func writeCaught(w io.Writer, txs []txn.Transaction, presetRoutes []string) {
	txs = slices.Clone(txs)
	slices.SortFunc(txs, func(a, b txn.Transaction) int { return strings.Compare(a.ID, b.ID) })
	fmt.Fprintf(w, "\nWhat the vendors' status codes did not say (calls to routes with a vendor preset):\n\n")
	for _, tx := range txs {
		if !slices.Contains(presetRoutes, tx.Route) || len(tx.Findings) == 0 {
			continue
		}
		status := "-"
		if tx.Status > 0 {
			status = fmt.Sprint(tx.Status)
		}
		fmt.Fprintf(w, "  %-10s %-4s %-9s", tx.Route, status, tx.Outcome)
		for i, f := range tx.Findings {
			msg := f.Message
			if spec, ok := txn.Lookup(f.Code); ok && msg == spec.Title && f.Detail != "" {
				msg = f.Detail // a call mtguard refused keeps its specifics in the detail
			}
			if len(msg) > maxCaughtMessage {
				msg = msg[:maxCaughtMessage] + "…"
			}
			if i > 0 {
				fmt.Fprintf(w, "  %-10s %-4s %-9s", "", "", "")
			}
			fmt.Fprintf(w, " %-30s %s\n", f.Code, msg)
		}
	}
}

// submission is one call the demo sends, as a form tool or a marketing platform would.
type submission struct {
	what   string // shown while sending
	method string
	path   string
	ctype  string
	body   string
}

// demoSubmissions is a realistic handful: most succeed, the CRM rejects some, one goes to a
// vendor that is down and one to a path no route serves.
var demoSubmissions = []submission{
	{"web form: new lead (JSON)", "POST", "/crm/v1/leads", "application/json",
		`{"email":"Jane@Acme.com","first_name":"Jane","last_name":"Doe","company":"Acme","properties":{"utm_source":"newsletter"}}`},
	{"landing page: new lead (form post)", "POST", "/crm/v1/leads", "application/x-www-form-urlencoded",
		"email=bob%40example.com&first_name=Bob&company=Example+Ltd&utm_campaign=spring"},
	{"webinar sync: batch of three", "POST", "/crm/v1/leads/batch", "application/json",
		`{"inputs":[{"email":"ana@globex.io","first_name":"Ana"},{"email":"raj@initech.com","first_name":"Raj"},{"email":"li@umbrella.org","first_name":"Li"}]}`},
	{"web form: typo in the email", "POST", "/crm/v1/leads", "application/json",
		`{"email":"carol(at)acme.com","first_name":"Carol"}`},
	{"web form: Jane again (duplicate)", "POST", "/crm/v1/leads", "application/json",
		`{"email":"jane@acme.com","first_name":"Jane","company":"Acme Corp"}`},
	{"lookup: does Jane exist?", "GET", "/crm/v1/leads?email=jane%40acme.com", "", ""},
	{"old integration: legacy CRM (down)", "POST", "/legacy/api/leads", "application/json",
		`{"email":"jane@acme.com","source":"legacy-form"}`},
	{"misconfigured tool: wrong prefix", "POST", "/hubspot/crm/v3/objects/contacts", "application/json",
		`{"properties":{"email":"dan@acme.com"}}`},
}

// sendSubmission makes one demo call and returns the status it got and the transaction id.
func sendSubmission(ctx context.Context, client *http.Client, base string, sub submission) (status, id string) {
	var body io.Reader
	if sub.body != "" {
		body = strings.NewReader(sub.body)
	}
	req, err := http.NewRequestWithContext(ctx, sub.method, base+sub.path, body)
	if err != nil {
		return "error: " + err.Error(), "-"
	}
	if sub.ctype != "" {
		req.Header.Set("Content-Type", sub.ctype)
	}
	req.Header.Set("User-Agent", "mtguard-demo/"+version)
	resp, err := client.Do(req)
	if err != nil {
		return "error: " + err.Error(), "-"
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	return resp.Status, resp.Header.Get("X-Mtguard-Id")
}
