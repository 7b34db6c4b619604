package main

import (
	"context"
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
	n, alerts, err := copyLog(ctx, src, dst)
	var records, shapes int
	if err == nil {
		records, shapes, err = copyKept(src, dst)
	}
	if cerr := dst.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("store copy: after %d calls: %w", n, err)
	}
	fmt.Fprintf(stdout, "copied %d calls and %d alerts from %s to PostgreSQL; running it again copies only what changed (calls are matched by id)\n", n, alerts, path)
	if records+shapes > 0 {
		fmt.Fprintf(stdout, "copied %d records in flight on journeys and %d learned payload shapes\n", records, shapes)
	}
	return nil
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

// copyLog copies every call of src, oldest first, and the alert history into dst. Calls are
// written as results with their request side, so a call already in dst is overwritten, not
// doubled.
func copyLog(ctx context.Context, src store.Log, dst store.Log) (calls, alerts int, err error) {
	cursor := ""
	for {
		page, err := src.Query(ctx, store.Query{Ascending: true, Limit: 1000, Cursor: cursor})
		if err != nil {
			return calls, 0, err
		}
		for i := range page.Transactions {
			tx := &page.Transactions[i]
			tx.IntentStored = false
			if tx.Outcome == txn.OutcomePending {
				continue // Open settled every pending call; none is left but one written meanwhile
			}
			if err := dst.RecordResult(tx); err != nil {
				return calls, 0, err
			}
			calls++
		}
		if err := dst.Sync(ctx); err != nil {
			return calls, 0, err
		}
		if page.Next == "" {
			break
		}
		cursor = page.Next
	}
	as, err := src.Alerts(store.AlertQuery{Limit: 1000})
	if err != nil {
		return calls, 0, err
	}
	for _, a := range as {
		if err := dst.PutAlert(a); err != nil {
			return calls, alerts, err
		}
		alerts++
	}
	if err := dst.Sync(ctx); err != nil {
		return calls, alerts, err
	}
	return calls, alerts, nil
}
