package bench

import (
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/mtguard/mtguard/config"
)

// benchAdminToken is the admin token of the benchmark's mtguard (a route holds a credential).
const benchAdminToken = "bench-admin-token-0123456789abcdef"

// BenchmarkDeliveryQueue measures, in one run against one mtguard, what store-and-forward
// delivery (delivery.mode: queue) costs and saves the calling tool beside the inline path: the
// tool's latency and the calls a second it gets through, with the fake vendor answering at
// once and after MTGUARD_BENCH_VENDOR_DELAY. A queued call is answered once its intent is in
// the journal and its delivery in the bbolt queue (two syncs), whatever the vendor does; the
// redeliverer then sends it in the background, behind live traffic. The same knobs as
// BenchmarkProxyOverhead apply (phase, warm-up, rounds, clients, vendor delay).
//
//	go test -run '^$' -bench DeliveryQueue -benchtime 1x -timeout 30m ./bench/
func BenchmarkDeliveryQueue(b *testing.B) {
	if runtime.GOOS != "linux" {
		b.Skip("reads the proxies' CPU time from /proc; Linux only")
	}
	opts := benchOptionsFromEnv(b)
	bin := buildMtguard(b, opts.profile)
	dir := opts.dir
	if dir == "" {
		dir = b.TempDir()
	}
	name := fmt.Sprintf("mtguard-delivery-bench-%d", time.Now().UnixNano())
	dbPath, cfgPath := filepath.Join(dir, name+".db"), filepath.Join(dir, name+".yaml")
	b.Cleanup(func() { os.Remove(dbPath); os.Remove(cfgPath) })
	vendor := newFakeVendor()
	b.Cleanup(vendor.Close)

	cfgYAML := fmt.Sprintf(`listen: 127.0.0.1:0
admin: {listen: 127.0.0.1:0, token_env: BENCH_ADMIN_TOKEN}
store: {path: %q}
routes:
  - name: inline
    prefix: /inline
    upstream: %[2]s
    record_keys: [properties.email]
  - name: queue
    prefix: /queue
    upstream: %[2]s
    record_keys: [properties.email]
    auth: {header: Authorization, value_env: BENCH_VENDOR_TOKEN}
    delivery:
      mode: queue
      accept: {status: 201, body: '{"queued": true, "id": "{id}"}'}
`, dbPath, vendor.URL)
	if _, err := config.Parse(cfgPath, []byte(cfgYAML)); err != nil {
		b.Fatalf("benchmark config: %v", err)
	}
	if err := os.WriteFile(cfgPath, []byte(cfgYAML), 0o600); err != nil {
		b.Fatal(err)
	}
	mtg := startBenchChild(b, "mtguard", bin.path, serveArgs(cfgPath, opts), opts,
		"BENCH_VENDOR_TOKEN=Bearer pat-na1-11111111-2222-3333-4444-555555555555", "BENCH_ADMIN_TOKEN="+benchAdminToken)
	pid := mtg.cmd.Process.Pid
	client := newLoadClient(opts.clients)
	defer client.CloseIdleConnections()
	load := &loadGen{client: client, clients: opts.clients}
	targets := []string{"inline", "queue"}
	delays := []time.Duration{0, opts.vendorDelay}
	results := map[string][]phaseResult{}
	for round := range opts.rounds {
		for _, delay := range delays {
			vendor.delay.Store(int64(delay))
			for i := range targets {
				target := targets[(i+round)%len(targets)]
				r := load.phase("mtguard", "http://"+mtg.addr+"/"+target+benchPath, []int{pid}, opts.warmup, opts.phase)
				if r.errs > 0 {
					b.Errorf("%s, vendor %v: %d calls failed; first: %s", target, delay, r.errs, r.firstErr)
				}
				key := fmt.Sprintf("%s/%v", target, delay)
				results[key] = append(results[key], r)
			}
		}
	}
	client.CloseIdleConnections()
	backlog, drain := drainQueue(b, mtg)
	mtg.stop(b)

	var out strings.Builder
	fmt.Fprintf(&out, "delivery queue vs inline, one mtguard, %d clients, %d round(s) of %s (medians over rounds)\n", opts.clients, opts.rounds, opts.phase)
	fmt.Fprintf(&out, "%-8s %-8s %10s %9s %9s %12s\n", "vendor", "mode", "calls/s", "p50 ms", "p99 ms", "cpu µs/call")
	for _, delay := range delays {
		for _, target := range targets {
			rs := results[fmt.Sprintf("%s/%v", target, delay)]
			rps, p50, p99, cpu := med(rs, phaseResult.rps), med(rs, func(r phaseResult) float64 { return r.pct(50) }),
				med(rs, func(r phaseResult) float64 { return r.pct(99) }), med(rs, phaseResult.cpuPerCall)
			fmt.Fprintf(&out, "%-8v %-8s %10.0f %9.2f %9.2f %12.0f\n", delay, target, rps, p50, p99, cpu)
			unit := strings.ReplaceAll(fmt.Sprintf("%s_%v", target, delay), "0s", "0")
			b.ReportMetric(rps, unit+"_rps")
			b.ReportMetric(p50, unit+"_p50_ms")
		}
	}
	fmt.Fprintln(&out, "(queue: the tool's answer is mtguard's accept; delivery to the vendor continues in the background and is not in these figures)")
	if backlog > 0 {
		fmt.Fprintf(&out, "backlog when the load stopped: %d queued calls, delivered in %s (%.0f calls/s, vendor delay %s)\n",
			backlog, drain.Round(time.Millisecond), float64(backlog)/drain.Seconds(), opts.vendorDelay)
		b.ReportMetric(float64(backlog)/drain.Seconds(), "drain_rps")
	}
	b.ReportMetric(0, "ns/op")
	fmt.Println(out.String())
}

// drainQueue waits until mtguard's delivery queue is empty and returns how many calls it held
// when the load stopped and how long they took to deliver.
func drainQueue(b *testing.B, mtg *benchChildProc) (int, time.Duration) {
	m := adminLineRE.FindStringSubmatch(mtg.stdout.String())
	if m == nil {
		b.Errorf("no admin address in mtguard's output")
		return 0, 0
	}
	depth := func() int {
		req, _ := http.NewRequest(http.MethodGet, m[1]+"/api/health", nil)
		req.Header.Set("Authorization", "Bearer "+benchAdminToken)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			return -1
		}
		defer resp.Body.Close()
		var h struct {
			Deliveries []struct{ Depth int }
		}
		if json.NewDecoder(resp.Body).Decode(&h) != nil {
			return -1
		}
		n := 0
		for _, d := range h.Deliveries {
			n += d.Depth
		}
		return n
	}
	start, first := time.Now(), depth()
	for n := first; n != 0; n = depth() {
		if time.Since(start) > 5*time.Minute {
			b.Errorf("the delivery queue still holds %d calls after 5 minutes", n)
			return first, time.Since(start)
		}
		time.Sleep(50 * time.Millisecond)
	}
	return first, time.Since(start)
}
