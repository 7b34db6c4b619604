package pgstore

import (
	"context"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	bolt "go.etcd.io/bbolt"
	bolterrors "go.etcd.io/bbolt/errors"

	"github.com/mtguard/mtguard/store"
	"github.com/mtguard/mtguard/txn"
)

// SpoolOptions tunes OpenSpooled. The zero value is ready to use.
type SpoolOptions struct {
	// Wait is how long a write waits for PostgreSQL to commit it before it is kept in the
	// spool instead. If zero, 5s.
	Wait time.Duration
	// Retry is the longest pause between two tries to empty the spool into PostgreSQL. If
	// zero, 5s.
	Retry time.Duration
	// OnSpooling, if set, hears why writes began to go to the spool; OnDrained, how many
	// writes were moved into PostgreSQL once the spool is empty again and writes go there
	// directly. Neither may block.
	OnSpooling func(error)
	OnDrained  func(moved int)
	// OnRefused, if set, hears of each call PostgreSQL refused to store while it answered (a
	// value it cannot hold): its entries are set aside in the spool file, not retried. It may
	// not block.
	OnRefused func(id string, err error)
}

// Spooled is a PostgreSQL log that keeps what PostgreSQL does not take in a local file (the
// spool: a bbolt file, every write fsynced), so that a call made while the database is away
// is not lost if this process dies before it comes back. While anything is in the spool,
// every write goes there, in order, and Healthy fails; a background loop empties the spool
// into PostgreSQL, in order, as soon as it answers, then writes go to it directly again.
// Writing an entry again is harmless (intents are inserted once, results overwrite the
// same row), so a crash while emptying duplicates nothing.
//
// The spool holds the records the log would have (already redacted by the pipeline),
// nothing more. Reads, leases and the other state go to PostgreSQL: while it is away they
// fail, as they do without a spool.
type Spooled struct {
	*Store
	db    *bolt.DB
	path  string
	sopts SpoolOptions

	// mu is held for reading by writes that choose between PostgreSQL and the spool and
	// write there, and for writing by the drain when it finds the spool empty and sends
	// writes to PostgreSQL again: no entry lands in the spool after that check.
	mu        sync.RWMutex
	spooling  atomic.Bool
	cause     atomic.Pointer[error] // why writes went to the spool
	count     atomic.Int64          // entries in the spool
	refused   atomic.Int64          // calls set aside since open (refuse)
	recovered int                   // calls of a previous run without an outcome, at open

	// pending are the results queued in PostgreSQL and not committed yet: copied to the
	// spool (held) when PostgreSQL fails, so that a death before it returns loses none.
	// landed are held results PostgreSQL committed after all; the drain skips their copy.
	pendMu  sync.Mutex
	pending map[string]txn.Transaction
	held    map[string]bool
	landed  map[string]bool
	// observed are the results written to the spool and handed to Options.OnResult then, so
	// that alerts see a vendor's failures while PostgreSQL is away; their commit, once the
	// spool is moved, is not handed over again.
	observed map[string]bool
	onResult func(txn.Transaction)

	kick chan struct{}
	stop context.CancelFunc
	done chan struct{}
}

// spoolBucket holds the entries under an 8-byte big-endian sequence number: in write order.
var spoolBucket = []byte("spool")

// Kinds of spool entries.
const (
	spoolIntent      = "intent"
	spoolProvisional = "provisional"
	spoolResult      = "result"
)

// spoolEntry is one write kept in the spool: the call, and for a provisional result or a
// result, that result.
type spoolEntry struct {
	Kind   string      `json:"kind"`
	Call   txn.Call    `json:"call"`
	Result *txn.Result `json:"result,omitempty"`
}

// OpenSpooled opens the spool file at path (creating it), then the PostgreSQL log as Open
// does. Calls a previous run left in the spool without an outcome get one (interrupted, or
// their provisional result with outcome.unchecked), and the spool is emptied into
// PostgreSQL before OpenSpooled returns if the database takes it.
func OpenSpooled(ctx context.Context, dsn string, opts Options, path string, sopts SpoolOptions) (*Spooled, error) {
	if sopts.Wait <= 0 {
		sopts.Wait = 5 * time.Second
	}
	if sopts.Retry <= 0 {
		sopts.Retry = 5 * time.Second
	}
	db, err := bolt.Open(path, 0o600, &bolt.Options{Timeout: time.Second})
	if errors.Is(err, bolterrors.ErrTimeout) {
		return nil, fmt.Errorf("%w: %s; give each instance its own store.spool_dir", ErrSpoolBusy, path)
	}
	if err != nil {
		return nil, fmt.Errorf("open spool %s: %w", path, err)
	}
	s := &Spooled{db: db, path: path, sopts: sopts, pending: map[string]txn.Transaction{},
		held: map[string]bool{}, landed: map[string]bool{}, observed: map[string]bool{}, onResult: opts.OnResult, kick: make(chan struct{}, 1), done: make(chan struct{})}
	if err := s.settlePrevious(); err != nil {
		db.Close()
		return nil, err
	}
	onResult, onWriteError := s.onResult, opts.OnWriteError
	opts.OnResult = func(tx txn.Transaction) {
		s.pendMu.Lock()
		delete(s.pending, tx.ID)
		if s.held[tx.ID] {
			delete(s.held, tx.ID)
			s.landed[tx.ID] = true
		}
		seen := s.observed[tx.ID]
		delete(s.observed, tx.ID)
		s.pendMu.Unlock()
		if onResult != nil && !seen {
			onResult(tx)
		}
	}
	opts.OnWriteError = func(err error) {
		s.begin(err)
		if onWriteError != nil {
			onWriteError(err)
		}
	}
	if s.Store, err = Open(ctx, dsn, opts); err != nil {
		db.Close()
		return nil, err
	}
	if s.count.Load() > 0 {
		s.spooling.Store(true)
		if _, err := s.drain(ctx); err != nil {
			s.begin(err) // the loop keeps trying
		}
	}
	bg, cancel := context.WithCancel(context.Background())
	s.stop = cancel
	go s.run(bg)
	return s, nil
}

// Recovered is how many calls the spool held from a previous run without an outcome: they
// were given one at open (interrupted, or their provisional result).
func (s *Spooled) Recovered() int { return s.recovered }

// SpoolPath is the spool file's path.
func (s *Spooled) SpoolPath() string { return s.path }

// Refused is how many calls PostgreSQL refused since open: their entries are set aside in the
// spool file's refused bucket.
func (s *Spooled) Refused() int64 { return s.refused.Load() }

// SpoolLen is how many writes wait in the spool.
func (s *Spooled) SpoolLen() int64 { return s.count.Load() }

// RecordIntent commits tx's request side in PostgreSQL, or, while writes go to the spool or
// when PostgreSQL does not commit it within SpoolOptions.Wait, in the spool.
func (s *Spooled) RecordIntent(ctx context.Context, tx *txn.Transaction) error {
	if tx.ID == "" {
		tx.ID = s.NewID(tx.Time)
	}
	// PostgreSQL may still commit it after the wait: the spool's copy is then inserted once,
	// as a no-op.
	return s.commitOrSpool(ctx, spoolIntent, tx, nil, func(wctx context.Context) error { return s.Store.RecordIntent(wctx, tx) })
}

// RecordProvisional commits r as tx's result should this process die first, in PostgreSQL
// or the spool as RecordIntent does.
func (s *Spooled) RecordProvisional(ctx context.Context, tx *txn.Transaction, r txn.Result) error {
	return s.commitOrSpool(ctx, spoolProvisional, tx, &r, func(wctx context.Context) error { return s.Store.RecordProvisional(wctx, tx, r) })
}

// commitOrSpool writes to the spool while writes go there; otherwise it waits up to
// SpoolOptions.Wait for commit, and writes to the spool what PostgreSQL did not take.
func (s *Spooled) commitOrSpool(ctx context.Context, kind string, tx *txn.Transaction, r *txn.Result, commit func(context.Context) error) error {
	if ok, err := s.spoolIf(kind, tx, r); ok {
		return err
	}
	wctx, cancel := context.WithTimeout(ctx, s.sopts.Wait)
	err := commit(wctx)
	cancel()
	if err == nil || ctx.Err() != nil || errors.Is(err, store.ErrClosed) {
		return err
	}
	return s.fallback(kind, tx, r, err)
}

// RecordResult queues tx's outcome in PostgreSQL, remembered until it is committed (and
// copied to the spool if PostgreSQL fails first), or, while writes go to the spool, writes it
// there before returning.
func (s *Spooled) RecordResult(tx *txn.Transaction) error {
	if ok, err := s.spoolIf(spoolResult, tx, &tx.Result); ok {
		return err
	}
	s.pendMu.Lock()
	s.pending[tx.ID] = *tx
	s.pendMu.Unlock()
	err := s.Store.RecordResult(tx)
	if err == nil {
		return nil
	}
	s.pendMu.Lock()
	delete(s.pending, tx.ID)
	s.pendMu.Unlock()
	if errors.Is(err, store.ErrClosed) {
		return err
	}
	return s.fallback(spoolResult, tx, &tx.Result, err)
}

// Sync waits until every write queued before it is durable: in the spool (fsynced as it is
// written) or committed in PostgreSQL.
func (s *Spooled) Sync(ctx context.Context) error {
	if s.spooling.Load() {
		return nil
	}
	return s.Store.Sync(ctx)
}

// Forget erases key's calls from PostgreSQL, but not while calls wait in the spool: moved in
// afterwards, the person's calls would be back. It then fails, wrapping ErrSpooling.
func (s *Spooled) Forget(ctx context.Context, key string) (store.ForgetReport, error) {
	if s.spooling.Load() {
		return store.ForgetReport{}, fmt.Errorf("forget: %w: %d writes wait in %s; try again once PostgreSQL has them (/readyz answers 200)", ErrSpooling, s.count.Load(), s.path)
	}
	return s.Store.Forget(ctx, key)
}

// Healthy is nil while writes go to PostgreSQL and it takes them; while they go to the spool,
// an error wrapping ErrSpooling that says how many wait, where, and why.
func (s *Spooled) Healthy() error {
	if s.spooling.Load() {
		why := "it is being emptied into PostgreSQL"
		if p := s.cause.Load(); p != nil {
			why = "last error: " + (*p).Error()
		}
		return fmt.Errorf("%w: %d waiting in %s (%s)", ErrSpooling, s.count.Load(), s.path, why)
	}
	return s.Store.Healthy()
}

// HeldWrites is how many writes wait for PostgreSQL: in memory and in the spool.
func (s *Spooled) HeldWrites() int64 { return s.Store.HeldWrites() + s.count.Load() }

// Close stops the drain, keeps in the spool the results PostgreSQL has not committed if it
// is failing, empties the spool if PostgreSQL answers (a clean stop then leaves nothing
// behind), and closes the log and the spool.
func (s *Spooled) Close() error {
	s.stop()
	<-s.done
	var err error
	if s.spooling.Load() || s.Store.Healthy() != nil {
		err = s.holdPending()
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		_, _ = s.drain(ctx) // what stays is emptied at the next start
		cancel()
	}
	if cerr := s.Store.Close(); err == nil && !s.spooling.Load() {
		err = cerr
	}
	if cerr := s.db.Close(); err == nil {
		err = cerr
	}
	return err
}

// begin sends writes to the spool from now on, for err.
func (s *Spooled) begin(err error) {
	s.cause.Store(&err)
	if s.spooling.CompareAndSwap(false, true) && s.sopts.OnSpooling != nil {
		s.sopts.OnSpooling(err)
	}
	select {
	case s.kick <- struct{}{}: // copy the pending results, then try to drain
	default:
	}
}

// spoolIf writes to the spool if writes go there now, and reports whether it did.
func (s *Spooled) spoolIf(kind string, tx *txn.Transaction, r *txn.Result) (bool, error) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	if !s.spooling.Load() {
		return false, nil
	}
	return true, s.put(kind, tx, r)
}

// fallback writes to the spool what PostgreSQL failed to take, and sends what follows there.
func (s *Spooled) fallback(kind string, tx *txn.Transaction, r *txn.Result, cause error) error {
	s.mu.RLock()
	defer s.mu.RUnlock()
	s.begin(cause)
	if err := s.put(kind, tx, r); err != nil {
		return fmt.Errorf("%w; and the spool: %w", cause, err)
	}
	return nil
}

// put writes one entry and waits until it is on disk. The caller holds mu for reading.
func (s *Spooled) put(kind string, tx *txn.Transaction, r *txn.Result) error {
	e := spoolEntry{Kind: kind, Call: tx.Call}
	if r != nil {
		rc := *r
		e.Result = &rc
	}
	v, err := json.Marshal(&e)
	if err != nil {
		return fmt.Errorf("spool %s %s: %w", kind, tx.ID, err)
	}
	if err := s.db.Batch(func(btx *bolt.Tx) error { return putEntry(btx, v) }); err != nil {
		return fmt.Errorf("spool %s %s: %w", kind, tx.ID, err)
	}
	s.count.Add(1)
	switch kind {
	case spoolIntent:
		// Its result may go to PostgreSQL without the request once the spool is emptied.
		tx.IntentStored = true
	case spoolResult:
		if s.onResult != nil {
			s.pendMu.Lock()
			s.observed[tx.ID] = true
			s.pendMu.Unlock()
			s.onResult(*tx)
		}
	}
	return nil
}

func putEntry(btx *bolt.Tx, v []byte) error {
	b, err := btx.CreateBucketIfNotExists(spoolBucket)
	if err != nil {
		return err
	}
	seq, err := b.NextSequence()
	if err != nil {
		return err
	}
	return b.Put(binary.BigEndian.AppendUint64(nil, seq), v)
}

// holdPending copies to the spool the results queued in PostgreSQL and not committed yet.
func (s *Spooled) holdPending() error {
	s.pendMu.Lock()
	var txs []txn.Transaction
	for id, tx := range s.pending {
		if !s.held[id] {
			s.held[id] = true
			txs = append(txs, tx)
		}
	}
	s.pendMu.Unlock()
	if len(txs) == 0 {
		return nil
	}
	vals := make([][]byte, 0, len(txs))
	for _, tx := range txs {
		v, err := json.Marshal(&spoolEntry{Kind: spoolResult, Call: tx.Call, Result: &tx.Result})
		if err != nil {
			return fmt.Errorf("spool result %s: %w", tx.ID, err)
		}
		vals = append(vals, v)
	}
	s.mu.RLock()
	defer s.mu.RUnlock()
	s.spooling.Store(true)
	err := s.db.Update(func(btx *bolt.Tx) error {
		for _, v := range vals {
			if err := putEntry(btx, v); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("spool %d results PostgreSQL did not commit: %w", len(vals), err)
	}
	s.count.Add(int64(len(vals)))
	return nil
}

// run copies the pending results to the spool when PostgreSQL fails, and empties the spool
// into PostgreSQL as soon as it answers, trying again with a growing pause (to Retry).
func (s *Spooled) run(ctx context.Context) {
	defer close(s.done)
	const first = 250 * time.Millisecond
	pause := first
	for {
		var retry <-chan time.Time
		if s.spooling.Load() {
			retry = time.After(pause)
		}
		select {
		case <-ctx.Done():
			return
		case <-s.kick:
			if err := s.holdPending(); err != nil {
				s.begin(err)
			}
			continue
		case <-retry:
		}
		moved, err := s.drain(ctx)
		if err != nil {
			pause = min(2*pause, s.sopts.Retry)
			continue
		}
		pause = first
		if !s.spooling.Load() && s.sopts.OnDrained != nil {
			s.sopts.OnDrained(moved)
		}
	}
}

// drainChunk is how many entries one pass of drain moves.
const drainChunk = 500

// drain moves the spool into PostgreSQL, in order, chunk by chunk, deleting each chunk once
// PostgreSQL has committed it; with the spool empty, writes go to PostgreSQL again. It first
// checks that PostgreSQL commits (and holds no result back).
func (s *Spooled) drain(ctx context.Context) (int, error) {
	if err := s.Store.Sync(ctx); err != nil {
		return 0, err
	}
	moved := 0
	for {
		keys, entries, err := s.read(drainChunk)
		if err != nil {
			return moved, err
		}
		if len(keys) == 0 {
			s.mu.Lock()
			empty, err := s.empty()
			if empty {
				s.count.Store(0)
				s.spooling.Store(false)
				s.cause.Store(nil)
			}
			s.mu.Unlock()
			if err != nil || empty {
				return moved, err
			}
			continue
		}
		if err := s.apply(ctx, keys, entries); err != nil {
			return moved, err
		}
		deleted := 0
		err = s.db.Update(func(btx *bolt.Tx) error {
			deleted = 0
			b := btx.Bucket(spoolBucket)
			for _, k := range keys {
				if b.Get(k) == nil {
					continue // set aside by refuse
				}
				if err := b.Delete(k); err != nil {
					return err
				}
				deleted++
			}
			return nil
		})
		if err != nil {
			return moved, fmt.Errorf("empty the spool: %w", err)
		}
		s.count.Add(-int64(deleted))
		moved += deleted
	}
}

// read returns up to n entries from the start of the spool.
func (s *Spooled) read(n int) (keys [][]byte, entries []spoolEntry, err error) {
	err = s.db.View(func(btx *bolt.Tx) error {
		b := btx.Bucket(spoolBucket)
		if b == nil {
			return nil
		}
		c := b.Cursor()
		for k, v := c.First(); k != nil && len(keys) < n; k, v = c.Next() {
			var e spoolEntry
			if err := json.Unmarshal(v, &e); err != nil {
				return fmt.Errorf("spool entry %x: %w", k, err)
			}
			keys, entries = append(keys, append([]byte(nil), k...)), append(entries, e)
		}
		return nil
	})
	if err != nil {
		return nil, nil, fmt.Errorf("read the spool: %w", err)
	}
	return keys, entries, nil
}

// spooledCall is what the entries of a chunk say of one call: its request, its latest
// provisional result, its result.
type spooledCall struct {
	call        txn.Call
	provisional *txn.Result
	result      *txn.Result
	keys        [][]byte // its entries' keys in the spool
}

// collapse groups entries (with their keys, if given) by call, in the order calls first appear.
func collapse(keys [][]byte, entries []spoolEntry) []*spooledCall {
	var order []*spooledCall
	byID := map[string]*spooledCall{}
	for i, e := range entries {
		c := byID[e.Call.ID]
		if c == nil {
			c = &spooledCall{}
			byID[e.Call.ID] = c
			order = append(order, c)
		}
		if keys != nil {
			c.keys = append(c.keys, keys[i])
		}
		c.call = e.Call
		switch e.Kind {
		case spoolProvisional:
			c.provisional = e.Result
		case spoolResult:
			c.result = e.Result
		}
	}
	return order
}

// apply writes a chunk to PostgreSQL and returns once it is committed. Every call's intent
// goes first, each waited for, so that a call PostgreSQL refuses (while it answers: a value it
// cannot store) is found before its result could be held back by the log's writer; such a call
// is set aside (refuse) rather than block the spool. Each write carries the request, so the
// order in which PostgreSQL commits them does not matter beyond that: a result inserts the call
// if its intent is not there yet, and an intent already there is a no-op.
func (s *Spooled) apply(ctx context.Context, keys [][]byte, entries []spoolEntry) error {
	calls := collapse(keys, entries)
	failed := s.intents(ctx, calls)
	if len(failed) > 0 {
		// One refused intent fails the others of its group commit: try them one at a time.
		for _, c := range failed {
			tx := txn.Transaction{Call: c.call}
			err := s.Store.RecordIntent(ctx, &tx)
			if err == nil {
				continue
			}
			if perr := s.Store.pool.Ping(ctx); perr != nil || ctx.Err() != nil {
				return fmt.Errorf("move the spool: %w", err)
			}
			if rerr := s.refuse(c, err); rerr != nil {
				return rerr
			}
		}
	}
	var wg sync.WaitGroup
	errs := make(chan error, len(calls))
	for _, c := range calls {
		if c.keys == nil {
			continue // refused
		}
		tx := txn.Transaction{Call: c.call}
		switch {
		case c.result != nil:
			s.pendMu.Lock()
			landed := s.landed[tx.ID]
			delete(s.landed, tx.ID)
			s.pendMu.Unlock()
			if landed {
				continue
			}
			tx.Result = *c.result
			if err := s.Store.RecordResult(&tx); err != nil {
				return fmt.Errorf("move spooled result %s: %w", tx.ID, err)
			}
		case c.provisional != nil:
			r := *c.provisional
			wg.Go(func() { errs <- s.Store.RecordProvisional(ctx, &tx, r) })
		}
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			return fmt.Errorf("move the spool: %w", err)
		}
	}
	if err := s.Store.Sync(ctx); err != nil {
		return fmt.Errorf("move the spool: %w", err)
	}
	return nil
}

// intents writes the intent of every call, together, and returns the calls whose intent failed.
func (s *Spooled) intents(ctx context.Context, calls []*spooledCall) []*spooledCall {
	var wg sync.WaitGroup
	var mu sync.Mutex
	var failed []*spooledCall
	for _, c := range calls {
		wg.Go(func() {
			tx := txn.Transaction{Call: c.call}
			if err := s.Store.RecordIntent(ctx, &tx); err != nil {
				mu.Lock()
				failed = append(failed, c)
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	return failed
}

// refusedBucket keeps the entries of calls PostgreSQL refused while it answered, under their
// spool key, for an operator to look at: they are not retried.
var refusedBucket = []byte("refused")

// refuse moves the entries of c from the spool to the refused bucket, and clears c.keys so that
// the rest of apply skips it.
func (s *Spooled) refuse(c *spooledCall, why error) error {
	err := s.db.Update(func(btx *bolt.Tx) error {
		sp := btx.Bucket(spoolBucket)
		rb, err := btx.CreateBucketIfNotExists(refusedBucket)
		if err != nil {
			return err
		}
		for _, k := range c.keys {
			if v := sp.Get(k); v != nil {
				if err := rb.Put(k, v); err != nil {
					return err
				}
			}
			if err := sp.Delete(k); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("set aside call %s: %w", c.call.ID, err)
	}
	s.count.Add(-int64(len(c.keys)))
	s.refused.Add(1)
	s.pendMu.Lock()
	delete(s.observed, c.call.ID) // never committed, so never handed over again
	delete(s.landed, c.call.ID)
	s.pendMu.Unlock()
	if s.sopts.OnRefused != nil {
		s.sopts.OnRefused(c.call.ID, why)
	}
	c.keys = nil
	return nil
}

// empty reports whether the spool holds no entry.
func (s *Spooled) empty() (bool, error) {
	empty := true
	err := s.db.View(func(btx *bolt.Tx) error {
		if b := btx.Bucket(spoolBucket); b != nil {
			k, _ := b.Cursor().First()
			empty = k == nil
		}
		return nil
	})
	if err != nil {
		return false, fmt.Errorf("read the spool: %w", err)
	}
	return empty, nil
}

// settlePrevious gives every call the spool holds without a result (its process died before
// the outcome) the result the bbolt store gives such calls at open, as a new entry, and
// counts the entries.
func (s *Spooled) settlePrevious() error {
	return s.db.Update(func(btx *bolt.Tx) error {
		b, err := btx.CreateBucketIfNotExists(spoolBucket)
		if err != nil {
			return fmt.Errorf("open spool: %w", err)
		}
		var entries []spoolEntry
		err = b.ForEach(func(k, v []byte) error {
			var e spoolEntry
			if err := json.Unmarshal(v, &e); err != nil {
				return fmt.Errorf("spool entry %x: %w", k, err)
			}
			entries = append(entries, e)
			return nil
		})
		if err != nil {
			return fmt.Errorf("read the spool %s: %w", s.path, err)
		}
		n := len(entries)
		for _, c := range collapse(nil, entries) {
			if c.result != nil {
				continue
			}
			var prov []byte
			if c.provisional != nil {
				if prov, err = json.Marshal(c.provisional); err != nil {
					return err
				}
			}
			r, _, err := store.InterruptedResult(prov)
			if err != nil {
				return fmt.Errorf("settle spooled call %s: %w", c.call.ID, err)
			}
			v, err := json.Marshal(&spoolEntry{Kind: spoolResult, Call: c.call, Result: &r})
			if err != nil {
				return err
			}
			if err := putEntry(btx, v); err != nil {
				return err
			}
			s.recovered++
			n++
		}
		s.count.Store(int64(n))
		return nil
	})
}
