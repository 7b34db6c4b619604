package main

import (
	"time"

	"github.com/rs/zerolog"

	"github.com/mtguard/mtguard/pgstore"
	"github.com/mtguard/mtguard/proxy"
	"github.com/mtguard/mtguard/store"
)

// pauseKeeper is a log that keeps the limiter's long pauses across restarts: the bbolt store,
// and the PostgreSQL one.
type pauseKeeper interface {
	PutPause(group string, p store.Pause) error
	Pauses() (map[string]store.Pause, error)
}

var (
	_ pauseKeeper = (*store.Store)(nil)
	_ pauseKeeper = (*pgstore.Store)(nil)
)

// keepPauses puts back the pauses a previous run kept (a spent quota, a rolling quota being
// probed) and keeps the long pauses of this run in the store, so that a restart neither forgets
// a spent quota nor sends the next call into the vendor's quota error.
func keepPauses(l *proxy.Limiter, st pauseKeeper, log zerolog.Logger) {
	kept, err := st.Pauses()
	if err != nil {
		log.Error().Err(err).Msg("could not read the limits pauses kept by the previous run; starting without them")
	}
	for group, p := range kept {
		l.RestorePause(group, p.Until, p.Reason, p.Probing)
		if p.Probing || p.Until.After(time.Now()) {
			log.Info().Str("group", group).Time("until", p.Until).Bool("probing", p.Probing).Str("reason", p.Reason).Msg("limits group paused by the previous run")
		}
	}
	l.OnPause(func(group string, until time.Time, why string, probing bool) {
		if err := st.PutPause(group, store.Pause{Until: until, Reason: why, Probing: probing}); err != nil {
			log.Error().Err(err).Str("group", group).Msg("could not keep a limits pause across restarts")
		}
	})
}
