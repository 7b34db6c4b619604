package store

import (
	"time"

	bolt "go.etcd.io/bbolt"
)

// defaultIdleRelease is Options.IdleRelease's default.
const defaultIdleRelease = 5 * time.Second

// releaseWhenIdle gives back to the system, once the store has been idle for a whole check,
// the pages of the file that reads and commits mapped into the process. bbolt reads the file
// through a shared mapping, and every page a commit or a query touched stays resident: tens of
// megabytes after a burst of calls, counted in the process's memory although the kernel holds
// the same pages in its cache. Dropping them from the mapping costs a later read a minor page
// fault per page, served from that cache. It runs once per idle spell, never while calls flow.
func (s *Store) releaseWhenIdle(every time.Duration) {
	t := time.NewTicker(every)
	defer t.Stop()
	last, released := s.touched.Load(), true
	for {
		select {
		case <-s.done:
			return
		case <-t.C:
		}
		now := s.touched.Load()
		switch {
		case now != last:
			last, released = now, false
		case !released:
			_ = s.ReleaseMapping() // best effort: a failure leaves the pages mapped, as before
			released = true
		}
	}
}

// ReleaseMapping drops the pages of the store file mapped into the process (see
// releaseWhenIdle); reads map them again as they need them. The file and its cached pages
// are untouched.
func (s *Store) ReleaseMapping() error {
	s.dbMu.RLock()
	defer s.dbMu.RUnlock()
	// A read transaction keeps bbolt from remapping the file meanwhile.
	return s.db.View(func(btx *bolt.Tx) error {
		return dropMapped(btx.DB().Info().Data, btx.Size())
	})
}
