package store

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/mtguard/mtguard/txn"
	bolt "go.etcd.io/bbolt"
)

func mustOpen(t *testing.T, path string, opts Options) *Store {
	t.Helper()
	if path == "" {
		path = filepath.Join(t.TempDir(), "mtguard.db")
	}
	s, err := Open(path, opts)
	if err != nil {
		t.Fatalf("open: %v", err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

// record stores one complete call and returns its id.
func record(t *testing.T, s *Store, at time.Time, route string, keys []string, outcome txn.Outcome) string {
	t.Helper()
	tx := &txn.Transaction{Call: txn.Call{Time: at, Route: route, Method: "POST", Path: "/" + route + "/v1/leads", RecordKeys: keys}}
	if err := s.RecordIntent(context.Background(), tx); err != nil {
		t.Fatalf("intent: %v", err)
	}
	tx.Result = txn.Result{Status: 200, Outcome: outcome, Findings: []txn.Finding{}}
	if err := s.RecordResult(tx); err != nil {
		t.Fatalf("result: %v", err)
	}
	return tx.ID
}

func TestRoundTrip(t *testing.T) {
	s := mustOpen(t, "", Options{})
	ctx := context.Background()
	tx := &txn.Transaction{Call: txn.Call{
		Time: time.Date(2026, 11, 28, 10, 0, 0, 0, time.UTC), Route: "crm", Method: "POST", Path: "/crm/v1/leads",
		RecordKeys: []string{"jane@acme.com"},
		Request:    txn.Message{ContentType: "application/json", Body: `{"email":"jane@acme.com"}`, Size: 25},
	}}
	if err := s.RecordIntent(ctx, tx); err != nil {
		t.Fatal(err)
	}
	got, err := s.Get(ctx, tx.ID)
	if err != nil {
		t.Fatal(err)
	}
	if got.Outcome != txn.OutcomePending || got.Request.Body != tx.Request.Body {
		t.Fatalf("after intent: outcome %q body %q", got.Outcome, got.Request.Body)
	}
	tx.Result = txn.Result{Status: 201, Outcome: txn.OutcomeDelivered, DurationMS: 12.5, Response: txn.Message{Body: `{"id":"1"}`}}
	if err := s.RecordResult(tx); err != nil {
		t.Fatal(err)
	}
	if err := s.readBarrier(ctx); err != nil {
		t.Fatal(err)
	}
	got, err = s.Get(ctx, tx.ID)
	if err != nil {
		t.Fatal(err)
	}
	if got.Outcome != txn.OutcomeDelivered || got.Status != 201 || got.Response.Body != `{"id":"1"}` || got.Route != "crm" {
		t.Fatalf("after result: %+v", got)
	}
	if _, err := s.Get(ctx, "01ARZ3NDEKTSV4RRFFQ69G5FAV"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("missing id: err = %v, want ErrNotFound", err)
	}
}

func TestQuery(t *testing.T) {
	s := mustOpen(t, "", Options{})
	ctx := context.Background()
	base := time.Date(2026, 11, 28, 10, 0, 0, 0, time.UTC)
	var ids []string
	for i := range 30 {
		route := []string{"crm", "map"}[i%2]
		outcome := txn.OutcomeDelivered
		if i%5 == 0 {
			outcome = txn.OutcomeFailed
		}
		keys := []string{fmt.Sprintf("lead%d@acme.com", i%3)}
		ids = append(ids, record(t, s, base.Add(time.Duration(i)*time.Minute), route, keys, outcome))
	}
	if err := s.readBarrier(ctx); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name string
		q    Query
		want []int // indexes into ids, in the expected order
	}{
		{"record key newest first", Query{RecordKey: "lead1@acme.com", Limit: 3}, []int{28, 25, 22}},
		{"record key oldest first", Query{RecordKey: "lead1@acme.com", Limit: 3, Ascending: true}, []int{1, 4, 7}},
		{"route and outcome", Query{Route: "crm", Outcome: txn.OutcomeFailed}, []int{20, 10, 0}},
		{"outcome index", Query{Outcome: txn.OutcomeFailed, Ascending: true}, []int{0, 5, 10, 15, 20, 25}},
		{"time range", Query{Since: base.Add(10 * time.Minute), Until: base.Add(13 * time.Minute), Ascending: true}, []int{10, 11, 12}},
		{"record and time", Query{RecordKey: "lead0@acme.com", Since: base.Add(20 * time.Minute)}, []int{27, 24, 21}},
		{"no match", Query{RecordKey: "nobody@acme.com"}, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			page, err := s.Query(ctx, tt.q)
			if err != nil {
				t.Fatal(err)
			}
			var got []string
			for _, tx := range page.Transactions {
				got = append(got, tx.ID)
			}
			var want []string
			for _, i := range tt.want {
				want = append(want, ids[i])
			}
			if strings.Join(got, ",") != strings.Join(want, ",") {
				t.Fatalf("got %v\nwant %v", got, want)
			}
		})
	}
}

func TestQueryPagination(t *testing.T) {
	s := mustOpen(t, "", Options{})
	ctx := context.Background()
	base := time.Date(2026, 11, 28, 10, 0, 0, 0, time.UTC)
	for i := range 25 {
		record(t, s, base.Add(time.Duration(i)*time.Second), "crm", []string{"jane@acme.com"}, txn.OutcomeDelivered)
	}
	s.readBarrier(ctx)
	for _, asc := range []bool{false, true} {
		seen := map[string]bool{}
		var prev string
		q := Query{RecordKey: "jane@acme.com", Limit: 10, Ascending: asc}
		pages := 0
		for {
			page, err := s.Query(ctx, q)
			if err != nil {
				t.Fatal(err)
			}
			pages++
			for _, tx := range page.Transactions {
				if seen[tx.ID] {
					t.Fatalf("asc=%v: %s returned twice", asc, tx.ID)
				}
				seen[tx.ID] = true
				if prev != "" && (asc && tx.ID < prev || !asc && tx.ID > prev) {
					t.Fatalf("asc=%v: out of order: %s after %s", asc, tx.ID, prev)
				}
				prev = tx.ID
			}
			if page.Next == "" {
				break
			}
			q.Cursor = page.Next
		}
		if len(seen) != 25 || pages != 3 {
			t.Fatalf("asc=%v: %d transactions in %d pages, want 25 in 3", asc, len(seen), pages)
		}
	}
	if _, err := s.Query(ctx, Query{Cursor: "not-a-cursor"}); !errors.Is(err, ErrBadCursor) {
		t.Fatalf("bad cursor: err = %v", err)
	}
}

func TestInterruptedAfterReopen(t *testing.T) {
	path := filepath.Join(t.TempDir(), "mtguard.db")
	s, err := Open(path, Options{})
	if err != nil {
		t.Fatal(err)
	}
	tx := &txn.Transaction{Call: txn.Call{Time: time.Now(), Route: "crm", Method: "POST", Path: "/crm/x", RecordKeys: []string{"jane@acme.com"}}}
	if err := s.RecordIntent(context.Background(), tx); err != nil {
		t.Fatal(err)
	}
	s.Close() // no result: as if the process died after forwarding
	s = mustOpen(t, path, Options{})
	if s.Recovered() != 1 {
		t.Fatalf("recovered %d, want 1", s.Recovered())
	}
	got, err := s.Get(context.Background(), tx.ID)
	if err != nil {
		t.Fatal(err)
	}
	if got.Outcome != txn.OutcomeInterrupted || got.Error == "" {
		t.Fatalf("outcome %q error %q, want interrupted with an explanation", got.Outcome, got.Error)
	}
	page, _ := s.Query(context.Background(), Query{Outcome: txn.OutcomeInterrupted})
	if len(page.Transactions) != 1 {
		t.Fatalf("outcome index holds %d interrupted, want 1", len(page.Transactions))
	}
}

func TestOpenRefusesUnknownFormat(t *testing.T) {
	dir := t.TempDir()
	future := filepath.Join(dir, "future.db")
	s, err := Open(future, Options{})
	if err != nil {
		t.Fatal(err)
	}
	s.Close()
	db, _ := bolt.Open(future, 0o600, nil)
	db.Update(func(btx *bolt.Tx) error { return btx.Bucket(bucketMeta).Put(keyFormat, []byte("9")) })
	db.Close()

	foreign := filepath.Join(dir, "foreign.db")
	db, _ = bolt.Open(foreign, 0o600, nil)
	db.Update(func(btx *bolt.Tx) error { _, err := btx.CreateBucket([]byte("users")); return err })
	db.Close()

	for name, want := range map[string]string{future: `format version "9"`, foreign: "not an mtguard store"} {
		_, err := Open(name, Options{})
		if !errors.Is(err, ErrUnknownFormat) || !strings.Contains(err.Error(), want) {
			t.Errorf("%s: err = %v, want ErrUnknownFormat saying %q", filepath.Base(name), err, want)
		}
	}
}

func TestOpenLockedFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "mtguard.db")
	mustOpen(t, path, Options{})
	_, err := Open(path, Options{LockTimeout: 50 * time.Millisecond})
	if err == nil || !strings.Contains(err.Error(), "locked by another process") {
		t.Fatalf("second open: err = %v, want a message about the lock", err)
	}
}

func TestRetention(t *testing.T) {
	s := mustOpen(t, "", Options{})
	ctx := context.Background()
	now := time.Date(2026, 11, 28, 10, 0, 0, 0, time.UTC)
	old := record(t, s, now.Add(-800*time.Hour), "crm", []string{"old@acme.com"}, txn.OutcomeFailed)
	fresh := record(t, s, now.Add(-time.Hour), "crm", []string{"new@acme.com"}, txn.OutcomeDelivered)
	s.readBarrier(ctx)
	n, err := s.DeleteBefore(now.Add(-720 * time.Hour))
	if err != nil || n != 1 {
		t.Fatalf("deleted %d (err %v), want 1", n, err)
	}
	if _, err := s.Get(ctx, old); !errors.Is(err, ErrNotFound) {
		t.Fatalf("old transaction still there: %v", err)
	}
	if _, err := s.Get(ctx, fresh); err != nil {
		t.Fatalf("fresh transaction gone: %v", err)
	}
	for _, q := range []Query{{RecordKey: "old@acme.com"}, {Route: "crm"}, {Outcome: txn.OutcomeFailed}} {
		page, _ := s.Query(ctx, q)
		for _, tx := range page.Transactions {
			if tx.ID == old {
				t.Fatalf("query %+v still finds the deleted transaction", q)
			}
		}
	}
	// The index entries are gone too, not just filtered out.
	s.db.View(func(btx *bolt.Tx) error {
		if btx.Bucket(bucketIdxRecord).Get(indexKey("old@acme.com", old)) != nil {
			t.Error("record-key index entry survived retention")
		}
		return nil
	})
}

// TestGroupCommit checks that concurrent intents share commits and that every one is durable.
func TestGroupCommit(t *testing.T) {
	path := filepath.Join(t.TempDir(), "mtguard.db")
	s, err := Open(path, Options{})
	if err != nil {
		t.Fatal(err)
	}
	const n = 400
	var wg sync.WaitGroup
	ids := make([]string, n)
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			ids[i] = record(t, s, time.Now(), "crm", []string{fmt.Sprintf("l%d@acme.com", i)}, txn.OutcomeDelivered)
		}()
	}
	wg.Wait()
	commits := s.Stats().Commits
	s.Close()
	if commits >= 2*n {
		t.Errorf("%d commits for %d intents and %d results: writes were not grouped", commits, n, n)
	}
	s = mustOpen(t, path, Options{})
	for _, id := range ids {
		tx, err := s.Get(context.Background(), id)
		if err != nil || tx.Outcome != txn.OutcomeDelivered {
			t.Fatalf("%s: outcome %q err %v after reopen", id, tx.Outcome, err)
		}
	}
}

func TestIDsSortByTime(t *testing.T) {
	var g idGen
	t0 := time.Date(2026, 11, 28, 10, 0, 0, 0, time.UTC)
	prev := ""
	for i := range 1000 {
		id := g.next(t0.Add(time.Duration(i/10) * time.Millisecond))
		if !validID(id) || id <= prev {
			t.Fatalf("id %d = %q after %q: not valid or not increasing", i, id, prev)
		}
		prev = id
	}
	if a, b := idAt(t0), g.next(t0.Add(time.Hour)); a >= b {
		t.Fatalf("idAt(t0)=%s not before an id an hour later %s", a, b)
	}
	if got := g.next(t0.Add(-time.Hour)); got <= prev {
		t.Fatalf("a clock that went back produced a smaller id %s <= %s", got, prev)
	}
}

func TestOnResultStream(t *testing.T) {
	var mu sync.Mutex
	var got []txn.Outcome
	s := mustOpen(t, "", Options{OnResult: func(tx txn.Transaction) {
		mu.Lock()
		got = append(got, tx.Outcome)
		mu.Unlock()
	}})
	record(t, s, time.Now(), "crm", nil, txn.OutcomeDelivered)
	record(t, s, time.Now(), "crm", nil, txn.OutcomeFailed)
	s.readBarrier(context.Background())
	mu.Lock()
	defer mu.Unlock()
	if len(got) != 2 || got[0] != txn.OutcomeDelivered || got[1] != txn.OutcomeFailed {
		t.Fatalf("stream %v, want [delivered failed] (intents are not results)", got)
	}
}

func TestFindingIndexAndReplayLink(t *testing.T) {
	s := mustOpen(t, "", Options{})
	ctx := context.Background()
	orig := &txn.Transaction{Call: txn.Call{Time: time.Now(), Route: "crm", Method: "POST", Path: "/crm/x"}}
	s.RecordIntent(ctx, orig)
	orig.Result = txn.Result{Status: 200, Outcome: txn.OutcomeFailed, Findings: []txn.Finding{{Code: "auth.expired"}, {Code: "auth.expired"}, {Code: "response.silent_failure"}}}
	s.RecordResult(orig)
	other := record(t, s, time.Now(), "crm", nil, txn.OutcomeDelivered)

	replay := &txn.Transaction{Call: txn.Call{Time: time.Now(), Route: "crm", Method: "POST", Path: "/crm/x", ReplayOf: orig.ID, Attempt: 1}}
	s.RecordIntent(ctx, replay)
	replay.Result = txn.Result{Status: 201, Outcome: txn.OutcomeDelivered}
	s.RecordResult(replay)

	for code, want := range map[string]int{"auth.expired": 1, "response.silent_failure": 1, "schema.request.invalid": 0} {
		page, err := s.Query(ctx, Query{Finding: code})
		if err != nil || len(page.Transactions) != want {
			t.Errorf("finding %s: %d transactions (err %v), want %d", code, len(page.Transactions), err, want)
		}
	}
	if page, _ := s.Query(ctx, Query{Route: "crm", Status: 201}); len(page.Transactions) != 1 || page.Transactions[0].ID != replay.ID {
		t.Errorf("status filter: %+v", page.Transactions)
	}
	got, _ := s.Get(ctx, orig.ID)
	if len(got.ReplayedBy) != 1 || got.ReplayedBy[0] != replay.ID || got.Outcome != txn.OutcomeFailed {
		t.Errorf("original: replayed_by %v outcome %s, want [%s] failed", got.ReplayedBy, got.Outcome, replay.ID)
	}
	// Retention removes the finding index entries too.
	if n, _ := s.DeleteBefore(time.Now().Add(time.Hour)); n != 3 {
		t.Fatalf("deleted %d, want 3 (%s)", n, other)
	}
	if page, _ := s.Query(ctx, Query{Finding: "auth.expired"}); len(page.Transactions) != 0 {
		t.Errorf("finding index survived retention")
	}
}

func TestForgetErasesBytes(t *testing.T) {
	path := filepath.Join(t.TempDir(), "mtguard.db")
	s := mustOpen(t, path, Options{})
	ctx := context.Background()
	const email = "jane.erase@acme.com"
	for i := range 200 {
		keys := []string{fmt.Sprintf("other%d@acme.com", i)}
		body := `{"email":"` + keys[0] + `"}`
		if i%10 == 0 {
			keys, body = []string{email}, `{"email":"Jane.Erase@Acme.com","pad":"`+strings.Repeat("x", 3000)+`"}`
		}
		tx := &txn.Transaction{Call: txn.Call{Time: time.Now(), Route: "crm", Method: "POST", Path: "/crm/x", RecordKeys: keys, Request: txn.Message{Body: body}}}
		s.RecordIntent(ctx, tx)
		tx.Result = txn.Result{Status: 201, Outcome: txn.OutcomeDelivered, Response: txn.Message{Body: `{"ok":true}`}}
		s.RecordResult(tx)
	}
	// A lookup on a route without record keys still mentions her.
	tx := &txn.Transaction{Call: txn.Call{Time: time.Now(), Route: "legacy", Method: "GET", Path: "/legacy/find?email=" + email}}
	s.RecordIntent(ctx, tx)
	tx.Result = txn.Result{Status: 200, Outcome: txn.OutcomeDelivered}
	s.RecordResult(tx)

	rep, err := s.Forget(ctx, email)
	if err != nil {
		t.Fatal(err)
	}
	if rep.Deleted != 21 || rep.BytesAfter >= rep.BytesBefore {
		t.Fatalf("report %+v, want 21 deleted and a smaller file", rep)
	}
	// The store keeps working after the swap.
	record(t, s, time.Now(), "crm", []string{"after@acme.com"}, txn.OutcomeDelivered)
	if page, _ := s.Query(ctx, Query{RecordKey: "after@acme.com"}); len(page.Transactions) != 1 {
		t.Fatal("store unusable after forget")
	}
	if page, _ := s.Query(ctx, Query{Route: "crm", Limit: 1000}); len(page.Transactions) != 181 {
		t.Fatalf("%d crm transactions left, want 181", len(page.Transactions))
	}
	// What a crash right now would leave: every file beside the store, journal included.
	crashed := map[string][]byte{}
	files, _ := filepath.Glob(path + "*")
	for _, f := range files {
		raw, _ := os.ReadFile(f)
		crashed[f] = raw
		for _, form := range []string{email, "Jane.Erase@Acme.com", "jane.erase"} {
			if bytes.Contains(bytes.ToLower(raw), []byte(strings.ToLower(form))) {
				t.Errorf("%q still in the bytes of %s", form, filepath.Base(f))
			}
		}
	}
	s.Close()
	raw, _ := os.ReadFile(path)
	for _, form := range []string{email, "Jane.Erase@Acme.com", "jane.erase"} {
		if bytes.Contains(bytes.ToLower(raw), []byte(strings.ToLower(form))) {
			t.Errorf("%q still in the file's bytes", form)
		}
	}
	// Opening the files as the crash left them must not bring her calls back from the journal.
	for f, raw := range crashed {
		if err := os.WriteFile(f, raw, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	s = mustOpen(t, path, Options{})
	if page, _ := s.Query(ctx, Query{RecordKey: email}); len(page.Transactions) != 0 {
		t.Errorf("%d erased calls came back after a crash", len(page.Transactions))
	}
}

func TestSendTimes(t *testing.T) {
	s := mustOpen(t, "", Options{})
	base := time.Date(2026, 11, 28, 10, 0, 0, 123_000_000, time.UTC)
	for i := range 10 {
		record(t, s, base.Add(time.Duration(i)*time.Minute), []string{"a", "b", "c"}[i%3], nil, txn.OutcomeDelivered)
	}
	s.readBarrier(context.Background())
	got, err := s.SendTimes([]string{"a", "b"}, base.Add(3*time.Minute), 100)
	if err != nil {
		t.Fatal(err)
	}
	var want []time.Time
	for _, i := range []int{3, 4, 6, 7, 9} {
		want = append(want, base.Add(time.Duration(i)*time.Minute))
	}
	if len(got) != len(want) {
		t.Fatalf("got %v, want %v", got, want)
	}
	for i := range got {
		if !got[i].Equal(want[i]) {
			t.Fatalf("got[%d] = %v, want %v", i, got[i], want[i])
		}
	}
}

// TestJournalReplay: writes that reached the journal but not bbolt (a crash between the two)
// are applied when the store opens, and the segment is removed afterwards.
func TestJournalReplay(t *testing.T) {
	path := filepath.Join(t.TempDir(), "mtguard.db")
	s := mustOpen(t, path, Options{})
	s.Close()

	// What a crashed process left: one complete call, one intent alone, and a torn record.
	done := &txn.Transaction{Call: txn.Call{ID: "01M8HD6TQ96R257XX8J3X5BKXT", Time: time.Now(), Route: "crm", Method: "POST", Path: "/crm/x", RecordKeys: []string{"jane@acme.com"}}}
	done.Result = txn.Result{Status: 201, Outcome: txn.OutcomeDelivered, Findings: []txn.Finding{{Code: "endpoint.deprecated"}}}
	alone := &txn.Transaction{Call: txn.Call{ID: "01M8HD6TQ96R257XX8J3X5BKXV", Time: time.Now(), Route: "crm", Method: "POST", Path: "/crm/y", RecordKeys: []string{"bob@acme.com"}}}
	var buf []byte
	for _, tx := range []*txn.Transaction{done, alone} {
		req, _ := encodeRequest(tx)
		buf = appendRecord(buf, &op{intent: true, tx: tx, req: req})
	}
	res, _ := json.Marshal(&done.Result)
	done.IntentStored = true
	buf = appendRecord(buf, &op{tx: done, res: res})
	buf = append(buf, 0, 0, 0, 40, 1, 2, 3) // an append the crash cut short
	if err := os.WriteFile(segmentPath(path, 7), buf, 0o600); err != nil {
		t.Fatal(err)
	}

	s = mustOpen(t, path, Options{})
	if s.replayedRecords != 3 {
		t.Errorf("replayed %d records, want 3", s.replayedRecords)
	}
	ctx := context.Background()
	got, err := s.Get(ctx, done.ID)
	if err != nil || got.Outcome != txn.OutcomeDelivered || got.Status != 201 {
		t.Fatalf("complete call after replay: %+v %v", got.Result, err)
	}
	if page, _ := s.Query(ctx, Query{Finding: "endpoint.deprecated"}); len(page.Transactions) != 1 {
		t.Errorf("finding index not rebuilt from the journal")
	}
	got, err = s.Get(ctx, alone.ID)
	if err != nil || got.Outcome != txn.OutcomeInterrupted {
		t.Fatalf("intent without result after replay: outcome %q err %v, want interrupted", got.Outcome, err)
	}
	if page, _ := s.Query(ctx, Query{RecordKey: "bob@acme.com"}); len(page.Transactions) != 1 {
		t.Errorf("record index not rebuilt from the journal")
	}
	if _, err := os.Stat(segmentPath(path, 7)); !os.IsNotExist(err) {
		t.Errorf("the replayed segment is still there: %v", err)
	}
	if _, err := os.Stat(segmentPath(path, 8)); err != nil {
		t.Errorf("no fresh segment after the replayed one: %v", err)
	}
	// Reopening replays nothing twice.
	s.Close()
	s = mustOpen(t, path, Options{})
	if s.replayedRecords != 0 {
		t.Errorf("second open replayed %d records", s.replayedRecords)
	}
}

// TestJournalPreallocated: a store with preallocated segments records, reopens and replays
// like one without (the zeros after the last record read as the end).
func TestJournalPreallocated(t *testing.T) {
	path := filepath.Join(t.TempDir(), "mtguard.db")
	s := mustOpen(t, path, Options{JournalPrealloc: 1 << 20})
	id := record(t, s, time.Now(), "crm", []string{"pre@acme.com"}, txn.OutcomeDelivered)
	// Copy the files as a crash would leave them: the journal holds the call, bbolt may not.
	var raws [][]byte
	for _, n := range currentSegments(s) {
		if fi, err := os.Stat(segmentPath(path, n)); err != nil || fi.Size() != 1<<20 {
			t.Fatalf("segment size %v (err %v), want 1 MiB preallocated", fi, err)
		}
		raw, _ := os.ReadFile(segmentPath(path, n))
		raws = append(raws, raw)
	}
	s.Close()
	for i, raw := range raws {
		if err := os.WriteFile(segmentPath(path, uint64(98+i)), raw, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	s = mustOpen(t, path, Options{JournalPrealloc: 1 << 20})
	if tx, err := s.Get(context.Background(), id); err != nil || tx.Outcome != txn.OutcomeDelivered {
		t.Fatalf("after reopen: %v %v", tx.Outcome, err)
	}
}

// TestPendingAcrossCommits: a call is pending only between its intent and its result, whether
// they reach bbolt in one commit (no pending mark is written) or in two (the mark is written,
// then cleared). Reopening must find nothing to mark interrupted, and an intent without a
// result still comes back interrupted.
func TestPendingAcrossCommits(t *testing.T) {
	path := filepath.Join(t.TempDir(), "pending.db")
	s := mustOpen(t, path, Options{})
	ctx := context.Background()
	call := func(email string) *txn.Transaction {
		return &txn.Transaction{Call: txn.Call{Time: time.Now(), Route: "crm", Method: "POST", Path: "/leads", RecordKeys: []string{email}}}
	}
	deliver := func(tx *txn.Transaction) {
		tx.Result = txn.Result{Status: 201, Outcome: txn.OutcomeDelivered, Findings: []txn.Finding{}}
		if err := s.RecordResult(tx); err != nil {
			t.Fatal(err)
		}
	}
	split, same, lost := call("split@example.com"), call("same@example.com"), call("lost@example.com")
	if err := s.RecordIntent(ctx, split); err != nil {
		t.Fatal(err)
	}
	if err := s.barrier(ctx, false); err != nil { // the intent is applied on its own
		t.Fatal(err)
	}
	if err := s.view(func(btx *bolt.Tx) error {
		if btx.Bucket(bucketPending).Get([]byte(split.ID)) == nil {
			t.Error("an applied intent without its result is not marked pending")
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	deliver(split)
	for _, tx := range []*txn.Transaction{same, lost} {
		if err := s.RecordIntent(ctx, tx); err != nil {
			t.Fatal(err)
		}
	}
	deliver(same)
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}

	s = mustOpen(t, path, Options{})
	defer s.Close()
	if got := s.Recovered(); got != 1 {
		t.Errorf("Recovered() = %d, want 1 (only the call without a result)", got)
	}
	want := map[string]txn.Outcome{split.ID: txn.OutcomeDelivered, same.ID: txn.OutcomeDelivered, lost.ID: txn.OutcomeInterrupted}
	for id, outcome := range want {
		tx, err := s.Get(ctx, id)
		if err != nil {
			t.Fatalf("Get(%s): %v", id, err)
		}
		if tx.Outcome != outcome {
			t.Errorf("%s: outcome %q, want %q", tx.RecordKeys, tx.Outcome, outcome)
		}
	}
	if err := s.view(func(btx *bolt.Tx) error {
		if n := btx.Bucket(bucketPending).Stats().KeyN; n != 0 {
			t.Errorf("%d calls still marked pending after reopening", n)
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
}
