package main

import (
	"context"
	"fmt"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/rs/zerolog"

	"github.com/mtguard/mtguard/config"
	"github.com/mtguard/mtguard/proxy"
	"github.com/mtguard/mtguard/redislimit"
)

// sharedLimitsURL reads limits.shared.url_env once, at start: "" without limits.shared.
func sharedLimitsURL(s *config.SharedLimits, getenv func(string) string) (string, error) {
	if s == nil {
		return "", nil
	}
	u := getenv(s.URLEnv)
	if u == "" {
		return "", fmt.Errorf("limits.shared.url_env names %s, but that environment variable is empty; set it to the Redis URL (redis://:password@host:6379/0)", s.URLEnv)
	}
	if _, err := redis.ParseURL(u); err != nil {
		return "", fmt.Errorf("limits.shared.url_env: %s does not hold a Redis URL (redis://host:6379/0 or rediss://...); the value is not shown, it may hold a password", s.URLEnv)
	}
	return u, nil
}

// sharedBudget is the Redis budget as the proxy's limiter takes it: a vendor's pause is
// written from its own goroutine, since the limiter holds the group while it calls Pause.
type sharedBudget struct{ *redislimit.Budget }

func (b sharedBudget) Pause(group string, until, now time.Time) {
	go b.Budget.Pause(group, until, now)
}

var _ proxy.SharedBudget = sharedBudget{}

// shareLimits plugs the Redis budget into the limiter: every group's windows, quotas,
// concurrency and pauses are then shared by every instance with the same limits.shared.
// hold is how long a call may hold a concurrency lease (the longest call, and a minute).
// alert hears when Redis stops and starts answering (the shared_limits alert). It returns the
// Redis client's Close.
func shareLimits(ctx context.Context, l *proxy.Limiter, cfg *config.SharedLimits, url string, groups []proxy.LimitGroup, hold time.Duration, alert func(mode string, err error), log zerolog.Logger) (func() error, error) {
	opts, err := redis.ParseURL(url)
	if err != nil {
		return nil, fmt.Errorf("limits.shared.url_env: not a Redis URL")
	}
	opts.DialTimeout = 2 * time.Second
	rdb := redis.NewClient(opts)
	var rgs []redislimit.Group
	for _, g := range groups {
		rg := redislimit.Group{Name: g.Name, Concurrency: g.Concurrency}
		for _, w := range g.Windows {
			rg.Windows = append(rg.Windows, redislimit.Window{Requests: w.Requests, Per: w.Per, Reset: w.Reset})
		}
		rgs = append(rgs, rg)
	}
	mode := redislimit.Mode(cfg.OnUnavailable)
	b := redislimit.New(rdb, rgs, redislimit.Options{
		Lease:         hold,
		OnUnavailable: mode,
		Instances:     cfg.Instances,
		OnChange: func(err error) {
			alert(string(mode), err)
			if err != nil {
				log.Error().Err(err).Str("on_unavailable", string(mode)).Int("instances", cfg.Instances).
					Msg("limits.shared: Redis is unavailable; each instance now keeps 1/instances of every budget (local-share) or holds calls (hold) until it answers")
				return
			}
			log.Warn().Msg("limits.shared: Redis answers again; budgets are shared again")
		},
	})
	pctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	if err := b.Ping(pctx); err != nil {
		log.Warn().Err(err).Msg("limits.shared: Redis does not answer at start; on_unavailable applies until it does")
	}
	l.Share(sharedBudget{b})
	return rdb.Close, nil
}
