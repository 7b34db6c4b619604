//go:build unix

package proxy

import (
	"context"
	"crypto/tls"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/mtguard/mtguard/txn"
)

// BenchmarkForwardVsReverse sends the same call (a JSON lead with a record key) through the
// reverse front and through the forward front (intercepted HTTPS, keep-alive inside the
// tunnels), from 8 concurrent keep-alive clients each, in the same run, and reports throughput
// and CPU per call of each and their ratios. CPU is the whole process's (client, mtguard and
// the HTTPS vendor), so the difference is the forward front's own cost: TLS between the tool
// and mtguard, and goproxy's parsing. store=bbolt records durably as in production (the fsync
// bounds throughput); store=none records nothing, which leaves the fronts' cost bare.
//
//	go test -run '^$' -bench ForwardVsReverse -benchtime 4000x ./proxy
func BenchmarkForwardVsReverse(b *testing.B) {
	b.Run("store=bbolt", func(b *testing.B) { benchmarkFronts(b, nil) })
	b.Run("store=none", func(b *testing.B) { benchmarkFronts(b, &nopRecorder{}) })
}

func benchmarkFronts(b *testing.B, rec Recorder) {
	vendor := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.Copy(io.Discard, r.Body)
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusCreated)
		io.WriteString(w, `{"id":"101","status":"created"}`)
	})
	fr := startFronts(b, vendor, frontsOptions{recorder: rec, timeout: 30 * time.Second})
	const workers = 8
	const body = `{"email":"Jane@Acme.com","first_name":"Jane","last_name":"Doe","company":"Acme"}`
	reverse := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: workers}}
	forward := &http.Client{Transport: &http.Transport{
		Proxy:               http.ProxyURL(fr.proxyURL),
		TLSClientConfig:     &tls.Config{RootCAs: fr.caPool},
		MaxIdleConnsPerHost: workers,
	}}
	defer reverse.CloseIdleConnections()
	defer forward.CloseIdleConnections()
	revURL := fr.reverse.URL + "/crm/v1/leads"
	fwdURL := "https://" + fr.vendorHost + "/v1/leads"

	// run sends n calls from the workers and returns the wall-clock and CPU time they took.
	run := func(client *http.Client, url string, n int) (wall, cpu time.Duration) {
		startCPU, start := cpuTime(b), time.Now()
		var wg sync.WaitGroup
		for w := range workers {
			calls := n / workers
			if w < n%workers {
				calls++
			}
			wg.Go(func() {
				for range calls {
					resp, err := client.Post(url, "application/json", strings.NewReader(body))
					if err != nil {
						b.Error(err)
						return
					}
					io.Copy(io.Discard, resp.Body)
					resp.Body.Close()
					if resp.StatusCode != http.StatusCreated {
						b.Errorf("status %d", resp.StatusCode)
						return
					}
				}
			})
		}
		wg.Wait()
		return time.Since(start), cpuTime(b) - startCPU
	}
	// Warm up: connections, tunnels, the leaf certificate, bbolt pages.
	run(reverse, revURL, 4*workers)
	run(forward, fwdURL, 4*workers)

	// Alternate the fronts in rounds, so a change in the machine's load hits both alike.
	b.ResetTimer()
	var revWall, revCPU, fwdWall, fwdCPU time.Duration
	rounds := min(10, b.N)
	for i := range rounds {
		calls := b.N / rounds
		if i < b.N%rounds {
			calls++
		}
		w, c := run(reverse, revURL, calls)
		revWall, revCPU = revWall+w, revCPU+c
		w, c = run(forward, fwdURL, calls)
		fwdWall, fwdCPU = fwdWall+w, fwdCPU+c
	}
	b.StopTimer()
	n := float64(b.N)
	b.ReportMetric(n/revWall.Seconds(), "reverse-calls/s")
	b.ReportMetric(n/fwdWall.Seconds(), "forward-calls/s")
	b.ReportMetric(revWall.Seconds()/fwdWall.Seconds(), "fwd/rev-throughput")
	b.ReportMetric(float64(revCPU.Microseconds())/n, "reverse-cpu-µs/call")
	b.ReportMetric(float64(fwdCPU.Microseconds())/n, "forward-cpu-µs/call")
	b.ReportMetric(float64(fwdCPU)/float64(revCPU), "fwd/rev-cpu")
}

// cpuTime is the user and system CPU time the process has used.
func cpuTime(b *testing.B) time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		b.Fatal(err)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// nopRecorder records nothing.
type nopRecorder struct{ n atomic.Int64 }

func (r *nopRecorder) NewID(time.Time) string {
	return fmt.Sprintf("%026d", r.n.Add(1))
}
func (r *nopRecorder) RecordIntent(context.Context, *txn.Transaction) error { return nil }
func (r *nopRecorder) RecordResult(*txn.Transaction) error                  { return nil }
func (r *nopRecorder) Sync(context.Context) error                           { return nil }
func (r *nopRecorder) RecordProvisional(context.Context, *txn.Transaction, txn.Result) error {
	return nil
}
