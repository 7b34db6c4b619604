package bench

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
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
	var out strings.Builder
	fmt.Fprintf(&out, "\nstore backends, %d clients, %v each (intent durable, then result):\n", clients, phase)
	for _, be := range []struct {
		name   string
		log    store.Log
		server bool
	}{{"bbolt", bolt, false}, {"postgres", pg, true}} {
		n, self, server := drive(b, be.log, clients, phase, be.server)
		fmt.Fprintf(&out, "  %-9s %8.0f calls/s  mtguard CPU %6.1f µs/call", be.name, float64(n)/phase.Seconds(), float64(self.Microseconds())/float64(n))
		if be.server {
			fmt.Fprintf(&out, "  database CPU %6.1f µs/call", float64(server.Microseconds())/float64(n))
		}
		out.WriteString("\n")
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
