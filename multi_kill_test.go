package main

import (
	"cmp"
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/mtguard/mtguard/pgstore"
	"github.com/mtguard/mtguard/store"
	"github.com/mtguard/mtguard/txn"
)

// killCycles is how many times TestPostgresKill9 kills one of three instances under load.
const killCycles = 5

var instanceLine = regexp.MustCompile(`"instance":"([0-9a-f]+)"`)

// pgProc is one mtguard serve on PostgreSQL.
type pgProc struct {
	*crashProc
	admin    string // admin API address
	instance string // its name in the instances table
}

// pgProcOptions add to the configuration startPGProc writes.
type pgProcOptions struct {
	store  string   // more keys of store, in flow style after a comma: "on_error: reject"
	limits string   // the top-level limits block's keys, in flow style: "shared: {...}"
	name   string   // the route's name (its limits group's in Redis); if empty, crm
	route  string   // more keys of the route, in flow style: "limits: {...}"
	extra  string   // more top-level blocks (alerts...), in block style
	env    []string // NAME=value added to its environment
}

// startPGProc starts the real binary on PostgreSQL (dsn) on free ports, its configuration and
// logs in dir/name (so is its spool: starting a name again finds it), and returns it once its
// admin API answers.
func startPGProc(t *testing.T, bin, dir, name, vendorURL, dsn string, opt pgProcOptions) *pgProc {
	t.Helper()
	home := filepath.Join(dir, name)
	if err := os.MkdirAll(home, 0o700); err != nil {
		t.Fatal(err)
	}
	cfg := func(data, admin string) string {
		c := fmt.Sprintf("listen: %s\nadmin: {listen: %s}\nstore: {backend: postgres, dsn_env: MTGUARD_PG_DSN", data, admin)
		if opt.store != "" {
			c += ", " + opt.store
		}
		c += "}\n"
		if opt.limits != "" {
			c += "limits: {" + opt.limits + "}\n"
		}
		c += opt.extra
		route := cmp.Or(opt.name, "crm")
		c += fmt.Sprintf("routes:\n  - {name: %s, prefix: /crm, upstream: %s, record_keys: [email]", route, vendorURL)
		if opt.route != "" {
			c += ", " + opt.route
		}
		return c + "}\n"
	}
	p, admin := startServe(t, bin, home, name, cfg, append([]string{"MTGUARD_PG_DSN=" + dsn}, opt.env...)...)
	log, _ := os.ReadFile(p.stderr)
	m := instanceLine.FindSubmatch(log)
	if m == nil {
		t.Fatalf("%s did not log its instance: %s", name, log)
	}
	return &pgProc{crashProc: p, admin: admin, instance: string(m[1])}
}

// TestPostgresKill9 runs three instances on one PostgreSQL log and one Redis budget, clients
// spreading leads round-robin over them, and killCycles times kills one with SIGKILL under load
// (then starts it again). Once the dead instances' leases have run out (15 s, as in
// production), the others settle their calls: every lead the vendor received is in the log
// once, none is left pending, none the client got a whole answer for is interrupted, every
// interrupted one says outcome.unknown.
func TestPostgresKill9(t *testing.T) {
	if testing.Short() {
		t.Skip("builds mtguard and kill -9s it; skipped with -short")
	}
	dsn := pgSchemaDSN(t)
	redisURL := redisTestURL(t)
	route := sharedRoute(t, redisURL)
	dir := t.TempDir()
	bin := buildMtguard(t, dir)
	vendor := &crashVendor{received: map[string]int{}}
	vendorSrv := httptest.NewServer(vendor)
	t.Cleanup(vendorSrv.Close)
	client := &http.Client{Transport: &http.Transport{Proxy: nil, MaxIdleConnsPerHost: 8}, Timeout: 10 * time.Second}
	// A budget the load reaches at times, shared through Redis. Concurrency is wide enough for
	// the slots a killed instance holds until their leases end.
	opt := pgProcOptions{
		name:   route,
		limits: "shared: {backend: redis, url_env: MTGUARD_REDIS_URL, on_unavailable: local-share, instances: 3}",
		route:  "limits: {windows: [{requests: 300, per: 1s}], concurrency: 64, max_wait: 5s}",
		env:    []string{"MTGUARD_REDIS_URL=" + redisURL},
	}

	var (
		mu       sync.Mutex
		ins      []*pgProc
		answered = map[string]bool{} // email -> the client read a whole 2xx answer
		seq      atomic.Int64
	)
	for _, name := range []string{"a", "b", "c"} {
		ins = append(ins, startPGProc(t, bin, dir, name, vendorSrv.URL, dsn, opt))
	}
	for cycle := 1; cycle <= killCycles; cycle++ {
		var wg sync.WaitGroup
		var stop atomic.Bool
		for range 8 {
			wg.Go(func() {
				for !stop.Load() {
					n := seq.Add(1)
					mu.Lock()
					target := ins[n%3] // round-robin, as a load balancer would
					mu.Unlock()
					email := fmt.Sprintf("kill-%d-%d@multi.test", cycle, n)
					resp, err := client.Post("http://"+target.data+"/crm/v1/leads", "application/json", strings.NewReader(fmt.Sprintf(`{"email":%q}`, email)))
					if err != nil {
						continue
					}
					_, rerr := io.Copy(io.Discard, resp.Body)
					resp.Body.Close()
					mu.Lock()
					answered[email] = rerr == nil && resp.StatusCode/100 == 2
					mu.Unlock()
				}
			})
		}
		waitReceived(t, vendor, 60*cycle) // under load
		victim := cycle % 3
		ins[victim].kill()
		stop.Store(true)
		wg.Wait()
		next := startPGProc(t, bin, dir, []string{"a", "b", "c"}[victim], vendorSrv.URL, dsn, opt)
		mu.Lock()
		ins[victim] = next
		mu.Unlock()
	}

	st, err := pgstore.Open(context.Background(), dsn, pgstore.Options{Instance: "checker"})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	// The running instances settle the dead ones' calls once their leases run out.
	var byEmail map[string][]txn.Transaction
	deadline := time.Now().Add(60 * time.Second)
	for {
		byEmail = callsByEmail(t, st, route)
		pending := 0
		for _, txs := range byEmail {
			for _, tx := range txs {
				if tx.Outcome == txn.OutcomePending {
					pending++
				}
			}
		}
		if pending == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d calls still pending 60s after the last kill", pending)
		}
		time.Sleep(500 * time.Millisecond)
	}
	received := vendor.snapshot()
	interrupted := 0
	for email := range received {
		txs := byEmail[email]
		if len(txs) != 1 {
			t.Errorf("the vendor received %s; it is in the log %d times", email, len(txs))
			continue
		}
		tx := txs[0]
		if tx.Outcome == txn.OutcomeInterrupted {
			interrupted++
			if answered[email] {
				t.Errorf("%s: the client read a whole answer, but it is stored interrupted", email)
			}
			if len(tx.Findings) == 0 || tx.Findings[len(tx.Findings)-1].Code != txn.CodeOutcomeUnknown {
				t.Errorf("%s: interrupted without outcome.unknown: %+v", email, tx.Findings)
			}
		}
	}
	t.Logf("%d kills of 3 instances: the vendor received %d leads, all in the log once; %d interrupted", killCycles, len(received), interrupted)
	if len(received) < 60*killCycles {
		t.Fatalf("only %d leads reached the vendor", len(received))
	}
}

// callsByEmail reads every call of route from st, by record key.
func callsByEmail(t *testing.T, st store.Log, route string) map[string][]txn.Transaction {
	t.Helper()
	out := map[string][]txn.Transaction{}
	q := store.Query{Route: route, Limit: 1000}
	for {
		page, err := st.Query(context.Background(), q)
		if err != nil {
			t.Fatal(err)
		}
		for _, tx := range page.Transactions {
			for _, k := range tx.RecordKeys {
				out[k] = append(out[k], tx)
			}
		}
		if page.Next == "" {
			return out
		}
		q.Cursor = page.Next
	}
}

// sharedRoute is a route name of the test's own, so that its limits group's keys in Redis are
// not another test's; they are deleted when the test ends.
func sharedRoute(t *testing.T, redisURL string) string {
	t.Helper()
	var b [4]byte
	_, _ = rand.Read(b[:])
	route := "crm" + hex.EncodeToString(b[:])
	t.Cleanup(func() {
		opts, _ := redis.ParseURL(redisURL)
		rdb := redis.NewClient(opts)
		defer rdb.Close()
		ctx := context.Background()
		if keys, err := rdb.Keys(ctx, "mtguard:{"+route+"}:*").Result(); err == nil && len(keys) > 0 {
			rdb.Del(ctx, keys...)
		}
	})
	return route
}

// waitReceived waits until the vendor has received at least n leads (the load runs meanwhile).
func waitReceived(t *testing.T, v *crashVendor, n int) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for len(v.snapshot()) < n {
		if time.Now().After(deadline) {
			t.Fatalf("the vendor received %d leads in 20s, want %d", len(v.snapshot()), n)
		}
		time.Sleep(5 * time.Millisecond)
	}
}
