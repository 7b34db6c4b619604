package inspect

import (
	"context"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/mtguard/mtguard/store"
	"github.com/mtguard/mtguard/txn"
)

// TestListByCaller: GET /api/transactions?caller=NAME, through the client, over a real store,
// lists only the calls that authenticated as that caller.
func TestListByCaller(t *testing.T) {
	st, err := store.Open(filepath.Join(t.TempDir(), "mtguard.db"), store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	ctx := context.Background()
	for i, caller := range []string{"typeform", "", "site", "typeform"} {
		tx := &txn.Transaction{Call: txn.Call{Time: testNow.Add(time.Duration(i-10) * time.Minute), Route: "forms", Method: "POST", Path: "/forms/hook", Caller: caller, RecordKeys: []string{}}}
		if err := st.RecordIntent(ctx, tx); err != nil {
			t.Fatal(err)
		}
		tx.Result = txn.Result{Status: 200, Outcome: txn.OutcomeDelivered, Findings: []txn.Finding{}}
		if err := st.RecordResult(tx); err != nil {
			t.Fatal(err)
		}
	}
	srv := startServer(t, ServerConfig{Transactions: st})
	c := &Client{BaseURL: srv.URL}
	page, err := c.List(ctx, store.Query{Caller: "typeform"})
	if err != nil {
		t.Fatal(err)
	}
	if len(page.Transactions) != 2 {
		t.Fatalf("caller=typeform listed %d calls, want 2: %+v", len(page.Transactions), page.Transactions)
	}
	for _, tx := range page.Transactions {
		if tx.Caller != "typeform" {
			t.Errorf("listed a call of caller %q", tx.Caller)
		}
	}
	rec := serve(t, ServerConfig{Transactions: st}, "GET", "/api/transactions?caller=site", nil)
	if body := rec.Body.String(); rec.Code != 200 || !strings.Contains(body, `"caller":"site"`) || strings.Contains(body, `"caller":"typeform"`) {
		t.Fatalf("GET ?caller=site: %d %s", rec.Code, rec.Body)
	}
}
