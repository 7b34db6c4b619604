package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
)

// redisTestURL returns the project machines' Redis (or MTGUARD_TEST_REDIS_URL); without it
// the test is skipped, unless MTGUARD_TEST_SERVICES=1 makes it mandatory.
func redisTestURL(t *testing.T) string {
	t.Helper()
	url := os.Getenv("MTGUARD_TEST_REDIS_URL")
	if url == "" {
		url = "redis://127.0.0.1:6379/0"
	}
	opts, err := redis.ParseURL(url)
	if err != nil {
		t.Fatal(err)
	}
	opts.DialTimeout = time.Second
	rdb := redis.NewClient(opts)
	defer rdb.Close()
	if err := rdb.Ping(context.Background()).Err(); err != nil {
		if os.Getenv("MTGUARD_TEST_SERVICES") == "1" {
			t.Fatalf("Redis is required (MTGUARD_TEST_SERVICES=1) but unreachable: %v", err)
		}
		t.Skipf("Redis is not reachable at %s (%v); set MTGUARD_TEST_SERVICES=1 to make this test mandatory", url, err)
	}
	return url
}

// TestThreeInstancesOneBudget: three instances on one PostgreSQL log and one Redis budget, a
// burst of ten times the vendor's window spread round-robin over them: the vendor sees no call
// over its limits, and every instance's log --record shows the same calls.
func TestThreeInstancesOneBudget(t *testing.T) {
	dsn := pgSchemaDSN(t)
	redisURL := redisTestURL(t)
	route := sharedRoute(t, redisURL) // its limits group's keys in Redis are this test's own
	v := &limitVendor{requests: 10, per: 500 * time.Millisecond, concurrency: 3, latency: 5 * time.Millisecond, delivered: map[string]int{}}
	vendor := newVendorServer(t, v)
	cfg := fmt.Sprintf(`
listen: 127.0.0.1:0
admin:
  listen: 127.0.0.1:0
store:
  backend: postgres
  dsn_env: MTGUARD_PG_DSN
limits:
  shared: {backend: redis, url_env: MTGUARD_REDIS_URL, on_unavailable: local-share, instances: 3}
routes:
  - name: %s
    prefix: /crm
    upstream: %s
    record_keys: [email]
    limits:
      windows: [{requests: 10, per: 500ms}]
      concurrency: 3
      max_wait: 20s
`, route, vendor)
	env := map[string]string{"MTGUARD_PG_DSN": dsn, "MTGUARD_REDIS_URL": redisURL}
	ins := []*instance{startMtguard(t, cfg, env), startMtguard(t, cfg, env), startMtguard(t, cfg, env)}
	const calls = 100 // ten times the window
	var wg sync.WaitGroup
	statuses := make([]int, calls)
	for i := range calls {
		wg.Add(1)
		go func() {
			defer wg.Done()
			statuses[i] = postSharedLead(t, ins[i%3].proxy+"/crm/v1/leads", "burst@acme.com", i)
		}()
	}
	wg.Wait()
	_, violations, delivered := v.snapshot()
	if violations != 0 {
		t.Fatalf("the vendor saw %d calls over its limits", violations)
	}
	ok := 0
	for _, s := range statuses {
		if s == 200 {
			ok++
		}
	}
	if ok != calls || delivered["burst@acme.com"] != calls {
		t.Fatalf("%d calls answered 200, %d delivered; want all %d (max_wait covers the burst)", ok, delivered["burst@acme.com"], calls)
	}
	out, err := ins[0].cli(t, env, "limits", "--json")
	if err != nil || !json.Valid([]byte(out)) {
		t.Fatalf("limits: %v\n%s", err, out)
	}
	var rep struct {
		Groups []struct {
			Group  string `json:"group"`
			Shared string `json:"shared"`
		} `json:"groups"`
	}
	json.Unmarshal([]byte(out), &rep)
	if len(rep.Groups) != 1 || rep.Groups[0].Shared != "redis" {
		t.Fatalf("limits does not say the budget is shared: %s", out)
	}
	// Each instance commits the results it recorded on its next read.
	for _, in := range ins {
		if out, err := in.cli(t, env, "log", "--limit", "1"); err != nil {
			t.Fatalf("log: %v\n%s", err, out)
		}
	}
	var first []string
	for i, in := range ins {
		out, err := in.cli(t, env, "log", "--record", "burst@acme.com", "--limit", "1000", "--json")
		if err != nil {
			t.Fatalf("log on instance %d: %v", i, err)
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
		var ids []string
		for _, tx := range page.Transactions {
			if tx.Outcome != "delivered" {
				t.Errorf("instance %d: %s is %s", i, tx.ID, tx.Outcome)
			}
			ids = append(ids, tx.ID)
		}
		if len(ids) != calls {
			t.Fatalf("instance %d lists %d calls, want %d", i, len(ids), calls)
		}
		if first == nil {
			first = ids
		} else if !slices.Equal(ids, first) {
			t.Fatalf("instance %d lists other calls than instance 0", i)
		}
	}
}

// newVendorServer serves v on loopback for the test and returns its URL.
func newVendorServer(t *testing.T, v *limitVendor) string {
	srv := httptest.NewServer(v)
	t.Cleanup(srv.Close)
	return srv.URL
}

// postLead posts one lead through a proxy and returns the status of the answer.
func postSharedLead(t *testing.T, url, email string, n int) int {
	resp, err := http.Post(url, "application/json", strings.NewReader(fmt.Sprintf(`{"email":%q,"n":%d}`, email, n)))
	if err != nil {
		t.Errorf("call %d: %v", n, err)
		return 0
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	return resp.StatusCode
}
