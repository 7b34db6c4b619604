package store

import (
	"encoding/json"
	"fmt"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/mtguard/mtguard/txn"
)

// BenchmarkApplyOps measures the applier's work per call inside a bbolt write transaction:
// applyBatch on what the applier gets from BenchmarkJournalCPU's callers (an intent, a
// provisional result and a result per call), 1000 calls a batch, in a store already holding
// 50000. The transaction is rolled back: the commit's page writes and syncs are not counted
// (BenchmarkJournalCPU counts them). It reports CPU (getrusage) and allocations per call:
//
//	go test -run '^$' -bench ApplyOps -benchtime 200x -count 5 ./store
func BenchmarkApplyOps(b *testing.B) {
	const perBatch = 1000
	s := openBenchStore(b, "apply-bench.db")
	base := time.Now().Add(-time.Hour)
	n := 0
	batch := func() []*op {
		body := strings.Repeat("x", 1100)
		ops := make([]*op, 0, 3*perBatch)
		for range perBatch {
			tx := &txn.Transaction{Call: txn.Call{Time: base.Add(time.Duration(n) * time.Millisecond), Route: "crm", Method: "POST", Path: "/crm/v3/objects/contacts",
				RecordKeys: []string{fmt.Sprintf("lead%d@example.com", n)},
				Request:    txn.Message{ContentType: "application/json", Body: body, Size: int64(len(body))}}}
			n++
			tx.ID = s.NewID(tx.Time)
			req, _ := encodeRequest(tx)
			tx.IntentStored = true
			r := txn.Result{Status: 201, Outcome: txn.OutcomeDelivered, Findings: []txn.Finding{},
				Response: txn.Message{Headers: map[string][]string{"Content-Type": {"application/json"}}, Size: 230}}
			prov, _ := json.Marshal(&r)
			tx.Result = r
			tx.Result.Response.Body = `{"id":"1","properties":{"email":"x@example.com"},"archived":false}`
			res, _ := json.Marshal(&tx.Result)
			ops = append(ops, &op{intent: true, tx: tx, req: req}, &op{provisional: true, tx: tx, res: prov}, &op{tx: tx, res: res})
		}
		return ops
	}
	for range 50 {
		if err := s.commit(batch()); err != nil {
			b.Fatal(err)
		}
	}
	var (
		cpu    time.Duration
		allocs uint64
		ms     runtime.MemStats
	)
	b.ResetTimer()
	for range b.N {
		b.StopTimer()
		ops := batch()
		runtime.ReadMemStats(&ms)
		allocs0 := ms.Mallocs
		cpu0 := processCPU()
		b.StartTimer()
		btx, err := s.db.Begin(true)
		if err != nil {
			b.Fatal(err)
		}
		if err := s.applyBatch(btx, ops); err != nil {
			b.Fatal(err)
		}
		if err := btx.Rollback(); err != nil {
			b.Fatal(err)
		}
		b.StopTimer()
		cpu += processCPU() - cpu0
		runtime.ReadMemStats(&ms)
		allocs += ms.Mallocs - allocs0
		b.StartTimer()
	}
	calls := float64(b.N * perBatch)
	b.ReportMetric(float64(cpu.Nanoseconds())/calls, "cpu-ns/call")
	b.ReportMetric(float64(allocs)/calls, "allocs/call")
}
