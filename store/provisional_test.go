package store

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/mtguard/mtguard/txn"
	bolt "go.etcd.io/bbolt"
)

// crash stops s as kill -9 would right now: whatever the applier has not committed to bbolt
// is lost, the journal keeps everything it holds.
func crash(t *testing.T, s *Store) {
	t.Helper()
	s.crashed.Store(true)
	if err := s.Close(); err != nil {
		t.Fatalf("close: %v", err)
	}
}

func newCall(email string) *txn.Transaction {
	return &txn.Transaction{Call: txn.Call{Time: time.Now(), Route: "crm", Method: "POST", Path: "/crm/v1/leads", RecordKeys: []string{email}}}
}

// answered is the provisional result of a call the vendor answered with status.
func answered(status int, outcome txn.Outcome) txn.Result {
	return txn.Result{Status: status, Outcome: outcome, UpstreamMS: 12, Findings: []txn.Finding{},
		Response: txn.Message{ContentType: "application/json", Headers: map[string][]string{"Content-Type": {"application/json"}}}}
}

func hasCode(tx txn.Transaction, code string) bool {
	return slices.ContainsFunc(tx.Findings, func(f txn.Finding) bool { return f.Code == code })
}

func bucketKeys(t *testing.T, s *Store, bucket []byte) int {
	t.Helper()
	n := 0
	if err := s.view(func(btx *bolt.Tx) error {
		n = btx.Bucket(bucket).Stats().KeyN
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	return n
}

// TestProvisionalAfterCrash: a call whose answer's status was recorded (RecordProvisional)
// and whose result was not comes back after a crash with the outcome that status gave and the
// finding outcome.unchecked, whether the provisional result was still only in the journal or
// already in bbolt with its segment gone. A call with only its intent stays interrupted and
// carries outcome.unknown.
func TestProvisionalAfterCrash(t *testing.T) {
	path := filepath.Join(t.TempDir(), "mtguard.db")
	s, err := Open(path, Options{})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	intent := func(tx *txn.Transaction) {
		t.Helper()
		if err := s.RecordIntent(ctx, tx); err != nil {
			t.Fatal(err)
		}
	}
	provisional := func(tx *txn.Transaction, r txn.Result) {
		t.Helper()
		if err := s.RecordProvisional(ctx, tx, r); err != nil {
			t.Fatal(err)
		}
	}

	// Applied to bbolt, and the journal that held it deleted: only bbolt knows.
	applied := newCall("applied@acme.com")
	intent(applied)
	provisional(applied, answered(201, txn.OutcomeDelivered))
	if err := s.retireJournal(ctx); err != nil {
		t.Fatal(err)
	}
	if n := bucketKeys(t, s, bucketProvisional); n != 1 {
		t.Fatalf("%d provisional results in bbolt after the applier ran, want 1", n)
	}

	// Only in the journal when the process dies.
	s.crashed.Store(true)
	journaled, failed, unknown := newCall("journaled@acme.com"), newCall("failed@acme.com"), newCall("unknown@acme.com")
	for _, tx := range []*txn.Transaction{journaled, failed, unknown} {
		intent(tx)
	}
	provisional(journaled, answered(200, txn.OutcomeDelivered))
	provisional(failed, answered(503, txn.OutcomeFailed))
	// A result that only the applier would have written: lost with it.
	journaled.Result = txn.Result{Status: 200, Outcome: txn.OutcomeDelivered, Findings: []txn.Finding{}}
	if err := s.RecordResult(journaled); err != nil {
		t.Fatal(err)
	}
	crash(t, s)

	s = mustOpen(t, path, Options{})
	if s.Recovered() != 1 || s.RecoveredProvisional() != 3 {
		t.Errorf("Recovered() = %d, RecoveredProvisional() = %d; want 1 and 3", s.Recovered(), s.RecoveredProvisional())
	}
	want := map[*txn.Transaction]struct {
		outcome txn.Outcome
		status  int
		code    string
	}{
		applied:   {txn.OutcomeDelivered, 201, txn.CodeOutcomeUnchecked},
		journaled: {txn.OutcomeDelivered, 200, txn.CodeOutcomeUnchecked},
		failed:    {txn.OutcomeFailed, 503, txn.CodeOutcomeUnchecked},
		unknown:   {txn.OutcomeInterrupted, 0, txn.CodeOutcomeUnknown},
	}
	for tx, w := range want {
		got, err := s.Get(ctx, tx.ID)
		if err != nil {
			t.Fatal(err)
		}
		if got.Outcome != w.outcome || got.Status != w.status || !hasCode(got, w.code) || got.Error == "" {
			t.Errorf("%s: %q %d findings %+v error %q; want %q %d with %s and an explanation",
				tx.RecordKeys[0], got.Outcome, got.Status, got.Findings, got.Error, w.outcome, w.status, w.code)
		}
		if w.code == txn.CodeOutcomeUnchecked && (got.UpstreamMS != 12 || got.Response.ContentType != "application/json") {
			t.Errorf("%s: the provisional result's timings and headers were not kept: %+v", tx.RecordKeys[0], got.Result)
		}
		page, err := s.Query(ctx, Query{Finding: w.code, Outcome: w.outcome})
		if err != nil || !slices.ContainsFunc(page.Transactions, func(x txn.Transaction) bool { return x.ID == tx.ID }) {
			t.Errorf("%s: not found by its finding %s and outcome %s (%v)", tx.RecordKeys[0], w.code, w.outcome, err)
		}
	}
	if n := bucketKeys(t, s, bucketPending); n != 0 {
		t.Errorf("%d calls still pending after reopening", n)
	}
	if n := bucketKeys(t, s, bucketProvisional); n != 0 {
		t.Errorf("%d provisional results left after reopening", n)
	}
}

// TestProvisionalReplacedByResult: the result replaces the provisional one, whether they
// reach bbolt in one commit (the provisional one is never written) or in two (it is written,
// then deleted); a clean reopen then leaves the final outcome, without outcome.unchecked.
func TestProvisionalReplacedByResult(t *testing.T) {
	path := filepath.Join(t.TempDir(), "mtguard.db")
	s, err := Open(path, Options{})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	silent := txn.Result{Status: 200, Outcome: txn.OutcomeFailed, Findings: []txn.Finding{{Code: txn.CodeSilentFailure}}}
	var calls []*txn.Transaction
	for i, split := range []bool{false, true} {
		tx := newCall([]string{"same@acme.com", "split@acme.com"}[i])
		calls = append(calls, tx)
		if err := s.RecordIntent(ctx, tx); err != nil {
			t.Fatal(err)
		}
		if err := s.RecordProvisional(ctx, tx, answered(200, txn.OutcomeDelivered)); err != nil {
			t.Fatal(err)
		}
		if split {
			if err := s.barrier(ctx, false); err != nil {
				t.Fatal(err)
			}
			if n := bucketKeys(t, s, bucketProvisional); n != 1 {
				t.Fatalf("%d provisional results in bbolt between commits, want 1", n)
			}
		}
		tx.Result = silent
		if err := s.RecordResult(tx); err != nil {
			t.Fatal(err)
		}
		if err := s.barrier(ctx, false); err != nil {
			t.Fatal(err)
		}
		if n := bucketKeys(t, s, bucketProvisional); n != 0 {
			t.Errorf("split %v: %d provisional results left once the result is applied", split, n)
		}
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	s = mustOpen(t, path, Options{})
	if s.Recovered() != 0 || s.RecoveredProvisional() != 0 {
		t.Errorf("reopen recovered %d interrupted and %d provisional, want none", s.Recovered(), s.RecoveredProvisional())
	}
	for _, tx := range calls {
		got, err := s.Get(ctx, tx.ID)
		if err != nil {
			t.Fatal(err)
		}
		if got.Outcome != txn.OutcomeFailed || hasCode(got, txn.CodeOutcomeUnchecked) {
			t.Errorf("%s: %q %+v, want the result's outcome failed and no outcome.unchecked", tx.RecordKeys[0], got.Outcome, got.Findings)
		}
	}
	if page, _ := s.Query(ctx, Query{Outcome: txn.OutcomeDelivered}); len(page.Transactions) != 0 {
		t.Errorf("the provisional outcome delivered is indexed for %d calls", len(page.Transactions))
	}
}

// TestProvisionalAfterResult: a caller that stopped waiting for its provisional result (the
// tool hung up) may record the result before the journal hands the provisional one to the
// applier; the late provisional result must not be kept.
func TestProvisionalAfterResult(t *testing.T) {
	s := mustOpen(t, "", Options{})
	tx := newCall("late@acme.com")
	if err := s.RecordIntent(context.Background(), tx); err != nil {
		t.Fatal(err)
	}
	tx.Result = txn.Result{Status: 201, Outcome: txn.OutcomeDelivered, Findings: []txn.Finding{}}
	res, _ := json.Marshal(&tx.Result)
	prov, _ := json.Marshal(answered(201, txn.OutcomeDelivered))
	for _, batch := range [][]*op{
		{{intent: true, tx: tx, req: []byte(`{"id":"` + tx.ID + `"}`)}},
		{{tx: tx, res: res}},
		{{provisional: true, tx: tx, res: prov}},
	} {
		if err := s.commit(batch); err != nil {
			t.Fatal(err)
		}
	}
	if n := bucketKeys(t, s, bucketProvisional); n != 0 {
		t.Errorf("a provisional result applied after the result was kept (%d)", n)
	}
}

// TestProvisionalJournalReplay: journal records as a crash leaves them, across the two
// writers' segments in any order: a provisional result applies unless the call's result is
// there too, and a provisional result journaled without a stored intent carries its call.
func TestProvisionalJournalReplay(t *testing.T) {
	path := filepath.Join(t.TempDir(), "mtguard.db")
	s := mustOpen(t, path, Options{})
	s.Close()

	ended := &txn.Transaction{Call: txn.Call{ID: "01M8HD6TQ96R257XX8J3X5BKXT", Time: time.Now(), Route: "crm", Method: "POST", Path: "/crm/x", RecordKeys: []string{"ended@acme.com"}}}
	streaming := &txn.Transaction{Call: txn.Call{ID: "01M8HD6TQ96R257XX8J3X5BKXV", Time: time.Now(), Route: "crm", Method: "POST", Path: "/crm/y", RecordKeys: []string{"streaming@acme.com"}}}
	unstored := &txn.Transaction{Call: txn.Call{ID: "01M8HD6TQ96R257XX8J3X5BKXW", Time: time.Now(), Route: "crm", Method: "POST", Path: "/crm/z", RecordKeys: []string{"unstored@acme.com"}}}
	prov, _ := json.Marshal(answered(201, txn.OutcomeDelivered))
	final, _ := json.Marshal(txn.Result{Status: 201, Outcome: txn.OutcomePartial, Findings: []txn.Finding{}})
	var first, second []byte
	for _, tx := range []*txn.Transaction{ended, streaming} {
		req, _ := encodeRequest(tx)
		first = appendRecord(first, &op{intent: true, tx: tx, req: req})
		tx.IntentStored = true
	}
	unstoredReq, _ := encodeRequest(unstored)
	// The result sits in a segment numbered before its provisional result's.
	first = appendRecord(first, &op{tx: ended, res: final})
	second = appendRecord(second, &op{provisional: true, tx: ended, res: prov})
	second = appendRecord(second, &op{provisional: true, tx: streaming, res: prov})
	second = appendRecord(second, &op{provisional: true, tx: unstored, req: unstoredReq, res: prov})
	if err := os.WriteFile(segmentPath(path, 30), first, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(segmentPath(path, 31), second, 0o600); err != nil {
		t.Fatal(err)
	}

	s = mustOpen(t, path, Options{})
	ctx := context.Background()
	for _, c := range []struct {
		tx        *txn.Transaction
		outcome   txn.Outcome
		unchecked bool
	}{{ended, txn.OutcomePartial, false}, {streaming, txn.OutcomeDelivered, true}, {unstored, txn.OutcomeDelivered, true}} {
		got, err := s.Get(ctx, c.tx.ID)
		if err != nil {
			t.Fatalf("%s: %v", c.tx.RecordKeys[0], err)
		}
		if got.Outcome != c.outcome || hasCode(got, txn.CodeOutcomeUnchecked) != c.unchecked {
			t.Errorf("%s: %q %+v, want %q (outcome.unchecked: %v)", c.tx.RecordKeys[0], got.Outcome, got.Findings, c.outcome, c.unchecked)
		}
		if page, _ := s.Query(ctx, Query{RecordKey: c.tx.RecordKeys[0]}); len(page.Transactions) != 1 {
			t.Errorf("%s: record index holds %d calls, want 1", c.tx.RecordKeys[0], len(page.Transactions))
		}
	}
}
