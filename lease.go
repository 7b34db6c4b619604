package main

import (
	"context"
	"time"
)

// heldLease is one of the PostgreSQL log's leases (pgstore.Store.Lead), asked for again every
// period/3 by the jobs that run on one instance for all of them (alert evaluation, journeys,
// drift, read-back). An instance that cannot reach the database keeps a lease it held until
// that lease would have run out: nobody else can take it before.
type heldLease struct {
	pg interface {
		Lead(ctx context.Context, job string, ttl time.Duration) (bool, error)
	}
	name   string
	period time.Duration
	held   time.Time // when the lease was last taken or renewed (taken before asking)
}

// renew asks for the lease. holding says whether this instance ran the job until now; when
// the database does not answer, lead is true only if it did and its lease has not run out.
func (l *heldLease) renew(ctx context.Context, holding bool) (lead bool, err error) {
	tried := time.Now()
	lead, err = l.pg.Lead(ctx, l.name, l.period)
	switch {
	case err != nil:
		return holding && time.Since(l.held) < l.period, err
	case lead:
		l.held = tried
	}
	return lead, nil
}
