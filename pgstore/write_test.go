package pgstore_test

import (
	"context"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/mtguard/mtguard/pgstore"
	"github.com/mtguard/mtguard/store"
	"github.com/mtguard/mtguard/txn"
)

// TestWritePaths covers the writes of an outcome with the intent stored and without it (an
// intent that failed under on_error: forward, store copy), when the upsert brings the request
// side. The contract suite always stores the intent first.
func TestWritePaths(t *testing.T) {
	schema := freshSchema(t)
	s := openPG(t, schema, pgstore.Options{})
	ctx := context.Background()
	failed := txn.Result{Status: 400, Outcome: txn.OutcomeFailed, Findings: []txn.Finding{
		{Code: "auth.expired", Severity: "error"}, {Code: "response.silent_failure", Severity: "error"}}}
	delivered := txn.Result{Status: 201, Outcome: txn.OutcomeDelivered, Findings: []txn.Finding{}}
	for _, tc := range []struct {
		name        string
		intent      bool // RecordIntent first
		provisional bool // RecordProvisional before the result
		result      *txn.Result
		want        txn.Outcome
	}{
		{"intent, provisional, result", true, true, &failed, txn.OutcomeFailed},
		{"intent, result", true, false, &delivered, txn.OutcomeDelivered},
		{"intent only", true, false, nil, txn.OutcomePending},
		{"no intent: provisional, result", false, true, &failed, txn.OutcomeFailed},
		{"no intent: result", false, false, &delivered, txn.OutcomeDelivered},
	} {
		t.Run(tc.name, func(t *testing.T) {
			key := strings.ReplaceAll(tc.name, " ", "") + "@acme.com"
			tx := &txn.Transaction{Call: txn.Call{Time: time.Now().UTC(), Route: "crm", Method: "POST", Path: "/contacts",
				RecordKeys: []string{key, "other-" + key}, Request: txn.Message{Body: `{"email":"` + key + `"}`}}}
			if tc.intent {
				if err := s.RecordIntent(ctx, tx); err != nil {
					t.Fatal(err)
				}
			} else {
				tx.ID = s.NewID(tx.Time) // as the pipeline does when the intent fails
			}
			if tc.provisional {
				if err := s.RecordProvisional(ctx, tx, txn.Result{Status: tc.result.Status, Outcome: tc.result.Outcome, Findings: []txn.Finding{}}); err != nil {
					t.Fatal(err)
				}
			}
			if tc.result != nil {
				tx.Result = *tc.result
				if err := s.RecordResult(tx); err != nil {
					t.Fatal(err)
				}
			}
			got, err := s.Get(ctx, tx.ID)
			if err != nil {
				t.Fatal(err)
			}
			if got.Outcome != tc.want || got.Request.Body != tx.Request.Body || !slices.Equal(got.RecordKeys, tx.RecordKeys) {
				t.Fatalf("got outcome %q, body %q, keys %v; want %q, %q, %v", got.Outcome, got.Request.Body, got.RecordKeys, tc.want, tx.Request.Body, tx.RecordKeys)
			}
			byKey, err := s.Query(ctx, store.Query{RecordKey: "other-" + key})
			if err != nil || len(byKey.Transactions) != 1 || byKey.Transactions[0].ID != tx.ID {
				t.Fatalf("query by the second record key: %+v, %v", byKey.Transactions, err)
			}
			byOutcome, err := s.Query(ctx, store.Query{Outcome: tc.want, Limit: 1000})
			if err != nil || !slices.ContainsFunc(byOutcome.Transactions, func(x txn.Transaction) bool { return x.ID == tx.ID }) {
				t.Fatalf("query by outcome %q does not list the call: %v", tc.want, err)
			}
			for _, f := range []string{"auth.expired", "response.silent_failure"} {
				page, err := s.Query(ctx, store.Query{Finding: f, Limit: 1000})
				if err != nil {
					t.Fatal(err)
				}
				listed := slices.ContainsFunc(page.Transactions, func(x txn.Transaction) bool { return x.ID == tx.ID })
				if want := tc.want == txn.OutcomeFailed; listed != want {
					t.Fatalf("query by finding %s lists the call: %v, want %v", f, listed, want)
				}
			}
		})
	}
}

// TestLighterWritesMigration upgrades a log written with the first schema's indexes and pages
// (as 0001 made them) to migration 0007, and checks that the calls are still found by outcome
// and finding and that every day's partition leaves room for updates.
func TestLighterWritesMigration(t *testing.T) {
	schema := freshSchema(t)
	s := openPG(t, schema, pgstore.Options{})
	ctx := context.Background()
	var ids []string
	for i, r := range []*txn.Result{
		{Status: 201, Outcome: txn.OutcomeDelivered, Findings: []txn.Finding{}},
		{Status: 400, Outcome: txn.OutcomeFailed, Findings: []txn.Finding{{Code: "auth.expired", Severity: "error"}}},
		nil, // pending
	} {
		tx := &txn.Transaction{Call: txn.Call{Time: time.Now().UTC().Add(time.Duration(-i) * 24 * time.Hour), Route: "crm", Method: "POST", Path: "/contacts"}}
		if err := s.RecordIntent(ctx, tx); err != nil {
			t.Fatal(err)
		}
		if r != nil {
			tx.Result = *r
			if err := s.RecordResult(tx); err != nil {
				t.Fatal(err)
			}
		}
		ids = append(ids, tx.ID)
	}
	if err := s.Sync(ctx); err != nil {
		t.Fatal(err)
	}
	pool := schemaPool(t, schema)
	// Back to the schema before 0007, with the calls in it.
	for _, q := range []string{
		`DROP INDEX calls_outcome`, `CREATE INDEX calls_outcome ON calls (outcome, id)`,
		`DROP INDEX calls_findings`, `CREATE INDEX calls_findings ON calls USING gin (findings)`,
		`DO $$ DECLARE p regclass; BEGIN FOR p IN SELECT inhrelid::regclass FROM pg_inherits WHERE inhparent = 'calls'::regclass
			LOOP EXECUTE format('ALTER TABLE %s RESET (fillfactor)', p); END LOOP; END $$`,
		`DELETE FROM schema_version WHERE version = 7`,
	} {
		if _, err := pool.Exec(ctx, q); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
	}
	from, to, err := pgstore.Migrate(ctx, pool)
	if err != nil || to != pgstore.SchemaVersion() {
		t.Fatalf("migrate from %d: to %d, %v", from, to, err)
	}
	rows, err := pool.Query(ctx, `SELECT c.relname, coalesce(array_to_string(c.reloptions, ','), '') FROM pg_inherits i
		JOIN pg_class c ON c.oid = i.inhrelid WHERE i.inhparent = 'calls'::regclass`)
	if err != nil {
		t.Fatal(err)
	}
	parts, err := pgx.CollectRows(rows, pgx.RowToStructByPos[struct{ Name, Options string }])
	if err != nil || len(parts) < 4 {
		t.Fatalf("partitions %v, %v", parts, err)
	}
	for _, p := range parts {
		if p.Options != "fillfactor=50" {
			t.Errorf("partition %s: options %q, want fillfactor=50", p.Name, p.Options)
		}
	}
	for _, tc := range []struct {
		q    store.Query
		want string
	}{
		{store.Query{Outcome: txn.OutcomeDelivered}, ids[0]},
		{store.Query{Outcome: txn.OutcomeFailed}, ids[1]},
		{store.Query{Finding: "auth.expired"}, ids[1]},
		{store.Query{Outcome: txn.OutcomePending}, ids[2]},
	} {
		page, err := s.Query(ctx, tc.q)
		if err != nil || len(page.Transactions) != 1 || page.Transactions[0].ID != tc.want {
			t.Errorf("query %+v after the migration: %d calls, %v; want %s", tc.q, len(page.Transactions), err, tc.want)
		}
	}
}

// TestIntentWrittenTwice checks an intent stored already and written again (its first
// commit's answer was lost): writing it again succeeds without a second row, and an intent
// recorded at the same time (in the same batch when the writer takes both) is stored too.
func TestIntentWrittenTwice(t *testing.T) {
	s := openPG(t, freshSchema(t), pgstore.Options{})
	ctx := context.Background()
	first := &txn.Transaction{Call: txn.Call{Time: time.Now().UTC(), Route: "crm", Method: "POST", Path: "/contacts", RecordKeys: []string{"a@acme.com"}}}
	if err := s.RecordIntent(ctx, first); err != nil {
		t.Fatal(err)
	}
	again := *first
	again.IntentStored = false
	other := &txn.Transaction{Call: txn.Call{Time: time.Now().UTC(), Route: "crm", Method: "POST", Path: "/contacts", RecordKeys: []string{"b@acme.com"}}}
	errs := make(chan error, 2)
	for _, tx := range []*txn.Transaction{&again, other} {
		go func() { errs <- s.RecordIntent(ctx, tx) }()
	}
	for range 2 {
		if err := <-errs; err != nil {
			t.Fatalf("record intent: %v", err)
		}
	}
	for _, key := range []string{"a@acme.com", "b@acme.com"} {
		page, err := s.Query(ctx, store.Query{RecordKey: key})
		if err != nil || len(page.Transactions) != 1 || page.Transactions[0].Outcome != txn.OutcomePending {
			t.Fatalf("calls of %s: %+v, %v; want one, pending", key, page.Transactions, err)
		}
	}
}

// TestLateAnswerAfterForget forgets a person while their call waits for the vendor: the answer
// that comes afterwards must not leave a row holding it (Forget leaves no copy).
func TestLateAnswerAfterForget(t *testing.T) {
	schema := freshSchema(t)
	s := openPG(t, schema, pgstore.Options{})
	ctx := context.Background()
	for _, provisional := range []bool{false, true} {
		key := "late" + map[bool]string{false: "", true: "-prov"}[provisional] + "@acme.com"
		tx := &txn.Transaction{Call: txn.Call{Time: time.Now().UTC(), Route: "crm", Method: "POST", Path: "/contacts",
			RecordKeys: []string{key}, Request: txn.Message{Body: `{"email":"` + key + `"}`}}}
		if err := s.RecordIntent(ctx, tx); err != nil {
			t.Fatal(err)
		}
		rep, err := s.Forget(ctx, key)
		if err != nil || rep.Deleted != 1 {
			t.Fatalf("forget: %+v, %v", rep, err)
		}
		answer := txn.Result{Status: 201, Outcome: txn.OutcomeDelivered, Findings: []txn.Finding{},
			Response: txn.Message{Body: `{"id":"1","email":"` + key + `"}`}}
		if provisional {
			if err := s.RecordProvisional(ctx, tx, answer); err != nil {
				t.Fatal(err)
			}
		}
		tx.Result = answer
		if err := s.RecordResult(tx); err != nil {
			t.Fatal(err)
		}
		if err := s.Sync(ctx); err != nil {
			t.Fatal(err)
		}
		count := func() int {
			var n int
			if err := schemaPool(t, schema).QueryRow(ctx, `SELECT count(*) FROM calls WHERE strpos(coalesce(result::text, '') || coalesce(provisional::text, ''), $1) > 0`, key).Scan(&n); err != nil {
				t.Fatal(err)
			}
			return n
		}
		if count() == 0 {
			t.Fatal("the late answer left no row: the sweep below tests nothing")
		}
		if n, err := s.SweepForgotten(ctx); err != nil || n != 1 {
			t.Fatalf("sweep deleted %d rows (%v), want 1", n, err)
		}
		if n := count(); n != 0 {
			t.Fatalf("%d rows still hold the forgotten person's answer", n)
		}
	}
}
