package inspect

import (
	"context"
	"encoding/json"
	"net/http"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/mtguard/mtguard/store"
	"github.com/mtguard/mtguard/txn"
)

// TestForgetAnswer: DELETE /api/records/{key} keeps a batch call that carried others too, and
// answers with the routes and vendor hosts the person was sent to, and when.
func TestForgetAnswer(t *testing.T) {
	st, err := store.Open(filepath.Join(t.TempDir(), "mtguard.db"), store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	at := testNow.Add(-time.Hour).UTC()
	for _, keys := range [][]string{{"jane@acme.com"}, {"jane@acme.com", "raj@initech.com"}} {
		tx := &txn.Transaction{Call: txn.Call{Time: at, Route: "marketo", Method: "POST", Path: "/marketo/rest/v1/leads.json",
			UpstreamURL: "https://123-abc-456.mktorest.com/rest/v1/leads.json", RecordKeys: keys,
			Request: txn.Message{ContentType: "application/json", Body: `{"input":[{"email":"jane@acme.com"}]}`}}}
		if err := st.RecordIntent(context.Background(), tx); err != nil {
			t.Fatal(err)
		}
		tx.Result = txn.Result{Status: 500, Outcome: txn.OutcomeFailed, Findings: []txn.Finding{}}
		if err := st.RecordResult(tx); err != nil {
			t.Fatal(err)
		}
	}
	rec := serve(t, ServerConfig{Transactions: st, Eraser: st}, http.MethodDelete, "/api/records/Jane@Acme.com", nil)
	if rec.Code != http.StatusOK {
		t.Fatalf("status %d: %s", rec.Code, rec.Body)
	}
	var got struct {
		Deleted    int `json:"deleted"`
		Scrubbed   int `json:"scrubbed"`
		Recipients []struct {
			Route, Upstream string
			Calls, Sent     int
			First, Last     time.Time
		} `json:"recipients"`
	}
	if err := json.Unmarshal(rec.Body.Bytes(), &got); err != nil {
		t.Fatal(err)
	}
	if got.Deleted != 1 || got.Scrubbed != 1 || len(got.Recipients) != 1 {
		t.Fatalf("answer %s, want 1 deleted, 1 scrubbed, one recipient", rec.Body)
	}
	// The kept batch cannot be resent: it would send [ERASED] to the vendor in her place.
	page, err := st.Query(context.Background(), store.Query{RecordKey: "raj@initech.com"})
	if err != nil || len(page.Transactions) != 1 {
		t.Fatalf("raj's batch: %v, %d calls", err, len(page.Transactions))
	}
	replay := serve(t, ServerConfig{Transactions: st, Replayer: noReplayer{}}, http.MethodPost, "/api/transactions/"+page.Transactions[0].ID+"/replay", nil)
	if replay.Code < 400 || !strings.Contains(replay.Body.String(), "erased") {
		t.Errorf("replay of a scrubbed batch: %d %s", replay.Code, replay.Body)
	}
	r := got.Recipients[0]
	if r.Route != "marketo" || r.Upstream != "123-abc-456.mktorest.com" || r.Calls != 2 || r.Sent != 2 || !r.First.Equal(at) || !r.Last.Equal(at) {
		t.Errorf("recipient %+v", r)
	}
}
