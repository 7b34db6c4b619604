package main

import (
	"context"
	"time"

	"github.com/rs/zerolog"

	"github.com/mtguard/mtguard/alerts"
)

// alertLease is how long the instance that leads alert evaluation holds its lease without
// renewing it: when it dies, another instance opens incidents and sends notifications within
// this period (plus one renewal period, alertLease/3).
const alertLease = 15 * time.Second

// followsForAlerts reports whether st is shared by several instances (PostgreSQL), so that
// the alert engine must start as a follower and wait to be elected by leadAlerts.
func followsForAlerts(st transactionLog) bool {
	_, ok := st.(pgLog)
	return ok
}

// leadAlerts elects, with the PostgreSQL log's lease "alerts", the one instance whose engine
// opens incidents and sends notifications, and keeps the election going until ctx ends. An
// instance that cannot reach the database keeps leading until its lease would have run out
// (nobody else can take it before), so a store_write alert still fires. With the bbolt log it
// returns at once: the one instance leads.
func leadAlerts(ctx context.Context, st transactionLog, engine *alerts.Engine, log zerolog.Logger) {
	pg, ok := st.(pgLog)
	if !ok {
		return
	}
	lease := heldLease{pg: pg, name: "alerts", period: alertLease}
	try := func() {
		lead, err := lease.renew(ctx, !lease.held.IsZero())
		switch {
		case ctx.Err() != nil:
			return
		case err != nil:
			log.Warn().Err(err).Msg("alerts: could not renew the alert evaluation lease")
		case lead:
			// Acknowledgements and silences given on the other instances.
			if err := engine.SyncShared(); err != nil {
				log.Warn().Err(err).Msg("alerts: could not read the shared alert history")
			}
		}
		if engine.SetLeading(ctx, lead) {
			if lead {
				log.Info().Str("instance", pg.Instance()).Msg("alerts: this instance leads alert evaluation (one alert per incident for every instance)")
			} else {
				log.Info().Str("instance", pg.Instance()).Msg("alerts: another instance leads alert evaluation")
			}
		}
	}
	try()
	t := time.NewTicker(alertLease / 3)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			try()
		}
	}
}
