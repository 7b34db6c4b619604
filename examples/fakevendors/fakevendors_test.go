package fakevendors

import (
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"
)

type fixedClock struct{ t time.Time }

func (c *fixedClock) now() time.Time { return c.t }

// do sends one call to h and returns the status, headers and decoded JSON body (nil if none).
func do(t *testing.T, h http.Handler, method, path string, header map[string]string, body string) (int, http.Header, any) {
	t.Helper()
	srv := httptest.NewServer(h)
	defer srv.Close()
	req, _ := http.NewRequest(method, srv.URL+path, strings.NewReader(body))
	for k, v := range header {
		req.Header.Set(k, v)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	var doc any
	json.Unmarshal(raw, &doc)
	return resp.StatusCode, resp.Header, doc
}

func field(doc any, path ...any) any {
	for _, p := range path {
		switch k := p.(type) {
		case string:
			m, _ := doc.(map[string]any)
			doc = m[k]
		case int:
			a, _ := doc.([]any)
			if k >= len(a) {
				return nil
			}
			doc = a[k]
		}
	}
	return doc
}

func TestMarketo(t *testing.T) {
	clk := &fixedClock{time.Date(2026, 11, 28, 12, 0, 0, 0, time.UTC)}
	m := NewMarketo(MarketoOptions{Now: clk.now, DailyQuota: 3})
	status, _, doc := do(t, m, "GET", "/identity/oauth/token?client_id=demo-client&client_secret=demo-secret", nil, "")
	tok, _ := field(doc, "access_token").(string)
	if status != 200 || tok == "" || field(doc, "expires_in") != 3600.0 {
		t.Fatalf("identity = %d %v", status, doc)
	}
	auth := map[string]string{"Authorization": "Bearer " + tok}
	_, _, doc = do(t, m, "POST", "/rest/v1/leads.json", auth, `{"action":"createOnly","input":[{"email":"a@b.co"},{"email":"a@b.co"},{"email":"nope"}]}`)
	if field(doc, "result", 0, "status") != "created" || field(doc, "result", 1, "reasons", 0, "code") != "1005" || field(doc, "result", 2, "reasons", 0, "code") != "1003" {
		t.Errorf("sync = %v", doc)
	}
	for _, want := range []string{"", "", "607"} {
		status, _, doc = do(t, m, "GET", "/rest/v1/leads.json?filterType=email&filterValues=a@b.co", auth, "")
		if got, _ := field(doc, "errors", 0, "code").(string); status != 200 || got != want {
			t.Errorf("call answered %d with code %q, want 200 with %q", status, got, want)
		}
	}
	clk.t = clk.t.Add(time.Hour)
	if _, _, doc = do(t, m, "GET", "/rest/v1/leads.json", auth, ""); field(doc, "errors", 0, "code") != "602" {
		t.Errorf("expired token = %v, want 602", doc)
	}
	if _, _, doc = do(t, m, "GET", "/rest/v1/leads.json?access_token="+tok, nil, ""); field(doc, "errors", 0, "code") != "601" {
		t.Errorf("token in the query after 2026-08-31 = %v, want 601", doc)
	}
}

func TestHubSpotListsCutoff(t *testing.T) {
	clk := &fixedClock{time.Date(2026, 4, 29, 23, 0, 0, 0, time.UTC)}
	h := NewHubSpot(HubSpotOptions{Now: clk.now})
	auth := map[string]string{"Authorization": "Bearer pat-demo"}
	if status, hdr, _ := do(t, h, "GET", "/contacts/v1/lists/all", auth, ""); status != 200 || hdr.Get("X-HubSpot-RateLimit-Remaining") != "99" {
		t.Errorf("before the cut-off: %d, remaining %q", status, hdr.Get("X-HubSpot-RateLimit-Remaining"))
	}
	clk.t = clk.t.Add(2 * time.Hour)
	if status, _, _ := do(t, h, "GET", "/contacts/v1/lists/all", auth, ""); status != 404 {
		t.Errorf("after the cut-off: %d, want 404", status)
	}
	status, _, doc := do(t, h, "POST", "/crm/objects/2026-09/contacts/batch/create", auth, `{"inputs":[{"objectWriteTraceId":"x","properties":{"email":"a@b.co"}},{"objectWriteTraceId":"y","properties":{"email":"bad"}}]}`)
	if status != 207 || field(doc, "numErrors") != 1.0 || field(doc, "errors", 0, "context", "objectWriteTraceId", 0) != "y" {
		t.Errorf("batch = %d %v", status, doc)
	}
}

func TestAlwaysTwoHundred(t *testing.T) {
	s := NewSegment(SegmentOptions{})
	batch := `{"batch":[` + strings.TrimSuffix(strings.Repeat(`{"type":"track","userId":"u","event":"e"},`, 2501), ",") + `]}`
	for _, c := range []struct{ path, body string }{{"/v1/batch", batch}, {"/v1/track", `{"userId":"u"}`}, {"/v1/identify", `{"traits":{}}`}, {"/v1/track", `{"userId":"u","event":"ok"}`}} {
		if status, _, _ := do(t, s, "POST", c.path, nil, c.body); status != 200 {
			t.Errorf("%s: %d, want 200", c.path, status)
		}
	}
	if delivered, dropped := s.Counts(); delivered != 1 || dropped != 2503 {
		t.Errorf("delivered %d, dropped %d; want 1 and 2503", delivered, dropped)
	}
	g := NewGA4()
	if status, _, _ := do(t, g, "POST", "/mp/collect?api_secret=s", nil, `{"client_id":"1","events":[{"name":"_bad"}]}`); status != 204 {
		t.Errorf("GA4 answered %d", status)
	}
	if _, _, doc := do(t, g, "POST", "/debug/mp/collect", nil, `{"client_id":"1","events":[{"name":"_bad"}]}`); field(doc, "validationMessages", 0, "validationCode") != "NAME_INVALID" {
		t.Errorf("GA4 debug = %v", doc)
	}
}

func TestKlaviyoRevisions(t *testing.T) {
	clk := &fixedClock{time.Date(2026, 11, 28, 12, 0, 0, 0, time.UTC)}
	auth := map[string]string{"Authorization": "Klaviyo-API-Key pk_demo", "revision": "2023-02-22"}
	if status, _, _ := do(t, NewKlaviyo(KlaviyoOptions{Now: clk.now}), "POST", "/api/events", auth, `{}`); status != 410 {
		t.Errorf("retired revision: %d, want 410", status)
	}
	if status, hdr, _ := do(t, NewKlaviyo(KlaviyoOptions{Now: clk.now, FallForward: true}), "POST", "/api/events", auth, `{}`); status != 202 || hdr.Get("RateLimit-Remaining") == "" {
		t.Errorf("fall-forward: %d, RateLimit-Remaining %q", status, hdr.Get("RateLimit-Remaining"))
	}
}

func TestSuccessEnvelopesWithErrors(t *testing.T) {
	_, _, doc := do(t, NewBraze(BrazeOptions{}), "POST", "/users/track", map[string]string{"Authorization": "Bearer braze-demo"}, `{"attributes":[{"external_id":"1"},{"first_name":"x"}]}`)
	if field(doc, "message") != "success" || field(doc, "errors", 0, "index") != 1.0 {
		t.Errorf("braze = %v", doc)
	}
	_, _, doc = do(t, NewMandrill(MandrillOptions{HourlyQuota: 1}), "POST", "/messages/send.json", nil, `{"key":"md-demo","message":{"to":[{"email":"a@b.co"},{"email":"bounce@b.co"},{"email":"c@b.co"}]}}`)
	if field(doc, 1, "status") != "rejected" || field(doc, 2, "queued_reason") != "hourly-quota-exhausted" {
		t.Errorf("mandrill = %v", doc)
	}
	_, _, doc = do(t, NewMeta(MetaOptions{Now: func() time.Time { return time.Unix(1_800_000_000, 0) }}), "POST", "/v19.0/1/events?access_token=EAAB-demo", nil, `{"data":[{"event_time":1800000000,"user_data":{}},{"event_time":1800000000}]}`)
	if field(doc, "events_received") != 1.0 {
		t.Errorf("meta = %v", doc)
	}
}
