package redeliver

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sort"
	"time"

	"github.com/mtguard/mtguard/store"
)

// ErrNotQueued is returned for a call that is not in the delivery queue.
var ErrNotQueued = errors.New("not in the delivery queue")

// ErrBusy is returned for a delivery whose attempt is on its way.
var ErrBusy = errors.New("an attempt is on its way")

// List returns the deliveries matching f, oldest first.
func (r *Redeliverer) List(ctx context.Context, f store.DeliveryFilter) ([]store.Delivery, error) {
	return r.cfg.Queue.Deliveries(ctx, f)
}

// Retry makes delivery id due now, whatever its state (a held or dead one included): a person
// decided it should be sent again. It returns the delivery as it now stands.
func (r *Redeliverer) Retry(id, actor string) (store.Delivery, error) {
	r.mu.Lock()
	busy := r.inflight[id]
	r.mu.Unlock()
	d, err := r.update(id, func(d *store.Delivery) error {
		if d.State == store.DeliverySending || busy && !attemptSettled(d.State) {
			return ErrBusy
		}
		d.State, d.NextAt = store.DeliveryRetrying, r.cfg.Now()
		d.Reason = fmt.Sprintf("retry asked for by %s at %s", actorName(actor), r.cfg.Now().UTC().Format(time.RFC3339))
		// A person's retry gets the route's attempts and give_up_after afresh; the old
		// attempts stay listed.
		d.RetriedAt, d.RetriedBy = r.cfg.Now(), actorName(actor)
		return nil
	})
	if errors.Is(err, store.ErrNotFound) {
		return d, fmt.Errorf("call %s: %w: %w", id, ErrNotQueued, store.ErrNotFound)
	}
	if err == nil {
		r.Wake()
	}
	return d, err
}

// RetryRoute retries every held, dead or retrying delivery of route; it returns how many.
func (r *Redeliverer) RetryRoute(ctx context.Context, route, actor string) (int, error) {
	list, err := r.cfg.Queue.Deliveries(ctx, store.DeliveryFilter{Route: route})
	if err != nil {
		return 0, err
	}
	n := 0
	for _, d := range list {
		if d.State == store.DeliverySending || d.State == store.DeliveryPending {
			continue
		}
		if _, err := r.Retry(d.ID, actor); err == nil {
			n++
		}
	}
	return n, nil
}

// Drop removes delivery id from the queue without sending it again; the caller records who
// and why in the audit log. Its transactions stay in the log.
func (r *Redeliverer) Drop(id string) (store.Delivery, error) {
	r.mu.Lock()
	busy := r.inflight[id]
	r.mu.Unlock()
	var dropped store.Delivery
	_, err := r.update(id, func(d *store.Delivery) error {
		if d.State == store.DeliverySending || busy && !attemptSettled(d.State) {
			return ErrBusy
		}
		dropped = *d
		return store.ErrDeliveryDone
	})
	if errors.Is(err, store.ErrNotFound) {
		return dropped, fmt.Errorf("call %s: %w: %w", id, ErrNotQueued, store.ErrNotFound)
	}
	return dropped, err
}

// attemptSettled reports whether an attempt still marked in flight has written its last word
// on a delivery in state: held and dead are written last, and nothing starts another attempt
// of them by itself, so a person may retry or drop it in the moment before the mark is
// cleared (a drop answered 409 there, seen under load).
func attemptSettled(state string) bool {
	return state == store.DeliveryHeld || state == store.DeliveryDead
}

func actorName(a string) string {
	if a == "" {
		return "an operator"
	}
	return a
}

// RouteStats is one route's delivery queue, for health and /metrics.
type RouteStats struct {
	Route string `json:"route"`
	// Depth counts the deliveries not yet delivered nor dead: pending, retrying, sending, held.
	Depth int `json:"depth"`
	Held  int `json:"held"`
	Dead  int `json:"dead"`
	// Oldest is the age of the oldest delivery counted in Depth.
	Oldest time.Duration `json:"oldest_ns"`
	// Retries counts attempts after a call's first since mtguard started; DeadLetters the
	// deliveries that became dead letters since then.
	Retries     int64 `json:"retries"`
	DeadLetters int64 `json:"dead_letters"`
}

// Stats reports every route with a delivery policy, sorted by name.
func (r *Redeliverer) Stats(ctx context.Context) ([]RouteStats, error) {
	list, err := r.cfg.Queue.Deliveries(ctx, store.DeliveryFilter{})
	if err != nil {
		return nil, err
	}
	now := r.cfg.Now()
	by := map[string]*RouteStats{}
	for route := range r.cfg.Policies {
		by[route] = &RouteStats{Route: route}
	}
	for _, d := range list {
		s := by[d.Route]
		if s == nil {
			s = &RouteStats{Route: d.Route}
			by[d.Route] = s
		}
		switch d.State {
		case store.DeliveryDead:
			s.Dead++
			continue
		case store.DeliveryHeld:
			s.Held++
		}
		s.Depth++
		s.Oldest = max(s.Oldest, now.Sub(d.Created))
	}
	r.mu.Lock()
	for route, n := range r.retries {
		if s := by[route]; s != nil {
			s.Retries = n
		}
	}
	for route, n := range r.dead {
		if s := by[route]; s != nil {
			s.DeadLetters = n
		}
	}
	r.mu.Unlock()
	out := make([]RouteStats, 0, len(by))
	for _, s := range by {
		out = append(out, *s)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Route < out[j].Route })
	return slices.Clip(out), nil
}
