// Package store is mtguard's transaction log: an embedded bbolt file holding every call that
// passed through the proxy, its secondary indexes (record key, route, outcome, each ordered by
// time) and the retention sweep.
//
// An intent (the request side) is durable before RecordIntent returns: a journal writer
// appends every intent queued while the last write was in progress with one fdatasync (group
// commit), so many concurrent calls share one sync. There are two writers, each with its own
// segment file; while batches are small (the disk has time to spare) one writes while the other
// takes the next batch, so a call need not wait for a sync already under way. While batches are
// large, one writer does all the work and calls keep sharing syncs. A further goroutine, the
// applier, writes journaled intents and results into bbolt in bulk, every 250 ms or as soon as
// a read waits for them. A result does not wait: it is queued for the applier, and a call whose
// result never reached the file is marked interrupted the next time the file is opened.
//
// A write that fails (journal, bbolt commit, new segment) is reported through
// Options.OnWriteError, counted, retried with backoff and never dropped; Healthy fails until a
// write of that kind succeeds again (failure.go). JournalPrealloc sizes the journal's
// preallocation to the free space of the disk.
//
// Callers hand the store redacted data: the store never sees a secret. The package imports no
// other mtguard package.
package store
