package store

import (
	"context"
	"testing"
	"time"

	"github.com/mtguard/mtguard/txn"
)

// TestQueryCaller: the caller a call authenticated as is stored with it and filters a query,
// alone and with an index.
func TestQueryCaller(t *testing.T) {
	s := mustOpen(t, "", Options{})
	ctx := context.Background()
	base := time.Date(2026, 11, 28, 10, 0, 0, 0, time.UTC)
	callers := []string{"typeform", "site", "", "typeform"}
	var ids []string
	for i, c := range callers {
		tx := &txn.Transaction{Call: txn.Call{Time: base.Add(time.Duration(i) * time.Minute), Route: "forms", Method: "POST", Path: "/forms", Caller: c, RecordKeys: []string{}}}
		if err := s.RecordIntent(ctx, tx); err != nil {
			t.Fatal(err)
		}
		tx.Result = txn.Result{Status: 200, Outcome: txn.OutcomeDelivered, Findings: []txn.Finding{}}
		if err := s.RecordResult(tx); err != nil {
			t.Fatal(err)
		}
		ids = append(ids, tx.ID)
	}
	if err := s.readBarrier(ctx); err != nil {
		t.Fatal(err)
	}
	for _, q := range []Query{{Caller: "typeform", Ascending: true}, {Caller: "typeform", Route: "forms", Ascending: true}} {
		page, err := s.Query(ctx, q)
		if err != nil {
			t.Fatal(err)
		}
		if len(page.Transactions) != 2 || page.Transactions[0].ID != ids[0] || page.Transactions[1].ID != ids[3] {
			t.Fatalf("query %+v: got %+v", q, page.Transactions)
		}
		for _, tx := range page.Transactions {
			if tx.Caller != "typeform" {
				t.Errorf("stored caller = %q", tx.Caller)
			}
		}
	}
	if page, _ := s.Query(ctx, Query{Caller: "nobody"}); len(page.Transactions) != 0 {
		t.Fatalf("unknown caller matched %d calls", len(page.Transactions))
	}
}
