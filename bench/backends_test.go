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

	"github.com/jackc/pgx/v5"

	"github.com/mtguard/mtguard/pgstore"
	"github.com/mtguard/mtguard/store"
	"github.com/mtguard/mtguard/txn"
)

// BenchmarkStoreBackends measures the transaction log alone, as the pipeline drives it: each
// of MTGUARD_BENCH_CLIENTS goroutines records an intent and then a provisional result
// (waiting until each is durable), then its result, as fast as it can, for
// MTGUARD_BENCH_PHASE, into a bbolt file, into PostgreSQL (MTGUARD_BENCH_PG_DSN, default the
// project machines' database test, in a fresh schema) and into PostgreSQL behind its spool (the
// log serve opens). It prints calls per second and CPU per call: this process's (encoding,
// the backend's client side) and, for PostgreSQL, the database server's (A + B: the store's
// connections, then the server's own processes; see dbMeter) and its WAL per call
// (pg_stat_wal: the whole server's, other clients' writes included). Skipped without
// PostgreSQL.
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
	const app = "mtguard_bench_store"
	pg, err := pgstore.Open(context.Background(), withParam(dsn, "application_name="+app), pgstore.Options{Schema: schema, Migrate: true})
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
	spooled, err := pgstore.OpenSpooled(context.Background(), withParam(dsn, "application_name="+app), pgstore.Options{Schema: schema, Migrate: true},
		filepath.Join(b.TempDir(), "spool.db"), pgstore.SpoolOptions{})
	if err != nil {
		b.Fatal(err)
	}
	defer spooled.Close()
	var out strings.Builder
	fmt.Fprintf(&out, "\nstore backends, %d clients, %v each (intent and provisional result durable, then result):\n", clients, phase)
	for _, be := range []struct {
		name   string
		log    store.Log
		server bool
	}{{"bbolt", bolt, false}, {"postgres", pg, true}, {"pg+spool", spooled, true}} {
		var wal0 walStats
		if be.server {
			wal0 = readWAL(dsn)
		}
		var db *dbMeter
		if be.server {
			db = startDBMeter(dsn, app)
		}
		n, self := drive(b, be.log, clients, phase)
		var conns, server time.Duration
		if db != nil {
			conns, server = db.used()
		}
		fmt.Fprintf(&out, "  %-9s %8.0f calls/s  mtguard CPU %6.1f µs/call", be.name, float64(n)/phase.Seconds(), float64(self.Microseconds())/float64(n))
		if be.server {
			wal := readWAL(dsn).minus(wal0)
			fmt.Fprintf(&out, "  database CPU %6.1f + %4.1f µs/call  WAL %5.0f bytes, %4.1f records/call, %5.1f calls/WAL flush",
				float64(conns.Microseconds())/float64(n), float64(server.Microseconds())/float64(n), float64(wal.bytes)/float64(n), float64(wal.records)/float64(n), float64(n)/float64(max(wal.syncs, 1)))
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

// drive runs the load and returns the calls completed and this process's CPU.
func drive(b *testing.B, log store.Log, clients int, phase time.Duration) (int64, time.Duration) {
	var n atomic.Int64
	stop := time.Now().Add(phase)
	cpu0 := selfCPU()
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
				res := txn.Result{Status: 201, Outcome: txn.OutcomeDelivered, Findings: []txn.Finding{}, Response: txn.Message{Body: `{"id":"1"}`, Size: 10}}
				if err := log.RecordProvisional(context.Background(), tx, res); err != nil {
					b.Error(err)
					return
				}
				tx.Result = res
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
	return n.Load(), selfCPU() - cpu0
}

// walStats are the server's WAL counters (pg_stat_wal): every client's writes, not only ours.
type walStats struct{ bytes, records, syncs int64 }

func (w walStats) minus(o walStats) walStats {
	return walStats{w.bytes - o.bytes, w.records - o.records, w.syncs - o.syncs}
}

// readWAL reads pg_stat_wal; zero when it cannot.
func readWAL(dsn string) walStats {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	conn, err := pgx.Connect(ctx, dsn)
	if err != nil {
		return walStats{}
	}
	defer conn.Close(ctx)
	var w walStats
	_ = conn.QueryRow(ctx, `SELECT wal_bytes::int8, wal_records, wal_sync FROM pg_stat_wal`).Scan(&w.bytes, &w.records, &w.syncs)
	return w
}

// dbMeter measures the CPU time of the PostgreSQL processes that served one application: its
// connections (those whose application_name is app) and the server's own processes (WAL
// writer, checkpointer, autovacuum...), not the connections of other clients of the same
// server. It reads /proc (Linux, a database on this machine; clock ticks of 1/100 s, Linux's
// usual USER_HZ): 0 where it cannot tell.
type dbMeter struct {
	dsn, app string
	start    map[int]int64
}

func startDBMeter(dsn, app string) *dbMeter {
	return &dbMeter{dsn: dsn, app: app, start: postgresTicks()}
}

// used returns the CPU time the processes used since startDBMeter (a connection opened since
// then counts from zero): the application's connections, and the server's own processes,
// which also work for the server's other clients (autovacuum may be vacuuming their tables).
func (m *dbMeter) used() (conns, server time.Duration) {
	now := postgresTicks()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	conn, err := pgx.Connect(ctx, m.dsn)
	if err != nil {
		return 0, 0
	}
	defer conn.Close(ctx)
	rows, err := conn.Query(ctx, `SELECT pid, backend_type = 'client backend' FROM pg_stat_activity
		WHERE application_name = $1 OR backend_type <> 'client backend'`, m.app)
	if err != nil {
		return 0, 0
	}
	var own, bg int64
	for rows.Next() {
		var pid int32
		var client bool
		if rows.Scan(&pid, &client) != nil {
			return 0, 0
		}
		if d := now[int(pid)] - m.start[int(pid)]; client {
			own += d
		} else {
			bg += d
		}
	}
	if rows.Err() != nil {
		return 0, 0
	}
	tick := 10 * time.Millisecond
	return time.Duration(own) * tick, time.Duration(bg) * tick
}

// postgresTicks reads the user and system time of every process named postgres, by pid.
func postgresTicks() map[int]int64 {
	dirs, _ := filepath.Glob("/proc/[0-9]*/stat")
	out := map[int]int64{}
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
		pid, _ := strconv.Atoi(strings.TrimSpace(s[:open]))
		u, _ := strconv.ParseInt(f[11], 10, 64)
		st, _ := strconv.ParseInt(f[12], 10, 64)
		out[pid] = u + st
	}
	return out
}

// withParam adds a parameter to a postgres:// connection string.
func withParam(dsn, kv string) string {
	if strings.Contains(dsn, "?") {
		return dsn + "&" + kv
	}
	return dsn + "?" + kv
}

// BenchmarkProxyBackends runs, in one run and interleaved, the bare reverse proxy and the real
// mtguard binary twice: recording into a bbolt file, and into PostgreSQL (MTGUARD_BENCH_PG_DSN,
// default the project machines' database test, in a fresh schema). With the instant and the
// slow vendor it prints each target's calls per second, the proxy process's CPU per call and,
// for PostgreSQL, the database server's (A + B: mtguard's connections, then the server's own
// processes, read from /proc: see dbMeter), medians over the rounds, and the ratios to the
// bare proxy. The knobs are BenchmarkProxyOverhead's; MTGUARD_BENCH_BEFORE adds the other
// build on PostgreSQL (postgres-before, a schema of its own) and prints the per-round ratios of
// the two builds' CPU per call, and MTGUARD_BENCH_PROFILE profiles this build's two children
// (bbolt.cpu.pprof, postgres.cpu.pprof). Skipped without PostgreSQL.
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
	opts := benchOptionsFromEnv(b)
	targets := []string{"bare", "bbolt", "postgres"}
	if opts.before != "" {
		targets = append(targets, "postgres-before")
	}
	// Each PostgreSQL target has a schema of its own: the other build may know fewer
	// migrations, and would refuse a newer schema.
	base := fmt.Sprintf("mtguard_bench_%d", time.Now().UnixNano())
	schemas := map[string]string{"postgres": base, "postgres-before": base + "_before"}
	pg, err := pgstore.Open(context.Background(), dsn, pgstore.Options{Schema: base, Migrate: true})
	if err != nil {
		b.Skipf("PostgreSQL unavailable: %v", err)
	}
	pg.Close()
	if opts.before != "" {
		// Created empty: the other build migrates it.
		conn, err := pgx.Connect(context.Background(), dsn)
		if err != nil {
			b.Fatal(err)
		}
		_, err = conn.Exec(context.Background(), `CREATE SCHEMA `+pgx.Identifier{schemas["postgres-before"]}.Sanitize())
		conn.Close(context.Background())
		if err != nil {
			b.Fatal(err)
		}
	}
	b.Cleanup(func() {
		for _, s := range schemas {
			if p, err := pgstore.Open(context.Background(), dsn, pgstore.Options{Schema: s, Migrate: true}); err == nil {
				p.DropSchema(context.Background())
				p.Close()
			}
		}
	})
	bin := buildMtguard(b, opts.profile)
	vendor := newFakeVendor()
	b.Cleanup(vendor.Close)
	dir := b.TempDir()
	route := fmt.Sprintf("routes:\n  - name: hubspot\n    prefix: %s\n    upstream: %s\n    record_keys: [properties.email, \"inputs[].properties.email\"]\n", benchPrefix, vendor.URL)
	// store.path is not used with PostgreSQL, but the spool file goes beside it: one folder per
	// instance (a build from before the spool accepts the key too).
	pgCfg := func(name string) string {
		return fmt.Sprintf("listen: 127.0.0.1:0\nadmin: {listen: 127.0.0.1:0}\nstore: {backend: postgres, dsn_env: MTGUARD_PG_DSN, path: %q}\n%s",
			filepath.Join(dir, name, "mtguard.db"), route)
	}
	cfgs := map[string]string{
		"bbolt":           fmt.Sprintf("listen: 127.0.0.1:0\nadmin: {listen: 127.0.0.1:0}\nstore: {path: %q}\n%s", filepath.Join(dir, "mtguard.db"), route),
		"postgres":        pgCfg("postgres"),
		"postgres-before": pgCfg("postgres-before"),
	}
	for _, name := range []string{"postgres", "postgres-before"} {
		if err := os.MkdirAll(filepath.Join(dir, name), 0o700); err != nil {
			b.Fatal(err)
		}
	}
	urls, pids := map[string]string{}, map[string]int{}
	bare := startBenchChild(b, "bare", os.Args[0], testChildArgs, opts, envBenchChild+"=bare", envBenchUpstream+"="+vendor.URL)
	urls["bare"], pids["bare"] = "http://"+bare.addr+benchPrefix+benchPath, bare.cmd.Process.Pid
	for _, name := range targets[1:] {
		path := filepath.Join(dir, name+".yaml")
		if err := os.WriteFile(path, []byte(cfgs[name]), 0o600); err != nil {
			b.Fatal(err)
		}
		binPath := bin.path
		if name == "postgres-before" {
			binPath = opts.before
		}
		env := []string{envBenchProfileName + "=" + name}
		if s := schemas[name]; s != "" {
			env = append(env, "MTGUARD_PG_DSN="+withParam(withParam(dsn, "search_path="+s), "application_name=mtguard_bench_"+s))
		}
		c := startBenchChild(b, name, binPath, serveArgs(path, opts), opts, env...)
		c.profiled = bin.profiled && binPath == bin.path
		urls[name], pids[name] = "http://"+c.addr+benchPrefix+benchPath, c.cmd.Process.Pid
	}
	client := newLoadClient(opts.clients)
	defer client.CloseIdleConnections()
	load := &loadGen{client: client, clients: opts.clients}
	var out strings.Builder
	fmt.Fprintf(&out, "\nproxy backends, %d clients, medians of %d rounds of %v:\n", opts.clients, opts.rounds, opts.phase)
	for _, delay := range []time.Duration{0, opts.vendorDelay} {
		vendor.delay.Store(int64(delay))
		res := map[string][]phaseResult{}
		dbCPU, dbServer := map[string][]float64{}, map[string][]float64{}
		for round := range opts.rounds {
			for i := range targets {
				t := targets[(i+round)%len(targets)]
				db := startDBMeter(dsn, "mtguard_bench_"+schemas[t])
				r := load.phase(t, urls[t], []int{pids[t]}, opts.warmup, opts.phase)
				conns, server := db.used()
				dbCPU[t] = append(dbCPU[t], float64(conns.Microseconds())/float64(max(r.answered, 1)))
				dbServer[t] = append(dbServer[t], float64(server.Microseconds())/float64(max(r.answered, 1)))
				if r.errs > 0 {
					b.Errorf("%s, vendor %v: %d calls failed; first: %s", t, delay, r.errs, r.firstErr)
				}
				res[t] = append(res[t], r)
			}
		}
		median := func(v []float64) float64 {
			v = slices.Clone(v)
			slices.Sort(v)
			return v[len(v)/2]
		}
		med := func(t string, f func(phaseResult) float64) float64 {
			var v []float64
			for _, r := range res[t] {
				v = append(v, f(r))
			}
			return median(v)
		}
		fmt.Fprintf(&out, "  vendor %v:\n", delay)
		bareRPS, bareCPU := med("bare", phaseResult.rps), med("bare", phaseResult.cpuPerCall)
		for _, t := range targets {
			rps, cpu := med(t, phaseResult.rps), med(t, phaseResult.cpuPerCall)
			fmt.Fprintf(&out, "    %-15s %8.0f calls/s (%.2fx bare)  proxy CPU %6.1f µs/call (%.2fx bare)", t, rps, rps/bareRPS, cpu, cpu/bareCPU)
			if strings.HasPrefix(t, "postgres") {
				fmt.Fprintf(&out, "  database CPU %6.1f + %4.1f µs/call", median(dbCPU[t]), median(dbServer[t]))
			}
			out.WriteString("\n")
		}
		if opts.before != "" {
			var ratios, dbRatios []string
			for i := range res["postgres"] {
				ratios = append(ratios, fmt.Sprintf("×%.2f", res["postgres"][i].cpuPerCall()/res["postgres-before"][i].cpuPerCall()))
				dbRatios = append(dbRatios, fmt.Sprintf("×%.2f", dbCPU["postgres"][i]/max(dbCPU["postgres-before"][i], 1)))
			}
			fmt.Fprintf(&out, "    postgres ÷ postgres-before per round: proxy CPU per call %s; database CPU per call %s\n",
				strings.Join(ratios, ", "), strings.Join(dbRatios, ", "))
		}
	}
	b.Log(out.String())
	fmt.Print(out.String())
}
