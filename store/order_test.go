package store

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/mtguard/mtguard/txn"
)

// TestBatchOrder: a barrier is released only once every batch taken up to its own has
// finished, whatever order the batches finish in, and carries the first write error among
// them.
func TestBatchOrder(t *testing.T) {
	errDisk := errors.New("disk full")
	type step struct {
		seq      uint64
		err      error
		barriers []string // names of barriers in this batch
		want     []string // barriers released by this step, with "!" when released with an error
	}
	tests := []struct {
		name    string
		batches int
		steps   []step
	}{
		{"in order", 3, []step{
			{0, nil, []string{"a"}, []string{"a"}},
			{1, nil, nil, nil},
			{2, nil, []string{"b", "c"}, []string{"b", "c"}},
		}},
		{"later batch first", 2, []step{
			{1, nil, []string{"a"}, nil},
			{0, nil, nil, []string{"a"}},
		}},
		{"held behind two", 3, []step{
			{2, nil, []string{"a"}, nil},
			{1, nil, []string{"b"}, nil},
			{0, nil, []string{"c"}, []string{"c", "a", "b"}},
		}},
		{"partly released", 4, []step{
			{1, nil, []string{"a"}, nil},
			{3, nil, []string{"b"}, nil},
			{0, nil, nil, []string{"a"}},
			{2, nil, nil, []string{"b"}},
		}},
		{"error of an earlier batch finishing late", 2, []step{
			{1, nil, []string{"a"}, nil},
			{0, errDisk, nil, []string{"a!"}},
		}},
		{"error of an earlier batch finishing early", 3, []step{
			{1, errDisk, nil, nil},
			{2, nil, []string{"a"}, nil},
			{0, nil, []string{"b"}, []string{"b", "a!"}},
		}},
		{"error of a later batch is not the barrier's", 3, []step{
			{0, nil, nil, nil},
			{2, errDisk, nil, nil},
			{1, nil, []string{"a"}, []string{"a"}},
		}},
		{"own error", 1, []step{
			{0, errDisk, []string{"a"}, []string{"a!"}},
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var b batchOrder
			for range tt.batches {
				b.begin()
			}
			names := map[*op]string{}
			for _, st := range tt.steps {
				var ops []*op
				for _, n := range st.barriers {
					o := &op{}
					names[o] = n
					ops = append(ops, o)
				}
				var got []string
				for _, r := range b.finish(st.seq, st.err, ops, nil) {
					n := names[r.o]
					if r.err != nil {
						n += "!"
					}
					got = append(got, n)
				}
				if !slices.Equal(got, st.want) {
					t.Fatalf("finish(%d) released %q, want %q", st.seq, got, st.want)
				}
			}
			if len(b.held) != 0 || len(b.finished) != 0 || b.done != uint64(tt.batches) {
				t.Errorf("left held %d, finished %d, done %d", len(b.held), len(b.finished), b.done)
			}
		})
	}
}

// TestJournalWritersShare: one call at a time makes batches of one write, so the writer
// passes the take token on and the calls alternate between the two writers' segments.
func TestJournalWritersShare(t *testing.T) {
	path := filepath.Join(t.TempDir(), "mtguard.db")
	s := mustOpen(t, path, Options{})
	// Twenty calls, not a handful: on a busy machine the second writer's goroutine may not run
	// in time for the first few hand-overs.
	for range 20 {
		record(t, s, time.Now(), "crm", []string{"one@acme.com"}, txn.OutcomeDelivered)
	}
	for i, w := range s.wals {
		if w.size == 0 {
			t.Errorf("writer %d wrote nothing: calls one at a time should alternate between writers", i)
		}
	}
}

// TestReplayAcrossWriters: the two writers' segments interleave, so a journaled result can sit
// in a lower-numbered segment than an intent of the same call. Replay must end with the
// delivered call either way, and with nothing pending.
func TestReplayAcrossWriters(t *testing.T) {
	path := filepath.Join(t.TempDir(), "mtguard.db")
	s := mustOpen(t, path, Options{})
	s.Close()

	tx := &txn.Transaction{Call: txn.Call{ID: "01M8HD6TQ96R257XX8J3X5BKXT", Time: time.Now(), Route: "crm", Method: "POST", Path: "/crm/x", RecordKeys: []string{"jane@acme.com"}}}
	tx.Result = txn.Result{Status: 201, Outcome: txn.OutcomeDelivered, Findings: []txn.Finding{}}
	req, _ := encodeRequest(tx)
	res, _ := json.Marshal(&tx.Result)
	// The intent's journal write failed (so its result carries the call) but its bytes
	// reached the disk anyway, in the other writer's segment.
	result := appendRecord(nil, &op{tx: tx, res: res})
	intent := appendRecord(nil, &op{intent: true, tx: tx, req: req})
	if err := os.WriteFile(segmentPath(path, 20), result, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(segmentPath(path, 21), intent, 0o600); err != nil {
		t.Fatal(err)
	}
	s = mustOpen(t, path, Options{})
	if s.Recovered() != 0 {
		t.Errorf("Recovered() = %d, want 0", s.Recovered())
	}
	got, err := s.Get(context.Background(), tx.ID)
	if err != nil || got.Outcome != txn.OutcomeDelivered {
		t.Fatalf("after replay: outcome %q, err %v; want delivered", got.Outcome, err)
	}
	for _, n := range []uint64{20, 21} {
		if _, err := os.Stat(segmentPath(path, n)); !os.IsNotExist(err) {
			t.Errorf("replayed segment %d is still there: %v", n, err)
		}
	}
	for _, n := range []uint64{22, 23} {
		if _, err := os.Stat(segmentPath(path, n)); err != nil {
			t.Errorf("no fresh segment %d for a writer: %v", n, err)
		}
	}
}

// TestReadSeesJournaledResults: a result mtguard answered itself (no stored intent) goes
// through the journal, whose two writers may finish batches out of order. A read queued after
// it must still find it.
func TestReadSeesJournaledResults(t *testing.T) {
	s := mustOpen(t, "", Options{})
	ctx := context.Background()
	var wg sync.WaitGroup
	for g := range 8 {
		wg.Go(func() {
			for i := range 40 {
				tx := &txn.Transaction{Call: txn.Call{Time: time.Now(), Route: "crm", Method: "POST", Path: "/crm/x", RecordKeys: []string{fmt.Sprintf("g%d-%d@acme.com", g, i)}}}
				tx.ID = s.NewID(tx.Time)
				tx.Result = txn.Result{Status: 404, Outcome: txn.OutcomeRejected, Findings: []txn.Finding{}}
				if err := s.RecordResult(tx); err != nil {
					t.Error(err)
					return
				}
				if _, err := s.Get(ctx, tx.ID); err != nil {
					t.Errorf("a read right after the result: %v", err)
					return
				}
			}
		})
	}
	wg.Wait()
}

// TestRetireJournalUnderLoad: swapping the writers' segments while calls are recorded (and
// while the writers move to new segments of their own, every 16 KiB) loses none of them, and
// answers only once the old segments are deleted.
func TestRetireJournalUnderLoad(t *testing.T) {
	path := filepath.Join(t.TempDir(), "mtguard.db")
	s := mustOpen(t, path, Options{JournalPrealloc: 16 << 10})
	ctx := context.Background()
	var (
		wg  sync.WaitGroup
		mu  sync.Mutex
		ids []string
	)
	stop := make(chan struct{})
	for g := range 4 {
		wg.Go(func() {
			for i := 0; ; i++ {
				select {
				case <-stop:
					return
				default:
				}
				tx := &txn.Transaction{Call: txn.Call{Time: time.Now(), Route: "crm", Method: "POST", Path: "/crm/x", RecordKeys: []string{fmt.Sprintf("g%d-%d@acme.com", g, i)}}}
				if err := s.RecordIntent(ctx, tx); err != nil {
					t.Errorf("intent: %v", err)
					return
				}
				tx.Result = txn.Result{Status: 201, Outcome: txn.OutcomeDelivered, Findings: []txn.Finding{}}
				if err := s.RecordResult(tx); err != nil {
					t.Errorf("result: %v", err)
					return
				}
				mu.Lock()
				ids = append(ids, tx.ID)
				mu.Unlock()
			}
		})
	}
	for range 5 {
		old := currentSegments(s)
		if err := s.retireJournal(ctx); err != nil {
			t.Error(err)
			break
		}
		for _, n := range old {
			if _, err := os.Stat(segmentPath(path, n)); !os.IsNotExist(err) {
				t.Errorf("segment %d still there after retireJournal returned (%v)", n, err)
			}
		}
		if t.Failed() {
			break
		}
	}
	close(stop)
	wg.Wait()
	if t.Failed() {
		return
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	s = mustOpen(t, path, Options{JournalPrealloc: 16 << 10})
	if s.Recovered() != 0 {
		t.Errorf("%d calls interrupted after a clean close", s.Recovered())
	}
	for _, id := range ids {
		if tx, err := s.Get(ctx, id); err != nil || tx.Outcome != txn.OutcomeDelivered {
			t.Fatalf("call %s after reopening: outcome %q, err %v", id, tx.Outcome, err)
		}
	}
	t.Logf("%d calls recorded across 5 journal swaps", len(ids))
}

// currentSegments returns the numbers of the segments the journal writers append to. A
// writer moves its own to a new segment holding walMu for reading, so this takes it for
// writing.
func currentSegments(s *Store) []uint64 {
	s.walMu.Lock()
	defer s.walMu.Unlock()
	var segs []uint64
	for _, w := range s.wals {
		segs = append(segs, w.seg)
	}
	return segs
}

// TestJournalRotatesAtPrealloc: a writer moves to a fresh segment once it has filled the
// preallocated one (past it, every sync would also flush the file's size), and the full
// segments are deleted once applied. Everything recorded survives a reopen.
func TestJournalRotatesAtPrealloc(t *testing.T) {
	const prealloc = 64 << 10
	path := filepath.Join(t.TempDir(), "mtguard.db")
	s := mustOpen(t, path, Options{JournalPrealloc: prealloc})
	ctx := context.Background()
	body := strings.Repeat("x", 2000)
	var ids []string
	for i := range 200 { // ~450 KiB of intents: several segments per writer
		tx := &txn.Transaction{Call: txn.Call{Time: time.Now(), Route: "crm", Method: "POST", Path: "/crm/x", RecordKeys: []string{fmt.Sprintf("r%d@acme.com", i)}, Request: txn.Message{Body: body}}}
		if err := s.RecordIntent(ctx, tx); err != nil {
			t.Fatal(err)
		}
		tx.Result = txn.Result{Status: 201, Outcome: txn.OutcomeDelivered, Findings: []txn.Finding{}}
		if err := s.RecordResult(tx); err != nil {
			t.Fatal(err)
		}
		ids = append(ids, tx.ID)
		for _, n := range currentSegments(s) {
			fi, err := os.Stat(segmentPath(path, n))
			if err != nil {
				t.Fatal(err)
			}
			// A writer whose spare segment is still being prepared goes on appending (and tries
			// again after its next batch); on a busy machine that can take a few batches. One
			// that never moves on would pass twice the preallocated size well before the end.
			if fi.Size() > 2*prealloc {
				t.Fatalf("segment %d is %d bytes: the writer went on far past its %d preallocated bytes", n, fi.Size(), prealloc)
			}
		}
	}
	// The applier deletes a full segment with its next commit; a read barrier forces one. A
	// writer hands over its full segment just after answering its batch, so allow a moment.
	var segs, current []uint64
	for deadline := time.Now().Add(5 * time.Second); ; {
		if err := s.barrier(ctx, false); err != nil {
			t.Fatal(err)
		}
		segs, _ = segments(path)
		current = currentSegments(s)
		if segs[0] >= slices.Min(current) || time.Now().After(deadline) {
			break
		}
		time.Sleep(10 * time.Millisecond)
	}
	if segs[0] < slices.Min(current) {
		t.Errorf("segments %v left after everything was applied; writers are at %v", segs, current)
	}
	if len(segs) > 2*journalWriters {
		t.Errorf("%d segments on disk, want at most %d (each writer's current one and spare)", len(segs), 2*journalWriters)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if segs, _ := segments(path); len(segs) != 0 {
		t.Errorf("segments %v left after a clean close", segs)
	}
	s = mustOpen(t, path, Options{JournalPrealloc: prealloc})
	for _, id := range ids {
		if tx, err := s.Get(ctx, id); err != nil || tx.Outcome != txn.OutcomeDelivered {
			t.Fatalf("call %s after reopening: outcome %q, err %v", id, tx.Outcome, err)
		}
	}
}
