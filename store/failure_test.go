package store

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/mtguard/mtguard/txn"
)

// diskFull is a WriteHook that fails the named kinds of write while set, as a full disk would.
type diskFull struct {
	mu  sync.Mutex
	ops map[string]bool
}

func (d *diskFull) set(ops ...string) {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.ops = map[string]bool{}
	for _, o := range ops {
		d.ops[o] = true
	}
}

func (d *diskFull) hook(op string) error {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.ops[op] {
		return fmt.Errorf("write %s: %w", op, syscall.ENOSPC)
	}
	return nil
}

// failureLog collects what the store reports through OnWriteError and OnWriteRecovered.
type failureLog struct {
	mu        sync.Mutex
	failures  []WriteFailure
	recovered []WriteRecovery
	results   map[string]txn.Outcome
}

func (l *failureLog) options(d *diskFull) Options {
	l.results = map[string]txn.Outcome{}
	return Options{
		WriteHook: d.hook, RetryMin: 5 * time.Millisecond, RetryMax: 40 * time.Millisecond,
		OnWriteError:     func(f WriteFailure) { l.mu.Lock(); l.failures = append(l.failures, f); l.mu.Unlock() },
		OnWriteRecovered: func(r WriteRecovery) { l.mu.Lock(); l.recovered = append(l.recovered, r); l.mu.Unlock() },
		OnResult:         func(tx txn.Transaction) { l.mu.Lock(); l.results[tx.ID] = tx.Outcome; l.mu.Unlock() },
	}
}

func (l *failureLog) failed(op string) (WriteFailure, bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	for _, f := range l.failures {
		if f.Op == op {
			return f, true
		}
	}
	return WriteFailure{}, false
}

func (l *failureLog) observed() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return len(l.results)
}

// waitFor polls cond for up to 5s.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting until %s", what)
		}
		time.Sleep(2 * time.Millisecond)
	}
}

// recordMany records n delivered calls with a body of size bytes and returns their ids.
func recordMany(t *testing.T, s *Store, n, size int) []string {
	t.Helper()
	ids := make([]string, n)
	body := strings.Repeat("x", size)
	for i := range ids {
		tx := &txn.Transaction{Call: txn.Call{Time: time.Now(), Route: "crm", Method: "POST", Path: "/crm/v1/leads",
			RecordKeys: []string{fmt.Sprintf("lead%d@acme.com", i)}, Request: txn.Message{Body: body, Size: int64(size)}}}
		if err := s.RecordIntent(context.Background(), tx); err != nil {
			t.Fatalf("intent %d: %v", i, err)
		}
		tx.Result = txn.Result{Status: 200, Outcome: txn.OutcomeDelivered, Findings: []txn.Finding{}}
		if err := s.RecordResult(tx); err != nil {
			t.Fatalf("result %d: %v", i, err)
		}
		ids[i] = tx.ID
	}
	return ids
}

// allDelivered checks that every id is in the file with its delivered outcome.
func allDelivered(t *testing.T, s *Store, ids []string) {
	t.Helper()
	for _, id := range ids {
		tx, err := s.Get(context.Background(), id)
		if err != nil || tx.Outcome != txn.OutcomeDelivered {
			t.Fatalf("call %s: outcome %q err %v, want delivered", id, tx.Outcome, err)
		}
	}
}

// TestCommitFailureKeepsResults: while bbolt cannot commit, the store says so (Healthy, the
// callback, the counters), holds every write and retries with backoff; once the disk has room
// again everything is applied, OnResult sees every call, and Healthy recovers.
func TestCommitFailureKeepsResults(t *testing.T) {
	var full diskFull
	var log failureLog
	s := mustOpen(t, "", log.options(&full))
	full.set(OpCommit)
	ids := recordMany(t, s, 50, 200)
	waitFor(t, "Healthy reports the failing commit", func() bool { return s.Healthy() != nil })
	if err := s.Healthy(); !errors.Is(err, syscall.ENOSPC) || !strings.Contains(err.Error(), "commit") {
		t.Fatalf("Healthy = %v, want the commit's ENOSPC", err)
	}
	f, ok := log.failed(OpCommit)
	if !ok || !errors.Is(f.Err, syscall.ENOSPC) || f.Held == 0 || f.RetryIn <= 0 {
		t.Fatalf("OnWriteError got %+v (%v), want the commit failure with held writes and a retry", f, ok)
	}
	waitFor(t, "a second attempt", func() bool { return s.WriteFailures().Commit >= 2 })
	if s.HeldWrites() == 0 {
		t.Fatal("no writes held while the commit fails")
	}
	if n := log.observed(); n != 0 {
		t.Fatalf("OnResult saw %d calls that are not in the file", n)
	}

	full.set()
	waitFor(t, "the held writes are applied", func() bool { return s.Healthy() == nil })
	allDelivered(t, s, ids)
	if n := log.observed(); n != len(ids) {
		t.Fatalf("OnResult saw %d calls, want %d", n, len(ids))
	}
	if s.HeldWrites() != 0 {
		t.Fatalf("%d writes still held", s.HeldWrites())
	}
	log.mu.Lock()
	defer log.mu.Unlock()
	if len(log.recovered) == 0 || log.recovered[0].Op != OpCommit || log.recovered[0].Applied < len(ids) {
		t.Fatalf("OnWriteRecovered got %+v, want the commit applying every held write", log.recovered)
	}
}

// TestCommitFailureSurvivesRestart: results that bbolt could not take are in the journal, so a
// store closed (or killed) while its disk is full applies them on the next Open: none shows as
// interrupted.
func TestCommitFailureSurvivesRestart(t *testing.T) {
	for _, crash := range []bool{false, true} {
		t.Run(fmt.Sprintf("crash=%v", crash), func(t *testing.T) {
			dir := t.TempDir()
			path := filepath.Join(dir, "mtguard.db")
			var full diskFull
			var log failureLog
			s, err := Open(path, log.options(&full))
			if err != nil {
				t.Fatal(err)
			}
			full.set(OpCommit)
			ids := recordMany(t, s, 40, 100)
			waitFor(t, "the commit fails", func() bool { return s.WriteFailures().Commit > 0 })
			if crash {
				// As kill -9 would leave it: the files as they are now, the process gone.
				copyPath := filepath.Join(t.TempDir(), "mtguard.db")
				waitFor(t, "a copy of the files holds every result", func() bool {
					copyStore(t, path, copyPath)
					c, err := Open(copyPath, Options{})
					if err != nil {
						t.Fatal(err)
					}
					defer c.Close()
					for _, id := range ids {
						if tx, err := c.Get(context.Background(), id); err != nil || tx.Outcome != txn.OutcomeDelivered {
							return false
						}
					}
					return c.Recovered() == 0
				})
				s.Close()
				return
			}
			s.Close()
			s = mustOpen(t, path, Options{})
			if n := s.Recovered(); n != 0 {
				t.Fatalf("%d calls marked interrupted after the restart", n)
			}
			allDelivered(t, s, ids)
		})
	}
}

// copyStore copies the store file and its journal segments to dst, replacing what was there.
func copyStore(t *testing.T, src, dst string) {
	t.Helper()
	old, _ := filepath.Glob(dst + "*")
	for _, f := range old {
		os.Remove(f)
	}
	files, _ := filepath.Glob(src + "*")
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			continue // a segment deleted meanwhile
		}
		if err := os.WriteFile(dst+strings.TrimPrefix(f, src), b, 0o600); err != nil {
			t.Fatal(err)
		}
	}
}

// TestJournalFailureStaysUnhealthy: a failed journal write fails the intents that waited for
// it and keeps Healthy failing (a later bbolt commit of the same writes does not hide it) until
// the journal takes a write again, which the store finds out by itself, with no call arriving.
// The writes themselves reach bbolt.
func TestJournalFailureStaysUnhealthy(t *testing.T) {
	var full diskFull
	var log failureLog
	s := mustOpen(t, "", log.options(&full))
	full.set(OpJournal)
	tx := &txn.Transaction{Call: txn.Call{Time: time.Now(), Route: "crm", Method: "POST", Path: "/crm/x", RecordKeys: []string{"j@acme.com"}}}
	if err := s.RecordIntent(context.Background(), tx); !errors.Is(err, syscall.ENOSPC) {
		t.Fatalf("intent: err = %v, want ENOSPC", err)
	}
	tx.Result = txn.Result{Status: 200, Outcome: txn.OutcomeDelivered, Findings: []txn.Finding{}}
	if err := s.RecordResult(tx); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Get(context.Background(), tx.ID); err != nil { // waits for the bbolt commit
		t.Fatalf("the call did not reach bbolt: %v", err)
	}
	if err := s.Healthy(); err == nil || !strings.Contains(err.Error(), "journal") {
		t.Fatalf("Healthy = %v after a bbolt commit, want the journal still failing", err)
	}
	if f, ok := log.failed(OpJournal); !ok || !errors.Is(f.Err, syscall.ENOSPC) {
		t.Fatalf("OnWriteError got %+v, want the journal failure", f)
	}
	full.set()
	waitFor(t, "a probe finds the journal writable", func() bool { return s.Healthy() == nil })
	allDelivered(t, s, []string{tx.ID})
}

// TestSegmentFailureRetried: a journal segment that cannot be created is reported and retried;
// the writer goes on in its current segment meanwhile.
func TestSegmentFailureRetried(t *testing.T) {
	var full diskFull
	var log failureLog
	opts := log.options(&full)
	opts.JournalPrealloc = 16 << 10
	full.set(OpSegment)
	s := mustOpen(t, "", opts)
	waitFor(t, "the spare segment fails", func() bool { return s.WriteFailures().Segment > 0 })
	if err := s.Healthy(); err == nil || !strings.Contains(err.Error(), "segment") {
		t.Fatalf("Healthy = %v, want the segment failure", err)
	}
	ids := recordMany(t, s, 20, 2000) // past the 16 KiB preallocated
	full.set()
	waitFor(t, "a segment is created again", func() bool { return s.Healthy() == nil })
	allDelivered(t, s, ids)
}

func TestScalePrealloc(t *testing.T) {
	const want = 16 << 20
	for _, c := range []struct{ free, want int64 }{
		{10 << 30, want},        // room enough
		{256 << 20, want},       // exactly a quarter
		{100 << 20, 6400 << 10}, // 100 MiB / 16, on a 64 KiB boundary
		{16 << 20, 1 << 20},     // the floor
		{15 << 20, 0},           // under it: no preallocation
		{0, 0},
	} {
		if got := scalePrealloc(want, c.free); got != c.want {
			t.Errorf("free %d: prealloc %d, want %d", c.free, got, c.want)
		}
	}
}

// TestDiskFullTmpfs: the store on a small filesystem that fills up. It starts with the
// preallocation scaled down to the free space (16 MiB a segment would not fit), bbolt fails to
// grow once the disk is full, nothing is lost, and everything is applied once space returns.
// It needs root to mount a tmpfs.
func TestDiskFullTmpfs(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("mounting a tmpfs needs root")
	}
	dir := t.TempDir()
	if out, err := exec.Command("mount", "-t", "tmpfs", "-o", "size=24m", "tmpfs", dir).CombinedOutput(); err != nil {
		t.Skipf("cannot mount a tmpfs: %v %s", err, out)
	}
	t.Cleanup(func() { exec.Command("umount", "-l", dir).Run() })
	path := filepath.Join(dir, "mtguard.db")

	if _, err := Open(path, Options{JournalPrealloc: 16 << 20}); err == nil {
		t.Fatal("a 64 MiB journal fit in 24 MiB: the test proves nothing")
	}
	prealloc, free, err := JournalPrealloc(dir, 16<<20)
	if err != nil || prealloc <= 0 || prealloc >= 16<<20 {
		t.Fatalf("JournalPrealloc = %d (free %d, err %v), want scaled down but not off", prealloc, free, err)
	}
	var log failureLog
	opts := log.options(&diskFull{})
	opts.JournalPrealloc = prealloc
	s, err := Open(path, opts)
	if err != nil {
		t.Fatalf("open on a small disk: %v", err)
	}
	defer s.Close()
	filler := filepath.Join(dir, "filler")
	fillDisk(t, filler)

	var ids []string
	for s.WriteFailures().Commit == 0 { // bbolt grows only once its free pages are used up
		if len(ids) > 5000 {
			t.Fatal("bbolt never failed to grow on the full disk")
		}
		for range 50 {
			// Once the journal's preallocated room is used up too, an intent may fail: the
			// pipeline then forwards the call (or refuses it) and records its result anyway.
			tx := &txn.Transaction{Call: txn.Call{Time: time.Now(), Route: "crm", Method: "POST", Path: "/crm/v1/leads",
				RecordKeys: []string{fmt.Sprintf("full%d@acme.com", len(ids))}, Request: txn.Message{Body: strings.Repeat("x", 4000)}}}
			s.RecordIntent(context.Background(), tx)
			tx.Result = txn.Result{Status: 200, Outcome: txn.OutcomeDelivered, Findings: []txn.Finding{}}
			if err := s.RecordResult(tx); err != nil {
				t.Fatal(err)
			}
			ids = append(ids, tx.ID)
		}
		s.Sync(context.Background())
		time.Sleep(applyInterval)
	}
	if err := s.Healthy(); !errors.Is(err, syscall.ENOSPC) {
		t.Fatalf("Healthy = %v, want ENOSPC", err)
	}
	os.Remove(filler)
	waitFor(t, "the store recovers", func() bool { return s.Healthy() == nil && s.HeldWrites() == 0 })
	allDelivered(t, s, ids)
}

// fillDisk writes path until the filesystem is full.
func fillDisk(t *testing.T, path string) {
	t.Helper()
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	chunk := make([]byte, 64<<10)
	for {
		if _, err := f.Write(chunk); err != nil {
			if !errors.Is(err, syscall.ENOSPC) {
				t.Fatalf("filling the disk: %v", err)
			}
			break
		}
	}
	for {
		if _, err := f.Write(chunk[:512]); err != nil {
			return
		}
	}
}
