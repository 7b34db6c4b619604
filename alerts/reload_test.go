package alerts

import (
	"strings"
	"testing"

	"github.com/mtguard/mtguard/txn"
)

// TestReconfigureKeepsStates: a reload keeps a route's firing alert (no second notification)
// and sends what follows to the new sinks; a config the engine would refuse changes nothing.
func TestReconfigureKeepsStates(t *testing.T) {
	clock := &fakeClock{t: nyMonday9}
	old, next := &recordingSink{name: "pager"}, &recordingSink{name: "slack"}
	e := startEngine(t, Config{
		Now:    clock.Now,
		Sinks:  []Sink{old},
		Routes: []RouteAlerts{{Route: "hubspot", Owner: "jane@example.com", Rules: DefaultRules()}},
	}, nil)
	expired := func() txn.Transaction { return call("hubspot", clock.Now(), txn.OutcomeFailed, "auth.expired") }
	observe(e, expired(), expired(), expired())
	if got := old.events(); !equalEvents(got, "firing hubspot auth") {
		t.Fatalf("before the reload: %v", got)
	}
	routes := []RouteAlerts{
		{Route: "hubspot", Owner: "ops@example.com", Rules: DefaultRules()},
		{Route: "crm", Rules: DefaultRules()},
	}
	if err := e.Reconfigure([]RouteAlerts{{Route: "x", Sinks: []string{"nope"}}}, []Sink{next}); err == nil {
		t.Fatal("a route naming an unknown sink was accepted")
	}
	if err := e.Reconfigure(routes, []Sink{next}); err != nil {
		t.Fatal(err)
	}
	observe(e, expired(), expired())
	observe(e, call("hubspot", clock.Now(), txn.OutcomeDelivered))
	if got := old.events(); !equalEvents(got, "firing hubspot auth") {
		t.Fatalf("the old sink after the reload: %v", got)
	}
	if got := next.events(); !equalEvents(got, "resolved hubspot auth") {
		t.Fatalf("the new sink: %v, want the alert that was firing resolved, not fired again", got)
	}
	if a := next.last().Alert; a.Calls != 5 {
		t.Errorf("the alert counts %d calls, want 5: its count carried over", a.Calls)
	}
	if h := e.Health(); len(h.Routes) != 2 || h.Routes[1].Route != "crm" {
		t.Fatalf("routes after the reload: %+v", h.Routes)
	}
	// A route removed while its alert fires: the alert is resolved, saying why.
	observe(e, expired(), expired(), expired())
	if err := e.Reconfigure(routes[1:], nil); err != nil {
		t.Fatal(err)
	}
	e.Flush()
	if got := next.events(); !equalEvents(got, "resolved hubspot auth", "firing hubspot auth", "resolved hubspot auth") {
		t.Fatalf("after removing the route: %v", got)
	}
	if r := next.last().Alert.Resolution; !strings.Contains(r, "removed from the config") {
		t.Errorf("resolution %q", r)
	}
}
