package store

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/mtguard/mtguard/txn"
	bolt "go.etcd.io/bbolt"
)

// TestForgetScrubsSharedCalls: forgetting one person deletes the calls that carried only her,
// and keeps the batch calls she shared with others, her values replaced by [ERASED] in their
// stored bodies (JSON and forms), record keys and per-record results, so that the others'
// evidence survives. The report says which routes and vendors received her, and when.
func TestForgetScrubsSharedCalls(t *testing.T) {
	t.Run("clear", func(t *testing.T) { testForgetScrubsSharedCalls(t, Options{}) })
	// Encrypted, Forget finds her in sealed bodies and seals what it scrubbed.
	t.Run("encrypted", func(t *testing.T) { testForgetScrubsSharedCalls(t, Options{Keys: mustKeys(t, testKey(t, "k1"))}) })
}

func testForgetScrubsSharedCalls(t *testing.T, opts Options) {
	path := filepath.Join(t.TempDir(), "mtguard.db")
	s := mustOpen(t, path, opts)
	ctx := context.Background()
	base := time.Date(2026, 11, 28, 10, 0, 0, 0, time.UTC)
	put := func(at time.Time, route, upstream string, keys []string, req txn.Message, res txn.Result) string {
		t.Helper()
		tx := &txn.Transaction{Call: txn.Call{Time: at, Route: route, Method: "POST", Path: "/" + route + "/x", UpstreamURL: upstream, RecordKeys: keys, Request: req}}
		if err := s.RecordIntent(ctx, tx); err != nil {
			t.Fatal(err)
		}
		if res.Findings == nil {
			res.Findings = []txn.Finding{}
		}
		tx.Result = res
		if err := s.RecordResult(tx); err != nil {
			t.Fatal(err)
		}
		return tx.ID
	}
	const jane = "jane@acme.com"
	js := "application/json"
	// Hers alone: deleted. Two sent to the CRM, one refused by mtguard (never sent).
	put(base, "crm", "http://crm.example.com/v1/leads", []string{jane}, txn.Message{ContentType: js, Body: `{"email":"Jane@Acme.com"}`}, txn.Result{Status: 201, Outcome: txn.OutcomeDelivered})
	put(base.Add(3*time.Hour), "crm", "http://crm.example.com/v1/leads", []string{jane}, txn.Message{ContentType: js, Body: `{"email":"jane@acme.com"}`}, txn.Result{Status: 201, Outcome: txn.OutcomeDelivered})
	put(base.Add(4*time.Hour), "crm", "http://crm.example.com/v1/leads", []string{jane}, txn.Message{ContentType: js, Body: `{"email":"jane@acme.com","x":1}`}, txn.Result{Status: 422, Outcome: txn.OutcomeRejected})
	// A batch she shares with Raj: kept, scrubbed.
	batch := put(base.Add(time.Hour), "marketo", "https://123-abc-456.mktorest.com/rest/v1/leads.json", []string{jane, "raj@initech.com"},
		txn.Message{ContentType: js, Body: `{"action":"createOnly","input":[{"email":"Jane@Acme.com","id":"jane@acme.com"},{"email":"raj@initech.com"}]}`},
		txn.Result{Status: 200, Outcome: txn.OutcomePartial,
			Findings: []txn.Finding{{Code: "response.partial_failure", Message: "1 of 2 records failed: #0 jane@acme.com (1005 Lead already exists)"}},
			Records:  []txn.RecordResult{{Index: 0, Key: jane, OK: false, Reason: "Lead jane@acme.com already exists"}, {Index: 1, Key: "raj@initech.com", OK: true}},
			Response: txn.Message{ContentType: js, Body: `{"result":[{"status":"skipped","reasons":[{"message":"Lead Jane@acme.com already exists"}]},{"id":7,"status":"created"}]}`}})
	// A form she shares with Kim: kept, scrubbed.
	form := put(base.Add(2*time.Hour), "forms", "https://forms.example.com/submit?ref=jane%40acme.com", []string{jane, "kim@hooli.com"},
		txn.Message{ContentType: "application/x-www-form-urlencoded", Body: "email=Jane%40Acme.com&friend=kim%40hooli.com&note=hi+jane%40acme.com"},
		txn.Result{Status: 200, Outcome: txn.OutcomeDelivered})
	other := put(base.Add(5*time.Hour), "marketo", "https://123-abc-456.mktorest.com/rest/v1/leads.json", []string{"raj@initech.com"},
		txn.Message{ContentType: js, Body: `{"input":[{"email":"raj@initech.com"}]}`}, txn.Result{Status: 200, Outcome: txn.OutcomeDelivered})

	rep, err := s.Forget(ctx, jane)
	if err != nil {
		t.Fatal(err)
	}
	// Raj's and Kim's evidence is still there.
	page, err := s.Query(ctx, Query{RecordKey: "raj@initech.com"})
	if err != nil || len(page.Transactions) != 2 {
		t.Fatalf("raj has %d calls after forgetting jane (err %v), want 2: the batch they shared was deleted", len(page.Transactions), err)
	}
	if page, _ := s.Query(ctx, Query{RecordKey: "kim@hooli.com"}); len(page.Transactions) != 1 {
		t.Fatalf("kim has %d calls after forgetting jane, want 1", len(page.Transactions))
	}
	if page, _ := s.Query(ctx, Query{RecordKey: jane}); len(page.Transactions) != 0 {
		t.Errorf("jane still has %d calls", len(page.Transactions))
	}
	b, err := s.Get(ctx, batch)
	if err != nil {
		t.Fatal(err)
	}
	if want := `{"action":"createOnly","input":[{"email":"[ERASED]","id":"[ERASED]"},{"email":"raj@initech.com"}]}`; b.Request.Body != want {
		t.Errorf("batch request body:\n%s\nwant\n%s", b.Request.Body, want)
	}
	if want := `{"result":[{"status":"skipped","reasons":[{"message":"Lead [ERASED] already exists"}]},{"id":7,"status":"created"}]}`; b.Response.Body != want {
		t.Errorf("batch response body:\n%s\nwant\n%s", b.Response.Body, want)
	}
	if len(b.RecordKeys) != 1 || b.RecordKeys[0] != "raj@initech.com" || b.Records[0].Key != "[ERASED]" || b.Records[1].Key != "raj@initech.com" || b.Outcome != txn.OutcomePartial {
		t.Errorf("batch keys %v, records %+v, outcome %s", b.RecordKeys, b.Records, b.Outcome)
	}
	f, _ := s.Get(ctx, form)
	if want := "email=[ERASED]&friend=kim%40hooli.com&note=hi+[ERASED]"; f.Request.Body != want {
		t.Errorf("form body %q, want %q", f.Request.Body, want)
	}
	if o, _ := s.Get(ctx, other); o.Request.Body != `{"input":[{"email":"raj@initech.com"}]}` {
		t.Errorf("an unrelated call changed: %s", o.Request.Body)
	}
	for _, id := range []string{batch, form} {
		tx, _ := s.Get(ctx, id)
		raw, _ := json.Marshal(tx)
		if bytes.Contains(bytes.ToLower(raw), []byte("jane")) {
			t.Errorf("%s still mentions jane: %s", id, raw)
		}
	}
	checkReport(t, rep, base)
	// Not a byte of her is left on disk, the journal included.
	s.Close()
	files, _ := filepath.Glob(path + "*")
	for _, file := range files {
		raw, _ := os.ReadFile(file)
		if bytes.Contains(bytes.ToLower(raw), []byte("jane")) {
			t.Errorf("jane still in the bytes of %s", filepath.Base(file))
		}
		// Encrypted, the calls Forget rewrote are sealed again.
		if opts.Keys != nil && bytes.Contains(raw, []byte("createOnly")) {
			t.Errorf("the scrubbed batch is in clear in %s", filepath.Base(file))
		}
	}
}

func checkReport(t *testing.T, rep ForgetReport, base time.Time) {
	t.Helper()
	if rep.Deleted != 3 || rep.Scrubbed != 2 {
		t.Errorf("report: %d deleted, %d scrubbed, want 3 and 2", rep.Deleted, rep.Scrubbed)
	}
	at := func(h int) *time.Time { v := base.Add(time.Duration(h) * time.Hour); return &v }
	want := []Recipient{
		{Route: "crm", Upstream: "crm.example.com", Calls: 3, Sent: 2, First: at(0), Last: at(3)},
		{Route: "forms", Upstream: "forms.example.com", Calls: 1, Sent: 1, First: at(2), Last: at(2)},
		{Route: "marketo", Upstream: "123-abc-456.mktorest.com", Calls: 1, Sent: 1, First: at(1), Last: at(1)},
	}
	got, _ := json.Marshal(rep.Recipients)
	exp, _ := json.Marshal(want)
	if !bytes.Equal(got, exp) {
		t.Errorf("recipients\n%s\nwant\n%s", got, exp)
	}
	if strings.Contains(string(got), "jane") {
		t.Errorf("the report names her: %s", got)
	}
}

// TestForgetInFlight forgets a person whose call waits for the vendor: its provisional result
// and result, arriving afterwards, are not written (Forget leaves no copy), and the calls of
// others are untouched.
func TestForgetInFlight(t *testing.T) {
	s := mustOpen(t, filepath.Join(t.TempDir(), "mtguard.db"), Options{})
	ctx := context.Background()
	call := func(key string) *txn.Transaction {
		tx := &txn.Transaction{Call: txn.Call{Time: time.Now(), Route: "crm", Method: "POST", Path: "/crm/leads", RecordKeys: []string{key},
			Request: txn.Message{ContentType: "application/json", Body: `{"email":"` + key + `"}`}}}
		if err := s.RecordIntent(ctx, tx); err != nil {
			t.Fatal(err)
		}
		return tx
	}
	jane, raj := call("jane@acme.com"), call("raj@initech.com")
	rep, err := s.Forget(ctx, "jane@acme.com")
	if err != nil || rep.Deleted != 1 {
		t.Fatalf("forget: %+v, %v", rep, err)
	}
	for _, tx := range []*txn.Transaction{jane, raj} {
		answer := txn.Result{Status: 201, Outcome: txn.OutcomeDelivered, Findings: []txn.Finding{},
			Response: txn.Message{ContentType: "application/json", Body: `{"id":"7","email":"` + tx.RecordKeys[0] + `"}`}}
		if err := s.RecordProvisional(ctx, tx, answer); err != nil {
			t.Fatal(err)
		}
		tx.Result = answer
		if err := s.RecordResult(tx); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.Sync(ctx); err != nil {
		t.Fatal(err)
	}
	if got, err := s.Get(ctx, raj.ID); err != nil || got.Outcome != txn.OutcomeDelivered {
		t.Fatalf("the other call: %+v, %v", got.Result, err)
	}
	err = s.view(func(btx *bolt.Tx) error {
		for _, b := range [][]byte{bucketRes, bucketProvisional, bucketReq, bucketPending} {
			if v := btx.Bucket(b).Get([]byte(jane.ID)); v != nil {
				t.Errorf("bucket %s still holds the forgotten call: %s", b, v)
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if n := s.forgotten.n.Load(); n != 0 {
		t.Errorf("%d calls still listed as forgotten after their results", n)
	}
}
