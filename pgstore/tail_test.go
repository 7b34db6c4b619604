package pgstore_test

import (
	"context"
	"errors"
	"slices"
	"testing"
	"time"

	"github.com/mtguard/mtguard/pgstore"
	"github.com/mtguard/mtguard/store"
	"github.com/mtguard/mtguard/txn"
)

func callOn(t *testing.T, s *pgstore.Store, route string, withResult bool) *txn.Transaction {
	t.Helper()
	tx := &txn.Transaction{Call: txn.Call{Time: time.Now().UTC(), Route: route, Method: "POST", Path: "/" + route, RecordKeys: []string{"a@x.y"}}}
	if err := s.RecordIntent(context.Background(), tx); err != nil {
		t.Fatal(err)
	}
	if withResult {
		finish(t, s, tx)
	}
	return tx
}

func finish(t *testing.T, s *pgstore.Store, tx *txn.Transaction) {
	t.Helper()
	tx.Result = txn.Result{Status: 200, Outcome: txn.OutcomeDelivered, Findings: []txn.Finding{}}
	if err := s.RecordResult(tx); err != nil {
		t.Fatal(err)
	}
	if err := s.Sync(context.Background()); err != nil {
		t.Fatal(err)
	}
}

// readAll reads the feed from p to its end, a page of limit at a time.
func readAll(t *testing.T, s *pgstore.Store, p pgstore.Position, limit int) ([]string, pgstore.Position) {
	t.Helper()
	var ids []string
	for {
		f, err := s.Committed(context.Background(), p, limit)
		if err != nil {
			t.Fatal(err)
		}
		if f.Next.Less(p) {
			t.Fatalf("the feed went back from %+v to %+v", p, f.Next)
		}
		for _, tx := range f.Calls {
			ids = append(ids, tx.ID)
		}
		p = f.Next
		if !f.More {
			return ids, p
		}
	}
}

// readUntil reads the feed from p until it has n calls: a transaction running anywhere on the
// server (another test's) holds the feed back for a moment.
func readUntil(t *testing.T, s *pgstore.Store, p pgstore.Position, limit, n int) ([]string, pgstore.Position) {
	t.Helper()
	var ids []string
	deadline := time.Now().Add(5 * time.Second)
	for len(ids) < n && time.Now().Before(deadline) {
		var got []string
		got, p = readAll(t, s, p, limit)
		ids = append(ids, got...)
		time.Sleep(10 * time.Millisecond)
	}
	return ids, p
}

// caughtUp waits until CaughtUp says true, for the same reason.
func caughtUp(t *testing.T, s *pgstore.Store, pos, head pgstore.Position) bool {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for {
		ok, err := s.CaughtUp(context.Background(), pos, head)
		if err != nil {
			t.Fatal(err)
		}
		if ok || time.Now().After(deadline) {
			return ok
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// TestFeedOfCommittedCalls: the calls two instances commit are read once each, in pages,
// pending ones once their result is committed; a transaction still running holds the feed
// back (a call it commits late is not skipped), and CaughtUp says so.
func TestFeedOfCommittedCalls(t *testing.T) {
	schema := freshSchema(t)
	a, b := openPG(t, schema, pgstore.Options{Instance: "a"}), openPG(t, schema, pgstore.Options{Instance: "b"})
	ctx := context.Background()
	start, err := a.Head(ctx)
	if err != nil {
		t.Fatal(err)
	}
	var want []string
	for i := range 5 {
		s := a
		if i%2 == 1 {
			s = b
		}
		want = append(want, callOn(t, s, "crm", true).ID)
	}
	pending := callOn(t, b, "crm", false)
	got, pos := readUntil(t, a, pgstore.Position{}, 2, len(want))
	if !slices.Equal(got, want) {
		t.Fatalf("feed %v, want %v (commit order, without the pending call)", got, want)
	}
	if head, _ := a.Head(ctx); !start.Less(head) {
		t.Fatalf("head did not move: %+v then %+v", start, head)
	}

	// A transaction that started before the pending call's result holds the feed back.
	hold, err := schemaPool(t, schema).Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer hold.Rollback(ctx)
	if _, err := hold.Exec(ctx, `SELECT pg_current_xact_id()`); err != nil {
		t.Fatal(err)
	}
	finish(t, b, pending)
	head, err := a.Head(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if got, _ := readAll(t, a, pos, 10); len(got) != 0 {
		t.Fatalf("the feed went past a running transaction: %v", got)
	}
	if ok, err := a.CaughtUp(ctx, pos, head); err != nil || ok {
		t.Fatalf("caught up while a transaction runs: %v %v", ok, err)
	}
	hold.Rollback(ctx)
	got, end := readUntil(t, a, pos, 10, 1)
	if !slices.Equal(got, []string{pending.ID}) {
		t.Fatalf("after the transaction ended the feed has %v, want the late call %s", got, pending.ID)
	}
	if !caughtUp(t, a, end, head) {
		t.Fatal("not caught up at the feed's end")
	}
	if ok, _ := a.CaughtUp(ctx, pos, head); ok {
		t.Fatal("caught up before reading the late call")
	}
	// A finding added later does not feed the call again.
	if err := a.AddFinding(pending.ID, txn.NewFinding(txn.CodeSchemaDrift, "m", "/x")); err != nil {
		t.Fatal(err)
	}
	if got, _ := readAll(t, a, end, 10); len(got) != 0 {
		t.Fatalf("a finding fed the call again: %v", got)
	}
}

// TestTermFencesItsWrites: only the instance holding a job's lease writes the job's state
// through its Term; the cursor it saves is read back by any instance.
func TestTermFencesItsWrites(t *testing.T) {
	schema := freshSchema(t)
	a, b := openPG(t, schema, pgstore.Options{Instance: "a"}), openPG(t, schema, pgstore.Options{Instance: "b"})
	ctx := context.Background()
	if lead, err := a.Lead(ctx, "journeys", time.Minute); err != nil || !lead {
		t.Fatalf("a leads: %v %v", lead, err)
	}
	if lead, err := b.Lead(ctx, "journeys", time.Minute); err != nil || lead {
		t.Fatalf("b leads too: %v %v", lead, err)
	}
	key := store.JourneyKey("lead", "a@x.y")
	tests := []struct {
		name  string
		write func(pgstore.Term) error
	}{
		{"journeys", func(tm pgstore.Term) error { return tm.SaveJourneys(map[string][]byte{key: []byte("{}")}, nil) }},
		{"shapes", func(tm pgstore.Term) error { return tm.SaveShapes(map[string][]byte{"form": []byte("{}")}) }},
		{"cursor", func(tm pgstore.Term) error { return tm.SaveCursor(ctx, pgstore.Position{XID: 7, ID: "x"}) }},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if err := tc.write(b.Term("journeys")); !errors.Is(err, pgstore.ErrNotLeading) {
				t.Fatalf("b's write: %v, want ErrNotLeading", err)
			}
			if err := tc.write(a.Term("journeys")); err != nil {
				t.Fatalf("a's write: %v", err)
			}
			if err := tc.write(a.Term("drift")); !errors.Is(err, pgstore.ErrNotLeading) {
				t.Fatalf("a's write as another job's leader: %v, want ErrNotLeading", err)
			}
		})
	}
	if p, ok, err := b.FeedCursor(ctx, "journeys"); err != nil || !ok || p != (pgstore.Position{XID: 7, ID: "x"}) {
		t.Fatalf("cursor %+v %v %v", p, ok, err)
	}
	if _, ok, err := b.FeedCursor(ctx, "drift"); err != nil || ok {
		t.Fatalf("a job that never ran has a cursor: %v %v", ok, err)
	}
	// Forgetting a record leaves a note, not the key, until the leader is done with it.
	if err := b.ForgetJourneys(ctx, []string{key}, "note-1"); err != nil {
		t.Fatal(err)
	}
	n := 0
	a.LoadJourneys(func(string, []byte) error { n++; return nil })
	notes, err := a.ForgottenJourneys(ctx)
	if err != nil || n != 0 || !slices.Equal(notes, []string{"note-1"}) {
		t.Fatalf("after forget: %d records, notes %v %v", n, notes, err)
	}
	if err := a.DoneForgetting(ctx, notes); err != nil {
		t.Fatal(err)
	}
	if waiting, err := b.Forgetting(ctx, "note-1"); err != nil || waiting {
		t.Fatalf("note still waiting: %v %v", waiting, err)
	}
	if err := b.VacuumJourneys(ctx); err != nil {
		t.Fatal(err)
	}
}
