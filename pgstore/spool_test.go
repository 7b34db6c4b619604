package pgstore_test

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/mtguard/mtguard/pgstore"
	"github.com/mtguard/mtguard/pgstore/pgtest"
	"github.com/mtguard/mtguard/store"
	"github.com/mtguard/mtguard/store/storetest"
	"github.com/mtguard/mtguard/txn"
)

// openSpooled opens the log of schema through gate, with its spool at path; onResult, if
// given, hears of every result.
func openSpooled(t *testing.T, gate *pgtest.Gate, schema, path string, onResult ...func(txn.Transaction)) *pgstore.Spooled {
	t.Helper()
	opts := pgstore.Options{Schema: schema, Migrate: true}
	for _, f := range onResult {
		opts.OnResult = f
	}
	s, err := pgstore.OpenSpooled(context.Background(), gate.DSN(), opts,
		path, pgstore.SpoolOptions{Wait: time.Second, Retry: 200 * time.Millisecond})
	if err != nil {
		t.Fatalf("open spooled: %v", err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

func spoolCall(i int) *txn.Transaction {
	return &txn.Transaction{Call: txn.Call{Time: time.Now(), Route: "crm", Method: "POST", Path: "/leads",
		RecordKeys: []string{fmt.Sprintf("lead%d@spool.test", i)}}}
}

func delivered(tx *txn.Transaction) {
	tx.Result = txn.Result{Status: 200, Outcome: txn.OutcomeDelivered, Findings: []txn.Finding{}}
}

// allCalls reads every call of route crm, and fails on a call stored twice or without its
// request.
func allCalls(t *testing.T, st store.Log) map[string]txn.Transaction {
	t.Helper()
	out := map[string]txn.Transaction{}
	q := store.Query{Route: "crm", Limit: 1000}
	for {
		page, err := st.Query(context.Background(), q)
		if err != nil {
			t.Fatal(err)
		}
		for _, tx := range page.Transactions {
			if _, dup := out[tx.ID]; dup {
				t.Errorf("%s is in the log twice", tx.ID)
			}
			if len(tx.RecordKeys) != 1 || tx.Method != "POST" {
				t.Errorf("%s lost its request: %+v", tx.ID, tx.Call)
			}
			out[tx.ID] = tx
		}
		if page.Next == "" {
			return out
		}
		q.Cursor = page.Next
	}
}

func waitDrained(t *testing.T, s *pgstore.Spooled) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for s.Healthy() != nil || s.SpoolLen() > 0 {
		if time.Now().After(deadline) {
			t.Fatalf("the spool is not emptied 20s after PostgreSQL came back: %d left, %v", s.SpoolLen(), s.Healthy())
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// TestSpoolWhilePostgresIsAway: while PostgreSQL does not answer, writes go to the spool and
// Healthy says so; once it answers, the spool is emptied into it and every call is there
// once, with its request and outcome, including one whose result came after the return. The
// alerts (OnResult) hear of each result once: while spooled, not again when it is moved.
func TestSpoolWhilePostgresIsAway(t *testing.T) {
	schema := freshSchema(t)
	gate := pgtest.NewGate(t, testDSN())
	var mu sync.Mutex
	observed := map[string]int{}
	s := openSpooled(t, gate, schema, filepath.Join(t.TempDir(), "spool.db"), func(tx txn.Transaction) {
		mu.Lock()
		observed[tx.ID]++
		mu.Unlock()
	})
	ctx := context.Background()
	var ids []string
	record := func(i int, withResult bool) *txn.Transaction {
		t.Helper()
		tx := spoolCall(i)
		if err := s.RecordIntent(ctx, tx); err != nil {
			t.Fatalf("intent %d: %v", i, err)
		}
		ids = append(ids, tx.ID)
		if withResult {
			delivered(tx)
			if err := s.RecordResult(tx); err != nil {
				t.Fatalf("result %d: %v", i, err)
			}
		}
		return tx
	}
	record(0, true)
	if err := s.Sync(ctx); err != nil || s.SpoolLen() != 0 {
		t.Fatalf("before the cut: sync %v, %d spooled", err, s.SpoolLen())
	}

	gate.Cut()
	for i := 1; i <= 20; i++ {
		record(i, true)
	}
	inFlight := record(21, false)
	if err := s.Sync(ctx); err != nil {
		t.Errorf("Sync while spooling: %v (the spool is durable)", err)
	}
	if err := s.Healthy(); !errors.Is(err, pgstore.ErrSpooling) {
		t.Fatalf("Healthy while PostgreSQL is away = %v, want ErrSpooling", err)
	}
	if n := s.SpoolLen(); n < 41 {
		t.Fatalf("%d writes in the spool, want at least 41 (21 intents, 20 results)", n)
	}
	if _, err := s.Forget(ctx, "lead1@spool.test"); !errors.Is(err, pgstore.ErrSpooling) {
		t.Errorf("Forget while calls wait in the spool = %v, want ErrSpooling (they would come back)", err)
	}

	mu.Lock()
	if n := len(observed); n != 21 {
		t.Errorf("OnResult heard of %d results while PostgreSQL was away, want 21", n)
	}
	mu.Unlock()

	gate.Restore()
	waitDrained(t, s)
	delivered(inFlight)
	if err := s.RecordResult(inFlight); err != nil {
		t.Fatal(err)
	}
	if err := s.Sync(ctx); err != nil {
		t.Fatal(err)
	}
	got := allCalls(t, s)
	if len(got) != len(ids) {
		t.Errorf("%d calls in PostgreSQL, want %d", len(got), len(ids))
	}
	mu.Lock()
	defer mu.Unlock()
	for _, id := range ids {
		if tx, ok := got[id]; !ok || tx.Outcome != txn.OutcomeDelivered {
			t.Errorf("%s: in the log %v, outcome %q; want delivered", id, ok, tx.Outcome)
		}
		if observed[id] != 1 {
			t.Errorf("%s: OnResult heard of it %d times, want once", id, observed[id])
		}
	}
}

// TestSpoolSurvivesADeath: calls spooled by a process that dies while PostgreSQL is away are
// in PostgreSQL after the next start, each once: finished ones with their outcome, the one in
// flight interrupted (outcome.unknown), one with a provisional result given it
// (outcome.unchecked), as after a crash on bbolt.
func TestSpoolSurvivesADeath(t *testing.T) {
	schema := freshSchema(t)
	gate := pgtest.NewGate(t, testDSN())
	path := filepath.Join(t.TempDir(), "spool.db")
	s := openSpooled(t, gate, schema, path)
	ctx := context.Background()

	gate.Cut()
	done, inFlight, answered := spoolCall(1), spoolCall(2), spoolCall(3)
	for _, tx := range []*txn.Transaction{done, inFlight, answered} {
		if err := s.RecordIntent(ctx, tx); err != nil {
			t.Fatal(err)
		}
	}
	delivered(done)
	if err := s.RecordResult(done); err != nil {
		t.Fatal(err)
	}
	prov := txn.Result{Status: 201, Outcome: txn.OutcomeDelivered, Findings: []txn.Finding{}}
	if err := s.RecordProvisional(ctx, answered, prov); err != nil {
		t.Fatal(err)
	}
	pgstore.CrashSpooled(s)

	gate.Restore()
	s2 := openSpooled(t, gate, schema, path)
	if n := s2.Recovered(); n != 2 {
		t.Errorf("Recovered() = %d, want 2 (the call in flight and the answered one)", n)
	}
	if n := s2.SpoolLen(); n != 0 {
		t.Errorf("%d writes left in the spool after the start", n)
	}
	got := allCalls(t, s2)
	tests := []struct {
		name    string
		tx      *txn.Transaction
		outcome txn.Outcome
		code    string
	}{
		{"finished", done, txn.OutcomeDelivered, ""},
		{"in flight", inFlight, txn.OutcomeInterrupted, txn.CodeOutcomeUnknown},
		{"answered, not finished", answered, txn.OutcomeDelivered, txn.CodeOutcomeUnchecked},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tx, ok := got[tt.tx.ID]
			if !ok {
				t.Fatalf("%s is not in PostgreSQL", tt.tx.ID)
			}
			if tx.Outcome != tt.outcome {
				t.Errorf("outcome %q, want %q", tx.Outcome, tt.outcome)
			}
			var last string
			if n := len(tx.Findings); n > 0 {
				last = tx.Findings[n-1].Code
			}
			if last != tt.code {
				t.Errorf("last finding %q, want %q", last, tt.code)
			}
		})
	}
	if len(got) != 3 {
		t.Errorf("%d calls in PostgreSQL, want 3", len(got))
	}
}

// TestSpoolIsOneInstance: a second instance pointed at the same spool is refused, naming
// the key to change.
func TestSpoolIsOneInstance(t *testing.T) {
	schema := freshSchema(t)
	gate := pgtest.NewGate(t, testDSN())
	path := filepath.Join(t.TempDir(), "spool.db")
	openSpooled(t, gate, schema, path)
	_, err := pgstore.OpenSpooled(context.Background(), gate.DSN(), pgstore.Options{Schema: schema}, path, pgstore.SpoolOptions{})
	if !errors.Is(err, pgstore.ErrSpoolBusy) {
		t.Fatalf("second open = %v, want ErrSpoolBusy", err)
	}
}

// TestSpooledContract runs the backends' shared suite against the spooled log.
func TestSpooledContract(t *testing.T) {
	freshSchema(t)
	gate := pgtest.NewGate(t, testDSN())
	storetest.Run(t, func(t *testing.T) store.Log {
		return openSpooled(t, gate, freshSchema(t), filepath.Join(t.TempDir(), "spool.db"))
	})
}

// TestSpoolSetsAsideWhatPostgresRefuses: a call PostgreSQL cannot store (a NUL byte in a
// record key) is set aside while the calls around it are moved, so it does not block the spool.
func TestSpoolSetsAsideWhatPostgresRefuses(t *testing.T) {
	schema := freshSchema(t)
	gate := pgtest.NewGate(t, testDSN())
	s := openSpooled(t, gate, schema, filepath.Join(t.TempDir(), "spool.db"))
	ctx := context.Background()
	gate.Cut()
	var good []string
	for i := range 3 {
		tx := spoolCall(i)
		if i == 1 {
			tx.RecordKeys = []string{"nul\x00@spool.test"}
		}
		if err := s.RecordIntent(ctx, tx); err != nil {
			t.Fatal(err)
		}
		delivered(tx)
		if err := s.RecordResult(tx); err != nil {
			t.Fatal(err)
		}
		if i != 1 {
			good = append(good, tx.ID)
		}
	}
	gate.Restore()
	waitDrained(t, s)
	if n := s.Refused(); n != 1 {
		t.Errorf("Refused() = %d, want 1", n)
	}
	got := allCalls(t, s)
	if len(got) != 2 {
		t.Errorf("%d calls in PostgreSQL, want the 2 it can store", len(got))
	}
	for _, id := range good {
		if _, ok := got[id]; !ok {
			t.Errorf("%s, spooled beside the refused call, is not in PostgreSQL", id)
		}
	}
}
