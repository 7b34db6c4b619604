package main

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/rs/zerolog"

	"github.com/mtguard/mtguard/pgstore"
	"github.com/mtguard/mtguard/txn"
)

// engineLease is how long the instance running journeys, drift learning or read-back for
// every instance (PostgreSQL log) holds its lease without renewing it: when it dies, another
// instance takes the job over within this period (plus one renewal period, engineLease/3).
const engineLease = 15 * time.Second

// Timings of the feed of committed calls that the running instance reads.
const (
	// feedEvery is how often it reads the calls committed since its last read.
	feedEvery = 200 * time.Millisecond
	// feedPage is how many calls one read takes at most.
	feedPage = 500
	// settleWithin bounds how long a read of the jobs' state, or a journeys check, waits for
	// the feed to have taken every call committed before it.
	settleWithin = 5 * time.Second
)

// errFeedBehind means the feed had not taken every call committed before a read in time.
var errFeedBehind = errors.New("the instance running the job has not read the latest calls yet")

// feeder is an engine a job's feed hands committed calls to.
type feeder interface {
	Take(txs []txn.Transaction)
	Close()
}

// engineJob is one of journeys, drift learning and read-back on the PostgreSQL log: every
// instance tries for its lease, the one holding it runs the engine, fed from the shared log
// (every instance's committed calls) from the position the last holder saved.
type engineJob struct {
	name string // the lease's and cursor's name
	what string // what the log calls it
	pg   *pgstore.Store
	log  zerolog.Logger
	// begin builds and starts the engine of a new term.
	begin func(tm *term) (feeder, error)
	// each, when set, runs before every read of the feed while this instance runs the job.
	each func(tm *term)

	kick chan struct{} // a read of the feed is wanted now
	mu   sync.Mutex
	cur  *term // nil while another instance runs the job
}

// term is this instance's turn at running a job. Its store writes the job's state only while
// this instance holds the lease (pgstore.Term), and its Applied waits for the feed.
type term struct {
	pgstore.Term
	job    *engineJob
	ctx    context.Context // done when the term ends
	cancel context.CancelFunc
	engine feeder
	held   atomic.Int64                     // when the lease was last renewed (UnixNano, taken before asking)
	pos    atomic.Pointer[pgstore.Position] // how far the engine has taken the feed
}

func newEngineJob(name, what string, pg *pgstore.Store, log zerolog.Logger) *engineJob {
	return &engineJob{name: name, what: what, pg: pg, log: log, kick: make(chan struct{}, 1)}
}

// leading reports whether the term's lease was renewed less than a lease period ago: past
// that another instance may run the job, so what must happen once (a notice) is not done here.
func (tm *term) leading() bool {
	return time.Since(time.Unix(0, tm.held.Load())) < engineLease
}

// Applied waits until the engine has taken every call committed before it, on any instance
// (bounded by settleWithin): journeys judge a record late only then.
func (tm *term) Applied(ctx context.Context) error {
	ctx, stop := context.WithCancel(ctx)
	defer stop()
	defer context.AfterFunc(tm.ctx, stop)()
	return tm.job.settle(ctx, func(context.Context) (pgstore.Position, error) { return *tm.pos.Load(), nil })
}

// current is the running term, nil while another instance runs the job.
func (j *engineJob) current() *term {
	j.mu.Lock()
	defer j.mu.Unlock()
	return j.cur
}

func (j *engineJob) poke() {
	select {
	case j.kick <- struct{}{}:
	default:
	}
}

// caughtUp waits (up to settleWithin) until every call committed before it is taken: by this
// instance's term when it runs the job, else as far as the cursor the running one saved.
func (j *engineJob) caughtUp(ctx context.Context) error {
	return j.settle(ctx, func(ctx context.Context) (pgstore.Position, error) {
		if tm := j.current(); tm != nil {
			return *tm.pos.Load(), nil
		}
		p, _, err := j.pg.FeedCursor(ctx, j.name)
		return p, err
	})
}

func (j *engineJob) settle(ctx context.Context, pos func(context.Context) (pgstore.Position, error)) error {
	ctx, cancel := context.WithTimeout(ctx, settleWithin)
	defer cancel()
	// This instance's results are committed first: the caller may just have recorded one.
	if err := j.pg.Sync(ctx); err != nil {
		return fmt.Errorf("%s: %w", j.what, err)
	}
	head, err := j.pg.Head(ctx)
	if err != nil {
		return fmt.Errorf("%s: %w", j.what, err)
	}
	j.poke()
	for {
		p, err := pos(ctx)
		var ok bool
		if err == nil {
			ok, err = j.pg.CaughtUp(ctx, p, head)
		}
		if ok {
			return nil
		}
		select {
		case <-ctx.Done():
			if err == nil {
				err = errFeedBehind
			}
			return fmt.Errorf("%s: %w (waited %s)", j.what, err, settleWithin)
		case <-time.After(20 * time.Millisecond):
		}
	}
}

// run keeps trying for the job's lease and, while this instance holds it, runs the engine
// and feeds it, until ctx ends. An instance that cannot reach the database keeps its term
// until its lease would have run out (nobody else can take it before); its writes of the
// job's state then fail, fenced by the lease.
func (j *engineJob) run(ctx context.Context) {
	defer j.end()
	lease := heldLease{pg: j.pg, name: j.name, period: engineLease}
	var lastTry, warned time.Time
	t := time.NewTicker(feedEvery)
	defer t.Stop()
	for {
		if time.Since(lastTry) >= engineLease/3 {
			lastTry = time.Now()
			lead, err := lease.renew(ctx, j.current() != nil)
			switch {
			case ctx.Err() != nil:
				return
			case err != nil:
				j.log.Warn().Err(err).Msgf("%s: could not renew the lease", j.what)
			}
			switch tm := j.current(); {
			case lead && tm == nil:
				j.start(ctx, lease.held)
			case lead:
				tm.held.Store(lease.held.UnixNano())
			case tm != nil:
				j.end()
				j.log.Info().Str("instance", j.pg.Instance()).Msgf("%s: another instance runs it now", j.what)
			}
		}
		if tm := j.current(); tm != nil {
			if err := j.feed(tm); err != nil && ctx.Err() == nil {
				if errors.Is(err, pgstore.ErrNotLeading) {
					j.end()
					lastTry = time.Time{}
					j.log.Info().Str("instance", j.pg.Instance()).Msgf("%s: this instance lost its lease; another instance runs it", j.what)
				} else if time.Since(warned) > engineLease {
					warned = time.Now()
					j.log.Warn().Err(err).Msgf("%s: could not read the calls committed by the instances; trying again", j.what)
				}
			}
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		case <-j.kick:
		}
	}
}

// start begins a term: the engine is started on the state the last holder saved, and fed
// from where it stopped (the first term ever starts at the calls committed from now on).
func (j *engineJob) start(ctx context.Context, held time.Time) {
	tm := &term{Term: j.pg.Term(j.name), job: j}
	tm.ctx, tm.cancel = context.WithCancel(ctx)
	tm.held.Store(held.UnixNano())
	pos, ok, err := j.pg.FeedCursor(ctx, j.name)
	if err == nil && !ok {
		if pos, err = j.pg.Head(ctx); err == nil {
			err = tm.SaveCursor(ctx, pos)
		}
	}
	if err != nil {
		tm.cancel()
		j.log.Error().Err(err).Msgf("%s: could not read where the feed stopped; trying again at the next lease renewal", j.what)
		return
	}
	tm.pos.Store(&pos)
	if tm.engine, err = j.begin(tm); err != nil {
		tm.cancel()
		j.log.Error().Err(err).Msgf("%s: could not start; trying again at the next lease renewal", j.what)
		return
	}
	j.mu.Lock()
	j.cur = tm
	j.mu.Unlock()
	j.log.Info().Str("instance", j.pg.Instance()).Msgf("%s: this instance runs it for every instance", j.what)
}

// end ends the running term, if any: the engine stops and saves what it holds (while the
// lease is still this instance's).
func (j *engineJob) end() {
	j.mu.Lock()
	tm := j.cur
	j.cur = nil
	j.mu.Unlock()
	if tm == nil {
		return
	}
	tm.cancel()
	tm.engine.Close()
}

// feed hands the engine the calls committed since its position, a page at a time, and
// saves the position once it took them.
func (j *engineJob) feed(tm *term) error {
	if j.each != nil {
		j.each(tm)
	}
	for tm.ctx.Err() == nil {
		f, err := j.pg.Committed(tm.ctx, *tm.pos.Load(), feedPage)
		if err != nil {
			return err
		}
		if len(f.Calls) > 0 {
			tm.engine.Take(f.Calls)
			if err := tm.SaveCursor(tm.ctx, f.Next); err != nil {
				tm.pos.Store(&f.Next)
				return err
			}
		}
		tm.pos.Store(&f.Next)
		if !f.More {
			return nil
		}
	}
	return nil
}
