package bench

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/mtguard/mtguard/pgstore"
	"github.com/mtguard/mtguard/store"
	"github.com/mtguard/mtguard/txn"
)

// BenchmarkStoreBackends measures the transaction log alone, as the pipeline drives it: each
// of MTGUARD_BENCH_CLIENTS goroutines records an intent (waiting until it is durable), then its
// result, as fast as it can, for MTGUARD_BENCH_PHASE, first into a bbolt file, then into
// PostgreSQL (MTGUARD_BENCH_PG_DSN, default the project machines' database test, in a fresh
// schema). It prints calls per second and CPU per call: this process's (encoding, the
// backend's client side) and, for PostgreSQL, the database server's, read from /proc (Linux,
// a database on this machine). Skipped without PostgreSQL.
//
//	go test -run '^$' -bench StoreBackends -benchtime 1x ./bench/
func BenchmarkStoreBackends(b *testing.B) {
	dsn := os.Getenv("MTGUARD_BENCH_PG_DSN")
	if dsn == "" {
		dsn = "postgres://postgres@127.0.0.1:5432/test?sslmode=disable&connect_timeout=3"
	}
	phase := 3 * time.Second
	if v := os.Getenv(envBenchPhase); v != "" {
		d, err := time.ParseDuration(v)
		if err != nil {
			b.Fatalf("%s: %v", envBenchPhase, err)
		}
		phase = d
	}
	clients := 32
	if v := os.Getenv("MTGUARD_BENCH_CLIENTS"); v != "" {
		clients, _ = strconv.Atoi(v)
	}
	bolt, err := store.Open(filepath.Join(b.TempDir(), "mtguard.db"), store.Options{JournalPrealloc: 64 << 20})
	if err != nil {
		b.Fatal(err)
	}
	schema := fmt.Sprintf("mtguard_bench_%d", time.Now().UnixNano())
	pg, err := pgstore.Open(context.Background(), dsn, pgstore.Options{Schema: schema, Migrate: true})
	if err != nil {
		bolt.Close()
		b.Skipf("PostgreSQL unavailable (%v): only the bbolt figures would print", err)
	}
	defer func() {
		pg.Close()
		if p, err := pgstore.Open(context.Background(), dsn, pgstore.Options{Schema: schema, Migrate: true}); err == nil {
			p.DropSchema(context.Background())
			p.Close()
		}
	}()
	// The log serve opens: PostgreSQL behind its local spool, which a healthy database leaves
	// unused (what it costs is the choice made per write).
	spooled, err := pgstore.OpenSpooled(context.Background(), dsn, pgstore.Options{Schema: schema, Migrate: true},
		filepath.Join(b.TempDir(), "spool.db"), pgstore.SpoolOptions{})
	if err != nil {
		b.Fatal(err)
	}
	defer spooled.Close()
	var out strings.Builder
	fmt.Fprintf(&out, "\nstore backends, %d clients, %v each (intent durable, then result):\n", clients, phase)
	for _, be := range []struct {
		name   string
		log    store.Log
		server bool
	}{{"bbolt", bolt, false}, {"postgres", pg, true}, {"pg+spool", spooled, true}} {
		n, self, server := drive(b, be.log, clients, phase, be.server)
		fmt.Fprintf(&out, "  %-9s %8.0f calls/s  mtguard CPU %6.1f µs/call", be.name, float64(n)/phase.Seconds(), float64(self.Microseconds())/float64(n))
		if be.server {
			fmt.Fprintf(&out, "  database CPU %6.1f µs/call", float64(server.Microseconds())/float64(n))
		}
		out.WriteString("\n")
	}
	if n := spooled.SpoolLen(); n > 0 || spooled.Healthy() != nil {
		fmt.Fprintf(&out, "  (pg+spool went to its spool: %d writes there, %v)\n", n, spooled.Healthy())
	}
	bolt.Close()
	b.Log(out.String())
	fmt.Print(out.String())
}

// drive runs the load and returns the calls completed, this process's CPU, and the CPU of
// the processes named postgres (when server).
func drive(b *testing.B, log store.Log, clients int, phase time.Duration, server bool) (int64, time.Duration, time.Duration) {
	var n atomic.Int64
	stop := time.Now().Add(phase)
	cpu0, srv0 := selfCPU(), time.Duration(0)
	if server {
		srv0 = postgresCPU()
	}
	var wg sync.WaitGroup
	for c := range clients {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; time.Now().Before(stop); i++ {
				email := fmt.Sprintf("c%d-%d@acme.com", c, i)
				tx := &txn.Transaction{Call: txn.Call{Time: time.Now().UTC(), Route: "hubspot", Method: "POST", Path: "/crm/v3/objects/contacts",
					RecordKeys: []string{email}, Request: txn.Message{ContentType: "application/json", Body: `{"properties":{"email":"` + email + `","firstname":"Jane","lastname":"Doe","company":"Acme"}}`, Size: 96}}}
				if err := log.RecordIntent(context.Background(), tx); err != nil {
					b.Error(err)
					return
				}
				tx.Result = txn.Result{Status: 201, Outcome: txn.OutcomeDelivered, Findings: []txn.Finding{}, Response: txn.Message{Body: `{"id":"1"}`, Size: 10}}
				if err := log.RecordResult(tx); err != nil {
					b.Error(err)
					return
				}
				n.Add(1)
			}
		}()
	}
	wg.Wait()
	if err := log.Sync(context.Background()); err != nil {
		b.Error(err)
	}
	self := selfCPU() - cpu0
	var srv time.Duration
	if server {
		srv = postgresCPU() - srv0
	}
	return n.Load(), self, srv
}

// postgresCPU sums the user and system time of every process named postgres, from /proc
// (clock ticks of 1/100 s, Linux's usual USER_HZ): 0 where /proc cannot tell.
func postgresCPU() time.Duration {
	dirs, _ := filepath.Glob("/proc/[0-9]*/stat")
	var ticks int64
	for _, p := range dirs {
		b, err := os.ReadFile(p)
		if err != nil {
			continue
		}
		s := string(b)
		open, close := strings.IndexByte(s, '('), strings.LastIndexByte(s, ')')
		if open < 0 || close < open || !strings.HasPrefix(s[open+1:close], "postgres") {
			continue
		}
		f := strings.Fields(s[close+1:])
		if len(f) < 13 {
			continue
		}
		u, _ := strconv.ParseInt(f[11], 10, 64)
		st, _ := strconv.ParseInt(f[12], 10, 64)
		ticks += u + st
	}
	return time.Duration(ticks) * 10 * time.Millisecond
}

// BenchmarkProxyBackends runs, in one run and interleaved, the bare reverse proxy and the real
// mtguard binary twice: recording into a bbolt file, and into PostgreSQL (MTGUARD_BENCH_PG_DSN,
// default the project machines' database test, in a fresh schema). With the instant and the
// slow vendor it prints each target's calls per second and CPU per call (the proxy process's
// alone: PostgreSQL's own CPU is in BenchmarkStoreBackends), medians over the rounds, and the
// ratios to the bare proxy. The knobs are BenchmarkProxyOverhead's. Skipped without PostgreSQL.
//
//	go test -run '^$' -bench ProxyBackends -benchtime 1x -timeout 30m ./bench/
func BenchmarkProxyBackends(b *testing.B) {
	if runtime.GOOS != "linux" {
		b.Skip("reads the proxies' CPU time from /proc; Linux only")
	}
	dsn := os.Getenv("MTGUARD_BENCH_PG_DSN")
	if dsn == "" {
		dsn = "postgres://postgres@127.0.0.1:5432/test?sslmode=disable&connect_timeout=3"
	}
	schema := fmt.Sprintf("mtguard_bench_%d", time.Now().UnixNano())
	pg, err := pgstore.Open(context.Background(), dsn, pgstore.Options{Schema: schema, Migrate: true})
	if err != nil {
		b.Skipf("PostgreSQL unavailable: %v", err)
	}
	pg.Close()
	b.Cleanup(func() {
		if p, err := pgstore.Open(context.Background(), dsn, pgstore.Options{Schema: schema, Migrate: true}); err == nil {
			p.DropSchema(context.Background())
			p.Close()
		}
	})
	sep := "?"
	if strings.Contains(dsn, "?") {
		sep = "&"
	}
	opts := benchOptionsFromEnv(b)
	bin := buildMtguard(b, "")
	vendor := newFakeVendor()
	b.Cleanup(vendor.Close)
	dir := b.TempDir()
	route := fmt.Sprintf("routes:\n  - name: hubspot\n    prefix: %s\n    upstream: %s\n    record_keys: [properties.email, \"inputs[].properties.email\"]\n", benchPrefix, vendor.URL)
	cfgs := map[string]string{
		"bbolt":    fmt.Sprintf("listen: 127.0.0.1:0\nadmin: {listen: 127.0.0.1:0}\nstore: {path: %q}\n%s", filepath.Join(dir, "mtguard.db"), route),
		"postgres": "listen: 127.0.0.1:0\nadmin: {listen: 127.0.0.1:0}\nstore: {backend: postgres, dsn_env: MTGUARD_PG_DSN}\n" + route,
	}
	urls, pids := map[string]string{}, map[string]int{}
	bare := startBenchChild(b, "bare", os.Args[0], testChildArgs, opts, envBenchChild+"=bare", envBenchUpstream+"="+vendor.URL)
	urls["bare"], pids["bare"] = "http://"+bare.addr+benchPrefix+benchPath, bare.cmd.Process.Pid
	for _, name := range []string{"bbolt", "postgres"} {
		path := filepath.Join(dir, name+".yaml")
		if err := os.WriteFile(path, []byte(cfgs[name]), 0o600); err != nil {
			b.Fatal(err)
		}
		c := startBenchChild(b, name, bin.path, serveArgs(path, opts), opts, "MTGUARD_PG_DSN="+dsn+sep+"search_path="+schema)
		urls[name], pids[name] = "http://"+c.addr+benchPrefix+benchPath, c.cmd.Process.Pid
	}
	client := newLoadClient(opts.clients)
	defer client.CloseIdleConnections()
	load := &loadGen{client: client, clients: opts.clients}
	targets := []string{"bare", "bbolt", "postgres"}
	var out strings.Builder
	fmt.Fprintf(&out, "\nproxy backends, %d clients, medians of %d rounds of %v:\n", opts.clients, opts.rounds, opts.phase)
	for _, delay := range []time.Duration{0, opts.vendorDelay} {
		vendor.delay.Store(int64(delay))
		res := map[string][]phaseResult{}
		for round := range opts.rounds {
			for i := range targets {
				t := targets[(i+round)%len(targets)]
				r := load.phase(t, urls[t], []int{pids[t]}, opts.warmup, opts.phase)
				if r.errs > 0 {
					b.Errorf("%s, vendor %v: %d calls failed; first: %s", t, delay, r.errs, r.firstErr)
				}
				res[t] = append(res[t], r)
			}
		}
		med := func(t string, f func(phaseResult) float64) float64 {
			var v []float64
			for _, r := range res[t] {
				v = append(v, f(r))
			}
			slices.Sort(v)
			return v[len(v)/2]
		}
		fmt.Fprintf(&out, "  vendor %v:\n", delay)
		bareRPS, bareCPU := med("bare", phaseResult.rps), med("bare", phaseResult.cpuPerCall)
		for _, t := range targets {
			rps, cpu := med(t, phaseResult.rps), med(t, phaseResult.cpuPerCall)
			fmt.Fprintf(&out, "    %-9s %8.0f calls/s (%.2fx bare)  proxy CPU %6.1f µs/call (%.2fx bare)\n", t, rps, rps/bareRPS, cpu, cpu/bareCPU)
		}
	}
	b.Log(out.String())
	fmt.Print(out.String())
}
