package redislimit

import (
	"context"
	"fmt"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/redis/go-redis/v9"
)

// Window is one budget of a group: Requests per Per, sliding, or fixed when Reset is set
// (Reset(t) is when the fixed window holding t ends: a daily quota).
type Window struct {
	Requests int
	Per      time.Duration
	Reset    func(t time.Time) time.Time
}

// Group is one limit group: what the proxy's limiter enforces in each instance, shared.
type Group struct {
	Name        string
	Windows     []Window
	Concurrency int // 0: no cap
}

// Mode is what a group does while Redis cannot be reached.
type Mode string

const (
	// LocalShare: every instance keeps 1/Instances of each budget in memory.
	LocalShare Mode = "local-share"
	// Hold: calls wait (up to their max_wait) until Redis answers again.
	Hold Mode = "hold"
)

// Options configure a Budget.
type Options struct {
	// Prefix starts every key. If empty, "mtguard".
	Prefix string
	// Instance names this process in lease members. If empty, a random name.
	Instance string
	// Lease is how long a call in flight holds its concurrency slot and counts in the sliding
	// windows if its instance dies without ending it: longer than any call lasts. If zero, 2m.
	Lease time.Duration
	// OnUnavailable is LocalShare (the default) or Hold.
	OnUnavailable Mode
	// Instances is how many instances share the budgets: each takes 1/Instances of them in
	// LocalShare. If zero, 1.
	Instances int
	// Retry is how long after a failure Redis is tried again. If zero, 1s.
	Retry time.Duration
	// OnChange, if set, hears when Redis becomes unavailable (err set) and available again
	// (err nil). It must not block.
	OnChange func(err error)
}

// Budget is the shared budget of every group. It is safe for concurrent use.
type Budget struct {
	rdb     redis.UniversalClient
	groups  map[string]*group
	scripts scripts
	opts    Options
	seq     atomic.Uint64

	mu       sync.Mutex
	downErr  error     // the last Redis error while unavailable
	downAt   time.Time // when it became unavailable
	retryAt  time.Time // when to try Redis again
	fallback map[string]*localGroup
}

type group struct {
	cfg     Group
	leases  string // zset of in-flight calls
	pause   string
	sliding []int // indexes into cfg.Windows
	fixed   []int
	keys    []string // per window: the sliding zset, or the fixed counter's prefix
}

// New returns the shared budget of groups, kept in rdb.
func New(rdb redis.UniversalClient, groups []Group, opts Options) *Budget {
	if opts.Prefix == "" {
		opts.Prefix = "mtguard"
	}
	if opts.Lease <= 0 {
		opts.Lease = 2 * time.Minute
	}
	if opts.OnUnavailable == "" {
		opts.OnUnavailable = LocalShare
	}
	if opts.Instances <= 0 {
		opts.Instances = 1
	}
	if opts.Retry <= 0 {
		opts.Retry = time.Second
	}
	if opts.Instance == "" {
		opts.Instance = strconv.FormatInt(time.Now().UnixNano(), 36)
	}
	b := &Budget{rdb: rdb, groups: map[string]*group{}, scripts: newScripts(), opts: opts, fallback: map[string]*localGroup{}}
	for _, gc := range groups {
		// {name} is a hash tag: a group's keys live in one Redis Cluster slot, as a script needs.
		base := opts.Prefix + ":{" + gc.Name + "}:"
		g := &group{cfg: gc, leases: base + "leases", pause: base + "pause"}
		for i, w := range gc.Windows {
			if w.Reset == nil {
				g.sliding = append(g.sliding, i)
			} else {
				g.fixed = append(g.fixed, i)
			}
			g.keys = append(g.keys, base+"w"+strconv.Itoa(i)+":"+strconv.Itoa(w.Requests)+"/"+w.Per.String())
		}
		b.groups[gc.Name] = g
		b.fallback[gc.Name] = newLocalGroup(gc, opts.Instances)
	}
	return b
}

// Margin widens a sliding window the way the proxy's limiter does: a vendor may round its
// clock or count a window's edge in, and a proxy may tighten a limit, never loosen it.
func Margin(per time.Duration) time.Duration { return max(per/100, 20*time.Millisecond) }

// holdRetry is how soon a call held while Redis is away asks again.
const holdRetry = 250 * time.Millisecond

// Take takes one send of group at now. With room, it returns release, to be called with the
// time the vendor's answer came back. Without, release is nil and retryAt is when room comes
// back (zero: when some instance's call ends, which this one is not told of: ask again soon).
func (b *Budget) Take(ctx context.Context, name string, now time.Time) (release func(time.Time), retryAt time.Time) {
	g := b.groups[name]
	if g == nil {
		return func(time.Time) {}, time.Time{}
	}
	if b.useRedis(now) {
		release, retryAt, err := b.takeRedis(ctx, g, now)
		if err == nil {
			b.up()
			return release, retryAt
		}
		if ctx.Err() != nil {
			return nil, now.Add(holdRetry)
		}
		b.down(err, now)
	}
	if b.opts.OnUnavailable == Hold {
		return nil, now.Add(holdRetry)
	}
	return b.fallback[name].take(now)
}

func (b *Budget) takeRedis(ctx context.Context, g *group, now time.Time) (func(time.Time), time.Time, error) {
	member := b.opts.Instance + ":" + strconv.FormatUint(b.seq.Add(1), 36)
	nowMS := now.UnixMilli()
	lease := nowMS + b.opts.Lease.Milliseconds()
	keys := []string{g.leases, g.pause}
	args := []any{nowMS, member, lease, g.cfg.Concurrency, len(g.sliding)}
	var windows []string
	for _, i := range g.sliding {
		w := g.cfg.Windows[i]
		keys = append(keys, g.keys[i])
		windows = append(windows, g.keys[i])
		args = append(args, w.Requests, (w.Per + Margin(w.Per)).Milliseconds())
	}
	args = append(args, len(g.fixed))
	for _, i := range g.fixed {
		w := g.cfg.Windows[i]
		end := w.Reset(now)
		keys = append(keys, g.keys[i]+":"+strconv.FormatInt(end.UnixMilli(), 10))
		args = append(args, w.Requests, end.UnixMilli(), (end.Sub(now) + 24*time.Hour).Milliseconds())
	}
	res, err := b.scripts.take.Run(ctx, b.rdb, keys, args...).Int64Slice()
	if err != nil {
		return nil, time.Time{}, fmt.Errorf("redis take %s: %w", g.cfg.Name, err)
	}
	if len(res) != 2 {
		return nil, time.Time{}, fmt.Errorf("redis take %s: unexpected answer %v", g.cfg.Name, res)
	}
	if res[0] != 1 {
		if res[1] == 0 {
			return nil, time.Time{}, nil
		}
		return nil, time.UnixMilli(res[1]), nil
	}
	doneKeys := append([]string{g.leases}, windows...)
	var once sync.Once
	return func(at time.Time) {
		once.Do(func() {
			// A release that cannot reach Redis is covered by the lease: it expires.
			ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
			defer cancel()
			_ = b.scripts.done.Run(ctx, b.rdb, doneKeys, at.UnixMilli(), member).Err()
		})
	}, time.Time{}, nil
}

// Pause pauses group in every instance until until (a vendor's 429 or quota signal).
func (b *Budget) Pause(name string, until, now time.Time) {
	g := b.groups[name]
	if g == nil {
		return
	}
	if b.useRedis(now) {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		err := b.scripts.pause.Run(ctx, b.rdb, []string{g.pause}, until.UnixMilli(), now.UnixMilli()).Err()
		cancel()
		if err == nil {
			return
		}
		b.down(err, now)
	}
	b.fallback[name].pauseUntil(until)
}

// Mode describes how group's budget is kept now, for mtguard limits: "redis", or while Redis
// is unavailable "local-share 1/N since T" or "hold since T".
func (b *Budget) Mode(name string) string {
	if b.groups[name] == nil {
		return ""
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.downErr == nil {
		return "redis"
	}
	since := b.downAt.UTC().Format(time.RFC3339)
	if b.opts.OnUnavailable == Hold {
		return "hold (Redis unavailable since " + since + ")"
	}
	return fmt.Sprintf("local-share 1/%d (Redis unavailable since %s)", b.opts.Instances, since)
}

// Err is the last Redis error while Redis is unavailable, nil otherwise.
func (b *Budget) Err() error {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.downErr
}

func (b *Budget) useRedis(now time.Time) bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.downErr == nil || !now.Before(b.retryAt)
}

func (b *Budget) down(err error, now time.Time) {
	b.mu.Lock()
	first := b.downErr == nil
	if first {
		b.downAt = now
	}
	b.downErr, b.retryAt = err, now.Add(b.opts.Retry)
	b.mu.Unlock()
	if first && b.opts.OnChange != nil {
		b.opts.OnChange(err)
	}
}

func (b *Budget) up() {
	b.mu.Lock()
	was := b.downErr != nil
	b.downErr = nil
	b.mu.Unlock()
	if was && b.opts.OnChange != nil {
		b.opts.OnChange(nil)
	}
}

// Ping checks that Redis answers (serve calls it at start to say which mode it begins in).
func (b *Budget) Ping(ctx context.Context) error {
	return b.rdb.Ping(ctx).Err()
}
