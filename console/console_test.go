package console_test

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/mtguard/mtguard/alerts"
	"github.com/mtguard/mtguard/console"
	"github.com/mtguard/mtguard/inspect"
	"github.com/mtguard/mtguard/store"
	"github.com/mtguard/mtguard/txn"
)

// benchRoutes are the routes of every test stack's alert engine.
var benchRoutes = []string{"crm", "forms", "ads", "mail", "erp"}

// stack is the console over a real admin API over a real transaction log.
type stack struct {
	srv *httptest.Server
	st  *store.Store
}

func newStack(t testing.TB, tokens []inspect.Token, opts ...func(*inspect.ServerConfig)) *stack {
	t.Helper()
	st, err := store.Open(filepath.Join(t.TempDir(), "mtguard.db"), store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	var routes []alerts.RouteAlerts
	for _, r := range benchRoutes {
		routes = append(routes, alerts.RouteAlerts{Route: r, Rules: alerts.DefaultRules()})
	}
	eng, err := alerts.New(alerts.Config{Routes: routes, Metrics: alerts.NewMetrics()})
	if err != nil {
		t.Fatal(err)
	}
	eng.Start(context.Background(), st)
	t.Cleanup(eng.Close)
	cfg := inspect.ServerConfig{Transactions: st, Tokens: tokens, Eraser: st, Alerts: eng}
	for _, o := range opts {
		o(&cfg)
	}
	api := inspect.NewServer(cfg)
	c, err := console.New(console.Config{API: api})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(c)
	t.Cleanup(srv.Close)
	return &stack{srv: srv, st: st}
}

// record stores one finished call.
func (s *stack) record(t testing.TB, route, email, body string, status int, outcome txn.Outcome, at time.Time, findings ...txn.Finding) string {
	t.Helper()
	tx := &txn.Transaction{Call: txn.Call{Time: at, Route: route, Method: "POST", Path: "/" + route + "/v1/leads", RecordKeys: []string{email},
		Request: txn.Message{ContentType: "application/json", Body: body, Size: int64(len(body))}}}
	if err := s.st.RecordIntent(context.Background(), tx); err != nil {
		t.Fatal(err)
	}
	tx.Result = txn.Result{Status: status, Outcome: outcome, Findings: append([]txn.Finding{}, findings...), DurationMS: 3, UpstreamMS: 2}
	if err := s.st.RecordResult(tx); err != nil {
		t.Fatal(err)
	}
	return tx.ID
}

// client is a browser-like client: it keeps cookies and follows no redirect.
func client() *http.Client {
	jar, _ := cookiejar.New(nil)
	return &http.Client{Jar: jar, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
}

func get(t *testing.T, c *http.Client, u string) (*http.Response, string) {
	t.Helper()
	resp, err := c.Get(u)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp, string(b)
}

func post(t *testing.T, c *http.Client, u string, form url.Values, header ...string) (*http.Response, string) {
	t.Helper()
	req, _ := http.NewRequest(http.MethodPost, u, strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	resp, err := c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp, string(b)
}

// csrfOf reads the CSRF token a page put in its forms.
func csrfOf(t *testing.T, page string) string {
	t.Helper()
	_, rest, ok := strings.Cut(page, `name="csrf" value="`)
	if !ok {
		t.Fatalf("no CSRF token in the page:\n%s", page)
	}
	v, _, _ := strings.Cut(rest, `"`)
	return v
}

// TestSignIn: with tokens, pages send the browser to the sign-in form; a wrong token is
// refused; the right one sets an HttpOnly, SameSite=Strict cookie that holds no token; sign
// out ends the session on the server.
func TestSignIn(t *testing.T) {
	s := newStack(t, []inspect.Token{{Name: "dash", Role: inspect.RoleViewer, Value: "secret-viewer-token"}})
	c := client()
	resp, _ := get(t, c, s.srv.URL+"/calls?route=crm")
	if resp.StatusCode != http.StatusSeeOther || resp.Header.Get("Location") != "/signin?next=%2Fcalls%3Froute%3Dcrm" {
		t.Fatalf("GET /calls without a session: %d to %q", resp.StatusCode, resp.Header.Get("Location"))
	}
	if resp, page := post(t, c, s.srv.URL+"/signin", url.Values{"token": {"wrong"}}); resp.StatusCode != http.StatusUnauthorized || !strings.Contains(page, "not one this mtguard was started with") {
		t.Fatalf("wrong token: %d\n%s", resp.StatusCode, page)
	}
	resp, _ = post(t, c, s.srv.URL+"/signin", url.Values{"token": {"secret-viewer-token"}, "next": {"//evil.example/"}})
	if resp.StatusCode != http.StatusSeeOther || resp.Header.Get("Location") != "/calls" {
		t.Fatalf("sign-in: %d to %q, want 303 to /calls (never another site)", resp.StatusCode, resp.Header.Get("Location"))
	}
	cks := resp.Cookies()
	if len(cks) != 1 || !cks[0].HttpOnly || cks[0].SameSite != http.SameSiteStrictMode || strings.Contains(cks[0].Value, "secret") || len(cks[0].Value) < 40 {
		t.Fatalf("session cookie %+v: want one HttpOnly, SameSite=Strict random id", cks)
	}
	resp, page := get(t, c, s.srv.URL+"/calls")
	if resp.StatusCode != http.StatusOK || !strings.Contains(page, "dash (viewer)") || strings.Contains(page, "secret-viewer-token") {
		t.Fatalf("GET /calls signed in: %d\n%s", resp.StatusCode, page)
	}
	for h, want := range map[string]string{"Content-Security-Policy": "script-src 'self'", "X-Frame-Options": "DENY", "Cache-Control": "no-store"} {
		if !strings.Contains(resp.Header.Get(h), want) {
			t.Errorf("%s: %q, want %q", h, resp.Header.Get(h), want)
		}
	}
	resp, _ = post(t, c, s.srv.URL+"/signout", url.Values{"csrf": {csrfOf(t, page)}})
	if resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("sign out: %d", resp.StatusCode)
	}
	// The old cookie, sent again, is no session any more.
	old := &http.Client{CheckRedirect: c.CheckRedirect}
	req, _ := http.NewRequest(http.MethodGet, s.srv.URL+"/calls", nil)
	req.AddCookie(cks[0])
	resp, err := old.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("the signed-out cookie still opens /calls: %d", resp.StatusCode)
	}
}

// TestRefusedPosts: a state-changing form without the session's CSRF token, or marked by the
// browser as sent from another site, is refused before it reaches the API; on an API without
// tokens, the console like the API answers only loopback names.
func TestRefusedPosts(t *testing.T) {
	s := newStack(t, nil)
	id := s.record(t, "crm", "jane@acme.com", `{"email":"jane@acme.com"}`, 503, txn.OutcomeFailed, time.Now())
	c := client()
	host := strings.Replace(s.srv.URL, "127.0.0.1", "localhost", 1)
	resp, page := get(t, c, host+"/calls/"+id)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("no tokens on loopback: GET %d, want the page without sign-in", resp.StatusCode)
	}
	csrf := csrfOf(t, page)
	tests := []struct {
		name   string
		form   url.Values
		header []string
		want   int
	}{
		{"no CSRF token", url.Values{}, nil, http.StatusForbidden},
		{"wrong CSRF token", url.Values{"csrf": {"x" + csrf}}, nil, http.StatusForbidden},
		{"cross-site", url.Values{"csrf": {csrf}}, []string{"Sec-Fetch-Site", "cross-site"}, http.StatusForbidden},
		{"foreign origin", url.Values{"csrf": {csrf}}, []string{"Origin", "http://evil.example"}, http.StatusForbidden},
		// No Replayer in this stack: the API itself answers, which shows the post got through.
		{"right token", url.Values{"csrf": {csrf}}, []string{"Sec-Fetch-Site", "same-origin"}, http.StatusNotImplemented},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			resp, page := post(t, c, host+"/calls/"+id+"/replay", tt.form, tt.header...)
			if resp.StatusCode != tt.want {
				t.Fatalf("POST replay: %d, want %d\n%s", resp.StatusCode, tt.want, page)
			}
		})
	}
	req, _ := http.NewRequest(http.MethodGet, s.srv.URL+"/calls", nil)
	req.Host = "rebound.example:9090"
	resp, err := c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusMisdirectedRequest {
		t.Fatalf("a page under a foreign name without tokens: %d, want 421", resp.StatusCode)
	}
}

// TestStoredDataRendersAsText: bodies, paths and record keys are hostile; every page shows
// them as text.
func TestStoredDataRendersAsText(t *testing.T) {
	s := newStack(t, nil)
	evil := `<script>alert(1)</script>`
	id := s.record(t, "crm", `x"><script>alert(2)</script>@acme.com`, `{"note":"`+evil+`"}`, 201, txn.OutcomeDelivered, time.Now())
	c := client()
	for _, path := range []string{"/calls", "/calls/" + id, "/lead?record=" + url.QueryEscape(`x"><script>alert(2)</script>@acme.com`), "/calls/rows"} {
		resp, page := get(t, c, s.srv.URL+path)
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("%s: %d", path, resp.StatusCode)
		}
		if strings.Contains(page, "<script>alert") || !strings.Contains(page, "&lt;script&gt;alert(") {
			t.Errorf("%s: stored data is not escaped:\n%s", path, page)
		}
	}
}

// TestCallsPageFilters passes the filters to the API and pages with its cursor.
func TestCallsPageFilters(t *testing.T) {
	s := newStack(t, nil)
	now := time.Now()
	for i := range 60 {
		s.record(t, "crm", fmt.Sprintf("lead%d@acme.com", i%3), `{}`, 201, txn.OutcomeDelivered, now.Add(-time.Duration(i)*time.Second))
	}
	s.record(t, "forms", "jane@acme.com", `{}`, 422, txn.OutcomeRejected, now)
	c := client()
	_, page := get(t, c, s.srv.URL+"/calls?record=Jane@Acme.com")
	if strings.Count(page, "<tr data-id=") != 1 || !strings.Contains(page, "jane@acme.com") {
		t.Fatalf("record filter:\n%s", page)
	}
	_, page = get(t, c, s.srv.URL+"/calls?status=4xx")
	if strings.Count(page, "<tr data-id=") != 1 {
		t.Fatalf("status class filter: %d rows", strings.Count(page, "<tr data-id="))
	}
	_, page = get(t, c, s.srv.URL+"/calls?route=crm")
	if strings.Count(page, "<tr data-id=") != 50 || !strings.Contains(page, `id="older"`) {
		t.Fatalf("route filter: %d rows, want one page of 50 and a link to older calls", strings.Count(page, "<tr data-id="))
	}
	resp, page := get(t, c, s.srv.URL+"/calls?status=6xx")
	if resp.StatusCode != http.StatusBadRequest || !strings.Contains(page, "must be an HTTP status code") {
		t.Fatalf("bad filter: %d\n%s", resp.StatusCode, page)
	}
}

// BenchmarkPages measures the console's pages over a log of MTGUARD_CONSOLE_BENCH_CALLS calls
// (20000 by default; the store's writes batch, so a million takes a few minutes to seed). Every
// page reads one API page per query, so the time should not grow with the log.
func BenchmarkPages(b *testing.B) {
	n := 20000
	if v, err := strconv.Atoi(os.Getenv("MTGUARD_CONSOLE_BENCH_CALLS")); err == nil && v > 0 {
		n = v
	}
	s := newStack(b, nil)
	now := time.Now()
	var wg sync.WaitGroup
	const writers = 64
	for w := range writers {
		wg.Go(func() {
			for i := w; i < n; i += writers {
				outcome, status, fs := txn.OutcomeDelivered, 201, []txn.Finding(nil)
				switch {
				case i%10 == 0:
					outcome, status = txn.OutcomeFailed, 503
				case i%10 == 1: // a tenth of the calls break a contract, for the Contracts page
					outcome, status = txn.OutcomeRejected, 422
					fs = []txn.Finding{txn.NewFinding(txn.CodeSchemaRequestInvalid, "date_of_birth: not a date", fmt.Sprintf("/properties/field%d", i%7))}
				}
				s.record(b, benchRoutes[i%len(benchRoutes)], fmt.Sprintf("lead%d@acme.com", i%(n/3+1)), `{"email":"x@acme.com","first_name":"X"}`, status, outcome, now.Add(-time.Duration(n-i)*time.Second*86400/time.Duration(n)), fs...)
			}
		})
	}
	wg.Wait()
	c := client()
	for _, path := range []string{"/calls", "/calls?route=crm&outcome=failed", "/calls?record=lead7@acme.com", "/lead?record=lead7@acme.com", "/calls?status=5xx&since=1h", "/calls?q=nomatch", "/routes", "/routes/crm/chart.svg", "/alerts", "/sunsets", "/contracts"} {
		b.Run(path, func(b *testing.B) {
			for b.Loop() {
				resp, err := c.Get(s.srv.URL + path)
				if err != nil {
					b.Fatal(err)
				}
				io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
				if resp.StatusCode != http.StatusOK {
					b.Fatalf("%s: %d", path, resp.StatusCode)
				}
			}
		})
	}
}

// TestForget: only an admin is offered erasure; it needs the record typed again, and goes
// through the API's DELETE /api/records/{key}.
func TestForget(t *testing.T) {
	s := newStack(t, []inspect.Token{{Name: "ops", Role: inspect.RoleOperator, Value: "op"}, {Name: "dpo", Role: inspect.RoleAdmin, Value: "adm"}})
	s.record(t, "crm", "jane@acme.com", `{"email":"jane@acme.com"}`, 201, txn.OutcomeDelivered, time.Now())
	signIn := func(token string) (*http.Client, string) {
		c := client()
		post(t, c, s.srv.URL+"/signin", url.Values{"token": {token}})
		_, page := get(t, c, s.srv.URL+"/lead?record=jane@acme.com")
		return c, page
	}
	op, page := signIn("op")
	if strings.Contains(page, `id="forget"`) {
		t.Fatal("an operator is offered erasure")
	}
	if resp, _ := post(t, op, s.srv.URL+"/lead/forget", url.Values{"csrf": {csrfOf(t, page)}, "record": {"jane@acme.com"}, "confirm": {"jane@acme.com"}}); resp.StatusCode != http.StatusForbidden {
		t.Fatalf("an operator's erasure: %d, want 403", resp.StatusCode)
	}
	adm, page := signIn("adm")
	if !strings.Contains(page, `id="forget"`) {
		t.Fatal("an admin is not offered erasure")
	}
	csrf := csrfOf(t, page)
	if resp, _ := post(t, adm, s.srv.URL+"/lead/forget", url.Values{"csrf": {csrf}, "record": {"jane@acme.com"}, "confirm": {"jane@acme.co"}}); resp.StatusCode != http.StatusBadRequest {
		t.Fatalf("erasure without the right confirmation: %d, want 400", resp.StatusCode)
	}
	resp, page := post(t, adm, s.srv.URL+"/lead/forget", url.Values{"csrf": {csrf}, "record": {"jane@acme.com"}, "confirm": {"Jane@Acme.com"}})
	if resp.StatusCode != http.StatusOK || !strings.Contains(page, "1 calls deleted") {
		t.Fatalf("erasure: %d\n%s", resp.StatusCode, page)
	}
	if _, page = get(t, adm, s.srv.URL+"/lead?record=jane@acme.com"); !strings.Contains(page, `id="empty"`) {
		t.Fatalf("the record's calls are still listed:\n%s", page)
	}
}

// TestOneSessionManyPages: a browser loads a page and its images at once; the session they
// share is read by all of them (run with -race).
func TestOneSessionManyPages(t *testing.T) {
	s := newStack(t, []inspect.Token{{Name: "dash", Role: inspect.RoleViewer, Value: "v"}})
	c := client()
	post(t, c, s.srv.URL+"/signin", url.Values{"token": {"v"}})
	var wg sync.WaitGroup
	codes := make([]int, 8)
	for i := range codes {
		wg.Go(func() {
			resp, err := c.Get(s.srv.URL + "/routes/crm/chart.svg")
			if err != nil {
				return
			}
			io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			codes[i] = resp.StatusCode
		})
	}
	wg.Wait()
	for i, code := range codes {
		if code != http.StatusOK {
			t.Fatalf("request %d: %d", i, code)
		}
	}
}

// TestReports: Sunsets groups deprecated and retired endpoints by route and operation, soonest
// sunset first, with days left; Contracts groups violations by route, operation and pointer,
// most frequent first, each with its latest call.
func TestReports(t *testing.T) {
	now := time.Now()
	soon, later := now.Add(30*24*time.Hour+time.Hour), now.Add(400*24*time.Hour+time.Hour)
	passed := now.Add(-10*24*time.Hour - time.Hour)
	s := newStack(t, nil, func(c *inspect.ServerConfig) {
		c.Sunsets = func() []inspect.DeclaredSunset {
			return []inspect.DeclaredSunset{
				{Route: "sf", Rule: "rest-api", Where: "/services/data/v{version}/", Versions: []string{"31.0..40.0"}, Sunset: &later, Replacement: "v68.0", Doc: "https://example.com/eol"},
				{Route: "hs", Rule: "lists", Where: "/contacts/v{version}/", Versions: []string{"1"}, Sunset: &passed, Replacement: "<b>v3</b>"},
			}
		}
	})
	dep := func(code string, sunset time.Time, repl string) txn.Finding {
		f := txn.NewFinding(code, "deprecated", "")
		f.Sunset, f.Replacement = &sunset, repl
		return f
	}
	inv := func(ptr string) txn.Finding { return txn.NewFinding(txn.CodeSchemaRequestInvalid, "bad "+ptr, ptr) }
	s.record(t, "sf", "a@acme.com", `{}`, 201, txn.OutcomeDelivered, now.Add(-3*time.Hour), dep(txn.CodeEndpointDeprecated, later, "v68.0"))
	s.record(t, "sf", "b@acme.com", `{}`, 201, txn.OutcomeDelivered, now.Add(-2*time.Hour), dep(txn.CodeEndpointDeprecated, later, "v68.0"))
	s.record(t, "hs", "c@acme.com", `{}`, 410, txn.OutcomeRejected, now.Add(-time.Hour), dep(txn.CodeEndpointRetired, soon, "/crm/v3/lists"))
	s.record(t, "forms", "d@acme.com", `{}`, 422, txn.OutcomeRejected, now.Add(-3*time.Hour), inv("/dob"))
	last := s.record(t, "forms", "e@acme.com", `{}`, 422, txn.OutcomeRejected, now.Add(-2*time.Hour), inv("/dob"), inv("/email"))
	c := client()
	rows := func(page, table string) []string {
		_, body := get(t, c, s.srv.URL+page)
		_, body, _ = strings.Cut(body, `<table id="`+table+`">`)
		body, _, _ = strings.Cut(body, "</table>")
		var out []string
		for _, tr := range strings.Split(body, "<tr>")[2:] {
			cells := strings.Split(tr, "<td")
			var text []string
			for _, c := range cells[1:] {
				_, v, _ := strings.Cut(c, ">")
				v, _, _ = strings.Cut(v, "</td>")
				text = append(text, v)
			}
			out = append(out, strings.Join(text, " | "))
		}
		return out
	}
	got := rows("/sunsets", "sunsets")
	want := []string{
		soon.UTC().Format("2006-01-02") + ` | 30 | hs | POST /hs/v1/leads | endpoint.retired | /crm/v3/lists | 1 | <a href="/calls/`,
		later.UTC().Format("2006-01-02") + ` | 400 | sf | POST /sf/v1/leads | endpoint.deprecated | v68.0 | 2 | <a href="/calls/`,
	}
	if len(got) != len(want) {
		t.Fatalf("sunsets rows:\n%s", strings.Join(got, "\n"))
	}
	for i := range want {
		if !strings.HasPrefix(got[i], want[i]) {
			t.Errorf("sunsets row %d:\n%s\nwant it to start with\n%s", i, got[i], want[i])
		}
	}
	got = rows("/sunsets", "declared")
	wantDeclared := []string{
		passed.UTC().Format("2006-01-02") + ` | <strong class="s5xx">passed 10 days ago</strong> |  | hs | 1 | /contacts/v{version}/ | &lt;b&gt;v3&lt;/b&gt; | lists`,
		later.UTC().Format("2006-01-02") + ` | 400 |  | sf | 31.0..40.0 | /services/data/v{version}/ | v68.0 | <a href="https://example.com/eol" rel="noreferrer">rest-api</a>`,
	}
	if strings.Join(got, "\n") != strings.Join(wantDeclared, "\n") {
		t.Fatalf("declared sunsets rows:\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(wantDeclared, "\n"))
	}
	got = rows("/contracts", "contracts")
	if len(got) != 2 || !strings.Contains(got[0], "<code>/dob</code>") || !strings.Contains(got[0], "| 2 |") || !strings.Contains(got[0], last) ||
		!strings.Contains(got[1], "<code>/email</code>") || !strings.Contains(got[1], "| 1 |") {
		t.Fatalf("contracts rows:\n%s", strings.Join(got, "\n"))
	}
}

// TestSearch: text search reads the calls the other filters list, at most 2000 a request,
// says how many it read, and links to the next stretch.
func TestSearch(t *testing.T) {
	s := newStack(t, nil)
	now := time.Now()
	var wg sync.WaitGroup
	for w := range 8 {
		wg.Go(func() {
			for i := w; i < 3000; i += 8 {
				body := `{"email":"x@acme.com","company":"Globex"}`
				if i == 10 || i == 2990 {
					body = `{"email":"x@acme.com","company":"Initech Ltd"}`
				}
				s.record(t, "crm", fmt.Sprintf("l%d@acme.com", i), body, 201, txn.OutcomeDelivered, now)
			}
		})
	}
	wg.Wait()
	c := client()
	_, page := get(t, c, s.srv.URL+"/calls?q=initech")
	if !strings.Contains(page, "Searched 2000 calls") || !strings.Contains(page, "search older calls") {
		t.Fatalf("first stretch: %s", page[strings.Index(page, "<main"):])
	}
	first := strings.Count(page, "<tr data-id=")
	_, next, _ := strings.Cut(page, `search older calls`)
	_, href, _ := strings.Cut(page[:len(page)-len(next)], `<a href="/calls?`)
	href, _, _ = strings.Cut(href, `"`)
	_, page = get(t, c, s.srv.URL+"/calls?"+strings.ReplaceAll(href, "&amp;", "&"))
	if !strings.Contains(page, "Searched 1000 calls") || !strings.Contains(page, "That is every call") {
		t.Fatalf("second stretch: %s", page[strings.Index(page, "<main"):])
	}
	if got := first + strings.Count(page, "<tr data-id="); got != 2 {
		t.Fatalf("found %d calls with Initech over both stretches, want 2", got)
	}
	if _, page = get(t, c, s.srv.URL+"/calls?q=INITECH&record=l10@acme.com"); strings.Count(page, "<tr data-id=") != 1 || !strings.Contains(page, "Searched 1 calls") {
		t.Fatalf("search within a record's calls:\n%s", page[strings.Index(page, "<main"):])
	}
}
