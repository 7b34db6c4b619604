package store

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
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
	allBuckets       = [][]byte{bucketMeta, bucketReq, bucketRes, bucketPending, bucketIdxRecord, bucketIdxRoute, bucketIdxOutcome}
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
	db       *bolt.DB
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
	db, err := bolt.Open(path, 0o600, &bolt.Options{
		Timeout: opts.LockTimeout,
		// The freelist is rebuilt on open instead of written on every commit: smaller commits.
		NoFreelistSync: true,
		FreelistType:   bolt.FreelistMapType,
	})
	if errors.Is(err, bolterrors.ErrTimeout) {
		return nil, fmt.Errorf("open store %s: the file is locked by another process (is mtguard serve already running with this store.path?)", path)
	}
	if err != nil {
		return nil, fmt.Errorf("open store %s: %w", path, err)
	}
	s := &Store{
		db:       db,
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
		if err := putResult(btx, id, b, OutcomeInterrupted); err != nil {
			return err
		}
	}
	s.recovered = len(ids)
	return nil
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
		err := s.db.Update(func(btx *bolt.Tx) error {
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
		} else {
			s.lastErr.Store(nil)
			s.committed.Add(1)
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

func applyOp(btx *bolt.Tx, o *op) error {
	switch {
	case o.tx == nil:
		return nil // a barrier
	case o.intent:
		return putIntent(btx, o.tx, o.req)
	default:
		id := []byte(o.tx.ID)
		if btx.Bucket(bucketReq).Get(id) == nil {
			req, err := encodeRequest(o.tx)
			if err != nil {
				return err
			}
			if err := putIntent(btx, o.tx, req); err != nil {
				return err
			}
		}
		return putResult(btx, id, o.res, o.tx.Outcome)
	}
}

func putIntent(btx *bolt.Tx, tx *Transaction, req []byte) error {
	id := []byte(tx.ID)
	if err := btx.Bucket(bucketReq).Put(id, req); err != nil {
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
	return nil
}

func putResult(btx *bolt.Tx, id, res []byte, outcome Outcome) error {
	resB := btx.Bucket(bucketRes)
	idxOutcome := btx.Bucket(bucketIdxOutcome)
	// A result may be written twice (a recovered call later completed by a replay of the same id
	// is not possible today, but the index must never hold two outcomes for one id).
	if old := resB.Get(id); old != nil {
		var prev struct {
			Outcome Outcome `json:"outcome"`
		}
		if json.Unmarshal(old, &prev) == nil && prev.Outcome != "" {
			if err := idxOutcome.Delete(indexKey(string(prev.Outcome), string(id))); err != nil {
				return fmt.Errorf("unindex outcome: %w", err)
			}
		}
	}
	if err := resB.Put(id, res); err != nil {
		return fmt.Errorf("put result %s: %w", id, err)
	}
	if err := btx.Bucket(bucketPending).Delete(id); err != nil {
		return fmt.Errorf("clear pending %s: %w", id, err)
	}
	if err := idxOutcome.Put(indexKey(string(outcome), string(id)), nil); err != nil {
		return fmt.Errorf("index outcome: %w", err)
	}
	return nil
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
