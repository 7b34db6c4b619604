package alerts

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/mtguard/mtguard/store"
	"github.com/mtguard/mtguard/txn"
)

// TestErrorRateKeepsStateBelowMinCalls (issue 18, item 7): once the window holds fewer calls
// than min_calls the rule has no verdict, so a firing error-rate alert stays firing while the
// calls that still arrive fail; only a full window under the threshold resolves it.
func TestErrorRateKeepsStateBelowMinCalls(t *testing.T) {
	clock := &fakeClock{t: nyMonday9}
	sink := &recordingSink{name: "ops-slack"}
	e := startEngine(t, Config{
		Now:    clock.Now,
		Sinks:  []Sink{sink},
		Routes: []RouteAlerts{{Route: "crm", Owner: "ops@example.com", Rules: Rules{ErrorRate: &ErrorRateRule{Above: 0.1, Per: 10 * time.Minute, MinCalls: 20}}}},
	}, nil)
	for i := range 20 {
		observe(e, call("crm", clock.Now().Add(time.Duration(i)*time.Second), txn.OutcomeFailed))
	}
	if got := sink.events(); !equalEvents(got, "firing crm error_rate") {
		t.Fatalf("20 failures: %v, want one firing", got)
	}
	// The volume drops: one failing call per window. 1 of 1 failed is no reason to resolve.
	for range 3 {
		clock.Advance(11 * time.Minute)
		observe(e, call("crm", clock.Now(), txn.OutcomeFailed))
		tick(e)
	}
	// Nothing at all for an hour: unknown too.
	clock.Advance(time.Hour)
	tick(e)
	if got := sink.events(); !equalEvents(got, "firing crm error_rate") {
		t.Fatalf("too few calls: %v, want the alert still firing (no resolution)", got)
	}
	// A window with enough calls, all delivered, resolves it.
	for i := range 20 {
		observe(e, call("crm", clock.Now().Add(time.Duration(i)*time.Second), txn.OutcomeDelivered))
	}
	if got := sink.events(); !equalEvents(got, "firing crm error_rate", "resolved crm error_rate") {
		t.Fatalf("20 deliveries: %v, want firing then resolved", got)
	}
	if r := sink.last().Alert.Resolution; r != "0 of 20 calls failed in the last 10m (0%, threshold 10%)" {
		t.Errorf("resolution %q", r)
	}
}

// TestConsecutiveFailuresLowVolume (issue 18, item 7): a form that sends 5 leads an hour, every
// one failing, never reaches the error-rate rule's min_calls; the default rules still alert
// after 5 failed deliveries in a row, and the next delivery resolves it.
func TestConsecutiveFailuresLowVolume(t *testing.T) {
	clock := &fakeClock{t: nyMonday9}
	sink := &recordingSink{name: "ops-slack"}
	e := startEngine(t, Config{
		Now:    clock.Now,
		Sinks:  []Sink{sink},
		Routes: []RouteAlerts{{Route: "webform", Owner: "ops@example.com", Rules: DefaultRules()}},
	}, nil)
	observe(e, call("webform", clock.Now(), txn.OutcomeDelivered))
	for i := range 4 {
		clock.Advance(12 * time.Minute)
		outcome := txn.OutcomeFailed
		if i == 2 {
			outcome = txn.OutcomeThrottled // held back by mtguard: says nothing about the vendor
		}
		observe(e, call("webform", clock.Now(), outcome))
		tick(e)
	}
	if got := sink.events(); len(got) != 0 {
		t.Fatalf("3 failures in a row: %v, want nothing yet", got)
	}
	for range 2 {
		clock.Advance(12 * time.Minute)
		observe(e, call("webform", clock.Now(), txn.OutcomeUnreachable))
		tick(e)
	}
	if got := sink.events(); !equalEvents(got, "firing webform consecutive_failures") {
		t.Fatalf("5 failed deliveries in a row: %v, want one consecutive_failures firing", got)
	}
	a := sink.last().Alert
	if a.Calls != 5 || a.Severity != "error" || !a.Since.Equal(nyMonday9.Add(12*time.Minute)) {
		t.Errorf("alert %+v", a)
	}
	if want := "5 calls in a row were not delivered (last: unreachable); no delivery since 2026-11-30 14:00 UTC"; a.Summary != want {
		t.Errorf("summary %q\nwant    %q", a.Summary, want)
	}
	if h := e.Health(); h.Routes[0].State != StateFailing {
		t.Errorf("health %+v", h.Routes[0])
	}
	clock.Advance(12 * time.Minute)
	observe(e, call("webform", clock.Now(), txn.OutcomeFailed))
	clock.Advance(12 * time.Minute)
	observe(e, call("webform", clock.Now(), txn.OutcomeDelivered))
	if got := sink.events(); !equalEvents(got, "firing webform consecutive_failures", "resolved webform consecutive_failures") {
		t.Fatalf("after a delivery: %v", got)
	}
	if r := sink.last().Alert; r.Calls != 6 || r.Resolution != "a call was delivered again" {
		t.Errorf("resolved alert %+v", r)
	}
}

// TestConsecutiveFailuresLeavesBusyRoutesToErrorRate: on a route busy enough for the error-rate
// rule to judge, a short run of failures among many deliveries is no incident, and an outage is
// one error_rate alert, not two.
func TestConsecutiveFailuresLeavesBusyRoutesToErrorRate(t *testing.T) {
	clock := &fakeClock{t: nyMonday9}
	sink := &recordingSink{name: "ops-slack"}
	e := startEngine(t, Config{
		Now:    clock.Now,
		Sinks:  []Sink{sink},
		Routes: []RouteAlerts{{Route: "crm", Owner: "ops@example.com", Rules: DefaultRules()}},
	}, nil)
	at := clock.Now()
	for range 100 {
		e.Observe(call("crm", at, txn.OutcomeDelivered))
		at = at.Add(time.Second)
	}
	for range 6 {
		e.Observe(call("crm", at, txn.OutcomeFailed))
		at = at.Add(time.Second)
	}
	clock.Set(at)
	e.Flush()
	if got := sink.events(); len(got) != 0 {
		t.Fatalf("6 failures among 100 deliveries: %v, want nothing", got)
	}
	for range 20 {
		e.Observe(call("crm", at, txn.OutcomeFailed))
		at = at.Add(time.Second)
	}
	clock.Set(at)
	e.Flush()
	if got := sink.events(); !equalEvents(got, "firing crm error_rate") {
		t.Fatalf("an outage: %v, want only error_rate", got)
	}
}

// TestRetiredEndpointAlertsAtOnce (issue 18, item 8): one call to a retired endpoint raises an
// alert at once, whatever the deprecation rule's horizon.
func TestRetiredEndpointAlertsAtOnce(t *testing.T) {
	clock := &fakeClock{t: nyMonday9}
	sink := &recordingSink{name: "ops-slack"}
	e := startEngine(t, Config{
		Now:    clock.Now,
		Sinks:  []Sink{sink},
		Routes: []RouteAlerts{{Route: "hubspot", Owner: "ops@example.com", Rules: DefaultRules()}},
	}, nil)
	tx := call("hubspot", clock.Now(), txn.OutcomeFailed)
	tx.Status = 404
	sunset := time.Date(2026, 9, 30, 0, 0, 0, 0, time.UTC)
	tx.Findings = []txn.Finding{{Code: txn.CodeEndpointRetired, Severity: txn.SeverityError,
		Message: "contacts-v1: the vendor answered 404 Not Found for version v1; the version is retired; move to v3.",
		Sunset:  &sunset, Replacement: "v3"}}
	observe(e, tx)
	if got := sink.events(); !equalEvents(got, "firing hubspot retired") {
		t.Fatalf("a call to a retired endpoint: %v, want one retired firing", got)
	}
	a := sink.last().Alert
	if a.Severity != "error" || a.Calls != 1 || !strings.Contains(a.Summary, "retired") || !strings.Contains(a.Summary, "v3") {
		t.Errorf("alert %+v", a)
	}
	observe(e, tx)
	clock.Advance(25 * time.Hour)
	tick(e)
	if got := sink.events(); !equalEvents(got, "firing hubspot retired", "resolved hubspot retired") {
		t.Fatalf("after a quiet day: %v", got)
	}
}

// TestDeprecationHorizonAndNotice (issue 18, item 8): the default horizon is 90 days, and the
// first sight of a deprecated version on a route sends one notice, however far its sunset.
func TestDeprecationHorizonAndNotice(t *testing.T) {
	clock := &fakeClock{t: nyMonday9}
	sink := &recordingSink{name: "ops-slack"}
	e := startEngine(t, Config{
		Now:    clock.Now,
		Sinks:  []Sink{sink},
		Routes: []RouteAlerts{{Route: "sfdc", Owner: "ops@example.com", Rules: DefaultRules()}},
	}, nil)
	deprecated := func(version string, sunset time.Time) txn.Transaction {
		tx := call("sfdc", clock.Now(), txn.OutcomeDelivered)
		tx.Findings = []txn.Finding{{Code: txn.CodeEndpointDeprecated, Severity: txn.SeverityWarn,
			Message: "sfdc-api: version " + version + " is deprecated", Detail: "https://example.com/sfdc/" + version,
			Sunset: &sunset, Replacement: "v60.0"}}
		return tx
	}
	far := time.Date(2027, 6, 1, 0, 0, 0, 0, time.UTC) // half a year away
	observe(e, deprecated("v50.0", far))
	if got := sink.events(); !equalEvents(got, "notice sfdc deprecation") {
		t.Fatalf("first sight of a deprecated version: %v, want one notice", got)
	}
	n := sink.last()
	if !strings.Contains(n.Alert.Summary, "v50.0") || !strings.Contains(n.Alert.Summary, "2027-06-01") || !strings.Contains(n.Alert.Summary, "v60.0") {
		t.Errorf("notice %q", n.Alert.Summary)
	}
	if !strings.Contains(SlackText(n), "Notice") {
		t.Errorf("Slack text:\n%s", SlackText(n))
	}
	// The same version again, even after a quiet week: no second notice.
	observe(e, deprecated("v50.0", far))
	clock.Advance(7 * 24 * time.Hour)
	tick(e)
	observe(e, deprecated("v50.0", far))
	if got := sink.events(); len(got) != 1 {
		t.Fatalf("the same version again: %v, want still one notice", got)
	}
	if firing, _ := e.List(store.AlertQuery{State: store.AlertFiring}); len(firing) != 0 {
		t.Fatalf("a notice is no incident: %+v", firing)
	}
	// A sunset 60 days away is inside the default 90-day horizon: the alert fires.
	observe(e, deprecated("v55.0", clock.Now().Add(60*24*time.Hour)))
	if got := sink.events(); !equalEvents(got, "notice sfdc deprecation", "firing sfdc deprecation") {
		t.Fatalf("a sunset in 60 days: %v, want the notice then one firing", got)
	}
}

// TestDeprecationNoticeSurvivesRestart: a version the log's calls already used gets no second
// notice after a restart, even when those calls are older than the rebuilt window.
func TestDeprecationNoticeSurvivesRestart(t *testing.T) {
	clock := &fakeClock{t: nyMonday9}
	st := openStore(t, "")
	sunset := time.Date(2027, 6, 1, 0, 0, 0, 0, time.UTC)
	deprecated := func() txn.Transaction {
		tx := call("sfdc", clock.Now(), txn.OutcomeDelivered)
		tx.Findings = []txn.Finding{{Code: txn.CodeEndpointDeprecated, Severity: txn.SeverityWarn,
			Message: "sfdc-api: version v50.0 is deprecated", Detail: "https://example.com/sfdc", Sunset: &sunset, Replacement: "v60.0"}}
		return tx
	}
	old := deprecated()
	old.ID = ""
	old.Time = clock.Now().Add(-3 * 24 * time.Hour)
	if err := st.RecordIntent(context.Background(), &old); err != nil {
		t.Fatal(err)
	}
	if err := st.RecordResult(&old); err != nil {
		t.Fatal(err)
	}
	if err := st.Sync(context.Background()); err != nil {
		t.Fatal(err)
	}
	sink := &recordingSink{name: "ops-slack"}
	e := startEngine(t, Config{Now: clock.Now, Sinks: []Sink{sink},
		Routes: []RouteAlerts{{Route: "sfdc", Owner: "ops@example.com", Rules: DefaultRules()}}}, st)
	observe(e, deprecated())
	if got := sink.events(); len(got) != 0 {
		t.Fatalf("a version the log already had: %v, want no notice", got)
	}
}
