package redeliver

import (
	"context"
	"slices"
	"time"

	"github.com/mtguard/mtguard/store"
	"github.com/mtguard/mtguard/txn"
)

// settleInDoubt settles the attempts a crash left in doubt (state sending): the pipeline journals
// every call before it leaves, so the log says whether the attempt was sent and, if its answer
// was recorded, what it was. An attempt the log does not hold was never sent; one the crash
// cut short is interrupted, which only an idempotent call resends.
func (r *Redeliverer) settleInDoubt(ctx context.Context) {
	list, err := r.cfg.Queue.Deliveries(ctx, store.DeliveryFilter{State: store.DeliverySending})
	if err != nil {
		r.cfg.Logger.Error().Err(err).Msg("redeliver: could not read the delivery queue to settle attempts in doubt")
		return
	}
	r.settle(ctx, r.mine(list)) // another live instance settles its own
}

// settle settles the attempts in doubt of list, as settleInDoubt does.
func (r *Redeliverer) settle(ctx context.Context, list []store.Delivery) {
	for _, d := range list {
		pol, ok := r.cfg.Policies[d.Route]
		if !ok {
			r.hold(d.ID, "an attempt was in doubt after a restart, and its route has no delivery block any more")
			continue
		}
		re, found, err := r.findAttempt(ctx, d)
		if err != nil {
			r.cfg.Logger.Error().Err(err).Str("id", d.ID).Msg("redeliver: could not look up an attempt in doubt")
			continue
		}
		if found {
			r.settleAttempt(d.ID, pol, &re, "")
			continue
		}
		_, _ = r.update(d.ID, func(d *store.Delivery) error {
			if n := len(d.Attempts); n > 0 {
				d.Attempts[n-1].Error = "not sent: mtguard stopped after recording the attempt and before sending it"
			}
			d.State, d.NextAt = store.DeliveryRetrying, r.cfg.Now()
			return nil
		})
	}
}

// findAttempt looks in the log for the transaction of d's last attempt: a replay of d's call
// recorded at or after the attempt began.
func (r *Redeliverer) findAttempt(ctx context.Context, d store.Delivery) (txn.Transaction, bool, error) {
	if len(d.Attempts) == 0 {
		return txn.Transaction{}, false, nil
	}
	at := d.Attempts[len(d.Attempts)-1].At
	known := func(id string) bool {
		return slices.ContainsFunc(d.Attempts, func(a store.DeliveryAttempt) bool { return a.TxID == id })
	}
	q := store.Query{Route: d.Route, Since: at.Add(-time.Second), Ascending: true, Limit: 1000}
	for {
		page, err := r.cfg.Queue.Query(ctx, q)
		if err != nil {
			return txn.Transaction{}, false, err
		}
		for _, tx := range page.Transactions {
			if tx.ReplayOf == d.ID && !tx.Time.Before(at) && !known(tx.ID) {
				return tx, true, nil
			}
		}
		if page.Next == "" {
			return txn.Transaction{}, false, nil
		}
		q.Cursor = page.Next
	}
}
