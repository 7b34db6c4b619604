//go:build unix

package store

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/mtguard/mtguard/txn"
)

// BenchmarkJournalCPU models the proxy's load on the store at the instant vendor: 32 callers,
// each recording an intent, spending MTGUARD_BENCH_WORK of CPU (default 150µs: the rest of the
// pipeline, which competes with the journal writers for the CPUs), recording a provisional
// result and queueing the result, back to back for MTGUARD_BENCH_PHASE (default 5s). It
// reports the process's CPU per call (getrusage: journal writers, fdatasyncs, the applier's
// bbolt commits, GC, and the work), the part that is not the work (store-µs/call), the journal
// writes per fdatasync and the calls per second:
//
//	go test -run '^$' -bench JournalCPU -benchtime 1x -count 5 ./store
func BenchmarkJournalCPU(b *testing.B) {
	phase := envDuration("MTGUARD_BENCH_PHASE", 5*time.Second)
	work := envDuration("MTGUARD_BENCH_WORK", 150*time.Microsecond)
	s := openBenchStore(b, "journal-cpu-bench.db")
	spins := calibrateSpin(work)
	body := strings.Repeat("x", 1100)
	for range b.N {
		const callers = 32
		var calls atomic.Int64
		commits0 := s.committed.Load()
		cpu0 := processCPU()
		stop := time.Now().Add(phase)
		var wg sync.WaitGroup
		for c := range callers {
			wg.Go(func() {
				var sink uint64
				defer runtime.KeepAlive(&sink)
				for i := 0; time.Now().Before(stop); i++ {
					now := time.Now()
					tx := &txn.Transaction{Call: txn.Call{Time: now, Route: "crm", Method: "POST", Path: "/crm/v3/objects/contacts",
						RecordKeys: []string{fmt.Sprintf("lead%d-%d@example.com", c, i)},
						Request:    txn.Message{ContentType: "application/json", Body: body, Size: int64(len(body))}}}
					if err := s.RecordIntent(context.Background(), tx); err != nil {
						b.Error(err)
						return
					}
					sink ^= spin(spins)
					r := txn.Result{Status: 201, Outcome: txn.OutcomeDelivered, Findings: []txn.Finding{},
						Response: txn.Message{Headers: map[string][]string{"Content-Type": {"application/json"}}, Size: 230}}
					if err := s.RecordProvisional(context.Background(), tx, r); err != nil {
						b.Error(err)
						return
					}
					tx.Result = r
					tx.Result.Response.Body = `{"id":"1","properties":{"email":"x@example.com"},"archived":false}`
					if err := s.RecordResult(tx); err != nil {
						b.Error(err)
						return
					}
					calls.Add(1)
				}
			})
		}
		wg.Wait()
		if err := s.barrier(context.Background(), false); err != nil { // the applier's commits count too
			b.Fatal(err)
		}
		cpu := processCPU() - cpu0
		n := float64(calls.Load())
		// The same work without the store, on as many goroutines as CPUs: what the calls'
		// spinning cost, to take off.
		cpu0 = processCPU()
		var ctl sync.WaitGroup
		for range runtime.GOMAXPROCS(0) {
			ctl.Go(func() {
				var sink uint64
				for range int(n) / runtime.GOMAXPROCS(0) {
					sink ^= spin(spins)
				}
				runtime.KeepAlive(sink)
			})
		}
		ctl.Wait()
		spun := processCPU() - cpu0
		b.ReportMetric(float64(cpu.Microseconds())/n, "cpu-µs/call")
		b.ReportMetric(float64((cpu-spun).Microseconds())/n, "store-µs/call")
		b.ReportMetric(2*n/float64(s.committed.Load()-commits0), "writes/sync")
		b.ReportMetric(n/phase.Seconds(), "calls/s")
	}
}

// calibrateSpin returns about how many rounds of spin take d of CPU on one core; the
// benchmark measures what they took rather than trusting this.
func calibrateSpin(d time.Duration) int {
	const probe = 1 << 20
	t0 := time.Now()
	sink := spin(probe)
	el := time.Since(t0)
	runtime.KeepAlive(sink)
	return int(float64(probe) * float64(d) / float64(max(el, time.Microsecond)))
}

// spin burns CPU for n rounds; callers keep its result so the loop is not optimised away.
// It is not inlined: each inlined copy of the loop is laid out anew, and on this VM's CPUs two
// copies ran at rates far enough apart (tens of µs per call) to make the calls' spinning and
// its control measure different things, and one build's figures differ from another's.
//
//go:noinline
func spin(n int) uint64 {
	x := uint64(n)
	for i := 0; i < n; i++ {
		x ^= x<<13 ^ x>>7 ^ uint64(i)
	}
	return x
}

// processCPU is the CPU time (user and system) the process used so far.
func processCPU() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// BenchmarkSegmentPrepare compares the two ways a journal writer's next segment is made ready,
// at the 16 MiB preallocation serve uses: zero-filling a new file (paced, as in the
// background) and recycling an applied one (recycle.go). It reports the process's CPU per
// segment and, for the calls of BenchmarkJournalCPU (an intent and a provisional result
// each), per call:
//
//	go test -run '^$' -bench SegmentPrepare -benchtime 20x -count 3 ./store
func BenchmarkSegmentPrepare(b *testing.B) {
	const prealloc = 16 << 20
	perCall := journalBytesPerCall(b)
	for _, recycle := range []bool{false, true} {
		b.Run(map[bool]string{false: "zero-fill", true: "recycle"}[recycle], func(b *testing.B) {
			dir := os.Getenv("MTGUARD_BENCH_DIR")
			if dir == "" {
				dir = b.TempDir()
			}
			base := filepath.Join(dir, "segment-bench.db")
			j, err := openJournal(base, 1, prealloc, 0)
			if err != nil {
				b.Fatal(err)
			}
			j.f.Close()
			if err := os.Rename(segmentPath(base, 1), freePath(base, 1)); err != nil {
				b.Fatal(err)
			}
			last := uint64(1)
			b.Cleanup(func() { os.Remove(freePath(base, last)) })
			var cpu time.Duration
			b.ResetTimer()
			for i := range b.N {
				seg := uint64(i + 2)
				cpu0 := processCPU()
				if recycle {
					j, err = recycleSegment(base, last, seg, prealloc)
				} else {
					j, err = openJournal(base, seg, prealloc, preallocPace)
				}
				cpu += processCPU() - cpu0
				if err != nil {
					b.Fatal(err)
				}
				j.f.Close()
				if recycle {
					// What the applier does with it once applied.
					if err := os.Rename(segmentPath(base, seg), freePath(base, seg)); err != nil {
						b.Fatal(err)
					}
					last = seg
				} else {
					os.Remove(segmentPath(base, seg))
				}
			}
			perSeg := float64(cpu.Microseconds()) / float64(b.N)
			b.ReportMetric(perSeg, "cpu-µs/segment")
			b.ReportMetric(perSeg*perCall/prealloc, "cpu-µs/call")
		})
	}
}

// journalBytesPerCall is how many journal bytes one call of BenchmarkJournalCPU writes.
func journalBytesPerCall(b *testing.B) float64 {
	body := strings.Repeat("x", 1100)
	tx := &txn.Transaction{Call: txn.Call{ID: "01M8HD6TQ96R257XX8J3X5BKXT", Time: time.Now(), Route: "crm", Method: "POST", Path: "/crm/v3/objects/contacts",
		RecordKeys: []string{"lead12-3456@example.com"},
		Request:    txn.Message{ContentType: "application/json", Body: body, Size: int64(len(body))}}}
	req, err := encodeRequest(tx)
	if err != nil {
		b.Fatal(err)
	}
	tx.IntentStored = true
	res, err := json.Marshal(txn.Result{Status: 201, Outcome: txn.OutcomeDelivered, Findings: []txn.Finding{},
		Response: txn.Message{Headers: map[string][]string{"Content-Type": {"application/json"}}, Size: 230}})
	if err != nil {
		b.Fatal(err)
	}
	buf := appendSealedRecord(nil, &op{intent: true, tx: tx, req: req}, nil)
	buf = appendSealedRecord(buf, &op{provisional: true, tx: tx, res: res}, nil)
	return float64(len(buf))
}
