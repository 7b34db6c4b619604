package main

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/mtguard/mtguard/store"
)

const pgAlertsConfig = `
listen: 127.0.0.1:0
admin:
  listen: 127.0.0.1:0
store:
  backend: postgres
  dsn_env: MTGUARD_PG_DSN
alerts:
  sinks:
    - {name: hook, type: webhook, url: %s, secret_env: HOOK_SECRET}
routes:
  - name: crm
    prefix: /crm
    upstream: %s
    owner: ops@example.com
    alerts:
      error_rate: {above: 0%%, per: 10m, min_calls: 1}
  - name: forms
    prefix: /forms
    upstream: %s
    owner: ops@example.com
    alerts:
      error_rate: {above: 0%%, per: 10m, min_calls: 1}
`

const leadsLine = "this instance leads alert evaluation"

// TestPostgresOneAlertPerIncident: three instances on one PostgreSQL log, calls to a failing
// vendor spread over all three: one alert and one webhook notification for the incident, and
// every instance lists that one alert. The leader stops; another instance takes over within a
// lease period, does not notify the open incident again, and alone notifies the next one.
func TestPostgresOneAlertPerIncident(t *testing.T) {
	dsn := pgSchemaDSN(t)
	rec := &hookRecorder{}
	hook := httptest.NewServer(rec)
	defer hook.Close()
	vendor := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.Copy(io.Discard, r.Body)
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusInternalServerError)
		io.WriteString(w, `{"error":"database unavailable"}`)
	}))
	defer vendor.Close()
	// firings lists "route event" of every notification the webhook received.
	firings := rec.events
	waitFor := func(what string, cond func() bool, within time.Duration) {
		t.Helper()
		deadline := time.Now().Add(within)
		for !cond() {
			if time.Now().After(deadline) {
				t.Fatalf("waited %s for %s; webhook got %v", within, what, firings())
			}
			time.Sleep(20 * time.Millisecond)
		}
	}
	env := map[string]string{"MTGUARD_PG_DSN": dsn, "HOOK_SECRET": "s3cret"}
	cfg := fmt.Sprintf(pgAlertsConfig, hook.URL, vendor.URL, vendor.URL)
	ins := []*instance{startMtguard(t, cfg, env), startMtguard(t, cfg, env), startMtguard(t, cfg, env)}
	leads := func(in *instance) bool {
		return strings.Contains(in.stdout.String()+in.stderr.String(), leadsLine)
	}
	leaderOf := func(among []*instance) *instance {
		t.Helper()
		var leader *instance
		waitFor("one leader", func() bool {
			leader = nil
			for _, in := range among {
				if leads(in) {
					if leader != nil {
						t.Fatalf("two instances lead alert evaluation")
					}
					leader = in
				}
			}
			return leader != nil
		}, 2*alertLease)
		return leader
	}
	leader := leaderOf(ins)

	post := func(in *instance, route string, n int) {
		t.Helper()
		resp, err := http.Post(in.proxy+"/"+route+"/v1/leads", "application/json", strings.NewReader(fmt.Sprintf(`{"email":"jane%d@acme.com"}`, n)))
		if err != nil {
			t.Fatal(err)
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusInternalServerError {
			t.Fatalf("call %d: status %d, want the vendor's 500", n, resp.StatusCode)
		}
	}
	for i := range 9 {
		post(ins[i%3], "crm", i)
	}
	waitFor("the crm alert", func() bool { return len(firings()) >= 1 }, 10*time.Second)
	// Every instance lists the one alert: a follower that had opened its own would list it too.
	firingIDs := func(in *instance) []string {
		t.Helper()
		out, err := in.cli(t, env, "alerts", "--json")
		if err != nil {
			t.Fatalf("alerts: %v\n%s", err, out)
		}
		var list []struct {
			ID    string `json:"id"`
			Route string `json:"route"`
			State string `json:"state"`
		}
		if err := json.Unmarshal([]byte(out), &list); err != nil {
			t.Fatalf("alerts --json: %v\n%s", err, out)
		}
		var ids []string
		for _, a := range list {
			if a.State == "firing" {
				ids = append(ids, a.Route+" "+a.ID)
			}
		}
		return ids
	}
	want := firingIDs(leader)
	if len(want) != 1 || !strings.HasPrefix(want[0], "crm ") {
		t.Fatalf("the leader lists %v, want one crm alert", want)
	}
	for i, in := range ins {
		if ids := firingIDs(in); strings.Join(ids, ",") != want[0] {
			t.Errorf("instance %d lists %v, want %v", i, ids, want)
		}
	}

	var rest []*instance
	for _, in := range ins {
		if in != leader {
			rest = append(rest, in)
		}
	}
	// Acknowledged on an instance that does not lead: the leader takes it in at its next lease
	// renewal and tells the webhook.
	id := strings.TrimPrefix(want[0], "crm ")
	if out, err := rest[0].cli(t, env, "alerts", "ack", id, "--by", "jane@example.com"); err != nil {
		t.Fatalf("ack on a follower: %v\n%s", err, out)
	}
	waitFor("the acknowledgement", func() bool { return len(firings()) >= 2 }, 2*alertLease)

	// The leader stops: another instance leads within a lease period.
	leader.stop()
	next := leaderOf(rest)
	for i := range 6 {
		post(rest[i%2], "forms", i)
	}
	waitFor("the forms alert", func() bool { return len(firings()) >= 3 }, 10*time.Second)
	for _, in := range rest {
		ids := firingIDs(in)
		if len(ids) != 2 || ids[len(ids)-1] != want[0] && ids[0] != want[0] {
			t.Errorf("after the takeover an instance lists %v, want the crm alert %s and a forms alert", ids, want[0])
		}
	}
	// One more crm call on each: the new leader knows the crm incident is open.
	for i, in := range rest {
		post(in, "crm", 100+i)
	}
	if _, err := next.cli(t, env, "log", "--limit", "1"); err != nil {
		t.Fatal(err)
	}
	if f := firings(); strings.Join(f, ",") != "crm firing,crm acknowledged,forms firing" {
		t.Fatalf("webhook got %v, want one firing per incident", f)
	}
}

// TestPostgresAlertsFailoverAfterKill9: three instances (the real binary) on one PostgreSQL
// log; the one leading alert evaluation is killed with SIGKILL while an incident is open, and a
// new one starts on another route meanwhile. Another instance leads within a lease period
// (the dead one's lease runs out; nothing ends it early), notifies the new incident once and
// the open one not again.
func TestPostgresAlertsFailoverAfterKill9(t *testing.T) {
	if testing.Short() {
		t.Skip("builds mtguard and kill -9s it; skipped with -short")
	}
	dsn := pgSchemaDSN(t)
	dir := t.TempDir()
	bin := buildMtguard(t, dir)
	rec := &hookRecorder{}
	hook := httptest.NewServer(rec)
	defer hook.Close()
	// notified lists "route event" of every notification the webhook received.
	notified := func() string { return strings.Join(rec.events(), ",") }
	vendor := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.Copy(io.Discard, r.Body)
		w.WriteHeader(http.StatusInternalServerError)
	}))
	defer vendor.Close()
	// Both routes alert on their first failure.
	const rule = "alerts: {error_rate: {above: 0%, per: 10m, min_calls: 1}}"
	opt := pgProcOptions{
		// The crm route's keys, then a second route, forms, on the same vendor.
		route: "owner: ops@example.com, " + rule + "}\n  - {name: forms, prefix: /forms, upstream: " + vendor.URL + ", owner: ops@example.com, " + rule,
		extra: fmt.Sprintf("alerts:\n  sinks:\n    - {name: hook, type: webhook, url: %s, secret_env: HOOK_SECRET}\n", hook.URL),
		env:   []string{"HOOK_SECRET=s3cret"},
	}
	var ins []*pgProc
	for _, name := range []string{"a", "b", "c"} {
		ins = append(ins, startPGProc(t, bin, dir, name, vendor.URL, dsn, opt))
	}
	leading := func(among []*pgProc) []*pgProc {
		var out []*pgProc
		for _, p := range among {
			if log, _ := os.ReadFile(p.stderr); strings.Contains(string(log), leadsLine) {
				out = append(out, p)
			}
		}
		return out
	}
	waitFor := func(what string, cond func() bool, within time.Duration) time.Duration {
		t.Helper()
		start := time.Now()
		for !cond() {
			if time.Since(start) > within {
				t.Fatalf("waited %s for %s; webhook got %q", within, what, notified())
			}
			time.Sleep(20 * time.Millisecond)
		}
		return time.Since(start)
	}
	waitFor("a leader", func() bool { return len(leading(ins)) == 1 }, 2*alertLease)
	leader := leading(ins)[0]
	post := func(p *pgProc, route string, n int) {
		t.Helper()
		resp, err := http.Post("http://"+p.data+"/"+route+"/v1/leads", "application/json", strings.NewReader(fmt.Sprintf(`{"email":"jane%d@acme.com"}`, n)))
		if err != nil {
			t.Fatal(err)
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
	}
	for i := range 6 {
		post(ins[i%3], "crm", i)
	}
	waitFor("the crm alert", func() bool { return notified() == "crm firing" }, 10*time.Second)

	leader.kill()
	var rest []*pgProc
	for _, p := range ins {
		if p != leader {
			rest = append(rest, p)
		}
	}
	for i := range 4 {
		post(rest[i%2], "forms", i) // a new incident while nobody leads
	}
	took := waitFor("a new leader", func() bool { return len(leading(rest)) == 1 }, alertLease+alertLease/3+5*time.Second)
	t.Logf("another instance leads %s after the kill (lease %s)", took.Round(100*time.Millisecond), alertLease)
	waitFor("the forms alert", func() bool { return strings.Count(notified(), "forms firing") == 1 }, 10*time.Second)
	// More failures of both: the open incidents are not notified again.
	for i, p := range rest {
		post(p, "crm", 100+i)
		post(p, "forms", 100+i)
	}
	time.Sleep(alertLease / 3) // one renewal: a second leader would have notified by now
	if got := notified(); got != "crm firing,forms firing" {
		t.Fatalf("webhook got %q, want one notification per incident", got)
	}
}

// TestPostgresUndeliveredNotifications: with the PostgreSQL log, the leader's notification
// attempts are shared: alerts --json on the other instance shows the alert with the
// notification the revoked webhook refused.
func TestPostgresUndeliveredNotifications(t *testing.T) {
	dsn := pgSchemaDSN(t)
	hook := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { io.Copy(io.Discard, r.Body) }))
	defer hook.Close()
	revoked := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(http.StatusGone)
		io.WriteString(w, "this webhook was deleted")
	}))
	defer revoked.Close()
	env := map[string]string{"MTGUARD_PG_DSN": dsn}
	cfg := fmt.Sprintf(notifyE2EConfig, hook.URL, revoked.URL) + "store:\n  backend: postgres\n  dsn_env: MTGUARD_PG_DSN\n"
	a, b := startMtguard(t, cfg, env), startMtguard(t, cfg, env)
	for _, in := range []*instance{a, b} {
		resp, err := http.Post(in.proxy+"/legacy/v1/leads", "application/json", strings.NewReader(`{"email":"jane@acme.com"}`))
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
	}
	for _, in := range []*instance{a, b} {
		list := pollAlerts(t, in, env, 10*time.Second, func(list []store.Alert) bool { return len(list) == 1 && len(list[0].Deliveries) == 2 })
		if len(list) != 1 || list[0].Undelivered != 1 || len(list[0].Deliveries) != 2 {
			t.Fatalf("alerts: %+v, want one alert with one of two notifications undelivered", list)
		}
		for _, d := range list[0].Deliveries {
			if d.Sink == "revoked" && (d.Result != store.NotifyFailed || d.Status != 410) {
				t.Errorf("revoked sink's notification %+v, want failed with 410", d)
			}
		}
	}
}
