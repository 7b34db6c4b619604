package store

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sync"
)

// Recycling journal segments. A new segment is filled with zeros and synced, chunk by chunk,
// so that the fdatasyncs of its appends flush data only (see openJournal): megabytes of writes
// and dozens of syncs for every segment, paid by the CPUs the calls need. A segment the
// applier is done with has the same property already, so, when a writer is waiting for its
// next spare, it becomes that spare instead of being deleted:
//
//  1. the applier renames the applied segment to freePath (a name replay does not read);
//  2. the writer's preparation takes it, rewrites its header with a new segment number and
//     an end marker, syncs (data only), renames it to that segment's path and syncs the
//     directory.
//
// A crash between the steps leaves a file that Open deletes, or a segment whose header
// already says it holds nothing: the old records, seeded with the old number, never replay
// (journal.go). A file is kept only while a preparation waits for it, so the journal holds no
// more files than without recycling (a current segment and a spare per writer, see
// JournalPrealloc). When none is on its way (after Open, or without preallocation) or the
// writer needs its spare before one arrives, the preparation zero-fills a new segment as
// before.

// freePath is where applied segment n waits to be recycled.
func freePath(base string, n uint64) string { return base + ".wal.free." + fmt.Sprintf("%08d", n) }

// removeFree deletes the files waiting to be recycled beside base: Open and Close, where no
// preparation waits, and restore, whose store is replaced.
func removeFree(base string) error {
	matches, err := filepath.Glob(base + ".wal.free.*")
	if err != nil {
		return fmt.Errorf("list recycled journal segments: %w", err)
	}
	for _, m := range matches {
		if err := os.Remove(m); err != nil && !errors.Is(err, os.ErrNotExist) {
			return fmt.Errorf("remove recycled journal segment: %w", err)
		}
	}
	return nil
}

// segmentPool hands applied segments from the applier to the writers' spare preparations.
type segmentPool struct {
	// mu is held while a preparation recycles a file, up to its delivery to the writer, so
	// that cut never misses a spare made of a file from before it.
	mu      sync.Mutex
	free    []uint64      // applied segments renamed to freePath
	waiting int           // preparations that want a recycled segment
	coming  int           // full segments handed to the applier, not yet recycled or deleted
	minSeg  uint64        // segments numbered below this are never recycled (see cut)
	changed chan struct{} // closed and replaced when free, coming or minSeg change
}

// signal wakes the preparations waiting; the caller holds mu.
func (p *segmentPool) signal() {
	close(p.changed)
	p.changed = make(chan struct{})
}

// expect counts n full segments handed to the applier.
func (p *segmentPool) expect(n int) {
	p.mu.Lock()
	p.coming += n
	p.mu.Unlock()
}

// await counts a preparation that starts (n 1) or stops (n -1) wanting a recycled segment.
func (p *segmentPool) await(n int) {
	p.mu.Lock()
	p.waiting += n
	p.mu.Unlock()
}

// cut makes every segment numbered below next unfit for recycling and deletes the files
// waiting: they hold the bytes of calls written before retireJournal's swap, which Forget
// erases. The caller holds walMu for writing, so segments numbered from next on are
// written only after the swap.
func (p *segmentPool) cut(base string, next uint64) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.minSeg = next
	var first error
	for _, n := range p.free {
		if err := os.Remove(freePath(base, n)); err != nil && !errors.Is(err, os.ErrNotExist) && first == nil {
			first = fmt.Errorf("remove recycled journal segment: %w", err)
		}
	}
	p.free = nil
	p.signal()
	return first
}

// disposeSegments is the applier's end of applied segments: each is kept for a preparation
// that waits for one (renamed to freePath) or else deleted.
func (s *Store) disposeSegments(segs []uint64) error {
	p := &s.pool
	p.mu.Lock()
	defer p.mu.Unlock()
	var first error
	for _, n := range segs {
		p.coming = max(p.coming-1, 0)
		if s.prealloc > 0 && n >= p.minSeg && len(p.free) < p.waiting {
			if err := os.Rename(segmentPath(s.path, n), freePath(s.path, n)); err == nil {
				p.free = append(p.free, n)
				continue
			}
		}
		if err := os.Remove(segmentPath(s.path, n)); err != nil && !errors.Is(err, os.ErrNotExist) && first == nil {
			first = fmt.Errorf("remove journal segment: %w", err)
		}
	}
	p.signal()
	return first
}

// recycledSpare says how recycled ended.
type recycledSpare int

const (
	noneRecycled recycledSpare = iota // none to wait for: create a new segment
	deliveredRecycled
	closedRecycled // the store closed: nil was delivered
)

// recycled waits for an applied segment, while one is on its way and writer w does not need
// its spare yet, and makes it w's spare: prealloc bytes long, numbered anew. The caller
// counted itself as waiting (segmentPool.await); recycled uncounts it.
func (s *Store) recycled(w int, prealloc int64) (recycledSpare, error) {
	p := &s.pool
	p.mu.Lock()
	defer p.mu.Unlock()
	for {
		for len(p.free) > 0 {
			n := p.free[len(p.free)-1]
			p.free = p.free[:len(p.free)-1]
			j, err := recycleSegment(s.path, n, s.newSegment(), prealloc)
			if err != nil || j != nil {
				p.waiting--
				if err != nil {
					return noneRecycled, err
				}
				s.spares[w] <- j // channel of one, empty while its segment is prepared
				return deliveredRecycled, nil
			}
		}
		if p.coming == 0 {
			p.waiting--
			return noneRecycled, nil
		}
		changed := p.changed
		p.mu.Unlock()
		select {
		case <-changed:
			p.mu.Lock()
		case <-s.need[w]:
			p.mu.Lock()
			p.waiting--
			return noneRecycled, nil
		case <-s.done:
			p.mu.Lock()
			p.waiting--
			s.spares[w] <- nil
			return closedRecycled, nil
		}
	}
}

// recycleSegment turns the applied segment waiting at freePath(base, from) into segment seg,
// its header rewritten, prealloc bytes long. It returns nil (and deletes the file) when the
// file is shorter than prealloc: the disk's room for preallocation grew since it was made,
// or there is none left (prealloc 0).
func recycleSegment(base string, from, seg uint64, prealloc int64) (*journal, error) {
	path := freePath(base, from)
	f, err := os.OpenFile(path, os.O_WRONLY, 0)
	if err != nil {
		os.Remove(path)
		return nil, fmt.Errorf("recycle journal segment: %w", err)
	}
	fail := func(err error) (*journal, error) {
		f.Close()
		os.Remove(path)
		return nil, err
	}
	fi, err := f.Stat()
	if err != nil {
		return fail(fmt.Errorf("recycle journal segment: %w", err))
	}
	switch {
	case prealloc <= segmentHeaderLen+endMarkerLen || fi.Size() < prealloc:
		return fail(nil)
	case fi.Size() > prealloc:
		// The writer went on past its preallocated bytes (its spare was late). Past prealloc
		// the next writer would not look anyway.
		if err := f.Truncate(prealloc); err != nil {
			return fail(fmt.Errorf("recycle journal segment: %w", err))
		}
	}
	// The header must be on disk before the new name: under it, the old header would make
	// the old records replay.
	if _, err := f.WriteAt(segmentHeader(seg), 0); err != nil {
		return fail(fmt.Errorf("recycle journal segment: %w", err))
	}
	if err := fdatasync(f); err != nil {
		return fail(fmt.Errorf("recycle journal segment: %w", err))
	}
	to := segmentPath(base, seg)
	if err := os.Rename(path, to); err != nil {
		return fail(fmt.Errorf("recycle journal segment: %w", err))
	}
	if err := syncDir(filepath.Dir(base)); err != nil {
		f.Close()
		os.Remove(to)
		return nil, err
	}
	return &journal{base: base, f: f, seg: seg, size: segmentHeaderLen, prealloc: prealloc, recycled: true}, nil
}
