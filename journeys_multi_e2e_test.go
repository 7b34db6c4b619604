package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/mtguard/mtguard/alerts"
	"github.com/mtguard/mtguard/drift"
	"github.com/mtguard/mtguard/journeys"
)

const pgJourneysConfig = `
listen: 127.0.0.1:0
admin:
  listen: 127.0.0.1:0
store:
  backend: postgres
  dsn_env: MTGUARD_PG_DSN
alerts:
  sinks:
    - {name: hook, type: webhook, url: %[1]s, secret_env: HOOK_SECRET}
journeys:
  - {name: lead, key: email, steps: [form, crm], within: 3s, owner: revops@example.com}
routes:
  - name: form
    prefix: /form
    upstream: %[2]s/form
    record_keys: [email]
    drift: {learn: 2s}
  - name: crm
    prefix: /crm
    upstream: %[2]s/crm
    record_keys: [email]
  - name: hubspot
    prefix: /hs
    upstream: %[2]s/hs
    record_keys: [properties.email]
    verify:
      after: 100ms
      request: {method: GET, path: "/contacts/{email}"}
      expect: {status: 200}
      sample: 100%%
`

// TestPostgresJourneysDriftReadBackOnePerJob: three instances on one PostgreSQL log, the steps
// of each lead's journey arriving at different instances. The journeys complete; the lead
// that never reaches its last step is listed stuck by every instance, carries one
// journey.lost_in_transit, and the owner gets one notice, not one per instance. Drift learns
// from every instance's calls and flags a change once; each delivered call is read back once.
// The instance running journeys stops: another takes over and judges the next lead; forget on
// an instance that does not run journeys erases the record from them.
func TestPostgresJourneysDriftReadBackOnePerJob(t *testing.T) {
	dsn := pgSchemaDSN(t)
	rec := &hookRecorder{}
	hook := httptest.NewServer(rec)
	defer hook.Close()
	journeyNotices := func() int {
		n := 0
		for _, p := range rec.payloads() {
			if a, _ := p.Alert.(map[string]any); p.Event == alerts.EventNotice && a["kind"] == alerts.KindJourney {
				n++
			}
		}
		return n
	}
	var mu sync.Mutex // the vendor's records
	stored := map[string]bool{}
	probes := map[string]int{}
	vendor := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		defer mu.Unlock()
		switch {
		case r.Method == http.MethodPost && r.URL.Path == "/hs/contacts":
			var in struct{ Properties struct{ Email string } }
			json.NewDecoder(r.Body).Decode(&in)
			if in.Properties.Email != "gone@acme.com" { // accepted, and dropped all the same
				stored[in.Properties.Email] = true
			}
			w.WriteHeader(http.StatusCreated)
		case r.Method == http.MethodGet && strings.HasPrefix(r.URL.Path, "/hs/contacts/"):
			email := strings.TrimPrefix(r.URL.Path, "/hs/contacts/")
			probes[email]++
			if !stored[email] {
				w.WriteHeader(http.StatusNotFound)
			}
		}
		w.Write([]byte(`{"ok":true}`))
	}))
	defer vendor.Close()

	env := map[string]string{"MTGUARD_PG_DSN": dsn, "HOOK_SECRET": "s3cret"}
	cfg := fmt.Sprintf(pgJourneysConfig, hook.URL, vendor.URL)
	ins := []*instance{startMtguard(t, cfg, env), startMtguard(t, cfg, env), startMtguard(t, cfg, env)}
	waitFor := func(what string, within time.Duration, cond func() bool) {
		t.Helper()
		deadline := time.Now().Add(within)
		for !cond() {
			if time.Now().After(deadline) {
				for _, in := range ins {
					t.Logf("stderr: %s", in.stderr.String())
				}
				t.Fatalf("waited %s for %s; probes %v", within, what, probes)
			}
			time.Sleep(50 * time.Millisecond)
		}
	}
	runs := func(in *instance, job string) bool {
		return strings.Contains(in.stderr.String(), job+": this instance runs it for every instance")
	}
	runner := func(among []*instance, job string) *instance {
		t.Helper()
		var found *instance
		waitFor("one instance running "+job, 2*engineLease, func() bool {
			found = nil
			for _, in := range among {
				if runs(in, job) {
					if found != nil {
						t.Fatalf("two instances run %s", job)
					}
					found = in
				}
			}
			return found != nil
		})
		return found
	}
	leader := runner(ins, "journeys")
	runner(ins, "drift learning")
	runner(ins, "read-back verification")
	post := func(in *instance, path, body string) {
		t.Helper()
		resp, err := http.Post(in.proxy+path, "application/json", strings.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if resp.StatusCode/100 != 2 {
			t.Fatalf("%s: status %d", path, resp.StatusCode)
		}
	}
	form := func(in *instance, email string, score any) {
		t.Helper()
		b, _ := json.Marshal(map[string]any{"email": email, "score": score})
		post(in, "/form/submit", string(b))
	}
	cliJSON := func(in *instance, v any, args ...string) {
		t.Helper()
		out, err := in.cli(t, env, append(args, "--json")...)
		if err != nil {
			t.Fatalf("%s: %v\n%s", strings.Join(args, " "), err, out)
		}
		if err := json.Unmarshal([]byte(out), v); err != nil {
			t.Fatalf("%s --json: %v\n%s", strings.Join(args, " "), err, out)
		}
	}
	keysOf := func(rs []journeys.Record) []string {
		var out []string
		for _, r := range rs {
			out = append(out, r.Key)
		}
		return out
	}
	stuckOn := func(in *instance) []string {
		var rs []journeys.Record
		cliJSON(in, &rs, "journeys", "--stuck")
		return keysOf(rs)
	}
	findings := func(in *instance, code string) []string {
		var page struct {
			Transactions []struct {
				Route      string   `json:"route"`
				RecordKeys []string `json:"record_keys"`
			} `json:"transactions"`
		}
		cliJSON(in, &page, "log", "--finding", code, "--limit", "100")
		var out []string
		for _, tx := range page.Transactions {
			out = append(out, tx.Route+" "+strings.Join(tx.RecordKeys, ","))
		}
		return out
	}

	// Each lead's form step reaches one instance, its CRM step the next; one never reaches
	// the CRM. Every form call is learned from, whichever instance took it.
	for i := range 6 {
		form(ins[i%3], fmt.Sprintf("k%d@acme.com", i), i)
		post(ins[(i+1)%3], "/crm/leads", fmt.Sprintf(`{"email":"k%d@acme.com"}`, i))
	}
	form(ins[1], "lost@acme.com", 7)
	for i, email := range []string{"h0@acme.com", "h1@acme.com", "gone@acme.com", "h2@acme.com"} {
		post(ins[i%3], "/hs/contacts", fmt.Sprintf(`{"properties":{"email":%q}}`, email))
	}

	waitFor("the lost lead", 15*time.Second, func() bool { return len(stuckOn(ins[0])) > 0 })
	time.Sleep(time.Second) // a few more checks: a second instance judging would notify again
	for i, in := range ins {
		if got := stuckOn(in); !slices.Equal(got, []string{"lost@acme.com"}) {
			t.Errorf("instance %d lists stuck %v, want [lost@acme.com]", i, got)
		}
		var inTransit []journeys.Record
		cliJSON(in, &inTransit, "journeys")
		if len(inTransit) != 0 {
			t.Errorf("instance %d lists in transit %v, want none (the others arrived)", i, keysOf(inTransit))
		}
	}
	if out, err := ins[2].cli(t, env, "journey", "k4@acme.com"); err != nil || !strings.Contains(out, "arrived") {
		t.Errorf("journey k4 on another instance: %v\n%s", err, out)
	}
	if got := findings(ins[0], "journey.lost_in_transit"); !slices.Equal(got, []string{"form lost@acme.com"}) {
		t.Errorf("calls with journey.lost_in_transit: %v, want the lost lead's form call once", got)
	}
	if n := journeyNotices(); n != 1 {
		t.Errorf("the owner got %d journey notices, want 1", n)
	}

	// Every delivered call is read back once, by one instance; the dropped contact is flagged.
	waitFor("the read-backs", 10*time.Second, func() bool {
		mu.Lock()
		defer mu.Unlock()
		return len(probes) == 4
	})
	waitFor("delivery.unverified", 5*time.Second, func() bool { return len(findings(ins[1], "delivery.unverified")) > 0 })
	if got := findings(ins[1], "delivery.unverified"); !slices.Equal(got, []string{"hubspot gone@acme.com"}) {
		t.Errorf("calls with delivery.unverified: %v", got)
	}
	mu.Lock()
	for email, n := range probes {
		if n != 1 {
			t.Errorf("%s was read back %d times, want once", email, n)
		}
	}
	mu.Unlock()

	// Drift learned from the seven form calls of all three instances; once the window is
	// over, a changed type sent to every instance is one change, flagged on one call.
	var sh drift.Shape
	cliJSON(ins[2], &sh, "drift", "--route", "form")
	if sh.Calls != 7 || sh.Fields["/score"] == nil {
		t.Fatalf("shape learned from %d calls (want 7, from every instance): %+v", sh.Calls, sh.Fields)
	}
	time.Sleep(time.Until(sh.Until))
	for i, in := range ins {
		form(in, fmt.Sprintf("s%d@acme.com", i), "high")
		post(ins[(i+1)%3], "/crm/leads", fmt.Sprintf(`{"email":"s%d@acme.com"}`, i))
	}
	waitFor("the drift", 10*time.Second, func() bool {
		cliJSON(ins[0], &sh, "drift", "--route", "form")
		return len(sh.Changes) == 1 && sh.Changes[0].Calls == 3
	})
	if sh.Changes[0].Pointer != "/score" || sh.Changes[0].Kind != drift.TypeChanged {
		t.Errorf("change %+v", sh.Changes[0])
	}
	if got := findings(ins[1], "schema.drift"); len(got) != 1 {
		t.Errorf("calls with schema.drift: %v, want one", got)
	}

	// The instance running journeys stops: another takes over, and judges the next leads.
	leader.stop()
	var rest []*instance
	for _, in := range ins {
		if in != leader {
			rest = append(rest, in)
		}
	}
	next := runner(rest, "journeys")
	var other *instance
	for _, in := range rest {
		if in != next {
			other = in
		}
	}
	form(other, "late@acme.com", 1)
	form(next, "after@acme.com", 2)
	post(other, "/crm/leads", `{"email":"after@acme.com"}`)
	waitFor("the late lead", 15*time.Second, func() bool { return len(stuckOn(other)) == 2 })
	if got := stuckOn(next); !slices.Equal(got, []string{"lost@acme.com", "late@acme.com"}) {
		t.Errorf("after the takeover, stuck %v", got)
	}
	time.Sleep(time.Second)
	if n := journeyNotices(); n != 2 {
		t.Errorf("the owner got %d journey notices, want 2 (one per lost lead)", n)
	}

	// Forget on the instance that does not run journeys: gone from every instance's journeys
	// and from the database, and not saved again by the one running them.
	if out, err := other.cli(t, env, "forget", "--record", "LATE@acme.com"); err != nil {
		t.Fatalf("forget: %v\n%s", err, out)
	}
	for _, in := range rest {
		if got := stuckOn(in); !slices.Equal(got, []string{"lost@acme.com"}) {
			t.Errorf("after forget, stuck %v", got)
		}
	}
	conn, err := pgx.Connect(context.Background(), dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(context.Background())
	time.Sleep(time.Second)
	var n int
	if err := conn.QueryRow(context.Background(), `SELECT count(*) FROM journeys WHERE position('late@acme.com'::bytea in body) > 0 OR position('late@acme.com'::bytea in key) > 0`).Scan(&n); err != nil || n != 0 {
		t.Errorf("journeys rows holding the forgotten record: %d (%v)", n, err)
	}
	if err := conn.QueryRow(context.Background(), `SELECT count(*) FROM journey_forgets`).Scan(&n); err != nil || n != 0 {
		t.Errorf("notes of forgotten records left: %d (%v)", n, err)
	}
}
