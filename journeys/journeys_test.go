package journeys

import (
	"context"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/mtguard/mtguard/schemas"
	"github.com/mtguard/mtguard/store"
	"github.com/mtguard/mtguard/txn"
)

// clock is a test clock moved by hand.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) now() time.Time      { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *clock) add(d time.Duration) { c.mu.Lock(); c.t = c.t.Add(d); c.mu.Unlock() }

func paths(t *testing.T, ps ...string) []schemas.KeyPath {
	t.Helper()
	out, err := schemas.ParseKeyPaths(ps)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// harness is a real store with an engine on it; restart closes both and opens them again
// on the same file.
type harness struct {
	t     *testing.T
	path  string
	st    *store.Store
	e     *Engine
	clk   *clock
	lost  []Lost
	lmu   sync.Mutex
	js    []Journey
	calls int
}

func newHarness(t *testing.T) *harness {
	h := &harness{t: t, path: filepath.Join(t.TempDir(), "mtguard.db"), clk: &clock{t: time.Date(2026, 12, 1, 9, 0, 0, 0, time.UTC)}}
	h.js = []Journey{{Name: "webinar-lead", Key: "email", Steps: []string{"form", "mkto", "crm"}, Within: 30 * time.Minute, Owner: "revops@example.com",
		Paths:    [][]schemas.KeyPath{paths(t, "email"), paths(t, "input[].email"), paths(t, "Email")},
		AllPaths: []bool{true, false, true}}}
	h.open()
	t.Cleanup(h.close)
	return h
}

func (h *harness) open() {
	var err error
	if h.st, err = store.Open(h.path, store.Options{}); err != nil {
		h.t.Fatal(err)
	}
	h.e, err = New(Config{Journeys: h.js, Now: h.clk.now, Tick: time.Hour, OnLost: func(l Lost) {
		h.lmu.Lock()
		h.lost = append(h.lost, l)
		h.lmu.Unlock()
	}})
	if err != nil {
		h.t.Fatal(err)
	}
	if err := h.e.Start(h.st); err != nil {
		h.t.Fatal(err)
	}
}

func (h *harness) close() {
	if h.st == nil {
		return
	}
	h.e.Close()
	h.st.Close()
	h.st = nil
}

// call records a call as the pipeline would and hands it to the engine as the store does.
func (h *harness) call(route, body string, keys []string, outcome txn.Outcome, records ...txn.RecordResult) string {
	h.t.Helper()
	h.calls++
	h.clk.add(time.Second)
	tx := txn.Transaction{Call: txn.Call{ID: h.st.NewID(h.clk.now()), Time: h.clk.now(), Route: route, Method: "POST", Path: "/x", RecordKeys: keys,
		Request: txn.Message{ContentType: "application/json", Body: body}}}
	ctx := context.Background()
	if err := h.st.RecordIntent(ctx, &tx); err != nil {
		h.t.Fatal(err)
	}
	tx.Result = txn.Result{Status: 200, Outcome: outcome, DurationMS: 20, Findings: []txn.Finding{}, Records: records}
	if err := h.st.RecordResult(&tx); err != nil {
		h.t.Fatal(err)
	}
	if err := h.st.Sync(ctx); err != nil {
		h.t.Fatal(err)
	}
	h.e.Observe(tx)
	return tx.ID
}

func (h *harness) inStore() []string {
	var keys []string
	h.st.LoadJourneys(func(k string, _ []byte) error {
		if k != markKey {
			keys = append(keys, strings.ReplaceAll(k, "\x00", "/"))
		}
		return nil
	})
	return keys
}

// TestJourneysSurviveRestartAndFlagLost: records in flight are kept in the store (and only
// they), survive a restart, and once within has passed the last call of each gets
// journey.lost_in_transit and the owner is told once, with the keys and where each stopped.
func TestJourneysSurviveRestartAndFlagLost(t *testing.T) {
	h := newHarness(t)
	ctx := context.Background()
	// a arrives; b is dropped after mkto; c fails inside a partial batch at mkto; d is seen at
	// mkto first (the form's call ends later), then arrives.
	h.call("form", `{"email":"a@acme.com"}`, []string{"a@acme.com"}, txn.OutcomeDelivered)
	h.call("mkto", `{"input":[{"email":"A@acme.com","id":"7"}]}`, []string{"a@acme.com", "7"}, txn.OutcomeDelivered)
	h.call("crm", `{"Email":"a@acme.com"}`, []string{"a@acme.com"}, txn.OutcomeDelivered)
	h.call("form", `{"email":"b@acme.com"}`, []string{"b@acme.com"}, txn.OutcomeDelivered)
	bLast := h.call("mkto", `{"input":[{"email":"b@acme.com","id":"8"}]}`, []string{"b@acme.com", "8"}, txn.OutcomeDelivered)
	h.call("form", `{"email":"c@acme.com"}`, []string{"c@acme.com"}, txn.OutcomeDelivered)
	cLast := h.call("mkto", `{"input":[{"email":"c@acme.com"},{"email":"e@acme.com"}]}`, []string{"c@acme.com", "e@acme.com"}, txn.OutcomePartial,
		txn.RecordResult{Index: 0, Key: "c@acme.com", OK: false, Reason: "invalid"}, txn.RecordResult{Index: 1, Key: "e@acme.com", OK: true})
	h.call("mkto", `{"input":[{"email":"d@acme.com"}]}`, []string{"d@acme.com"}, txn.OutcomeDelivered)
	h.call("form", `{"email":"d@acme.com"}`, []string{"d@acme.com"}, txn.OutcomeDelivered)
	h.call("crm", `{"Email":"d@acme.com"}`, []string{"d@acme.com"}, txn.OutcomeDelivered)
	h.e.Flush()

	// e was never on the form: waiting in memory, not in transit, not stored.
	if got, want := h.inStore(), []string{"webinar-lead/b@acme.com", "webinar-lead/c@acme.com"}; !slices.Equal(got, want) {
		t.Fatalf("in the store: %v, want %v", got, want)
	}
	if got := h.e.InTransit(""); len(got) != 2 || got[0].Key != "b@acme.com" || got[1].Key != "c@acme.com" {
		t.Fatalf("in transit: %+v", got)
	}

	h.close()
	h.open()
	h.clk.add(29 * time.Minute)
	h.e.Tick()
	if s := h.e.Stuck(""); len(s) != 0 {
		t.Fatalf("stuck before within: %+v", s)
	}
	h.clk.add(time.Minute)
	h.e.Tick()
	h.e.Tick() // a second evaluation tells nobody again
	stuck := h.e.Stuck("webinar-lead")
	if len(stuck) != 2 || stuck[0].Stopped != "after mkto: never reached crm" || stuck[1].Stopped != "at mkto (partial)" {
		t.Fatalf("stuck: %+v", stuck)
	}
	if len(h.lost) != 1 || h.lost[0].Owner != "revops@example.com" || !slices.Equal(h.lost[0].Keys, []string{"b@acme.com", "c@acme.com"}) {
		t.Fatalf("told: %+v", h.lost)
	}
	for _, id := range []string{bLast, cLast} {
		tx, err := h.st.Get(ctx, id)
		if err != nil {
			t.Fatal(err)
		}
		if !slices.ContainsFunc(tx.Findings, func(f txn.Finding) bool { return f.Code == txn.CodeJourneyLostInTransit }) {
			t.Errorf("call %s findings %+v", id, tx.Findings)
		}
	}
	p, err := h.st.Query(ctx, store.Query{Finding: txn.CodeJourneyLostInTransit})
	if err != nil || len(p.Transactions) != 2 {
		t.Errorf("log --finding: %d calls, %v", len(p.Transactions), err)
	}
	if got := h.inStore(); len(got) != 2 {
		t.Errorf("in the store after the time ran out: %v", got)
	}

	// journey KEY: arrived ones from the log, lost ones from the state.
	for _, tt := range []struct{ key, state, stopped string }{
		{"A@Acme.com", StateArrived, "arrived at crm"},
		{"d@acme.com", StateArrived, "arrived at crm"},
		{"b@acme.com", StateLost, "after mkto: never reached crm"},
	} {
		rs, err := h.e.Lookup(ctx, tt.key)
		if err != nil || len(rs) != 1 || rs[0].State != tt.state || rs[0].Stopped != tt.stopped {
			t.Errorf("Lookup(%s) = %+v, %v; want %s, %s", tt.key, rs, err, tt.state, tt.stopped)
		}
	}
	if rs, err := h.e.Lookup(ctx, "nobody@acme.com"); err != nil || len(rs) != 0 {
		t.Errorf("Lookup(nobody) = %+v, %v", rs, err)
	}

	// A lost record that arrives late leaves the list.
	h.call("crm", `{"Email":"b@acme.com"}`, []string{"b@acme.com"}, txn.OutcomeDelivered)
	h.e.Flush()
	if s := h.e.Stuck(""); len(s) != 1 || s[0].Key != "c@acme.com" {
		t.Errorf("stuck after b arrived: %+v", s)
	}

	// Forget (the right to erasure) drops the record from memory and from the store.
	if err := h.e.Forget("C@acme.com"); err != nil {
		t.Fatal(err)
	}
	if s := h.e.Stuck(""); len(s) != 0 {
		t.Errorf("stuck after forget: %+v", s)
	}
	if got := h.inStore(); len(got) != 0 {
		t.Errorf("in the store after forget: %v", got)
	}
}

// TestJourneysCatchUpAfterACrash: calls the store committed but the engine never handled (the
// process died between the two) are caught up with from the log at the next start, once: the
// same calls arriving again through Observe are not counted twice, and a record that arrived
// meanwhile is not followed again.
func TestJourneysCatchUpAfterACrash(t *testing.T) {
	h := newHarness(t)
	h.call("form", `{"email":"a@acme.com"}`, []string{"a@acme.com"}, txn.OutcomeDelivered)
	h.e.Flush()
	if got := h.e.InTransit(""); len(got) != 1 {
		t.Fatalf("in transit: %+v", got)
	}
	// Recorded, never handed to the engine: what a crash leaves.
	unseen := func(route, body, key string) txn.Transaction {
		h.clk.add(time.Second)
		tx := txn.Transaction{Call: txn.Call{ID: h.st.NewID(h.clk.now()), Time: h.clk.now(), Route: route, Method: "POST", Path: "/x", RecordKeys: []string{key},
			Request: txn.Message{ContentType: "application/json", Body: body}},
			Result: txn.Result{Status: 200, Outcome: txn.OutcomeDelivered, DurationMS: 20, Findings: []txn.Finding{}}}
		if err := h.st.RecordIntent(context.Background(), &tx); err != nil {
			t.Fatal(err)
		}
		if err := h.st.RecordResult(&tx); err != nil {
			t.Fatal(err)
		}
		return tx
	}
	m := unseen("mkto", `{"input":[{"email":"a@acme.com"}]}`, "a@acme.com")
	c := unseen("crm", `{"Email":"a@acme.com"}`, "a@acme.com")
	f := unseen("form", `{"email":"b@acme.com"}`, "b@acme.com")
	h.close()
	h.open()
	if got := h.e.InTransit(""); len(got) != 1 || got[0].Key != "b@acme.com" {
		t.Fatalf("in transit after catching up: %+v", got)
	}
	// The store hands the same calls over again (they were committed, not yet fed): no effect.
	for _, tx := range []txn.Transaction{m, c, f} {
		h.e.Observe(tx)
	}
	h.e.Flush()
	got := h.e.InTransit("")
	if len(got) != 1 || got[0].Key != "b@acme.com" || got[0].Steps[0].Calls != 1 {
		t.Errorf("in transit after the same calls again: %+v", got)
	}
}

// TestTakeAndLoad: calls handed to Take (a feed that waits rather than drop) move records as
// Observe's do, probes and other routes aside; an engine that was only loaded shows what the
// running one saved; Keys lists the records held, and Forget drops one from memory and store.
func TestTakeAndLoad(t *testing.T) {
	h := newHarness(t)
	mk := func(route, body string, keys []string, kind string) txn.Transaction {
		h.clk.add(time.Second)
		return txn.Transaction{Call: txn.Call{ID: h.st.NewID(h.clk.now()), Time: h.clk.now(), Route: route, Kind: kind, RecordKeys: keys,
			Request: txn.Message{ContentType: "application/json", Body: body}},
			Result: txn.Result{Status: 200, Outcome: txn.OutcomeDelivered, Findings: []txn.Finding{}}}
	}
	h.e.Take([]txn.Transaction{
		mk("form", `{"email":"a@acme.com"}`, []string{"a@acme.com"}, ""),
		mk("form", `{"email":"b@acme.com"}`, []string{"b@acme.com"}, ""),
		mk("form", `{"email":"p@acme.com"}`, []string{"p@acme.com"}, txn.KindProbe),
		mk("other", `{"email":"o@acme.com"}`, []string{"o@acme.com"}, ""),
		mk("crm", `{"Email":"b@acme.com"}`, []string{"b@acme.com"}, ""),
	})
	if got := h.e.Keys(); !slices.Equal(got, []string{"a@acme.com"}) {
		t.Fatalf("held after Take: %v, want a only (b arrived; the probe and the other route are not steps)", got)
	}
	if got := h.inStore(); !slices.Equal(got, []string{"webinar-lead/a@acme.com"}) {
		t.Fatalf("saved by Take: %v", got)
	}
	view, err := New(Config{Journeys: h.js, Now: h.clk.now, Buffer: 1})
	if err != nil {
		t.Fatal(err)
	}
	if err := view.Load(h.st); err != nil {
		t.Fatal(err)
	}
	if got := view.InTransit(""); len(got) != 1 || got[0].Key != "a@acme.com" || got[0].Stopped != "after form: never reached mkto" {
		t.Fatalf("a loaded engine shows in transit %+v", got)
	}
	if err := h.e.Forget("A@acme.com"); err != nil {
		t.Fatal(err)
	}
	if got, stored := h.e.Keys(), h.inStore(); len(got) != 0 || len(stored) != 0 {
		t.Fatalf("after Forget: held %v, stored %v", got, stored)
	}
}
