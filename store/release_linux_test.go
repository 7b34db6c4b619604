package store

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/mtguard/mtguard/txn"
)

// mappedKB returns the resident kilobytes of this process's mappings of the file at path,
// from /proc/self/smaps.
func mappedKB(t *testing.T, path string) int {
	t.Helper()
	f, err := os.Open("/proc/self/smaps")
	if err != nil {
		t.Skipf("no /proc/self/smaps: %v", err)
	}
	defer f.Close()
	kb, in := 0, false
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := sc.Text()
		if fields := strings.Fields(line); len(fields) >= 5 && strings.Contains(fields[0], "-") {
			in = len(fields) >= 6 && fields[len(fields)-1] == path
			continue
		}
		if in && strings.HasPrefix(line, "Rss:") {
			var n int
			fmt.Sscanf(strings.TrimPrefix(line, "Rss:"), "%d", &n)
			kb += n
		}
	}
	return kb
}

// TestReleaseMapping checks that the store gives back the pages of its file that reads mapped
// in, when asked and by itself after it was used, and that every call reads the same
// afterwards.
func TestReleaseMapping(t *testing.T) {
	for _, tc := range []struct {
		name  string
		every time.Duration
		// release returns once the pages should be released.
		release func(t *testing.T, s *Store, path string)
	}{
		{"ReleaseMapping", -1, func(t *testing.T, s *Store, _ string) {
			if err := s.ReleaseMapping(); err != nil {
				t.Fatal(err)
			}
		}},
		{"by itself", time.Second, func(t *testing.T, _ *Store, path string) {
			deadline := time.Now().Add(5 * time.Second)
			for mappedKB(t, path) > 64 && time.Now().Before(deadline) {
				time.Sleep(20 * time.Millisecond)
			}
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "mtguard.db")
			s := mustOpen(t, path, Options{ReleaseEvery: tc.every})
			ctx := context.Background()
			body := strings.Repeat("lead data ", 300)
			at := time.Date(2026, 12, 7, 6, 0, 0, 0, time.UTC)
			var ids []string
			for i := range 400 {
				tx := &txn.Transaction{Call: txn.Call{Time: at.Add(time.Duration(i) * time.Millisecond), Route: "crm", Method: "POST", Path: "/crm/v1/leads",
					RecordKeys: []string{fmt.Sprintf("lead%d@example.com", i)}, Request: txn.Message{Body: body, Size: int64(len(body))}}}
				if err := s.RecordIntent(ctx, tx); err != nil {
					t.Fatal(err)
				}
				tx.Result = txn.Result{Status: 201, Outcome: txn.OutcomeDelivered, Findings: []txn.Finding{}}
				if err := s.RecordResult(tx); err != nil {
					t.Fatal(err)
				}
				ids = append(ids, tx.ID)
			}
			if err := s.readBarrier(ctx); err != nil {
				t.Fatal(err)
			}
			readAll := func() {
				t.Helper()
				for i, id := range ids {
					got, err := s.Get(ctx, id)
					if err != nil {
						t.Fatal(err)
					}
					if got.Request.Body != body || got.RecordKeys[0] != fmt.Sprintf("lead%d@example.com", i) || got.Outcome != txn.OutcomeDelivered {
						t.Fatalf("call %d reads back as %+v", i, got.Call)
					}
				}
			}
			// A release of the store's own may fall between the reads and the reading of
			// what they mapped: read again then.
			before := 0
			for try := 0; try < 5 && before < 512; try++ {
				readAll()
				before = mappedKB(t, path)
			}
			if before < 512 {
				t.Fatalf("reading %d calls left %d kB of the file mapped; expected more", len(ids), before)
			}
			tc.release(t, s, path)
			if after := mappedKB(t, path); after > 64 {
				t.Errorf("%d kB of the file still mapped after the release (before: %d kB)", after, before)
			}
			readAll()
		})
	}
}
