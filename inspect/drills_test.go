package inspect

import (
	"context"
	"errors"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/mtguard/mtguard/store"
)

// fakeFaults is the proxy's side of drills: which faults are on.
type fakeFaults struct {
	mu sync.Mutex
	on map[string]string // id -> route
}

func (f *fakeFaults) StartFault(d store.Drill) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if d.Route == "precious" {
		return errors.New("route precious has drills: false in the config")
	}
	f.on[d.ID] = d.Route
	return nil
}

func (f *fakeFaults) StopFault(id string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	delete(f.on, id)
}

func (f *fakeFaults) count() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return len(f.on)
}

// fakeTimers holds the timers a test fires by hand.
type fakeTimers struct {
	mu   sync.Mutex
	fns  []func()
	durs []time.Duration
}

func (ft *fakeTimers) AfterFunc(d time.Duration, f func()) func() bool {
	ft.mu.Lock()
	defer ft.mu.Unlock()
	ft.fns = append(ft.fns, f)
	ft.durs = append(ft.durs, d)
	return func() bool { return true }
}

// TestDrillEndsItselfAndRestartEndsIt: a drill ends at its time with a report; one left running
// by a previous run is ended at the next start, as of its end time, by "restart".
func TestDrillEndsItselfAndRestartEndsIt(t *testing.T) {
	clock := &testClock{t: nyMonday9}
	st, err := store.Open(filepath.Join(t.TempDir(), "mtguard.db"), store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	faults := &fakeFaults{on: map[string]string{}}
	timers := &fakeTimers{}
	m := NewDrillManager(DrillConfig{Store: st, Faults: faults, Transactions: st, Now: clock.Now, AfterFunc: timers.AfterFunc})
	ctx := context.Background()

	if _, err := m.Start(ctx, DrillRequest{Route: "precious", Fault: "down"}); err == nil || !errors.Is(err, errDrillRefused) {
		t.Errorf("drills: false route: %v", err)
	}
	if _, err := m.Start(ctx, DrillRequest{Route: "crm", Fault: "down", Expect: "whenever"}); err == nil {
		t.Error("a malformed expectation was accepted")
	}
	d, err := m.Start(ctx, DrillRequest{Route: "crm", Fault: "down", For: 3 * time.Minute, Expect: "alert within 1m", By: "ops"})
	if err != nil {
		t.Fatal(err)
	}
	if faults.count() != 1 || len(timers.fns) != 1 || timers.durs[0] != 3*time.Minute || !d.EndsAt.Equal(nyMonday9.Add(3*time.Minute)) {
		t.Fatalf("started %+v; faults %d, timers %v", d, faults.count(), timers.durs)
	}
	clock.set(nyMonday9.Add(3 * time.Minute))
	timers.fns[0]()
	got, err := m.Get(ctx, d.ID)
	if err != nil {
		t.Fatal(err)
	}
	if faults.count() != 0 || got.State != store.DrillEnded || got.EndedBy != "time" || got.Report == nil ||
		got.Report.Pass == nil || *got.Report.Pass || got.Report.Verdict != "FAIL: no alert fired within 1m" {
		t.Fatalf("after its time: faults %d, drill %+v report %+v", faults.count(), got, got.Report)
	}

	// A drill left running (the process died): the next start ends it as of its end time.
	left := store.Drill{ID: "drill-20261130T141000Z-crm", Route: "crm", Fault: "status:503", Share: 1,
		StartedAt: nyMonday9.Add(10 * time.Minute), EndsAt: nyMonday9.Add(20 * time.Minute), State: store.DrillRunning}
	if err := st.PutDrill(left); err != nil {
		t.Fatal(err)
	}
	clock.set(nyMonday9.Add(2 * time.Hour))
	m2 := NewDrillManager(DrillConfig{Store: st, Faults: faults, Now: clock.Now, AfterFunc: timers.AfterFunc})
	ended, err := m2.Recover(ctx)
	if err != nil || len(ended) != 1 {
		t.Fatalf("recover: %v %+v", err, ended)
	}
	if e := ended[0]; e.ID != left.ID || e.State != store.DrillEnded || e.EndedBy != "restart" || !e.EndedAt.Equal(left.EndsAt) || e.Report == nil {
		t.Errorf("recovered %+v", e)
	}
	if running, _ := st.Drills(store.DrillRunning, 0); len(running) != 0 {
		t.Errorf("still running after recover: %+v", running)
	}
}
