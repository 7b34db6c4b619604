package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/mtguard/mtguard/inspect"
	"github.com/mtguard/mtguard/store"
)

// leadVendor answers 503 until healed, then 201, and counts per email the leads it accepted.
type leadVendor struct{ countingVendor }

func newLeadVendor() *leadVendor { return &leadVendor{countingVendor{got: map[string]int{}}} }

// deliveries returns how many leads the vendor accepted in all, and the emails it accepted
// other than once among want.
func (v *leadVendor) deliveries(want []string) (total int, wrong []string) {
	v.mu.Lock()
	defer v.mu.Unlock()
	for _, n := range v.got {
		total += n
	}
	for _, e := range want {
		if v.got[e] != 1 {
			wrong = append(wrong, fmt.Sprintf("%s×%d", e, v.got[e]))
		}
	}
	return total, wrong
}

const replayLoadConfig = `
listen: 127.0.0.1:0
admin: {listen: 127.0.0.1:0}
store: {path: ./mtguard.db}
routes:
  - name: crm
    prefix: /crm
    upstream: %s
    record_keys: [email]
  - name: ads
    prefix: /ads
    upstream: %s
    record_keys: [email]
`

// postLeads sends n leads to prefix through mtguard, 16 at a time, and returns their emails.
func postLeads(t *testing.T, proxyURL, prefix string, n int) []string {
	t.Helper()
	emails := make([]string, n)
	for i := range emails {
		emails[i] = fmt.Sprintf("lead%04d@%s.example", i, strings.Trim(prefix, "/"))
	}
	work := make(chan string)
	var wg sync.WaitGroup
	for range 16 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for email := range work {
				resp, err := http.Post(proxyURL+prefix+"/v1/leads", "application/json", strings.NewReader(`{"email":"`+email+`"}`))
				if err != nil {
					t.Error(err)
					continue
				}
				io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
				if resp.StatusCode != 503 {
					t.Errorf("lead %s: status %d, want the vendor's 503", email, resp.StatusCode)
				}
			}
		}()
	}
	for _, e := range emails {
		work <- e
	}
	close(work)
	wg.Wait()
	return emails
}

// waitJob polls a bulk replay until it is done.
func waitJob(ctx context.Context, t *testing.T, c *inspect.Client, job *inspect.ReplayJob) *inspect.ReplayJob {
	t.Helper()
	for job.State != "done" {
		select {
		case <-ctx.Done():
			t.Errorf("replay %s did not finish: %+v", job.ID, job)
			return job
		case <-time.After(20 * time.Millisecond):
		}
		var err error
		if job, err = c.ReplayJob(ctx, job.ID); err != nil {
			t.Errorf("replay %s: %v", job.ID, err)
			return job
		}
	}
	return job
}

// TestConcurrentReplaysDeliverEachLeadOnce: three bulk replays and five callers replaying every
// call one by one, all at once, over the same 200 failed calls: each lead reaches the vendor
// exactly once, whichever replay gets to it first (issue 16, item 3).
func TestConcurrentReplaysDeliverEachLeadOnce(t *testing.T) {
	v := newLeadVendor()
	vendor := httptest.NewServer(v)
	defer vendor.Close()
	in := startMtguard(t, fmt.Sprintf(replayLoadConfig, vendor.URL, vendor.URL), nil)
	emails := postLeads(t, in.proxy, "/crm", 200)
	c := &inspect.Client{BaseURL: in.admin}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	page, err := c.List(ctx, store.Query{Route: "crm", Limit: 1000})
	if err != nil || len(page.Transactions) != 200 {
		t.Fatalf("list: %v (%d calls)", err, len(page.Transactions))
	}
	var ids []string
	for _, tx := range page.Transactions {
		ids = append(ids, tx.ID)
	}
	v.healed.Store(true)

	var (
		wg           sync.WaitGroup
		mu           sync.Mutex
		jobs         []*inspect.ReplayJob
		singleResent int
		conflicts    int
	)
	start := make(chan struct{})
	for range 3 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-start
			job, err := c.StartReplay(ctx, inspect.ReplayRequest{Route: "crm", Outcome: "failed"})
			if err != nil {
				t.Errorf("start replay: %v", err)
				return
			}
			job = waitJob(ctx, t, c, job)
			mu.Lock()
			jobs = append(jobs, job)
			mu.Unlock()
		}()
	}
	for i := range 5 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			order := append([]string(nil), ids...)
			r := rand.New(rand.NewPCG(uint64(i), 16))
			r.Shuffle(len(order), func(a, b int) { order[a], order[b] = order[b], order[a] })
			<-start
			for _, id := range order {
				res, err := c.ReplayOne(ctx, id, false)
				var apiErr *inspect.APIError
				switch {
				case errors.As(err, &apiErr) && apiErr.Status == http.StatusConflict:
					mu.Lock()
					conflicts++
					mu.Unlock()
				case err != nil:
					t.Errorf("replay %s: %v", id, err)
				case res.Item.Replay != "":
					mu.Lock()
					singleResent++
					mu.Unlock()
				}
			}
		}()
	}
	close(start)
	wg.Wait()

	total, wrong := v.deliveries(emails)
	bulkResent := 0
	for _, j := range jobs {
		bulkResent += j.Resent
		t.Logf("bulk %s: %d selected, %d resent, %d skipped %v", j.ID, j.Total, j.Resent, j.Skipped, j.SkipReasons)
	}
	t.Logf("single replays: %d resent, %d answered 409", singleResent, conflicts)
	if total != 200 || len(wrong) > 0 {
		t.Fatalf("the vendor accepted %d leads for 200 emails; not exactly once: %d, e.g. %v", total, len(wrong), wrong[:min(5, len(wrong))])
	}
	if bulkResent+singleResent != 200 {
		t.Errorf("replays report %d bulk + %d single resends, want 200 in all", bulkResent, singleResent)
	}
}

// TestBulkReplayResendsEveryMatch: 1,501 failed calls. Without a limit one bulk replay resends
// them all (it stopped at 1,000, silently). With a limit the summary says so and how many more
// match, and the next run resends the rest, not counting the chains already delivered against
// its limit (150 calls and --limit 100 show that, at a third of the cost) (issue 16, item 4).
func TestBulkReplayResendsEveryMatch(t *testing.T) {
	v := newLeadVendor()
	vendor := httptest.NewServer(v)
	defer vendor.Close()
	in := startMtguard(t, fmt.Sprintf(replayLoadConfig, vendor.URL, vendor.URL), nil)
	crm := postLeads(t, in.proxy, "/crm", 1501)
	ads := postLeads(t, in.proxy, "/ads", 150)
	v.healed.Store(true)
	cli := func(args ...string) (string, error) { return in.cli(t, nil, args...) }

	// One run, no limit: every match.
	out, err := cli("replay", "--route", "crm", "--outcome", "failed", "--since", "10m")
	if err != nil || !strings.Contains(out, "1501 matched; 1501 resent (1501 records): 1501 delivered, 0 failed again; 0 skipped") {
		t.Errorf("replay without a limit: %v\n%s", err, out)
	}
	if total, wrong := v.deliveries(crm); total != 1501 || len(wrong) > 0 {
		t.Fatalf("the vendor accepted %d crm leads of 1501; not exactly once: %d, e.g. %v", total, len(wrong), wrong[:min(5, len(wrong))])
	}

	// With a limit: the summary states it, and the next run resends the rest.
	out, err = cli("replay", "--route", "ads", "--outcome", "failed", "--since", "10m", "--limit", "100")
	if err != nil || !strings.Contains(out, "150 matched; 100 resent") || !strings.Contains(out, "limit 100 reached: 50 more match; run again or raise --limit") {
		t.Errorf("replay with --limit 100: %v\n%s", err, out)
	}
	out, err = cli("replay", "--route", "ads", "--outcome", "failed", "--since", "10m", "--limit", "100")
	if err != nil || !strings.Contains(out, "150 matched; 50 resent (50 records): 50 delivered") || !strings.Contains(out, "100 already delivered") ||
		strings.Contains(out, "limit 100 reached") {
		t.Errorf("second replay with --limit 100: %v\n%s", err, out)
	}
	if total, wrong := v.deliveries(append(crm, ads...)); total != 1651 || len(wrong) > 0 {
		t.Fatalf("the vendor accepted %d leads of 1651; not exactly once: %d, e.g. %v", total, len(wrong), wrong[:min(5, len(wrong))])
	}
}
