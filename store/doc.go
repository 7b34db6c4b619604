// Package store is mtguard's transaction log: an embedded bbolt file holding every call that
// passed through the proxy, its secondary indexes (record key, route, outcome, each ordered by
// time) and the retention sweep.
//
// An intent (the request side) is durable before RecordIntent returns: a journal writer
// appends every intent queued while the last write was in progress with one fdatasync (group
// commit), so many concurrent calls share one sync. There are two writers, each with its own
// segment file; while batches are small (the disk has time to spare) one writes while the other
// takes the next batch, so a call need not wait for a sync already under way. While batches are
// large, one writer does all the work and calls keep sharing syncs; when they are very large, it
// lets the goroutines ready to run go first before it takes a batch, so that more calls share
// each sync. A further goroutine, the applier, writes journaled intents and results into bbolt
// in bulk, every 250 ms or as soon as a read waits for them. When the vendor's status and headers arrive, the proxy records a
// provisional result (RecordProvisional): it is journaled like an intent, sharing its
// fdatasync, before the answer reaches the tool. The result does not wait: it is queued for
// the applier and replaces the provisional one. When the file is next opened, a call whose
// result never reached it gets its provisional result and the finding outcome.unchecked, and
// a call without either is marked interrupted with the finding outcome.unknown: whether the
// vendor acted on it is not known.
//
// A journal segment, once everything in it is applied, becomes a writer's next segment
// (recycle.go): its blocks are allocated and written, so its fdatasyncs flush data only,
// without the megabytes of zeros a new segment is first filled with. Each record's CRC is
// seeded with its segment's number, and each write ends with an end marker, so the old
// records a recycled segment still holds never replay (journal.go).
//
// A write that fails (journal, bbolt commit, new segment) is reported through
// Options.OnWriteError, counted, retried with backoff and never dropped; Healthy fails until a
// write of that kind succeeds again (failure.go). JournalPrealloc sizes the journal's
// preallocation to the free space of the disk.
//
// Every 5 s in which it was used, the store drops the pages of its file that reads and commits
// mapped into the process (release.go): the kernel's cache keeps them, the process's resident
// memory does not count them.
//
// Callers hand the store redacted data: the store never sees a secret. The package imports no
// other mtguard package.
package store
