package main

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"github.com/mtguard/mtguard/config"
	"github.com/mtguard/mtguard/examples/fakevendors"
	"github.com/mtguard/mtguard/proxy"
	"github.com/mtguard/mtguard/store"
	"github.com/mtguard/mtguard/txn"
)

// testClock is a clock the test moves; the proxy and the fake vendors share it.
type testClock struct{ ns atomic.Int64 }

func newTestClock(t time.Time) *testClock {
	c := &testClock{}
	c.set(t)
	return c
}
func (c *testClock) now() time.Time            { return time.Unix(0, c.ns.Load()).UTC() }
func (c *testClock) set(t time.Time)           { c.ns.Store(t.UnixNano()) }
func (c *testClock) advance(d time.Duration)   { c.ns.Add(int64(d)) }
func (c *testClock) clock() fakevendors.Clock  { return c.now }
func (c *testClock) nowFunc() func() time.Time { return c.now }

// presetHarness is mtguard, configured with vendor presets, in front of the fake vendors.
type presetHarness struct {
	clock *testClock
	proxy *httptest.Server
	store *store.Store
	mkto  *fakevendors.Marketo
}

const presetsConfig = `
routes:
  - {name: marketo, prefix: /marketo, upstream: %[1]s/marketo, preset: marketo}
  - {name: salesforce, prefix: /salesforce, upstream: %[1]s/salesforce, preset: salesforce}
  - {name: hubspot, prefix: /hubspot, upstream: %[1]s/hubspot, preset: hubspot}
  - {name: segment, prefix: /segment, upstream: %[1]s/segment, preset: segment}
  - {name: ga4, prefix: /ga4, upstream: %[1]s/ga4, preset: ga4}
  - {name: meta, prefix: /meta, upstream: %[1]s/meta, preset: meta}
  - {name: klaviyo, prefix: /klaviyo, upstream: %[1]s/klaviyo, preset: klaviyo}
  - {name: intercom, prefix: /intercom, upstream: %[1]s/intercom, preset: intercom}
  - {name: braze, prefix: /braze, upstream: %[1]s/braze, preset: braze}
  - {name: iterable, prefix: /iterable, upstream: %[1]s/iterable, preset: iterable}
  - {name: mandrill, prefix: /mandrill, upstream: %[1]s/mailchimp-transactional, preset: mailchimp-transactional}
`

func newPresetHarness(t *testing.T) *presetHarness {
	t.Helper()
	clk := newTestClock(time.Date(2026, 11, 28, 12, 0, 0, 0, time.UTC))
	// Small limits, so that each limit is reached in a few calls.
	mkto := fakevendors.NewMarketo(fakevendors.MarketoOptions{Now: clk.clock(), RateLimit: 6, DailyQuota: 12, Concurrency: 1})
	mux := http.NewServeMux()
	for prefix, h := range map[string]http.Handler{
		"marketo":                 mkto,
		"salesforce":              fakevendors.NewSalesforce(fakevendors.SalesforceOptions{Now: clk.clock(), DailyLimit: 5}),
		"hubspot":                 fakevendors.NewHubSpot(fakevendors.HubSpotOptions{Now: clk.clock(), BurstLimit: 4}),
		"segment":                 fakevendors.NewSegment(fakevendors.SegmentOptions{Now: clk.clock()}),
		"ga4":                     fakevendors.NewGA4(),
		"meta":                    fakevendors.NewMeta(fakevendors.MetaOptions{Now: clk.clock()}),
		"klaviyo":                 fakevendors.NewKlaviyo(fakevendors.KlaviyoOptions{Now: clk.clock(), FallForward: true}),
		"intercom":                fakevendors.NewIntercom(fakevendors.IntercomOptions{Now: clk.clock()}),
		"braze":                   fakevendors.NewBraze(fakevendors.BrazeOptions{Now: clk.clock()}),
		"iterable":                fakevendors.NewIterable(),
		"mailchimp-transactional": fakevendors.NewMandrill(fakevendors.MandrillOptions{HourlyQuota: 2}),
	} {
		mux.Handle("/"+prefix+"/", http.StripPrefix("/"+prefix, h))
	}
	vendors := httptest.NewServer(mux)
	t.Cleanup(vendors.Close)

	cfg, err := config.Parse("presets.yaml", []byte(fmt.Sprintf(presetsConfig, vendors.URL)))
	if err != nil {
		t.Fatal(err)
	}
	routes, err := proxyRoutes(cfg.Routes, func(string) string { return "" })
	if err != nil {
		t.Fatal(err)
	}
	st, err := store.Open(filepath.Join(t.TempDir(), "mtguard.db"), store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	pl, err := proxy.NewPipeline(proxy.PipelineConfig{Recorder: st, Now: clk.nowFunc()})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(proxy.NewProxy(routes, pl, zerolog.Nop()))
	t.Cleanup(srv.Close)
	return &presetHarness{clock: clk, proxy: srv, store: st, mkto: mkto}
}

// call sends one request through mtguard and returns the status and the stored transaction.
func (h *presetHarness) call(t *testing.T, method, path string, header map[string]string, body string) (int, txn.Transaction) {
	t.Helper()
	req, err := http.NewRequest(method, h.proxy.URL+path, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	for k, v := range header {
		req.Header.Set(k, v)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	id := resp.Header.Get(proxy.HeaderID)
	// The outcome is recorded once the proxy has closed the vendor's body, which may be just
	// after the caller has read it.
	deadline := time.Now().Add(5 * time.Second)
	for {
		if err := h.store.Sync(context.Background()); err != nil {
			t.Fatal(err)
		}
		tx, err := h.store.Get(context.Background(), id)
		if err == nil && tx.Outcome != txn.OutcomePending {
			return resp.StatusCode, tx
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s %s: no outcome recorded for %q (%v)", method, path, id, err)
		}
		time.Sleep(2 * time.Millisecond)
	}
}

func codes(tx txn.Transaction) []string {
	var out []string
	for _, f := range tx.Findings {
		out = append(out, f.Code)
	}
	slices.Sort(out)
	return out
}

// TestPresetsCatchSilentFailures sends, through mtguard, each documented silent failure of
// docs/vendors.md to a fake vendor that reproduces it, and checks what mtguard recorded.
func TestPresetsCatchSilentFailures(t *testing.T) {
	h := newPresetHarness(t)
	mktoAuth := func() map[string]string { return map[string]string{"Authorization": "Bearer " + h.mkto.Token()} }
	sf := map[string]string{"Authorization": "Bearer 00D-demo-session"}
	hs := map[string]string{"Authorization": "Bearer pat-demo"}
	kl := map[string]string{"Authorization": "Klaviyo-API-Key pk_demo"}

	type step struct {
		name                 string
		before               func()
		method, path, body   string
		header               func() map[string]string
		wantStatus           int
		wantOutcome          txn.Outcome
		wantCodes            []string
		wantFailedRecords    int
		wantMessageFragments []string
	}
	steps := []step{
		{name: "marketo: a fresh token from the identity endpoint", method: "GET", path: "/marketo/identity/oauth/token?grant_type=client_credentials&client_id=demo-client&client_secret=demo-secret",
			wantStatus: 200, wantOutcome: txn.OutcomeDelivered},
		{name: "marketo: leads synced", method: "POST", path: "/marketo/rest/v1/leads.json", header: mktoAuth,
			body:       `{"action":"createOnly","input":[{"email":"ann@acme.com"},{"email":"bob@acme.com"}]}`,
			wantStatus: 200, wantOutcome: txn.OutcomeDelivered},
		{name: "marketo: one lead skipped (1005) inside a 200", method: "POST", path: "/marketo/rest/v1/leads.json", header: mktoAuth,
			body:       `{"action":"createOnly","input":[{"email":"cy@acme.com"},{"email":"ann@acme.com"}]}`,
			wantStatus: 200, wantOutcome: txn.OutcomePartial, wantCodes: []string{"response.partial_failure"}, wantFailedRecords: 1,
			wantMessageFragments: []string{"1 of 2 records failed: #1 ann@acme.com (1005 Lead already exists)"}},
		{name: "marketo: 1003 inside a 200", method: "POST", path: "/marketo/rest/v1/leads.json", header: mktoAuth,
			body:       `{"action":"upsert","input":[{"email":"dee@acme.com"}]}`,
			wantStatus: 200, wantOutcome: txn.OutcomeFailed, wantCodes: []string{"response.silent_failure"}},
		{name: "marketo: the token expires mid-run (602)", before: func() { h.clock.advance(3601 * time.Second) },
			method: "POST", path: "/marketo/rest/v1/leads.json", header: func() map[string]string { return map[string]string{"Authorization": "Bearer " + tokenOf(h)} },
			body:       `{"input":[{"email":"eve@acme.com"}]}`,
			wantStatus: 200, wantOutcome: txn.OutcomeFailed, wantCodes: []string{"auth.expired"}, wantMessageFragments: []string{"Marketo 602"}},
		{name: "marketo: after re-authenticating, calls go through", method: "POST", path: "/marketo/rest/v1/leads.json", header: mktoAuth,
			body: `{"input":[{"email":"eve@acme.com"}]}`, wantStatus: 200, wantOutcome: txn.OutcomeDelivered},
		{name: "marketo: email v1 asset warning", method: "POST", path: "/marketo/rest/asset/v1/email/12/content.json", header: mktoAuth, body: `{}`,
			wantStatus: 200, wantOutcome: txn.OutcomeDelivered, wantCodes: []string{"endpoint.deprecation_announced"}},
		{name: "marketo: 606 after the rate limit", before: func() {
			for range 4 {
				h.call(t, "GET", "/marketo/rest/v1/leads.json?filterType=email&filterValues=ann@acme.com", mktoAuth(), "")
			}
		}, method: "GET", path: "/marketo/rest/v1/leads.json?filterType=email&filterValues=ann@acme.com", header: mktoAuth,
			wantStatus: 200, wantOutcome: txn.OutcomeFailed, wantCodes: []string{"ratelimit.upstream"}, wantMessageFragments: []string{"Marketo 606", "retry after 20s"}},
		{name: "marketo: 607 once the daily quota is used", before: func() {
			for range 4 {
				h.clock.advance(21 * time.Second)
				h.call(t, "GET", "/marketo/rest/v1/leads.json?filterType=email&filterValues=ann@acme.com", mktoAuth(), "")
			}
			h.clock.advance(21 * time.Second)
		}, method: "GET", path: "/marketo/rest/v1/leads.json?filterType=email&filterValues=ann@acme.com", header: mktoAuth,
			wantStatus: 200, wantOutcome: txn.OutcomeFailed, wantCodes: []string{"quota.exhausted"}, wantMessageFragments: []string{"Marketo 607", "UTC)"}},

		{name: "salesforce: collections with one duplicate", method: "POST", path: "/salesforce/services/data/v62.0/composite/sobjects", header: func() map[string]string { return sf },
			body:       `{"records":[{"attributes":{"type":"Lead"},"Email":"ann@acme.com","LastName":"Ann"},{"attributes":{"type":"Lead"},"Email":"ann@acme.com","LastName":"Ann"}]}`,
			wantStatus: 200, wantOutcome: txn.OutcomePartial, wantCodes: []string{"response.partial_failure"}, wantFailedRecords: 1,
			wantMessageFragments: []string{"#1 ann@acme.com (DUPLICATES_DETECTED"}},
		{name: "salesforce: a retired version is refused before it leaves", method: "POST", path: "/salesforce/services/data/v30.0/sobjects/Lead", header: func() map[string]string { return sf },
			body:       `{"Email":"zed@acme.com","LastName":"Zed"}`,
			wantStatus: 410, wantOutcome: txn.OutcomeRejected, wantCodes: []string{"endpoint.retired"}},
		{name: "salesforce: a deprecated version works, with days left", method: "POST", path: "/salesforce/services/data/v35.0/sobjects/Lead", header: func() map[string]string { return sf },
			body:       `{"Email":"fay@acme.com","LastName":"Fay"}`,
			wantStatus: 201, wantOutcome: txn.OutcomeDelivered, wantCodes: []string{"endpoint.deprecated"}, wantMessageFragments: []string{"551 days left"}},
		{name: "salesforce: an invalid session", method: "POST", path: "/salesforce/services/data/v62.0/sobjects/Lead", header: func() map[string]string { return map[string]string{"Authorization": "Bearer old"} },
			body: `{"Email":"gus@acme.com","LastName":"Gus"}`, wantStatus: 401, wantOutcome: txn.OutcomeFailed, wantCodes: []string{"auth.expired"}},
		{name: "salesforce: 403 REQUEST_LIMIT_EXCEEDED", before: func() {
			for range 3 {
				h.call(t, "POST", "/salesforce/services/data/v62.0/sobjects/Lead", sf, `{"LastName":"X"}`)
			}
		}, method: "POST", path: "/salesforce/services/data/v62.0/sobjects/Lead", header: func() map[string]string { return sf }, body: `{"LastName":"X"}`,
			wantStatus: 403, wantOutcome: txn.OutcomeFailed, wantCodes: []string{"quota.exhausted"}},

		{name: "hubspot: 207 batch with one invalid email", method: "POST", path: "/hubspot/crm/objects/2026-09/contacts/batch/create", header: func() map[string]string { return hs },
			body:       `{"inputs":[{"objectWriteTraceId":"a","properties":{"email":"ann@acme.com"}},{"objectWriteTraceId":"b","properties":{"email":"bob(at)acme.com"}}]}`,
			wantStatus: 207, wantOutcome: txn.OutcomePartial, wantCodes: []string{"response.partial_failure"}, wantFailedRecords: 1},
		{name: "hubspot: v1 lists before the cut-off", before: func() { h.clock.set(time.Date(2026, 4, 20, 12, 0, 0, 0, time.UTC)) },
			method: "GET", path: "/hubspot/contacts/v1/lists/all", header: func() map[string]string { return hs },
			wantStatus: 200, wantOutcome: txn.OutcomeDelivered, wantCodes: []string{"endpoint.deprecated"}, wantMessageFragments: []string{"10 days left"}},
		{name: "hubspot: v1 lists after the cut-off", before: func() { h.clock.set(time.Date(2026, 11, 28, 12, 0, 0, 0, time.UTC)) },
			method: "GET", path: "/hubspot/contacts/v1/lists/all", header: func() map[string]string { return hs },
			wantStatus: 404, wantOutcome: txn.OutcomeFailed, wantCodes: []string{"endpoint.retired"}},
		{name: "hubspot: the 10-second limit", before: func() {
			for range 4 {
				h.call(t, "POST", "/hubspot/events/v3/send", hs, `{"eventName":"pe1_x","email":"ann@acme.com","properties":{}}`)
			}
		}, method: "POST", path: "/hubspot/events/v3/send", header: func() map[string]string { return hs }, body: `{"eventName":"pe1_x","email":"ann@acme.com","properties":{}}`,
			wantStatus: 429, wantOutcome: txn.OutcomeFailed, wantCodes: []string{"ratelimit.upstream"}, wantMessageFragments: []string{"retry after 10s"}},

		{name: "segment: 200 to a batch of 2,501 events", method: "POST", path: "/segment/v1/batch",
			body:       `{"batch":[` + strings.TrimSuffix(strings.Repeat(`{"type":"track","userId":"u","event":"e"},`, 2501), ",") + `]}`,
			wantStatus: 200, wantOutcome: txn.OutcomeFailed, wantCodes: []string{"response.silent_failure"}},
		{name: "segment: 200 to a track without an event", method: "POST", path: "/segment/v1/track", body: `{"userId":"u1"}`,
			wantStatus: 200, wantOutcome: txn.OutcomeFailed, wantCodes: []string{"response.silent_failure"}},
		{name: "ga4: 204 to an invalid event name", method: "POST", path: "/ga4/mp/collect?measurement_id=G-1&api_secret=s", body: `{"client_id":"1.2","events":[{"name":"_bad"}]}`,
			wantStatus: 204, wantOutcome: txn.OutcomeFailed, wantCodes: []string{"response.silent_failure"}},
		{name: "meta: fewer events received than sent", method: "POST", path: "/meta/v19.0/123/events?access_token=EAAB-demo",
			body:       fmt.Sprintf(`{"data":[{"event_name":"Purchase","event_time":%d,"user_data":{"em":["h"]}},{"event_name":"Purchase","event_time":%d}]}`, h.clock.now().Unix(), h.clock.now().Unix()),
			wantStatus: 200, wantOutcome: txn.OutcomePartial, wantCodes: []string{"response.partial_failure"}, wantMessageFragments: []string{"Meta received 1 of the 2 events sent"}},
		{name: "klaviyo: a retired revision silently falls forward", method: "POST", path: "/klaviyo/api/events",
			header: func() map[string]string {
				return map[string]string{"Authorization": kl["Authorization"], "revision": "2023-02-22"}
			}, body: `{"data":{}}`,
			wantStatus: 202, wantOutcome: txn.OutcomeDelivered, wantCodes: []string{"endpoint.retired"}},
		{name: "klaviyo: no revision header", method: "POST", path: "/klaviyo/api/events", header: func() map[string]string { return kl }, body: `{"data":{}}`,
			wantStatus: 400, wantOutcome: txn.OutcomeFailed, wantCodes: []string{"version.unpinned"}},
		{name: "intercom: the app setting picks the version", method: "POST", path: "/intercom/events",
			header: func() map[string]string { return map[string]string{"Authorization": "Bearer tok_demo"} }, body: `{"event_name":"ordered","created_at":1,"user_id":"1"}`,
			wantStatus: 202, wantOutcome: txn.OutcomeDelivered, wantCodes: []string{"version.unpinned"}},
		{name: "braze: success with errors", method: "POST", path: "/braze/users/track", header: func() map[string]string { return map[string]string{"Authorization": "Bearer braze-demo"} },
			body:       `{"attributes":[{"external_id":"u1","email":"ann@acme.com"},{"first_name":"NoId"}]}`,
			wantStatus: 201, wantOutcome: txn.OutcomePartial, wantCodes: []string{"response.partial_failure"}, wantFailedRecords: 1},
		{name: "iterable: bulk update with a failed user", method: "POST", path: "/iterable/api/users/bulkUpdate", header: func() map[string]string { return map[string]string{"Api-Key": "iterable-demo"} },
			body:       `{"users":[{"email":"ann@acme.com"},{"email":"bad(at)acme.com"}]}`,
			wantStatus: 200, wantOutcome: txn.OutcomePartial, wantCodes: []string{"response.partial_failure"}, wantFailedRecords: 1},
		{name: "mandrill: a rejected recipient and a quota", method: "POST", path: "/mandrill/messages/send.json",
			body:       `{"key":"md-demo","message":{"to":[{"email":"ann@acme.com"},{"email":"bounce@acme.com"},{"email":"bob@acme.com"},{"email":"cy@acme.com"}]}}`,
			wantStatus: 200, wantOutcome: txn.OutcomePartial, wantCodes: []string{"quota.exhausted", "response.partial_failure"}, wantFailedRecords: 1},
	}
	for _, s := range steps {
		t.Run(s.name, func(t *testing.T) {
			if s.before != nil {
				s.before()
			}
			var header map[string]string
			if s.header != nil {
				header = s.header()
			}
			status, tx := h.call(t, s.method, s.path, header, s.body)
			if status != s.wantStatus || tx.Outcome != s.wantOutcome {
				t.Errorf("status %d, outcome %s; want %d, %s (findings %+v)", status, tx.Outcome, s.wantStatus, s.wantOutcome, tx.Findings)
			}
			if got := codes(tx); !slices.Equal(got, s.wantCodes) {
				t.Errorf("findings %v, want %v: %+v", got, s.wantCodes, tx.Findings)
			}
			failed := 0
			for _, r := range tx.Records {
				if !r.OK {
					failed++
				}
			}
			if failed != s.wantFailedRecords {
				t.Errorf("%d failed records, want %d: %+v", failed, s.wantFailedRecords, tx.Records)
			}
			for _, frag := range s.wantMessageFragments {
				if !slices.ContainsFunc(tx.Findings, func(f txn.Finding) bool { return strings.Contains(f.Message, frag) }) {
					t.Errorf("no finding message contains %q: %+v", frag, tx.Findings)
				}
			}
		})
	}
}

// tokenOf returns the Marketo token handed out before the clock moved (now expired).
func tokenOf(h *presetHarness) string {
	h.clock.advance(-3601 * time.Second)
	tok := h.mkto.Token()
	h.clock.advance(3601 * time.Second)
	return tok
}

// TestMarketoConcurrencyLimit checks 615: the 11th concurrent call (here the 2nd, with a limit
// of 1) is refused inside a 200.
func TestMarketoConcurrencyLimit(t *testing.T) {
	clk := newTestClock(time.Date(2026, 11, 28, 12, 0, 0, 0, time.UTC))
	mkto := fakevendors.NewMarketo(fakevendors.MarketoOptions{Now: clk.clock(), Concurrency: 1, Latency: 300 * time.Millisecond})
	vendor := httptest.NewServer(mkto)
	defer vendor.Close()
	cfg, err := config.Parse("c.yaml", []byte("routes:\n  - {name: marketo, prefix: /marketo, upstream: "+vendor.URL+", preset: marketo}\n"))
	if err != nil {
		t.Fatal(err)
	}
	routes, err := proxyRoutes(cfg.Routes, func(string) string { return "" })
	if err != nil {
		t.Fatal(err)
	}
	st, err := store.Open(filepath.Join(t.TempDir(), "m.db"), store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	pl, _ := proxy.NewPipeline(proxy.PipelineConfig{Recorder: st, Now: clk.nowFunc()})
	srv := httptest.NewServer(proxy.NewProxy(routes, pl, zerolog.Nop()))
	defer srv.Close()
	h := &presetHarness{clock: clk, proxy: srv, store: st, mkto: mkto}

	tok := mkto.Token()
	var wg sync.WaitGroup
	outcomes := make([][]string, 2)
	for i := range 2 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if i == 1 {
				time.Sleep(100 * time.Millisecond) // arrive while the first holds the slot
			}
			_, tx := h.call(t, "GET", "/marketo/rest/v1/leads.json?filterType=email&filterValues=a@b.co", map[string]string{"Authorization": "Bearer " + tok}, "")
			outcomes[i] = append([]string{string(tx.Outcome)}, codes(tx)...)
		}()
	}
	wg.Wait()
	if !slices.Equal(outcomes[0], []string{"delivered"}) || !slices.Equal(outcomes[1], []string{"failed", "ratelimit.upstream"}) {
		t.Errorf("outcomes = %v; want the first delivered and the second failed with ratelimit.upstream (615)", outcomes)
	}
}
