package main

import (
	"context"
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

	"github.com/mtguard/mtguard/pgstore"
	"github.com/mtguard/mtguard/store"
	"github.com/mtguard/mtguard/txn"
)

// killCycles is how many times TestPostgresKill9 kills one of two instances under load.
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
	route  string   // more keys of the crm route, in flow style: "limits: {...}"
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
		c += fmt.Sprintf("routes:\n  - {name: crm, prefix: /crm, upstream: %s, record_keys: [email]", vendorURL)
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

// TestPostgresKill9 runs two instances on one PostgreSQL log and, killCycles times, sends
// leads through both and kills one with SIGKILL under load (then starts it again). Every lead
// the vendor received is in the log; once the dead instances' leases have run out (the test
// ends them early instead of waiting), the survivor settles their calls: none is left pending,
// none the client got a whole answer for is interrupted, every interrupted one says
// outcome.unknown.
func TestPostgresKill9(t *testing.T) {
	if testing.Short() {
		t.Skip("builds mtguard and kill -9s it; skipped with -short")
	}
	dsn := pgSchemaDSN(t)
	dir := t.TempDir()
	bin := buildMtguard(t, dir)
	vendor := &crashVendor{received: map[string]int{}}
	vendorSrv := httptest.NewServer(vendor)
	t.Cleanup(vendorSrv.Close)
	client := &http.Client{Transport: &http.Transport{Proxy: nil, MaxIdleConnsPerHost: 8}, Timeout: 5 * time.Second}

	survivor := startPGProc(t, bin, dir, "survivor", vendorSrv.URL, dsn, pgProcOptions{})
	var (
		mu       sync.Mutex
		answered = map[string]bool{} // email -> the client read a whole 2xx answer
		seq      atomic.Int64
	)
	for cycle := 1; cycle <= killCycles; cycle++ {
		victim := startPGProc(t, bin, dir, fmt.Sprintf("victim%d", cycle), vendorSrv.URL, dsn, pgProcOptions{})
		var wg sync.WaitGroup
		var stop atomic.Bool
		for s := range 8 {
			target := victim
			if s%2 == 1 {
				target = survivor
			}
			wg.Go(func() {
				for !stop.Load() {
					email := fmt.Sprintf("kill-%d-%d@multi.test", cycle, seq.Add(1))
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
		waitReceived(t, vendor, 40*cycle) // under load
		victim.kill()
		stop.Store(true)
		wg.Wait()
	}
	survivor.kill() // let it go too, after its answers; the check opens the log itself

	st, err := pgstore.Open(context.Background(), dsn, pgstore.Options{Instance: "checker"})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	// The victims' (and the survivor's) leases would run out in 15 s: end them now.
	if err := st.ExpireInstances(context.Background(), "checker"); err != nil {
		t.Fatal(err)
	}
	if _, err := st.RecoverDead(context.Background()); err != nil {
		t.Fatal(err)
	}

	byEmail := map[string]txn.Transaction{}
	q := store.Query{Route: "crm", Limit: 1000}
	for {
		page, err := st.Query(context.Background(), q)
		if err != nil {
			t.Fatal(err)
		}
		for _, tx := range page.Transactions {
			for _, k := range tx.RecordKeys {
				byEmail[k] = tx
			}
		}
		if page.Next == "" {
			break
		}
		q.Cursor = page.Next
	}
	received := vendor.snapshot()
	interrupted := 0
	for email := range received {
		tx, ok := byEmail[email]
		if !ok {
			t.Errorf("the vendor received %s, but it is not in the log", email)
			continue
		}
		switch tx.Outcome {
		case txn.OutcomePending:
			t.Errorf("%s is still pending", email)
		case txn.OutcomeInterrupted:
			interrupted++
			if answered[email] {
				t.Errorf("%s: the client read a whole answer, but it is stored interrupted", email)
			}
			if len(tx.Findings) == 0 || tx.Findings[len(tx.Findings)-1].Code != txn.CodeOutcomeUnknown {
				t.Errorf("%s: interrupted without outcome.unknown: %+v", email, tx.Findings)
			}
		}
	}
	t.Logf("%d kills: the vendor received %d leads, all in the log; %d interrupted", killCycles, len(received), interrupted)
	if len(received) < 40*killCycles {
		t.Fatalf("only %d leads reached the vendor", len(received))
	}
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
