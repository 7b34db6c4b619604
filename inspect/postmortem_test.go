package inspect

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/mtguard/mtguard/alerts"
	"github.com/mtguard/mtguard/store"
	"github.com/mtguard/mtguard/txn"
)

// incident is a recorded outage on the fake clock: the vendor of route marketo fails every
// call for 3 minutes (a call every 20 s), the consecutive_failures alert fires at the third
// failure and reaches the webhook, the owner acknowledges it through the admin API, the vendor
// recovers and the alert resolves, then the failed calls are replayed and all but one are
// delivered.
type incident struct {
	srv   *httptest.Server
	st    *store.Store
	eng   *alerts.Engine
	clock *testClock
	t0    time.Time
	hook  *hookRecorder
}

type hookRecorder struct {
	mu     sync.Mutex
	events []string
}

func (h *hookRecorder) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	var p alerts.WebhookPayload
	b, _ := io.ReadAll(r.Body)
	json.Unmarshal(b, &p)
	h.mu.Lock()
	h.events = append(h.events, p.Event)
	h.mu.Unlock()
}

func (c *testClock) set(t time.Time) {
	c.mu.Lock()
	c.t = t
	c.mu.Unlock()
}

func runIncident(t *testing.T) *incident {
	t.Helper()
	in := &incident{clock: &testClock{t: nyMonday9}, t0: nyMonday9, hook: &hookRecorder{}}
	hookSrv := httptest.NewServer(in.hook)
	t.Cleanup(hookSrv.Close)
	var eng *alerts.Engine
	var err error
	in.st, err = store.Open(filepath.Join(t.TempDir(), "mtguard.db"), store.Options{OnResult: func(tx txn.Transaction) { eng.Observe(tx) }})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { in.st.Close() })
	rules := alerts.Rules{ConsecutiveFailures: &alerts.ConsecutiveFailuresRule{Count: 3}}
	eng, err = alerts.New(alerts.Config{
		Now:    in.clock.Now,
		Tick:   time.Hour,
		Sinks:  []alerts.Sink{alerts.NewWebhookSink("hook", hookSrv.URL, "", nil, in.clock.Now)},
		Routes: []alerts.RouteAlerts{{Route: "marketo", Owner: "ops@example.com", Rules: rules}},
	})
	if err != nil {
		t.Fatal(err)
	}
	in.eng = eng
	eng.Start(t.Context(), in.st)
	t.Cleanup(eng.Close)
	in.srv = httptest.NewServer(NewServer(ServerConfig{Transactions: in.st, Alerts: eng, Now: in.clock.Now}))
	t.Cleanup(in.srv.Close)

	ids := map[int]string{}
	record := func(at time.Time, i int, outcome txn.Outcome, replayOf string) string {
		t.Helper()
		in.clock.set(at)
		var tx txn.Transaction
		tx.Time, tx.Route, tx.Method, tx.Path = at, "marketo", "POST", "/marketo/rest/v1/leads.json"
		tx.RecordKeys, tx.ReplayOf = []string{fmt.Sprintf("lead%d@acme.com", i)}, replayOf
		if replayOf != "" {
			tx.Actor = "jane"
		}
		if err := in.st.RecordIntent(t.Context(), &tx); err != nil {
			t.Fatal(err)
		}
		tx.Outcome, tx.Status, tx.Findings = outcome, 200, []txn.Finding{}
		if outcome != txn.OutcomeDelivered {
			tx.Status = 503
			tx.Findings = []txn.Finding{{Code: "response.silent_failure", Severity: txn.SeverityError,
				Message: "<script>alert(1)</script> | service down", Detail: "rule marketo-1013; see https://experienceleague.adobe.com/en/docs/marketo-developer/marketo/rest/error-codes"}}
		}
		if err := in.st.RecordResult(&tx); err != nil {
			t.Fatal(err)
		}
		if err := in.st.Sync(t.Context()); err != nil {
			t.Fatal(err)
		}
		if _, err := in.st.Get(t.Context(), tx.ID); err != nil { // committed: OnResult has it
			t.Fatal(err)
		}
		eng.Flush()
		return tx.ID
	}
	for i := range 9 { // 14:00:00 to 14:02:40
		ids[i] = record(in.t0.Add(time.Duration(i)*20*time.Second), i, txn.OutcomeFailed, "")
		if i == 4 { // 14:01:30: the owner takes it
			in.clock.set(in.t0.Add(90 * time.Second))
			list, _ := eng.List(store.AlertQuery{State: store.AlertFiring})
			if len(list) != 1 {
				t.Fatalf("firing alerts at 14:01:30: %+v", list)
			}
			req, _ := http.NewRequest(http.MethodPost, in.srv.URL+"/api/alerts/"+list[0].ID+"/ack", strings.NewReader(`{"by": "jane@example.com", "comment": "Marketo status page says degraded"}`))
			req.Host = "127.0.0.1:9090"
			resp, err := http.DefaultClient.Do(req)
			if err != nil || resp.StatusCode != 200 {
				t.Fatalf("ack: %v %v", resp, err)
			}
			resp.Body.Close()
			eng.Flush()
		}
	}
	record(in.t0.Add(3*time.Minute), 100, txn.OutcomeDelivered, "") // 14:03:00: the vendor is back
	eng.Flush()
	for i := range 9 { // 14:05:00: replayed; lead8 is refused again
		outcome := txn.OutcomeDelivered
		if i == 8 {
			outcome = txn.OutcomeFailed
		}
		record(in.t0.Add(5*time.Minute+time.Duration(i)*time.Second), i, outcome, ids[i])
	}
	in.clock.set(in.t0.Add(10 * time.Minute))
	return in
}

func (in *incident) get(t *testing.T, query string) (int, http.Header, []byte) {
	t.Helper()
	req, _ := http.NewRequest(http.MethodGet, in.srv.URL+"/api/postmortems?"+query, nil)
	req.Host = "127.0.0.1:9090"
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, resp.Header, b
}

// TestPostmortemOfAnOutage checks the JSON postmortem of the incident field by field.
func TestPostmortemOfAnOutage(t *testing.T) {
	in := runIncident(t)
	list, _ := in.eng.List(store.AlertQuery{})
	if len(list) != 1 || list[0].State != store.AlertResolved {
		t.Fatalf("alerts %+v, want one resolved", list)
	}
	alertID := list[0].ID
	status, _, body := in.get(t, "alert="+alertID)
	if status != 200 {
		t.Fatalf("GET /api/postmortems: %d %s", status, body)
	}
	var pm Postmortem
	if err := json.Unmarshal(body, &pm); err != nil {
		t.Fatal(err)
	}
	at := func(s int) time.Time { return in.t0.Add(time.Duration(s) * time.Second) }
	check := func(name string, got, want any) {
		t.Helper()
		if fmt.Sprint(got) != fmt.Sprint(want) {
			t.Errorf("%s = %v, want %v", name, got, want)
		}
	}
	check("version", pm.Version, 1)
	check("route", pm.Route, "marketo")
	check("alert", pm.Alert, alertID)
	check("owner", pm.Owner, "ops@example.com")
	check("since", pm.Since, at(0))
	check("until", pm.Until, at(180))
	check("calls", pm.Summary.Calls, 9)
	check("records", pm.Summary.Records, 9)
	check("failed", pm.Summary.Failed, 9)
	check("failed records", pm.Summary.FailedRecords, 9)
	check("by outcome", pm.Summary.ByOutcome, []OutcomeCount{{Outcome: txn.OutcomeFailed, Calls: 9, Records: 9}})
	check("to detect", *pm.Times.ToDetect, 40.0)
	check("to acknowledge", *pm.Times.ToAcknowledge, 50.0)
	check("to recover", *pm.Times.ToRecover, 180.0)

	type step struct {
		at    int
		event string
		sink  string
	}
	want := []step{
		{0, TimelineFirstFailure, ""},
		{40, TimelineDetected, ""},
		{40, TimelineNotified, "hook"},
		{90, TimelineAcknowledged, ""},
		{90, TimelineNotified, "hook"},
		{160, TimelineLastFailure, ""},
		{180, TimelineFixed, ""},
		{180, TimelineRecovered, ""},
		{180, TimelineNotified, "hook"},
		{300, TimelineReplayed, ""},
	}
	if len(pm.Timeline) != len(want) {
		t.Fatalf("timeline has %d events, want %d: %+v", len(pm.Timeline), len(want), pm.Timeline)
	}
	for i, w := range want {
		e := pm.Timeline[i]
		if !e.Time.Equal(at(w.at)) || e.Event != w.event || e.Sink != w.sink {
			t.Errorf("timeline[%d] = %s %s %s, want %s %s %s", i, e.Time.Format(time.TimeOnly), e.Event, e.Sink, at(w.at).Format(time.TimeOnly), w.event, w.sink)
		}
		if e.Event == TimelineNotified && (e.Accepted == nil || !*e.Accepted) {
			t.Errorf("timeline[%d]: the webhook's notification is not marked accepted: %+v", i, e)
		}
	}
	if !strings.Contains(pm.Timeline[3].Detail, "jane@example.com: Marketo status page says degraded") {
		t.Errorf("acknowledgement detail %q", pm.Timeline[3].Detail)
	}
	check("replayed detail", pm.Timeline[9].Detail, "9 failed calls replayed from here on: 8 delivered, 1 failed")

	check("replays", pm.Replays.Calls, 9)
	check("replays by outcome", pm.Replays.ByOutcome, []OutcomeCount{{Outcome: txn.OutcomeDelivered, Calls: 8}, {Outcome: txn.OutcomeFailed, Calls: 1}})
	check("undelivered records", pm.Undelivered.Records, 1)
	check("undelivered keys", pm.Undelivered.Keys, []string{"lead8@acme.com"})
	check("undelivered calls", len(pm.Undelivered.Calls), 1)
	if len(pm.Findings) != 1 || pm.Findings[0].Code != "response.silent_failure" || pm.Findings[0].Calls != 9 ||
		fmt.Sprint(pm.Findings[0].VendorDocs) != "[https://experienceleague.adobe.com/en/docs/marketo-developer/marketo/rest/error-codes]" ||
		!strings.HasPrefix(pm.Findings[0].Docs, txn.FindingsDocs+"#finding-response-silent-failure") {
		t.Errorf("findings %+v", pm.Findings)
	}
	check("unknown", pm.Unknown, []string{})
	check("cause", pm.Cause, "")
	check("follow-ups", pm.FollowUps, []string{})
	in.hook.mu.Lock()
	check("webhook events", in.hook.events, []string{"firing", "acknowledged", "resolved"})
	in.hook.mu.Unlock()

	// The same incident asked for by route and window also counts the delivered call of 14:03.
	status, _, body = in.get(t, "route=marketo&since="+at(-60).Format(time.RFC3339)+"&until="+at(240).Format(time.RFC3339))
	var byRoute Postmortem
	if status != 200 || json.Unmarshal(body, &byRoute) != nil {
		t.Fatalf("by route: %d %s", status, body)
	}
	check("by route: calls", byRoute.Summary.Calls, 10)
	check("by route: outcomes", byRoute.Summary.ByOutcome, []OutcomeCount{{Outcome: txn.OutcomeDelivered, Calls: 1, Records: 1}, {Outcome: txn.OutcomeFailed, Calls: 9, Records: 9}})
	check("by route: alerts", len(byRoute.Alerts), 1)
	check("by route: to recover", *byRoute.Times.ToRecover, 180.0)
}

// TestPostmortemRendersHostileText: text from calls cannot become markup, in Markdown or HTML.
func TestPostmortemRendersHostileText(t *testing.T) {
	in := runIncident(t)
	list, _ := in.eng.List(store.AlertQuery{})
	status, hdr, body := in.get(t, "alert="+list[0].ID+"&format=html")
	if status != 200 || !strings.HasPrefix(hdr.Get("Content-Type"), "text/html") || !strings.Contains(hdr.Get("Content-Security-Policy"), "default-src 'none'") {
		t.Fatalf("html: %d %v", status, hdr)
	}
	for _, bad := range []string{"<script", "src=", "http://", "<link"} {
		if bytes.Contains(bytes.ToLower(body), []byte(bad)) {
			t.Errorf("html holds %q", bad)
		}
	}
	if !bytes.Contains(body, []byte("&lt;script&gt;alert(1)&lt;/script&gt;")) || !bytes.Contains(body, []byte(`<a href="https://experienceleague.adobe.com/`)) {
		t.Errorf("html does not quote the finding or link the vendor docs:\n%s", body)
	}
	status, hdr, body = in.get(t, "alert="+list[0].ID+"&format=md")
	if status != 200 || !strings.HasPrefix(hdr.Get("Content-Type"), "text/markdown") {
		t.Fatalf("md: %d %v", status, hdr)
	}
	if testing.Verbose() {
		t.Logf("markdown:\n%s", body)
	}
	if !bytes.Contains(body, []byte(`\<script\>alert\(1\)\</script\> \| service down`)) {
		t.Errorf("markdown does not escape the finding:\n%s", body)
	}
	for _, want := range []string{"## Timeline", "| Time (UTC) | Event | Detail |", "## Cause", "## Follow-ups", "[vendor docs](https://experienceleague.adobe.com/"} {
		if !bytes.Contains(body, []byte(want)) {
			t.Errorf("markdown lacks %q:\n%s", want, body)
		}
	}
	for _, q := range []string{"", "route=marketo", "alert=nope", "alert=x&route=y", "format=pdf&alert=x", "bogus=1"} {
		if status, _, _ := in.get(t, q); status != 400 && status != 404 {
			t.Errorf("?%s answered %d", q, status)
		}
	}
}
