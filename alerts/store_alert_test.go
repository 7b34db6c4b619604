package alerts

import (
	"errors"
	"io"
	"net/http/httptest"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/mtguard/mtguard/store"
)

// TestStoreWriteAlert: a failing store raises one store_write alert on no route, sent to every
// sink, shown in health and /metrics, refreshed by later failures, reminded, kept across a
// restart of the engine, and resolved when the store writes again.
func TestStoreWriteAlert(t *testing.T) {
	clock := &fakeClock{t: time.Date(2026, 12, 1, 10, 0, 0, 0, time.UTC)}
	sink := &recordingSink{name: "ops"}
	st := openStore(t, filepath.Join(t.TempDir(), "mtguard.db"))
	m := NewMetrics()
	cfg := Config{Routes: []RouteAlerts{{Route: "crm", Rules: DefaultRules()}}, Sinks: []Sink{sink}, Now: clock.Now, Metrics: m, Renotify: time.Hour}
	e := startEngine(t, cfg, st)
	if h := e.Health(); h.Store.State != StateOK {
		t.Fatalf("store state %q before any failure", h.Store.State)
	}
	full := errors.New("commit 12 writes: write mtguard.db: no space left on device")
	e.StoreWriteFailed(store.OpCommit, full)
	clock.Advance(time.Second)
	e.StoreWriteFailed(store.OpCommit, full)
	e.Flush()
	if got := sink.events(); !slices.Equal(got, []string{"firing (store) store_write"}) {
		t.Fatalf("sink got %q, want one firing store_write alert", got)
	}
	a := sink.last().Alert
	if a.Severity != "critical" || !strings.Contains(a.Summary, "no space left") || a.Command != "mtguard health" {
		t.Errorf("alert %+v", a)
	}
	h := e.Health()
	if h.Store.State != StateFailing || h.Store.Op != store.OpCommit || h.Store.Failures != 2 || !strings.Contains(h.Store.Error, "no space") {
		t.Errorf("health store %+v, want failing with the commit's error", h.Store)
	}
	if len(h.Routes) != 1 || h.Routes[0].State != StateOK {
		t.Errorf("a route took the store's failure: %+v", h.Routes)
	}
	rec := httptest.NewRecorder()
	m.Handler().ServeHTTP(rec, httptest.NewRequest("GET", "/metrics", nil))
	body, _ := io.ReadAll(rec.Body)
	if !strings.Contains(string(body), `mtguard_alerts_firing{kind="store_write",route="(store)"} 1`) {
		t.Errorf("metrics lack the firing store alert:\n%s", body)
	}

	clock.Advance(61 * time.Minute)
	e.Tick()
	e.Flush()
	if got := sink.events(); len(got) != 2 || got[1] != "reminder (store) store_write" {
		t.Fatalf("sink got %q, want a reminder after an hour", got)
	}

	// A restart while it fires keeps the incident instead of resolving it as unconfigured.
	e.Close()
	cfg.Metrics = NewMetrics()
	e2 := startEngine(t, cfg, st)
	e2.Flush()
	if got := sink.events(); len(got) != 2 {
		t.Fatalf("restart sent %q", got[2:])
	}
	e2.StoreWriteRecovered()
	e2.Flush()
	if got := sink.events(); len(got) != 3 || got[2] != "resolved (store) store_write" {
		t.Fatalf("sink got %q, want the alert resolved", got)
	}
	if h := e2.Health(); h.Store.State != StateOK {
		t.Errorf("store state %+v after recovery", h.Store)
	}
}

// TestStoreMetrics: the store's failed writes, held writes and health are in /metrics.
func TestStoreMetrics(t *testing.T) {
	m := NewMetrics()
	failing := errors.New("journal failing")
	m.Watch(MetricsConfig{
		StoreWriteFailures: func() store.WriteFailures { return store.WriteFailures{Journal: 2, Commit: 5} },
		StoreHeldWrites:    func() int64 { return 360 },
		StoreHealthy:       func() error { return failing },
	})
	rec := httptest.NewRecorder()
	m.Handler().ServeHTTP(rec, httptest.NewRequest("GET", "/metrics", nil))
	body := rec.Body.String()
	for _, want := range []string{
		`mtguard_store_write_failures_total{op="commit"} 5`,
		`mtguard_store_write_failures_total{op="journal"} 2`,
		`mtguard_store_write_failures_total{op="segment"} 0`,
		`mtguard_store_held_writes 360`,
		`mtguard_store_healthy 0`,
	} {
		if !strings.Contains(body, want) {
			t.Errorf("metrics lack %s", want)
		}
	}
}
