package alerts

import (
	"context"
	"testing"
	"time"

	"github.com/mtguard/mtguard/store"
	"github.com/mtguard/mtguard/txn"
)

// TestLeaderFollower: two engines on one history, as two instances on one PostgreSQL log. Both
// see failing calls; only the leader notifies. The follower lists the leader's alert from the
// history. When the follower becomes leader it takes the firing alert over (no second firing)
// and resolves it once; the old leader, now following, sends nothing.
func TestLeaderFollower(t *testing.T) {
	clock := &fakeClock{t: nyMonday9}
	st := openStore(t, "")
	routes := []RouteAlerts{{Route: "crm", Owner: "ops@example.com", Rules: DefaultRules()}}
	leadSink, followSink := &recordingSink{name: "hook"}, &recordingSink{name: "hook"}
	leader := startEngine(t, Config{Now: clock.Now, Sinks: []Sink{leadSink}, Routes: routes}, st)
	follower, err := New(Config{Now: clock.Now, Sinks: []Sink{followSink}, Routes: routes, Tick: time.Hour,
		Retry: RetryPolicy{Attempts: 3, Backoff: time.Millisecond, MaxBackoff: 5 * time.Millisecond}})
	if err != nil {
		t.Fatal(err)
	}
	follower.Follow()
	follower.Start(context.Background(), st)
	t.Cleanup(follower.Close)
	if follower.Leading() || !leader.Leading() {
		t.Fatal("Follow: the follower leads, or the leader does not")
	}

	for i := range 30 {
		at := clock.Now().Add(time.Duration(i) * time.Second)
		leader.Observe(call("crm", at, txn.OutcomeFailed))
		follower.Observe(call("crm", at, txn.OutcomeFailed))
	}
	clock.Advance(30 * time.Second)
	leader.Flush()
	follower.Flush()
	tick(leader)
	tick(follower)
	if got := leadSink.events(); !equalEvents(got, "firing crm error_rate") {
		t.Fatalf("leader sent %v, want one firing", got)
	}
	if got := followSink.events(); len(got) != 0 {
		t.Fatalf("follower sent %v, want nothing", got)
	}
	firing, err := follower.List(store.AlertQuery{State: store.AlertFiring})
	if err != nil || len(firing) != 1 || firing[0].ID != leadSink.last().Alert.ID {
		t.Fatalf("follower lists %+v (%v), want the leader's alert", firing, err)
	}

	// Acknowledged (and silenced) on the follower: the leader takes it in and tells the sinks.
	id := leadSink.last().Alert.ID
	if _, err := follower.Acknowledge(id, Ack{By: "jane@example.com", Silence: time.Hour}); err != nil {
		t.Fatal(err)
	}
	if err := leader.SyncShared(); err != nil {
		t.Fatal(err)
	}
	leader.Flush()
	if got := leadSink.events(); !equalEvents(got, "firing crm error_rate", "acknowledged crm error_rate") {
		t.Fatalf("after an ack on the follower the leader sent %v", got)
	}
	if a, err := leader.Alert(id); err != nil || a.AckedBy != "jane@example.com" || !a.SilencedUntil.After(clock.Now()) {
		t.Fatalf("the leader's alert %+v (%v), want acknowledged and silenced", a, err)
	}
	if err := leader.SyncShared(); err != nil {
		t.Fatal(err)
	}
	leader.Flush()
	if got := leadSink.events(); len(got) != 2 {
		t.Fatalf("a second sync notified again: %v", got)
	}

	// The leader goes (its lease ran out); the follower takes over.
	if !leader.SetLeading(context.Background(), false) || leader.Leading() {
		t.Fatal("SetLeading(false) did not end leading")
	}
	if !follower.SetLeading(context.Background(), true) || !follower.Leading() {
		t.Fatal("SetLeading(true) did not make the follower lead")
	}
	if follower.SetLeading(context.Background(), true) {
		t.Error("SetLeading(true) twice reports a change")
	}
	follower.Flush()
	if got := followSink.events(); len(got) != 0 {
		t.Fatalf("the new leader sent %v: the incident was already open", got)
	}
	if live, _ := leader.List(store.AlertQuery{State: store.AlertFiring}); len(live) != 1 {
		t.Errorf("the old leader lists %d firing alerts from the history, want 1", len(live))
	}

	// The route works again: the new leader resolves the incident, the old one stays quiet.
	clock.Advance(11 * time.Minute)
	for i := range 20 {
		at := clock.Now().Add(time.Duration(i) * time.Second)
		leader.Observe(call("crm", at, txn.OutcomeDelivered))
		follower.Observe(call("crm", at, txn.OutcomeDelivered))
	}
	clock.Advance(20 * time.Second)
	leader.Flush()
	follower.Flush()
	tick(leader)
	tick(follower)
	if got := followSink.events(); !equalEvents(got, "resolved crm error_rate") {
		t.Fatalf("new leader sent %v, want the resolution", got)
	}
	if got := leadSink.events(); len(got) != 2 {
		t.Fatalf("old leader sent %v after leading ended", got)
	}
}
