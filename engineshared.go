package main

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"maps"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/rs/zerolog"

	"github.com/mtguard/mtguard/alerts"
	"github.com/mtguard/mtguard/drift"
	"github.com/mtguard/mtguard/inspect"
	"github.com/mtguard/mtguard/journeys"
	"github.com/mtguard/mtguard/pgstore"
	"github.com/mtguard/mtguard/schemas"
	"github.com/mtguard/mtguard/store"
	"github.com/mtguard/mtguard/txn"
	"github.com/mtguard/mtguard/verify"
)

// The PostgreSQL log keeps what journeys, drift learning and read-back need, and a term's
// store writes it only while the instance holds the job's lease.
var (
	_ journeys.Store = pgLog{}
	_ drift.Store    = pgLog{}
	_ verify.Store   = pgLog{}
	_ journeys.Store = (*term)(nil)
	_ drift.Store    = (*term)(nil)
	_ verify.Store   = (*term)(nil)
)

// sharedEngines runs journeys, drift learning and read-back with the PostgreSQL log: each on
// one instance at a time (engineJob), fed every instance's committed calls; the admin API of
// every instance shows their state from the database.
type sharedEngines struct {
	journeys *engineJob // nil without journeys
	drift    *engineJob // nil without a route's drift: block
	readBack *engineJob // nil without a route's verify: block
	jview    *sharedJourneys
	dview    *sharedShapes
	// probesDropped counts the read-backs the ended terms' verifiers dropped.
	probesDropped atomic.Int64
	wg            sync.WaitGroup
}

// newSharedEngines builds the jobs of what cfg configures: jc and dc are the journeys' and
// drift's configurations (nil without them), rb the read-back (nil without).
func newSharedEngines(pg *pgstore.Store, jc *journeys.Config, dc *drift.Config, rb *readBack, al *alerting, log zerolog.Logger) (*sharedEngines, error) {
	se := &sharedEngines{}
	if jc != nil {
		se.journeys = newEngineJob("journeys", "journeys", pg, log)
		var err error
		if se.jview, err = newSharedJourneys(se.journeys, *jc, log); err != nil {
			return nil, err
		}
		se.journeys.begin = func(tm *term) (feeder, error) {
			c := *jc
			c.NoCatchUp = true
			c.Buffer = 1 // fed through Take, never Observe
			c.OnLost = func(l journeys.Lost) {
				if !tm.leading() {
					log.Warn().Str("journey", l.Journey).Msg("journeys: records lost in transit are not reported by this instance: its lease ran out, another instance runs journeys")
					return
				}
				al.engine.Report(alerts.JourneyReport(l.Journey, l.Owner, l.Keys, l.Stops, l.Since))
			}
			e, err := journeys.New(c)
			if err != nil {
				return nil, err
			}
			return e, e.Start(tm)
		}
		se.journeys.each = se.jview.dropForgotten
	}
	if dc != nil {
		se.drift = newEngineJob("drift", "drift learning", pg, log)
		se.dview = newSharedShapes(se.drift, *dc, log)
		se.drift.begin = func(tm *term) (feeder, error) {
			c := *dc
			c.Buffer = 1 // fed through Take, never Observe
			l := drift.New(c)
			return l, l.Start(tm)
		}
	}
	if rb != nil {
		se.readBack = newEngineJob("read_back", "read-back verification", pg, log)
		se.readBack.begin = func(tm *term) (feeder, error) {
			v := rb.verifier(log)
			v.Start(tm)
			return &verifyFeed{v: v, dropped: &se.probesDropped}, nil
		}
	}
	return se, nil
}

// run starts the jobs' elections; wait returns once they ended with ctx.
func (se *sharedEngines) run(ctx context.Context) {
	for _, j := range []*engineJob{se.journeys, se.drift, se.readBack} {
		if j != nil {
			se.wg.Add(1)
			go func() {
				defer se.wg.Done()
				j.run(ctx)
			}()
		}
	}
}

func (se *sharedEngines) wait() { se.wg.Wait() }

// watchDropped exports the read-backs dropped (the feed never drops a call: it waits).
func (se *sharedEngines) watchDropped(m *alerts.Metrics) {
	if se.readBack == nil {
		return
	}
	m.WatchDropped("read_back", func() int64 {
		n := se.probesDropped.Load()
		if tm := se.readBack.current(); tm != nil {
			n += tm.engine.(*verifyFeed).v.Dropped()
		}
		return n
	})
}

// journeysView and shapesView are the admin API's views: nil (no endpoints) without them.
func (se *sharedEngines) journeysView() inspect.Journeys {
	if se.jview == nil {
		return nil
	}
	return se.jview
}

func (se *sharedEngines) shapesView() inspect.Shapes {
	if se.dview == nil {
		return nil
	}
	return se.dview
}

// verifyFeed hands a term's verifier the committed calls, to schedule their read-backs.
type verifyFeed struct {
	v       *verify.Verifier
	dropped *atomic.Int64
}

func (f *verifyFeed) Take(txs []txn.Transaction) {
	for _, tx := range txs {
		f.v.Observe(tx)
	}
}

// Close stops the verifier; the read-backs it was waiting to send are dropped, as when one
// mtguard stops.
func (f *verifyFeed) Close() {
	f.v.Close()
	f.dropped.Add(f.v.Dropped())
}

// jobView is a job's state as the admin API shows it: the engine itself on the instance that
// runs the job; elsewhere, what that instance saved, read once the feed has caught up.
type jobView[T any] struct {
	job    *engineJob
	log    zerolog.Logger
	behind string             // what the log says when the feed did not catch up in time
	read   func() (*T, error) // reads the state the running instance saved
	snap   atomic.Pointer[T]  // the state last read
}

// engine is the running engine, else the state last read (nil before the first read).
func (v *jobView[T]) engine() *T {
	if tm := v.job.current(); tm != nil {
		return any(tm.engine).(*T)
	}
	return v.snap.Load()
}

// Settle waits for the feed and, on an instance that does not run the job, reads its state.
// A feed that does not catch up in time (no instance runs the job just now) is logged and the
// state last saved is shown.
func (v *jobView[T]) Settle(ctx context.Context) error {
	if err := v.job.caughtUp(ctx); err != nil {
		if ctx.Err() != nil {
			return err
		}
		v.log.Warn().Err(err).Msg(v.behind)
	}
	if v.job.current() != nil {
		return nil
	}
	_, err := v.load()
	return err
}

func (v *jobView[T]) load() (*T, error) {
	t, err := v.read()
	if err != nil {
		return nil, err
	}
	v.snap.Store(t)
	return t, nil
}

// sharedJourneys is the admin API's view of the journeys (see jobView).
type sharedJourneys struct {
	jobView[journeys.Engine]
	known *journeys.Engine // never started: names only
}

func newSharedJourneys(job *engineJob, c journeys.Config, log zerolog.Logger) (*sharedJourneys, error) {
	c.Buffer = 1 // the views are never fed
	known, err := journeys.New(c)
	if err != nil {
		return nil, err
	}
	v := &sharedJourneys{known: known}
	v.jobView = jobView[journeys.Engine]{job: job, log: log,
		behind: "journeys: showing the state the instance running journeys saved last",
		read: func() (*journeys.Engine, error) {
			e, err := journeys.New(c)
			if err != nil {
				return nil, err
			}
			return e, e.Load(job.pg)
		}}
	return v, nil
}

func (v *sharedJourneys) Lookup(ctx context.Context, key string) ([]journeys.Record, error) {
	e := v.engine()
	if e == nil {
		var err error
		if e, err = v.load(); err != nil {
			return nil, err
		}
	}
	return e.Lookup(ctx, key)
}

func (v *sharedJourneys) Stuck(journey string) []journeys.Record {
	if e := v.engine(); e != nil {
		return e.Stuck(journey)
	}
	return []journeys.Record{}
}

func (v *sharedJourneys) InTransit(journey string) []journeys.Record {
	if e := v.engine(); e != nil {
		return e.InTransit(journey)
	}
	return []journeys.Record{}
}

func (v *sharedJourneys) Known(journey string) error { return v.known.Known(journey) }

// forgetNote is what the database holds of an erased record key while the instance running
// journeys may still hold it in memory: a hash, never the key.
func forgetNote(key string) string {
	h := sha256.Sum256([]byte("mtguard.forget\x00" + key))
	return hex.EncodeToString(h[:])
}

// forget erases key from the journeys (mtguard forget on any instance): its saved records are
// deleted, and the instance running journeys drops it from memory at its next read of the
// feed (waited for, up to settleWithin; a new term reads the state without it anyway).
func (v *sharedJourneys) forget(ctx context.Context, key string) error {
	key = schemas.NormaliseKey(key)
	pg := v.job.pg
	var keys []string
	for _, name := range v.known.Names() {
		keys = append(keys, store.JourneyKey(name, key))
	}
	note := forgetNote(key)
	if err := pg.ForgetJourneys(ctx, keys, note); err != nil {
		return err
	}
	v.job.poke()
	deadline := time.Now().Add(settleWithin)
	for time.Now().Before(deadline) {
		waiting, err := pg.Forgetting(ctx, note)
		if err != nil {
			return err
		}
		if !waiting {
			break
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(20 * time.Millisecond):
		}
	}
	// The running instance may have saved the record again before it dropped it: its bytes
	// go with the dead rows.
	return pg.VacuumJourneys(ctx)
}

// dropForgotten, on the instance running journeys, drops from memory the records erased on
// any instance, then clears their notes.
func (v *sharedJourneys) dropForgotten(tm *term) {
	notes, err := tm.ForgottenJourneys(tm.ctx)
	if err != nil || len(notes) == 0 {
		return
	}
	e := tm.engine.(*journeys.Engine)
	for _, k := range e.Keys() {
		if slices.Contains(notes, forgetNote(k)) {
			if err := e.Forget(k); err != nil {
				v.log.Error().Err(err).Msg("journeys: could not drop an erased record; trying again")
				return
			}
		}
	}
	if err := tm.DoneForgetting(tm.ctx, notes); err != nil && !errors.Is(err, context.Canceled) {
		v.log.Warn().Err(err).Msg("journeys: could not clear the notes of erased records; trying again")
	}
}

// sharedShapes is the admin API's view of the learned shapes (see jobView).
type sharedShapes struct {
	jobView[drift.Learner]
	cfg drift.Config
}

func newSharedShapes(job *engineJob, c drift.Config, log zerolog.Logger) *sharedShapes {
	c.Buffer = 1 // the views are never fed
	return &sharedShapes{cfg: c, jobView: jobView[drift.Learner]{job: job, log: log,
		behind: "drift: showing the shapes the instance learning them saved last",
		read: func() (*drift.Learner, error) {
			l := drift.New(c)
			return l, l.Load(job.pg)
		}}}
}

func (v *sharedShapes) Shape(route string) (drift.Shape, bool) {
	l := v.engine()
	if l == nil {
		return drift.Shape{}, false
	}
	return l.Shape(route)
}

func (v *sharedShapes) Routes() []string { return slices.Sorted(maps.Keys(v.cfg.Learn)) }
