package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/mtguard/mtguard/cli"
	"github.com/mtguard/mtguard/config"
	"github.com/mtguard/mtguard/pgstore"
	"github.com/mtguard/mtguard/store"
	"github.com/mtguard/mtguard/txn"
)

// cmdMigrate brings the PostgreSQL schema of store.dsn_env up to this binary's version, under
// the migration lock (serve does the same at start; migrate lets an upgrade do it first).
func cmdMigrate(ctx context.Context, args []string, stdout, stderr io.Writer, getenv func(string) string) error {
	fs := cli.NewFlagSet("migrate", stderr)
	configPath := fs.String("config", "mtguard.yaml", "config `file`")
	if _, err := cli.ParseFlags(fs, args); err != nil {
		return err
	}
	dsn, err := configDSN(*configPath, getenv)
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(ctx, 2*time.Minute)
	defer cancel()
	from, to, err := pgstore.MigrateDSN(ctx, dsn)
	if err != nil {
		return fmt.Errorf("migrate: %w", err)
	}
	if from == to {
		fmt.Fprintf(stdout, "the schema is at version %d, this mtguard's: nothing to do\n", to)
	} else {
		fmt.Fprintf(stdout, "migrated the schema from version %d to %d\n", from, to)
	}
	return nil
}

// configDSN loads the config and reads the connection string its store.dsn_env names.
func configDSN(path string, getenv func(string) string) (string, error) {
	cfg, err := config.Load(path)
	if err != nil {
		return "", err
	}
	if cfg.Store.Backend != config.StorePostgres {
		return "", fmt.Errorf("%s: store.backend is not postgres: there is no schema to migrate (the bbolt file migrates itself); set store: {backend: postgres, dsn_env: MTGUARD_PG_DSN}: %w", path, cli.ErrUsage)
	}
	return storeDSN(cfg.Store, getenv)
}

// cmdStore runs mtguard store SUBCOMMAND; only copy so far.
func cmdStore(ctx context.Context, args []string, stdout, stderr io.Writer, getenv func(string) string) error {
	if len(args) > 0 && args[0] == "verify" {
		return cli.Store(args, stdout, stderr)
	}
	if len(args) == 0 || args[0] != "copy" {
		fmt.Fprintln(stderr, "usage: mtguard store verify PATH | mtguard store copy --from bbolt:FILE --to postgres [--config FILE]")
		return fmt.Errorf("store: name a subcommand (verify or copy): %w", cli.ErrUsage)
	}
	fs := cli.NewFlagSet("store copy", stderr)
	from := fs.String("from", "", "the log to copy: bbolt:`FILE`")
	to := fs.String("to", "postgres", "where to: postgres (the database the config's store.dsn_env names)")
	configPath := fs.String("config", "mtguard.yaml", "config `file` naming store.dsn_env")
	if _, err := cli.ParseFlags(fs, args[1:]); err != nil {
		return err
	}
	path, ok := strings.CutPrefix(*from, "bbolt:")
	if !ok || path == "" {
		return fmt.Errorf("store copy: --from %q: write bbolt:FILE, the bbolt file of the mtguard you move from (stop it first: bbolt allows one process per file): %w", *from, cli.ErrUsage)
	}
	if *to != "postgres" {
		return fmt.Errorf("store copy: --to %q: only postgres: %w", *to, cli.ErrUsage)
	}
	dsn, err := configDSN(*configPath, getenv)
	if err != nil {
		return err
	}
	src, err := store.Open(path, store.Options{LockTimeout: 2 * time.Second})
	if err != nil {
		return fmt.Errorf("store copy: open %s (is an mtguard still serving it? stop it first): %w", path, err)
	}
	defer src.Close()
	dst, err := pgstore.Open(ctx, dsn, pgstore.Options{Migrate: true})
	if err != nil {
		return fmt.Errorf("store copy: %w", err)
	}
	n, err := copyLog(ctx, src, dst)
	if err == nil {
		n.journeys, n.shapes, err = copyKept(src, dst)
	}
	if cerr := dst.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("store copy: after %s: %w", n, err)
	}
	fmt.Fprintf(stdout, "copied %s from %s to PostgreSQL; running it again copies only what changed (matched by id)\n", n, path)
	return nil
}

// copied counts what store copy moved.
type copied struct {
	calls, alerts, audit, notifications, deliveries, pauses int
	journeys, shapes                                        int
}

func (c copied) String() string {
	return fmt.Sprintf("%d calls, %d alerts, %d audit entries, %d notification attempts, %d queued deliveries, %d limits pauses, %d records in flight on journeys and %d learned payload shapes",
		c.calls, c.alerts, c.audit, c.notifications, c.deliveries, c.pauses, c.journeys, c.shapes)
}

// copyKept copies the records in flight on journeys and the learned shapes, so the instances
// on dst carry on where the bbolt mtguard stopped.
func copyKept(src, dst store.Log) (records, shapes int, err error) {
	put := map[string][]byte{}
	if err := src.LoadJourneys(func(k string, v []byte) error { put[k] = v; return nil }); err != nil {
		return 0, 0, err
	}
	if err := dst.SaveJourneys(put, nil); err != nil {
		return 0, 0, err
	}
	learned := map[string][]byte{}
	if err := src.LoadShapes(func(r string, v []byte) error { learned[r] = v; return nil }); err != nil {
		return len(put), 0, err
	}
	if err := dst.SaveShapes(learned); err != nil {
		return len(put), 0, err
	}
	return len(put), len(learned), nil
}

// copyLog copies every call of src, oldest first, then the whole alert history, audit log,
// notification attempts, delivery queue and kept limits pauses into dst. Calls are written as
// results with their request side and alerts replace theirs, so a second copy overwrites rather
// than doubles; audit entries, notification attempts and deliveries already in dst are left as
// they are (a delivery may have been worked since).
func copyLog(ctx context.Context, src *store.Store, dst *pgstore.Store) (n copied, err error) {
	cursor := ""
	for {
		page, err := src.Query(ctx, store.Query{Ascending: true, Limit: 1000, Cursor: cursor})
		if err != nil {
			return n, err
		}
		for i := range page.Transactions {
			tx := &page.Transactions[i]
			tx.IntentStored = false
			if tx.Outcome == txn.OutcomePending {
				continue // Open settled every pending call; none is left but one written meanwhile
			}
			if err := dst.RecordResult(tx); err != nil {
				return n, err
			}
			n.calls++
		}
		if err := dst.Sync(ctx); err != nil {
			return n, err
		}
		if page.Next == "" {
			break
		}
		cursor = page.Next
	}
	err = src.EachAlert(func(a store.Alert) error {
		n.alerts++
		return dst.PutAlert(a)
	})
	if err != nil {
		return n, err
	}
	err = src.EachAudit(func(e store.AuditEntry) error {
		n.audit++
		return dst.PutAudit(e)
	})
	if err != nil {
		return n, err
	}
	err = src.EachNotification(func(a store.NotificationAttempt) error {
		n.notifications++
		return dst.PutNotification(a)
	})
	if err != nil {
		return n, err
	}
	ds, err := src.Deliveries(ctx, store.DeliveryFilter{})
	if err != nil {
		return n, err
	}
	for _, d := range ds {
		// Owned by this copy, whose lease ends when it closes: the first instance that looks
		// takes them over.
		if err := dst.Enqueue(d); err != nil && !errors.Is(err, store.ErrDeliveryExists) {
			return n, err
		}
		n.deliveries++
	}
	ps, err := src.Pauses()
	if err != nil {
		return n, err
	}
	for group, p := range ps {
		if err := dst.PutPause(group, p); err != nil {
			return n, err
		}
		n.pauses++
	}
	return n, dst.Sync(ctx)
}
