package pgstore

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"regexp"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/mtguard/mtguard/store"
	"github.com/mtguard/mtguard/txn"
)

// Options tunes Open. The zero value is ready to use.
type Options struct {
	// Now is the clock of ids, reservations and audit entries. If nil, time.Now.
	Now func() time.Time
	// Schema, if set, is created when missing and used instead of the DSN's search_path
	// (tests use a fresh one each).
	Schema string
	// Migrate applies the embedded migrations at Open, under the migration lock (serve does);
	// without it, Open requires the schema to be exactly this binary's version.
	Migrate bool
	// Instance names this process in the instances table. If empty, a random name.
	Instance string
	// Lease is how long this instance counts as alive after its last heartbeat: after that,
	// another instance settles its pending calls. If zero, 15s.
	Lease time.Duration
	// MaxBatch caps the writes one commit takes. If zero, 500.
	MaxBatch int
	// OnResult, if set, receives every transaction whose result was committed, in commit
	// order, from the writer goroutine. It must not block.
	OnResult func(txn.Transaction)
	// OnWriteError, if set, hears every failed commit; OnWriteRecovered the first success
	// after failures. Neither may block.
	OnWriteError     func(error)
	OnWriteRecovered func()
}

// Store is an open PostgreSQL transaction log. Its methods are safe for concurrent use.
type Store struct {
	pool     *pgxpool.Pool
	now      func() time.Time
	ids      store.IDs
	instance string
	lease    time.Duration
	maxBatch int
	opts     Options

	ops        chan *op
	takeMu     sync.Mutex // held by the writer taking the next batch
	stateMu    sync.Mutex // guards what follows
	committing map[uint64]chan struct{}
	batchSeq   uint64
	held       []*op     // results whose commit failed, retried with the next batches
	retryAt    time.Time // when held results are tried again
	failures   int       // commits failed in a row
	heldN      atomic.Int64

	closeMu sync.RWMutex // held for reading while enqueueing, for writing by Close
	closed  bool
	stop    context.CancelFunc
	wg      sync.WaitGroup

	failing atomic.Pointer[error] // the last commit's error while commits fail
	hbErr   atomic.Pointer[error] // the last heartbeat's error while heartbeats fail
	commits atomic.Int64
	failedN atomic.Int64
	// crashed, set by tests, makes Close leave everything as a killed process would.
	crashed atomic.Bool
}

type opKind int

const (
	opBarrier opKind = iota
	opIntent
	opProvisional
	opResult
)

// op is one queued write, encoded when it was queued (the caller may change tx afterwards).
type op struct {
	kind     opKind
	id       string
	time     time.Time
	route    string
	caller   string
	keys     []string
	replayOf string
	call     []byte // nil when the intent is already stored
	res      []byte
	outcome  string
	status   int
	findings []string
	tx       txn.Transaction // for OnResult
	done     chan error      // nil for results: nobody waits
}

// ErrUnavailable wraps every failure to reach PostgreSQL at Open.
var ErrUnavailable = errors.New("PostgreSQL is unavailable")

// Open connects to the database dsn names, checks or migrates its schema, registers this
// instance and starts the writer. Errors never contain the DSN's password (RedactDSN).
func Open(ctx context.Context, dsn string, opts Options) (*Store, error) {
	cfg, err := pgxpool.ParseConfig(dsn)
	if err != nil {
		return nil, fmt.Errorf("store.dsn_env: not a PostgreSQL connection string: %s", RedactDSN(err.Error(), dsn))
	}
	// A call is forwarded only once its intent is on the database's disk.
	cfg.ConnConfig.RuntimeParams["synchronous_commit"] = "on"
	if opts.Schema != "" {
		cfg.ConnConfig.RuntimeParams["search_path"] = opts.Schema
	}
	if cfg.MaxConns < 8 {
		cfg.MaxConns = 8
	}
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		return nil, fmt.Errorf("%w: %s", ErrUnavailable, RedactDSN(err.Error(), dsn))
	}
	s, err := open(ctx, pool, opts)
	if err != nil {
		pool.Close()
		return nil, redacted{msg: RedactDSN(err.Error(), dsn), err: err}
	}
	return s, nil
}

func open(ctx context.Context, pool *pgxpool.Pool, opts Options) (*Store, error) {
	if err := pool.Ping(ctx); err != nil {
		return nil, fmt.Errorf("%w: %w", ErrUnavailable, err)
	}
	if opts.Schema != "" {
		if _, err := pool.Exec(ctx, `CREATE SCHEMA IF NOT EXISTS `+pgx.Identifier{opts.Schema}.Sanitize()); err != nil {
			return nil, fmt.Errorf("create schema %s: %w", opts.Schema, err)
		}
	}
	if opts.Migrate {
		if _, _, err := Migrate(ctx, pool); err != nil {
			return nil, err
		}
	} else if err := checkVersion(ctx, pool); err != nil {
		return nil, err
	}
	s := &Store{pool: pool, now: opts.Now, instance: opts.Instance, lease: opts.Lease, maxBatch: opts.MaxBatch, opts: opts}
	if s.now == nil {
		s.now = time.Now
	}
	if s.lease <= 0 {
		s.lease = 15 * time.Second
	}
	if s.maxBatch <= 0 {
		s.maxBatch = 500
	}
	if s.instance == "" {
		var b [8]byte
		_, _ = rand.Read(b[:])
		s.instance = hex.EncodeToString(b[:])
	}
	if err := s.heartbeat(ctx); err != nil {
		return nil, err
	}
	if err := s.EnsurePartitions(ctx, s.now()); err != nil {
		return nil, err
	}
	if _, err := s.RecoverDead(ctx); err != nil {
		return nil, err
	}
	s.ops = make(chan *op, 4*s.maxBatch)
	bg, cancel := context.WithCancel(context.Background())
	s.stop = cancel
	s.committing = map[uint64]chan struct{}{}
	s.wg.Add(1 + writers)
	for range writers {
		go s.writeLoop()
	}
	go s.keepAlive(bg)
	return s, nil
}

// Instance is the name this instance holds its lease under.
func (s *Store) Instance() string { return s.instance }

// NewID returns a fresh, time-ordered transaction id.
func (s *Store) NewID(t time.Time) string { return s.ids.Next(t) }

// RecordIntent commits the request side of tx and returns once it is committed, or ctx is
// done. It assigns tx.ID when empty.
func (s *Store) RecordIntent(ctx context.Context, tx *txn.Transaction) error {
	if tx.ID == "" {
		tx.ID = s.NewID(tx.Time)
	}
	o, err := newOp(opIntent, tx, true)
	if err != nil {
		return err
	}
	if err := s.wait(ctx, o); err != nil {
		return fmt.Errorf("record intent: %w", err)
	}
	tx.IntentStored = true
	return nil
}

// RecordProvisional commits r as the result tx gets if this instance dies before RecordResult.
// It is not visible to reads.
func (s *Store) RecordProvisional(ctx context.Context, tx *txn.Transaction, r txn.Result) error {
	o, err := newOp(opProvisional, tx, !tx.IntentStored)
	if err != nil {
		return err
	}
	if o.res, err = store.EncodeResult(&r); err != nil {
		return fmt.Errorf("encode provisional result %s: %w", tx.ID, err)
	}
	if err := s.wait(ctx, o); err != nil {
		return fmt.Errorf("record provisional result: %w", err)
	}
	return nil
}

// RecordResult queues tx's outcome without waiting; reads wait for it. A result whose commit
// fails is kept and retried until it succeeds (or the store closes).
func (s *Store) RecordResult(tx *txn.Transaction) error {
	o, err := newOp(opResult, tx, !tx.IntentStored)
	if err != nil {
		return err
	}
	o.done = nil
	return s.enqueue(context.Background(), o)
}

// Sync waits until every write queued before it is committed.
func (s *Store) Sync(ctx context.Context) error {
	return s.wait(ctx, &op{kind: opBarrier, done: make(chan error, 1)})
}

// barrier waits for the writes queued before a read; a failing commit does not fail the read.
func (s *Store) barrier(ctx context.Context) error {
	err := s.Sync(ctx)
	if err != nil && (errors.Is(err, store.ErrClosed) || ctx.Err() != nil) {
		return fmt.Errorf("read: %w", err)
	}
	return nil
}

func newOp(kind opKind, tx *txn.Transaction, withCall bool) (*op, error) {
	o := &op{kind: kind, id: tx.ID, time: tx.Time, route: tx.Route, caller: tx.Caller,
		keys: nonNil(tx.RecordKeys), replayOf: tx.ReplayOf, done: make(chan error, 1)}
	var err error
	if withCall {
		if o.call, err = store.EncodeCall(&tx.Call); err != nil {
			return nil, fmt.Errorf("encode request %s: %w", tx.ID, err)
		}
	}
	if kind == opResult {
		if o.res, err = store.EncodeResult(&tx.Result); err != nil {
			return nil, fmt.Errorf("encode result %s: %w", tx.ID, err)
		}
		o.outcome, o.status = string(tx.Outcome), tx.Status
		o.findings = nonNil(store.FindingCodes(&tx.Result))
		o.tx = *tx
	}
	return o, nil
}

func (s *Store) wait(ctx context.Context, o *op) error {
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
		return store.ErrClosed
	}
	select {
	case s.ops <- o:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// writers is how many batches may be committing at once: while one waits for PostgreSQL to
// flush its commit, the next takes what queued meanwhile, and PostgreSQL flushes concurrent
// commits together.
const writers = 2

// writeLoop commits everything queued while the previous commit ran, in one transaction.
// Writers take batches one at a time (takeMu), so a barrier knows which batches taken before
// it are still committing, and waits for them.
func (s *Store) writeLoop() {
	defer s.wg.Done()
	for {
		s.takeMu.Lock()
		first, ok := <-s.ops
		if !ok {
			s.takeMu.Unlock()
			break
		}
		batch := []*op{first}
	more:
		for len(batch) < s.maxBatch {
			select {
			case o, ok := <-s.ops:
				if !ok {
					break more
				}
				batch = append(batch, o)
			default:
				break more
			}
		}
		done := make(chan struct{})
		s.stateMu.Lock()
		var before []chan struct{}
		if slices.ContainsFunc(batch, func(o *op) bool { return o.kind == opBarrier }) {
			for _, c := range s.committing {
				before = append(before, c)
			}
		}
		s.batchSeq++
		id := s.batchSeq
		s.committing[id] = done
		s.stateMu.Unlock()
		s.takeMu.Unlock()

		s.commitBatch(batch, before)

		s.stateMu.Lock()
		delete(s.committing, id)
		s.heldN.Store(int64(len(s.held)))
		s.stateMu.Unlock()
		close(done)
	}
}

// flushHeld is the last try, at Close, of results kept through a failure.
func (s *Store) flushHeld() {
	s.stateMu.Lock()
	s.retryAt = time.Time{}
	s.stateMu.Unlock()
	s.commitBatch(nil, nil)
	s.stateMu.Lock()
	s.heldN.Store(int64(len(s.held)))
	s.stateMu.Unlock()
}

// commitBatch commits batch; before are the batches taken earlier and still committing, which
// the batch's barriers wait for.
func (s *Store) commitBatch(batch []*op, before []chan struct{}) {
	// Results kept through a failure go first, alone: one that can never be written must not
	// fail the intents behind it. A waiting read or Sync retries them at once.
	waited := slices.ContainsFunc(batch, func(o *op) bool { return o.kind == opBarrier })
	s.stateMu.Lock()
	held := s.held
	retry := len(held) > 0 && (waited || time.Now().After(s.retryAt))
	if retry {
		s.held = nil
	}
	s.stateMu.Unlock()
	if retry {
		s.commit(held, nil)
	}
	if len(batch) > 0 {
		s.commit(batch, before)
	}
}

// commit writes ops in one transaction, and on failure keeps the results for a retry and
// fails the rest.
func (s *Store) commit(ops []*op, before []chan struct{}) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	err := writeOps(ctx, s.pool, s.instance, ops)
	cancel()
	if err != nil {
		err = fmt.Errorf("commit %d writes: %w", len(ops), err)
		s.failing.Store(&err)
		s.failedN.Add(1)
		s.stateMu.Lock()
		s.failures++
		// Do not spin against a database that is down: held results wait, doubling to 5s.
		s.retryAt = time.Now().Add(min(100*time.Millisecond<<min(s.failures-1, 6), 5*time.Second))
		for _, o := range ops {
			if o.kind == opResult {
				s.held = append(s.held, o) // kept, and written once PostgreSQL is back
			}
		}
		s.stateMu.Unlock()
		if s.opts.OnWriteError != nil {
			s.opts.OnWriteError(err)
		}
		for _, o := range ops {
			if o.kind != opResult && o.done != nil {
				o.done <- err
			}
		}
		return
	}
	s.commits.Add(1)
	for _, c := range before {
		<-c
	}
	// A barrier promises that everything queued before it is committed: not while results
	// are held.
	s.stateMu.Lock()
	heldN := len(s.held)
	if heldN == 0 {
		s.failures = 0
	}
	s.stateMu.Unlock()
	var heldErr error
	if heldN == 0 {
		if s.failing.Swap(nil) != nil && s.opts.OnWriteRecovered != nil {
			s.opts.OnWriteRecovered()
		}
	} else {
		heldErr = fmt.Errorf("%d results wait for a retry: %w", heldN, s.Healthy())
	}
	for _, o := range ops {
		if o.kind == opResult && s.opts.OnResult != nil {
			s.opts.OnResult(o.tx)
		}
		if o.done != nil {
			if o.kind == opBarrier {
				o.done <- heldErr
			} else {
				o.done <- nil
			}
		}
	}
}

// The statements of a batch. Each takes its rows as arrays, one per column (unnest), so
// that its text is the same whatever the batch size: pgx prepares it once per connection
// and sends the rows in binary, and PostgreSQL neither parses nor plans a statement per
// batch. A call's record keys and finding codes are slices of one flat array (from, to:
// 1-based bounds; an empty slice when to < from). Encoded JSON comes as text, and an empty
// string stands for NULL.
//
// A provisional result and a result are upserts (INSERT … ON CONFLICT DO UPDATE), not an
// UPDATE … FROM unnest: the upsert finds each row through the primary key of the partition
// its time routes it to, whatever the statistics say and however many days are kept, and
// its plan costs nothing to make. The UPDATE was measured too: its custom plan (over every
// partition) was made again at every batch, 0.5 ms of the server's CPU, and a generic plan
// made while the day's partition was nearly empty scanned it whole at every batch.
const (
	insertIntents = `INSERT INTO calls (id, time, route, caller, record_keys, replay_of, instance, call)
		SELECT u.id, u.time, u.route, u.caller, ($5::text[])[u.kfrom:u.kto], u.replay_of, $1, u.call::json
		FROM unnest($2::text[], $3::timestamptz[], $4::text[], $6::text[], $7::int4[], $8::int4[], $9::text[], $10::text[])
			AS u(id, time, route, caller, kfrom, kto, replay_of, call)`
	upsertIntents     = insertIntents + ` ON CONFLICT (time, id) DO NOTHING`
	upsertProvisional = `INSERT INTO calls (id, time, route, caller, record_keys, replay_of, instance, call, provisional)
		SELECT u.id, u.time, u.route, u.caller, ($5::text[])[u.kfrom:u.kto], u.replay_of, $1, nullif(u.call, '')::json, u.res::json
		FROM unnest($2::text[], $3::timestamptz[], $4::text[], $6::text[], $7::int4[], $8::int4[], $9::text[], $10::text[], $11::text[])
			AS u(id, time, route, caller, kfrom, kto, replay_of, call, res)
		ON CONFLICT (time, id) DO UPDATE SET provisional = EXCLUDED.provisional,
			call = coalesce(calls.call, EXCLUDED.call) WHERE calls.result IS NULL`
	upsertResults = `INSERT INTO calls (id, time, route, caller, record_keys, replay_of, instance, call, result, outcome, status, findings)
		SELECT u.id, u.time, u.route, u.caller, ($5::text[])[u.kfrom:u.kto], u.replay_of, $1, nullif(u.call, '')::json, u.res::json,
			u.outcome, u.status, ($12::text[])[u.ffrom:u.fto]
		FROM unnest($2::text[], $3::timestamptz[], $4::text[], $6::text[], $7::int4[], $8::int4[], $9::text[], $10::text[], $11::text[],
			$13::text[], $14::int4[], $15::int4[], $16::int4[])
			AS u(id, time, route, caller, kfrom, kto, replay_of, call, res, outcome, status, ffrom, fto)
		ON CONFLICT (time, id) DO UPDATE SET call = coalesce(calls.call, EXCLUDED.call),
			result = EXCLUDED.result, outcome = EXCLUDED.outcome, status = EXCLUDED.status,
			findings = EXCLUDED.findings, provisional = NULL`
	// linkReplays does not wait for the original's result, as the bbolt store's one writer
	// does: the result may be committing in the other writer's batch at that moment, unseen by
	// this statement, and the link would be lost. The link has a column of its own, which the
	// result's write leaves alone.
	linkReplays = `UPDATE calls c SET replayed_by = array_append(c.replayed_by, l.replay)
		FROM unnest($1::text[], $2::text[]) AS l(original, replay)
		WHERE c.id = l.original AND NOT (l.replay = ANY(c.replayed_by))`
)

// writeOps writes a batch in one transaction and one round trip: its statements (one per
// kind of write, intents first, so a call whose intent and result share the batch ends with
// its result) are sent together in a pipeline that ends with one Sync, which PostgreSQL runs
// as one implicit transaction and commits (and, with synchronous_commit on, flushes) before
// it answers the Sync. An error in any statement rolls back all of them.
//
// Intents are plain INSERTs: an id is new, and INSERT … ON CONFLICT DO NOTHING would cost
// every intent a probe of the primary key and a WAL record confirming the speculative
// insertion. An intent can be stored already only when it is written again after a commit
// whose answer was lost; the batch, rolled back by the unique violation, is then written again
// with the intents that are stored skipped.
func writeOps(ctx context.Context, pool *pgxpool.Pool, instance string, ops []*op) error {
	err := writeBatch(ctx, pool, instance, ops, insertIntents)
	if pgErr := (*pgconn.PgError)(nil); errors.As(err, &pgErr) && pgErr.Code == uniqueViolation {
		// Only the intents' INSERT can violate the primary key: the other statements update
		// rows or upsert.
		err = writeBatch(ctx, pool, instance, ops, upsertIntents)
	}
	return err
}

// uniqueViolation is PostgreSQL's SQLSTATE for a duplicate key.
const uniqueViolation = "23505"

// writeBatch is writeOps with the intents written by intentSQL.
func writeBatch(ctx context.Context, pool *pgxpool.Pool, instance string, ops []*op, intentSQL string) error {
	var intents, provs, results []*op
	seen := map[[2]string]int{}
	for _, o := range ops {
		switch o.kind {
		case opIntent:
			intents = appendLast(intents, o, seen, "i")
		case opProvisional:
			provs = appendLast(provs, o, seen, "p")
		case opResult:
			results = appendLast(results, o, seen, "r")
		}
	}
	b := &pgx.Batch{}
	var labels []string
	queue := func(label, sql string, args ...any) {
		b.Queue(sql, args...)
		labels = append(labels, label)
	}
	if len(intents) > 0 {
		queue("insert intents", intentSQL, rowsOf(intents, instance)...)
	}
	if len(provs) > 0 {
		queue("insert provisional results", upsertProvisional, append(rowsOf(provs, instance), texts(provs, resOf))...)
	}
	if len(results) > 0 {
		flat, from, to := slicesOf(results, findingsOf)
		outcomes, statuses := outcomesOf(results)
		queue("insert results", upsertResults, append(rowsOf(results, instance), texts(results, resOf), flat, outcomes, statuses, from, to)...)
	}
	// Results whose intent was never stored are new calls as well.
	var originals, replays []string
	for _, o := range slices.Concat(intents, results) {
		if o.replayOf != "" && (o.kind == opIntent || o.call != nil) {
			originals, replays = append(originals, o.replayOf), append(replays, o.id)
		}
	}
	if len(originals) > 0 {
		queue("link replays", linkReplays, originals, replays)
	}
	if b.Len() == 0 {
		return nil
	}
	br := pool.SendBatch(ctx, b)
	for _, label := range labels {
		if _, err := br.Exec(); err != nil {
			br.Close()
			return fmt.Errorf("%s: %w", label, err)
		}
	}
	if err := br.Close(); err != nil {
		return fmt.Errorf("commit: %w", err)
	}
	return nil
}

func outcomesOf(ops []*op) ([]string, []int32) {
	outcomes, statuses := make([]string, len(ops)), make([]int32, len(ops))
	for i, o := range ops {
		outcomes[i], statuses[i] = o.outcome, int32(o.status)
	}
	return outcomes, statuses
}

func resOf(o *op) []byte        { return o.res }
func findingsOf(o *op) []string { return o.findings }

// rowsOf returns the arguments every kind of write shares ($1 to $10 of its statement):
// the instance, then one array per column.
func rowsOf(ops []*op, instance string) []any {
	ids, routes, callers, replayOf := make([]string, len(ops)), make([]string, len(ops)), make([]string, len(ops)), make([]string, len(ops))
	times := make([]time.Time, len(ops))
	for i, o := range ops {
		ids[i], times[i], routes[i], callers[i], replayOf[i] = o.id, o.time, o.route, o.caller, o.replayOf
	}
	keys, from, to := slicesOf(ops, func(o *op) []string { return o.keys })
	return []any{instance, ids, times, routes, keys, callers, from, to, replayOf, texts(ops, func(o *op) []byte { return o.call })}
}

// slicesOf flattens the lists of ops into one array, with each op's 1-based bounds in it.
func slicesOf(ops []*op, list func(*op) []string) (flat []string, from, to []int32) {
	flat = []string{}
	from, to = make([]int32, len(ops)), make([]int32, len(ops))
	for i, o := range ops {
		from[i] = int32(len(flat) + 1)
		flat = append(flat, list(o)...)
		to[i] = int32(len(flat))
	}
	return flat, from, to
}

// texts passes encoded JSON as text, an empty string for none (the statements read it as NULL).
func texts(ops []*op, field func(*op) []byte) []string {
	out := make([]string, len(ops))
	for i, o := range ops {
		out[i] = string(field(o))
	}
	return out
}

// appendLast keeps one write per call and kind, the last: one statement may not touch a row twice.
func appendLast(list []*op, o *op, seen map[[2]string]int, kind string) []*op {
	k := [2]string{kind, o.id}
	if i, ok := seen[k]; ok {
		if list[i].call != nil && o.call == nil {
			o.call = list[i].call
		}
		list[i] = o
		return list
	}
	seen[k] = len(list)
	return append(list, o)
}

// Healthy is nil while commits and heartbeats succeed, and the last error while they fail.
func (s *Store) Healthy() error {
	if p := s.failing.Load(); p != nil {
		return *p
	}
	if p := s.hbErr.Load(); p != nil {
		return *p
	}
	return nil
}

// HeldWrites is how many results wait for PostgreSQL to come back.
func (s *Store) HeldWrites() int64 { return s.heldN.Load() }

// Commits counts the transactions the writer committed.
func (s *Store) Commits() int64 { return s.commits.Load() }

// CommitFailures counts the writer's transactions that failed.
func (s *Store) CommitFailures() int64 { return s.failedN.Load() }

// Close commits what is queued, gives up this instance's lease (so that its pending calls,
// if any, are settled by the next sweep) and closes the connections.
func (s *Store) Close() error {
	s.closeMu.Lock()
	if s.closed {
		s.closeMu.Unlock()
		return nil
	}
	s.closed = true
	close(s.ops)
	s.closeMu.Unlock()
	s.stop()
	s.wg.Wait()
	var err error
	if !s.crashed.Load() {
		if s.HeldWrites() > 0 {
			s.flushHeld()
		}
		if n := s.HeldWrites(); n > 0 {
			err = fmt.Errorf("close: %d results could not be committed: %w", n, s.Healthy())
		}
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		if _, derr := s.pool.Exec(ctx, `DELETE FROM instances WHERE id = $1`, s.instance); derr != nil && err == nil {
			err = fmt.Errorf("close: %w", derr)
		}
		// The jobs it led (alerts, retention) pass to another instance at its next try
		// rather than when the lease runs out.
		if _, derr := s.pool.Exec(ctx, `DELETE FROM leases WHERE holder = $1`, s.instance); derr != nil && err == nil {
			err = fmt.Errorf("close: %w", derr)
		}
		cancel()
	}
	s.pool.Close()
	return err
}

// keepAlive extends this instance's lease and settles the calls of dead instances.
func (s *Store) keepAlive(ctx context.Context) {
	defer s.wg.Done()
	t := time.NewTicker(s.lease / 3)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			if s.crashed.Load() {
				return
			}
			err := s.heartbeat(ctx)
			if ctx.Err() != nil {
				return
			}
			if err != nil {
				// Not ready while the database does not answer, even without traffic.
				if s.hbErr.Swap(&err) == nil && s.opts.OnWriteError != nil {
					s.opts.OnWriteError(err)
				}
			} else if s.hbErr.Swap(nil) != nil && s.Healthy() == nil && s.opts.OnWriteRecovered != nil {
				s.opts.OnWriteRecovered()
			}
			_, _ = s.RecoverDead(ctx)
			_, _ = s.SweepForgotten(ctx)
		}
	}
}

func (s *Store) heartbeat(ctx context.Context) error {
	_, err := s.pool.Exec(ctx, `INSERT INTO instances (id, started, expires) VALUES ($1, now(), now() + $2::interval)
		ON CONFLICT (id) DO UPDATE SET expires = EXCLUDED.expires`, s.instance, s.lease.String())
	if err != nil {
		return fmt.Errorf("renew the instance lease: %w", err)
	}
	return nil
}

// RecoverDead settles the pending calls of instances whose lease ran out (they died: kill -9,
// power loss): a call with a provisional result gets its outcome and outcome.unchecked, any
// other interrupted and outcome.unknown, as the bbolt store does at Open. Instances sweep
// together safely: each claims calls with FOR UPDATE SKIP LOCKED. It returns how many calls
// it settled.
func (s *Store) RecoverDead(ctx context.Context) (int, error) {
	total := 0
	for {
		n := 0
		err := pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
			rows, err := tx.Query(ctx, `SELECT c.time, c.id, c.provisional FROM calls c
				WHERE c.result IS NULL AND c.call IS NOT NULL
				AND NOT EXISTS (SELECT 1 FROM instances i WHERE i.id = c.instance AND i.expires > now())
				LIMIT 500 FOR UPDATE SKIP LOCKED`)
			if err != nil {
				return err
			}
			type settled struct {
				t      time.Time
				id     string
				res    []byte
				status int
				out    string
				codes  []string
			}
			var todo []settled
			for rows.Next() {
				var st settled
				var prov []byte
				if err := rows.Scan(&st.t, &st.id, &prov); err != nil {
					return err
				}
				r, _, err := store.InterruptedResult(prov)
				if err != nil {
					return fmt.Errorf("decode provisional result %s: %w", st.id, err)
				}
				if st.res, err = json.Marshal(&r); err != nil {
					return err
				}
				st.status, st.out = r.Status, string(r.Outcome)
				st.codes = nonNil(store.FindingCodes(&r))
				todo = append(todo, st)
			}
			if err := rows.Err(); err != nil {
				return err
			}
			for _, st := range todo {
				if _, err := tx.Exec(ctx, `UPDATE calls SET result = $3, outcome = $4, status = $5, findings = $6, provisional = NULL
					WHERE time = $1 AND id = $2`, st.t, st.id, st.res, st.out, st.status, st.codes); err != nil {
					return err
				}
			}
			n = len(todo)
			return nil
		})
		if err != nil {
			return total, fmt.Errorf("settle the calls of stopped instances: %w", err)
		}
		total += n
		if n == 0 {
			break
		}
	}
	_, err := s.pool.Exec(ctx, `DELETE FROM instances i WHERE i.expires < now()
		AND NOT EXISTS (SELECT 1 FROM calls c WHERE c.instance = i.id AND c.result IS NULL AND c.call IS NOT NULL)`)
	if err != nil {
		return total, fmt.Errorf("forget stopped instances: %w", err)
	}
	return total, nil
}

// Lead reports whether this instance holds the lease of job (taking it when it is free or
// has run out, renewing it when held): jobs that must run once for all instances (retention,
// alert evaluation) run where Lead is true. A holder that dies loses it within ttl.
func (s *Store) Lead(ctx context.Context, job string, ttl time.Duration) (bool, error) {
	var holder string
	err := s.pool.QueryRow(ctx, `INSERT INTO leases (name, holder, expires) VALUES ($1, $2, now() + $3::interval)
		ON CONFLICT (name) DO UPDATE SET holder = EXCLUDED.holder, expires = EXCLUDED.expires
		WHERE leases.holder = EXCLUDED.holder OR leases.expires < now()
		RETURNING holder`, job, s.instance, ttl.String()).Scan(&holder)
	if errors.Is(err, pgx.ErrNoRows) {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("lease %s: %w", job, err)
	}
	return holder == s.instance, nil
}

// redacted is an error whose message has the DSN's secrets removed; errors.Is still sees
// what it wraps.
type redacted struct {
	msg string
	err error
}

func (r redacted) Error() string { return r.msg }
func (r redacted) Unwrap() error { return r.err }

// RedactDSN replaces, in msg, the password of dsn (and any password= or user:password@ it
// shows) with xxxxx: errors and logs never carry a connection string's secret.
func RedactDSN(msg, dsn string) string {
	if u, err := url.Parse(dsn); err == nil && u.User != nil {
		if pw, ok := u.User.Password(); ok && pw != "" {
			msg = strings.ReplaceAll(msg, pw, "xxxxx")
			msg = strings.ReplaceAll(msg, url.QueryEscape(pw), "xxxxx")
		}
	}
	msg = dsnPassword.ReplaceAllString(msg, "${1}xxxxx")
	return urlPassword.ReplaceAllString(msg, "${1}xxxxx@")
}

var (
	dsnPassword = regexp.MustCompile(`(password=)('[^']*'|\S+)`)
	urlPassword = regexp.MustCompile(`(postgres(?:ql)?://[^:/@\s]*:)[^@\s]*@`)
)

func nonNil(ss []string) []string {
	if ss == nil {
		return []string{}
	}
	return ss
}

// DropSchema drops the schema Options.Schema named, with everything in it (benchmarks and
// tests clean up with it). Without Options.Schema it does nothing.
func (s *Store) DropSchema(ctx context.Context) error {
	if s.opts.Schema == "" {
		return nil
	}
	_, err := s.pool.Exec(ctx, `DROP SCHEMA IF EXISTS `+pgx.Identifier{s.opts.Schema}.Sanitize()+` CASCADE`)
	return err
}

// ExpireInstances ends the lease of every instance but keep, as if their lease had run out:
// for tests and for an operator who knows the instances are gone (their pending calls are
// then settled by the next RecoverDead).
func (s *Store) ExpireInstances(ctx context.Context, keep string) error {
	_, err := s.pool.Exec(ctx, `UPDATE instances SET expires = now() - interval '1 second' WHERE id <> $1`, keep)
	if err != nil {
		return fmt.Errorf("expire instances: %w", err)
	}
	return nil
}
