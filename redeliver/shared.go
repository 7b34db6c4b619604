package redeliver

import (
	"context"
	"time"

	"github.com/mtguard/mtguard/store"
)

// SharedQueue is a Queue that several instances share (the PostgreSQL log). Each delivery has
// an owner, the instance that queued it, and only its owner's redeliverer attempts it, so each
// is attempted by one instance at a time and delivered once. The deliveries of an instance that
// died (or stopped with work left) are claimed by another, each by one.
type SharedQueue interface {
	// OwnDeliveries lists the deliveries this instance works, oldest first.
	OwnDeliveries(ctx context.Context) ([]store.Delivery, error)
	// ClaimDeliveries takes over the deliveries of instances that are gone and returns them.
	ClaimDeliveries(ctx context.Context) ([]store.Delivery, error)
}

// claimEvery is how often a redeliverer on a shared queue looks for deliveries to take over.
const claimEvery = 5 * time.Second

// loadShared fills the mirror with this instance's deliveries, after claiming those left by
// instances that are gone.
func (r *Redeliverer) loadShared(ctx context.Context, sq SharedQueue) error {
	if _, err := sq.ClaimDeliveries(ctx); err != nil {
		return err
	}
	own, err := sq.OwnDeliveries(ctx)
	if err != nil {
		return err
	}
	m := newMirror()
	for _, d := range own {
		m.put(d, false)
	}
	r.mu.Lock()
	r.mem = m
	r.mu.Unlock()
	return nil
}

// adopt claims the deliveries of instances that are gone, adds them to the mirror and settles
// those whose attempt the dead instance left in doubt.
func (r *Redeliverer) adopt(ctx context.Context, sq SharedQueue) {
	claimed, err := sq.ClaimDeliveries(ctx)
	if err != nil {
		if ctx.Err() == nil {
			r.cfg.Logger.Error().Err(err).Msg("redeliver: could not claim the deliveries of stopped instances")
		}
		return
	}
	if len(claimed) == 0 {
		return
	}
	var doubt []store.Delivery
	r.mu.Lock()
	for _, d := range claimed {
		r.mem.put(d, false)
		if d.State == store.DeliverySending {
			doubt = append(doubt, d)
		}
	}
	r.mu.Unlock()
	r.cfg.Logger.Info().Int("deliveries", len(claimed)).Msg("redeliver: took over the delivery queue of a stopped instance")
	r.settle(ctx, doubt)
	r.Wake()
}

// mine keeps, of list, the deliveries in this instance's mirror (all of them on a queue that
// is not shared).
func (r *Redeliverer) mine(list []store.Delivery) []store.Delivery {
	if _, ok := r.cfg.Queue.(SharedQueue); !ok {
		return list
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	out := list[:0:0]
	for _, d := range list {
		if _, ok := r.mem.byID[d.ID]; ok {
			out = append(out, d)
		}
	}
	return out
}
