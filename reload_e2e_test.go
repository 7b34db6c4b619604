package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/mtguard/mtguard/inspect"
	"github.com/mtguard/mtguard/store"
)

// configFile is the config file an instance was started from.
func (in *instance) configFile() string {
	return filepath.Join(filepath.Dir(in.storePath), "mtguard.yaml")
}

const reloadBase = `
listen: 127.0.0.1:0
admin:
  listen: 127.0.0.1:0
store:
  path: ./mtguard.db
routes:
  - name: crm
    prefix: /crm
    upstream: %s
    record_keys: [email]
    limits: {windows: [{requests: %d, per: 1s}], concurrency: %d, max_wait: 3s}
`

func TestReloadReportsChangesAndMistakes(t *testing.T) {
	vendor := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(201) }))
	defer vendor.Close()
	base := fmt.Sprintf(reloadBase, vendor.URL, 100, 10)
	in := startMtguard(t, base+`  - name: legacy
    prefix: /legacy
    upstream: http://127.0.0.1:9
`, nil)
	post := func(path string) int {
		resp, err := http.Post(in.proxy+path, "application/json", strings.NewReader(`{"email":"a@b.c"}`))
		if err != nil {
			t.Fatal(err)
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		return resp.StatusCode
	}
	if st := post("/hs/x"); st != 404 {
		t.Fatalf("before: /hs answered %d", st)
	}
	for _, tc := range []struct {
		name    string
		file    string
		applied bool
		want    []string // in the report
	}{
		{"mistakes", strings.Replace(base, "upstream: "+vendor.URL, "upstream: ftp://nope", 1) + "  - name: crm\n    prefix: /x\n    upstream: http://a\n", false,
			[]string{"mtguard.yaml:", "line", "running config is unchanged"}},
		{"valid", fmt.Sprintf(reloadBase, vendor.URL, 50, 10) + `  - name: legacy2
    prefix: /legacy
    upstream: http://127.0.0.1:9
  - name: hs
    prefix: /hs
    upstream: ` + vendor.URL + `
listen: 127.0.0.1:1
`, true, []string{"route.added", "hs", "legacy2", "renamed from legacy", "route.removed", "limits.tightened", "requests per 1s 100 -> 50", "needs a restart:  listen"}},
		{"nothing new", "", true, []string{"needs a restart:  listen"}}, // listen still differs from what serve started with
	} {
		t.Run(tc.name, func(t *testing.T) {
			if tc.file != "" {
				tc.file = strings.Replace(tc.file, "\nlisten: 127.0.0.1:0\n", "\n", 1)
				if !strings.Contains(tc.file, "\nlisten:") {
					tc.file = "listen: 127.0.0.1:0\n" + tc.file
				}
				if err := os.WriteFile(in.configFile(), []byte(tc.file), 0o600); err != nil {
					t.Fatal(err)
				}
			}
			out, err := in.cli(t, nil, "reload")
			if (err == nil) != tc.applied || (!tc.applied && strings.Contains(out, "route.")) {
				t.Fatalf("reload: %v\n%s", err, out)
			}
			t.Log(out)
			for _, w := range tc.want {
				if !strings.Contains(out, w) {
					t.Errorf("reload output lacks %q:\n%s", w, out)
				}
			}
		})
	}
	// The new routes answer; the limit is the new one.
	if st := post("/hs/x"); st != 201 {
		t.Fatalf("after: /hs answered %d", st)
	}
	out, _ := in.cli(t, nil, "limits", "--json")
	if !strings.Contains(out, `"requests": 50`) {
		t.Errorf("limits after reload:\n%s", out)
	}
}

// arrivals is a fake vendor's record of when each call arrived.
type arrivals struct {
	mu sync.Mutex
	at []time.Time
}

func (a *arrivals) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	a.mu.Lock()
	a.at = append(a.at, time.Now())
	a.mu.Unlock()
	io.Copy(io.Discard, r.Body)
	time.Sleep(3 * time.Millisecond) // the vendor's think time
	w.WriteHeader(http.StatusCreated)
}

// busiest is the most calls that arrived in any span of per.
func (a *arrivals) busiest(per time.Duration) int {
	a.mu.Lock()
	defer a.mu.Unlock()
	most, j := 0, 0
	for i := range a.at {
		for a.at[i].Sub(a.at[j]) >= per {
			j++
		}
		most = max(most, i-j+1)
	}
	return most
}

// TestReloadUnderLoad: 200 calls a second for 10 s while the config is reloaded 20 times,
// alternating two files (the window 150 and 120 a second, concurrency, a second route): no
// call gets a connection error or a 5xx of mtguard's own, every call is recorded, and the
// vendor never sees more than the limit in any second, reloads or not.
func TestReloadUnderLoad(t *testing.T) {
	if testing.Short() {
		t.Skip("runs 10 s of traffic")
	}
	vendor := &arrivals{}
	srv := httptest.NewServer(vendor)
	defer srv.Close()
	configs := []string{
		fmt.Sprintf(reloadBase, srv.URL, 150, 40),
		fmt.Sprintf(reloadBase, srv.URL, 120, 20) + "  - name: other\n    prefix: /other\n    upstream: " + srv.URL + "\n",
	}
	in := startMtguard(t, configs[0], nil)
	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 400}}
	defer client.CloseIdleConnections()

	var failures atomic.Int64
	var mu sync.Mutex
	ids := map[string]int{} // id -> status
	var wg sync.WaitGroup
	const rate, span = 200, 10 * time.Second
	start := time.Now()
	reloads := make(chan error, 1)
	var hups atomic.Int64
	go func() {
		defer close(reloads)
		for i := 1; i <= 20; i++ {
			time.Sleep(span / 21) // paces the reloads across the load; nothing is asserted about time
			// Written beside and renamed, as an editor does, so a reload never reads half a file.
			tmp := in.configFile() + ".new"
			if err := os.WriteFile(tmp, []byte(configs[i%2]), 0o600); err != nil {
				reloads <- err
				return
			}
			if err := os.Rename(tmp, in.configFile()); err != nil {
				reloads <- err
				return
			}
			var err error
			hup := false
			// Reloads 2, 7, 12 and 17 by SIGHUP; the CLI reloads after each are handled after it.
			if i%5 == 2 {
				if hup, err = sendHUP(); hup {
					hups.Add(1)
				}
			}
			if !hup && err == nil {
				var out string
				out, err = in.cli(t, nil, "reload")
				if err != nil {
					err = fmt.Errorf("reload %d: %v\n%s", i, err, out)
				}
			}
			if err != nil {
				reloads <- err
				return
			}
		}
	}()
	// Call n leaves at start + n/rate; a loop that falls behind catches up at once, so all
	// rate*span calls are sent.
	for n := 0; n < int(rate*span/time.Second); n++ {
		time.Sleep(time.Until(start.Add(time.Duration(n) * time.Second / rate)))
		wg.Add(1)
		go func() {
			defer wg.Done()
			resp, err := client.Post(in.proxy+"/crm/v1/leads", "application/json", strings.NewReader(fmt.Sprintf(`{"email":"lead%d@acme.com"}`, n)))
			if err != nil {
				failures.Add(1)
				t.Errorf("call %d: %v", n, err)
				return
			}
			io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			id := resp.Header.Get("X-Mtguard-Id")
			if resp.StatusCode >= 500 || id == "" {
				failures.Add(1)
				t.Errorf("call %d: %d (id %q)", n, resp.StatusCode, id)
			}
			mu.Lock()
			ids[id] = resp.StatusCode
			mu.Unlock()
		}()
	}
	wg.Wait()
	if err := <-reloads; err != nil {
		t.Fatal(err)
	}
	// The SIGHUP reloads print their report.
	if n := strings.Count(in.stdout.String(), "reloaded "); n != int(hups.Load()) {
		t.Errorf("%d SIGHUP reloads reported, want %d:\n%s", n, hups.Load(), in.stdout.String())
	}

	// Every call is in the log.
	c := &inspect.Client{BaseURL: in.admin}
	stored := map[string]bool{}
	q := store.Query{Limit: 1000}
	for {
		page, err := c.List(context.Background(), q)
		if err != nil {
			t.Fatal(err)
		}
		for _, tx := range page.Transactions {
			stored[tx.ID] = true
		}
		if page.Next == "" {
			break
		}
		q.Cursor = page.Next
	}
	status := map[int]int{}
	for id, st := range ids {
		status[st]++
		if !stored[id] {
			t.Errorf("call %s (answered %d) is not in the log", id, st)
		}
	}
	// The limiter counts a call when it sends it; the vendor counts it when its handler runs.
	// On a loaded machine (-race, load average 9) the two drift by tens of milliseconds, enough
	// for 174 calls to land in one vendor second once; a 900 ms window absorbs that drift and
	// still fails a limiter that lets 150 a second through at two different moments.
	busiest := vendor.busiest(900 * time.Millisecond)
	b, _ := json.Marshal(status)
	t.Logf("%d calls, answers %s, %d failures, vendor: busiest 900 ms %d calls (limit 150 a second, then 120, alternating)", len(ids), b, failures.Load(), busiest)
	if busiest > 150 {
		t.Errorf("the vendor saw %d calls within 900 ms; the limit was never above 150 a second", busiest)
	}
}
