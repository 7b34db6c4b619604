package journeys

import (
	"fmt"
	"testing"
	"time"

	"github.com/mtguard/mtguard/schemas"
	"github.com/mtguard/mtguard/txn"
)

// BenchmarkHandle is the engine's own work for one call on a journey step (in memory, without
// the channel and the store's write, which a burst of calls shares): leads travel three steps
// and arrive, so the records in flight stay few.
func BenchmarkHandle(b *testing.B) {
	p, _ := schemas.ParseKeyPaths([]string{"email"})
	q, _ := schemas.ParseKeyPaths([]string{"input[].email"})
	e, err := New(Config{Journeys: []Journey{{Name: "lead", Key: "email", Steps: []string{"form", "mkto", "crm"}, Within: time.Hour,
		Paths: [][]schemas.KeyPath{p, q, p}, AllPaths: []bool{true, false, true}}}})
	if err != nil {
		b.Fatal(err)
	}
	routes := []string{"form", "mkto", "crm"}
	bodies := []string{`{"email":%q}`, `{"action":"createOrUpdate","input":[{"email":%q,"id":"x"}]}`, `{"email":%q}`}
	txs := make([]txn.Transaction, 3000)
	for i := range txs {
		k := fmt.Sprintf("lead%d@acme.com", i/3)
		txs[i] = txn.Transaction{Call: txn.Call{ID: fmt.Sprint(i), Time: time.Now(), Route: routes[i%3], RecordKeys: []string{k},
			Request: txn.Message{ContentType: "application/json", Body: fmt.Sprintf(bodies[i%3], k)}},
			Result: txn.Result{Outcome: txn.OutcomeDelivered}}
	}
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		e.mu.Lock()
		e.handle(&txs[i%len(txs)])
		e.mu.Unlock()
	}
}
