package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/cdproto/page"
	"github.com/chromedp/chromedp"
)

// chromium returns the headless browser the console tests drive: Debian's chromium. Without
// it they skip, unless MTGUARD_TEST_SERVICES=1 (CI) makes them mandatory.
func chromium(t *testing.T) string {
	t.Helper()
	for _, name := range []string{"chromium", "chromium-browser", "google-chrome"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	if os.Getenv("MTGUARD_TEST_SERVICES") == "1" {
		t.Fatal("MTGUARD_TEST_SERVICES=1 but no chromium on PATH: apt-get install -y chromium")
	}
	t.Skip("no chromium on PATH (apt-get install -y chromium); the console's browser tests need it")
	return ""
}

// browser drives one headless chromium at 1280×800 for the test; shots are saved in dir.
type browser struct {
	t   *testing.T
	ctx context.Context
	dir string
	mu  sync.Mutex
	// dialogs counts the JavaScript dialogs a page opened (alert(1) would be one).
	dialogs int
}

func newBrowser(t *testing.T) *browser {
	t.Helper()
	opts := append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(chromium(t)),
		chromedp.NoSandbox, // CI runs as root in a container
		chromedp.WindowSize(1280, 800),
		chromedp.Flag("disable-gpu", true),
	)
	actx, cancelA := chromedp.NewExecAllocator(context.Background(), opts...)
	ctx, cancel := chromedp.NewContext(actx)
	t.Cleanup(func() { cancel(); cancelA() })
	b := &browser{t: t, ctx: ctx, dir: t.TempDir()}
	if err := chromedp.Do(ctx); err != nil {
		t.Fatalf("start chromium: %v", err)
	}
	dialogs := chromedp.Events(ctx, page.JavascriptDialogOpening)
	go func() {
		for _, err := range dialogs {
			if err != nil {
				return
			}
			b.mu.Lock()
			b.dialogs++
			b.mu.Unlock()
			chromedp.Call(ctx, page.HandleJavaScriptDialog, page.HandleJavaScriptDialogParams{Accept: true})
		}
	}()
	return b
}

// fail ends the test naming the page, its address and the element.
func (b *browser) fail(pageName, element string, err error) {
	b.t.Helper()
	loc, _ := chromedp.Run(b.ctx, chromedp.Location())
	b.t.Fatalf("%s page (%s): %s: %v", pageName, loc, element, err)
}

// do runs steps on a page, failing with the page and the element named.
func (b *browser) do(pageName, element string, steps ...chromedp.Action[chromedp.Void]) {
	b.t.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, 15*time.Second)
	defer cancel()
	if err := chromedp.Do(ctx, steps...); err != nil {
		b.fail(pageName, element, err)
	}
}

// run runs one action that returns a value.
func browse[T any](b *browser, pageName, element string, a chromedp.Action[T]) T {
	b.t.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, 15*time.Second)
	defer cancel()
	v, err := chromedp.Run(ctx, a)
	if err != nil {
		b.fail(pageName, element, err)
	}
	return v
}

// text reads an element's text once it is visible.
func (b *browser) text(pageName, sel string) string {
	b.t.Helper()
	b.do(pageName, sel, chromedp.WaitVisible(chromedp.CSS(sel)))
	return browse(b, pageName, sel, chromedp.Text(chromedp.CSS(sel)))
}

// shot saves the viewport as name.png in the test's folder (and in MTGUARD_CONSOLE_SHOTS
// when set, which is how docs/img is refreshed).
func (b *browser) shot(name string) {
	b.t.Helper()
	png := browse(b, name, "screenshot", chromedp.CaptureScreenshot())
	if err := os.WriteFile(filepath.Join(b.dir, name+".png"), png, 0o644); err != nil {
		b.t.Fatal(err)
	}
	if d := os.Getenv("MTGUARD_CONSOLE_SHOTS"); d != "" {
		os.WriteFile(filepath.Join(d, name+".png"), png, 0o644)
	}
}

// waitFor waits until ok holds for sel's text (what polling or a navigation brings).
func (b *browser) waitFor(pageName, sel, what string, ok func(string) bool) string {
	b.t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	var got string
	for time.Now().Before(deadline) {
		ctx, cancel := context.WithTimeout(b.ctx, 2*time.Second)
		s, err := chromedp.Run(ctx, chromedp.Text(chromedp.CSS(sel)))
		cancel()
		if got = s; err == nil && ok(got) {
			return got
		}
		time.Sleep(100 * time.Millisecond)
	}
	b.t.Fatalf("%s page: %s: %s; its text:\n%s", pageName, sel, what, got)
	return ""
}

const consoleConfig = `
listen: 127.0.0.1:0
admin:
  listen: 127.0.0.1:0
  tokens:
    - {name: dashboard, role: viewer, token_env: VIEWER_TOKEN}
    - {name: jane-ops, role: operator, token_env: OPERATOR_TOKEN}
routes:
  - name: crm
    prefix: /crm
    upstream: %[1]s
    record_keys: [email]
    owner: revops@acme.com
    alerts:
      error_rate: {above: 0%%, per: 10m, min_calls: 1}
  - name: forms
    prefix: /forms
    upstream: %[2]s
    record_keys: [email]
    contracts:
      mode: enforce
      pins:
        - match: POST /v1/leads
          request: %[3]s
  - name: ads
    prefix: /ads
    upstream: %[4]s
    record_keys: [email]
    limits: {windows: [{requests: 1000, per: 1m}]}
  - name: hub
    prefix: /hub
    upstream: %[5]s
    record_keys: [email]
    delivery:
      mode: queue
      accept: {status: 202}
      retry: {on: [5xx], attempts: 100, backoff: 1h..2h, jitter: false}
`

const consoleLeadSchema = `{
  "$schema": "https://json-schema.org/draft/2020-12/schema",
  "type": "object",
  "required": ["email"],
  "properties": {"email": {"type": "string"}, "date_of_birth": {"type": "string", "format": "date"}}
}`

// consoleStack is a real mtguard with three fake vendors: a CRM that is down until healed, a
// forms backend that accepts everything (mtguard's contract rejects bad dates before it), and
// an ads API that answers 429 with Retry-After, which pauses its route.
type consoleStack struct {
	in  *instance
	crm *countingVendor
	// hub is behind a delivery queue: down (503) until healed.
	hub *countingVendor
	env map[string]string
}

func startConsoleStack(t *testing.T) *consoleStack {
	t.Helper()
	crm := &countingVendor{got: map[string]int{}}
	crmSrv := httptest.NewServer(crm)
	t.Cleanup(crmSrv.Close)
	forms := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.Copy(io.Discard, r.Body)
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(201)
		io.WriteString(w, `{"id":"f-1","status":"created"}`)
	}))
	t.Cleanup(forms.Close)
	ads := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.Copy(io.Discard, r.Body)
		w.Header().Set("Retry-After", "600")
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(429)
		io.WriteString(w, `{"error":"rate limit exceeded"}`)
	}))
	t.Cleanup(ads.Close)
	hub := &countingVendor{got: map[string]int{}}
	hubSrv := httptest.NewServer(hub)
	t.Cleanup(hubSrv.Close)
	schema := filepath.Join(t.TempDir(), "lead.json")
	if err := os.WriteFile(schema, []byte(consoleLeadSchema), 0o644); err != nil {
		t.Fatal(err)
	}
	env := map[string]string{"VIEWER_TOKEN": "view-1", "OPERATOR_TOKEN": "op-1"}
	in := startMtguard(t, fmt.Sprintf(consoleConfig, crmSrv.URL, forms.URL, schema, ads.URL, hubSrv.URL), env)
	return &consoleStack{in: in, crm: crm, hub: hub, env: env}
}

// send posts a JSON body through mtguard and returns the call's id.
func (s *consoleStack) send(t *testing.T, path, body string) string {
	t.Helper()
	resp, err := http.Post(s.in.proxy+path, "application/json", strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	id := resp.Header.Get("X-Mtguard-Id")
	if id == "" {
		t.Fatalf("POST %s: no X-Mtguard-Id (status %d)", path, resp.StatusCode)
	}
	return id
}

// api sends one admin API request with a token and decodes the JSON answer into out.
func (s *consoleStack) api(t *testing.T, token, method, path, body string, out any) int {
	t.Helper()
	req, _ := http.NewRequest(method, s.in.admin+path, strings.NewReader(body))
	req.Header.Set("Authorization", "Bearer "+token)
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if out != nil && resp.StatusCode < 300 {
		if err := json.NewDecoder(resp.Body).Decode(out); err != nil {
			t.Fatalf("%s %s: %v", method, path, err)
		}
	}
	return resp.StatusCode
}

// waitHeld waits until the queued call id is held in the delivery queue (its one attempt met
// the hub's 503, which a call that is not idempotent is not retried on by itself).
func (s *consoleStack) waitHeld(t *testing.T, id string) {
	t.Helper()
	var state string
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(50 * time.Millisecond) {
		var rep struct {
			Deliveries []struct{ ID, State string }
		}
		s.api(t, "op-1", "GET", "/api/deliveries?route=hub", "", &rep)
		for _, d := range rep.Deliveries {
			if d.ID == id {
				if state = d.State; state == "held" {
					return
				}
			}
		}
	}
	t.Fatalf("the queued call %s is %q in the delivery queue, want held", id, state)
}

// TestConsoleInBrowser drives the console in headless chromium against a real mtguard: sign
// in, see a new call appear without reload, filter calls by email, open the lead timeline,
// open a failed call and replay it (delivered), edit and replay a rejected call, acknowledge
// an alert, see a paused route. Each step saves a screenshot.
func TestConsoleInBrowser(t *testing.T) {
	chromium(t) // skip before starting anything
	s := startConsoleStack(t)
	failedID := s.send(t, "/crm/v1/leads", `{"email":"jane@acme.com","first_name":"Jane"}`)
	s.send(t, "/crm/v1/leads", `{"email":"bob@acme.com","first_name":"Bob"}`)
	rejectedID := s.send(t, "/forms/v1/leads", `{"email":"jane@acme.com","date_of_birth":"28/11/1990"}`)
	s.send(t, "/ads/v1/leads", `{"email":"bob@acme.com"}`)
	queuedID := s.send(t, "/hub/v1/leads", `{"email":"dana@acme.com"}`)
	s.crm.healed.Store(true)
	s.waitHeld(t, queuedID)
	s.hub.healed.Store(true)

	b := newBrowser(t)
	admin := s.in.admin
	css := func(s string) chromedp.CSS { return chromedp.CSS(s) }
	id := func(s string) chromedp.ID { return chromedp.ID(s) }

	// Sign in: the console sends the browser to the form, and back.
	b.do("calls", "redirect to sign-in", chromedp.Navigate(admin+"/calls"), chromedp.WaitVisible(id("token")))
	b.do("sign-in", "#token and #signin", chromedp.SendKeys(id("token"), "op-1"), chromedp.Click(id("signin")), chromedp.WaitVisible(id("calls")))
	if who := b.text("calls", ".who"); !strings.Contains(who, "jane-ops (operator)") {
		t.Fatalf("calls page: .who = %q, want the signed-in token's name and role", who)
	}
	b.shot("signed-in")

	// Live: a call made now shows up in the open list without a reload.
	liveID := s.send(t, "/forms/v1/leads", `{"email":"carl@acme.com"}`)
	b.waitFor("calls", "#calls tbody", "the new call did not appear", func(s string) bool { return strings.Contains(s, "carl@acme.com") })
	if first := browse(b, "calls", "first row", chromedp.AttributeValue(css("#calls tbody tr"), "data-id")); first.Value != liveID {
		t.Fatalf("calls page: the first row is %s, want the newest call %s", first.Value, liveID)
	}

	// Filter by email.
	b.do("calls", "#f-record and #apply", chromedp.SetValue(id("f-record"), "Jane@Acme.com"), chromedp.Click(id("apply")))
	rows := b.waitFor("calls", "#calls tbody", "not only jane@acme.com's calls", func(s string) bool {
		return strings.Contains(s, "jane@acme.com") && !strings.Contains(s, "bob@acme.com") && !strings.Contains(s, "carl@acme.com")
	})
	if strings.Count(rows, "jane@acme.com") != 2 {
		t.Fatalf("calls page filtered by jane@acme.com: #calls tbody, want 2 calls:\n%s", rows)
	}
	b.shot("calls")

	// The lead timeline: both routes the record went through, oldest first.
	b.do("calls", "record link", chromedp.Click(css(`#calls tbody a[href^="/lead"]`)), chromedp.WaitVisible(id("timeline")))
	tl := b.text("lead", "#timeline")
	if i, j := strings.Index(tl, "crm"), strings.Index(tl, "forms"); i < 0 || j < 0 || i > j || !strings.Contains(tl, "rejected") || !strings.Contains(tl, "failed") {
		t.Fatalf("lead page: #timeline does not show crm (failed) then forms (rejected):\n%s", tl)
	}
	if !strings.Contains(tl, "not forwarded") || !strings.Contains(tl, "mtguard: rejected by mtguard (schema.request.invalid)") {
		t.Fatalf("lead page: #timeline does not say the rejected call was kept from the vendor:\n%s", tl)
	}
	b.shot("lead")

	// A failed call, replayed: delivered.
	b.do("calls", "the failed call's row", chromedp.Navigate(admin+"/calls?outcome=failed&route=crm&record=jane@acme.com"),
		chromedp.Click(css(`tr[data-id="`+failedID+`"] td.path a`)), chromedp.WaitVisible(id("outcome")))
	if o := b.text("call", "#outcome"); o != "failed" {
		t.Fatalf("call page %s: #outcome = %q, want failed", failedID, o)
	}
	b.shot("call-failed")
	b.do("call", "#replay", chromedp.Click(id("replay")), chromedp.WaitVisible(id("notice")))
	if o := b.text("call", "#outcome"); o != "delivered" {
		t.Fatalf("call page after replay: #outcome = %q, want delivered", o)
	}
	if chain := b.text("call", "#chain"); !strings.Contains(chain, failedID) {
		t.Fatalf("call page after replay: #chain does not name the original %s:\n%s", failedID, chain)
	}
	if s.crm.count("jane@acme.com") != 1 {
		t.Fatalf("the CRM got jane %d times, want 1", s.crm.count("jane@acme.com"))
	}
	b.shot("call-replayed")

	// A rejected call, edited and replayed: the diff first, then delivered.
	b.do("call", "#edit", chromedp.Navigate(admin+"/calls/"+rejectedID), chromedp.Click(id("edit")), chromedp.WaitVisible(id("body")))
	body := browse(b, "edit", "#body", chromedp.Value(id("body")))
	fixed := strings.Replace(body, "28/11/1990", "1990-11-28", 1)
	if fixed == body {
		t.Fatalf("edit page: #body does not hold the stored body:\n%s", body)
	}
	b.do("edit", "#preview", chromedp.SetValue(id("body"), fixed), chromedp.Click(id("preview")), chromedp.WaitVisible(id("diff")))
	if d := b.text("edit", "#diff"); !strings.Contains(d, `-   "date_of_birth": "28/11/1990"`) || !strings.Contains(d, `+   "date_of_birth": "1990-11-28"`) {
		t.Fatalf("edit page: #diff does not show the change:\n%s", d)
	}
	b.shot("edit-diff")
	b.do("edit", "#send", chromedp.Click(id("send")), chromedp.WaitVisible(id("notice")))
	if o := b.text("call", "#outcome"); o != "delivered" {
		t.Fatalf("call page after the edited replay: #outcome = %q, want delivered", o)
	}
	b.shot("edit-replayed")

	// The CRM's failures fired an error-rate alert: acknowledge it with a comment.
	crmAlert := `li[id$="-crm-error_rate"]`
	b.do("alerts", crmAlert+" .ackbtn", chromedp.Navigate(admin+"/alerts"), chromedp.WaitVisible(css(crmAlert+" .ackbtn")),
		chromedp.SendKeys(css(crmAlert+` input[name="comment"]`), "ticket 42 with the CRM"), chromedp.Click(css(crmAlert+" .ackbtn")), chromedp.WaitVisible(id("notice")))
	if a := b.text("alerts", crmAlert); !strings.Contains(a, "Acknowledged by jane-ops") || !strings.Contains(a, "ticket 42 with the CRM") {
		t.Fatalf("alerts page: the crm error-rate alert does not show the acknowledgement:\n%s", a)
	}
	b.shot("alerts")

	// Its postmortem, from the alert: the API's Markdown shown as text in a console page, and
	// the files to download.
	b.do("alerts", crmAlert+" a.pm", chromedp.Click(css(crmAlert+" a.pm")), chromedp.WaitVisible(id("postmortem")))
	if pm := b.text("postmortem", "#postmortem"); !strings.Contains(pm, "Route crm, alert") || !strings.Contains(pm, "acknowledged by jane-ops: ticket 42 with the CRM") {
		t.Fatalf("postmortem page: #postmortem is not the crm alert's postmortem with its acknowledgement:\n%s", pm)
	}
	dl := `fetch(document.querySelector("#pm-html").href).then(r => r.status + " " + r.headers.get("Content-Disposition"))`
	if got := browse(b, "postmortem", "#pm-html", chromedp.Evaluate[string](dl, chromedp.EvalAwaitPromise)); !strings.HasPrefix(got, "200 attachment;") {
		t.Fatalf("postmortem page: #pm-html answered %q, want 200 as an attachment", got)
	}
	b.shot("postmortem")

	// A drill under way is marked on its route's card.
	var drill struct{ ID string }
	if st := s.api(t, "op-1", "POST", "/api/drills", `{"route": "ads", "fault": "status:503", "for": "10m"}`, &drill); st != http.StatusCreated {
		t.Fatalf("POST /api/drills: %d", st)
	}

	// The ads vendor's 429 with Retry-After paused its route.
	b.do("routes", "#route-ads", chromedp.Navigate(admin+"/routes"), chromedp.WaitVisible(id("route-ads")))
	if r := b.text("routes", "#route-ads"); !strings.Contains(r, "paused") || !strings.Contains(r, "Paused until") {
		t.Fatalf("routes page: #route-ads is not shown paused:\n%s", r)
	}
	if r := b.text("routes", "#route-crm"); !strings.Contains(r, "owner: revops@acme.com") {
		t.Fatalf("routes page: #route-crm:\n%s", r)
	}
	if r := b.text("routes", "#drill-"+drill.ID); !strings.Contains(r, "DRILL") || !strings.Contains(r, "status:503") {
		t.Fatalf("routes page: #route-ads does not mark the drill:\n%s", r)
	}
	if r := b.text("routes", "#route-hub .queue"); !strings.Contains(r, "Delivery queue: 1 waiting") || !strings.Contains(r, "1 held") {
		t.Fatalf("routes page: #route-hub does not show the held delivery:\n%s", r)
	}
	loaded := `new Promise(ok => { const i = document.querySelector("#route-crm img"); i.complete ? ok(i.naturalWidth) : (i.onload = () => ok(i.naturalWidth), i.onerror = () => ok(0)); })`
	if w := browse(b, "routes", "#route-crm img", chromedp.Evaluate[int](loaded, chromedp.EvalAwaitPromise)); w != 240 {
		t.Fatalf("routes page: the crm chart (#route-crm img) did not load (width %d)", w)
	}
	b.shot("routes")

	// The queued call in Deliveries: held after the hub's 503; the vendor is back: Retry.
	row := `#deliveries tr[data-id="` + queuedID + `"]`
	b.do("routes", "#route-hub deliveries link", chromedp.Click(css(`#route-hub .queue a`)), chromedp.WaitVisible(css(row)))
	if r := b.text("deliveries", row); !strings.Contains(r, "held") || !strings.Contains(r, "dana@acme.com") || !strings.Contains(r, "503") {
		t.Fatalf("deliveries page: %s does not show the held call, its record and the 503:\n%s", row, r)
	}
	b.shot("deliveries")
	b.do("deliveries", row+" .retry", chromedp.Click(css(row+" .retry")), chromedp.WaitVisible(id("notice")))
	for deadline := time.Now().Add(10 * time.Second); s.hub.count("dana@acme.com") == 0 && time.Now().Before(deadline); {
		time.Sleep(50 * time.Millisecond)
	}
	if n := s.hub.count("dana@acme.com"); n != 1 {
		t.Fatalf("after Retry now on the deliveries page the hub got dana %d times, want 1", n)
	}
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(50 * time.Millisecond) {
		var rep struct{ Deliveries []struct{ ID string } }
		if s.api(t, "op-1", "GET", "/api/deliveries?route=hub", "", &rep); len(rep.Deliveries) == 0 {
			break
		}
	}
	b.do("deliveries", "#nodeliveries after the retry", chromedp.Navigate(admin+"/deliveries?route=hub"), chromedp.WaitVisible(id("nodeliveries")))

	// At a phone's width the pages fit: nothing but the calls table scrolls sideways.
	for _, path := range []string{"/calls", "/lead?record=jane@acme.com", "/routes", "/alerts", "/deliveries"} {
		b.do("phone "+path, "viewport 390×844", chromedp.EmulateViewport(390, 844, chromedp.EmulateMobile), chromedp.Navigate(admin+path), chromedp.WaitVisible(css("main h1")))
		if over := browse(b, "phone "+path, "document width", chromedp.Evaluate[int](`document.documentElement.scrollWidth - window.innerWidth`)); over > 0 {
			t.Errorf("%s page at 390 px: the page is %d px wider than the screen", path, over)
		}
	}
	b.shot("phone-alerts")
	b.do("routes", "viewport reset", chromedp.EmulateReset())

	// Sign out: the session is gone, the pages ask for a token again.
	b.do("calls", "Sign out", chromedp.Navigate(admin+"/calls"), chromedp.Click(css(`form[action="/signout"] button`)), chromedp.WaitVisible(id("token")))
	b.do("sign-in", "#token after sign-out", chromedp.Navigate(admin+"/alerts"), chromedp.WaitVisible(id("token")))
}

// TestConsoleViewerAndHostileBody: a stored body holding <script>alert(1)</script> renders as
// text (no dialog, no script element, the text shown as is); a viewer sees no Replay button,
// and a replay posted anyway from its page, or sent to the API with its token, answers 403
// and reaches no vendor; a POST without the CSRF token is refused. The Deliveries page shows
// a viewer a held call (its hostile record key as text) without Retry or Drop, and a retry or
// drop by a viewer, from the page or the API, answers 403.
func TestConsoleViewerAndHostileBody(t *testing.T) {
	chromium(t) // skip before starting anything
	s := startConsoleStack(t)
	id := s.send(t, "/crm/v1/leads", `{"email":"eve@acme.com","note":"<script>alert(1)</script><img src=x onerror=alert(2)>"}`)
	queuedID := s.send(t, "/hub/v1/leads", `{"email":"<script>alert(3)</script>@acme.com"}`)
	s.crm.healed.Store(true)
	s.waitHeld(t, queuedID)
	b := newBrowser(t)
	byID := func(s string) chromedp.ID { return chromedp.ID(s) }
	b.do("sign-in", "#token and #signin", chromedp.Navigate(s.in.admin+"/signin"), chromedp.SendKeys(byID("token"), "view-1"), chromedp.Click(byID("signin")), chromedp.WaitVisible(byID("calls")))
	b.do("call", "#outcome", chromedp.Navigate(s.in.admin+"/calls/"+id), chromedp.WaitVisible(byID("outcome")))
	if body := b.text("call", "pre.body"); !strings.Contains(body, `"note": "<script>alert(1)</script><img src=x onerror=alert(2)>"`) {
		t.Fatalf("call page: pre.body does not show the stored body as text:\n%s", body)
	}
	if n := browse(b, "call", "main script, main img", chromedp.Evaluate[int](`document.querySelectorAll("main script, main img").length`)); n != 0 {
		t.Fatalf("call page: the stored body became %d script or img elements", n)
	}
	if n := browse(b, "call", "#replay, #edit", chromedp.Evaluate[int](`document.querySelectorAll("#replay, #edit").length`)); n != 0 {
		t.Fatal("call page: a viewer is offered Replay or Edit and replay")
	}
	b.shot("viewer-call")
	b.mu.Lock()
	dialogs := b.dialogs
	b.mu.Unlock()
	if dialogs != 0 {
		t.Fatalf("call page: the stored body ran script (%d dialogs)", dialogs)
	}

	// The viewer's page posts a replay anyway (with its own CSRF token): 403, nothing sent.
	status := browse(b, "call", "replay form post", chromedp.Evaluate[int](`fetch("/calls/`+id+`/replay", {method: "POST", body: new URLSearchParams({csrf: document.querySelector("input[name=csrf]").value})}).then(r => r.status)`, chromedp.EvalAwaitPromise))
	if status != http.StatusForbidden {
		t.Fatalf("call page: a viewer's replay POST answered %d, want 403", status)
	}
	req, _ := http.NewRequest("POST", s.in.admin+"/api/transactions/"+id+"/replay", nil)
	req.Header.Set("Authorization", "Bearer view-1")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusForbidden {
		t.Fatalf("API: a viewer's replay answered %d, want 403", resp.StatusCode)
	}
	if s.crm.count("eve@acme.com") != 0 {
		t.Fatal("a viewer's replay reached the vendor")
	}

	// The delivery queue: a viewer sees the held call (its hostile record key as text) and
	// no Retry or Drop; a retry posted anyway, from the page or to the API, answers 403.
	row := `#deliveries tr[data-id="` + queuedID + `"]`
	b.do("deliveries", row, chromedp.Navigate(s.in.admin+"/deliveries?route=hub"), chromedp.WaitVisible(chromedp.CSS(row)))
	if r := b.text("deliveries", row); !strings.Contains(r, "<script>alert(3)</script>") || !strings.Contains(r, "held") {
		t.Fatalf("deliveries page: %s does not show the held call with its record as text:\n%s", row, r)
	}
	if n := browse(b, "deliveries", ".retry, .drop, main script", chromedp.Evaluate[int](`document.querySelectorAll(".retry, .drop, #retryall, main script").length`)); n != 0 {
		t.Fatalf("deliveries page: a viewer is offered Retry or Drop, or the record became a script (%d elements)", n)
	}
	b.shot("viewer-deliveries")
	status = browse(b, "deliveries", "retry form post", chromedp.Evaluate[int](`fetch("/deliveries/`+queuedID+`/retry", {method: "POST", body: new URLSearchParams({csrf: document.querySelector("input[name=csrf]").value})}).then(r => r.status)`, chromedp.EvalAwaitPromise))
	if status != http.StatusForbidden {
		t.Fatalf("deliveries page: a viewer's retry POST answered %d, want 403", status)
	}
	if st := s.api(t, "view-1", "POST", "/api/deliveries/"+queuedID+"/retry", "{}", nil); st != http.StatusForbidden {
		t.Fatalf("API: a viewer's delivery retry answered %d, want 403", st)
	}
	if st := s.api(t, "view-1", "POST", "/api/deliveries/"+queuedID+"/drop", `{"reason": "x"}`, nil); st != http.StatusForbidden {
		t.Fatalf("API: a viewer's delivery drop answered %d, want 403", st)
	}

	// An operator's session, without the CSRF token: refused, nothing sent.
	jar, _ := cookiejar.New(nil)
	c := &http.Client{Jar: jar}
	resp, err = c.PostForm(s.in.admin+"/signin", url.Values{"token": {"op-1"}})
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if csp := resp.Header.Get("Content-Security-Policy"); !strings.Contains(csp, "script-src 'self'") {
		t.Fatalf("calls page: Content-Security-Policy %q", csp)
	}
	for _, ck := range resp.Request.Response.Cookies() {
		if !ck.HttpOnly || ck.SameSite != http.SameSiteStrictMode || strings.Contains(ck.Value, "op-1") {
			t.Fatalf("session cookie %+v: want HttpOnly, SameSite=Strict, no token", ck)
		}
	}
	resp, err = c.PostForm(s.in.admin+"/calls/"+id+"/replay", url.Values{})
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusForbidden || s.crm.count("eve@acme.com") != 0 {
		t.Fatalf("a replay POST without the CSRF token answered %d (vendor got %d), want 403 and nothing sent", resp.StatusCode, s.crm.count("eve@acme.com"))
	}

	// The operator retries the route's whole queue from the Deliveries page.
	resp, err = c.Get(s.in.admin + "/deliveries?route=hub")
	if err != nil {
		t.Fatal(err)
	}
	page, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	_, csrf, _ := strings.Cut(string(page), `name="csrf" value="`)
	csrf, _, _ = strings.Cut(csrf, `"`)
	if !strings.Contains(string(page), `id="retryall"`) {
		t.Fatalf("deliveries page: an operator is not offered #retryall:\n%s", page)
	}
	resp, err = c.PostForm(s.in.admin+"/deliveries/retry", url.Values{"csrf": {csrf}, "route": {"hub"}})
	if err != nil {
		t.Fatal(err)
	}
	page, _ = io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK || !strings.Contains(string(page), "Retry asked for 1 held, dead or retrying deliveries of hub") {
		t.Fatalf("deliveries page: #retryall answered %d:\n%s", resp.StatusCode, page)
	}
}
