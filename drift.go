package main

import (
	"time"

	"github.com/rs/zerolog"

	"github.com/mtguard/mtguard/config"
	"github.com/mtguard/mtguard/drift"
	"github.com/mtguard/mtguard/inspect"
	"github.com/mtguard/mtguard/store"
)

// newDrift builds the shape learner of the routes with a drift: block; nil when none has one.
// It is started once the store is open.
func newDrift(cfg *config.Config, log zerolog.Logger) *drift.Learner {
	c := driftConfig(cfg, log)
	if c == nil {
		return nil
	}
	return drift.New(*c)
}

// driftConfig is the shape learner's configuration of cfg; nil when no route has a drift: block.
func driftConfig(cfg *config.Config, log zerolog.Logger) *drift.Config {
	learn := map[string]time.Duration{}
	for _, r := range cfg.Routes {
		if r.Drift != nil {
			learn[r.Name] = r.Drift.Learn
		}
	}
	if len(learn) == 0 {
		return nil
	}
	return &drift.Config{Learn: learn, Logger: log}
}

// driftView is the admin API's view of l: nil (no endpoint) without it.
func driftView(l *drift.Learner) inspect.Shapes {
	if l == nil {
		return nil
	}
	return l
}

// The store keeps the learned shapes and takes the findings.
var _ drift.Store = (*store.Store)(nil)
