package store

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/mtguard/mtguard/txn"
)

// TestBackupUnderWrites takes a backup while calls are being recorded and checks that the
// restored store holds every call that ended before the backup began, exactly as the original
// holds it, and no call the original does not.
func TestBackupUnderWrites(t *testing.T) {
	dir := t.TempDir()
	s := mustOpen(t, filepath.Join(dir, "live.db"), Options{})
	ctx := context.Background()
	for i := range 200 {
		record(t, s, time.Now(), "crm", []string{"a" + string(rune('a'+i%26)) + "@x.com"}, txn.OutcomeDelivered)
	}
	var stop atomic.Bool
	var wg sync.WaitGroup
	var mu sync.Mutex
	var ended []string // calls whose result was recorded, in order
	warm := make(chan struct{})
	var warmed sync.Once
	for range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for !stop.Load() {
				tx := &txn.Transaction{Call: txn.Call{Time: time.Now(), Route: "crm", Method: "POST", Path: "/crm/v1/leads", RecordKeys: []string{"load@x.com"}}}
				if err := s.RecordIntent(ctx, tx); err != nil {
					t.Error(err)
					return
				}
				tx.Result = txn.Result{Status: 201, Outcome: txn.OutcomeDelivered, Findings: []txn.Finding{}}
				if err := s.RecordResult(tx); err != nil {
					t.Error(err)
					return
				}
				mu.Lock()
				ended = append(ended, tx.ID)
				if len(ended) == 100 {
					warmed.Do(func() { close(warm) })
				}
				mu.Unlock()
			}
		}()
	}
	<-warm // the writers go on while the backup runs
	mu.Lock()
	before := append([]string(nil), ended...)
	mu.Unlock()
	var buf bytes.Buffer
	var started Snapshot
	snap, err := s.Backup(ctx, &buf, func(sn Snapshot) error { started = sn; return nil })
	stop.Store(true)
	wg.Wait()
	if err != nil {
		t.Fatal(err)
	}
	if started != snap || int64(buf.Len()) != snap.Bytes || snap.Calls < 200+len(before) {
		t.Fatalf("snapshot %+v (started %+v), %d bytes written, %d calls ended before", snap, started, buf.Len(), len(before))
	}
	backup := filepath.Join(dir, "backup.db")
	if err := os.WriteFile(backup, buf.Bytes(), 0o600); err != nil {
		t.Fatal(err)
	}
	rep, err := Verify(backup)
	if err != nil || !rep.OK() || rep.Calls != snap.Calls || rep.FormatVersion != formatVersion {
		t.Fatalf("verify: %+v, %v", rep, err)
	}
	restored := filepath.Join(t.TempDir(), "restored.db")
	if _, err := Restore(backup, restored, RestoreOptions{}); err != nil {
		t.Fatal(err)
	}
	r := mustOpen(t, restored, Options{})
	all := func(st *Store) map[string]txn.Transaction {
		out := map[string]txn.Transaction{}
		q := Query{Limit: maxLimit, Ascending: true}
		for {
			page, err := st.Query(ctx, q)
			if err != nil {
				t.Fatal(err)
			}
			for _, tx := range page.Transactions {
				out[tx.ID] = tx
			}
			if page.Next == "" {
				return out
			}
			q.Cursor = page.Next
		}
	}
	orig, got := all(s), all(r)
	if len(got) != snap.Calls {
		t.Fatalf("restored store has %d calls, the snapshot %d", len(got), snap.Calls)
	}
	for _, id := range before {
		if _, ok := got[id]; !ok {
			t.Fatalf("call %s ended before the backup began but is not in it", id)
		}
	}
	interrupted := 0
	for id, tx := range got {
		o, ok := orig[id]
		if !ok {
			t.Fatalf("restored call %s is not in the original", id)
		}
		if tx.Outcome == txn.OutcomeInterrupted {
			interrupted++ // in flight at the snapshot: a restore treats it as a crash would
			continue
		}
		a, _ := json.Marshal(o)
		b, _ := json.Marshal(tx)
		if !bytes.Equal(a, b) {
			t.Fatalf("call %s differs:\noriginal %s\nrestored %s", id, a, b)
		}
	}
	if interrupted != snap.Pending {
		t.Fatalf("%d calls restored as interrupted, %d were pending at the snapshot", interrupted, snap.Pending)
	}
}

// failingWriter fails after n bytes, like a full disk.
type failingWriter struct{ n int }

func (w *failingWriter) Write(p []byte) (int, error) {
	if len(p) > w.n {
		return w.n, errors.New("no space left on device")
	}
	w.n -= len(p)
	return len(p), nil
}

func TestBackupTargetFails(t *testing.T) {
	s := mustOpen(t, "", Options{})
	id := record(t, s, time.Now(), "crm", []string{"jane@acme.com"}, txn.OutcomeDelivered)
	_, err := s.Backup(context.Background(), &failingWriter{n: 4096}, nil)
	if err == nil || !strings.Contains(err.Error(), "no space left") {
		t.Fatalf("backup to a failing target: %v", err)
	}
	// The store is untouched and goes on working.
	if _, err := s.Get(context.Background(), id); err != nil {
		t.Fatal(err)
	}
	record(t, s, time.Now(), "crm", []string{"john@acme.com"}, txn.OutcomeDelivered)
}

func TestVerify(t *testing.T) {
	dir := t.TempDir()
	good := filepath.Join(dir, "good.db")
	s := mustOpen(t, good, Options{})
	record(t, s, time.Now(), "crm", []string{"jane@acme.com"}, txn.OutcomeDelivered)
	if _, err := Verify(good); !errors.Is(err, ErrInUse) {
		t.Fatalf("verify of a store in use: %v", err)
	}
	s.Close()
	damaged := filepath.Join(dir, "damaged.db")
	b, _ := os.ReadFile(good)
	for i := 4096 * 2; i < len(b) && i < 4096*6; i++ {
		b[i] = 0xff
	}
	os.WriteFile(damaged, b, 0o600)
	truncated := filepath.Join(dir, "truncated.db")
	good2, _ := os.ReadFile(good)
	os.WriteFile(truncated, good2[:3*4096], 0o600) // the meta pages and one more
	notStore := filepath.Join(dir, "notes.txt")
	os.WriteFile(notStore, []byte("hello"), 0o600)
	for _, tc := range []struct {
		name string
		path string
		ok   bool
		want string
	}{
		{"sound", good, true, ""},
		{"damaged pages", damaged, false, "page"},
		{"not a store", notStore, false, "not an mtguard store"},
		{"truncated", truncated, false, "cut short"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			rep, err := Verify(tc.path)
			if err != nil {
				t.Fatal(err)
			}
			if rep.OK() != tc.ok || !strings.Contains(strings.Join(rep.Problems, "\n"), tc.want) {
				t.Fatalf("verify %s: %+v", tc.name, rep)
			}
			if tc.ok && (rep.Calls != 1 || rep.First == nil || rep.FormatVersion != formatVersion) {
				t.Fatalf("report: %+v", rep)
			}
		})
	}
}

func TestRestoreRefuses(t *testing.T) {
	dir := t.TempDir()
	backup := filepath.Join(dir, "backup.db")
	s := mustOpen(t, backup, Options{})
	record(t, s, time.Now(), "crm", []string{"jane@acme.com"}, txn.OutcomeDelivered)
	s.Close()
	existing := filepath.Join(dir, "existing.db")
	e := mustOpen(t, existing, Options{})
	record(t, e, time.Now(), "crm", []string{"old@acme.com"}, txn.OutcomeDelivered)
	record(t, e, time.Now(), "crm", []string{"old2@acme.com"}, txn.OutcomeDelivered)

	if _, err := Restore(backup, existing, RestoreOptions{Force: true}); !errors.Is(err, ErrInUse) {
		t.Fatalf("restore over a store in use: %v", err)
	}
	e.Close()
	if _, err := Restore(backup, existing, RestoreOptions{}); err == nil || !strings.Contains(err.Error(), "--force") {
		t.Fatalf("restore over an existing store: %v", err)
	}
	if rep, _ := Verify(existing); rep.Calls != 2 {
		t.Fatalf("the refused restore changed the destination: %+v", rep)
	}
	// A stale journal segment of the replaced store must not be applied to the restored one.
	os.WriteFile(segmentPath(existing, 7), []byte("stale"), 0o600)
	if _, err := Restore(backup, existing, RestoreOptions{Force: true}); err != nil {
		t.Fatal(err)
	}
	rep, err := Verify(existing)
	if err != nil || rep.Calls != 1 || len(rep.Journal) != 0 {
		t.Fatalf("after a forced restore: %+v, %v", rep, err)
	}
	if _, err := os.Stat(existing + ".restore"); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("temporary file left: %v", err)
	}
	os.WriteFile(filepath.Join(dir, "junk.db"), []byte("junk"), 0o600)
	if _, err := Restore(filepath.Join(dir, "junk.db"), filepath.Join(dir, "new.db"), RestoreOptions{}); err == nil || !strings.Contains(err.Error(), "not sound") {
		t.Fatalf("restore of a damaged backup: %v", err)
	}
	if _, err := os.Stat(filepath.Join(dir, "new.db")); !errors.Is(err, os.ErrNotExist) {
		t.Fatal("a refused restore created the destination")
	}
}

// TestVerifyNeverPanics damages each page of a store in turn (its header, then its first
// elements): Verify must report it, never crash the process as bbolt does on a damaged file.
func TestVerifyNeverPanics(t *testing.T) {
	dir := t.TempDir()
	good := filepath.Join(dir, "good.db")
	s := mustOpen(t, good, Options{})
	for i := range 300 {
		record(t, s, time.Now(), "crm", []string{strings.Repeat("k", i%50) + "@x.com"}, txn.OutcomeDelivered)
	}
	s.Close()
	f, err := os.OpenFile(good, os.O_RDWR, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	m, err := readMeta(f, 0)
	if err != nil {
		t.Fatal(err)
	}
	// Each page below the high-water mark, damaged in place and mended after.
	for page := int64(0); page < int64(m.pgid); page++ {
		for _, at := range []int64{0, 8, 16, 40} {
			off := page*int64(m.pageSize) + at
			orig := make([]byte, 8)
			f.ReadAt(orig, off)
			bad := make([]byte, 8)
			for i := range bad {
				bad[i] = orig[i] ^ 0x5a
			}
			f.WriteAt(bad, off)
			if _, err := Verify(good); err != nil {
				t.Fatalf("page %d+%d: %v", page, at, err)
			}
			f.WriteAt(orig, off)
		}
	}
}

// TestBackupMemory: a backup streams; what it allocates does not grow with the file.
func TestBackupMemory(t *testing.T) {
	s := mustOpen(t, "", Options{})
	ctx := context.Background()
	body := strings.Repeat("x", 16<<10)
	for i := range 1000 {
		tx := &txn.Transaction{Call: txn.Call{Time: time.Now(), Route: "crm", Method: "POST", Path: "/crm/v1/leads",
			RecordKeys: []string{"k" + strings.Repeat("a", i%20) + "@x.com"}, Request: txn.Message{Body: body, Size: int64(len(body))}}}
		if err := s.RecordIntent(ctx, tx); err != nil {
			t.Fatal(err)
		}
		tx.Result = txn.Result{Status: 201, Outcome: txn.OutcomeDelivered, Findings: []txn.Finding{}}
		s.RecordResult(tx)
	}
	if err := s.barrier(ctx, false); err != nil { // the applier's work is not the backup's
		t.Fatal(err)
	}
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	snap, err := s.Backup(ctx, io.Discard, nil)
	runtime.ReadMemStats(&after)
	if err != nil {
		t.Fatal(err)
	}
	alloc := after.TotalAlloc - before.TotalAlloc
	t.Logf("backup of %d bytes allocated %d bytes", snap.Bytes, alloc)
	if snap.Bytes < 16<<20 || alloc > 1<<20 {
		t.Fatalf("backup of %d bytes allocated %d bytes; it should stream in small buffers", snap.Bytes, alloc)
	}
}
