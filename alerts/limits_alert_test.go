package alerts

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/mtguard/mtguard/store"
)

// TestSharedLimitsAlert: Redis stops answering: one shared_limits alert on (limits) to every
// sink, saying the mode; more failures refresh it without notifying again; Redis answers: it
// resolves. After a restart a firing one is taken over, not opened again.
func TestSharedLimitsAlert(t *testing.T) {
	clock := &fakeClock{t: nyMonday9}
	sink := &recordingSink{name: "ops-slack"}
	st := openStore(t, "")
	e := startEngine(t, Config{Now: clock.Now, Sinks: []Sink{sink}, Routes: []RouteAlerts{{Route: "crm", Rules: DefaultRules()}}}, st)
	down := errors.New("dial tcp 127.0.0.1:6379: connect: connection refused")
	e.SharedLimitsChanged("local-share", down)
	clock.Advance(time.Second)
	e.SharedLimitsChanged("local-share", down)
	e.Flush()
	if got := sink.events(); !equalEvents(got, "firing (limits) shared_limits") {
		t.Fatalf("Redis down: %v, want one shared_limits firing", got)
	}
	a := sink.last().Alert
	if a.Severity != "error" || a.Command != "mtguard limits" || !strings.Contains(a.Summary, "local-share") || !strings.Contains(a.Summary, "connection refused") {
		t.Errorf("alert %+v", a)
	}

	// A restart while it fires: the new engine takes it over.
	e.Close()
	sink2 := &recordingSink{name: "ops-slack"}
	e2 := startEngine(t, Config{Now: clock.Now, Sinks: []Sink{sink2}, Routes: []RouteAlerts{{Route: "crm", Rules: DefaultRules()}}}, st)
	if firing, _ := e2.List(store.AlertQuery{State: store.AlertFiring}); len(firing) != 1 || firing[0].ID != a.ID {
		t.Fatalf("after a restart: %+v, want %s still firing", firing, a.ID)
	}
	e2.SharedLimitsChanged("local-share", down)
	e2.SharedLimitsChanged("local-share", nil)
	e2.Flush()
	if got := sink2.events(); !equalEvents(got, "resolved (limits) shared_limits") {
		t.Fatalf("Redis back: %v, want the resolution only", got)
	}
	if r := sink2.last().Alert; r.ID != a.ID || !strings.Contains(r.Resolution, "Redis answers again") {
		t.Errorf("resolved %+v", r)
	}
}
