package store

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	bolt "go.etcd.io/bbolt"
	bolterrors "go.etcd.io/bbolt/errors"
)

// formatVersion is written into every store file. Bump it when the on-disk layout changes in a
// way an older binary would misread, and teach Open to migrate the previous one.
const formatVersion = "1"

// Bucket names. Index keys are "<value>\x00<id>" with empty values, so a prefix scan over one
// value yields its transactions in time order.
var (
	bucketMeta       = []byte("meta")
	bucketReq        = []byte("req")     // id -> JSON of the request side
	bucketRes        = []byte("res")     // id -> JSON of Result
	bucketPending    = []byte("pending") // id -> nothing; intents without a result yet
	bucketIdxRecord  = []byte("idx_record")
	bucketIdxRoute   = []byte("idx_route")
	bucketIdxOutcome = []byte("idx_outcome")
	bucketIdxFinding = []byte("idx_finding")
	allBuckets       = [][]byte{bucketMeta, bucketReq, bucketRes, bucketPending, bucketIdxRecord, bucketIdxRoute, bucketIdxOutcome, bucketIdxFinding, bucketAlerts}
	keyFormat        = []byte("format")
)

// Options tunes Open. The zero value is ready to use.
type Options struct {
	// Now is the clock used for ids and retention. If nil, time.Now is used.
	Now func() time.Time
	// LockTimeout bounds the wait for another process to release the file. If zero, 2s.
	LockTimeout time.Duration
	// MaxBatch caps how many queued writes join one commit. If zero, 2048.
	MaxBatch int
	// OnResult, if set, receives every transaction whose result was committed, in commit
	// order, from the committer goroutine: alert rules consume this stream instead of polling
	// the file. It must not block (hand the value to a buffered channel or similar).
	OnResult func(Transaction)
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
	maxBatch int
	onResult func(Transaction)
	done     chan struct{}

	closeMu sync.RWMutex // held for reading while enqueueing, for writing by Close
	closed  bool

	lastErr   atomic.Pointer[error] // the last commit error, nil after a successful commit
	failures  atomic.Int64
	committed atomic.Int64
	recovered int
}

// op is one queued write. Exactly one of tx or barrier is meaningful.
type op struct {
	intent bool         // true: write the request side; false: write the result
	tx     *Transaction // the call; for a result only ID, Route, RecordKeys and Result are read
	req    []byte       // encoded request side (intent) or nil
	res    []byte       // encoded Result (result) or nil
	done   chan error   // nil when nobody waits
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
		maxBatch: opts.MaxBatch,
		onResult: opts.OnResult,
		done:     make(chan struct{}),
	}
	if err := s.init(path); err != nil {
		db.Close()
		return nil, err
	}
	go s.commitLoop()
	return s, nil
}

// init checks the format version (or writes it into a new file) and recovers interrupted calls.
func (s *Store) init(path string) error {
	return s.db.Update(func(btx *bolt.Tx) error {
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
		return s.recoverInterrupted(btx)
	})
}

// recoverInterrupted gives every pending intent the outcome interrupted: the process stopped
// (crash, kill -9, power loss) after recording the request and before recording its result.
func (s *Store) recoverInterrupted(btx *bolt.Tx) error {
	pending := btx.Bucket(bucketPending)
	var ids [][]byte
	_ = pending.ForEach(func(k, _ []byte) error { ids = append(ids, bytes.Clone(k)); return nil })
	for _, id := range ids {
		r := Result{
			Outcome:  OutcomeInterrupted,
			Findings: []Finding{},
			Error:    "mtguard stopped before this call's outcome was recorded; the vendor may or may not have received it",
		}
		b, err := json.Marshal(r)
		if err != nil {
			return fmt.Errorf("encode interrupted result: %w", err)
		}
		if err := putResult(btx, id, b, &r); err != nil {
			return err
		}
	}
	s.recovered = len(ids)
	return nil
}

// view runs fn in a read transaction.
func (s *Store) view(fn func(*bolt.Tx) error) error {
	s.dbMu.RLock()
	defer s.dbMu.RUnlock()
	return s.db.View(fn)
}

// update runs fn in a write transaction (bbolt serialises writers).
func (s *Store) update(fn func(*bolt.Tx) error) error {
	s.dbMu.RLock()
	defer s.dbMu.RUnlock()
	return s.db.Update(fn)
}

// Recovered reports how many calls Open marked as interrupted.
func (s *Store) Recovered() int { return s.recovered }

// NewID returns a fresh, time-ordered transaction id.
func (s *Store) NewID(t time.Time) string { return s.ids.next(t) }

// RecordIntent durably records the request side of tx before it is forwarded. It assigns
// tx.ID when empty, so the caller has an id even when the write fails. It returns once the
// write is committed and fsync'd, or ctx is done.
func (s *Store) RecordIntent(ctx context.Context, tx *Transaction) error {
	if tx.ID == "" {
		tx.ID = s.NewID(tx.Time)
	}
	req, err := encodeRequest(tx)
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
			tx.stored = true
		}
		return err
	case <-ctx.Done():
		return fmt.Errorf("record intent: %w", ctx.Err())
	}
}

// RecordResult queues the outcome of tx (tx.Result) and returns without waiting for the
// commit; Sync waits for it. When the intent of tx was never stored (the store was failing at
// the time), the request side is written too, so nothing that reached a result is lost.
func (s *Store) RecordResult(tx *Transaction) error {
	res, err := json.Marshal(&tx.Result)
	if err != nil {
		return fmt.Errorf("encode result: %w", err)
	}
	return s.enqueue(context.Background(), &op{tx: tx, res: res})
}

// Sync waits until every write queued before it is committed, and returns the error of the
// last commit, if any.
func (s *Store) Sync(ctx context.Context) error {
	o := &op{done: make(chan error, 1)}
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

func (s *Store) enqueue(ctx context.Context, o *op) error {
	s.closeMu.RLock()
	defer s.closeMu.RUnlock()
	if s.closed {
		return ErrClosed
	}
	select {
	case s.ops <- o:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// Healthy returns the error of the last commit, or nil when it succeeded.
func (s *Store) Healthy() error {
	if p := s.lastErr.Load(); p != nil {
		return *p
	}
	return nil
}

// Stats are counters since Open.
type Stats struct {
	Commits        int64 `json:"commits"`
	CommitFailures int64 `json:"commit_failures"`
}

// Stats returns counters since Open.
func (s *Store) Stats() Stats {
	return Stats{Commits: s.committed.Load(), CommitFailures: s.failures.Load()}
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
	if err := s.db.Close(); err != nil {
		return fmt.Errorf("close store: %w", err)
	}
	return nil
}

// commitLoop is the single committer: it takes every queued write and commits them together,
// so concurrent calls share one fsync instead of waiting for one each.
func (s *Store) commitLoop() {
	defer close(s.done)
	batch := make([]*op, 0, s.maxBatch)
	for first := range s.ops {
		batch = append(batch[:0], first)
	drain:
		for len(batch) < s.maxBatch {
			select {
			case o, ok := <-s.ops:
				if !ok {
					break drain
				}
				batch = append(batch, o)
			default:
				break drain
			}
		}
		var err error
		if slices.ContainsFunc(batch, func(o *op) bool { return o.tx != nil }) {
			err = s.commit(batch)
		}
		for _, o := range batch {
			if o.done != nil {
				o.done <- err
			}
			if err == nil && s.onResult != nil && o.tx != nil && !o.intent {
				s.onResult(*o.tx)
			}
		}
	}
}

// commit writes batch in one transaction and records the outcome for Healthy and Stats.
// A batch of barriers only (Sync) commits nothing: what it waits for is already committed.
func (s *Store) commit(batch []*op) error {
	err := s.update(func(btx *bolt.Tx) error {
		for _, o := range batch {
			if err := applyOp(btx, o); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		err = fmt.Errorf("commit %d writes: %w", len(batch), err)
		s.lastErr.Store(&err)
		s.failures.Add(1)
		return err
	}
	s.lastErr.Store(nil)
	s.committed.Add(1)
	return nil
}

func applyOp(btx *bolt.Tx, o *op) error {
	switch {
	case o.tx == nil:
		return nil // a barrier
	case o.intent:
		return putIntent(btx, o.tx, o.req)
	default:
		id := []byte(o.tx.ID)
		if o.tx.stored {
			// The intent was committed by this process, so no earlier result exists: write
			// the result without the lookups that guard against one.
			return putFreshResult(btx, id, o.res, &o.tx.Result)
		}
		if btx.Bucket(bucketReq).Get(id) == nil {
			req, err := encodeRequest(o.tx)
			if err != nil {
				return err
			}
			if err := putIntent(btx, o.tx, req); err != nil {
				return err
			}
		}
		return putResult(btx, id, o.res, &o.tx.Result)
	}
}

func putIntent(btx *bolt.Tx, tx *Transaction, req []byte) error {
	id := []byte(tx.ID)
	reqB := btx.Bucket(bucketReq)
	reqB.FillPercent = appendFill
	if err := reqB.Put(id, req); err != nil {
		return fmt.Errorf("put request %s: %w", tx.ID, err)
	}
	if err := btx.Bucket(bucketPending).Put(id, nil); err != nil {
		return fmt.Errorf("put pending %s: %w", tx.ID, err)
	}
	idx := btx.Bucket(bucketIdxRecord)
	for _, k := range tx.RecordKeys {
		if err := idx.Put(indexKey(k, tx.ID), nil); err != nil {
			return fmt.Errorf("index record key: %w", err)
		}
	}
	if err := btx.Bucket(bucketIdxRoute).Put(indexKey(tx.Route, tx.ID), nil); err != nil {
		return fmt.Errorf("index route: %w", err)
	}
	if tx.ReplayOf != "" {
		return linkReplay(btx, tx.ReplayOf, tx.ID)
	}
	return nil
}

// putResult stores a call's result and indexes its outcome and finding codes, replacing the
// index entries of an earlier result of the same call, if any.
func putResult(btx *bolt.Tx, id, res []byte, r *Result) error {
	resB := btx.Bucket(bucketRes)
	sid := string(id)
	if old := resB.Get(id); old != nil {
		var prev Result
		if json.Unmarshal(old, &prev) == nil {
			if err := unindexResult(btx, sid, &prev); err != nil {
				return err
			}
		}
	}
	if err := resB.Put(id, res); err != nil {
		return fmt.Errorf("put result %s: %w", id, err)
	}
	if err := btx.Bucket(bucketPending).Delete(id); err != nil {
		return fmt.Errorf("clear pending %s: %w", id, err)
	}
	if err := btx.Bucket(bucketIdxOutcome).Put(indexKey(string(r.Outcome), sid), nil); err != nil {
		return fmt.Errorf("index outcome: %w", err)
	}
	idx := btx.Bucket(bucketIdxFinding)
	for _, code := range findingCodes(r) {
		if err := idx.Put(indexKey(code, sid), nil); err != nil {
			return fmt.Errorf("index finding: %w", err)
		}
	}
	return nil
}

// putFreshResult stores the first result of a call whose intent is committed.
func putFreshResult(btx *bolt.Tx, id, res []byte, r *Result) error {
	resB := btx.Bucket(bucketRes)
	resB.FillPercent = appendFill
	if err := resB.Put(id, res); err != nil {
		return fmt.Errorf("put result %s: %w", id, err)
	}
	if err := btx.Bucket(bucketPending).Delete(id); err != nil {
		return fmt.Errorf("clear pending %s: %w", id, err)
	}
	sid := string(id)
	if err := btx.Bucket(bucketIdxOutcome).Put(indexKey(string(r.Outcome), sid), nil); err != nil {
		return fmt.Errorf("index outcome: %w", err)
	}
	idx := btx.Bucket(bucketIdxFinding)
	for _, code := range findingCodes(r) {
		if err := idx.Put(indexKey(code, sid), nil); err != nil {
			return fmt.Errorf("index finding: %w", err)
		}
	}
	return nil
}

// appendFill is the fill percent of buckets keyed by time-ordered ids: keys only ever arrive at
// the end, so pages can be packed full instead of left half empty for inserts that never come.
const appendFill = 0.95

// unindexResult removes the index entries that r put for id.
func unindexResult(btx *bolt.Tx, id string, r *Result) error {
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
func findingCodes(r *Result) []string {
	var codes []string
	for _, f := range r.Findings {
		if !slices.Contains(codes, f.Code) {
			codes = append(codes, f.Code)
		}
	}
	return codes
}

// linkReplay adds replay to the replayed_by list of the call it replays, so that the original
// shows its replay chain.
func linkReplay(btx *bolt.Tx, original, replay string) error {
	resB := btx.Bucket(bucketRes)
	old := resB.Get([]byte(original))
	if old == nil {
		return nil // the original is gone (retention) or still in flight: nothing to link
	}
	var r Result
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
func encodeRequest(tx *Transaction) ([]byte, error) {
	b, err := json.Marshal(&tx.Call)
	if err != nil {
		return nil, fmt.Errorf("encode request: %w", err)
	}
	return b, nil
}
