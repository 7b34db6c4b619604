package main

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"strings"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/rs/zerolog"

	"github.com/mtguard/mtguard/config"
	"github.com/mtguard/mtguard/inspect"
	"github.com/mtguard/mtguard/proxy"
	"github.com/mtguard/mtguard/redeliver"
	"github.com/mtguard/mtguard/store"
	"github.com/mtguard/mtguard/txn"
	"github.com/mtguard/mtguard/vendors"
)

// deliveries is the delivery queue as serve wires it: the redeliverer, working through the
// store's queue and resending through the reverse proxy (so through the limiter, behind live
// traffic), and the routes whose failed inline calls it picks up (redeliver: auto).
type deliveries struct {
	rd     *redeliver.Redeliverer
	sender *replaySender
	// pickup holds the inline routes with redeliver: auto.
	pickup  map[string]bool
	queued  bool // some route queues its calls
	started atomic.Bool
	done    chan struct{}
	log     zerolog.Logger
}

// newDeliveries builds the redeliverer for the routes with a delivery block; nil when none has.
func newDeliveries(cfg *config.Config, st redeliver.Queue, al *alerting, limits *limiterView, log zerolog.Logger) *deliveries {
	policies := map[string]redeliver.Policy{}
	d := &deliveries{sender: &replaySender{}, pickup: map[string]bool{}, done: make(chan struct{}), log: log}
	for _, rc := range cfg.Routes {
		if !rc.Delivery.Background() {
			continue
		}
		policies[rc.Name] = deliveryPolicy(rc)
		if rc.Delivery.Queued() {
			d.queued = true
		} else {
			d.pickup[rc.Name] = true
		}
	}
	if len(policies) == 0 {
		return nil
	}
	groupOf := map[string]string{}
	for _, rc := range cfg.Routes {
		groupOf[rc.Name] = rc.LimitGroup()
	}
	d.rd = redeliver.New(redeliver.Config{
		Queue: st, Sender: d.sender, Policies: policies, Logger: log,
		PausedUntil: func(route string) time.Time {
			if limits.l == nil {
				return time.Time{}
			}
			return limits.l.PausedUntil(groupOf[route])
		},
		OnDead: func(dl store.Delivery, _ string) {
			al.engine.DeadLetter(dl.Route, dl.ID, dl.RecordKeys, len(dl.Attempts), dl.Reason)
		},
	})
	al.metrics.Registry().MustRegister(deliveryCollector{d.rd})
	return d
}

// deliveryPolicy is a route's delivery block as the redeliverer reads it. Whether a call may be
// resent after a failure that leaves open whether the vendor acted comes from the route
// (delivery.idempotent, delivery.idempotency_header) or else from what its preset documents
// about the call's operation.
func deliveryPolicy(rc config.Route) redeliver.Policy {
	dc := rc.Delivery
	p := redeliver.Policy{
		On: dc.Retry.On, Attempts: dc.Retry.Attempts, BackoffMin: dc.Retry.BackoffMin, BackoffMax: dc.Retry.BackoffMax,
		Jitter: dc.Retry.Jitter, GiveUpAfter: dc.GiveUpAfter, IdempotencyHeader: dc.IdempotencyHeader, Owner: rc.Owner,
	}
	if !dc.Queued() {
		// A failed inline call is picked up from its first attempt: the background resends
		// wait until the tool's own retries (within, each up to the route's timeout) are over.
		p.Hold = dc.Retry.Within + rc.Timeout + time.Second
	}
	var ops []vendors.DeliveryOp
	preset := "the route's preset"
	if rc.Vendor != nil {
		ops = rc.Vendor.Delivery
		preset = "preset " + rc.Vendor.Name
	}
	prefix, base := rc.Prefix, ""
	if u, err := url.Parse(rc.Upstream); err == nil {
		base = strings.TrimSuffix(u.Path, "/")
	}
	p.SafeToResend = func(tx txn.Transaction) (bool, string) {
		if dc.Idempotent {
			return true, "the route declares its calls idempotent (delivery.idempotent)"
		}
		if dc.NotIdempotent {
			return false, "the route says its calls are not safe to resend (delivery.idempotent: false)"
		}
		path := tx.Path
		if u, err := url.Parse(tx.Path); err == nil {
			path = u.Path
		}
		if tx.Front != "forward" {
			path = strings.TrimPrefix(path, prefix)
		}
		// Presets name the vendor's own paths: those under the upstream's base path.
		path = strings.TrimPrefix(path, base)
		op, ok := vendors.DeliveryOpFor(ops, tx.Method, path)
		if !ok {
			return false, fmt.Sprintf("%s documents nothing about resending %s %s", preset, tx.Method, path)
		}
		return op.SafeToResend([]byte(tx.Request.Body))
	}
	return p
}

// queueAnswer is the proxy's form of a queueing route's accept answer; nil for other routes.
func queueAnswer(dc *config.Delivery) *proxy.QueueAnswer {
	if !dc.Queued() {
		return nil
	}
	return &proxy.QueueAnswer{Status: dc.Accept.Status, Body: dc.Accept.Body, ContentType: dc.Accept.ContentType}
}

// inlineRetry is the proxy's form of an inline route's retry block; nil for other routes.
func inlineRetry(dc *config.Delivery) *proxy.InlineRetry {
	if dc == nil || dc.Queued() || dc.Retry.Within <= 0 || dc.Retry.Attempts < 2 {
		return nil
	}
	return &proxy.InlineRetry{On: dc.Retry.On, Attempts: dc.Retry.Attempts, BackoffMin: dc.Retry.BackoffMin, BackoffMax: dc.Retry.BackoffMax, Within: dc.Retry.Within}
}

// recorder is what the pipeline records through: the store, and for routes with redeliver:
// auto a look at each outcome, so that a failed inline call is picked up for redelivery.
func (d *deliveries) recorder(st *store.Store) proxy.Recorder {
	if d == nil || len(d.pickup) == 0 {
		return st
	}
	return pickupRecorder{Store: st, d: d}
}

// enqueuer is the pipeline's Queue: nil unless a route queues its calls.
func (d *deliveries) enqueuer() proxy.Enqueuer {
	if d == nil || !d.queued {
		return nil
	}
	return d.rd
}

// api is the admin API's view of the queue; nil without one.
func (d *deliveries) api() inspect.Deliveries {
	if d == nil {
		return nil
	}
	return deliveriesAPI{d.rd}
}

// use makes the redeliverer resend through p.
func (d *deliveries) use(p *proxy.Proxy) {
	if d != nil {
		d.sender.p.Store(p)
	}
}

// run works through the queue until ctx ends; wait returns once it has stopped.
func (d *deliveries) run(ctx context.Context) {
	if d == nil {
		return
	}
	d.started.Store(true)
	go func() {
		defer close(d.done)
		d.rd.Run(ctx)
	}()
}

func (d *deliveries) wait() {
	if d == nil {
		return
	}
	if d.started.Load() {
		<-d.done
	}
}

// logRecorder is recorder for the PostgreSQL log (deliveries_shared.go has its pickup).
func (d *deliveries) logRecorder(st transactionLog) proxy.Recorder {
	if d == nil || len(d.pickup) == 0 {
		return st
	}
	return logPickupRecorder{transactionLog: st, d: d}
}

// pickupRecorder records through the store and hands failed inline calls of redeliver: auto
// routes to the redeliverer, after the store has them.
type pickupRecorder struct {
	*store.Store
	d *deliveries
}

func (r pickupRecorder) RecordResult(tx *txn.Transaction) error {
	if !r.d.pickup[tx.Route] || tx.ReplayOf != "" || tx.Outcome == txn.OutcomeDelivered || tx.Outcome == txn.OutcomePartial {
		return r.Store.RecordResult(tx)
	}
	c := *tx // the store's committer may read tx once it has it
	c.Findings = append([]txn.Finding(nil), tx.Findings...)
	c.Response.Headers = tx.Response.Headers.Clone()
	err := r.Store.RecordResult(tx)
	go r.d.rd.Pickup(c)
	return err
}

// replaySender resends through the reverse proxy, which exists only once the pipeline does.
type replaySender struct {
	p atomic.Pointer[proxy.Proxy]
}

func (s *replaySender) Replay(ctx context.Context, tx txn.Transaction, onlyFailed bool) (string, error) {
	p := s.p.Load()
	if p == nil {
		return "", errors.New("the proxy is not running yet")
	}
	return p.Replay(ctx, tx, onlyFailed)
}

// deliveriesAPI gives the admin API the redeliverer, its errors in the API's words.
type deliveriesAPI struct{ rd *redeliver.Redeliverer }

func (a deliveriesAPI) List(ctx context.Context, f store.DeliveryFilter) ([]store.Delivery, error) {
	return a.rd.List(ctx, f)
}

func (a deliveriesAPI) Retry(id, actor string) (store.Delivery, error) {
	d, err := a.rd.Retry(id, actor)
	return d, busy(err)
}

func (a deliveriesAPI) RetryRoute(ctx context.Context, route, actor string) (int, error) {
	return a.rd.RetryRoute(ctx, route, actor)
}

func (a deliveriesAPI) Drop(id string) (store.Delivery, error) {
	d, err := a.rd.Drop(id)
	return d, busy(err)
}

func busy(err error) error {
	if errors.Is(err, redeliver.ErrBusy) {
		return fmt.Errorf("%w: %w", inspect.ErrDeliveryBusy, err)
	}
	return err
}

// deliveryCollector reads the delivery queue at scrape time.
type deliveryCollector struct{ rd *redeliver.Redeliverer }

var (
	descDeliveryDepth = prometheus.NewDesc("mtguard_delivery_queue_depth", "Calls in the delivery queue not yet delivered nor dead (pending, retrying, sending, held), by route.", []string{"route"}, nil)
	descDeliveryHeld  = prometheus.NewDesc("mtguard_delivery_held", "Calls held for a person: the vendor may have acted on them, by route.", []string{"route"}, nil)
	descDeliveryDead  = prometheus.NewDesc("mtguard_delivery_dead_letters", "Dead letters in the delivery queue (given up, not dropped), by route.", []string{"route"}, nil)
	descDeliveryAge   = prometheus.NewDesc("mtguard_delivery_oldest_age_seconds", "Age of the oldest call in the delivery queue, by route.", []string{"route"}, nil)
	descDeliveryRetry = prometheus.NewDesc("mtguard_delivery_retries_total", "Delivery attempts after a call's first, since mtguard started, by route.", []string{"route"}, nil)
	descDeliveryGone  = prometheus.NewDesc("mtguard_delivery_dead_letters_total", "Calls that became dead letters since mtguard started, by route.", []string{"route"}, nil)
)

func (c deliveryCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{descDeliveryDepth, descDeliveryHeld, descDeliveryDead, descDeliveryAge, descDeliveryRetry, descDeliveryGone} {
		ch <- d
	}
}

func (c deliveryCollector) Collect(ch chan<- prometheus.Metric) {
	stats, err := c.rd.Stats(context.Background())
	if err != nil {
		return
	}
	for _, s := range stats {
		ch <- prometheus.MustNewConstMetric(descDeliveryDepth, prometheus.GaugeValue, float64(s.Depth), s.Route)
		ch <- prometheus.MustNewConstMetric(descDeliveryHeld, prometheus.GaugeValue, float64(s.Held), s.Route)
		ch <- prometheus.MustNewConstMetric(descDeliveryDead, prometheus.GaugeValue, float64(s.Dead), s.Route)
		ch <- prometheus.MustNewConstMetric(descDeliveryAge, prometheus.GaugeValue, s.Oldest.Seconds(), s.Route)
		ch <- prometheus.MustNewConstMetric(descDeliveryRetry, prometheus.CounterValue, float64(s.Retries), s.Route)
		ch <- prometheus.MustNewConstMetric(descDeliveryGone, prometheus.CounterValue, float64(s.DeadLetters), s.Route)
	}
}
