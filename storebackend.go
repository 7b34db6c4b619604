package main

import (
	"context"
	"fmt"
	"sync/atomic"
	"time"

	"github.com/rs/zerolog"

	"github.com/mtguard/mtguard/alerts"
	"github.com/mtguard/mtguard/config"
	"github.com/mtguard/mtguard/inspect"
	"github.com/mtguard/mtguard/pgstore"
	"github.com/mtguard/mtguard/store"
)

// transactionLog is what serve holds of the transaction log, whichever the backend: the
// contract (store.Log), the retention job and the figures the metrics show.
type transactionLog interface {
	store.Log
	RunRetention(ctx context.Context, retention, interval time.Duration, report func(deleted int, err error))
	Stats() store.Stats
	WriteFailures() store.WriteFailures
	HeldWrites() int64
}

var (
	_ transactionLog = (*store.Store)(nil)
	_ transactionLog = pgLog{}
)

// pgLog is the PostgreSQL log, with its local spool, and the figures the metrics read of the
// bbolt one.
type pgLog struct{ *pgstore.Spooled }

func (l pgLog) Stats() store.Stats {
	return store.Stats{Commits: l.Commits(), CommitFailures: l.CommitFailures()}
}

// LogSize is the size of mtguard's tables in PostgreSQL, for the store size metric; 0 while
// the database does not answer.
func (l pgLog) LogSize() int64 {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	n, err := l.Size(ctx)
	if err != nil {
		return 0
	}
	return n
}

func (l pgLog) WriteFailures() store.WriteFailures {
	return store.WriteFailures{Commit: l.CommitFailures()}
}

// storeDSN reads store.dsn_env once, at start: "" for the bbolt backend.
func storeDSN(s config.Store, getenv func(string) string) (string, error) {
	if s.Backend != config.StorePostgres {
		return "", nil
	}
	dsn := getenv(s.DSNEnv)
	if dsn == "" {
		return "", fmt.Errorf("store.dsn_env names %s, but that environment variable is empty; set it to the PostgreSQL connection string (postgres://user:password@host:5432/db?sslmode=verify-full)", s.DSNEnv)
	}
	return dsn, nil
}

// openPostgres opens the PostgreSQL log, migrating its schema first (under the migration lock,
// so instances starting together do not race), with its spool (store.spool_dir) for the writes
// PostgreSQL does not take while it is away. Every committed call goes to the alert engine;
// a failed commit and the spool's use are logged and alerted. The DSN is never logged.
func openPostgres(ctx context.Context, dsn, spoolPath string, engine *alerts.Engine, log zerolog.Logger) (transactionLog, error) {
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	var opened atomic.Pointer[pgstore.Spooled]
	recovered := func() {
		if s := opened.Load(); s == nil || s.Healthy() == nil {
			engine.StoreWriteRecovered()
		}
	}
	st, err := pgstore.OpenSpooled(ctx, dsn, pgstore.Options{
		Migrate:  true,
		OnResult: engine.Observe,
		OnWriteError: func(err error) {
			log.Error().Err(err).Msg("transaction log write failed (PostgreSQL); calls are kept in the local spool (store.spool_dir) and /readyz fails until PostgreSQL has them")
			engine.StoreWriteFailed(store.OpCommit, err)
		},
		OnWriteRecovered: func() {
			log.Warn().Msg("transaction log writes again (PostgreSQL)")
			recovered()
		},
	}, spoolPath, pgstore.SpoolOptions{
		OnSpooling: func(err error) {
			log.Error().Err(err).Str("spool", spoolPath).Msg("PostgreSQL does not take writes: calls are recorded in the local spool until it does (store.on_error decides whether they are forwarded meanwhile)")
		},
		OnRefused: func(id string, err error) {
			log.Error().Err(err).Str("id", id).Str("spool", spoolPath).Msg("PostgreSQL refused a call kept in the spool while it answered; it is set aside in the spool file (bucket refused) and not retried")
		},
		OnDrained: func(moved int) {
			log.Warn().Int("writes", moved).Str("spool", spoolPath).Msg("PostgreSQL takes writes again: the spool is emptied into it")
			recovered()
		},
	})
	if err != nil {
		return nil, fmt.Errorf("store: PostgreSQL (store.dsn_env): %w", err)
	}
	opened.Store(st)
	log.Info().Str("instance", st.Instance()).Int("schema_version", pgstore.SchemaVersion()).Str("spool", spoolPath).Msg("transaction log: PostgreSQL")
	if n := st.Recovered(); n > 0 {
		log.Warn().Int("calls", n).Msg("the spool held calls of the previous run without an outcome: marked interrupted (or given the vendor's status, finding outcome.unchecked)")
	}
	if n := st.SpoolLen(); n > 0 {
		log.Warn().Int64("writes", n).Msg("the spool of the previous run could not be emptied into PostgreSQL yet; it is retried in the background")
	}
	return pgLog{st}, nil
}

// backuper is the log's online backup, which only the bbolt backend has (a PostgreSQL log is
// backed up with the database's own tools); nil leaves POST /api/backup unserved.
func backuper(st transactionLog) inspect.Backuper {
	if b, ok := st.(inspect.Backuper); ok {
		return b
	}
	return nil
}
