package main

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"github.com/mtguard/mtguard/config"
	"github.com/mtguard/mtguard/store"
)

const benchJourneyRoutes = `
listen: 127.0.0.1:0
admin: {listen: 127.0.0.1:0}
store: {path: %q}
routes:
  - {name: form, prefix: /form, upstream: %[2]s, record_keys: [email]%[3]s}
  - {name: mkto, prefix: /mkto, upstream: %[2]s, record_keys: ["input[].email"]%[3]s}
  - {name: crm, prefix: /crm, upstream: %[2]s, record_keys: [Email]%[3]s}
`

const benchJourneys = `
journeys:
  - {name: lead, key: email, steps: [form, mkto, crm], within: 1h, owner: ops@example.com}
`

// BenchmarkJourneysDriftOverhead measures what journeys and drift add to a call: two mtguards
// in one process, one plain and one with a journey over three routes and drift on each (past
// its learning window, so every call is compared), take the same traffic, interleaved round by
// round (alternating which goes first); every lead is three calls (form, platform, CRM), sent by concurrent clients. The
// phase with journeys and drift ends only once both have handled every call (their work is
// off the call's path, so it is charged to the phase's wall time instead). It reports each
// side's µs per call, their ratio, and the journeys engine's and drift learner's own work per
// call measured apart. It ignores b.N: run it with -benchtime 1x.
//
//	go test -run '^$' -bench JourneysDriftOverhead -benchtime 1x .
func BenchmarkJourneysDriftOverhead(b *testing.B) {
	leads, rounds, clients := 400, 5, 8
	vendor := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.Copy(io.Discard, r.Body)
		w.Write([]byte(`{"ok":true}`))
	}))
	defer vendor.Close()
	dir := b.TempDir()
	if d := os.Getenv("MTGUARD_BENCH_DIR"); d != "" {
		dir = d
	}
	start := func(name, extra, drift string) *server {
		raw := fmt.Sprintf(benchJourneyRoutes, filepath.Join(dir, name+".db"), vendor.URL, drift) + extra
		cfg, err := config.Parse(name+".yaml", []byte(raw))
		if err != nil {
			b.Fatal(err)
		}
		s, err := startServer(context.Background(), cfg, func(string) string { return "" }, zerolog.Nop())
		if err != nil {
			b.Fatal(err)
		}
		b.Cleanup(func() { s.shutdown() })
		return s
	}
	plain := start("plain", "", "")
	full := start("full", benchJourneys, ", drift: {learn: 1ms}")
	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: clients}}
	post := func(s *server, path, body string) {
		resp, err := client.Post("http://"+s.dataAddr+path, "application/json", strings.NewReader(body))
		if err != nil {
			b.Fatal(err)
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
	}
	phase := func(s *server, round int) time.Duration {
		t0 := time.Now()
		var wg sync.WaitGroup
		next := make(chan int)
		for range clients {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for i := range next {
					email := fmt.Sprintf("r%d-lead%d@acme.com", round, i)
					post(s, "/form/submit", fmt.Sprintf(`{"email":%q,"first":"Jane","score":%d}`, email, i))
					post(s, "/mkto/rest/v1/leads.json", fmt.Sprintf(`{"action":"createOrUpdate","input":[{"email":%q,"firstName":"Jane"}]}`, email))
					post(s, "/crm/services/data/v62.0/sobjects/Lead", fmt.Sprintf(`{"Email":%q,"LastName":"Doe"}`, email))
				}
			}()
		}
		for i := range leads {
			next <- i
		}
		close(next)
		wg.Wait()
		s.store.Sync(context.Background())
		if s.journeys != nil {
			s.journeys.Flush()
			s.drift.Flush()
		}
		return time.Since(t0)
	}
	// Warm both up; the full one also learns its shapes (learn: 1ms) here.
	phase(plain, -1)
	phase(full, -1)
	time.Sleep(5 * time.Millisecond)
	var plainUS, fullUS []float64
	calls := float64(3 * leads)
	for r := range rounds {
		// Alternate which goes first, so neither always meets the other's leftovers (the
		// store's applier, the GC).
		if r%2 == 0 {
			plainUS = append(plainUS, float64(phase(plain, r).Microseconds())/calls)
			fullUS = append(fullUS, float64(phase(full, r).Microseconds())/calls)
		} else {
			fullUS = append(fullUS, float64(phase(full, r).Microseconds())/calls)
			plainUS = append(plainUS, float64(phase(plain, r).Microseconds())/calls)
		}
	}
	p, f := median(plainUS), median(fullUS)

	// The engines' own work per call, measured apart on the calls just recorded.
	page, err := full.store.Query(context.Background(), storeQueryRecent(300))
	if err != nil {
		b.Fatal(err)
	}
	t0 := time.Now()
	for _, tx := range page.Transactions {
		full.journeys.Observe(tx)
		full.drift.Observe(tx)
	}
	full.journeys.Flush()
	full.drift.Flush()
	own := float64(time.Since(t0).Microseconds()) / float64(len(page.Transactions))

	b.ReportMetric(p, "µs/call-plain")
	b.ReportMetric(f, "µs/call-journeys+drift")
	b.ReportMetric(f/p, "ratio")
	b.ReportMetric(own, "µs/call-engines-alone")
	fmt.Fprintf(os.Stderr, "per call, median of %d rounds of %d calls by %d clients: plain %.1f µs, with journeys+drift %.1f µs (ratio %.3f); the engines alone %.1f µs/call\n",
		rounds, int(calls), clients, p, f, f/p, own)
}

func median(xs []float64) float64 {
	s := append([]float64(nil), xs...)
	sort.Float64s(s)
	return s[len(s)/2]
}

func storeQueryRecent(n int) store.Query { return store.Query{Limit: n} }
