package store

// Journal preallocation on a disk with little room. Each journal writer keeps a segment and a
// spare, so about four segments exist at a time; preallocating 16 MiB each needs 64 MiB, which
// a nearly full disk does not have. JournalPrealloc sizes them to what the disk can spare.

const (
	// liveSegments is how many journal segments exist at a time: a current and a spare per
	// writer. A recycled segment (recycle.go) is kept only for a spare that waits for it, in
	// its place, so recycling adds none.
	liveSegments = 2 * journalWriters
	// preallocShare is the part of the free space the journal's preallocation may take (one
	// in preallocShare): the rest is left to bbolt, which grows the store file.
	preallocShare = 4
	// PreallocFloor is the smallest preallocation worth having: below it segments are not
	// preallocated at all and grow as they are written (each sync then also records the new
	// size, which costs latency, not correctness).
	PreallocFloor = 1 << 20
	preallocAlign = 64 << 10
)

// JournalPrealloc returns how many bytes to preallocate per journal segment in dir: want when
// the disk has room for it, less when the live segments would take more than a quarter of the
// free space, and 0 (no preallocation) when that is under PreallocFloor. free is the space
// available to mtguard in dir; err is set when it cannot be read (want is then returned, as on
// platforms without statfs).
func JournalPrealloc(dir string, want int64) (got, free int64, err error) {
	if want <= 0 {
		return 0, 0, nil
	}
	free, err = freeSpace(dir)
	if err != nil || free < 0 {
		return want, free, err
	}
	return scalePrealloc(want, free), free, nil
}

// scalePrealloc is JournalPrealloc's arithmetic.
func scalePrealloc(want, free int64) int64 {
	per := free / preallocShare / liveSegments
	per -= per % preallocAlign
	switch {
	case per >= want:
		return want
	case per < PreallocFloor:
		return 0
	}
	return per
}
