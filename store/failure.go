package store

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"sync/atomic"
	"time"
)

// Failed writes. Every write the store makes can fail: a journal append or its fdatasync, a
// bbolt commit (the file cannot grow on a full disk), the creation of the next journal segment.
// Each failure is reported to Options.OnWriteError with its error, counted (WriteFailures), and
// makes Healthy return an error until a write of the same kind succeeds again, which
// Options.OnWriteRecovered hears of. Nothing that was to be written is dropped:
//
//   - A bbolt commit that fails keeps its writes in the applier's memory ("held") and is retried
//     with backoff (Options.RetryMin doubling up to RetryMax), together with whatever was queued
//     since, until it succeeds. Results that only the applier had (a call whose intent was
//     journaled sends its result straight to the applier) are then also written to the journal,
//     carrying their request, so that a restart applies them instead of showing the call as
//     interrupted. Journal segments are deleted only once everything in them is in bbolt.
//   - A journal write that fails is answered to the intents that waited for it (the pipeline
//     forwards or refuses the call, per store.on_error); its writes still go to the applier,
//     which commits them to bbolt as soon as it can. While the journal fails, a probe (eight zero
//     bytes at the end of a segment, and fdatasync) is sent through the writers with backoff, so
//     that the store sees the disk recover even when no call arrives.
//   - A segment that cannot be created is retried with backoff; meanwhile the writer keeps
//     appending to its current segment.
//
// The held writes are bounded: past applyMax the applier stops taking more, the journal waits
// for it, and new calls wait for the journal (or are refused by the pipeline first, with
// store.on_error: reject).

// The kinds of store write, as WriteFailure.Op names them.
const (
	OpJournal = "journal" // appending a batch to a journal segment and syncing it
	OpCommit  = "commit"  // a bbolt commit of journaled writes and results
	OpSegment = "segment" // creating (and zero-filling) the next journal segment
)

// writeOps indexes health's slots.
var writeOps = [...]string{OpJournal, OpCommit, OpSegment}

const (
	slotJournal = iota
	slotCommit
	slotSegment
)

// WriteFailure is one failed store write, as Options.OnWriteError receives it.
type WriteFailure struct {
	Op  string // OpJournal, OpCommit or OpSegment
	Err error
	// Failures counts the consecutive failures of Op, this one included.
	Failures int
	// Held is how many writes wait in memory for a bbolt commit (commit failures).
	Held int
	// RetryIn is when the store tries Op again.
	RetryIn time.Duration
}

// WriteRecovery says that writes of Op succeed again.
type WriteRecovery struct {
	Op string
	// Failures counts the consecutive failures that ended; Since is the first of them.
	Failures int
	Since    time.Time
	// Applied is how many held writes the successful commit applied (commit only).
	Applied int
}

// WriteFailures counts the store's failed writes since Open, by kind.
type WriteFailures struct {
	Journal int64 `json:"journal"`
	Commit  int64 `json:"commit"`
	Segment int64 `json:"segment"`
}

// Defaults of Options.RetryMin and RetryMax.
const (
	defaultRetryMin = 100 * time.Millisecond
	defaultRetryMax = 5 * time.Second
)

// writeHealth is the state of the store's writes.
type writeHealth struct {
	mu      sync.Mutex
	slots   [len(writeOps)]slotHealth
	total   [len(writeOps)]atomic.Int64 // failures since Open
	failing atomic.Int32                // slots failing now; 0 is the fast path of Healthy
	held    atomic.Int64                // writes the applier holds after a failed commit

	onError     func(WriteFailure)
	onRecovered func(WriteRecovery)
	now         func() time.Time
	retryMin    time.Duration
	retryMax    time.Duration
	hook        func(op string) error
	probing     atomic.Bool
}

type slotHealth struct {
	failures int
	since    time.Time
	err      error
}

// backoff is the wait before retry number n (n >= 1).
func (h *writeHealth) backoff(n int) time.Duration {
	d := h.retryMin
	for i := 1; i < n && d < h.retryMax; i++ {
		d *= 2
	}
	return min(d, h.retryMax)
}

// failed records a failure of the write in slot and reports it. It returns the number of
// consecutive failures of that slot.
func (h *writeHealth) failed(slot int, err error, held int) int {
	h.mu.Lock()
	sl := &h.slots[slot]
	if sl.failures == 0 {
		sl.since = h.now()
		h.failing.Add(1)
	}
	sl.failures++
	sl.err = err
	n := sl.failures
	h.mu.Unlock()
	h.total[slot].Add(1)
	if h.onError != nil {
		h.onError(WriteFailure{Op: writeOps[slot], Err: err, Failures: n, Held: held, RetryIn: h.backoff(n)})
	}
	return n
}

// succeeded records a successful write in slot, reporting the recovery if it was failing.
func (h *writeHealth) succeeded(slot int, applied int) {
	if h.failing.Load() == 0 {
		return
	}
	h.mu.Lock()
	sl := &h.slots[slot]
	if sl.failures == 0 {
		h.mu.Unlock()
		return
	}
	r := WriteRecovery{Op: writeOps[slot], Failures: sl.failures, Since: sl.since, Applied: applied}
	*sl = slotHealth{}
	h.failing.Add(-1)
	h.mu.Unlock()
	if h.onRecovered != nil {
		h.onRecovered(r)
	}
}

// isFailing reports whether the write in slot is failing.
func (h *writeHealth) isFailing(slot int) bool {
	if h.failing.Load() == 0 {
		return false
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.slots[slot].failures > 0
}

// err describes every kind of write that is failing, or returns nil.
func (h *writeHealth) err() error {
	if h.failing.Load() == 0 {
		return nil
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	var errs []error
	for i, sl := range h.slots {
		if sl.failures == 0 {
			continue
		}
		e := fmt.Errorf("%s failing since %s (%d attempts): %w", writeOps[i], sl.since.UTC().Format(time.RFC3339), sl.failures, sl.err)
		if i == slotCommit {
			e = fmt.Errorf("%w; %d writes held in memory, retried with backoff", e, h.held.Load())
		}
		errs = append(errs, e)
	}
	return errors.Join(errs...)
}

// inject runs the test hook of Options.WriteHook for op.
func (h *writeHealth) inject(op string) error {
	if h.hook == nil {
		return nil
	}
	return h.hook(op)
}

// Healthy returns nil while the store's writes succeed, and otherwise an error naming each
// kind of write that is failing (journal, commit, segment), since when and why. It stays an
// error until a write of that kind succeeds again; the store retries on its own.
func (s *Store) Healthy() error { return s.health.err() }

// WriteFailures counts the store's failed writes since Open, by kind.
func (s *Store) WriteFailures() WriteFailures {
	return WriteFailures{
		Journal: s.health.total[slotJournal].Load(),
		Commit:  s.health.total[slotCommit].Load(),
		Segment: s.health.total[slotSegment].Load(),
	}
}

// HeldWrites is how many writes wait in memory for a bbolt commit that succeeds.
func (s *Store) HeldWrites() int64 { return s.health.held.Load() }

// journalWritten reports the outcome of a journal write (or probe) of a writer.
func (s *Store) journalWritten(err error) {
	if err == nil {
		s.health.succeeded(slotJournal, 0)
		return
	}
	s.health.failed(slotJournal, err, int(s.health.held.Load()))
	if s.health.probing.CompareAndSwap(false, true) {
		go s.probeJournal()
	}
}

// probeJournal sends a probe through the journal writers, with backoff, until a journal write
// succeeds or the store closes: with no call arriving (a load balancer stopped sending them
// because /readyz failed), nothing else would find out that the disk has room again.
func (s *Store) probeJournal() {
	defer s.health.probing.Store(false)
	for n := 1; ; n++ {
		select {
		case <-time.After(s.health.backoff(n)):
		case <-s.done:
			return
		}
		if !s.health.isFailing(slotJournal) {
			return
		}
		o := &op{done: make(chan error, 1), durableOnly: true, probe: true}
		if err := s.enqueue(context.Background(), o); err != nil {
			return // closed
		}
		select {
		case <-o.done:
		case <-s.done:
			return
		}
	}
}

// probe writes eight zero bytes where the next record will go, without moving the end, and
// syncs: a write the journal reads as "nothing more", which fails when the segment cannot
// grow.
func (j *journal) probe() error {
	var zero [8]byte
	if _, err := j.f.WriteAt(zero[:], j.size); err != nil {
		return fmt.Errorf("journal write: %w", err)
	}
	if err := fdatasync(j.f); err != nil {
		return fmt.Errorf("journal sync: %w", err)
	}
	return nil
}

// held is what the applier keeps after a failed commit: the writes, in order, and the journal
// segments it must not delete until they are applied.
type held struct {
	ops      []*op
	retired  []uint64
	failures int
}

// commitHeld applies ops (the held writes first, then those just taken) to bbolt. On failure it
// keeps every write of ops (answering the reads that waited with the error), hands the results
// the journal lacks to it, and returns false; the caller waits h.wait() and calls it again.
func (s *Store) commitHeld(h *held, ops []*op, retired []uint64) (applied []*op, segs []uint64, err error) {
	ops = append(h.ops, ops...)
	retired = append(h.retired, retired...)
	if slices.ContainsFunc(ops, func(o *op) bool { return o.tx != nil }) {
		err = s.commit(ops)
	}
	if err == nil {
		if h.failures > 0 {
			s.health.held.Store(0)
			s.health.succeeded(slotCommit, countWrites(ops))
		}
		*h = held{}
		return ops, retired, nil
	}
	h.failures++
	keep := ops[:0]
	var spill []*op
	for _, o := range ops {
		switch {
		case o.tx != nil:
			keep = append(keep, o)
			if !o.intent && !o.provisional && o.tx.IntentStored && !o.spilled {
				// Only the applier has this result: journal it (with its request, since the
				// intent may be in a segment that replays after this one).
				o.spilled = true
				spill = append(spill, &op{tx: o.tx, res: o.res, spill: true})
			}
		case !o.durableOnly && o.done != nil:
			o.done <- err // a read: it reads what bbolt has rather than wait for the disk
		}
	}
	h.ops, h.retired = keep, retired
	s.health.held.Store(int64(len(keep)))
	s.health.failed(slotCommit, err, len(keep))
	if len(spill) > 0 {
		go s.spill(spill)
	}
	return nil, nil, err
}

// heldWait is how long the applier waits before retrying the held writes.
func (s *Store) heldWait(h *held) time.Duration { return s.health.backoff(h.failures) }

// spill hands results that only the applier holds to the journal writers. It runs on its own
// goroutine: the writers may be waiting for the applier.
func (s *Store) spill(ops []*op) {
	for _, o := range ops {
		if s.enqueue(context.Background(), o) != nil {
			return // closed: Close spills what is left
		}
	}
}

// giveUp is the applier's last word when the store closes while bbolt still fails: the held
// writes stay in the journal for the next Open, and the results only memory held are written
// to a segment of their own.
func (s *Store) giveUp(h *held, err error) {
	s.keepSegments.Store(true)
	// Which of them the journal already has is not known (an intent whose journal write
	// failed is held too): write them all. Replay skips what bbolt already has.
	var buf []byte
	n := 0
	for _, o := range h.ops {
		switch {
		case o.tx == nil:
		case o.intent:
			buf = appendSealedRecord(buf, o, s.keys)
			n++
		default:
			buf = appendSealedRecord(buf, &op{tx: o.tx, res: o.res, spill: true}, s.keys)
			n++
		}
	}
	for _, o := range h.ops {
		if o.done != nil && !o.intent && !o.durableOnly {
			o.done <- err
		}
	}
	if n == 0 {
		return
	}
	werr := s.health.inject(OpJournal)
	var j *journal
	if werr == nil {
		j, werr = openJournal(s.path, s.newSegment(), 0, 0)
	}
	if werr == nil {
		werr = j.write(buf)
		j.f.Close()
	}
	if werr != nil {
		s.health.failed(slotJournal, fmt.Errorf("closing with %d writes bbolt could not take, and the journal could not take them either (they are lost): %w", n, werr), len(h.ops))
	}
}

func countWrites(ops []*op) int {
	n := 0
	for _, o := range ops {
		if o.tx != nil {
			n++
		}
	}
	return n
}
