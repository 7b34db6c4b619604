package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"strings"

	"github.com/mtguard/mtguard/alerts"
	"github.com/mtguard/mtguard/config"
	"github.com/mtguard/mtguard/proxy"
	"github.com/mtguard/mtguard/txn"
	"github.com/rs/zerolog"
)

// alerting is the alert engine and the metrics, as serve wires them.
type alerting struct {
	engine   *alerts.Engine
	metrics  *alerts.Metrics
	throttle alerts.ThrottleStats
	// also are fed every committed call after the engine (journeys, drift); none blocks.
	also []func(txn.Transaction)
}

// observe hands a committed call to the engine and to also; it is the store's OnResult.
func (a *alerting) observe(tx txn.Transaction) {
	a.engine.Observe(tx)
	for _, f := range a.also {
		f(tx)
	}
}

// newAlerting builds the metrics and the alert engine, which notifies sinks (built by
// alertSinks) and whose throttle rules read throttle. The engine is started by start, once
// the store exists.
func newAlerting(cfg *config.Config, sinks []alerts.Sink, throttle alerts.ThrottleStats, log zerolog.Logger) (*alerting, error) {
	var routes []alerts.RouteAlerts
	for _, r := range cfg.Routes {
		routes = append(routes, alerts.RouteAlerts{Route: r.Name, Owner: r.Owner, Sinks: r.Alerts.Sinks, Rules: r.Alerts.EffectiveRules()})
	}
	m := alerts.NewMetrics()
	e, err := alerts.New(alerts.Config{
		Routes:   routes,
		Sinks:    sinks,
		Renotify: cfg.Alerts.Renotify,
		// notifications_failing (issue 23)
		SinkFailingFor: cfg.Alerts.SinkFailingFor,
		Metrics:        m,
		Throttle:       throttle,
		Logger:         log,
	})
	if err != nil {
		return nil, err
	}
	return &alerting{engine: e, metrics: m, throttle: throttle}, nil
}

// alertSinks builds the configured sinks. A variable a sink names but that is empty is an
// error naming the variable (never its value); every such variable is named, not only the
// first.
func alertSinks(scs []config.Sink, getenv func(string) string) ([]alerts.Sink, error) {
	var out []alerts.Sink
	var errs []error
	for _, sc := range scs {
		need := func(field, env, what string) string {
			if env == "" {
				return ""
			}
			v := strings.TrimSpace(getenv(env))
			if v == "" {
				errs = append(errs, fmt.Errorf("alerts.sinks %s: %s names %s, but that environment variable is empty; set it to %s", sc.Name, field, env, what))
			}
			return v
		}
		u := need("url_env", sc.URLEnv, "the URL alerts are sent to")
		if u == "" {
			u = sc.URL
		}
		switch sc.Type {
		case config.SinkSlack:
			out = append(out, alerts.NewSlackSink(sc.Name, u, nil))
		case config.SinkPagerDuty:
			key := need("routing_key_env", sc.RoutingKeyEnv, "the PagerDuty integration's routing key")
			out = append(out, alerts.NewPagerDutySink(sc.Name, key, sc.URL, nil))
		case config.SinkWebhook:
			secret := need("secret_env", sc.SecretEnv, "the secret the webhook's signatures are checked with")
			out = append(out, alerts.NewWebhookSink(sc.Name, u, secret, nil, nil))
		default:
			errs = append(errs, fmt.Errorf("alerts.sinks %s: unknown type %q", sc.Name, sc.Type))
		}
	}
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	return out, nil
}

// start feeds the metrics from the store, the pipeline and the throttler, and starts the
// engine: it rebuilds its state from the store before returning.
func (a *alerting) start(ctx context.Context, storePath string, st transactionLog, pipeline *proxy.Pipeline) {
	size := func() int64 {
		fi, err := os.Stat(storePath)
		if err != nil {
			return 0
		}
		return fi.Size()
	}
	if pg, ok := st.(pgLog); ok {
		size = pg.LogSize
	}
	a.metrics.Watch(alerts.MetricsConfig{
		StoreSize:           size,
		StoreCommits:        func() int64 { return st.Stats().Commits },
		StoreCommitFailures: func() int64 { return st.Stats().CommitFailures },
		StoreWriteErrors:    pipeline.StoreErrors,
		StoreWriteFailures:  st.WriteFailures,
		StoreHeldWrites:     st.HeldWrites,
		StoreHealthy:        st.Healthy,
		Throttle:            a.throttle,
	})
	if followsForAlerts(st) {
		a.engine.Follow() // until leadAlerts elects it
	}
	a.engine.Start(ctx, st)
	if st.Healthy() == nil {
		a.engine.StoreWriteRecovered() // a store_write alert the last run left firing is over
	}
}

// close stops the engine after sending what it has queued.
func (a *alerting) close() { a.engine.Close() }
