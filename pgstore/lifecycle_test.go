package pgstore_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/mtguard/mtguard/pgstore"
	"github.com/mtguard/mtguard/store"
	"github.com/mtguard/mtguard/txn"
)

func schemaPool(t *testing.T, schema string) *pgxpool.Pool {
	t.Helper()
	cfg, err := pgxpool.ParseConfig(testDSN())
	if err != nil {
		t.Fatal(err)
	}
	cfg.ConnConfig.RuntimeParams["search_path"] = schema
	pool, err := pgxpool.NewWithConfig(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(pool.Close)
	return pool
}

func TestMigrateTwiceAtOnce(t *testing.T) {
	schema := freshSchema(t)
	pool := schemaPool(t, schema)
	if _, err := pool.Exec(context.Background(), `CREATE SCHEMA `+schema); err != nil {
		t.Fatal(err)
	}
	// Two instances starting together: the lock makes one apply each version, the other find
	// nothing to do.
	var wg sync.WaitGroup
	type res struct{ from, to int }
	out := make(chan res, 2)
	errs := make(chan error, 2)
	for range 2 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			from, to, err := pgstore.Migrate(context.Background(), pool)
			errs <- err
			out <- res{from, to}
		}()
	}
	wg.Wait()
	close(out)
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	var applied []res
	for r := range out {
		applied = append(applied, r)
	}
	want := pgstore.SchemaVersion()
	if !(applied[0] == res{0, want} && applied[1] == res{want, want}) && !(applied[1] == res{0, want} && applied[0] == res{want, want}) {
		t.Fatalf("migrations: %+v, want one 0->%d and one %d->%d", applied, want, want, want)
	}
	var n int
	if err := pool.QueryRow(context.Background(), `SELECT count(*) FROM schema_version`).Scan(&n); err != nil || n != pgstore.MigrationCount() {
		t.Fatalf("schema_version rows: %d %v", n, err)
	}
}

// TestMigrateFillsAGap: a version the database lacks below its highest (its branch merged
// after a higher one was applied) is refused by a store that does not migrate, naming it, and
// applied by Migrate.
func TestMigrateFillsAGap(t *testing.T) {
	schema := freshSchema(t)
	s := openPG(t, schema, pgstore.Options{})
	s.Close()
	pool := schemaPool(t, schema)
	ctx := context.Background()
	if _, err := pool.Exec(ctx, `DROP TABLE deliveries; DELETE FROM schema_version WHERE version = 4`); err != nil {
		t.Fatal(err)
	}
	_, err := pgstore.Open(ctx, testDSN(), pgstore.Options{Schema: schema})
	if err == nil || !strings.Contains(err.Error(), "lacks schema version 4 (0004_deliveries.sql): run mtguard migrate") {
		t.Fatalf("open without migrating = %v, want the missing version named", err)
	}
	from, to, err := pgstore.Migrate(ctx, pool)
	if err != nil || from != pgstore.SchemaVersion() || to != pgstore.SchemaVersion() {
		t.Fatalf("migrate = %d, %d, %v", from, to, err)
	}
	if _, err := pool.Exec(ctx, `SELECT count(*) FROM deliveries`); err != nil {
		t.Fatalf("the missing version was not applied: %v", err)
	}
}

func TestNewerSchemaRefused(t *testing.T) {
	schema := freshSchema(t)
	s := openPG(t, schema, pgstore.Options{})
	s.Close()
	pool := schemaPool(t, schema)
	if _, err := pool.Exec(context.Background(), `INSERT INTO schema_version (version, name) VALUES (99, '0099_future.sql')`); err != nil {
		t.Fatal(err)
	}
	for _, migrate := range []bool{true, false} {
		_, err := pgstore.Open(context.Background(), testDSN(), pgstore.Options{Schema: schema, Migrate: migrate})
		if !errors.Is(err, pgstore.ErrSchemaNewer) {
			t.Fatalf("migrate=%v: err = %v, want ErrSchemaNewer", migrate, err)
		}
		if !strings.Contains(err.Error(), "version 99") || !strings.Contains(err.Error(), fmt.Sprintf("up to %d", pgstore.SchemaVersion())) {
			t.Fatalf("the error does not name both versions: %v", err)
		}
	}
}

func TestOpenWithoutMigrateNeedsMigrate(t *testing.T) {
	schema := freshSchema(t)
	pool := schemaPool(t, schema)
	if _, err := pool.Exec(context.Background(), `CREATE SCHEMA `+schema); err != nil {
		t.Fatal(err)
	}
	_, err := pgstore.Open(context.Background(), testDSN(), pgstore.Options{Schema: schema})
	if err == nil || !strings.Contains(err.Error(), "mtguard migrate") {
		t.Fatalf("err = %v, want a hint to run mtguard migrate", err)
	}
}

func TestUnreachable(t *testing.T) {
	// Nothing listens on port 1; the password must not show in the error.
	_, err := pgstore.Open(context.Background(), "postgres://mtguard:s3cret-pw@127.0.0.1:1/x?connect_timeout=2", pgstore.Options{})
	if !errors.Is(err, pgstore.ErrUnavailable) && (err == nil || !strings.Contains(err.Error(), "unavailable")) {
		t.Fatalf("err = %v, want unavailable", err)
	}
	if strings.Contains(err.Error(), "s3cret-pw") {
		t.Fatalf("the error shows the password: %v", err)
	}
}

func TestRedactDSN(t *testing.T) {
	for _, tc := range []struct{ msg, dsn, want string }{
		{"cannot connect to postgres://u:pw@h/db", "postgres://u:pw@h/db", "cannot connect to postgres://u:xxxxx@h/db"},
		{"bad: host=h password=hunter2 user=u", "host=h password=hunter2 user=u", "bad: host=h password=xxxxx user=u"},
		{"p%40ss leaked", "postgres://u:p%40ss@h/db", "xxxxx leaked"},
	} {
		if got := pgstore.RedactDSN(tc.msg, tc.dsn); got != tc.want {
			t.Errorf("RedactDSN(%q) = %q, want %q", tc.msg, got, tc.want)
		}
	}
}

// TestDeadInstanceCallsSettled: an instance killed with calls in flight leaves them pending;
// once its lease runs out, a live instance settles them as the bbolt store does at Open.
func TestDeadInstanceCallsSettled(t *testing.T) {
	schema := freshSchema(t)
	a := openPG(t, schema, pgstore.Options{Instance: "a"})
	b := openPG(t, schema, pgstore.Options{Instance: "b"})
	ctx := context.Background()
	now := time.Now().UTC()
	plain := &txn.Transaction{Call: txn.Call{Time: now, Route: "crm", Method: "POST", Path: "/crm"}}
	answered := &txn.Transaction{Call: txn.Call{Time: now, Route: "crm", Method: "POST", Path: "/crm"}}
	for _, tx := range []*txn.Transaction{plain, answered} {
		if err := a.RecordIntent(ctx, tx); err != nil {
			t.Fatal(err)
		}
	}
	if err := a.RecordProvisional(ctx, answered, txn.Result{Status: 201, Outcome: txn.OutcomeDelivered, Findings: []txn.Finding{}}); err != nil {
		t.Fatal(err)
	}
	mine := &txn.Transaction{Call: txn.Call{Time: now, Route: "crm", Method: "POST", Path: "/crm"}}
	if err := b.RecordIntent(ctx, mine); err != nil {
		t.Fatal(err)
	}
	pgstore.Crash(a)
	if n, err := b.RecoverDead(ctx); err != nil || n != 0 {
		t.Fatalf("settled %d calls (err %v) of an instance whose lease still runs", n, err)
	}
	// Time passes: a's lease runs out.
	if _, err := schemaPool(t, schema).Exec(ctx, `UPDATE instances SET expires = now() - interval '1 second' WHERE id = 'a'`); err != nil {
		t.Fatal(err)
	}
	if n, err := b.RecoverDead(ctx); err != nil || n != 2 {
		t.Fatalf("settled %d calls (err %v), want 2", n, err)
	}
	check := func(id string, outcome txn.Outcome, code string) {
		t.Helper()
		got, err := b.Get(ctx, id)
		if err != nil {
			t.Fatal(err)
		}
		if got.Outcome != outcome || len(got.Findings) == 0 || got.Findings[len(got.Findings)-1].Code != code {
			t.Fatalf("%s: outcome %q findings %+v, want %s with %s", id, got.Outcome, got.Findings, outcome, code)
		}
	}
	check(plain.ID, txn.OutcomeInterrupted, txn.CodeOutcomeUnknown)
	check(answered.ID, txn.OutcomeDelivered, txn.CodeOutcomeUnchecked)
	if got, _ := b.Get(ctx, mine.ID); got.Outcome != txn.OutcomePending {
		t.Fatalf("a live instance's call was settled: %q", got.Outcome)
	}
}

func TestLeaderElection(t *testing.T) {
	schema := freshSchema(t)
	a := openPG(t, schema, pgstore.Options{Instance: "a"})
	b := openPG(t, schema, pgstore.Options{Instance: "b"})
	ctx := context.Background()
	lead := func(s *pgstore.Store) bool {
		t.Helper()
		ok, err := s.Lead(ctx, "alerts", time.Minute)
		if err != nil {
			t.Fatal(err)
		}
		return ok
	}
	if !lead(a) || lead(b) || !lead(a) {
		t.Fatal("a should take the lease and keep it, b should not get it")
	}
	// a dies; once its lease has run out, b takes over.
	if _, err := schemaPool(t, schema).Exec(ctx, `UPDATE leases SET expires = now() - interval '1 second'`); err != nil {
		t.Fatal(err)
	}
	if !lead(b) || lead(a) {
		t.Fatal("b should take over the expired lease")
	}
}

// TestRetentionDropsPartitions: whole days go with their partition, and calls in the default
// partition (older than every partition) row by row.
func TestRetentionDropsPartitions(t *testing.T) {
	schema := freshSchema(t)
	s := openPG(t, schema, pgstore.Options{})
	ctx := context.Background()
	now := time.Now().UTC()
	pool := schemaPool(t, schema)
	partitions := func() int {
		var n int
		if err := pool.QueryRow(ctx, `SELECT count(*) FROM pg_tables WHERE schemaname = $1 AND tablename LIKE 'calls\_p%'`, schema).Scan(&n); err != nil {
			t.Fatal(err)
		}
		return n
	}
	before := partitions()
	if before != 4 {
		t.Fatalf("%d daily partitions after open, want 4 (yesterday to two days ahead)", before)
	}
	var ids []string
	for _, at := range []time.Time{now.AddDate(0, 0, -30), now.AddDate(0, 0, -1), now} {
		tx := &txn.Transaction{Call: txn.Call{Time: at, Route: "crm", Method: "POST", Path: "/crm"}}
		if err := s.RecordIntent(ctx, tx); err != nil {
			t.Fatal(err)
		}
		ids = append(ids, tx.ID)
	}
	n, err := s.DeleteBefore(now.Truncate(24 * time.Hour))
	if err != nil || n != 2 {
		t.Fatalf("deleted %d (err %v), want 2", n, err)
	}
	if got := partitions(); got != before-1 {
		t.Fatalf("%d partitions after retention, want %d: yesterday's dropped", got, before-1)
	}
	for i, id := range ids {
		_, err := s.Get(ctx, id)
		if (i < 2) != errors.Is(err, store.ErrNotFound) {
			t.Fatalf("call %d: err %v", i, err)
		}
	}
	// A day whose calls were in the default partition gets them moved when its partition is made.
	old := now.AddDate(0, 0, -10)
	tx := &txn.Transaction{Call: txn.Call{Time: old, Route: "crm", Method: "POST", Path: "/crm"}}
	if err := s.RecordIntent(ctx, tx); err != nil {
		t.Fatal(err)
	}
	if err := s.EnsurePartitions(ctx, old); err != nil {
		t.Fatal(err)
	}
	var part string
	if err := pool.QueryRow(ctx, `SELECT tableoid::regclass::text FROM calls WHERE id = $1`, tx.ID).Scan(&part); err != nil {
		t.Fatal(err)
	}
	if want := "calls_p" + old.Format("20060102"); part != want {
		t.Fatalf("call in %s, want %s", part, want)
	}
}

// TestResultsKeptWhileDown: results recorded while PostgreSQL refuses writes are kept and
// committed when it accepts them again; Healthy fails meanwhile.
func TestResultsKeptWhileDown(t *testing.T) {
	schema := freshSchema(t)
	s := openPG(t, schema, pgstore.Options{})
	ctx := context.Background()
	tx := &txn.Transaction{Call: txn.Call{Time: time.Now().UTC(), Route: "crm", Method: "POST", Path: "/crm"}}
	if err := s.RecordIntent(ctx, tx); err != nil {
		t.Fatal(err)
	}
	pool := schemaPool(t, schema)
	// Writes fail as they would with the database down: the table refuses them.
	if _, err := pool.Exec(ctx, `ALTER TABLE calls ADD CONSTRAINT down CHECK (outcome IS NULL) NOT VALID`); err != nil {
		t.Fatal(err)
	}
	tx.Result = txn.Result{Status: 200, Outcome: txn.OutcomeDelivered, Findings: []txn.Finding{}}
	if err := s.RecordResult(tx); err != nil {
		t.Fatal(err)
	}
	if err := s.Sync(ctx); err == nil {
		t.Fatal("Sync succeeded while a result could not be committed")
	}
	// The writer retries in the background: while a retry is under way the result is out of
	// the held count, so wait for it to be back rather than read the count once.
	for deadline := time.Now().Add(5 * time.Second); s.HeldWrites() != 1 && time.Now().Before(deadline); {
		time.Sleep(10 * time.Millisecond)
	}
	if s.Healthy() == nil || s.HeldWrites() != 1 {
		t.Fatalf("healthy %v, held %d: want failing with 1 held", s.Healthy(), s.HeldWrites())
	}
	if _, err := pool.Exec(ctx, `ALTER TABLE calls DROP CONSTRAINT down`); err != nil {
		t.Fatal(err)
	}
	got, err := s.Get(ctx, tx.ID)
	if err != nil || got.Outcome != txn.OutcomeDelivered {
		t.Fatalf("after recovery: %q %v", got.Outcome, err)
	}
	if err := s.Healthy(); err != nil {
		t.Fatalf("still unhealthy: %v", err)
	}
}
