package main

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/mtguard/mtguard/store"
)

// QueuedDeliveries counts the calls of route still in the delivery queue (not yet delivered
// nor dead): a reload that removes the route refuses while any wait, unless told to drop them.
func (d *deliveries) QueuedDeliveries(route string) (int, error) {
	ds, err := d.waiting(context.Background(), route)
	return len(ds), err
}

// DropQueuedDeliveries drops every call of route still waiting in the queue, for a reload
// that removes the route with --drop-queued; reason goes to the log beside each id. A call
// whose attempt is on the wire cannot be dropped until the attempt ends: those are tried again
// until dropQueuedWait has passed, then reported.
func (d *deliveries) DropQueuedDeliveries(ctx context.Context, route, reason string) (int, error) {
	ctx, cancel := context.WithTimeout(ctx, dropQueuedWait)
	defer cancel()
	n := 0
	for {
		ds, err := d.waiting(ctx, route)
		if err != nil {
			return n, err
		}
		var errs []error
		for _, x := range ds {
			if _, err := d.rd.Drop(x.ID); err != nil {
				errs = append(errs, fmt.Errorf("drop delivery %s: %w", x.ID, err))
				continue
			}
			n++
			d.log.Warn().Str("route", route).Str("call", x.ID).Str("reason", reason).Msg("queued delivery dropped")
		}
		if len(errs) == 0 {
			return n, nil
		}
		select {
		case <-ctx.Done():
			return n, errors.Join(errs...)
		case <-time.After(50 * time.Millisecond): // an attempt on the wire ends, then it can go
		}
	}
}

// dropQueuedWait bounds how long a reload waits for attempts on the wire before it reports
// the calls it could not drop.
const dropQueuedWait = 10 * time.Second

// waiting lists route's deliveries that are neither delivered nor dead.
func (d *deliveries) waiting(ctx context.Context, route string) ([]store.Delivery, error) {
	if d == nil || d.rd == nil {
		return nil, nil
	}
	all, err := d.rd.List(ctx, store.DeliveryFilter{Route: route})
	if err != nil {
		return nil, fmt.Errorf("delivery queue of %s: %w", route, err)
	}
	var out []store.Delivery
	for _, x := range all {
		if x.State != store.DeliveryDead {
			out = append(out, x)
		}
	}
	return out, nil
}
