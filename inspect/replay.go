package inspect

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"slices"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/mtguard/mtguard/store"
	"github.com/mtguard/mtguard/txn"
)

// Replayer resends a stored call through the proxy's pipeline and returns the new
// transaction's id. main satisfies it with the proxy; inspect never imports proxy.
type Replayer interface {
	Replay(ctx context.Context, tx txn.Transaction, onlyFailedRecords bool) (string, error)
}

// Reservations hold a replay chain for one replay at a time; *store.Store satisfies it.
type Reservations interface {
	// Reserve holds, for owner and at most ttl, the chains whose originals are roots and that
	// no other replay holds; it returns the reservations made and, by root, the other holds.
	Reserve(roots []string, owner string, ttl time.Duration) (mine []store.Reservation, others map[string]store.Reservation, err error)
	// Release ends reservations that Reserve made.
	Release(rs ...store.Reservation) error
}

var _ Reservations = (*store.Store)(nil)

// Eraser erases every transaction of a record key; *store.Store satisfies it.
type Eraser interface {
	Forget(ctx context.Context, key string) (store.ForgetReport, error)
}

// ReplayRequest asks for a bulk replay of the calls matching a filter.
type ReplayRequest struct {
	Record  string `json:"record,omitempty"`
	Route   string `json:"route,omitempty"`
	Outcome string `json:"outcome,omitempty"`
	Finding string `json:"finding,omitempty"`
	Status  int    `json:"status,omitempty"`
	Since   string `json:"since,omitempty"` // a duration back from now (6h) or an RFC 3339 time
	Until   string `json:"until,omitempty"`
	// Limit caps how many chains are resent (chains already delivered or in flight do not
	// count). Zero means no limit: every match is resent.
	Limit  int  `json:"limit,omitempty"`
	DryRun bool `json:"dry_run,omitempty"`
	// Force resends calls that were already delivered.
	Force bool `json:"force,omitempty"`
	// IncludeInterrupted resends interrupted calls too: the vendor may have acted on them, so a
	// resend may duplicate a lead. Without it they are skipped.
	IncludeInterrupted bool `json:"include_interrupted,omitempty"`
}

// ReplayItem is what happened to one call of a replay.
type ReplayItem struct {
	Original string `json:"original"`          // the call the user selected (the root of its chain)
	Resent   string `json:"resent,omitempty"`  // the attempt whose payload was resent
	Replay   string `json:"replay,omitempty"`  // the new transaction
	Outcome  string `json:"outcome,omitempty"` // the new transaction's outcome
	Records  int    `json:"records"`           // records resent
	Skipped  string `json:"skipped,omitempty"` // why it was not resent
}

// ReplayJob is a bulk replay and its progress.
type ReplayJob struct {
	ID      string        `json:"id"`
	State   string        `json:"state"` // running, done
	DryRun  bool          `json:"dry_run"`
	Request ReplayRequest `json:"request"`
	// Actor is the name of the admin token that started the job.
	Actor string `json:"actor,omitempty"`
	// Matched is how many chains the filter matched (calls of one replay chain count once).
	Matched int `json:"matched"`
	// Total is how many of them the job handles: those to resend, up to the limit, and those
	// skipped at once (already delivered, in flight).
	Total int `json:"total"`
	Done  int `json:"done"` // chains handled so far
	// Limit is the request's limit (0: none); More is how many chains that need resending
	// were left out because the limit was reached: the next run resends them.
	Limit       int            `json:"limit,omitempty"`
	More        int            `json:"more,omitempty"`
	Resent      int            `json:"resent"`
	Delivered   int            `json:"delivered"`
	FailedAgain int            `json:"failed_again"`
	Skipped     int            `json:"skipped"`
	Records     int            `json:"records"`
	SkipReasons map[string]int `json:"skip_reasons"`
	Items       []ReplayItem   `json:"items"`
	Error       string         `json:"error,omitempty"`
	Started     time.Time      `json:"started"`
	Finished    *time.Time     `json:"finished,omitempty"`
}

// Skip reasons, counted in ReplayJob.SkipReasons.
const (
	skipDelivered = "already delivered (use force to resend)"
	skipInFlight  = "still in flight"
	skipReserved  = "being resent by another replay"
	// skipInterrupted: the vendor may have acted on the call (finding outcome.unknown).
	skipInterrupted = "interrupted: the vendor may have acted, check there first (use include_interrupted to resend)"
)

// DefaultReplayHold is how long a replay may hold a chain when ServerConfig.ReplayHold is zero.
const DefaultReplayHold = 10 * time.Minute

// replays runs and remembers replay jobs.
type replays struct {
	txs      Transactions
	replayer Replayer
	now      func() time.Time
	holds    Reservations
	hold     time.Duration // the longest a replay holds a chain (see ServerConfig.ReplayHold)

	// started is when this server began; a job id from before it belongs to an earlier run.
	started time.Time

	mu   sync.Mutex
	jobs map[string]*ReplayJob
	ids  []string // oldest first, for forgetting old jobs
	// lastMS and lastSuffix are those of the last id issued, so ids only grow.
	lastMS     int64
	lastSuffix uint32
}

const (
	// maxJobs is how many finished jobs are remembered.
	maxJobs = 100
	// maxChain bounds how many replays of replays are followed.
	maxChain = 100
)

func newReplays(txs Transactions, r Replayer, holds Reservations, hold time.Duration, now func() time.Time) *replays {
	if holds == nil {
		holds = &memHolds{held: map[string]store.Reservation{}, now: now}
	}
	if hold <= 0 {
		hold = DefaultReplayHold
	}
	return &replays{txs: txs, replayer: r, holds: holds, hold: hold, now: now, started: now(), jobs: map[string]*ReplayJob{}}
}

// Job ids are "r", the start time in milliseconds since the epoch as 10 characters of
// Crockford's base32, and 4 characters (20 bits) that start at a random value each
// millisecond and count up within one: "r01JPA8X3ZQ7K2M". They sort by time and do not repeat
// after a restart without anything being stored, so an id from an earlier run is never
// mistaken for a job of this one (jobs live in memory).
const (
	crockford   = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"
	jobIDLen    = 1 + 10 + 4
	jobIDSuffix = 1 << 20
)

// newJobID issues the next job id at t; rp.mu must be held.
func (rp *replays) newJobID(t time.Time) string {
	ms := t.UnixMilli()
	var suffix uint32
	switch {
	case ms <= rp.lastMS && rp.lastSuffix+1 < jobIDSuffix:
		ms, suffix = rp.lastMS, rp.lastSuffix+1
	case ms <= rp.lastMS:
		ms, suffix = rp.lastMS+1, rand.Uint32N(jobIDSuffix/2)
	default:
		suffix = rand.Uint32N(jobIDSuffix / 2) // headroom to count up within the millisecond
	}
	rp.lastMS, rp.lastSuffix = ms, suffix
	var b [jobIDLen]byte
	b[0] = 'r'
	for i, v := 10, uint64(ms); i >= 1; i, v = i-1, v>>5 {
		b[i] = crockford[v&31]
	}
	for i, v := jobIDLen-1, suffix; i >= 11; i, v = i-1, v>>5 {
		b[i] = crockford[v&31]
	}
	return string(b[:])
}

// jobIDTime returns the time a job id was issued at, if id has the shape newJobID gives.
func jobIDTime(id string) (time.Time, bool) {
	if len(id) != jobIDLen || id[0] != 'r' {
		return time.Time{}, false
	}
	var ms int64
	for i := 1; i < jobIDLen; i++ {
		d := strings.IndexByte(crockford, id[i])
		if d < 0 {
			return time.Time{}, false
		}
		if i <= 10 {
			ms = ms<<5 | int64(d)
		}
	}
	return time.UnixMilli(ms), true
}

// unknownJob explains why id names no job of this server: it ran before the server last
// started, or it is older than the jobs remembered, or it was never issued.
func (rp *replays) unknownJob(id string) error {
	at, ok := jobIDTime(id)
	rp.mu.Lock()
	oldest := ""
	if len(rp.ids) > 0 {
		oldest = rp.ids[0]
	}
	rp.mu.Unlock()
	switch {
	case ok && at.Before(rp.started):
		return problemf(errNoRoute, "no replay job %s: it was started at %s, before this server started (%s), and jobs are kept in memory only; "+
			"the calls it resent are in the log: mtguard log --since %s",
			id, at.UTC().Format(time.RFC3339), rp.started.UTC().Format(time.RFC3339), at.UTC().Format(time.RFC3339))
	case ok && len(rp.ids) >= maxJobs && id < oldest:
		return problemf(errNoRoute, "no replay job %s: only the last %d jobs are kept and it is older; the calls it resent are in the log: mtguard log --since %s",
			id, maxJobs, at.UTC().Format(time.RFC3339))
	}
	return problemf(errNoRoute, "no replay job %s on this server (jobs are kept in memory, so a job started before the server last started, at %s, is gone)",
		id, rp.started.UTC().Format(time.RFC3339))
}

// plan decides what replaying tx means: the root of its chain, the attempt whose payload to
// resend (the latest), whether only failed records go, and why not, when it should not.
func (rp *replays) plan(ctx context.Context, tx txn.Transaction, force bool) (item ReplayItem, target txn.Transaction, onlyFailed bool, err error) {
	root := tx
	for root.ReplayOf != "" {
		parent, err := rp.txs.Get(ctx, root.ReplayOf)
		if errors.Is(err, store.ErrNotFound) {
			break // the original was deleted by retention: this attempt is the oldest we have
		}
		if err != nil {
			return item, target, false, err
		}
		root = parent
	}
	item.Original = root.ID
	// Walk down the chain to the latest attempt; any delivered attempt counts.
	target = root
	delivered := root.Outcome == txn.OutcomeDelivered
	for range maxChain {
		var next *txn.Transaction
		for _, id := range target.ReplayedBy {
			re, err := rp.txs.Get(ctx, id)
			if errors.Is(err, store.ErrNotFound) {
				continue
			}
			if err != nil {
				return item, target, false, err
			}
			delivered = delivered || re.Outcome == txn.OutcomeDelivered
			next = &re
		}
		if next == nil {
			break
		}
		target = *next
	}
	item.Resent = target.ID
	onlyFailed = target.Outcome == txn.OutcomePartial && slices.ContainsFunc(target.Records, func(r txn.RecordResult) bool { return !r.OK })
	item.Records = max(1, len(target.RecordKeys))
	if onlyFailed {
		item.Records = 0
		for _, r := range target.Records {
			if !r.OK {
				item.Records++
			}
		}
	}
	switch {
	case target.Outcome == txn.OutcomePending:
		item.Skipped = skipInFlight
	case delivered && !force:
		item.Skipped = skipDelivered
	}
	return item, target, onlyFailed, nil
}

// one replays a single call now. When another replay holds its chain, it sends nothing and
// returns an error that answers 409.
func (rp *replays) one(ctx context.Context, id string, force bool, body *string) (ReplayItem, error) {
	tx, err := rp.txs.Get(ctx, id)
	if err != nil {
		return ReplayItem{}, err
	}
	item, _, _, err := rp.plan(ctx, tx, force)
	if err != nil || item.Skipped != "" {
		return item, err
	}
	mine, others, err := rp.holds.Reserve([]string{item.Original}, "a single replay of "+id, rp.hold)
	if err != nil {
		return item, err
	}
	if len(mine) == 0 {
		held := others[item.Original]
		return item, problemf(errReplayBusy, "call %s is being resent already: its chain (original %s) is held by %s since %s; "+
			"once that ends, mtguard show %s tells whether it was delivered, and a replay is needed only if not",
			id, item.Original, held.Owner, held.Since.UTC().Format(time.RFC3339), item.Original)
	}
	// Released even when the caller went away: the attempt is recorded by then, or never made.
	defer rp.holds.Release(mine...)
	if body != nil {
		return rp.resendEdited(ctx, item.Original, force, *body)
	}
	return rp.resend(ctx, item.Original, force)
}

// resendEdited is resend with a corrected body: the latest attempt of the chain is resent with
// body in place of its own, all of it (a batch's failed records are the person's to pick).
func (rp *replays) resendEdited(ctx context.Context, root string, force bool, body string) (ReplayItem, error) {
	tx, err := rp.txs.Get(ctx, root)
	if err != nil {
		return ReplayItem{Original: root}, err
	}
	item, target, _, err := rp.plan(ctx, tx, force)
	if err != nil || item.Skipped != "" {
		return item, err
	}
	orig := target.Request.Body
	target.Request.Body, target.Request.BodyEncoding, target.Request.Truncated = body, "", false
	target.Request.Size = int64(len(body))
	return rp.send(txn.WithEdit(ctx, orig), item, target, false)
}

// resend sends the chain whose original is root, which the caller holds: it plans the chain
// again (a replay that held it before may have delivered it) and sends its latest attempt.
// It returns once the new attempt is recorded; errors of the replayer answer 409.
func (rp *replays) resend(ctx context.Context, root string, force bool) (ReplayItem, error) {
	tx, err := rp.txs.Get(ctx, root)
	if err != nil {
		return ReplayItem{Original: root}, err
	}
	item, target, onlyFailed, err := rp.plan(ctx, tx, force)
	if err != nil || item.Skipped != "" {
		return item, err
	}
	return rp.send(ctx, item, target, onlyFailed)
}

func (rp *replays) send(ctx context.Context, item ReplayItem, target txn.Transaction, onlyFailed bool) (ReplayItem, error) {
	if strings.Contains(target.Request.Body, store.Erased) || strings.Contains(target.Path, store.Erased) {
		// A batch kept by forget for the other records it carried: resending it would send
		// the placeholder to the vendor in place of the erased person.
		return item, problemf(errNotReplayable, "call %s: a record it carried was erased (mtguard forget) and its values replaced by %s; resend the other records from the source", target.ID, store.Erased)
	}
	newID, err := rp.replayer.Replay(ctx, target, onlyFailed)
	if err != nil {
		return item, problemf(errNotReplayable, "%v", err)
	}
	item.Replay = newID
	if re, err := rp.txs.Get(ctx, newID); err == nil {
		item.Outcome = string(re.Outcome)
	}
	return item, nil
}

// start selects the calls of req and replays them in the background (or only counts them,
// for a dry run). The job is returned at once; get reports its progress.
func (rp *replays) start(req ReplayRequest, q store.Query, actor string) *ReplayJob {
	rp.mu.Lock()
	job := &ReplayJob{
		ID: rp.newJobID(rp.now()), State: "running", DryRun: req.DryRun, Request: req,
		SkipReasons: map[string]int{}, Items: []ReplayItem{}, Started: rp.now(), Actor: actor,
	}
	rp.jobs[job.ID] = job
	rp.ids = append(rp.ids, job.ID)
	for len(rp.ids) > maxJobs {
		delete(rp.jobs, rp.ids[0])
		rp.ids = rp.ids[1:]
	}
	rp.mu.Unlock()
	go rp.run(txn.WithActor(context.Background(), actor), job, req, q)
	return rp.snapshot(job)
}

// run works through a job. Its context is not the request's: the job outlives the request
// that started it; it carries only the actor, whom the resent calls record.
func (rp *replays) run(ctx context.Context, job *ReplayJob, req ReplayRequest, q store.Query) {
	// Select first, oldest first, one entry per chain, so that the total is known for the
	// progress bar and a chain is never resent twice in one job. Every page of matches is
	// read; chains that need no resend are skipped at once and do not count against the
	// limit; those beyond it are only counted.
	var plans []ReplayItem
	seen := map[string]bool{}
	toSend, more := 0, 0
	q.Ascending = true
	err := func() error {
		for {
			page, err := rp.txs.Query(ctx, q)
			if err != nil {
				return err
			}
			for _, tx := range page.Transactions {
				item, target, _, err := rp.plan(ctx, tx, req.Force)
				if err != nil {
					return err
				}
				if item.Skipped == "" && target.Outcome == txn.OutcomeInterrupted && !req.IncludeInterrupted {
					item.Skipped = skipInterrupted
				}
				if seen[item.Original] {
					continue
				}
				seen[item.Original] = true
				switch {
				case item.Skipped != "":
					plans = append(plans, item)
				case req.Limit > 0 && toSend >= req.Limit:
					more++
				default:
					toSend++
					plans = append(plans, item)
				}
			}
			if page.Next == "" {
				return nil
			}
			q.Cursor = page.Next
		}
	}()
	rp.update(job, func(j *ReplayJob) {
		j.Matched = len(seen)
		j.Total = len(plans)
		j.Limit = req.Limit
		j.More = more
		if err != nil {
			j.Error = err.Error()
		}
	})
	// The chains are held a window at a time (one store write reserves a window, one releases
	// it), and each is planned again under its hold before it is sent. A window's hold lasts
	// as long as its calls may take, one after the other.
	owner := "replay job " + job.ID
	for len(plans) > 0 {
		window := plans[:min(holdWindow, len(plans))]
		plans = plans[len(window):]
		var roots []string
		for _, item := range window {
			if item.Skipped == "" && !req.DryRun {
				roots = append(roots, item.Original)
			}
		}
		var mine []store.Reservation
		var others map[string]store.Reservation
		var holdErr error
		if len(roots) > 0 {
			mine, others, holdErr = rp.holds.Reserve(roots, owner, rp.hold*time.Duration(len(roots)))
		}
		for _, item := range window {
			if item.Skipped == "" && !req.DryRun {
				var err error
				switch _, held := others[item.Original]; {
				case holdErr != nil:
					item.Skipped = holdErr.Error()
				case held:
					item.Skipped = skipReserved
				default:
					if item, err = rp.resend(ctx, item.Original, req.Force); err != nil {
						item.Skipped = err.Error()
					}
				}
			}
			rp.record(job, item, req.DryRun)
		}
		// A release that fails leaves the chains held until their hold expires or mtguard
		// restarts; nothing is sent twice meanwhile.
		rp.holds.Release(mine...)
	}
	rp.update(job, func(j *ReplayJob) {
		j.State = "done"
		t := rp.now()
		j.Finished = &t
	})
}

// holdWindow is how many chains a bulk replay reserves at once.
const holdWindow = 32

// record counts what happened to one chain of a job.
func (rp *replays) record(job *ReplayJob, item ReplayItem, dryRun bool) {
	rp.update(job, func(j *ReplayJob) {
		j.Done++
		j.Items = append(j.Items, item)
		switch {
		case item.Skipped != "":
			j.Skipped++
			j.SkipReasons[item.Skipped]++
		case dryRun:
			j.Records += item.Records
		default:
			j.Resent++
			j.Records += item.Records
			if item.Outcome == string(txn.OutcomeDelivered) {
				j.Delivered++
			} else {
				j.FailedAgain++
			}
		}
	})
}

func (rp *replays) update(job *ReplayJob, fn func(*ReplayJob)) {
	rp.mu.Lock()
	defer rp.mu.Unlock()
	fn(job)
}

// get returns a copy of job id's state.
func (rp *replays) get(id string) (*ReplayJob, bool) {
	rp.mu.Lock()
	job, ok := rp.jobs[id]
	rp.mu.Unlock()
	if !ok {
		return nil, false
	}
	return rp.snapshot(job), true
}

func (rp *replays) snapshot(job *ReplayJob) *ReplayJob {
	rp.mu.Lock()
	defer rp.mu.Unlock()
	c := *job
	c.Items = slices.Clone(job.Items)
	c.SkipReasons = make(map[string]int, len(job.SkipReasons))
	for k, v := range job.SkipReasons {
		c.SkipReasons[k] = v
	}
	return &c
}

// SkipSummary lists a job's skip reasons, most frequent first.
func (j *ReplayJob) SkipSummary() []string {
	var out []string
	for reason, n := range j.SkipReasons {
		out = append(out, fmt.Sprintf("%d %s", n, reason))
	}
	sort.Strings(out)
	return out
}

// LimitSummary states a job's limit when it left chains out: "limit 1000 reached: 501 more
// match; run again or raise --limit". It is empty when the limit did not cut anything.
func (j *ReplayJob) LimitSummary() string {
	if j.Limit <= 0 || j.More == 0 {
		return ""
	}
	return fmt.Sprintf("limit %d reached: %d more match; run again or raise --limit", j.Limit, j.More)
}

// memHolds keeps reservations in memory, for a server given no store to keep them in (tests):
// within one process it holds chains exactly as the store does.
type memHolds struct {
	mu   sync.Mutex
	held map[string]store.Reservation
	now  func() time.Time
	n    int
}

func (m *memHolds) Reserve(roots []string, owner string, ttl time.Duration) ([]store.Reservation, map[string]store.Reservation, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	now := m.now()
	var mine []store.Reservation
	others := map[string]store.Reservation{}
	for _, root := range roots {
		if r, ok := m.held[root]; ok && now.Before(r.Expires) {
			others[root] = r
			continue
		}
		m.n++
		r := store.Reservation{Root: root, Owner: owner, Token: fmt.Sprint(m.n), Since: now, Expires: now.Add(ttl)}
		m.held[root] = r
		mine = append(mine, r)
	}
	return mine, others, nil
}

func (m *memHolds) Release(rs ...store.Reservation) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	for _, r := range rs {
		if m.held[r.Root].Token == r.Token {
			delete(m.held, r.Root)
		}
	}
	return nil
}
