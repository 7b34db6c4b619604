package journeys

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/rs/zerolog"

	"github.com/mtguard/mtguard/observe"
	"github.com/mtguard/mtguard/schemas"
	"github.com/mtguard/mtguard/store"
	"github.com/mtguard/mtguard/txn"
)

// Defaults of Config.
const (
	// DefaultBuffer is how many committed calls may wait for the engine before it drops (and
	// counts) the next ones rather than hold up the store's committer.
	DefaultBuffer = 8192
	// DefaultRetention is how long a lost record stays listed when Config.Retention is zero.
	DefaultRetention = 30 * 24 * time.Hour
	// DefaultCatchUp is Config.CatchUp's default.
	DefaultCatchUp = 15 * time.Minute
	// maxCatchUp bounds the calls Start reads back from the log.
	maxCatchUp = 100000
	// markKey is where the time of the latest call handled is saved; no journey key starts
	// with NUL.
	markKey = "\x00mark"
	// maxTick and minTick bound how often the engine looks for records whose time is up.
	maxTick = 10 * time.Second
	minTick = 50 * time.Millisecond
)

// Journey is one configured journey.
type Journey struct {
	Name string
	// Key is the record key that ties the hops together (email).
	Key string
	// Steps are the route names, in the order a record travels.
	Steps []string
	// Within is how long a record that reached the first step has to reach the last.
	Within time.Duration
	// Owner is named in the alert of a record lost in transit.
	Owner string
	// Paths are, for each step, the route's record-key paths that hold Key. When they are all
	// of the route's paths, the call's record keys are used as they are; otherwise the stored
	// request body is read at these paths.
	Paths [][]schemas.KeyPath
	// AllPaths says, for each step, that Paths are all of the route's record-key paths.
	AllPaths []bool
}

// Store is what the engine needs of the transaction log. *store.Store satisfies it.
type Store interface {
	SaveJourneys(put map[string][]byte, del []string) error
	LoadJourneys(fn func(key string, v []byte) error) error
	AddFindings(adds ...store.FindingOn) error
	Query(ctx context.Context, q store.Query) (store.Page, error)
	Applied(ctx context.Context) error
}

var _ Store = (*store.Store)(nil)

// Lost is one journey's records declared lost in transit at one evaluation, for the alert.
type Lost struct {
	Journey, Owner string
	// Keys are the records' keys, oldest entry first.
	Keys []string
	// Since is when the oldest of them entered the journey.
	Since time.Time
	// Stops says, per key, where the record stopped ("after marketo: never reached salesforce").
	Stops []string
}

// Config configures the engine.
type Config struct {
	Journeys []Journey
	// OnLost is told of the records declared lost (the alert engine's Report, in serve).
	OnLost func(Lost)
	// Now is the clock; time.Now if nil.
	Now func() time.Time
	// Tick is how often records are checked against their time; if zero, a quarter of the
	// shortest within, between 50ms and 10s.
	Tick time.Duration
	// Buffer is how many calls may wait for the engine; DefaultBuffer if zero.
	Buffer int
	// Retention is how long a lost record stays listed (store.retention); DefaultRetention if zero.
	Retention time.Duration
	// CatchUp is how far before the last call handled Start looks in the log for calls the
	// engine never handled (a crash); at least the longest a call can last. DefaultCatchUp if zero.
	CatchUp time.Duration
	// NoCatchUp, when set, makes Start skip looking for missed calls in the log: the calls
	// come through Take from a feed that resumes where the last run stopped (the PostgreSQL
	// log's, read by whichever instance runs journeys).
	NoCatchUp bool
	Logger    zerolog.Logger
}

// The states of a record on a journey.
const (
	StateInTransit = "in_transit"
	StateLost      = "lost"
	StateArrived   = "arrived"
	// StateWaiting is a record seen on a later step whose first step has not been seen (yet):
	// it has not entered the journey; it is forgotten once within has passed.
	StateWaiting = "waiting"
)

// Record is a record's progress on one journey.
type Record struct {
	Journey string    `json:"journey"`
	Key     string    `json:"key"`
	State   string    `json:"state"`
	Entered time.Time `json:"entered"`
	// Due is when it must have reached the last step.
	Due    time.Time `json:"due"`
	LostAt time.Time `json:"lost_at,omitzero"`
	Steps  []Step    `json:"steps"`
	// Stopped says where the record stopped (or is): filled in when read.
	Stopped string `json:"stopped,omitempty"`
}

// Step is one step of a record's journey.
type Step struct {
	Route   string `json:"route"`
	Reached bool   `json:"reached"`
	// Time, Outcome and Call are of the latest call that carried the record on this step.
	Time    time.Time   `json:"time,omitzero"`
	Outcome txn.Outcome `json:"outcome,omitempty"`
	// Delivered says the vendor took the record (delivered, or partial with this record ok).
	Delivered bool   `json:"delivered,omitempty"`
	Call      string `json:"call,omitempty"`
	Calls     int    `json:"calls,omitempty"`
}

// last is the index of the last step reached, -1 for none.
func (r *Record) last() int {
	for i := len(r.Steps) - 1; i >= 0; i-- {
		if r.Steps[i].Reached {
			return i
		}
	}
	return -1
}

// stop describes where the record is: at a step whose call did not deliver it, or after the
// last step reached.
func (r *Record) stop() string {
	i := r.last()
	switch {
	case i < 0:
		return "no step reached"
	case r.State == StateArrived:
		return "arrived at " + r.Steps[i].Route
	case !r.Steps[i].Delivered:
		return fmt.Sprintf("at %s (%s)", r.Steps[i].Route, r.Steps[i].Outcome)
	case i == len(r.Steps)-1:
		return "arrived at " + r.Steps[i].Route
	default:
		return fmt.Sprintf("after %s: never reached %s", r.Steps[i].Route, r.Steps[i+1].Route)
	}
}

// stepOf is a route's place in a journey.
type stepOf struct {
	j    *Journey
	step int
}

// Engine follows records through the configured journeys. Its methods are safe for concurrent use.
type Engine struct {
	cfg     Config
	st      Store
	now     func() time.Time
	log     zerolog.Logger
	byRoute map[string][]stepOf

	q *observe.Queue

	mu       sync.Mutex
	inflight map[string]*Record // store.JourneyKey(journey, key) -> record
	dirty    map[string]bool    // keys to save (or delete, when no longer in flight)
	// mark is the start time of the latest call handled, saved with the records; Start
	// catches up from the log behind it.
	mark      time.Time
	markDirty bool
	// caught holds the calls Start caught up with from the log, so that the same calls
	// arriving through Observe are not counted twice; dropped after CatchUp.
	caught      map[string]bool
	caughtUntil time.Time

	// saveMu keeps the writes of save and Forget in the order of the states they write, as
	// they may run on the queue's goroutine and a feed's (Take) at once.
	saveMu sync.Mutex
}

// New returns an engine for cfg; Start loads its state and starts it.
func New(cfg Config) (*Engine, error) {
	e := &Engine{cfg: cfg, now: cfg.Now, log: cfg.Logger, byRoute: map[string][]stepOf{},
		inflight: map[string]*Record{}, dirty: map[string]bool{}}
	if e.now == nil {
		e.now = time.Now
	}
	if e.cfg.Buffer <= 0 {
		e.cfg.Buffer = DefaultBuffer
	}
	if e.cfg.Retention <= 0 {
		e.cfg.Retention = DefaultRetention
	}
	if e.cfg.CatchUp <= 0 {
		e.cfg.CatchUp = DefaultCatchUp
	}
	shortest := maxTick * 4
	for i := range e.cfg.Journeys {
		j := &e.cfg.Journeys[i]
		if len(j.Steps) < 2 || j.Within <= 0 || len(j.Paths) != len(j.Steps) || len(j.AllPaths) != len(j.Steps) {
			return nil, fmt.Errorf("journey %q: needs two steps or more, their key paths and within > 0", j.Name)
		}
		for s, r := range j.Steps {
			e.byRoute[r] = append(e.byRoute[r], stepOf{j: j, step: s})
		}
		shortest = min(shortest, j.Within)
	}
	if e.cfg.Tick <= 0 {
		e.cfg.Tick = min(max(shortest/4, minTick), maxTick)
	}
	e.q = observe.New(e.cfg.Buffer, observe.Handler{Take: e.take, Tick: e.Tick, Every: e.cfg.Tick, Stop: e.save})
	return e, nil
}

// Start loads the records in flight from st, catches up from the log with the calls recorded
// since the last one it handled (a crash leaves a few unhandled), and starts following calls.
func (e *Engine) Start(st Store) error {
	if err := e.Load(st); err != nil {
		return err
	}
	if !e.mark.IsZero() && !e.cfg.NoCatchUp {
		if err := e.catchUp(context.Background(), e.mark.Add(-e.cfg.CatchUp)); err != nil {
			e.log.Error().Err(err).Msg("journeys: could not catch up with the log; calls recorded while mtguard stopped may be missing from journeys")
		}
	}
	e.save()
	e.q.Start()
	return nil
}

// Load reads the records in flight from st without starting the engine: an engine that was
// only loaded answers Lookup, Stuck and InTransit from what st holds (an instance that does
// not run journeys itself shows the state of the one that does).
func (e *Engine) Load(st Store) error {
	e.st = st
	e.mu.Lock()
	defer e.mu.Unlock()
	err := st.LoadJourneys(func(key string, v []byte) error {
		if key == markKey {
			if t, err := time.Parse(time.RFC3339Nano, string(v)); err == nil {
				e.mark = t
			}
			return nil
		}
		var r Record
		if err := json.Unmarshal(v, &r); err != nil {
			e.log.Error().Err(err).Str("key", key).Msg("journeys: a stored record in flight cannot be read; it is dropped")
			e.dirty[key] = true
			return nil
		}
		e.inflight[key] = &r
		return nil
	})
	if err != nil {
		return fmt.Errorf("journeys: load records in flight: %w", err)
	}
	return nil
}

// catchUp rebuilds, from the log, the journey of every record a call on a step carried since
// since: those calls may never have been handled (they were committed as the process died).
// Rebuilding from the log is idempotent, so a call handled already counts once.
func (e *Engine) catchUp(ctx context.Context, since time.Time) error {
	type jk struct {
		j   *Journey
		key string
	}
	todo := map[jk]bool{}
	seen := map[string]bool{}
	n := 0
	for route, sos := range e.byRoute {
		q := store.Query{Route: route, Since: since, Ascending: true, Limit: 1000}
		for n < maxCatchUp {
			p, err := e.st.Query(ctx, q)
			if err != nil {
				return err
			}
			for i := range p.Transactions {
				tx := &p.Transactions[i]
				if tx.Kind == txn.KindProbe || tx.Outcome == txn.OutcomePending {
					continue
				}
				n++
				seen[tx.ID] = true
				var body *schemas.Body
				for _, so := range sos {
					for _, k := range keysOf(so, tx, &body) {
						todo[jk{so.j, k}] = true
					}
				}
				if tx.Time.After(e.mark) {
					e.mark, e.markDirty = tx.Time, true
				}
			}
			if p.Next == "" {
				break
			}
			q.Cursor = p.Next
		}
	}
	for t := range todo {
		calls, err := e.callsOf(ctx, t.key)
		if err != nil {
			return err
		}
		id := store.JourneyKey(t.j.Name, t.key)
		old := e.inflight[id]
		r := replayJourney(t.j, t.key, calls, time.Time{})
		if r == nil || r.State == StateArrived || r.State == StateWaiting {
			if old != nil {
				delete(e.inflight, id)
				e.dirty[id] = true
			}
			continue
		}
		if old != nil && old.State == StateLost && old.Entered.Equal(r.Entered) {
			r.State, r.LostAt = StateLost, old.LostAt
		}
		e.inflight[id] = r
		e.dirty[id] = true
	}
	e.caught, e.caughtUntil = seen, e.now().Add(e.cfg.CatchUp)
	return nil
}

// keysOf returns the journey's key values tx carries on step so: the call's record keys when
// the step's paths are all the route's, else read from the stored body (parsed once, in body).
func keysOf(so stepOf, tx *txn.Transaction, body **schemas.Body) []string {
	if so.j.AllPaths[so.step] {
		return tx.RecordKeys
	}
	if *body == nil {
		b := schemas.ParseBody(tx.Request.ContentType, []byte(tx.Request.Body))
		*body = &b
	}
	return schemas.RecordKeys(so.j.Paths[so.step], **body)
}

// Observe takes one committed call; it is fed from the store's result callback. It never
// blocks: when the engine is behind by Buffer calls, the call is dropped and counted.
func (e *Engine) Observe(tx txn.Transaction) {
	if len(e.byRoute[tx.Route]) == 0 || tx.Kind == txn.KindProbe {
		return
	}
	e.q.Offer(tx)
}

// Take handles committed calls at once, on the caller's goroutine, and saves: for a feed that
// waits for the engine rather than drop calls (Observe's queue is not used then).
func (e *Engine) Take(txs []txn.Transaction) {
	txs = slices.DeleteFunc(slices.Clone(txs), func(tx txn.Transaction) bool {
		return len(e.byRoute[tx.Route]) == 0 || tx.Kind == txn.KindProbe
	})
	e.take(txs)
}

// Keys lists the record keys the engine holds in memory, on any journey.
func (e *Engine) Keys() []string {
	e.mu.Lock()
	defer e.mu.Unlock()
	var out []string
	for _, r := range e.inflight {
		if !slices.Contains(out, r.Key) {
			out = append(out, r.Key)
		}
	}
	sort.Strings(out)
	return out
}

// Dropped counts the calls the engine could not keep up with.
func (e *Engine) Dropped() int64 { return e.q.Dropped() }

// Close stops the engine after taking the calls already queued, and saves its state.
func (e *Engine) Close() { e.q.Close() }

// take handles a batch of calls, then saves once: a burst costs one write.
func (e *Engine) take(txs []txn.Transaction) {
	for i := range txs {
		e.mu.Lock()
		e.handle(&txs[i])
		e.mu.Unlock()
	}
	e.save()
}

// Settle brings the engine up to date for a read: every call the store recorded before it is
// handled, as log shows every call already answered.
func (e *Engine) Settle(ctx context.Context) error {
	if !e.q.Running() {
		return nil // nothing to wait for: Start never ran, or Close drained the queue
	}
	if err := e.st.Applied(ctx); err != nil {
		return fmt.Errorf("journeys: %w", err)
	}
	e.Flush()
	return nil
}

// Flush waits until every call observed before it is handled and saved (after Start).
func (e *Engine) Flush() { e.q.Flush() }

// handle moves the records tx carries along their journeys; mu is held.
func (e *Engine) handle(tx *txn.Transaction) {
	if e.caught[tx.ID] {
		delete(e.caught, tx.ID) // Start caught up with it from the log already
		return
	}
	if tx.Time.After(e.mark) {
		e.mark, e.markDirty = tx.Time, true
	}
	end := tx.Time.Add(time.Duration(tx.DurationMS * float64(time.Millisecond)))
	var body *schemas.Body
	for _, so := range e.byRoute[tx.Route] {
		for _, k := range keysOf(so, tx, &body) {
			e.move(so, k, tx, end)
		}
	}
}

func (e *Engine) move(so stepOf, key string, tx *txn.Transaction, end time.Time) {
	id := store.JourneyKey(so.j.Name, key)
	r := e.inflight[id]
	if r == nil {
		// A record seen on a later step first (its first step's call, which handed it on,
		// may end after the next step's) is kept until within has passed, waiting to enter.
		r = &Record{Journey: so.j.Name, Key: key, State: StateWaiting, Due: tx.Time.Add(so.j.Within),
			Steps: make([]Step, len(so.j.Steps))}
		for i, s := range so.j.Steps {
			r.Steps[i].Route = s
		}
		e.inflight[id] = r
	}
	if so.step == 0 && r.State == StateWaiting {
		r.State, r.Entered, r.Due = StateInTransit, tx.Time, tx.Time.Add(so.j.Within)
	}
	st := &r.Steps[so.step]
	if !st.Time.After(end) {
		st.Reached, st.Time, st.Outcome, st.Call = true, end, tx.Outcome, tx.ID
		st.Delivered = delivered(tx, key)
	}
	st.Calls++
	if r.State != StateWaiting && r.Steps[len(r.Steps)-1].Delivered {
		r.State = StateArrived
		delete(e.inflight, id)
	}
	e.dirty[id] = true
}

// delivered reports whether tx delivered the record key: a delivered call, or a partial one
// whose per-record results do not say it failed.
func delivered(tx *txn.Transaction, key string) bool {
	switch tx.Outcome {
	case txn.OutcomeDelivered:
		return true
	case txn.OutcomePartial:
		return !slices.ContainsFunc(tx.Records, func(r txn.RecordResult) bool {
			return !r.OK && schemas.NormaliseKey(r.Key) == key
		})
	}
	return false
}

// Tick declares lost the records whose time is up, marks the last call that carried each, and
// tells OnLost, one report per journey; it also forgets lost records older than Retention.
func (e *Engine) Tick() {
	now := e.now()
	// A call that delivered a record in time may still be on its way from the store: take
	// every call recorded so far before judging any record late.
	if e.st != nil {
		if err := e.st.Applied(context.Background()); err != nil {
			e.log.Error().Err(err).Msg("journeys: cannot bring the calls up to date; records are judged on what has arrived")
		}
	}
	e.q.Drain()
	e.mu.Lock()
	if e.caught != nil && now.After(e.caughtUntil) {
		e.caught = nil
	}
	lost := map[string]*Lost{}
	var marks []store.FindingOn
	for id, r := range e.inflight {
		switch {
		case r.State == StateLost && now.Sub(r.LostAt) > e.cfg.Retention,
			r.State == StateWaiting && !now.Before(r.Due):
			delete(e.inflight, id)
			e.dirty[id] = true
		case r.State == StateInTransit && !now.Before(r.Due):
			r.State, r.LostAt = StateLost, now
			e.dirty[id] = true
			j := e.journey(r.Journey)
			l := lost[r.Journey]
			if l == nil {
				l = &Lost{Journey: r.Journey, Owner: j.Owner, Since: r.Entered}
				lost[r.Journey] = l
			}
			l.Keys = append(l.Keys, r.Key)
			l.Stops = append(l.Stops, r.stop())
			if r.Entered.Before(l.Since) {
				l.Since = r.Entered
			}
			if i := r.last(); i >= 0 {
				marks = append(marks, store.FindingOn{Call: r.Steps[i].Call, Finding: lostFinding(r, j)})
			}
		}
	}
	e.mu.Unlock()
	e.save()
	if err := e.st.AddFindings(marks...); err != nil {
		e.log.Error().Err(err).Int("calls", len(marks)).Msg("journeys: could not add journey.lost_in_transit to the last calls of the lost records")
	}
	names := make([]string, 0, len(lost))
	for n := range lost {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		l := lost[n]
		sortLost(l)
		e.log.Warn().Str("journey", n).Strs("records", l.Keys).Msg("records lost in transit")
		if e.cfg.OnLost != nil {
			e.cfg.OnLost(*l)
		}
	}
}

func sortLost(l *Lost) {
	idx := make([]int, len(l.Keys))
	for i := range idx {
		idx[i] = i
	}
	sort.Slice(idx, func(a, b int) bool { return l.Keys[idx[a]] < l.Keys[idx[b]] })
	keys, stops := make([]string, len(idx)), make([]string, len(idx))
	for i, j := range idx {
		keys[i], stops[i] = l.Keys[j], l.Stops[j]
	}
	l.Keys, l.Stops = keys, stops
}

func (e *Engine) journey(name string) *Journey {
	for i := range e.cfg.Journeys {
		if e.cfg.Journeys[i].Name == name {
			return &e.cfg.Journeys[i]
		}
	}
	return &Journey{Name: name}
}

// lostFinding is the finding put on the last call that carried a lost record.
func lostFinding(r *Record, j *Journey) txn.Finding {
	msg := fmt.Sprintf("Record %s entered journey %s at %s and did not reach %s within %s: it stopped %s.",
		r.Key, r.Journey, r.Entered.UTC().Format(time.RFC3339), j.Steps[len(j.Steps)-1], j.Within, r.stop())
	return txn.NewFinding(txn.CodeJourneyLostInTransit, msg, r.Journey+"/"+r.Key)
}

// save writes the changed records: those in flight are put, the others deleted.
func (e *Engine) save() {
	e.saveMu.Lock()
	defer e.saveMu.Unlock()
	e.mu.Lock()
	if len(e.dirty) == 0 && !e.markDirty {
		e.mu.Unlock()
		return
	}
	put := map[string][]byte{}
	if e.markDirty {
		put[markKey] = []byte(e.mark.UTC().Format(time.RFC3339Nano))
		e.markDirty = false
	}
	var del []string
	for id := range e.dirty {
		r := e.inflight[id]
		if r == nil {
			del = append(del, id)
			continue
		}
		if r.State == StateWaiting {
			continue // kept in memory only: it waits for a call already on its way
		}
		b, err := json.Marshal(r)
		if err != nil {
			continue
		}
		put[id] = b
	}
	e.dirty = map[string]bool{}
	e.mu.Unlock()
	if err := e.st.SaveJourneys(put, del); err != nil {
		e.log.Error().Err(err).Int("records", len(put)+len(del)).Msg("journeys: could not save the records in flight; they are kept in memory and saved with the next change")
		e.mu.Lock()
		for id := range put {
			if id == markKey {
				e.markDirty = true
				continue
			}
			e.dirty[id] = true
		}
		for _, id := range del {
			e.dirty[id] = true
		}
		e.mu.Unlock()
	}
}

// Stuck returns the records lost in transit, of one journey or all (journey ""), oldest
// entry first.
func (e *Engine) Stuck(journey string) []Record {
	e.mu.Lock()
	defer e.mu.Unlock()
	out := []Record{}
	for _, r := range e.inflight {
		if r.State == StateLost && (journey == "" || r.Journey == journey) {
			out = append(out, e.view(r))
		}
	}
	sortRecords(out)
	return out
}

// InTransit returns the records in flight and not yet due, of one journey or all.
func (e *Engine) InTransit(journey string) []Record {
	e.mu.Lock()
	defer e.mu.Unlock()
	out := []Record{}
	for _, r := range e.inflight {
		if r.State == StateInTransit && (journey == "" || r.Journey == journey) {
			out = append(out, e.view(r))
		}
	}
	sortRecords(out)
	return out
}

func sortRecords(rs []Record) {
	sort.Slice(rs, func(i, j int) bool {
		if !rs[i].Entered.Equal(rs[j].Entered) {
			return rs[i].Entered.Before(rs[j].Entered)
		}
		return rs[i].Journey+"\x00"+rs[i].Key < rs[j].Journey+"\x00"+rs[j].Key
	})
}

// view is a copy of r with Stopped filled in.
func (e *Engine) view(r *Record) Record {
	c := *r
	c.Steps = slices.Clone(r.Steps)
	c.Stopped = r.stop()
	return c
}

// Names lists the configured journeys.
func (e *Engine) Names() []string {
	var out []string
	for _, j := range e.cfg.Journeys {
		out = append(out, j.Name)
	}
	return out
}

// ErrUnknownJourney is returned for a journey name that is not configured.
var ErrUnknownJourney = errors.New("no such journey")

// Known reports an error wrapping ErrUnknownJourney unless name is "" or configured.
func (e *Engine) Known(name string) error {
	if name == "" || slices.Contains(e.Names(), name) {
		return nil
	}
	return fmt.Errorf("%w: %q (configured: %s)", ErrUnknownJourney, name, strings.Join(e.Names(), ", "))
}

// Lookup returns key's progress on every journey it entered: the record in flight (or lost)
// when there is one, else what the log holds (through the record-key index), so an arrived
// record shows its steps too. Keys are normalised as log --record does.
func (e *Engine) Lookup(ctx context.Context, key string) ([]Record, error) {
	key = schemas.NormaliseKey(key)
	out := []Record{}
	var fromLog []*Journey
	e.mu.Lock()
	for i := range e.cfg.Journeys {
		j := &e.cfg.Journeys[i]
		if r := e.inflight[store.JourneyKey(j.Name, key)]; r != nil && r.State != StateWaiting {
			out = append(out, e.view(r))
		} else {
			fromLog = append(fromLog, j)
		}
	}
	e.mu.Unlock()
	if len(fromLog) == 0 {
		return out, nil
	}
	calls, err := e.callsOf(ctx, key)
	if err != nil {
		return nil, err
	}
	for _, j := range fromLog {
		if r := replayJourney(j, key, calls, e.now()); r != nil {
			out = append(out, e.view(r))
		}
	}
	sortRecords(out)
	return out, nil
}

// lookupLimit bounds the calls of one record read back from the log.
const lookupLimit = 1000

// callsOf returns the record's calls, oldest first (at most lookupLimit).
func (e *Engine) callsOf(ctx context.Context, key string) ([]txn.Transaction, error) {
	var out []txn.Transaction
	q := store.Query{RecordKey: key, Ascending: true, Limit: 1000}
	for len(out) < lookupLimit {
		p, err := e.st.Query(ctx, q)
		if err != nil {
			return nil, fmt.Errorf("journeys: read the calls of %s: %w", key, err)
		}
		out = append(out, p.Transactions...)
		if p.Next == "" {
			break
		}
		q.Cursor = p.Next
	}
	return out, nil
}

// replayJourney rebuilds key's latest journey on j from its calls, oldest first: nil when it
// never entered. A record whose time was up at now without arriving is shown lost.
func replayJourney(j *Journey, key string, calls []txn.Transaction, now time.Time) *Record {
	e := &Engine{inflight: map[string]*Record{}, dirty: map[string]bool{}, byRoute: map[string][]stepOf{}}
	for s, r := range j.Steps {
		e.byRoute[r] = append(e.byRoute[r], stepOf{j: j, step: s})
	}
	id := store.JourneyKey(j.Name, key)
	var latest *Record
	for i := range calls {
		tx := &calls[i]
		end := tx.Time.Add(time.Duration(tx.DurationMS * float64(time.Millisecond)))
		for _, so := range e.byRoute[tx.Route] {
			e.move(so, key, tx, end)
			if r := e.inflight[id]; r != nil {
				latest = r
			}
		}
	}
	if latest != nil && latest.State == StateWaiting {
		return nil
	}
	if latest != nil && latest.State == StateInTransit && !now.Before(latest.Due) {
		latest.State = StateLost
	}
	return latest
}

// Forget drops key from every journey, in memory and in the store (the right to erasure):
// the store's Forget then compacts the file, so its bytes are gone.
func (e *Engine) Forget(key string) error {
	key = schemas.NormaliseKey(key)
	e.mu.Lock()
	var del []string
	for i := range e.cfg.Journeys {
		id := store.JourneyKey(e.cfg.Journeys[i].Name, key)
		if e.inflight[id] != nil {
			delete(e.inflight, id)
			delete(e.dirty, id)
		}
		del = append(del, id)
	}
	e.mu.Unlock()
	if e.st == nil {
		return nil
	}
	e.saveMu.Lock()
	defer e.saveMu.Unlock()
	return e.st.SaveJourneys(nil, del)
}
