package main

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync/atomic"

	"github.com/rs/zerolog"

	"github.com/mtguard/mtguard/alerts"
	"github.com/mtguard/mtguard/config"
	"github.com/mtguard/mtguard/drift"
	"github.com/mtguard/mtguard/journeys"
	"github.com/mtguard/mtguard/proxy"
	"github.com/mtguard/mtguard/schemas"
	"github.com/mtguard/mtguard/store"
	"github.com/mtguard/mtguard/verify"
)

// readBack is the verifier of the routes with a verify: block, and the proxy its probes go
// through, set once the proxy exists.
type readBack struct {
	v     *verify.Verifier // the bbolt log's; with PostgreSQL each term makes its own (verifier)
	rules []verify.Rule
	proxy atomic.Pointer[proxy.Proxy]
}

// newReadBack builds the verifier; nil when no route has a verify: block.
func newReadBack(cfg *config.Config, log zerolog.Logger) (*readBack, error) {
	var rules []verify.Rule
	for _, r := range cfg.Routes {
		vc := r.Verify
		if vc == nil {
			continue
		}
		rule := verify.Rule{Route: r.Name, After: vc.After, Method: vc.Method, Path: vc.Path, Status: vc.Status, Body: vc.Body, Sample: vc.Sample,
			Keys: map[string][]schemas.KeyPath{}}
		names := config.Placeholders(vc.Path)
		for _, t := range vc.Body {
			names = append(names, config.Placeholders(t)...)
		}
		for _, name := range names {
			var raw []string
			for _, k := range r.RecordKeys {
				if config.KeyMatches(k, name) {
					raw = append(raw, k)
				}
			}
			paths, err := schemas.ParseKeyPaths(raw)
			if err != nil || len(paths) == 0 {
				return nil, fmt.Errorf("route %s: verify: {%s} names no record key", r.Name, name)
			}
			rule.Keys[name] = paths
		}
		rules = append(rules, rule)
	}
	if len(rules) == 0 {
		return nil, nil
	}
	rb := &readBack{rules: rules}
	rb.v = rb.verifier(log)
	return rb, nil
}

// verifier returns a new verifier of the rules, probing through the proxy.
func (rb *readBack) verifier(log zerolog.Logger) *verify.Verifier {
	return verify.New(verify.Config{Rules: slices.Clone(rb.rules), Logger: log, Probe: rb.probe})
}

// probe sends one read-back through the proxy's pipeline; a paused route is tried later.
func (rb *readBack) probe(ctx context.Context, route, method, path, verifies string) (verify.Answer, error) {
	p := rb.proxy.Load()
	if p == nil {
		return verify.Answer{}, fmt.Errorf("%w: the proxy is not running yet", verify.ErrLater)
	}
	a, err := p.Probe(ctx, route, method, path, verifies)
	if errors.Is(err, proxy.ErrPaused) {
		return verify.Answer{}, fmt.Errorf("%w: %v", verify.ErrLater, err)
	}
	return verify.Answer{ID: a.ID, Status: a.Status, Body: a.Body}, err
}

// The store takes the verifier's findings.
var _ verify.Store = (*store.Store)(nil)

// watchDropped exports what each observer that exists could not keep up with.
func watchDropped(m *alerts.Metrics, jr *journeys.Engine, dl *drift.Learner, rb *readBack) {
	if jr != nil {
		m.WatchDropped("journeys", jr.Dropped)
	}
	if dl != nil {
		m.WatchDropped("drift", dl.Dropped)
	}
	if rb != nil {
		m.WatchDropped("read_back", rb.v.Dropped)
	}
}
