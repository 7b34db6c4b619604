package alerts

import (
	"strings"
	"testing"
	"time"

	"github.com/mtguard/mtguard/txn"
)

// TestCallersRule: ten calls of unknown callers within ten minutes fire the callers alert
// (default rule), naming the command that lists them; they move no other rule, not even with
// nothing delivered; the alert resolves once the window holds fewer.
func TestCallersRule(t *testing.T) {
	clock := &fakeClock{t: nyMonday9}
	sink := &recordingSink{name: "hook"}
	e := startEngine(t, Config{
		Now:    clock.Now,
		Sinks:  []Sink{sink},
		Routes: []RouteAlerts{{Route: "forms", Owner: "ops@example.com", Rules: DefaultRules()}},
	}, nil)

	stranger := func() txn.Transaction {
		tx := call("forms", clock.Now(), txn.OutcomeRejected, txn.CodeCallerUnknown)
		tx.Status = 401
		return tx
	}
	for range 9 {
		observe(e, stranger())
		clock.Advance(30 * time.Second)
	}
	if got := sink.events(); len(got) != 0 {
		t.Fatalf("nine refusals: %v, want nothing yet", got)
	}
	observe(e, stranger())
	if got := sink.events(); !equalEvents(got, "firing forms callers") {
		t.Fatalf("ten refusals in ten minutes: %v", got)
	}
	a := sink.last().Alert
	if a.Calls != 10 || a.Severity != "error" || !strings.Contains(a.Summary, "10 calls matched none of the route's callers in the last 10m") {
		t.Errorf("alert %+v", a)
	}
	if want := "mtguard log --route forms --since 2026-11-30T14:00:00Z --finding caller.unknown"; a.Command != want {
		t.Errorf("command %q, want %q", a.Command, want)
	}
	observe(e, stranger()) // evidence for the open incident, no second notification
	h := e.Health()
	if len(h.Routes) != 1 || h.Routes[0].Calls != 0 || h.Routes[0].State != StateDegraded {
		t.Errorf("health %+v: a stranger's calls are not the route's traffic", h.Routes)
	}

	clock.Advance(11 * time.Minute)
	tick(e)
	if got := sink.events(); !equalEvents(got, "firing forms callers", "resolved forms callers") {
		t.Fatalf("after a quiet window: %v", got)
	}
}

// TestCallersRuleOff: with the rule off, refusals of unknown callers alert nothing: they do
// not count as the route's failed deliveries (error_rate, consecutive_failures).
func TestCallersRuleOff(t *testing.T) {
	clock := &fakeClock{t: nyMonday9}
	sink := &recordingSink{name: "hook"}
	rules := DefaultRules()
	rules.Callers = nil
	e := startEngine(t, Config{Now: clock.Now, Sinks: []Sink{sink}, Routes: []RouteAlerts{{Route: "forms", Rules: rules}}}, nil)
	for range 30 {
		observe(e, call("forms", clock.Now(), txn.OutcomeRejected, txn.CodeCallerUnknown))
	}
	tick(e)
	if got := sink.events(); len(got) != 0 {
		t.Fatalf("%v", got)
	}
}
