package main

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/mtguard/mtguard/store"
	"github.com/mtguard/mtguard/txn"
)

// pgTestDSN is the project machines' PostgreSQL (trust authentication, database test), or
// MTGUARD_TEST_PG_DSN.
func pgTestDSN() string {
	if dsn := os.Getenv("MTGUARD_TEST_PG_DSN"); dsn != "" {
		return dsn
	}
	return "postgres://postgres@127.0.0.1:5432/test?sslmode=disable&connect_timeout=3"
}

// pgSchemaDSN creates a fresh schema, dropped at the end of the test, and returns a DSN whose
// search_path is that schema. Without PostgreSQL the test is skipped, unless
// MTGUARD_TEST_SERVICES=1 makes it mandatory.
func pgSchemaDSN(t *testing.T) string {
	t.Helper()
	ctx := context.Background()
	pool, err := pgxpool.New(ctx, pgTestDSN())
	if err == nil {
		err = pool.Ping(ctx)
	}
	if err != nil {
		if os.Getenv("MTGUARD_TEST_SERVICES") == "1" {
			t.Fatalf("PostgreSQL is required (MTGUARD_TEST_SERVICES=1) but unreachable: %v", err)
		}
		t.Skipf("PostgreSQL is not reachable at 127.0.0.1:5432 (%v); set MTGUARD_TEST_SERVICES=1 to make this test mandatory", err)
	}
	var b [6]byte
	_, _ = rand.Read(b[:])
	schema := "mtguard_e2e_" + hex.EncodeToString(b[:])
	if _, err := pool.Exec(ctx, `CREATE SCHEMA `+schema); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_, _ = pool.Exec(context.Background(), `DROP SCHEMA IF EXISTS `+schema+` CASCADE`)
		pool.Close()
	})
	sep := "?"
	if strings.Contains(pgTestDSN(), "?") {
		sep = "&"
	}
	return pgTestDSN() + sep + "search_path=" + schema
}

const pgConfig = `
listen: 127.0.0.1:0
admin:
  listen: 127.0.0.1:0
store:
  backend: postgres
  dsn_env: MTGUARD_PG_DSN
routes:
  - name: crm
    prefix: /crm
    upstream: %s
    record_keys: [email]
`

// TestPostgresInstancesShareTheLog: two instances on one PostgreSQL log; calls spread over
// both are all seen by log --record on each, and the vendor's calls are all in the log.
func TestPostgresInstancesShareTheLog(t *testing.T) {
	dsn := pgSchemaDSN(t)
	var received atomic.Int64
	vendor := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		received.Add(1)
		io.Copy(io.Discard, r.Body)
		w.Header().Set("Content-Type", "application/json")
		io.WriteString(w, `{"id":"1"}`)
	}))
	defer vendor.Close()
	env := map[string]string{"MTGUARD_PG_DSN": dsn}
	cfg := fmt.Sprintf(pgConfig, vendor.URL)
	a := startMtguard(t, cfg, env)
	b := startMtguard(t, cfg, env)
	if !strings.Contains(a.stdout.String(), "store postgres") {
		t.Errorf("the serving line does not name the backend: %q", a.stdout.String())
	}
	for i, in := range []*instance{a, b, a, b, a, b} {
		body := fmt.Sprintf(`{"email":"jane@acme.com","n":%d}`, i)
		resp, err := http.Post(in.proxy+"/crm/v1/leads", "application/json", strings.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 200 {
			t.Fatalf("call %d: status %d", i, resp.StatusCode)
		}
	}
	ids := func(in *instance) []string {
		t.Helper()
		out, err := in.cli(t, env, "log", "--record", "jane@acme.com", "--json")
		if err != nil {
			t.Fatalf("log: %v\n%s", err, out)
		}
		var page struct {
			Transactions []struct {
				ID      string `json:"id"`
				Outcome string `json:"outcome"`
			} `json:"transactions"`
		}
		if err := json.Unmarshal([]byte(out), &page); err != nil {
			t.Fatalf("log --json: %v\n%s", err, out)
		}
		txs := page.Transactions
		var out2 []string
		for _, tx := range txs {
			if tx.Outcome != "delivered" {
				t.Errorf("%s: outcome %q", tx.ID, tx.Outcome)
			}
			out2 = append(out2, tx.ID)
		}
		return out2
	}
	// A read waits for the writes its own instance queued; a result recorded by the other
	// instance shows once that one commits it (its next group commit). One read on each
	// instance flushes both, without a sleep.
	for _, in := range []*instance{a, b} {
		if out, err := in.cli(t, env, "log", "--limit", "1"); err != nil {
			t.Fatalf("log: %v\n%s", err, out)
		}
	}
	fromA, fromB := ids(a), ids(b)
	if len(fromA) != 6 || !slices.Equal(fromA, fromB) {
		t.Fatalf("log --record on a: %v\non b: %v\nwant the same 6 calls", fromA, fromB)
	}
	if received.Load() != 6 {
		t.Fatalf("the vendor received %d calls, want 6", received.Load())
	}
	// The log's size is its tables' in PostgreSQL, not the 0 of a bbolt file that is not there.
	resp, err := http.Get(a.admin + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	metrics, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	m := regexp.MustCompile(`(?m)^mtguard_store_size_bytes (\S+)$`).FindSubmatch(metrics)
	if m == nil {
		t.Fatalf("/metrics has no mtguard_store_size_bytes:\n%s", metrics)
	}
	if size, err := strconv.ParseFloat(string(m[1]), 64); err != nil || size < 8192 {
		t.Errorf("mtguard_store_size_bytes = %s, want the size of mtguard's tables", m[1])
	}
}

// TestPostgresDownAtStart: serve refuses to start, with a clear error that does not show the
// connection string's password; and it refuses a spool folder it cannot write, naming
// store.spool_dir.
func TestPostgresDownAtStart(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "mtguard.yaml")
	// store.path names a folder that does not exist: with postgres only the spool's folder
	// (spool_dir, here given) is written to.
	withStore := func(lines string) string {
		return strings.Replace(fmt.Sprintf(pgConfig, "http://127.0.0.1:9"), "  backend: postgres\n", "  backend: postgres\n"+lines, 1)
	}
	cfg := withStore("  path: /nonexistent/mtguard/mtguard.db\n  spool_dir: " + dir + "\n")
	if err := os.WriteFile(path, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	env := map[string]string{"MTGUARD_PG_DSN": "postgres://mtguard:s3cret-pw@127.0.0.1:1/mtguard?connect_timeout=2"}
	var stdout, stderr strings.Builder
	err := run(context.Background(), []string{"mtguard", "serve", "--config", path}, &stdout, &stderr, func(k string) string { return env[k] })
	if err == nil {
		t.Fatal("serve started without its database")
	}
	if exitCode(err) == 0 || !strings.Contains(err.Error(), "PostgreSQL is unavailable") {
		t.Fatalf("err = %v", err)
	}
	if strings.Contains(err.Error()+stdout.String()+stderr.String(), "s3cret-pw") {
		t.Fatalf("the password is shown: %v\n%s", err, stderr.String())
	}
	if strings.Contains(err.Error(), "store.path") {
		t.Fatalf("store.path checked with the postgres backend and a spool_dir: %v", err)
	}
	// An empty variable is named, before anything is opened.
	err = run(context.Background(), []string{"mtguard", "serve", "--config", path}, &stdout, &stderr, func(string) string { return "" })
	if err == nil || !strings.Contains(err.Error(), "store.dsn_env names MTGUARD_PG_DSN, but that environment variable is empty") {
		t.Fatalf("err = %v", err)
	}
	// Without spool_dir, the spool goes beside store.path: its folder must exist.
	if err := os.WriteFile(path, []byte(withStore("  path: /nonexistent/mtguard/mtguard.db\n")), 0o600); err != nil {
		t.Fatal(err)
	}
	err = run(context.Background(), []string{"mtguard", "serve", "--config", path}, &stdout, &stderr, func(k string) string { return env[k] })
	if err == nil || !strings.Contains(err.Error(), "store.spool_dir: the folder /nonexistent/mtguard does not exist") {
		t.Fatalf("err = %v, want the spool's folder named", err)
	}
}

// TestStoreCopyAndMigrate: mtguard migrate prepares the schema, and store copy moves a bbolt
// log into PostgreSQL, where a postgres-backed instance shows it.
func TestStoreCopyAndMigrate(t *testing.T) {
	dsn := pgSchemaDSN(t)
	env := map[string]string{"MTGUARD_PG_DSN": dsn}
	dir := t.TempDir()
	cfgPath := filepath.Join(dir, "pg.yaml")
	if err := os.WriteFile(cfgPath, []byte(fmt.Sprintf(pgConfig, "http://127.0.0.1:9")), 0o600); err != nil {
		t.Fatal(err)
	}
	mtguard := func(args ...string) (string, error) {
		var out strings.Builder
		err := run(context.Background(), append([]string{"mtguard"}, args...), &out, &out, func(k string) string { return env[k] })
		return out.String(), err
	}
	out, err := mtguard("migrate", "--config", cfgPath)
	if err != nil || !strings.Contains(out, "migrated the schema from version 0 to") {
		t.Fatalf("migrate: %v\n%s", err, out)
	}
	if out, err = mtguard("migrate", "--config", cfgPath); err != nil || !strings.Contains(out, "nothing to do") {
		t.Fatalf("second migrate: %v\n%s", err, out)
	}

	// A bbolt log with three calls, more alerts than one page of Alerts holds, audit entries,
	// notification attempts, queued deliveries and a kept pause.
	boltPath := filepath.Join(dir, "old.db")
	src, err := store.Open(boltPath, store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	var want []string
	for i := range 3 {
		want = append(want, recordDelivered(t, src, fmt.Sprintf("p%d@acme.com", i)))
	}
	// A record in flight on a journey and a learned shape move too.
	if err := src.SaveJourneys(map[string][]byte{store.JourneyKey("lead", "p0@acme.com"): []byte(`{"state":"in_transit"}`)}, nil); err != nil {
		t.Fatal(err)
	}
	if err := src.SaveShapes(map[string][]byte{"crm": []byte(`{"route":"crm"}`)}); err != nil {
		t.Fatal(err)
	}
	const alertsN = 1005
	for i := range alertsN {
		a := store.Alert{ID: fmt.Sprintf("alert-%04d", i), Route: "crm", Kind: "error_rate", State: store.AlertResolved, FiredAt: time.Now().UTC()}
		if err := src.PutAlert(a); err != nil {
			t.Fatal(err)
		}
	}
	for i := range 2 {
		if _, err := src.AppendAudit(store.AuditEntry{Actor: "jane", Method: "POST", Endpoint: fmt.Sprintf("/api/replay-%d", i)}); err != nil {
			t.Fatal(err)
		}
		if _, err := src.AppendNotification(store.NotificationAttempt{Alert: "alert-0000", Sink: "hook", Result: store.NotifyFailed}); err != nil {
			t.Fatal(err)
		}
		if err := src.Enqueue(store.Delivery{ID: want[i], Route: "crm", State: store.DeliveryPending}); err != nil {
			t.Fatal(err)
		}
	}
	if err := src.PutPause("crm", store.Pause{Until: time.Now().Add(time.Hour), Reason: "quota"}); err != nil {
		t.Fatal(err)
	}
	src.Close()

	for range 2 { // copying again doubles nothing
		out, err = mtguard("store", "copy", "--from", "bbolt:"+boltPath, "--to", "postgres", "--config", cfgPath)
		wantOut := fmt.Sprintf("copied 3 calls, %d alerts, 2 audit entries, 2 notification attempts, 2 queued deliveries, 1 limits pauses, 1 records in flight on journeys and 1 learned payload shapes", alertsN)
		if err != nil || !strings.Contains(out, wantOut) {
			t.Fatalf("store copy: %v\n%s\nwant %q", err, out, wantOut)
		}
	}
	pool, err := pgxpool.New(context.Background(), dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer pool.Close()
	for table, n := range map[string]int{"alerts": alertsN, "audit": 2, "notifications": 2, "deliveries": 2, "limit_pauses": 1} {
		var got int
		if err := pool.QueryRow(context.Background(), `SELECT count(*) FROM `+table).Scan(&got); err != nil || got != n {
			t.Errorf("%s: %d rows in PostgreSQL after copying twice (%v), want %d", table, got, err, n)
		}
	}
	conn, err := pgx.Connect(context.Background(), dsn)
	if err != nil {
		t.Fatal(err)
	}
	var kept string
	err = conn.QueryRow(context.Background(), `SELECT (SELECT string_agg(convert_from(body, 'UTF8'), ',') FROM journeys) || (SELECT string_agg(route, ',') FROM shapes)`).Scan(&kept)
	conn.Close(context.Background())
	if err != nil || kept != `{"state":"in_transit"}crm` {
		t.Fatalf("journeys and shapes in PostgreSQL after the copy: %q %v", kept, err)
	}
	in := startMtguard(t, fmt.Sprintf(pgConfig, "http://127.0.0.1:9"), env)
	for i, id := range want {
		out, err := in.cli(t, env, "show", id, "--json")
		if err != nil || !strings.Contains(out, fmt.Sprintf("p%d@acme.com", i)) {
			t.Fatalf("show %s after the copy: %v\n%s", id, err, out)
		}
	}
	out, err = in.cli(t, env, "log", "--json")
	if err != nil || strings.Count(out, `"route": "crm"`)+strings.Count(out, `"route":"crm"`) != 3 {
		t.Fatalf("log after copying twice: %v\n%s", err, out)
	}

	if out, err := mtguard("store", "copy", "--from", boltPath, "--config", cfgPath); err == nil {
		t.Fatalf("a --from without bbolt: was accepted: %s", out)
	}
}

func recordDelivered(t *testing.T, s *store.Store, key string) string {
	t.Helper()
	tx := &txn.Transaction{Call: txn.Call{Time: time.Now().UTC(), Route: "crm", Method: "POST", Path: "/v1/leads", RecordKeys: []string{key},
		Request: txn.Message{Body: `{"email":"` + key + `"}`}}}
	if err := s.RecordIntent(context.Background(), tx); err != nil {
		t.Fatal(err)
	}
	tx.Result = txn.Result{Status: 200, Outcome: txn.OutcomeDelivered, Findings: []txn.Finding{}}
	if err := s.RecordResult(tx); err != nil {
		t.Fatal(err)
	}
	return tx.ID
}
