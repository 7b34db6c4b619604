package store

import (
	"path/filepath"
	"sync"
	"testing"
	"time"
)

// reserve1 reserves one chain.
func reserve1(s *Store, root, owner string, ttl time.Duration) (Reservation, bool, error) {
	mine, others, err := s.Reserve([]string{root}, owner, ttl)
	if len(mine) == 1 {
		return mine[0], true, err
	}
	return others[root], false, err
}

// TestReserve: of many concurrent callers one holds a chain; only its token releases it; an
// expired reservation may be taken over; reopening the store releases every reservation.
func TestReserve(t *testing.T) {
	path := filepath.Join(t.TempDir(), "s.db")
	now := time.Date(2026, 11, 30, 14, 0, 0, 0, time.UTC)
	var mu sync.Mutex
	clock := func() time.Time { mu.Lock(); defer mu.Unlock(); return now }
	s, err := Open(path, Options{Now: clock})
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	var got []Reservation
	var gotMu sync.Mutex
	for range 20 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			r, ok, err := reserve1(s, "01ROOT", "job", time.Minute)
			if err != nil {
				t.Error(err)
			}
			if ok {
				gotMu.Lock()
				got = append(got, r)
				gotMu.Unlock()
			}
		}()
	}
	wg.Wait()
	if len(got) != 1 {
		t.Fatalf("%d of 20 concurrent callers reserved the chain, want 1", len(got))
	}
	held := got[0]
	if r, ok, _ := reserve1(s, "01ROOT", "other", time.Minute); ok || r.Token != held.Token || r.Owner != "job" {
		t.Fatalf("second reservation: ok %v, %+v; want the first one's", ok, r)
	}
	if err := s.Release(Reservation{Root: "01ROOT", Token: "not-mine"}); err != nil {
		t.Fatal(err)
	}
	if _, ok, _ := reserve1(s, "01ROOT", "other", time.Minute); ok {
		t.Fatal("a release with another token freed the chain")
	}
	if err := s.Release(held); err != nil {
		t.Fatal(err)
	}
	r, ok, err := reserve1(s, "01ROOT", "other", time.Minute)
	if err != nil || !ok {
		t.Fatalf("after release: ok %v, %v", ok, err)
	}
	// Expired: a stuck holder does not block the chain for ever.
	mu.Lock()
	now = now.Add(2 * time.Minute)
	mu.Unlock()
	r2, ok, err := reserve1(s, "01ROOT", "third", time.Minute)
	if err != nil || !ok {
		t.Fatalf("expired reservation not taken over: ok %v, %v", ok, err)
	}
	if err := s.Release(r); err != nil { // the stale holder's release leaves the new one
		t.Fatal(err)
	}
	if _, ok, _ := reserve1(s, "01ROOT", "fourth", time.Minute); ok {
		t.Fatal("a stale holder's release freed the chain")
	}
	_ = r2
	// A crash: the next Open releases everything.
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if s, err = Open(path, Options{Now: clock}); err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if _, ok, err := reserve1(s, "01ROOT", "after restart", time.Minute); err != nil || !ok {
		t.Fatalf("after reopening: ok %v, %v", ok, err)
	}
}

// TestReserveMany: one call reserves what is free and names the holders of the rest.
func TestReserveMany(t *testing.T) {
	s, err := Open(filepath.Join(t.TempDir(), "s.db"), Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	a, _, _ := reserve1(s, "B", "job 1", time.Minute)
	mine, others, err := s.Reserve([]string{"A", "B", "C"}, "job 2", time.Minute)
	if err != nil || len(mine) != 2 || mine[0].Root != "A" || mine[1].Root != "C" || others["B"].Token != a.Token || len(others) != 1 {
		t.Fatalf("Reserve(A, B, C) with B held: mine %+v, others %+v, %v", mine, others, err)
	}
	if err := s.Release(append(mine, a)...); err != nil {
		t.Fatal(err)
	}
	if mine, _, _ := s.Reserve([]string{"A", "B", "C"}, "job 3", time.Minute); len(mine) != 3 {
		t.Fatalf("after release: %d of 3 reserved", len(mine))
	}
}
