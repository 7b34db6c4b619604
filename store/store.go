package store

import (
	"bytes"
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"runtime"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/mtguard/mtguard/txn"
	bolt "go.etcd.io/bbolt"
	bolterrors "go.etcd.io/bbolt/errors"
)

// initialMmapSize is the address space a store maps when opened: 1 GiB on 64-bit platforms,
// bbolt's default (grow as needed) where address space is scarce.
const initialMmapSize = (strconv.IntSize / 64) << 30

// formatVersion is written into every store file. Bump it when the on-disk layout changes in a
// way an older binary would misread, and teach Open to migrate the previous one.
const formatVersion = "1"

// Bucket names. Index keys are "<value>\x00<id>" with empty values, so a prefix scan over one
// value yields its transactions in time order.
var (
	bucketMeta       = []byte("meta")
	bucketReq        = []byte("req")     // id -> JSON of the request side
	bucketRes        = []byte("res")     // id -> JSON of txn.Result
	bucketPending    = []byte("pending") // id -> nothing; intents without a result yet
	bucketIdxRecord  = []byte("idx_record")
	bucketIdxRoute   = []byte("idx_route")
	bucketIdxOutcome = []byte("idx_outcome")
	bucketIdxFinding = []byte("idx_finding")
	allBuckets       = [][]byte{bucketMeta, bucketReq, bucketRes, bucketPending, bucketIdxRecord, bucketIdxRoute, bucketIdxOutcome, bucketIdxFinding, bucketAlerts, bucketProvisional, bucketAudit}
	keyFormat        = []byte("format")
)

// bucketProvisional holds, for a pending call, the result its answer's status and headers gave
// (see RecordProvisional), until its result replaces it: what Open records for the call if the
// process died first. id -> JSON of txn.Result.
var bucketProvisional = []byte("provisional")

// Options tunes Open. The zero value is ready to use.
type Options struct {
	// Now is the clock used for ids and retention. If nil, time.Now is used.
	Now func() time.Time
	// LockTimeout bounds the wait for another process to release the file. If zero, 2s.
	LockTimeout time.Duration
	// MaxBatch caps how many queued writes join one commit. If zero, 2048.
	MaxBatch int
	// JournalPrealloc, if positive, is how many bytes of each journal segment are written
	// with zeros when it is created, which makes every later sync of the journal cheaper;
	// applied segments are then reused rather than deleted (recycle.go), so that only the
	// first ones after Open are written with zeros. If zero, segments grow by appending
	// (fine for tests and light traffic) and are deleted once applied.
	JournalPrealloc int64
	// OnResult, if set, receives every transaction whose result was committed, in commit
	// order, from the committer goroutine: alert rules consume this stream instead of polling
	// the file. It must not block (hand the value to a buffered channel or similar).
	OnResult func(txn.Transaction)
	// OnWriteError, if set, receives every failed write (journal append or sync, bbolt commit,
	// new journal segment) with its error, from the goroutine that tried it; OnWriteRecovered
	// hears when writes of that kind succeed again. Neither may block. See failure.go.
	OnWriteError     func(WriteFailure)
	OnWriteRecovered func(WriteRecovery)
	// RetryMin and RetryMax bound the backoff between retries of a failed write: RetryMin
	// after the first failure, doubling up to RetryMax. If zero, 100ms and 5s.
	RetryMin, RetryMax time.Duration
	// WriteHook is for tests only: when set, it is called before every journal write (op
	// OpJournal), bbolt commit (OpCommit) and segment creation (OpSegment), and an error it
	// returns fails that write as the disk would.
	WriteHook func(op string) error
	// Keys, if set, encrypts the headers, trailers and bodies of every call written from now
	// on with its current key, and opens those sealed with any of its keys on read (seal.go).
	// Without it, records are written in clear and sealed ones read as store.undecryptable.
	Keys *Keys
	// ReleaseEvery is how often the store drops the pages of its file mapped into the
	// process, when it was used since it last did (release.go). If zero, 5s; if negative,
	// never.
	ReleaseEvery time.Duration
}

// Store is an open transaction log. Its methods are safe for concurrent use.
type Store struct {
	// dbMu is held for reading by every use of db and for writing by Forget, which swaps the
	// file for a compacted copy.
	dbMu     sync.RWMutex
	db       *bolt.DB
	path     string
	boltOpts *bolt.Options
	now      func() time.Time
	ids      idGen
	ops      chan *op
	apply    *applyQueue // journaled writes and results, in order, for the bbolt applier
	wals     [journalWriters]*journal
	// spares holds, for each writer, the segment it moves to when its own is full, created
	// (and zero-filled) in the background so that no call waits for that; nil if creating it
	// failed.
	spares [journalWriters]chan *journal
	// need holds, for each writer, a token while its segment is full and its spare is not
	// ready: the spare's preparation stops waiting for a recycled file and creates one.
	need [journalWriters]chan struct{}
	pool segmentPool // applied segments on their way to becoming spares (recycle.go)
	// walMu is held for reading by a journal writer from its write until it has handed the
	// batch (and a full segment) to the applier, and for writing by retireJournal, which swaps
	// every writer's segment.
	walMu    sync.RWMutex
	nextSeg  atomic.Uint64 // the number of the next journal segment
	prealloc int64         // Options.JournalPrealloc
	// take holds one token: the right to take the next batch from ops. A writer that keeps
	// it while writing makes the journal a single writer; passing it on lets the other one
	// take the next batch meanwhile.
	take     chan struct{}
	order    batchOrder
	avgBatch float64 // moving average of writes per journal batch; read and set by the token's holder
	writers  sync.WaitGroup
	maxBatch int
	onResult func(txn.Transaction)
	done     chan struct{}
	keys     *Keys // Options.Keys

	closeMu sync.RWMutex // held for reading while enqueueing, for writing by Close
	closed  bool

	health    writeHealth // failed writes, retries and Healthy; see failure.go
	committed atomic.Int64
	// forgotten lists the calls Forget erased in flight, whose late answers are dropped.
	forgotten forgottenCalls
	// touched counts commits and reads, for releaseMapped.
	touched   atomic.Int64
	recovered int
	// recoveredProvisional counts the calls Open gave the outcome of their provisional result.
	recoveredProvisional int
	// replayedRecords counts the journal records Open applied to bbolt.
	replayedRecords int
	// keepSegments is set once a bbolt commit failed: the journal then keeps every segment,
	// so the next Open can apply what bbolt missed.
	keepSegments atomic.Bool
	// crashed, set by tests only, makes the applier drop what it is handed, as if the
	// process had died before its next bbolt commit: the journal keeps everything.
	crashed atomic.Bool
}

// op is one queued write. Exactly one of tx or barrier is meaningful.
type op struct {
	intent bool             // true: write the request side; false: write the result
	tx     *txn.Transaction // the call; for a result only ID, Route, RecordKeys and txn.Result are read
	req    []byte           // encoded request side (intent, or provisional without a stored intent) or nil
	res    []byte           // encoded txn.Result (result) or nil
	done   chan error       // nil when nobody waits
	// durableOnly marks a barrier answered once the journal holds everything before it;
	// other barriers wait until bbolt does.
	durableOnly bool
	// provisional marks a result written before the call ended (RecordProvisional): only
	// tx.ID and tx.IntentStored are read, as the caller goes on changing tx.
	provisional bool
	// probe marks a durableOnly barrier that makes its writer write (see writeHealth): it
	// tells whether the journal can take writes again.
	probe bool
	// spill marks a result journaled (with its request) only because bbolt failed: the
	// applier already holds it, so the writer does not hand it on. spilled is set on the
	// applier's op once it has asked for that.
	spill, spilled bool
}

// Open opens or creates the store file at path and marks every call left without an outcome
// by a previous run as interrupted.
func Open(path string, opts Options) (*Store, error) {
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.LockTimeout == 0 {
		opts.LockTimeout = 2 * time.Second
	}
	if opts.MaxBatch == 0 {
		opts.MaxBatch = 2048
	}
	boltOpts := &bolt.Options{
		Timeout: opts.LockTimeout,
		// The freelist is rebuilt on open instead of written on every commit: smaller commits.
		NoFreelistSync: true,
		FreelistType:   bolt.FreelistMapType,
		// bbolt remaps the file each time it outgrows its mapping (doubling from 32 KiB):
		// a remap waits for every reader, copies the commit's pending nodes to the heap and
		// unmaps the old range, all in the middle of a commit. Reserving address space up
		// front (not memory: only pages read are resident) leaves a new store no remaps
		// until it is this large.
		InitialMmapSize: initialMmapSize,
	}
	db, err := bolt.Open(path, 0o600, boltOpts)
	if errors.Is(err, bolterrors.ErrTimeout) {
		return nil, fmt.Errorf("open store %s: the file is locked by another process (is mtguard serve already running with this store.path?)", path)
	}
	if err != nil {
		return nil, fmt.Errorf("open store %s: %w", path, err)
	}
	s := &Store{
		db:       db,
		path:     path,
		boltOpts: boltOpts,
		now:      opts.Now,
		ops:      make(chan *op, opts.MaxBatch),
		apply:    newApplyQueue(applyMax),
		take:     make(chan struct{}, 1),
		prealloc: opts.JournalPrealloc,
		maxBatch: opts.MaxBatch,
		onResult: opts.OnResult,
		done:     make(chan struct{}),
		keys:     opts.Keys,
	}
	s.pool.changed = make(chan struct{})
	s.health = writeHealth{
		onError: opts.OnWriteError, onRecovered: opts.OnWriteRecovered, now: opts.Now,
		retryMin: cmp.Or(opts.RetryMin, defaultRetryMin), retryMax: cmp.Or(opts.RetryMax, defaultRetryMax),
		hook: opts.WriteHook,
	}
	replayed, err := s.init(path)
	if err != nil {
		db.Close()
		return nil, err
	}
	// Everything the old segments held is in bbolt now; number fresh ones after them.
	s.nextSeg.Store(1)
	if len(replayed) > 0 {
		s.nextSeg.Store(replayed[len(replayed)-1] + 1)
	}
	if err := removeSegments(path, replayed); err != nil {
		db.Close()
		return nil, fmt.Errorf("open store %s: %w", path, err)
	}
	// Files a crash left on their way to being recycled: their records are applied.
	if err := removeFree(path); err != nil {
		db.Close()
		return nil, fmt.Errorf("open store %s: %w", path, err)
	}
	for i := range s.wals {
		if s.wals[i], err = openJournal(path, s.newSegment(), s.prealloc, 0); err != nil {
			for _, w := range s.wals[:i] {
				w.discard()
			}
			db.Close()
			return nil, fmt.Errorf("open store %s: %w", path, err)
		}
	}
	s.take <- struct{}{}
	s.writers.Add(journalWriters)
	for i := range s.wals {
		s.spares[i] = make(chan *journal, 1)
		s.need[i] = make(chan struct{}, 1)
		s.prepareSegment(i)
		go s.journalLoop(i)
	}
	go func() {
		s.writers.Wait()
		s.apply.close()
	}()
	go s.applyLoop()
	if every := cmp.Or(opts.ReleaseEvery, defaultReleaseEvery); every > 0 {
		go s.releaseMapped(every)
	}
	return s, nil
}

// init checks the format version (or writes it into a new file), applies what the journal
// holds and bbolt does not, and marks calls left without an outcome as interrupted. It returns
// the journal segments it read.
func (s *Store) init(path string) (replayed []uint64, err error) {
	err = s.db.Update(func(btx *bolt.Tx) error {
		meta := btx.Bucket(bucketMeta)
		switch {
		case meta != nil:
			if v := string(meta.Get(keyFormat)); v != formatVersion {
				return fmt.Errorf("open store %s: format version %q, this mtguard reads version %s; upgrade mtguard or point store.path at a new file: %w",
					path, v, formatVersion, ErrUnknownFormat)
			}
		default:
			empty := true
			_ = btx.ForEach(func([]byte, *bolt.Bucket) error { empty = false; return nil })
			if !empty {
				return fmt.Errorf("open store %s: not an mtguard store (no format version); point store.path at a new file: %w", path, ErrUnknownFormat)
			}
		}
		for _, name := range allBuckets {
			if _, err := btx.CreateBucketIfNotExists(name); err != nil {
				return fmt.Errorf("create bucket %s: %w", name, err)
			}
		}
		if err := btx.Bucket(bucketMeta).Put(keyFormat, []byte(formatVersion)); err != nil {
			return fmt.Errorf("write format version: %w", err)
		}
		if err := clearReservations(btx); err != nil {
			return err
		}
		var err error
		if replayed, s.replayedRecords, err = replayJournal(btx, path); err != nil {
			return fmt.Errorf("open store %s: %w", path, err)
		}
		return s.recoverInterrupted(btx)
	})
	return replayed, err
}

// recoverInterrupted settles every call left pending: the process stopped (crash, kill -9,
// power loss) after recording the request and before recording its result. A call whose
// provisional result was recorded (the vendor answered, and the tool may have the answer)
// gets that result's outcome with the finding outcome.unchecked; any other gets the outcome
// interrupted with the finding outcome.unknown: nobody knows whether the vendor acted.
func (s *Store) recoverInterrupted(btx *bolt.Tx) error {
	pending, prov := btx.Bucket(bucketPending), btx.Bucket(bucketProvisional)
	var ids [][]byte
	_ = pending.ForEach(func(k, _ []byte) error { ids = append(ids, bytes.Clone(k)); return nil })
	for _, id := range ids {
		r, ok, err := recoveredProvisional(prov.Get(id))
		if err != nil {
			return fmt.Errorf("decode provisional result %s: %w", id, err)
		}
		if ok {
			s.recoveredProvisional++
		} else {
			s.recovered++
			r = txn.Result{
				Outcome:  txn.OutcomeInterrupted,
				Findings: []txn.Finding{catalogueFinding(txn.CodeOutcomeUnknown, "mtguard stopped after recording the request and before the vendor's answer was recorded: the vendor may or may not have received and acted on it")},
				Error:    "mtguard stopped before this call's outcome was recorded; the vendor may or may not have received it",
			}
		}
		b, err := json.Marshal(r)
		if err != nil {
			return fmt.Errorf("encode recovered result: %w", err)
		}
		if err := putResult(btx, id, b, &r); err != nil {
			return err
		}
	}
	// Nothing is in flight while the store opens: a provisional result left without a
	// pending call belongs to one that ended (its result arrived first).
	if prov.Stats().KeyN > 0 {
		if err := btx.DeleteBucket(bucketProvisional); err != nil {
			return fmt.Errorf("clear provisional results: %w", err)
		}
		if _, err := btx.CreateBucket(bucketProvisional); err != nil {
			return fmt.Errorf("clear provisional results: %w", err)
		}
	}
	return nil
}

// recoveredProvisional turns a stored provisional result (nil: none) into the result of a
// call the process did not see end.
func recoveredProvisional(b []byte) (txn.Result, bool, error) {
	var r txn.Result
	if b == nil {
		return r, false, nil
	}
	if err := json.Unmarshal(b, &r); err != nil {
		return r, false, err
	}
	r.Findings = append(r.Findings, catalogueFinding(txn.CodeOutcomeUnchecked, fmt.Sprintf(
		"mtguard stopped after the vendor answered %d and before the answer's body was read and checked; the outcome %s is what the status means", r.Status, r.Outcome)))
	if r.Error == "" {
		r.Error = "mtguard stopped while the vendor's answer streamed to the tool; the outcome is from the status and headers alone"
	}
	return r, true, nil
}

// catalogueFinding is the finding of code, with the catalogue's severity and title.
func catalogueFinding(code, detail string) txn.Finding {
	spec, _ := txn.Lookup(code)
	return txn.Finding{Code: code, Severity: spec.Severity, Message: spec.Title, Detail: detail}
}

// view runs fn in a read transaction.
func (s *Store) view(fn func(*bolt.Tx) error) error {
	s.touched.Add(1)
	s.dbMu.RLock()
	defer s.dbMu.RUnlock()
	return s.db.View(fn)
}

// update runs fn in a write transaction (bbolt serialises writers).
func (s *Store) update(fn func(*bolt.Tx) error) error {
	s.touched.Add(1)
	s.dbMu.RLock()
	defer s.dbMu.RUnlock()
	return s.db.Update(fn)
}

// Recovered reports how many calls Open marked as interrupted.
func (s *Store) Recovered() int { return s.recovered }

// RecoveredProvisional reports how many calls left unfinished by a previous run Open gave
// the outcome of their provisional result (see RecordProvisional).
func (s *Store) RecoveredProvisional() int { return s.recoveredProvisional }

// NewID returns a fresh, time-ordered transaction id.
func (s *Store) NewID(t time.Time) string { return s.ids.next(t) }

// RecordIntent durably records the request side of tx before it is forwarded. It assigns
// tx.ID when empty, so the caller has an id even when the write fails. It returns once the
// write is committed and fsync'd, or ctx is done.
func (s *Store) RecordIntent(ctx context.Context, tx *txn.Transaction) error {
	if tx.ID == "" {
		tx.ID = s.NewID(tx.Time)
	}
	req, err := encodeSealedRequest(tx, s.keys)
	if err != nil {
		return err
	}
	o := &op{intent: true, tx: tx, req: req, done: make(chan error, 1)}
	if err := s.enqueue(ctx, o); err != nil {
		return err
	}
	select {
	case err := <-o.done:
		if err == nil {
			tx.IntentStored = true
		}
		return err
	case <-ctx.Done():
		return fmt.Errorf("record intent: %w", ctx.Err())
	}
}

// RecordProvisional durably records r as the result tx gets if the process dies before its
// RecordResult: the pipeline calls it when the vendor's status and headers arrive, before the
// answer goes on to the tool, so that a call whose answer the tool has is never left
// interrupted. It is journaled (sharing fdatasyncs with intents) and returns once it is on
// disk, or ctx is done. The final result replaces it; until then it is not visible to reads.
// tx is not read beyond its ID and whether its intent was stored: the caller may go on
// changing it.
func (s *Store) RecordProvisional(ctx context.Context, tx *txn.Transaction, r txn.Result) error {
	res, err := s.keys.encodeResult(tx.ID, &r)
	if err != nil {
		return err
	}
	o := &op{provisional: true, tx: tx, res: res, done: make(chan error, 1)}
	if !tx.IntentStored {
		// Its only record of the call: encoded now, while tx does not change.
		if o.req, err = encodeSealedRequest(tx, s.keys); err != nil {
			return err
		}
	}
	if err := s.enqueue(ctx, o); err != nil {
		return err
	}
	select {
	case err := <-o.done:
		return err
	case <-ctx.Done():
		return fmt.Errorf("record provisional result: %w", ctx.Err())
	}
}

// RecordResult queues the outcome of tx (tx.Result) and returns without waiting: it reaches
// the disk with the next bbolt commit, and reads wait for that. When the intent of tx was
// never stored (mtguard answered the call itself, or the store was failing at the time), the
// result is journaled with the request side, so nothing that reached a result is lost; Sync
// waits for that journal write.
func (s *Store) RecordResult(tx *txn.Transaction) error {
	res, err := s.keys.encodeResult(tx.ID, &tx.Result)
	if err != nil {
		return err
	}
	return s.enqueue(context.Background(), &op{tx: tx, res: res})
}

// Sync waits until every write queued before it is durable (journaled), and returns the
// error of that journal write, if any.
func (s *Store) Sync(ctx context.Context) error {
	return s.barrier(ctx, true)
}

// barrier waits for the writes queued before it: until they are durable, or until they are
// applied to bbolt and visible to reads.
func (s *Store) barrier(ctx context.Context, durableOnly bool) error {
	o := &op{done: make(chan error, 1), durableOnly: durableOnly}
	if err := s.enqueue(ctx, o); err != nil {
		return err
	}
	select {
	case err := <-o.done:
		return err
	case <-ctx.Done():
		return ctx.Err()
	}
}

// enqueue hands o to the journal writer or, when o needs no journal, to the applier.
func (s *Store) enqueue(ctx context.Context, o *op) error {
	s.closeMu.RLock()
	defer s.closeMu.RUnlock()
	if s.closed {
		return ErrClosed
	}
	if o.tx != nil && !o.intent && !o.provisional && o.tx.IntentStored && !o.spill {
		// The result of a call whose intent is journaled. The journal pushed that intent to
		// the applier before telling the caller it was durable, so it is ahead of this.
		s.apply.push(0, o)
		return nil
	}
	select {
	case s.ops <- o:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// Stats are counters since Open.
type Stats struct {
	Commits        int64 `json:"commits"`
	CommitFailures int64 `json:"commit_failures"`
}

// Stats returns counters since Open.
func (s *Store) Stats() Stats {
	f := s.WriteFailures()
	return Stats{Commits: s.committed.Load(), CommitFailures: f.Journal + f.Commit + f.Segment}
}

// Close commits everything queued and closes the file.
func (s *Store) Close() error {
	s.closeMu.Lock()
	if s.closed {
		s.closeMu.Unlock()
		return nil
	}
	s.closed = true
	close(s.ops)
	s.closeMu.Unlock()
	<-s.done
	applied := !s.keepSegments.Load() && s.Healthy() == nil // everything journaled is in bbolt
	for i, w := range s.wals {
		w.f.Close()
		if applied {
			removeSegments(s.path, []uint64{w.seg})
		}
		if spare := <-s.spares[i]; spare != nil {
			spare.discard()
		}
	}
	// Every preparation has delivered, so none waits for these any more.
	removeFree(s.path)
	if applied {
		// One last commit, which writes the list of free pages that commits leave out (see
		// Open): the next Open reads it instead of walking every page of the file, which
		// takes seconds on a log of a million calls. After a crash there is no list, and Open
		// walks the file.
		_ = s.db.Update(func(*bolt.Tx) error {
			// Set inside the write transaction, whose lock orders it before any other commit.
			s.db.NoFreelistSync = false
			return nil
		})
	}
	if err := s.db.Close(); err != nil {
		return fmt.Errorf("close store: %w", err)
	}
	return nil
}

// journalWriters is how many goroutines append to the journal, each to its own segment.
const journalWriters = 2

// shareBelow is the average batch size (writes per fdatasync) below which a journal writer
// lets the other take the next batch while it writes. A sync costs the same CPU for one write
// as for fifty. When batches are small, the journal is far from saturated, a second writer
// adds few syncs, and a call that arrives during a sync (or during a slow one) need not wait
// for it to end. When batches are large, every call already shares a sync with many others;
// a second writer would halve that sharing, costing CPU that the calls need.
const shareBelow = 3

// lingerAbove is the average batch size from which the single journal writer lets the
// goroutines ready to run go first before it takes a batch.
const lingerAbove = 6

// journalLoop is one journal writer: it takes every queued write, appends them to its
// segment with one fdatasync (group commit), hands the batch to the applier and then tells the
// intents' waiters they are durable, in that order, so that a call's result (pushed straight
// to the applier once its caller goes on) never overtakes its intent. Only the holder of the
// take token takes a batch; it passes the token on before writing only while batches are
// small (see shareBelow), so under heavy load the journal has one writer.
func (s *Store) journalLoop(w int) {
	defer s.writers.Done()
	wal := s.wals[w]
	var (
		buf      []byte
		writes   []*op
		barriers []*op
		ready    []released
		held     bool
	)
	for {
		if !held {
			<-s.take
		}
		first, ok := <-s.ops
		if !ok {
			s.take <- struct{}{} // the other writer must see the close too
			return
		}
		batch := s.drain([]*op{first})
		if held && s.avgBatch >= lingerAbove && len(batch) < s.maxBatch {
			// Heavy load: every call already shares a sync with many others, and each sync
			// costs as much CPU for one write as for fifty. Letting the goroutines that are
			// ready to run go first (calls about to record their intent or provisional
			// result) grows the batch, so the same calls take fewer syncs. A timed wait
			// would not do: with the CPUs idle, Go's timers wake a sleeper a millisecond late,
			// and every call would wait for that.
			runtime.Gosched()
			batch = s.drain(batch)
		}
		seq := s.order.begin()
		// Intents go to the journal: they are what must survive before a call leaves. So do
		// provisional results (what must survive before the answer reaches the tool) and
		// results of calls with no stored intent (calls mtguard answered itself), which are
		// their only record. Other results never come this way (see enqueue): they reach
		// the disk with the next bbolt commit (at most applyInterval later); if the process
		// dies first, the call gets its provisional result.
		if cap(buf) > journalBufMax {
			buf = nil // a burst of large bodies should not pin its buffer forever
		}
		buf, writes, barriers = buf[:0], writes[:0], barriers[:0]
		probe := false
		for _, o := range batch {
			switch {
			case o.spill:
				buf = appendSealedRecord(buf, o, s.keys) // the applier holds it already
			case o.tx != nil:
				buf = appendSealedRecord(buf, o, s.keys)
				writes = append(writes, o)
			default:
				barriers = append(barriers, o)
				probe = probe || o.probe
			}
		}
		if len(writes) > 0 {
			s.avgBatch += (float64(len(writes)) - s.avgBatch) / 8
		}
		held = s.avgBatch >= shareBelow
		if !held {
			s.take <- struct{}{}
		}
		var err error
		s.walMu.RLock()
		if len(buf) > 0 || probe {
			if err = s.health.inject(OpJournal); err == nil {
				if len(buf) > 0 {
					err = wal.write(buf)
				} else {
					err = wal.probe()
				}
			}
			if err == nil && len(buf) > 0 {
				s.committed.Add(1)
			}
			s.journalWritten(err)
		}
		// Even when the journal write failed, bbolt may still take the writes.
		if len(writes) > 0 {
			s.apply.push(0, writes...)
		}
		woke := false
		for _, o := range writes {
			if (o.intent || o.provisional) && o.done != nil {
				o.done <- err
				woke = true
			}
		}
		// Barriers wait for every batch taken before theirs, which the other writer may
		// still be writing.
		ready = s.order.finish(seq, err, barriers, ready[:0])
		for _, r := range ready {
			if r.o.durableOnly {
				r.o.done <- r.err
				woke = true
			} else {
				s.apply.push(0, r.o) // a read: the applier answers it after its commit
			}
		}
		clear(ready)
		clear(writes)
		clear(barriers)
		if err == nil && wal.full() {
			s.nextSegment(w)
		}
		s.walMu.RUnlock()
		if woke && len(s.ops) > 0 {
			// The callers just woken wait in this P's run queue. Going straight into the
			// next write would hold the P through the fdatasync (Go hands a P over only when
			// a system call lasts long enough for sysmon to notice) and then through the
			// batch after, so under steady load they could wait until this goroutine is
			// preempted, up to 10 ms. Let them go first; the next batch only grows.
			runtime.Gosched()
		}
	}
}

// drain appends to batch the writes queued now, up to MaxBatch, without waiting.
func (s *Store) drain(batch []*op) []*op {
	for len(batch) < s.maxBatch {
		select {
		case o, ok := <-s.ops:
			if !ok {
				return batch
			}
			batch = append(batch, o)
		default:
			return batch
		}
	}
	return batch
}

// commitYieldEvery is how many writes a commit applies between yields to the scheduler.
const commitYieldEvery = 32

// journalBufMax is the largest journal batch buffer kept for reuse.
const journalBufMax = 4 << 20

// applyMax is how many writes may wait for the applier before the journal waits for it.
const applyMax = 1 << 16

// applyLoop writes queued writes into bbolt, many at a time, then answers barriers (Sync)
// and streams results to OnResult. A commit that fails keeps its writes and is retried with
// backoff, with whatever was queued since (see failure.go).
func (s *Store) applyLoop() {
	defer close(s.done)
	var h held
	for {
		var (
			taken   []*op
			retired []uint64
			ok      bool
		)
		if h.failures == 0 {
			taken, retired, ok = s.apply.take(applyInterval)
		} else {
			taken, retired, ok = s.apply.takeAfter(s.heldWait(&h), len(h.ops) < applyMax)
			if !ok && len(h.ops) > 0 {
				// Closing: one last attempt, then the journal keeps what bbolt could not take.
				if _, _, err := s.commitHeld(&h, nil, nil); err != nil {
					s.giveUp(&h, err)
					return
				}
				continue
			}
		}
		if !ok {
			return
		}
		if s.crashed.Load() {
			s.keepSegments.Store(true)
			continue
		}
		ops, retired, err := s.commitHeld(&h, taken, retired)
		if err != nil {
			continue
		}
		// Segments go before barriers are answered: retireJournal waits for its segments to be
		// gone, not just applied.
		var berr error
		if !s.keepSegments.Load() && len(retired) > 0 {
			berr = s.disposeSegments(retired)
		}
		for _, o := range ops {
			if o.tx == nil && !o.durableOnly && o.done != nil {
				o.done <- berr
			}
			if s.onResult != nil && o.tx != nil && !o.intent && !o.provisional {
				s.onResult(*o.tx)
			}
		}
	}
}

// applyInterval is how long the applier gathers journaled batches into one bbolt commit when no
// read is waiting for them.
const applyInterval = 250 * time.Millisecond

// hasReadBarrier reports whether a read waits for ops to be applied.
func hasReadBarrier(ops []*op) bool {
	return slices.ContainsFunc(ops, func(o *op) bool { return o.tx == nil && !o.durableOnly && o.done != nil })
}

// commit applies batch to bbolt in one transaction. A batch of barriers only (Sync) never
// gets here: what it waits for is already applied.
func (s *Store) commit(batch []*op) error {
	err := s.update(func(btx *bolt.Tx) error {
		if err := s.health.inject(OpCommit); err != nil {
			return err // a test's full disk: the transaction rolls back
		}
		return s.applyBatch(btx, batch)
	})
	if err != nil {
		return fmt.Errorf("commit %d writes: %w", len(batch), err)
	}
	return nil
}

// applyBatch writes batch in btx: commit's work but the transaction's own.
func (s *Store) applyBatch(btx *bolt.Tx, batch []*op) error {
	// A call whose intent and result land in the same commit (most calls: the applier gathers
	// for applyInterval) is never pending to a reader, and the commit is atomic, so neither the
	// pending mark nor its removal is written: two B-tree writes fewer per call.
	// Likewise a provisional result whose result is in the same commit is never written.
	both := make(map[*txn.Transaction]bool, len(batch)) // present: the intent is here; true: so is the result
	var ended map[*txn.Transaction]bool                 // calls whose result is here, when a provisional one is
	for _, o := range batch {
		switch {
		case o.intent:
			both[o.tx] = false
		case o.provisional && ended == nil:
			ended = map[*txn.Transaction]bool{}
		}
	}
	for _, o := range batch {
		if o.tx == nil || o.intent || o.provisional {
			continue
		}
		if _, ok := both[o.tx]; ok && o.tx.IntentStored {
			both[o.tx] = true
		}
		if ended != nil {
			ended[o.tx] = true
		}
	}
	w := newTxWriter(btx)
	for i, o := range batch {
		if i%commitYieldEvery == commitYieldEvery-1 {
			// A commit applies hundreds of writes without blocking. Yielding now and
			// then lets the goroutines queued behind it on this P (calls whose intent
			// just became durable) run, instead of waiting out the whole commit.
			runtime.Gosched()
		}
		if o.provisional && ended[o.tx] || s.forgotten.drop(o) {
			continue
		}
		if err := w.applyOp(o, both[o.tx], s.keys); err != nil {
			return err
		}
	}
	return nil
}

// txWriter is what the writes of calls in one transaction share: the buckets they write,
// looked up once, and buffers for keys (bbolt copies the key of every Put, so one buffer
// serves them all). The applier writes hundreds of calls with one.
type txWriter struct {
	btx                                         *bolt.Tx
	req, res, pending, provisional              *bolt.Bucket
	idxRecord, idxRoute, idxOutcome, idxFinding *bolt.Bucket
	id, key                                     []byte
}

func newTxWriter(btx *bolt.Tx) *txWriter {
	w := &txWriter{
		btx: btx, req: btx.Bucket(bucketReq), res: btx.Bucket(bucketRes),
		pending: btx.Bucket(bucketPending), provisional: btx.Bucket(bucketProvisional),
		idxRecord: btx.Bucket(bucketIdxRecord), idxRoute: btx.Bucket(bucketIdxRoute),
		idxOutcome: btx.Bucket(bucketIdxOutcome), idxFinding: btx.Bucket(bucketIdxFinding),
	}
	w.req.FillPercent = appendFill
	w.res.FillPercent = appendFill
	return w
}

// idKey is id as a key, in w's buffer: valid until the next idKey.
func (w *txWriter) idKey(id string) []byte {
	w.id = append(w.id[:0], id...)
	return w.id
}

// indexKey is indexKey(value, id) in w's buffer: valid until the next indexKey.
func (w *txWriter) indexKey(value, id string) []byte {
	w.key = append(append(append(w.key[:0], value...), 0), id...)
	return w.key
}

// applyOp writes o. sameCommit says the call's intent and result are both in this commit
// (see commit).
func (w *txWriter) applyOp(o *op, sameCommit bool, keys *Keys) error {
	switch {
	case o.tx == nil:
		return nil // a barrier
	case o.intent:
		return w.putIntent(o.tx, o.req, !sameCommit)
	case o.provisional:
		return putProvisional(w.btx, o.tx, o.req, o.res)
	case o.tx.IntentStored:
		// The intent was committed by this process, so no earlier result exists: write the
		// result without the lookups that guard against one.
		return w.putFreshResult(o.tx.ID, o.res, &o.tx.Result, !sameCommit)
	default:
		return putResultWithIntent(w.btx, o.tx, nil, o.res, keys)
	}
}

// putResultWithIntent stores tx's result, first writing its request side when bbolt does not
// have it (the intent could not be recorded, or only the journal held it). req is the encoded
// request side, or nil to encode tx.Call (sealed with keys, if not nil).
func putResultWithIntent(btx *bolt.Tx, tx *txn.Transaction, req, res []byte, keys *Keys) error {
	id := []byte(tx.ID)
	if btx.Bucket(bucketReq).Get(id) == nil {
		if req == nil {
			var err error
			if req, err = encodeSealedRequest(tx, keys); err != nil {
				return err
			}
		}
		if err := putIntent(btx, tx, req, true); err != nil {
			return err
		}
	}
	return putResult(btx, id, res, &tx.Result)
}

// putProvisional stores the provisional result of a pending call, first writing its request
// side when bbolt does not have it and req (its encoding, nil when the intent was stored)
// does. Without either, it is kept all the same: replaying the journal may meet the intent
// later, in the other writer's segment; if it never does, Open drops the provisional result
// with the others no pending call claims. It writes nothing when the call already has its
// result: a caller that stopped waiting for its provisional result may have recorded the
// result before the journal handed this on.
func putProvisional(btx *bolt.Tx, tx *txn.Transaction, req, res []byte) error {
	id := []byte(tx.ID)
	if btx.Bucket(bucketRes).Get(id) != nil {
		return nil
	}
	if req != nil && btx.Bucket(bucketReq).Get(id) == nil {
		var call txn.Transaction
		if err := json.Unmarshal(req, &call.Call); err != nil {
			return fmt.Errorf("decode request %s: %w", tx.ID, err)
		}
		if err := putIntent(btx, &call, req, true); err != nil {
			return err
		}
	}
	if err := btx.Bucket(bucketProvisional).Put(id, res); err != nil {
		return fmt.Errorf("put provisional result %s: %w", tx.ID, err)
	}
	return nil
}

// putIntent stores the request side of tx and indexes it; markPending also lists it as
// waiting for its result (what Open turns into interrupted after a crash).
func putIntent(btx *bolt.Tx, tx *txn.Transaction, req []byte, markPending bool) error {
	return newTxWriter(btx).putIntent(tx, req, markPending)
}

func (w *txWriter) putIntent(tx *txn.Transaction, req []byte, markPending bool) error {
	id := w.idKey(tx.ID)
	if err := w.req.Put(id, req); err != nil {
		return fmt.Errorf("put request %s: %w", tx.ID, err)
	}
	if markPending {
		if err := w.pending.Put(id, nil); err != nil {
			return fmt.Errorf("put pending %s: %w", tx.ID, err)
		}
	}
	for _, k := range tx.RecordKeys {
		if err := w.idxRecord.Put(w.indexKey(k, tx.ID), nil); err != nil {
			return fmt.Errorf("index record key: %w", err)
		}
	}
	if err := w.idxRoute.Put(w.indexKey(tx.Route, tx.ID), nil); err != nil {
		return fmt.Errorf("index route: %w", err)
	}
	if tx.ReplayOf != "" {
		return linkReplay(w.btx, tx.ReplayOf, tx.ID)
	}
	return nil
}

// putResult stores a call's result and indexes its outcome and finding codes, replacing the
// index entries of an earlier result of the same call, if any.
func putResult(btx *bolt.Tx, id, res []byte, r *txn.Result) error {
	if old := btx.Bucket(bucketRes).Get(id); old != nil {
		var prev txn.Result
		if json.Unmarshal(old, &prev) == nil {
			if err := unindexResult(btx, string(id), &prev); err != nil {
				return err
			}
		}
	}
	return putFreshResult(btx, id, res, r, true)
}

// putFreshResult stores a call's result and indexes it, knowing there is no earlier result
// (the intent was committed by this process) to unindex.
func putFreshResult(btx *bolt.Tx, id, res []byte, r *txn.Result, clearPending bool) error {
	return newTxWriter(btx).putFreshResult(string(id), res, r, clearPending)
}

func (w *txWriter) putFreshResult(sid string, res []byte, r *txn.Result, clearPending bool) error {
	id := w.idKey(sid)
	if err := w.res.Put(id, res); err != nil {
		return fmt.Errorf("put result %s: %w", sid, err)
	}
	if clearPending {
		if err := w.pending.Delete(id); err != nil {
			return fmt.Errorf("clear pending %s: %w", sid, err)
		}
		// A provisional result of the call can only be in an earlier commit if its intent was.
		if err := w.provisional.Delete(id); err != nil {
			return fmt.Errorf("clear provisional result %s: %w", sid, err)
		}
	}
	if err := w.idxOutcome.Put(w.indexKey(string(r.Outcome), sid), nil); err != nil {
		return fmt.Errorf("index outcome: %w", err)
	}
	for i, f := range r.Findings {
		if !firstOfCode(r, i) {
			continue // indexed once per code
		}
		if err := w.idxFinding.Put(w.indexKey(f.Code, sid), nil); err != nil {
			return fmt.Errorf("index finding: %w", err)
		}
	}
	return nil
}

// appendFill is the fill percent of buckets keyed by time-ordered ids: keys only ever arrive at
// the end, so pages can be packed full instead of left half empty for inserts that never come.
const appendFill = 0.95

// unindexResult removes the index entries that r put for id.
func unindexResult(btx *bolt.Tx, id string, r *txn.Result) error {
	if r.Outcome != "" {
		if err := btx.Bucket(bucketIdxOutcome).Delete(indexKey(string(r.Outcome), id)); err != nil {
			return fmt.Errorf("unindex outcome: %w", err)
		}
	}
	for _, code := range findingCodes(r) {
		if err := btx.Bucket(bucketIdxFinding).Delete(indexKey(code, id)); err != nil {
			return fmt.Errorf("unindex finding: %w", err)
		}
	}
	return nil
}

// findingCodes lists r's distinct finding codes.
func findingCodes(r *txn.Result) []string {
	var codes []string
	for i, f := range r.Findings {
		if firstOfCode(r, i) {
			codes = append(codes, f.Code)
		}
	}
	return codes
}

// firstOfCode reports whether r's finding i is the first of its code: what the finding index
// holds once, found without building the list (the applier indexes every call's).
func firstOfCode(r *txn.Result, i int) bool {
	code := r.Findings[i].Code
	return !slices.ContainsFunc(r.Findings[:i], func(g txn.Finding) bool { return g.Code == code })
}

// linkReplay adds replay to the replayed_by list of the call it replays, so that the original
// shows its replay chain.
func linkReplay(btx *bolt.Tx, original, replay string) error {
	resB := btx.Bucket(bucketRes)
	old := resB.Get([]byte(original))
	if old == nil {
		return nil // the original is gone (retention) or still in flight: nothing to link
	}
	var r txn.Result
	if err := json.Unmarshal(old, &r); err != nil {
		return fmt.Errorf("decode result %s: %w", original, err)
	}
	if slices.Contains(r.ReplayedBy, replay) {
		return nil
	}
	r.ReplayedBy = append(r.ReplayedBy, replay)
	b, err := json.Marshal(&r)
	if err != nil {
		return fmt.Errorf("encode result %s: %w", original, err)
	}
	return resB.Put([]byte(original), b)
}

func indexKey(value, id string) []byte {
	k := make([]byte, 0, len(value)+1+len(id))
	k = append(k, value...)
	k = append(k, 0)
	return append(k, id...)
}

// encodeRequest encodes the request side of tx.
func encodeRequest(tx *txn.Transaction) ([]byte, error) { return encodeSealedRequest(tx, nil) }

// encodeSealedRequest encodes the request side of tx, sealed with keys when not nil.
func encodeSealedRequest(tx *txn.Transaction, keys *Keys) ([]byte, error) {
	b, err := keys.encodeCall(&tx.Call)
	if err != nil {
		return nil, fmt.Errorf("encode request: %w", err)
	}
	return b, nil
}
