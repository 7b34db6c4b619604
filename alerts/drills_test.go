package alerts

import (
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/mtguard/mtguard/txn"
)

// TestSilenceDrill: while a silence drill runs, the route's deliveries (its calls carry the
// drill's id) are hidden from the silence rule, which fires after its window as it would for a
// real silence, and reaches the sink; the calls are still counted by health, never by the
// metrics. Once the drill ends, deliveries count again and the alert resolves.
func TestSilenceDrill(t *testing.T) {
	clock := &fakeClock{t: nyMonday9}
	sink := &recordingSink{name: "hook"}
	m := NewMetrics()
	e := startEngine(t, Config{
		Now: clock.Now, Sinks: []Sink{sink}, Metrics: m,
		Routes: []RouteAlerts{{Route: "forms", Owner: "web@example.com", Rules: Rules{Silence: &SilenceRule{Min: 1, Per: 10 * time.Minute}}}},
	}, openStore(t, ""))
	observe(e, call("forms", clock.Now(), txn.OutcomeDelivered))
	e.HideFromSilence("drill-1")
	drilled := func() txn.Transaction {
		tx := call("forms", clock.Now(), txn.OutcomeDelivered)
		tx.Drill = "drill-1"
		return tx
	}
	for range 11 { // a delivery every minute, all of them the drill's
		clock.Advance(time.Minute)
		observe(e, drilled())
		tick(e)
	}
	if got := sink.events(); !equalEvents(got, "firing forms silence") {
		t.Fatalf("11 minutes of drilled deliveries: %v, want the silence alert", got)
	}
	if a := sink.last().Alert; !a.FiredAt.Equal(nyMonday9.Add(10 * time.Minute)) {
		t.Errorf("fired at %v, want 10 minutes after the last real delivery", a.FiredAt)
	}
	if h := e.Health(); h.Routes[0].Calls != 12 {
		t.Errorf("health counts %d calls, want 12", h.Routes[0].Calls)
	}
	rec := httptest.NewRecorder()
	m.Handler().ServeHTTP(rec, httptest.NewRequest("GET", "/metrics", nil))
	if want := `mtguard_calls_total{outcome="delivered",route="forms"} 1` + "\n"; !strings.Contains(rec.Body.String(), want) {
		t.Errorf("metrics lack %q: only the real call counts", want)
	}
	e.ShowToSilence("drill-1")
	clock.Advance(time.Minute)
	observe(e, call("forms", clock.Now(), txn.OutcomeDelivered))
	tick(e)
	if got := sink.events(); !equalEvents(got, "firing forms silence", "resolved forms silence") {
		t.Fatalf("after the drill: %v", got)
	}
}
