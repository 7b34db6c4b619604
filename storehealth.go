package main

import (
	"path/filepath"
	"sync/atomic"

	"github.com/rs/zerolog"

	"github.com/mtguard/mtguard/config"
	"github.com/mtguard/mtguard/store"
)

// storeOptions are the store's options as serve wires them: every committed call goes to the
// alert engine; every failed write is logged with its error and raises the store_write alert,
// and its recovery resolves it; the journal's preallocation fits the disk. writeHook is nil
// but in tests (a full disk on demand).
// opened is set once Open returns.
func storeOptions(cfg *config.Config, alerts *alerting, log zerolog.Logger, writeHook func(op string) error, opened *atomic.Pointer[store.Store]) store.Options {
	return store.Options{
		OnResult:        alerts.observe,
		JournalPrealloc: scaledPrealloc(cfg.Store.Path, log),
		WriteHook:       writeHook,
		OnWriteError: func(f store.WriteFailure) {
			ev := log.Error().Err(f.Err).Str("op", f.Op).Int("failures", f.Failures).Dur("retry_in", f.RetryIn)
			if f.Op == store.OpCommit {
				ev = ev.Int("held_writes", f.Held)
			}
			ev.Msg("transaction log write failed; nothing is dropped, the write is retried and /readyz fails until one succeeds")
			alerts.engine.StoreWriteFailed(f.Op, f.Err)
		},
		OnWriteRecovered: func(r store.WriteRecovery) {
			ev := log.Warn().Str("op", r.Op).Int("failures", r.Failures).Time("since", r.Since)
			if r.Op == store.OpCommit {
				ev = ev.Int("applied_writes", r.Applied)
			}
			ev.Msg("transaction log writes again")
			if s := opened.Load(); s == nil || s.Healthy() == nil { // every kind of write works
				alerts.engine.StoreWriteRecovered()
			}
		},
	}
}

// scaledPrealloc is the journal preallocation per segment for a store at path: journalPrealloc,
// or less on a disk without room for it (and then the log says so).
func scaledPrealloc(path string, log zerolog.Logger) int64 {
	got, free, err := store.JournalPrealloc(filepath.Dir(path), journalPrealloc)
	switch {
	case err != nil:
		log.Warn().Err(err).Msg("cannot read the free space of the store's disk; preallocating the journal in full")
	case got == 0:
		log.Warn().Int64("free_bytes", free).Int64("wanted_bytes", journalPrealloc).
			Msg("the store's disk is nearly full: journal segments are not preallocated (they grow as written, each sync costs more); free some space")
	case got < journalPrealloc:
		log.Warn().Int64("free_bytes", free).Int64("prealloc_bytes", got).Int64("wanted_bytes", journalPrealloc).
			Msg("the store's disk has little room: journal segments are preallocated smaller than usual; free some space")
	}
	return got
}
