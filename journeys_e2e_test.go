package main

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/mtguard/mtguard/alerts"
	"github.com/mtguard/mtguard/journeys"
)

const journeysE2EConfig = `
listen: 127.0.0.1:0
admin:
  listen: 127.0.0.1:0
alerts:
  sinks:
    - {name: hook, type: webhook, url: %[1]s, secret_env: HOOK_SECRET}
journeys:
  - name: webinar-lead
    key: email
    steps: [webinar-form, marketo, salesforce]
    within: 3s
    owner: revops@example.com
routes:
  - name: webinar-form
    prefix: /form
    upstream: %[2]s/form
    record_keys: [email]
  - name: marketo
    prefix: /mkto
    upstream: %[2]s/mkto
    record_keys: ["input[].email", "input[].id"]
  - name: salesforce
    prefix: /sf
    upstream: %[2]s/sf
    owner: crm@example.com
    record_keys: [Email]
`

// TestJourneysEndToEnd sends 100 leads through three fake hops, each hop passing the lead on
// to the next through mtguard, as the tools would: the form, then the marketing platform,
// then the CRM. The marketing platform answers 200 to every lead but silently drops 7; the
// CRM refuses 3. Once the journey's time is up, journeys --stuck lists exactly those 10, the
// owner is told with their keys, the last call of each carries journey.lost_in_transit, and
// journey KEY shows where each stopped.
func TestJourneysEndToEnd(t *testing.T) {
	lead := func(i int) string { return fmt.Sprintf("Lead%02d@Acme.com", i) }
	norm := func(i int) string { return strings.ToLower(lead(i)) }
	dropMiddle := []int{3, 17, 29, 41, 55, 68, 90}
	dropLast := []int{10, 50, 77}

	var mu sync.Mutex
	var notices []alerts.WebhookPayload
	hook := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var p alerts.WebhookPayload
		json.NewDecoder(r.Body).Decode(&p)
		mu.Lock()
		notices = append(notices, p)
		mu.Unlock()
	}))
	defer hook.Close()

	var proxy string // mtguard's data plane, known once it runs
	post := func(path, body string) int {
		resp, err := http.Post(proxy+path, "application/json", strings.NewReader(body))
		if err != nil {
			t.Error(err)
			return 0
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		return resp.StatusCode
	}
	hops := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var in map[string]any
		json.NewDecoder(r.Body).Decode(&in)
		switch r.URL.Path {
		case "/form/submit": // the form tool hands the lead to the marketing platform
			email := in["email"].(string)
			post("/mkto/rest/v1/leads.json", fmt.Sprintf(`{"action":"createOrUpdate","input":[{"email":%q,"id":"x-%s"}]}`, email, email))
			w.Write([]byte(`{"ok":true}`))
		case "/mkto/rest/v1/leads.json": // the platform syncs it to the CRM, unless it drops it
			email := in["input"].([]any)[0].(map[string]any)["email"].(string)
			var i int
			fmt.Sscanf(email, "Lead%02d@", &i)
			if !slices.Contains(dropMiddle, i) {
				post("/sf/services/data/v60.0/sobjects/Lead", fmt.Sprintf(`{"Email":%q,"LastName":"Doe"}`, email))
			}
			w.Write([]byte(`{"success":true,"result":[{"id":1,"status":"updated"}]}`))
		case "/sf/services/data/v60.0/sobjects/Lead":
			var i int
			fmt.Sscanf(in["Email"].(string), "Lead%02d@", &i)
			if slices.Contains(dropLast, i) {
				w.WriteHeader(http.StatusBadRequest)
				w.Write([]byte(`[{"errorCode":"FIELD_CUSTOM_VALIDATION_EXCEPTION","message":"rejected"}]`))
				return
			}
			w.WriteHeader(http.StatusCreated)
			w.Write([]byte(`{"id":"00Q1","success":true}`))
		default:
			http.NotFound(w, r)
		}
	}))
	defer hops.Close()

	in := startMtguard(t, fmt.Sprintf(journeysE2EConfig, hook.URL, hops.URL), map[string]string{"HOOK_SECRET": "s3cret"})
	proxy = in.proxy
	for i := range 100 {
		if code := post("/form/submit", fmt.Sprintf(`{"email":%q}`, lead(i))); code != http.StatusOK {
			t.Fatalf("lead %d: status %d", i, code)
		}
	}

	var want []string
	for _, i := range slices.Concat(dropMiddle, dropLast) {
		want = append(want, norm(i))
	}
	sort.Strings(want)
	var stuck []journeys.Record
	deadline := time.Now().Add(15 * time.Second)
	for {
		out, err := in.cli(t, nil, "journeys", "--stuck", "--json")
		if err != nil {
			t.Fatalf("journeys --stuck: %v\n%s", err, out)
		}
		stuck = nil
		if err := json.Unmarshal([]byte(out), &stuck); err != nil {
			t.Fatalf("journeys --stuck --json: %v\n%s", err, out)
		}
		if len(stuck) >= len(want) || time.Now().After(deadline) {
			break
		}
		time.Sleep(50 * time.Millisecond) // waiting for the journey's time to run out on the real clock
	}
	var got []string
	for _, r := range stuck {
		got = append(got, r.Key)
		i := 0
		fmt.Sscanf(r.Key, "lead%02d@", &i)
		wantStop := "after marketo: never reached salesforce"
		if slices.Contains(dropLast, i) {
			wantStop = "at salesforce (failed)"
		}
		if r.Journey != "webinar-lead" || r.State != journeys.StateLost || r.Stopped != wantStop {
			t.Errorf("stuck record %+v, want stopped %q", r, wantStop)
		}
	}
	sort.Strings(got)
	if !slices.Equal(got, want) {
		t.Fatalf("journeys --stuck lists %v, want %v", got, want)
	}
	if out, _ := in.cli(t, nil, "journeys", "--stuck"); !strings.Contains(out, "10 record(s)") || !strings.Contains(out, "lead03@acme.com") {
		t.Errorf("journeys --stuck:\n%s", out)
	}
	if out, err := in.cli(t, nil, "journeys", "--stuck", "--journey", "nope"); err == nil {
		t.Errorf("journeys --journey nope: no error\n%s", out)
	}

	// The owner is told, with every record key (in one notice or a few, by when they ran out).
	deadline = time.Now().Add(5 * time.Second)
	var told []string
	for {
		mu.Lock()
		told = told[:0]
		for _, n := range notices {
			a, _ := n.Alert.(map[string]any)
			if n.Event != alerts.EventNotice || a["kind"] != alerts.KindJourney || a["owner"] != "revops@example.com" || a["route"] != "webinar-lead" {
				t.Errorf("notice %+v", n)
				continue
			}
			for _, k := range want {
				if strings.Contains(a["summary"].(string), k) {
					told = append(told, k)
				}
			}
		}
		mu.Unlock()
		if len(told) >= len(want) || time.Now().After(deadline) {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	sort.Strings(told)
	if !slices.Equal(told, want) {
		t.Errorf("the owner was told of %v, want %v", told, want)
	}

	// journey KEY: where a dropped lead stopped, and an arrived one step by step.
	out, err := in.cli(t, nil, "journey", "Lead03@Acme.com")
	if err != nil || !strings.Contains(out, "lost, after marketo: never reached salesforce") || !strings.Contains(out, "3     salesforce    no") {
		t.Errorf("journey Lead03: %v\n%s", err, out)
	}
	out, err = in.cli(t, nil, "journey", norm(50))
	if err != nil || !strings.Contains(out, "lost, at salesforce (failed)") {
		t.Errorf("journey lead50: %v\n%s", err, out)
	}
	out, err = in.cli(t, nil, "journey", norm(1), "--json")
	var a struct{ Journeys []journeys.Record }
	if err != nil || json.Unmarshal([]byte(out), &a) != nil || len(a.Journeys) != 1 || a.Journeys[0].State != journeys.StateArrived ||
		!a.Journeys[0].Steps[2].Reached || a.Journeys[0].Steps[2].Outcome != "delivered" {
		t.Errorf("journey lead01: %v\n%s", err, out)
	}

	// The last call seen of each lost lead carries the finding.
	out, err = in.cli(t, nil, "log", "--finding", "journey.lost_in_transit", "--limit", "100", "--json")
	if err != nil {
		t.Fatal(err)
	}
	var page struct {
		Transactions []struct {
			Route      string   `json:"route"`
			RecordKeys []string `json:"record_keys"`
		} `json:"transactions"`
	}
	if err := json.Unmarshal([]byte(out), &page); err != nil {
		t.Fatalf("log --json: %v\n%s", err, out)
	}
	byRoute := map[string]int{}
	for _, tx := range page.Transactions {
		byRoute[tx.Route]++
	}
	if len(page.Transactions) != 10 || byRoute["marketo"] != 7 || byRoute["salesforce"] != 3 {
		t.Errorf("calls with journey.lost_in_transit by route: %v", byRoute)
	}
}

// TestJourneysSurviveRestart: records in transit when serve stops are followed by the next
// serve on the same store: after a restart, the leads the middle hop dropped are listed stuck
// once their time is up, and the one that arrives after the restart is not.
func TestJourneysSurviveRestart(t *testing.T) {
	vendor := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.Write([]byte(`{"ok":true}`)) }))
	defer vendor.Close()
	storePath := filepath.Join(t.TempDir(), "mtguard.db")
	cfg := fmt.Sprintf(`
listen: 127.0.0.1:0
admin: {listen: 127.0.0.1:0}
store: {path: %s}
journeys:
  - {name: lead, key: email, steps: [form, crm], within: 4s, owner: ops@example.com}
routes:
  - {name: form, prefix: /form, upstream: %s, record_keys: [email]}
  - {name: crm, prefix: /crm, upstream: %[2]s, record_keys: [Email]}
`, storePath, vendor.URL)
	post := func(in *instance, path, body string) {
		resp, err := http.Post(in.proxy+path, "application/json", strings.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
	}
	first := startMtguard(t, cfg, nil)
	for _, k := range []string{"a", "b", "c"} {
		post(first, "/form/submit", fmt.Sprintf(`{"email":"%s@acme.com"}`, k))
	}
	out, err := first.cli(t, nil, "journeys", "--json")
	if err != nil || strings.Count(out, `"in_transit"`) != 3 {
		t.Fatalf("in transit before the restart: %v\n%s", err, out)
	}
	first.stop()

	second := startMtguard(t, cfg, nil)
	post(second, "/crm/sobjects/Lead", `{"Email":"B@acme.com"}`)
	var stuck []journeys.Record
	deadline := time.Now().Add(10 * time.Second)
	for len(stuck) < 2 && time.Now().Before(deadline) {
		out, err := second.cli(t, nil, "journeys", "--stuck", "--json")
		if err != nil {
			t.Fatal(err)
		}
		json.Unmarshal([]byte(out), &stuck)
		time.Sleep(50 * time.Millisecond) // waiting for within on the real clock
	}
	if len(stuck) != 2 || stuck[0].Key != "a@acme.com" || stuck[1].Key != "c@acme.com" {
		t.Errorf("stuck after the restart: %+v", stuck)
	}
	if out, err := second.cli(t, nil, "journey", "b@acme.com"); err != nil || !strings.Contains(out, "arrived") {
		t.Errorf("journey b: %v\n%s", err, out)
	}
}
