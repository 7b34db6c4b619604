package store

import (
	"time"

	bolt "go.etcd.io/bbolt"
)

// defaultReleaseEvery is Options.ReleaseEvery's default.
const defaultReleaseEvery = 5 * time.Second

// releaseMapped gives back to the system, every check in which the store was used, the
// pages of the file that reads and commits mapped into the process. bbolt reads the file
// through a shared mapping, and every page a commit or a query touched stays resident: tens of
// megabytes after a burst of calls, counted in the process's memory (at its peak, too) although
// the kernel holds the same pages in its cache. Dropping them from the mapping costs the next
// read of a page a minor fault, served from that cache: a commit touches the last pages of
// each bucket's tree again, a few hundred at most, once per check.
func (s *Store) releaseMapped(every time.Duration) {
	t := time.NewTicker(every)
	defer t.Stop()
	last := s.touched.Load()
	for {
		select {
		case <-s.done:
			return
		case <-t.C:
		}
		if now := s.touched.Load(); now != last {
			last = now
			_ = s.ReleaseMapping() // best effort: a failure leaves the pages mapped, as before
		}
	}
}

// ReleaseMapping drops the pages of the store file mapped into the process (see
// releaseMapped); reads map them again as they need them. The file and its cached pages
// are untouched.
func (s *Store) ReleaseMapping() error {
	s.dbMu.RLock()
	defer s.dbMu.RUnlock()
	// A read transaction keeps bbolt from remapping the file meanwhile.
	return s.db.View(func(btx *bolt.Tx) error {
		return dropMapped(btx.DB().Info().Data, btx.Size())
	})
}
