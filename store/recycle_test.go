package store

import (
	"bytes"
	"context"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"hash/crc32"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/mtguard/mtguard/txn"
)

// appendRecord appends o's record as a format-1 segment holds it (no header, CRC unseeded):
// what a crash before the upgrade to recycled segments leaves.
func appendRecord(buf []byte, o *op) []byte {
	start := len(buf)
	buf = appendSealedRecord(buf, o, nil)
	sealRecords(buf[start:], 0)
	return buf
}

// callRecords returns the unsealed journal records of tx's intent and result.
func callRecords(t *testing.T, tx *txn.Transaction) []byte {
	t.Helper()
	req, err := encodeRequest(tx)
	if err != nil {
		t.Fatal(err)
	}
	res, err := json.Marshal(&tx.Result)
	if err != nil {
		t.Fatal(err)
	}
	buf := appendSealedRecord(nil, &op{intent: true, tx: tx, req: req}, nil)
	tx.IntentStored = true
	return appendSealedRecord(buf, &op{tx: tx, res: res}, nil)
}

// segmentImage is segment seg holding recs, as journal.write leaves it: header, records sealed
// for seg, end marker.
func segmentImage(seg uint64, recs []byte) []byte {
	b := append([]byte(nil), segmentHeader(seg)[:segmentHeaderLen]...)
	b = append(b, recs...)
	sealRecords(b[segmentHeaderLen:], crcSeed(seg))
	return append(b, make([]byte, endMarkerLen)...)
}

func testCall(id, key, body string) *txn.Transaction {
	// A fixed time: calls of equal keys and bodies encode to records of equal length.
	tx := &txn.Transaction{Call: txn.Call{ID: id, Time: time.Date(2026, 12, 7, 10, 0, 0, 0, time.UTC), Route: "crm", Method: "POST", Path: "/crm/x", RecordKeys: []string{key},
		Request: txn.Message{ContentType: "application/json", Body: body}}}
	tx.Result = txn.Result{Status: 201, Outcome: txn.OutcomeDelivered, Findings: []txn.Finding{}}
	return tx
}

// TestReplayIgnoresStaleRecords: a recycled segment holds, past its own records, those of the
// segment it was. Replay must stop at its own: at the end marker, and where a torn write lost
// the marker, at a stale record even when one starts exactly there (its CRC is seeded with the
// old segment's number). The control shows that the seed is what stops it.
func TestReplayIgnoresStaleRecords(t *testing.T) {
	body := `{"email":"x@acme.com","n":"` + strings.Repeat("x", 200) + `"}`
	for _, c := range []struct {
		name      string
		oldSeg    uint64
		freshBody string // the same length as the stale calls' bodies: the next stale record starts right after
		torn      bool   // the write's end marker did not reach the disk
		wantStale bool
	}{
		{"end marker", 5, body, false, false},
		{"torn, a stale record right after", 5, body, true, false},
		{"torn, in the middle of a stale record", 5, `{"email":"x@acme.com"}`, true, false},
		{"control: the same number as the stale records", 12, body, true, true},
	} {
		t.Run(c.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "mtguard.db")
			s := mustOpen(t, path, Options{})
			s.Close()

			// Segment oldSeg, applied long ago (its calls since erased), then recycled as
			// segment 12, which journaled one call before the crash.
			var old []byte
			for i, key := range []string{"stale1@acme.com", "stale2@acme.com"} {
				old = append(old, callRecords(t, testCall(fmt.Sprintf("01M8HD6TQ96R257XX8J3X5BKX%d", i), key, body))...)
			}
			img := segmentImage(c.oldSeg, old)
			fresh := testCall("01M8HD6TQ96R257XX8J3X5BKXT", "fresh1@acme.com", c.freshBody)
			written := segmentImage(12, callRecords(t, fresh))
			if c.torn {
				written = written[:len(written)-endMarkerLen]
			}
			copy(img, written)
			if err := os.WriteFile(segmentPath(path, 12), img, 0o600); err != nil {
				t.Fatal(err)
			}

			s = mustOpen(t, path, Options{})
			ctx := context.Background()
			if got, err := s.Get(ctx, fresh.ID); err != nil || got.Outcome != txn.OutcomeDelivered {
				t.Fatalf("the segment's own call: %q %v", got.Outcome, err)
			}
			page, err := s.Query(ctx, Query{RecordKey: "stale2@acme.com"})
			if err != nil {
				t.Fatal(err)
			}
			if back := len(page.Transactions) > 0; back != c.wantStale {
				t.Errorf("stale call replayed: %v, want %v", back, c.wantStale)
			}
			want := 2
			if c.wantStale {
				want = 4
			}
			if s.replayedRecords != want {
				t.Errorf("replayed %d records, want %d", s.replayedRecords, want)
			}
		})
	}
}

// TestFormat1SegmentReplays: segments written before recycling (no header, CRCs unseeded,
// zeros after the last record) replay after the upgrade, beside ones of the new format.
func TestFormat1SegmentReplays(t *testing.T) {
	path := filepath.Join(t.TempDir(), "mtguard.db")
	s := mustOpen(t, path, Options{})
	s.Close()

	before := testCall("01M8HD6TQ96R257XX8J3X5BKXA", "before@acme.com", `{"email":"before@acme.com"}`)
	// As the previous release wrote them: crc32.Checksum, then the preallocated zeros.
	recs := callRecords(t, before)
	for b := recs; len(b) > 0; {
		size := binary.BigEndian.Uint32(b)
		binary.BigEndian.PutUint32(b[4:], crc32.Checksum(b[8:8+size], crc32.MakeTable(crc32.Castagnoli)))
		b = b[8+size:]
	}
	old := append(recs, make([]byte, 64<<10)...)
	after := testCall("01M8HD6TQ96R257XX8J3X5BKXB", "after@acme.com", `{"email":"after@acme.com"}`)
	for n, b := range map[uint64][]byte{3: old, 4: make([]byte, 64<<10), 9: segmentImage(9, callRecords(t, after))} {
		if err := os.WriteFile(segmentPath(path, n), b, 0o600); err != nil {
			t.Fatal(err)
		}
	}

	s = mustOpen(t, path, Options{})
	if s.replayedRecords != 4 {
		t.Errorf("replayed %d records, want 4", s.replayedRecords)
	}
	for _, tx := range []*txn.Transaction{before, after} {
		if got, err := s.Get(context.Background(), tx.ID); err != nil || got.Outcome != txn.OutcomeDelivered {
			t.Errorf("%s after replay: %q %v", tx.RecordKeys[0], got.Outcome, err)
		}
	}
	for _, n := range []uint64{3, 4, 9} {
		if _, err := os.Stat(segmentPath(path, n)); !os.IsNotExist(err) {
			t.Errorf("replayed segment %d is still there: %v", n, err)
		}
	}
}

// recycledPrealloc is a preallocation small enough that a few dozen calls fill segments.
const recycledPrealloc = 16 << 10

// recordCall records a delivered call of key and body at at, and returns its id.
func recordCall(t *testing.T, s *Store, at time.Time, key, body string) string {
	t.Helper()
	tx := &txn.Transaction{Call: txn.Call{Time: at, Route: "crm", Method: "POST", Path: "/crm/x",
		RecordKeys: []string{key}, Request: txn.Message{ContentType: "application/json", Body: body}}}
	if err := s.RecordIntent(context.Background(), tx); err != nil {
		t.Fatal(err)
	}
	tx.Result = txn.Result{Status: 201, Outcome: txn.OutcomeDelivered, Findings: []txn.Finding{}}
	if err := s.RecordResult(tx); err != nil {
		t.Fatal(err)
	}
	return tx.ID
}

// recordUntilRecycled records calls (key(i), body, a second apart from at), applying each,
// until a writer appends to a recycled segment, and returns their ids.
func recordUntilRecycled(t *testing.T, s *Store, at time.Time, key func(int) string, body string) []string {
	t.Helper()
	var ids []string
	for i := 0; ; i++ {
		if i == 1000 {
			t.Fatal("no writer moved to a recycled segment")
		}
		ids = append(ids, recordCall(t, s, at.Add(time.Duration(i)*time.Second), key(i), body))
		// Applied, a full segment can be recycled.
		if err := s.barrier(context.Background(), false); err != nil {
			t.Fatal(err)
		}
		free, _ := filepath.Glob(s.path + ".wal.free.*")
		if len(free) > journalWriters {
			t.Fatalf("%d segments wait to be recycled, want at most one per writer: %v", len(free), free)
		}
		s.walMu.Lock()
		recycled := false
		for _, w := range s.wals {
			recycled = recycled || w.recycled
		}
		s.walMu.Unlock()
		if recycled {
			return ids
		}
	}
}

// crashImage is every file beside the store as a crash now would leave it, and the bytes of
// its journal files that replay may read: the current segments up to where their writers
// are, the spares' headers, the whole of other segments.
func crashImage(t *testing.T, s *Store) (files map[string][]byte, readable [][]byte) {
	t.Helper()
	s.walMu.Lock()
	defer s.walMu.Unlock()
	s.pool.mu.Lock() // no recycled spare is delivered meanwhile
	defer s.pool.mu.Unlock()
	ends := map[string]int64{}
	for _, w := range s.wals {
		ends[segmentPath(s.path, w.seg)] = w.size
	}
	for i := range s.spares {
		select {
		case j := <-s.spares[i]:
			if j != nil {
				ends[segmentPath(s.path, j.seg)] = segmentHeaderLen
			}
			s.spares[i] <- j
		default:
		}
	}
	files = map[string][]byte{}
	names, _ := filepath.Glob(s.path + "*")
	for _, name := range names {
		b, err := os.ReadFile(name)
		if err != nil {
			t.Fatal(err)
		}
		files[name] = b
		switch end, ok := ends[name]; {
		case name == s.path || strings.Contains(name, ".wal.free."):
		case ok:
			readable = append(readable, b[:end])
		default:
			readable = append(readable, b)
		}
	}
	return files, readable
}

// restoreImage closes s and puts back the files of a crash image.
func restoreImage(t *testing.T, s *Store, files map[string][]byte) {
	t.Helper()
	s.Close()
	names, _ := filepath.Glob(s.path + "*")
	for _, name := range names {
		os.Remove(name)
	}
	for name, b := range files {
		if err := os.WriteFile(name, b, 0o600); err != nil {
			t.Fatal(err)
		}
	}
}

// TestRecycledSegmentCrash: calls fill segments that are applied and recycled; retention then
// erases them; a few new calls are journaled into recycled segments; the process crashes.
// Reopening applies the new calls, and brings back none of the erased ones whose records were
// left only in recycled files (past a writer's records, in a spare, or waiting).
func TestRecycledSegmentCrash(t *testing.T) {
	path := filepath.Join(t.TempDir(), "mtguard.db")
	s := mustOpen(t, path, Options{JournalPrealloc: recycledPrealloc})
	ctx := context.Background()
	// Every intent record has the same length (whole seconds in UTC, keys of one length), so
	// the new records end where an old one starts: only the CRC's seed tells it apart.
	body := `{"note":"` + strings.Repeat("s", 900) + `"}`
	now := time.Now().UTC().Truncate(time.Second)
	staleKey := func(i int) string { return fmt.Sprintf("stale%04d@acme.com", i) }
	stale := recordUntilRecycled(t, s, now.Add(-48*time.Hour), staleKey, body)
	// The full segments still on their way are recycled or deleted first: a crash before
	// would replay them whole, as without recycling.
	waitFor(t, "the full segments are recycled or deleted", func() bool {
		s.barrier(ctx, false)
		s.pool.mu.Lock()
		defer s.pool.mu.Unlock()
		return s.pool.coming == 0
	})
	if n, err := s.DeleteBefore(time.Now().Add(-24 * time.Hour)); err != nil || n != len(stale) {
		t.Fatalf("retention deleted %d calls (%v), want %d", n, err, len(stale))
	}
	var fresh []string
	for i := range 3 {
		fresh = append(fresh, recordCall(t, s, now.Add(time.Duration(i)*time.Second), fmt.Sprintf("fresh%04d@acme.com", i), body))
	}
	s.barrier(ctx, false) // bbolt idle while its file is copied
	files, readable := crashImage(t, s)
	inJournal := func(key string) (readableHere, anywhere bool) {
		for _, b := range readable {
			readableHere = readableHere || bytes.Contains(b, []byte(key))
		}
		for name, b := range files {
			anywhere = anywhere || name != path && bytes.Contains(b, []byte(key))
		}
		return readableHere, anywhere
	}
	leftover := 0
	for i := range stale {
		if r, a := inJournal(staleKey(i)); a && !r {
			leftover++
		}
	}
	if leftover == 0 {
		t.Fatal("no erased call is left in a recycled file: the test checks nothing")
	}
	restoreImage(t, s, files)

	s = mustOpen(t, path, Options{JournalPrealloc: recycledPrealloc})
	for _, id := range fresh {
		if got, err := s.Get(ctx, id); err != nil || got.Outcome != txn.OutcomeDelivered {
			t.Errorf("new call %s after the crash: %q %v", id, got.Outcome, err)
		}
	}
	for i := range stale {
		page, err := s.Query(ctx, Query{RecordKey: staleKey(i)})
		if err != nil {
			t.Fatal(err)
		}
		// A writer may have journaled an erased call after its move: those records are its
		// own, and replay as they would without recycling.
		if r, _ := inJournal(staleKey(i)); len(page.Transactions) > 0 && !r {
			t.Errorf("erased call %s came back from a recycled file's old records", staleKey(i))
		}
	}
	if matches, _ := filepath.Glob(path + ".wal.free.*"); len(matches) != 0 {
		t.Errorf("files waiting to be recycled survive Open: %v", matches)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if matches, _ := filepath.Glob(path + ".wal*"); len(matches) != 0 {
		t.Errorf("journal files left after a clean close: %v", matches)
	}
}

// TestForgetErasesRecycledSegments: recycled files hold the old records of calls past their
// own. Forget must leave none of the person's bytes in them (they are deleted, and spares made
// of them replaced), and after a crash her call must not come back.
func TestForgetErasesRecycledSegments(t *testing.T) {
	path := filepath.Join(t.TempDir(), "mtguard.db")
	s := mustOpen(t, path, Options{JournalPrealloc: recycledPrealloc})
	ctx := context.Background()
	const jane = "jane.forget@acme.com"
	body := `{"note":"` + strings.Repeat("o", 900) + `"}`
	// Her record a few kilobytes into its segment: a recycled file keeps it until its new
	// writer reaches it.
	for i := range 8 {
		recordCall(t, s, time.Now(), fmt.Sprintf("before%d@acme.com", i), body)
	}
	janeID := record(t, s, time.Now(), "crm", []string{jane}, txn.OutcomeDelivered)
	recordUntilRecycled(t, s, time.Now(), func(i int) string { return fmt.Sprintf("other%d@acme.com", i) }, body)
	// Go on until her bytes are only in recycled files, or in ones on their way there.
	for i := 0; ; i++ {
		files, readable := crashImage(t, s)
		inReadable := false
		for _, b := range readable {
			inReadable = inReadable || bytes.Contains(b, []byte(jane))
		}
		inRecycled := false
		for name, b := range files {
			inRecycled = inRecycled || name != path && bytes.Contains(b, []byte(jane))
		}
		if inRecycled && !inReadable {
			break
		}

		if i == 300 {
			t.Fatal("her call never got into a recycled file alone")
		}
		// Two calls between barriers, so that both writers take some (a barrier goes to
		// the writer whose turn it is, and does not fill its segment).
		for j := range 2 {
			recordCall(t, s, time.Now(), fmt.Sprintf("more%d-%d@acme.com", i, j), body)
		}
		s.barrier(ctx, false)
	}

	if rep, err := s.Forget(ctx, jane); err != nil || rep.Deleted != 1 {
		t.Fatalf("forget: %+v %v", rep, err)
	}
	after := record(t, s, time.Now(), "crm", []string{"after@acme.com"}, txn.OutcomeDelivered)
	s.barrier(ctx, false) // bbolt idle while its file is copied
	files, _ := crashImage(t, s)
	for name, b := range files {
		if bytes.Contains(b, []byte(jane)) {
			t.Errorf("her bytes are still in %s after Forget", filepath.Base(name))
		}
	}
	restoreImage(t, s, files)

	s = mustOpen(t, path, Options{JournalPrealloc: recycledPrealloc})
	if _, err := s.Get(ctx, janeID); err == nil {
		t.Error("her call came back after a crash")
	}
	if got, err := s.Get(ctx, after); err != nil || got.Outcome != txn.OutcomeDelivered {
		t.Errorf("the call after Forget: %q %v", got.Outcome, err)
	}
}
