package main

import (
	"encoding/json"
	"fmt"
	"io"
	"math"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/mtguard/mtguard/inspect"
	"github.com/mtguard/mtguard/store"
	"github.com/mtguard/mtguard/txn"
)

// flakyVendor fails every call while down, and always refuses bad@acme.com.
type flakyVendor struct {
	down atomic.Bool
	mu   sync.Mutex
	got  int
}

func (v *flakyVendor) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	b, _ := io.ReadAll(r.Body)
	v.mu.Lock()
	v.got++
	v.mu.Unlock()
	if v.down.Load() || strings.Contains(string(b), "bad@acme.com") {
		w.WriteHeader(http.StatusServiceUnavailable)
		io.WriteString(w, `{"error":"service unavailable"}`)
		return
	}
	io.WriteString(w, `{"ok":true}`)
}

const postmortemE2EConfig = `
listen: 127.0.0.1:0
admin:
  listen: 127.0.0.1:0
alerts:
  sinks:
    - {name: hook, type: webhook, url: %s}
routes:
  - name: crm
    prefix: /crm
    upstream: %s
    owner: ops@example.com
    record_keys: [email]
    alerts:
      error_rate: off
      consecutive_failures: {count: 3}
`

// TestPostmortemEndToEnd: a vendor behind the real server fails for a while (12 calls, time
// compressed to 40 ms between calls), the consecutive_failures alert fires and reaches the
// webhook, it is acknowledged with mtguard alerts ack, the vendor recovers and the alert
// resolves, the failed calls are replayed with mtguard replay and all but one are delivered.
// mtguard postmortem --format json then gives, field by field, the counts, the timeline in
// order and the times to detect, acknowledge and recover, computed from the recorded calls
// and the alert.
func TestPostmortemEndToEnd(t *testing.T) {
	vendor := &flakyVendor{}
	vendor.down.Store(true)
	vsrv := httptest.NewServer(vendor)
	defer vsrv.Close()
	hook := &hookRecorder{}
	hsrv := httptest.NewServer(hook)
	defer hsrv.Close()
	in := startMtguard(t, fmt.Sprintf(postmortemE2EConfig, hsrv.URL, vsrv.URL), nil)

	send := func(email string) {
		t.Helper()
		resp, err := http.Post(in.proxy+"/crm/v1/leads", "application/json", strings.NewReader(`{"email":"`+email+`"}`))
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
	}
	firingID := func() string {
		t.Helper()
		deadline := time.Now().Add(5 * time.Second)
		for time.Now().Before(deadline) {
			out, _ := in.cli(t, nil, "alerts", "--json")
			var list []store.Alert
			json.Unmarshal([]byte(out), &list)
			// Acknowledge only once the sink took the fired notification, as a person would
			// (who acknowledges what they were told): otherwise, on a busy machine, the ack can
			// come before the sink's answer is recorded and the timeline's order is the race's.
			if len(list) == 1 && len(list[0].Deliveries) > 0 && list[0].Deliveries[0].Result == store.NotifyDelivered {
				return list[0].ID
			}
			time.Sleep(10 * time.Millisecond)
		}
		t.Fatal("no alert fired")
		return ""
	}
	var alertID string
	for i := range 12 {
		email := fmt.Sprintf("lead%d@acme.com", i)
		if i == 11 {
			email = "bad@acme.com"
		}
		send(email)
		if i == 5 {
			alertID = firingID()
			if out, err := in.cli(t, nil, "alerts", "ack", alertID, "--by", "jane@example.com", "--comment", "vendor status page: degraded"); err != nil {
				t.Fatalf("ack: %v\n%s", err, out)
			}
		}
		time.Sleep(40 * time.Millisecond)
	}
	vendor.down.Store(false)
	send("fixed@acme.com")
	deadline := time.Now().Add(5 * time.Second)
	var a store.Alert
	for time.Now().Before(deadline) {
		out, _ := in.cli(t, nil, "alerts", "--all", "--json")
		var list []store.Alert
		json.Unmarshal([]byte(out), &list)
		if len(list) == 1 && list[0].State == store.AlertResolved && len(list[0].Deliveries) == 3 {
			a = list[0]
			break
		}
		time.Sleep(10 * time.Millisecond)
	}
	if a.ID != alertID {
		t.Fatalf("the alert did not resolve with 3 notifications delivered: %+v", a)
	}
	// bad@acme.com fails again, so replay reports a failure.
	if out, err := in.cli(t, nil, "replay", "--route", "crm", "--outcome", "failed"); err == nil || !strings.Contains(out, "11 delivered, 1 failed again") {
		t.Fatalf("replay: %v\n%s", err, out)
	}

	out, err := in.cli(t, nil, "log", "--route", "crm", "--json", "--limit", "100")
	if err != nil {
		t.Fatalf("log: %v\n%s", err, out)
	}
	var page store.Page
	if err := json.Unmarshal([]byte(out), &page); err != nil {
		t.Fatalf("log --json: %v\n%s", err, out)
	}
	var first, last *txn.Transaction
	replays := map[txn.Outcome]int{}
	for i := range page.Transactions {
		tx := &page.Transactions[i]
		if tx.ReplayOf != "" {
			replays[tx.Outcome]++
			continue
		}
		if tx.Outcome == txn.OutcomeFailed {
			if first == nil || tx.Time.Before(first.Time) {
				first = tx
			}
			if last == nil || tx.Time.After(last.Time) {
				last = tx
			}
		}
	}
	if first == nil || replays[txn.OutcomeDelivered] != 11 || replays[txn.OutcomeFailed] != 1 {
		t.Fatalf("the log does not hold the incident as played: replays %v\n%s", replays, out)
	}

	out, err = in.cli(t, nil, "postmortem", alertID, "--format", "json")
	if err != nil {
		t.Fatalf("postmortem: %v\n%s", err, out)
	}
	var pm inspect.Postmortem
	if err := json.Unmarshal([]byte(out), &pm); err != nil {
		t.Fatalf("postmortem json: %v\n%s", err, out)
	}
	check := func(name string, got, want any) {
		t.Helper()
		if fmt.Sprint(got) != fmt.Sprint(want) {
			t.Errorf("%s = %v, want %v", name, got, want)
		}
	}
	near := func(name string, got *float64, want time.Duration) {
		t.Helper()
		if got == nil || math.Abs(*got-want.Seconds()) > 1e-6 {
			t.Errorf("%s = %v, want %v", name, got, want.Seconds())
		}
	}
	check("route", pm.Route, "crm")
	check("owner", pm.Owner, "ops@example.com")
	check("alerts", len(pm.Alerts), 1)
	// The incident runs from the first failure to the resolution, which the delivered call
	// brought: 12 failed calls and the one that was delivered, each with its own record.
	check("calls", pm.Summary.Calls, 13)
	check("records", pm.Summary.Records, 13)
	check("failed", pm.Summary.Failed, 12)
	check("failed records", pm.Summary.FailedRecords, 12)
	check("by outcome", pm.Summary.ByOutcome, []inspect.OutcomeCount{{Outcome: txn.OutcomeDelivered, Calls: 1, Records: 1}, {Outcome: txn.OutcomeFailed, Calls: 12, Records: 12}})
	near("to detect", pm.Times.ToDetect, a.FiredAt.Sub(first.Time))
	near("to acknowledge", pm.Times.ToAcknowledge, a.AckedAt.Sub(a.FiredAt))
	near("to recover", pm.Times.ToRecover, a.ResolvedAt.Sub(first.Time))
	if d := *pm.Times.ToAcknowledge; d <= 0 {
		t.Errorf("to acknowledge %v", d)
	}

	var events []string
	for i, e := range pm.Timeline {
		events = append(events, e.Event)
		if i > 0 && e.Time.Before(pm.Timeline[i-1].Time) {
			t.Errorf("timeline[%d] %s at %v is before %s at %v", i, e.Event, e.Time, pm.Timeline[i-1].Event, pm.Timeline[i-1].Time)
		}
		if e.Event == inspect.TimelineNotified && (e.Accepted == nil || !*e.Accepted || e.Sink != "hook") {
			t.Errorf("timeline[%d]: %+v, want accepted by hook", i, e)
		}
	}
	check("timeline", strings.Join(events, " "), "first_failure detected notified acknowledged notified last_failure fixed recovered notified replayed")
	check("first failure", pm.Timeline[0].Transaction, first.ID)
	check("detected at", pm.Timeline[1].Time.Equal(a.FiredAt), true)
	check("acknowledged at", pm.Timeline[3].Time.Equal(a.AckedAt), true)
	check("last failure", pm.Timeline[5].Transaction, last.ID)
	check("recovered at", pm.Timeline[7].Time.Equal(a.ResolvedAt), true)
	if !strings.Contains(pm.Timeline[3].Detail, "jane@example.com: vendor status page: degraded") {
		t.Errorf("acknowledgement %q", pm.Timeline[3].Detail)
	}
	check("replays", pm.Replays.Calls, 12)
	check("replays by outcome", pm.Replays.ByOutcome, []inspect.OutcomeCount{{Outcome: txn.OutcomeDelivered, Calls: 11}, {Outcome: txn.OutcomeFailed, Calls: 1}})
	check("undelivered", pm.Undelivered.Records, 1)
	check("undelivered keys", pm.Undelivered.Keys, []string{"bad@acme.com"})
	check("unknown", pm.Unknown, []string{})

	// The Markdown and HTML forms, written to files.
	dir := t.TempDir()
	for _, f := range []string{"md", "html"} {
		path := dir + "/pm." + f
		if out, err := in.cli(t, nil, "postmortem", "--route", "crm", "--since", first.Time.Add(-time.Second).Format(time.RFC3339), "--format", f, "--out", path); err != nil || !strings.Contains(out, "wrote the postmortem") {
			t.Errorf("postmortem --format %s: %v\n%s", f, err, out)
		}
	}
}
