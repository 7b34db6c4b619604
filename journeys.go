package main

import (
	"cmp"
	"context"
	"fmt"
	"slices"
	"time"

	"github.com/rs/zerolog"

	"github.com/mtguard/mtguard/alerts"
	"github.com/mtguard/mtguard/config"
	"github.com/mtguard/mtguard/inspect"
	"github.com/mtguard/mtguard/journeys"
	"github.com/mtguard/mtguard/proxy"
	"github.com/mtguard/mtguard/schemas"
	"github.com/mtguard/mtguard/store"
)

// newJourneys builds the journeys engine of jc (journeysEngineConfig), telling the alert
// engine of records lost in transit; nil without journeys. It is started once the store is open.
func newJourneys(jc *journeys.Config, al *alerting) (*journeys.Engine, error) {
	if jc == nil {
		return nil, nil
	}
	c := *jc
	c.OnLost = func(l journeys.Lost) {
		al.engine.Report(alerts.JourneyReport(l.Journey, l.Owner, l.Keys, l.Stops, l.Since))
	}
	return journeys.New(c)
}

// journeysEngineConfig is the journeys engine's configuration of cfg, without OnLost; nil
// when cfg has no journeys.
func journeysEngineConfig(cfg *config.Config, log zerolog.Logger) (*journeys.Config, error) {
	if len(cfg.Journeys) == 0 {
		return nil, nil
	}
	js, err := journeyConfig(cfg)
	if err != nil {
		return nil, err
	}
	return &journeys.Config{
		Journeys:  js,
		Retention: cfg.Store.Retention,
		CatchUp:   catchUpWindow(cfg),
		Logger:    log,
	}, nil
}

// journeyConfig turns the configured journeys into the engine's, with each step's record-key
// paths that hold the journey's key. A journey without an owner names its last step's.
func journeyConfig(cfg *config.Config) ([]journeys.Journey, error) {
	var out []journeys.Journey
	for _, jc := range cfg.Journeys {
		j := journeys.Journey{Name: jc.Name, Key: jc.Key, Steps: jc.Steps, Within: jc.Within, Owner: jc.Owner}
		for _, step := range jc.Steps {
			i := slices.IndexFunc(cfg.Routes, func(r config.Route) bool { return r.Name == step })
			if i < 0 {
				return nil, fmt.Errorf("journey %s: step %q is not a route", jc.Name, step)
			}
			r := cfg.Routes[i]
			var raw []string
			for _, k := range r.RecordKeys {
				if config.KeyMatches(k, jc.Key) {
					raw = append(raw, k)
				}
			}
			paths, err := schemas.ParseKeyPaths(raw)
			if err != nil {
				return nil, fmt.Errorf("journey %s: route %s: %w", jc.Name, step, err)
			}
			j.Paths = append(j.Paths, paths)
			j.AllPaths = append(j.AllPaths, len(raw) == len(r.RecordKeys))
			if j.Owner == "" && step == jc.Steps[len(jc.Steps)-1] {
				j.Owner = r.Owner
			}
		}
		out = append(out, j)
	}
	return out, nil
}

// journeyView is the admin API's view of jr: nil (no endpoints) without journeys.
func journeyView(jr *journeys.Engine) inspect.Journeys {
	if jr == nil {
		return nil
	}
	return jr
}

// eraser forgets a record from the journeys engine before the store forgets it (and compacts
// the file, so the journeys' copy of the key is gone from disk too).
type eraser struct {
	st store.Log
	jr *journeys.Engine // nil without journeys, or with the PostgreSQL log
	// shared forgets it from the journeys on the PostgreSQL log; nil without them.
	shared *sharedJourneys
}

func (e eraser) Forget(ctx context.Context, key string) (store.ForgetReport, error) {
	if e.shared != nil {
		if err := e.shared.forget(ctx, key); err != nil {
			return store.ForgetReport{}, fmt.Errorf("forget: journeys: %w", err)
		}
	}
	if e.jr != nil {
		if err := e.jr.Forget(key); err != nil {
			return store.ForgetReport{}, fmt.Errorf("forget: journeys: %w", err)
		}
	}
	return e.st.Forget(ctx, key)
}

// catchUpWindow is how far behind the last call it handled the journeys engine looks for calls
// it missed: the longest a call can last (waiting for budget, then for the vendor), and a minute.
func catchUpWindow(cfg *config.Config) time.Duration {
	groups, _ := limitGroups(cfg.Routes)
	maxWait := map[string]time.Duration{}
	for _, g := range groups {
		maxWait[g.Name] = cmp.Or(g.MaxWait, proxy.DefaultMaxWait)
	}
	longest := time.Duration(0)
	for _, r := range cfg.Routes {
		longest = max(longest, r.Timeout+maxWait[r.LimitGroup()])
	}
	return longest + time.Minute
}
