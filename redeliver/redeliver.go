package redeliver

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/rs/zerolog"

	"github.com/mtguard/mtguard/store"
	"github.com/mtguard/mtguard/txn"
)

// Queue is the durable delivery queue and the log it delivers from; *store.Store satisfies it.
type Queue interface {
	Enqueue(d store.Delivery) error
	Deliveries(ctx context.Context, f store.DeliveryFilter) ([]store.Delivery, error)
	GetDelivery(id string) (store.Delivery, error)
	UpdateDelivery(id string, fn func(*store.Delivery) error) (store.Delivery, error)
	Get(ctx context.Context, id string) (txn.Transaction, error)
	Query(ctx context.Context, q store.Query) (store.Page, error)
}

var _ Queue = (*store.Store)(nil)

// Sender resends a stored call through the pipeline and returns the new transaction's id;
// the proxy satisfies it (the same method replays use).
type Sender interface {
	Replay(ctx context.Context, tx txn.Transaction, onlyFailedRecords bool) (string, error)
}

// Retry conditions, as a route's delivery.retry.on names them.
const (
	CondUnreachable = "unreachable"
	CondTimeout     = "timeout"
	Cond429         = "429"
	Cond503         = "503"
	Cond5xx         = "5xx"
	CondRateLimit   = "ratelimit"
	CondQuota       = "quota"
	CondThrottled   = "throttled"
)

// Policy is one route's delivery policy.
type Policy struct {
	On          []string // retry conditions
	Attempts    int      // sends at most
	BackoffMin  time.Duration
	BackoffMax  time.Duration
	Jitter      bool
	GiveUpAfter time.Duration
	// IdempotencyHeader is set on every attempt to the call's id (the same on each attempt).
	IdempotencyHeader string
	// SafeToResend says whether tx may be sent again after a failure that leaves open whether
	// the vendor acted (a timeout, a 5xx), and why. Nil: never.
	SafeToResend func(tx txn.Transaction) (bool, string)
	// Owner is who is told of a dead letter.
	Owner string
	// Hold delays the first background attempt at a call picked up from the inline path
	// (Pickup), until the tool's own retries are over.
	Hold time.Duration
}

func (p Policy) retries(cond string) bool {
	if slices.Contains(p.On, cond) {
		return true
	}
	// 5xx covers the 503s.
	return cond == Cond503 && slices.Contains(p.On, Cond5xx)
}

// Config configures a Redeliverer.
type Config struct {
	Queue    Queue
	Sender   Sender
	Policies map[string]Policy // by route
	// OnDead is told of every dead letter, once (the alert to the route's owner).
	OnDead func(d store.Delivery, owner string)
	Logger zerolog.Logger
	// Workers is how many attempts are in flight at once. If zero, DefaultWorkers.
	Workers int
	// Now is the clock. If nil, time.Now.
	Now func() time.Time
	// Grace is how long an attempt on its way may go on once Run's context ends. If zero,
	// DefaultGrace.
	Grace time.Duration
	// PausedUntil, if set, says until when the vendor's signal pauses a route's limits group:
	// an attempt due before then waits for the pause's end rather than being throttled.
	PausedUntil func(route string) time.Time
}

// DefaultGrace is how long attempts on their way may finish when mtguard shuts down.
const DefaultGrace = 5 * time.Second

// DefaultWorkers bounds the attempts in flight. Each waits in its route's limiter queue behind
// live calls, so the vendor's limits hold however many there are; with a 20 ms vendor, 8
// delivered about 150 calls a second on a 2-core machine and 32 about 590 (BenchmarkDeliveryQueue).
const DefaultWorkers = 32

// Redeliverer works through the delivery queue.
type Redeliverer struct {
	cfg  Config
	wake chan struct{}

	mu       sync.Mutex
	mem      mirror // the queue as last written (mirror.go)
	inflight map[string]bool
	retries  map[string]int64 // by route: attempts after the first, since start
	dead     map[string]int64 // by route: dead letters since start
}

// New returns a Redeliverer; Run starts it.
func New(cfg Config) *Redeliverer {
	if cfg.Workers <= 0 {
		cfg.Workers = DefaultWorkers
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Grace <= 0 {
		cfg.Grace = DefaultGrace
	}
	return &Redeliverer{cfg: cfg, wake: make(chan struct{}, 1), mem: newMirror(), inflight: map[string]bool{}, retries: map[string]int64{}, dead: map[string]int64{}}
}

// Wake makes the scheduler look at the queue now.
func (r *Redeliverer) Wake() {
	select {
	case r.wake <- struct{}{}:
	default:
	}
}

// Enqueue durably queues an accepted call (store-and-forward mode) and wakes the scheduler.
func (r *Redeliverer) Enqueue(_ context.Context, tx *txn.Transaction) error {
	now := r.cfg.Now()
	err := r.enqueue(store.Delivery{
		ID: tx.ID, Route: tx.Route, RecordKeys: tx.RecordKeys, State: store.DeliveryPending,
		Created: tx.Time, NextAt: now, Source: "queue",
	})
	if err == nil {
		r.Wake()
	}
	return err
}

// Pickup takes an inline call that failed (redeliver: auto): when its failure is one the route
// retries, it is queued with its send as the first attempt, and resent in the background.
func (r *Redeliverer) Pickup(tx txn.Transaction) {
	pol, ok := r.cfg.Policies[tx.Route]
	if !ok || tx.ReplayOf != "" {
		return
	}
	if cond, _, _ := classify(tx); cond == "" || cond == "refused" || !pol.retries(cond) {
		return // delivered, or a failure the route does not retry: the tool has its answer
	}
	now := r.cfg.Now()
	d := store.Delivery{ID: tx.ID, Route: tx.Route, RecordKeys: tx.RecordKeys, Created: tx.Time, Source: "redeliver",
		Attempts: []store.DeliveryAttempt{{At: tx.Time}}}
	r.judge(&d, tx, pol, now)
	if d.State == store.DeliveryRetrying {
		d.NextAt = maxTime(d.NextAt, now.Add(pol.Hold))
	}
	if err := r.enqueue(d); err != nil {
		if !errors.Is(err, store.ErrDeliveryExists) {
			r.cfg.Logger.Error().Err(err).Str("id", tx.ID).Str("route", tx.Route).Msg("could not queue a failed call for redelivery")
		}
		return
	}
	if d.State == store.DeliveryDead {
		r.deadLetter(d, pol)
	}
	r.Wake()
}

// Run works through the queue until ctx ends. It first settles the attempts a crash left in
// doubt, from the log.
func (r *Redeliverer) Run(ctx context.Context) {
	if err := r.load(ctx); err != nil {
		r.cfg.Logger.Error().Err(err).Msg("redeliver: could not read the delivery queue; only calls queued from now on are delivered until a restart")
	}
	r.settleInDoubt(ctx)
	var wg sync.WaitGroup
	defer wg.Wait()
	timer := time.NewTimer(time.Hour)
	defer timer.Stop()
	sq, shared := r.cfg.Queue.(SharedQueue)
	nextClaim := r.cfg.Now().Add(claimEvery)
	for {
		if shared && !r.cfg.Now().Before(nextClaim) {
			r.adopt(ctx, sq)
			nextClaim = r.cfg.Now().Add(claimEvery)
		}
		due, next, err := r.due(ctx)
		if err != nil && ctx.Err() == nil {
			r.cfg.Logger.Error().Err(err).Msg("redeliver: could not read the delivery queue")
			next = r.cfg.Now().Add(time.Second)
		}
		for _, d := range due {
			wg.Add(1)
			go func() {
				defer wg.Done()
				r.attempt(ctx, d)
				r.mu.Lock()
				delete(r.inflight, d.ID)
				r.mu.Unlock()
				r.Wake()
			}()
		}
		wait := time.Hour
		if !next.IsZero() {
			wait = max(next.Sub(r.cfg.Now()), time.Millisecond)
		}
		if shared {
			wait = min(wait, max(nextClaim.Sub(r.cfg.Now()), time.Millisecond))
		}
		timer.Reset(wait)
		select {
		case <-ctx.Done():
			return
		case <-r.wake:
		case <-timer.C:
		}
		// Wakes come with every queued call: look at the queue at most every scanEvery.
		select {
		case <-ctx.Done():
			return
		case <-time.After(scanEvery):
		}
	}
}

// due picks the deliveries to attempt now, marking them in flight, and says when the next one
// falls due. Per record key, calls go in the order they were accepted: a delivery waits while
// an earlier one of any of its record keys is still on its way (held and dead ones do not hold
// the later ones back).
func (r *Redeliverer) due(_ context.Context) (due []store.Delivery, next time.Time, err error) {
	now := r.cfg.Now()
	r.mu.Lock()
	defer r.mu.Unlock()
	free := r.cfg.Workers - len(r.inflight)
	if free <= 0 {
		return nil, time.Time{}, nil // a worker finishing wakes the scheduler
	}
	busy := map[string]bool{}
	r.mem.each(func(d store.Delivery) bool {
		if d.State == store.DeliveryHeld || d.State == store.DeliveryDead {
			return true
		}
		blocked := slices.ContainsFunc(d.RecordKeys, func(k string) bool { return busy[k] })
		for _, k := range d.RecordKeys {
			busy[k] = true
		}
		if blocked || r.inflight[d.ID] || d.State == store.DeliverySending {
			return true
		}
		if d.NextAt.After(now) {
			if next.IsZero() || d.NextAt.Before(next) {
				next = d.NextAt
			}
			return true
		}
		free--
		r.inflight[d.ID] = true
		due = append(due, d)
		return free > 0
	})
	return due, next, nil
}

// scanEvery is the shortest time between two looks at the queue.
const scanEvery = 5 * time.Millisecond

// attempt makes one attempt at d: recorded first, then sent, then judged.
func (r *Redeliverer) attempt(ctx context.Context, d store.Delivery) {
	log := r.cfg.Logger.With().Str("id", d.ID).Str("route", d.Route).Logger()
	pol, ok := r.cfg.Policies[d.Route]
	if !ok {
		r.hold(d.ID, fmt.Sprintf("route %q has no delivery block any more (or is gone); put it back, or drop the delivery", d.Route))
		return
	}
	if r.cfg.PausedUntil != nil {
		if until := r.cfg.PausedUntil(d.Route); until.After(r.cfg.Now()) {
			r.later(d.ID, until.Sub(r.cfg.Now())) // no attempt: it could only be throttled
			return
		}
	}
	tx, err := r.cfg.Queue.Get(ctx, d.ID)
	switch {
	case errors.Is(err, store.ErrNotFound):
		r.kill(d.ID, pol, "the call is no longer in the log (store.retention deleted it, or mtguard forget erased it): nothing to send")
		return
	case err != nil:
		log.Error().Err(err).Msg("redeliver: could not read the call")
		r.later(d.ID, time.Second)
		return
	}
	if r.deliveredBefore(ctx, tx) {
		// Another attempt got it there (the tool's own retry, a person's replay): done.
		_, _ = r.update(d.ID, func(*store.Delivery) error { return store.ErrDeliveryDone })
		return
	}
	if strings.Contains(tx.Request.Body, store.Erased) || strings.Contains(tx.Path, store.Erased) {
		r.kill(d.ID, pol, "a record the call carried was erased (mtguard forget): it is not sent")
		return
	}
	// The attempt is on disk before anything leaves: after a crash, recover finds it.
	started := r.cfg.Now()
	if _, err := r.update(d.ID, func(d *store.Delivery) error {
		d.State = store.DeliverySending
		d.Attempts = append(d.Attempts, store.DeliveryAttempt{At: started})
		return nil
	}); err != nil {
		log.Error().Err(err).Msg("redeliver: could not record the attempt; not sending")
		r.later(d.ID, time.Second)
		return
	}
	if len(d.Attempts) > 0 {
		r.count(r.retries, d.Route)
	}
	send := tx
	if pol.IdempotencyHeader != "" {
		send.Request.Headers = send.Request.Headers.Clone()
		if send.Request.Headers == nil {
			send.Request.Headers = http.Header{}
		}
		send.Request.Headers.Set(pol.IdempotencyHeader, d.ID)
	}
	// On shutdown an attempt on its way gets a grace to finish: one cut off mid-send is one the
	// vendor may have acted on, which only an idempotent call resends.
	sendCtx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	defer cancel()
	stop := context.AfterFunc(ctx, func() { time.AfterFunc(r.cfg.Grace, cancel) })
	defer stop()
	newID, err := r.cfg.Sender.Replay(txn.WithActor(sendCtx, "redeliver"), send, false)
	if newID == "" {
		if sendCtx.Err() != nil {
			return // shutting down: the attempt stays in doubt and recover settles it
		}
		// Refused before anything was sent (the route is gone, a secret was never stored).
		r.settleAttempt(d.ID, pol, nil, fmt.Sprintf("not sent: %v", err))
		return
	}
	re, err := r.cfg.Queue.Get(sendCtx, newID)
	if err != nil {
		if ctx.Err() == nil {
			log.Error().Err(err).Str("attempt", newID).Msg("redeliver: could not read the attempt back")
		}
		return // stays in doubt; recover settles it at the next start
	}
	r.settleAttempt(d.ID, pol, &re, "")
}

// settleAttempt completes the last attempt of delivery id with its transaction (nil: none was
// made, notSent says why) and decides what comes next.
func (r *Redeliverer) settleAttempt(id string, pol Policy, re *txn.Transaction, notSent string) {
	now := r.cfg.Now()
	var dead bool
	d, err := r.update(id, func(d *store.Delivery) error {
		if re == nil {
			if n := len(d.Attempts); n > 0 {
				d.Attempts[n-1].Error = notSent
			}
			d.State, d.Reason, d.LastError = store.DeliveryDead, notSent, notSent
			dead = true
			return nil
		}
		v := r.judge(d, *re, pol, now)
		if v.done {
			return store.ErrDeliveryDone
		}
		dead = d.State == store.DeliveryDead
		return nil
	})
	if err != nil {
		r.cfg.Logger.Error().Err(err).Str("id", id).Msg("redeliver: could not record the attempt's result")
		return
	}
	if dead {
		r.deadLetter(d, pol)
	}
}

// verdict is what an attempt's transaction means for its delivery.
type verdict struct {
	done    bool // delivered
	refused bool // the vendor (or mtguard's checks) refused it: a resend would meet the same
}

// judge records re as d's last attempt and sets d's next state.
func (r *Redeliverer) judge(d *store.Delivery, re txn.Transaction, pol Policy, now time.Time) verdict {
	if n := len(d.Attempts); n > 0 {
		a := &d.Attempts[n-1]
		a.TxID, a.Outcome, a.Status, a.Error = re.ID, string(re.Outcome), re.Status, re.Error
	}
	cond, safe, retryAfter := classify(re)
	switch cond {
	case "":
		return verdict{done: true}
	case "refused":
		d.State = store.DeliveryDead
		d.LastError = describe(re)
		d.Reason = fmt.Sprintf("the vendor refused the call (%s); a resend would meet the same answer: fix the payload and run mtguard replay %s --edit, or drop it", describe(re), d.ID)
		return verdict{refused: true}
	}
	d.LastError = describe(re)
	if !pol.retries(cond) {
		d.State = store.DeliveryDead
		d.Reason = fmt.Sprintf("%s is not among the route's retry conditions (delivery.retry.on: %s)", cond, strings.Join(pol.On, ", "))
		return verdict{}
	}
	if !safe {
		ok, why := false, "neither the route nor its preset declares it idempotent"
		if pol.SafeToResend != nil {
			ok, why = pol.SafeToResend(re)
		}
		if pol.IdempotencyHeader != "" {
			ok, why = true, "every attempt carries the same "+pol.IdempotencyHeader
		}
		if !ok {
			d.State = store.DeliveryHeld
			d.Reason = fmt.Sprintf("held: the vendor may have acted on it (%s), and %s; look the record up at the vendor, then run mtguard deliveries retry %s (send again) or mtguard deliveries drop %s --reason ... (it arrived)",
				describe(re), why, d.ID, d.ID)
			return verdict{}
		}
	}
	sends := 0
	for _, a := range d.Attempts {
		if a.TxID != "" && a.Outcome != string(txn.OutcomeThrottled) && !a.At.Before(d.RetriedAt) {
			sends++ // mtguard's own throttle sent nothing, nor did an attempt a crash cut short before it left
		}
	}
	age := now.Sub(d.Created)
	if !d.RetriedAt.IsZero() {
		age = now.Sub(d.RetriedAt)
	}
	if sends >= pol.Attempts || (pol.GiveUpAfter > 0 && age >= pol.GiveUpAfter) {
		d.State = store.DeliveryDead
		d.Reason = fmt.Sprintf("gave up after %d attempts over %s (delivery.retry.attempts %d, give_up_after %s); last: %s",
			len(d.Attempts), age.Round(time.Second), pol.Attempts, pol.GiveUpAfter, describe(re))
		return verdict{}
	}
	d.State = store.DeliveryRetrying
	d.NextAt = now.Add(max(pol.backoff(sends), retryAfter))
	return verdict{}
}

// classify says what an attempt's transaction means: "" delivered, "refused" (a resend would
// meet the same answer), or the retry condition it meets; safe says the vendor cannot have
// acted on it; retryAfter is how long the vendor (or mtguard's limiter) asked to wait.
func classify(re txn.Transaction) (cond string, safe bool, retryAfter time.Duration) {
	retryAfter = retryAfterOf(re)
	has := func(code string) bool {
		return slices.ContainsFunc(re.Findings, func(f txn.Finding) bool { return f.Code == code })
	}
	switch re.Outcome {
	case txn.OutcomeDelivered, txn.OutcomePartial:
		return "", true, 0
	case txn.OutcomeThrottled:
		return CondThrottled, true, retryAfter
	case txn.OutcomeUnreachable:
		return CondUnreachable, true, 0
	case txn.OutcomeInterrupted:
		if has(txn.CodeClientGone) && re.UpstreamMS == 0 && re.Status == 0 {
			return CondThrottled, true, 0 // stopped before it was sent (a shutdown while it waited)
		}
		return CondTimeout, false, 0
	case txn.OutcomeTimeout, txn.OutcomePending:
		return CondTimeout, false, 0
	case txn.OutcomeRejected:
		if has(txn.CodeStoreWriteFailed) {
			return CondThrottled, true, 0 // store.on_error: reject refused it before sending
		}
		return "refused", false, 0
	}
	switch {
	case has(txn.CodeQuotaExhausted):
		return CondQuota, true, retryAfter
	case re.Status == http.StatusTooManyRequests:
		return Cond429, true, retryAfter
	case has(txn.CodeRateLimitUpstream):
		return CondRateLimit, true, retryAfter
	case re.Status == http.StatusServiceUnavailable:
		return Cond503, retryAfter > 0, retryAfter
	case re.Status >= 500:
		return Cond5xx, false, retryAfter
	}
	return "refused", false, 0
}

// retryAfterOf reads the Retry-After of an attempt's answer, the vendor's or mtguard's own (a
// throttled call), in seconds.
func retryAfterOf(re txn.Transaction) time.Duration {
	s := re.Response.Headers.Get("Retry-After")
	if s == "" {
		return 0
	}
	if n, err := strconv.Atoi(s); err == nil && n > 0 {
		return time.Duration(n) * time.Second
	}
	if t, err := http.ParseTime(s); err == nil {
		return max(0, t.Sub(re.Time))
	}
	return 0
}

// describe is an attempt's result in a few words.
func describe(re txn.Transaction) string {
	s := string(re.Outcome)
	if re.Status > 0 {
		s += fmt.Sprintf(" %d", re.Status)
	}
	if re.Error != "" {
		e := re.Error
		if len(e) > 200 {
			e = e[:200] + "..."
		}
		s += ": " + e
	}
	return s + " (" + re.ID + ")"
}

// backoff is the wait after the n-th send: doubling from BackoffMin up to BackoffMax, and with
// jitter a random point in its upper half, so a backlog does not return in one wave.
func (p Policy) backoff(n int) time.Duration {
	d := p.BackoffMin
	for i := 1; i < n && d < p.BackoffMax; i++ {
		d *= 2
	}
	d = min(d, p.BackoffMax)
	if p.Jitter && d > 1 {
		d = d/2 + rand.N(d/2)
	}
	return max(d, p.BackoffMin)
}

// later puts d back to try again after wait, without counting an attempt (the queue or the log
// could not be read).
func (r *Redeliverer) later(id string, wait time.Duration) {
	_, _ = r.update(id, func(d *store.Delivery) error {
		d.NextAt = r.cfg.Now().Add(wait)
		return nil
	})
}

func (r *Redeliverer) hold(id, reason string) {
	_, _ = r.update(id, func(d *store.Delivery) error {
		d.State, d.Reason = store.DeliveryHeld, reason
		return nil
	})
}

func (r *Redeliverer) kill(id string, pol Policy, reason string) {
	d, err := r.update(id, func(d *store.Delivery) error {
		d.State, d.Reason = store.DeliveryDead, reason
		return nil
	})
	if err == nil {
		r.deadLetter(d, pol)
	}
}

func (r *Redeliverer) deadLetter(d store.Delivery, pol Policy) {
	r.count(r.dead, d.Route)
	r.cfg.Logger.Warn().Str("id", d.ID).Str("route", d.Route).Int("attempts", len(d.Attempts)).Str("reason", d.Reason).Msg("dead letter: mtguard gave up delivering a call")
	if r.cfg.OnDead != nil {
		r.cfg.OnDead(d, pol.Owner)
	}
}

func (r *Redeliverer) count(m map[string]int64, route string) {
	r.mu.Lock()
	m[route]++
	r.mu.Unlock()
}

// deliveredBefore reports whether an attempt of tx's chain that the queue did not make (an
// inline retry, a replay a person ran) delivered it.
func (r *Redeliverer) deliveredBefore(ctx context.Context, tx txn.Transaction) bool {
	for _, id := range tx.ReplayedBy {
		re, err := r.cfg.Queue.Get(ctx, id)
		if err == nil && (re.Outcome == txn.OutcomeDelivered || re.Outcome == txn.OutcomePartial) {
			return true
		}
	}
	return false
}

func maxTime(a, b time.Time) time.Time {
	if a.After(b) {
		return a
	}
	return b
}
