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
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"github.com/mtguard/mtguard/config"
	"github.com/mtguard/mtguard/proxy"
	"github.com/mtguard/mtguard/store"
	"github.com/mtguard/mtguard/txn"
)

// limitVendor is a fake vendor that enforces its limits exactly, as the vendor would: a sliding
// window counted when calls arrive, and a cap on calls in flight. A call over either is a
// violation, answered 429. respond, if set, may answer a call itself (the n-th, from 1).
type limitVendor struct {
	requests    int           // per window; 0 means no window
	per         time.Duration // the window
	concurrency int           // 0 means no cap
	latency     time.Duration
	respond     func(w http.ResponseWriter, n int) bool

	mu         sync.Mutex
	arrivals   []time.Time
	inflight   int
	violations int
	delivered  map[string]int // email -> calls answered 200
	answered   []time.Time    // when respond answered a call itself
}

func (v *limitVendor) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	now := time.Now()
	var body struct {
		Email string `json:"email"`
	}
	json.NewDecoder(r.Body).Decode(&body)
	v.mu.Lock()
	v.arrivals = append(v.arrivals, now)
	n := len(v.arrivals)
	inWindow := 0
	for i := len(v.arrivals) - 1; i >= 0 && now.Sub(v.arrivals[i]) < v.per; i-- {
		inWindow++
	}
	v.inflight++
	over := (v.requests > 0 && inWindow > v.requests) || (v.concurrency > 0 && v.inflight > v.concurrency)
	if over {
		v.violations++
	}
	v.mu.Unlock()
	defer func() {
		v.mu.Lock()
		v.inflight--
		v.mu.Unlock()
	}()
	if over {
		w.Header().Set("Retry-After", "1")
		http.Error(w, `{"message":"over the limit"}`, http.StatusTooManyRequests)
		return
	}
	if v.respond != nil && v.respond(w, n) {
		v.mu.Lock()
		v.answered = append(v.answered, now)
		v.mu.Unlock()
		return
	}
	time.Sleep(v.latency)
	v.mu.Lock()
	v.delivered[body.Email]++
	v.mu.Unlock()
	w.Header().Set("Content-Type", "application/json")
	io.WriteString(w, `{"success":true,"result":[{"status":"created"}]}`)
}

func (v *limitVendor) snapshot() (arrivals []time.Time, violations int, delivered map[string]int) {
	v.mu.Lock()
	defer v.mu.Unlock()
	delivered = map[string]int{}
	for k, n := range v.delivered {
		delivered[k] = n
	}
	return append([]time.Time(nil), v.arrivals...), v.violations, delivered
}

// throttleHarness is mtguard's data plane as serve builds it (config, store, limiter seeded from
// the store, pipeline, reverse proxy) in front of one fake vendor.
type throttleHarness struct {
	proxy  *httptest.Server
	store  *store.Store
	vendor *limitVendor
	client *http.Client
}

func newThrottleHarness(t *testing.T, v *limitVendor, routeYAML string) *throttleHarness {
	t.Helper()
	if v.delivered == nil {
		v.delivered = map[string]int{}
	}
	vendor := httptest.NewServer(v)
	t.Cleanup(vendor.Close)
	cfg, err := config.Parse("throttle.yaml", []byte(fmt.Sprintf(routeYAML, vendor.URL)))
	if err != nil {
		t.Fatal(err)
	}
	routes, err := proxyRoutes(cfg.Routes, func(string) string { return "" })
	if err != nil {
		t.Fatal(err)
	}
	st, err := store.Open(filepath.Join(t.TempDir(), "mtguard.db"), store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	groups, routesOf := limitGroups(cfg.Routes)
	lim, err := proxy.NewLimiter(groups, routesOf, st.SendTimes, nil)
	if err != nil {
		t.Fatal(err)
	}
	pl, err := proxy.NewPipeline(proxy.PipelineConfig{Recorder: st, Limiter: lim})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(proxy.NewProxy(routes, pl, zerolog.Nop()))
	t.Cleanup(srv.Close)
	tr := &http.Transport{MaxIdleConnsPerHost: 512}
	t.Cleanup(tr.CloseIdleConnections)
	return &throttleHarness{proxy: srv, store: st, vendor: v, client: &http.Client{Transport: tr}}
}

// answer is what a caller got back.
type answer struct {
	email      string
	status     int
	id         string
	retryAfter string
	mtguard    bool // answered by mtguard itself (a problem document), not the vendor
}

func (h *throttleHarness) send(t *testing.T, path, email string) answer {
	req, _ := http.NewRequest("POST", h.proxy.URL+path, strings.NewReader(`{"email":"`+email+`"}`))
	req.Header.Set("Content-Type", "application/json")
	resp, err := h.client.Do(req)
	if err != nil {
		t.Errorf("%s: %v", email, err)
		return answer{email: email}
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	return answer{email: email, status: resp.StatusCode, id: resp.Header.Get(proxy.HeaderID), retryAfter: resp.Header.Get("Retry-After"),
		mtguard: resp.Header.Get("Content-Type") == "application/problem+json"}
}

// outcomes returns the stored outcome of every call of route, by record key, once every call
// has one.
func (h *throttleHarness) outcomes(t *testing.T, route string, want int) map[string][]txn.Transaction {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		if err := h.store.Sync(context.Background()); err != nil {
			t.Fatal(err)
		}
		byKey := map[string][]txn.Transaction{}
		total, pending := 0, 0
		q := store.Query{Route: route, Limit: 1000}
		for {
			page, err := h.store.Query(context.Background(), q)
			if err != nil {
				t.Fatal(err)
			}
			for _, tx := range page.Transactions {
				total++
				if tx.Outcome == txn.OutcomePending {
					pending++
				}
				for _, k := range tx.RecordKeys {
					byKey[k] = append(byKey[k], tx)
				}
			}
			if page.Next == "" {
				break
			}
			q.Cursor = page.Next
		}
		if (total >= want && pending == 0) || time.Now().After(deadline) {
			return byKey
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// burstResult is what a burst did, seen from the callers, the vendor and the store.
type burstResult struct {
	offered, delivered, throttled, unaccounted, violations int
	busiest                                                int // most arrivals in one window
	used                                                   float64
}

// runBurst offers calls every interval for span, each with its own email, and accounts for
// every one of them.
func runBurst(t *testing.T, h *throttleHarness, every, span time.Duration) burstResult {
	t.Helper()
	var wg sync.WaitGroup
	var mu sync.Mutex
	var answers []answer
	start := time.Now()
	for i := 0; time.Since(start) < span; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			a := h.send(t, "/vendor/leads", fmt.Sprintf("lead-%d@burst.test", i))
			mu.Lock()
			answers = append(answers, a)
			mu.Unlock()
		}()
		time.Sleep(time.Until(start.Add(time.Duration(i+1) * every)))
	}
	wg.Wait()
	res := burstResult{offered: len(answers)}
	arrivals, violations, delivered := h.vendor.snapshot()
	res.violations = violations
	byKey := h.outcomes(t, "vendor", len(answers))
	for _, a := range answers {
		txs := byKey[a.email]
		ok := len(txs) == 1
		switch {
		case ok && a.status == http.StatusOK && txs[0].Outcome == txn.OutcomeDelivered && delivered[a.email] == 1:
			res.delivered++
		case ok && a.status == http.StatusTooManyRequests && a.mtguard && txs[0].Outcome == txn.OutcomeThrottled && delivered[a.email] == 0:
			res.throttled++
			if n, err := strconv.Atoi(a.retryAfter); err != nil || n < 1 {
				t.Errorf("%s: throttled with Retry-After %q, want whole seconds", a.email, a.retryAfter)
			}
			if !hasFinding(txs[0], "ratelimit.throttled") {
				t.Errorf("%s: throttled without the ratelimit.throttled finding: %+v", a.email, txs[0].Findings)
			}
		default:
			res.unaccounted++
			if res.unaccounted <= 5 {
				t.Errorf("%s: caller got %d (mtguard %v), store has %d transactions %v, vendor took it %d times", a.email, a.status, a.mtguard, len(txs), outcomesOf(txs), delivered[a.email])
			}
		}
	}
	per := h.vendor.per
	j := 0
	for i := range arrivals {
		for arrivals[i].Sub(arrivals[j]) >= per {
			j++
		}
		res.busiest = max(res.busiest, i-j+1)
	}
	if len(arrivals) > 0 {
		span := arrivals[len(arrivals)-1].Sub(arrivals[0])
		res.used = float64(len(arrivals)) / float64(h.vendor.requests*(int(span/per)+1))
	}
	return res
}

func hasFinding(tx txn.Transaction, code string) bool {
	for _, f := range tx.Findings {
		if f.Code == code {
			return true
		}
	}
	return false
}

func outcomesOf(txs []txn.Transaction) []txn.Outcome {
	var out []txn.Outcome
	for _, tx := range txs {
		out = append(out, tx.Outcome)
	}
	return out
}

// TestThrottleBurst offers 10x a vendor's limit for a few seconds of real time: the vendor
// never sees a call over its window or its concurrency cap, and every payload is delivered or
// recorded throttled (the caller then got 429 with Retry-After).
func TestThrottleBurst(t *testing.T) {
	t.Parallel()
	v := &limitVendor{requests: 20, per: time.Second, concurrency: 5, latency: 100 * time.Millisecond}
	h := newThrottleHarness(t, v, `
routes:
  - name: vendor
    prefix: /vendor
    upstream: %s
    record_keys: [email]
    limits:
      windows: [{requests: 20, per: 1s}]
      concurrency: 5
      max_wait: 500ms
`)
	res := runBurst(t, h, 5*time.Millisecond, 3*time.Second) // 200 a second: 10x
	t.Logf("offered %d: delivered %d, throttled %d, unaccounted %d; vendor: %d over its limits, busiest 1 s window %d, %.1f%% of the budget used",
		res.offered, res.delivered, res.throttled, res.unaccounted, res.violations, res.busiest, res.used*100)
	if res.violations != 0 || res.busiest > 20 {
		t.Errorf("the vendor saw %d calls over its limits (busiest window %d of 20)", res.violations, res.busiest)
	}
	if res.unaccounted != 0 || res.delivered+res.throttled != res.offered {
		t.Errorf("%d of %d calls unaccounted", res.unaccounted, res.offered)
	}
	if res.throttled == 0 || res.delivered < 40 {
		t.Errorf("delivered %d, throttled %d: at 10x the limit for 3 s, expect about 60 delivered and the rest throttled", res.delivered, res.throttled)
	}
}

// TestThrottleBurstLong is the acceptance run in real time: 60 s at 10x a limit of
// 100 per 10 s with concurrency 10. It takes a minute, so it runs only with MTGUARD_LONG=1
// (and not under -short).
func TestThrottleBurstLong(t *testing.T) {
	if testing.Short() || os.Getenv("MTGUARD_LONG") != "1" {
		t.Skip("a minute of real time: set MTGUARD_LONG=1 (without -short) to run it")
	}
	v := &limitVendor{requests: 100, per: 10 * time.Second, concurrency: 10, latency: 50 * time.Millisecond}
	h := newThrottleHarness(t, v, `
routes:
  - name: vendor
    prefix: /vendor
    upstream: %s
    record_keys: [email]
    limits:
      windows: [{requests: 100, per: 10s}]
      concurrency: 10
      max_wait: 2s
`)
	res := runBurst(t, h, 10*time.Millisecond, 60*time.Second) // 100 a second: 10x
	t.Logf("offered %d: delivered %d, throttled %d, unaccounted %d; vendor: %d over its limits, busiest 10 s window %d, %.1f%% of the budget used",
		res.offered, res.delivered, res.throttled, res.unaccounted, res.violations, res.busiest, res.used*100)
	if res.violations != 0 || res.busiest > 100 {
		t.Errorf("the vendor saw %d calls over its limits (busiest window %d of 100)", res.violations, res.busiest)
	}
	if res.unaccounted != 0 {
		t.Errorf("%d of %d calls unaccounted", res.unaccounted, res.offered)
	}
	if res.used < 0.97 {
		t.Errorf("used %.1f%% of the budget, want at least 97%%", res.used*100)
	}
}

// pauseRun sends calls from concurrent callers, each pausing gap between its calls, for d, and
// reports when the vendor answered with a limit signal and when calls arrived.
func pauseRun(t *testing.T, h *throttleHarness, callers int, gap, d time.Duration) (signal time.Time, arrivals []time.Time, answers []answer) {
	t.Helper()
	var wg sync.WaitGroup
	var mu sync.Mutex
	var n atomic.Int64
	stop := time.Now().Add(d)
	for c := 0; c < callers; c++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for time.Now().Before(stop) {
				a := h.send(t, "/vendor/leads", fmt.Sprintf("lead-%d@pause.test", n.Add(1)))
				mu.Lock()
				answers = append(answers, a)
				mu.Unlock()
				time.Sleep(gap)
			}
		}()
	}
	wg.Wait()
	h.vendor.mu.Lock()
	defer h.vendor.mu.Unlock()
	if len(h.vendor.answered) != 1 {
		t.Fatalf("the vendor sent %d limit signals, want 1", len(h.vendor.answered))
	}
	return h.vendor.answered[0], append([]time.Time(nil), h.vendor.arrivals...), answers
}

// checkPause checks that no call reached the vendor for pause after its limit signal, and that
// traffic resumed after it.
func checkPause(t *testing.T, signal time.Time, arrivals []time.Time, pause time.Duration) {
	t.Helper()
	var during, after int
	resumed := time.Time{}
	for _, a := range arrivals {
		switch {
		case a.After(signal) && a.Before(signal.Add(pause)):
			during++
		case !a.Before(signal.Add(pause)):
			after++
			if resumed.IsZero() {
				resumed = a
			}
		}
	}
	t.Logf("limit signal at +0; %d calls during the %s pause; traffic resumed at +%s with %d calls", during, pause, resumed.Sub(signal).Round(time.Millisecond), after)
	if during != 0 {
		t.Errorf("%d calls reached the vendor within %s of its limit signal, want 0", during, pause)
	}
	if after == 0 || resumed.Sub(signal) > pause+time.Second {
		t.Errorf("traffic did not resume after the pause (first call at +%s)", resumed.Sub(signal))
	}
}

// TestThrottleRetryAfterPauses: a vendor that answers 429 with Retry-After: 2 gets no call for
// 2 s, then traffic resumes; nothing is lost meanwhile (the calls wait, max_wait is longer).
func TestThrottleRetryAfterPauses(t *testing.T) {
	t.Parallel()
	answer429 := func(retryAfter string) func(w http.ResponseWriter, n int) bool {
		return func(w http.ResponseWriter, n int) bool {
			if n != 5 {
				return false
			}
			if retryAfter != "" {
				w.Header().Set("Retry-After", retryAfter)
			}
			http.Error(w, `{"message":"slow down"}`, http.StatusTooManyRequests)
			return true
		}
	}
	tests := []struct {
		name, route, retryAfter string
		pause                   time.Duration
		callers                 int
	}{
		// Without a preset or limits, the 429's Retry-After still pauses the route.
		{"no preset", `{name: vendor, prefix: /vendor, upstream: %s, record_keys: [email]}`, "2", 2 * time.Second, 1},
		// The generic preset reads the 429 as ratelimit.upstream; with one call in flight at a
		// time, concurrent callers cannot slip a call in before the pause either.
		{"generic preset, concurrent callers", `{name: vendor, prefix: /vendor, upstream: %s, preset: generic, record_keys: [email], limits: {concurrency: 1}}`, "2", 2 * time.Second, 4},
		// A bare 429 that no rule reads pauses for the group's smallest window.
		{"no Retry-After, no preset", `{name: vendor, prefix: /vendor, upstream: %s, record_keys: [email], limits: {windows: [{requests: 1000, per: 1500ms}]}}`, "", 1500 * time.Millisecond, 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			v := &limitVendor{latency: 5 * time.Millisecond, respond: answer429(tt.retryAfter)}
			h := newThrottleHarness(t, v, "routes:\n  - "+tt.route+"\n")
			signal, arrivals, answers := pauseRun(t, h, tt.callers, 20*time.Millisecond, tt.pause+1500*time.Millisecond)
			checkPause(t, signal, arrivals, tt.pause)
			byKey := h.outcomes(t, "vendor", len(answers))
			waited := 0
			for _, a := range answers {
				txs := byKey[a.email]
				if len(txs) != 1 || (a.status != 200 && a.status != 429) || a.mtguard {
					t.Errorf("%s: status %d (mtguard %v), stored %v", a.email, a.status, a.mtguard, outcomesOf(txs))
					continue
				}
				if txs[0].WaitMS > 1000 {
					waited++
				}
				if a.status == 429 && (txs[0].Outcome != txn.OutcomeFailed || (strings.Contains(tt.route, "preset") && !hasFinding(txs[0], "ratelimit.upstream"))) {
					t.Errorf("the vendor's 429 was stored as %s %v", txs[0].Outcome, txs[0].Findings)
				}
			}
			if waited == 0 {
				t.Error("no call waited out the pause")
			}
		})
	}
}

// TestThrottleMarketo606Pauses: Marketo's rate-limit error 606 comes inside an HTTP 200; the
// marketo preset reads it as a limit signal and pauses the group the same way. The preset's
// documented pause is Marketo's 20 s window; the route shortens it for the test with its own
// copy of the rule (retry_after: 2s), which is also how a route overrides a preset's rule.
func TestThrottleMarketo606Pauses(t *testing.T) {
	t.Parallel()
	v := &limitVendor{latency: 5 * time.Millisecond, respond: func(w http.ResponseWriter, n int) bool {
		if n != 5 {
			return false
		}
		w.Header().Set("Content-Type", "application/json")
		io.WriteString(w, `{"requestId":"e42b#14272d07d78","success":false,"errors":[{"code":"606","message":"Max rate limit '100' exceeded with in '20' secs"}]}`)
		return true
	}}
	h := newThrottleHarness(t, v, `
routes:
  - name: vendor
    prefix: /vendor
    upstream: %s
    preset: marketo
    limits: {group: marketo-prod, concurrency: 1}
    outcomes:
      - name: rate-limit
        when: {body: {success: false, "errors[].code": 606}}
        outcome: failed
        finding: ratelimit.upstream
        signal: ratelimit
        retry_after: 2s
`)
	// Three callers at most 10 calls a second each stay under Marketo's 100 per 20 s.
	signal, arrivals, answers := pauseRun(t, h, 3, 100*time.Millisecond, 3500*time.Millisecond)
	checkPause(t, signal, arrivals, 2*time.Second)
	byKey := h.outcomes(t, "vendor", len(answers))
	found := false
	for _, txs := range byKey {
		for _, tx := range txs {
			if tx.Outcome == txn.OutcomeFailed && hasFinding(tx, "ratelimit.upstream") {
				found = true
			}
		}
	}
	if !found {
		t.Error("the 606 was not recorded as failed with ratelimit.upstream")
	}
}

// TestThrottleQuotaSurvivesRestart runs mtguard, spends part of a daily quota, restarts it on
// the same store, and checks that GET /api/limits and mtguard limits still count those calls
// and that the call over the quota is throttled.
func TestThrottleQuotaSurvivesRestart(t *testing.T) {
	t.Parallel()
	v := &limitVendor{delivered: map[string]int{}}
	vendor := httptest.NewServer(v)
	defer vendor.Close()
	// The quota resets about 12 hours from now, so the test never straddles a reset.
	reset := time.Now().UTC().Add(12 * time.Hour).Format("15:04")
	dbPath := filepath.Join(t.TempDir(), "mtguard.db")
	cfg := fmt.Sprintf(`
listen: 127.0.0.1:0
admin: {listen: 127.0.0.1:0}
store: {path: %s}
routes:
  - name: vendor
    prefix: /vendor
    upstream: %s
    record_keys: [email]
    limits:
      group: daily
      windows: [{requests: 5, per: 24h, resets: "%s UTC"}]
      max_wait: 200ms
`, dbPath, vendor.URL, reset)
	send := func(in *instance, email string) *http.Response {
		t.Helper()
		resp, err := http.Post(in.proxy+"/vendor/leads", "application/json", strings.NewReader(`{"email":"`+email+`"}`))
		if err != nil {
			t.Fatal(err)
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		return resp
	}
	used := func(in *instance) int {
		t.Helper()
		out, err := in.cli(t, nil, "limits", "--json")
		if err != nil {
			t.Fatalf("limits --json: %v\n%s", err, out)
		}
		var rep struct {
			Groups []struct {
				Group   string   `json:"group"`
				Routes  []string `json:"routes"`
				Windows []struct {
					Requests int       `json:"requests"`
					Used     int       `json:"used"`
					Resets   time.Time `json:"resets"`
				} `json:"windows"`
			} `json:"groups"`
		}
		if err := json.Unmarshal([]byte(out), &rep); err != nil {
			t.Fatalf("limits --json: %v\n%s", err, out)
		}
		if len(rep.Groups) != 1 || rep.Groups[0].Group != "daily" || len(rep.Groups[0].Windows) != 1 || rep.Groups[0].Windows[0].Resets.IsZero() {
			t.Fatalf("GET /api/limits = %s", out)
		}
		return rep.Groups[0].Windows[0].Used
	}

	first := startMtguard(t, cfg, nil)
	for i := range 3 {
		if resp := send(first, fmt.Sprintf("lead-%d@quota.test", i)); resp.StatusCode != 200 {
			t.Fatalf("call %d: %d", i, resp.StatusCode)
		}
	}
	if n := used(first); n != 3 {
		t.Fatalf("before the restart, %d of the quota used, want 3", n)
	}
	first.stop()

	second := startMtguard(t, cfg, nil)
	if n := used(second); n != 3 {
		t.Fatalf("after the restart, %d of the quota used, want 3: the restart reset the quota", n)
	}
	for i := 3; i < 5; i++ {
		if resp := send(second, fmt.Sprintf("lead-%d@quota.test", i)); resp.StatusCode != 200 {
			t.Fatalf("call %d: %d", i, resp.StatusCode)
		}
	}
	resp := send(second, "lead-5@quota.test")
	ra, _ := strconv.Atoi(resp.Header.Get("Retry-After"))
	if resp.StatusCode != http.StatusTooManyRequests || ra < 11*3600 {
		t.Fatalf("the sixth call of the day: %d with Retry-After %q, want 429 until the reset about 12 h away", resp.StatusCode, resp.Header.Get("Retry-After"))
	}
	out, err := second.cli(t, nil, "limits")
	if err != nil {
		t.Fatalf("limits: %v\n%s", err, out)
	}
	for _, want := range []string{"GROUP", "daily", "vendor", "5/5 per 24h (resets ", "0/-", "0/0", "5", "1"} {
		if !strings.Contains(out, want) {
			t.Errorf("mtguard limits lacks %q:\n%s", want, out)
		}
	}
	if _, _, delivered := v.snapshot(); len(delivered) != 5 {
		t.Errorf("the vendor got %d leads, want 5", len(delivered))
	}
}

// TestThrottleCallerLeavesQueue: a caller that gives up while its call waits for budget gets
// nothing (it left), but the call is recorded throttled, replayable, like one past max_wait.
func TestThrottleCallerLeavesQueue(t *testing.T) {
	t.Parallel()
	v := &limitVendor{}
	h := newThrottleHarness(t, v, `
routes:
  - name: vendor
    prefix: /vendor
    upstream: %s
    record_keys: [email]
    limits: {windows: [{requests: 1, per: 1h}], max_wait: 10s}
`)
	if a := h.send(t, "/vendor/leads", "first@leave.test"); a.status != 200 {
		t.Fatalf("first call: %d", a.status)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, "POST", h.proxy.URL+"/vendor/leads", strings.NewReader(`{"email":"gone@leave.test"}`))
	req.Header.Set("Content-Type", "application/json")
	if resp, err := h.client.Do(req); err == nil {
		resp.Body.Close()
		t.Fatalf("the caller that left got %d", resp.StatusCode)
	}
	txs := h.outcomes(t, "vendor", 2)["gone@leave.test"]
	if len(txs) != 1 || txs[0].Outcome != txn.OutcomeThrottled || !hasFinding(txs[0], "ratelimit.throttled") || !strings.Contains(txs[0].Error, "the caller left while queued") {
		t.Fatalf("the call whose caller left is stored as %+v", txs)
	}
	if _, _, delivered := v.snapshot(); delivered["gone@leave.test"] != 0 {
		t.Error("the call whose caller left reached the vendor")
	}
}
