package pgstore

import (
	"context"
	"embed"
	"errors"
	"fmt"
	"io/fs"
	"sort"
	"strconv"
	"strings"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
)

// migrations are the schema's versions, applied in order: NNNN_name.sql is version NNNN.
// A released file never changes; a change of schema is a new file. Versions are numbered by
// the branch that adds them, so a number may be missing for a while (its branch not merged
// yet) and arrive later: Migrate applies every version the database lacks, not only those above
// its highest.
//
//go:embed migrations/*.sql
var migrations embed.FS

// ErrSchemaNewer means the database was migrated by a newer mtguard than this one.
var ErrSchemaNewer = errors.New("database schema is newer than this mtguard")

// migration is one embedded schema version.
type migration struct {
	version int
	name    string
	sql     string
}

func loadMigrations() ([]migration, error) {
	files, err := fs.Glob(migrations, "migrations/*.sql")
	if err != nil {
		return nil, err
	}
	var out []migration
	for _, f := range files {
		base := strings.TrimPrefix(f, "migrations/")
		num, _, ok := strings.Cut(base, "_")
		v, err := strconv.Atoi(num)
		if !ok || err != nil {
			return nil, fmt.Errorf("migration %s: name it NNNN_what.sql", base)
		}
		b, err := migrations.ReadFile(f)
		if err != nil {
			return nil, err
		}
		out = append(out, migration{version: v, name: base, sql: string(b)})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].version < out[j].version })
	for i, m := range out {
		if m.version < 1 || i > 0 && m.version == out[i-1].version {
			return nil, fmt.Errorf("migration %s: version %d is taken or not positive", m.name, m.version)
		}
	}
	return out, nil
}

// SchemaVersion is the schema version this binary writes and reads.
func SchemaVersion() int {
	ms, err := loadMigrations()
	if err != nil || len(ms) == 0 {
		return 0
	}
	return ms[len(ms)-1].version
}

// Migrate brings the schema of the current search_path schema up to SchemaVersion, under a
// session advisory lock so that instances starting together apply each version once: the
// second waits, then finds nothing to do. It returns the versions before and after. A schema
// newer than the binary is an error wrapping ErrSchemaNewer, naming both versions.
func Migrate(ctx context.Context, pool *pgxpool.Pool) (from, to int, err error) {
	ms, err := loadMigrations()
	if err != nil {
		return 0, 0, fmt.Errorf("migrate: %w", err)
	}
	conn, err := pool.Acquire(ctx)
	if err != nil {
		return 0, 0, fmt.Errorf("migrate: %w", err)
	}
	defer conn.Release()
	const lock = `SELECT pg_advisory_lock(hashtext('mtguard.migrate.' || current_schema()))`
	if _, err := conn.Exec(ctx, lock); err != nil {
		return 0, 0, fmt.Errorf("migrate: take the migration lock: %w", err)
	}
	defer func() {
		// A session lock outlives a failed statement; release it on a context that is not done.
		_, _ = conn.Exec(context.WithoutCancel(ctx), `SELECT pg_advisory_unlock(hashtext('mtguard.migrate.' || current_schema()))`)
	}()
	if _, err := conn.Exec(ctx, `CREATE TABLE IF NOT EXISTS schema_version (
		version integer PRIMARY KEY,
		name    text NOT NULL,
		applied timestamptz NOT NULL DEFAULT now())`); err != nil {
		return 0, 0, fmt.Errorf("migrate: %w", err)
	}
	if err := conn.QueryRow(ctx, `SELECT coalesce(max(version), 0) FROM schema_version`).Scan(&from); err != nil {
		return 0, 0, fmt.Errorf("migrate: read schema version: %w", err)
	}
	latest := ms[len(ms)-1].version
	if from > latest {
		return from, from, fmt.Errorf("%w: the database is at schema version %d, this mtguard (%d) knows versions up to %d; run the newer mtguard, or point store.dsn_env at another database", ErrSchemaNewer, from, latest, latest)
	}
	applied, err := appliedVersions(ctx, conn)
	if err != nil {
		return 0, 0, err
	}
	to = from
	for _, m := range ms {
		if applied[m.version] {
			continue
		}
		err := pgx.BeginFunc(ctx, conn, func(tx pgx.Tx) error {
			if _, err := tx.Exec(ctx, m.sql); err != nil {
				return err
			}
			_, err := tx.Exec(ctx, `INSERT INTO schema_version (version, name) VALUES ($1, $2)`, m.version, m.name)
			return err
		})
		if err != nil {
			return from, to, fmt.Errorf("migrate: apply %s: %w", m.name, err)
		}
		to = max(to, m.version)
	}
	return from, to, nil
}

// appliedVersions reads which versions the database has.
func appliedVersions(ctx context.Context, q interface {
	Query(ctx context.Context, sql string, args ...any) (pgx.Rows, error)
}) (map[int]bool, error) {
	rows, err := q.Query(ctx, `SELECT version FROM schema_version`)
	if err != nil {
		return nil, fmt.Errorf("read schema versions: %w", err)
	}
	vs, err := pgx.CollectRows(rows, pgx.RowTo[int])
	if err != nil {
		return nil, fmt.Errorf("read schema versions: %w", err)
	}
	out := map[int]bool{}
	for _, v := range vs {
		out[v] = true
	}
	return out, nil
}

// checkVersion fails unless the schema is exactly the binary's version.
func checkVersion(ctx context.Context, pool *pgxpool.Pool) error {
	var v int
	err := pool.QueryRow(ctx, `SELECT coalesce(max(version), 0) FROM schema_version`).Scan(&v)
	if err != nil {
		return fmt.Errorf("read schema version (run mtguard migrate): %w", err)
	}
	switch want := SchemaVersion(); {
	case v > want:
		return fmt.Errorf("%w: the database is at schema version %d, this mtguard knows versions up to %d", ErrSchemaNewer, v, want)
	case v < want:
		return fmt.Errorf("the database is at schema version %d, this mtguard needs %d: run mtguard migrate", v, want)
	}
	ms, err := loadMigrations()
	if err != nil {
		return err
	}
	applied, err := appliedVersions(ctx, pool)
	if err != nil {
		return err
	}
	for _, m := range ms {
		if !applied[m.version] {
			return fmt.Errorf("the database lacks schema version %d (%s): run mtguard migrate", m.version, m.name)
		}
	}
	return nil
}

// MigrateDSN connects to dsn and runs Migrate (for mtguard migrate). Errors never carry the
// DSN's password.
func MigrateDSN(ctx context.Context, dsn string) (from, to int, err error) {
	cfg, err := pgxpool.ParseConfig(dsn)
	if err != nil {
		return 0, 0, fmt.Errorf("store.dsn_env: not a PostgreSQL connection string: %s", RedactDSN(err.Error(), dsn))
	}
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		return 0, 0, redacted{msg: RedactDSN(err.Error(), dsn), err: err}
	}
	defer pool.Close()
	if err := pool.Ping(ctx); err != nil {
		return 0, 0, redacted{msg: RedactDSN(fmt.Errorf("%w: %w", ErrUnavailable, err).Error(), dsn), err: ErrUnavailable}
	}
	from, to, err = Migrate(ctx, pool)
	if err != nil {
		return from, to, redacted{msg: RedactDSN(err.Error(), dsn), err: err}
	}
	return from, to, nil
}
