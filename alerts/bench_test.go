package alerts

import (
	"fmt"
	"testing"
	"time"

	"github.com/mtguard/mtguard/txn"
)

// BenchmarkAlertsPerCall is the alert engine's cost for one recorded call: turning the
// transaction into an observation (on the store's committer goroutine) and then counting it,
// evaluating every rule it moves and updating the Prometheus metrics (on the engine's
// goroutine). Every default rule is on, plus a silence rule with a schedule. The prefill
// sub-benchmarks first feed that many calls, to show that the cost does not depend on how
// much has been recorded: the engine keeps fixed-size windows and never reads the store per call.
//
//	go test -run '^$' -bench AlertsPerCall -benchmem ./inspect/
func BenchmarkAlertsPerCall(b *testing.B) {
	for _, prefill := range []int{0, 100_000, 1_000_000} {
		b.Run(fmt.Sprintf("prefill=%d", prefill), func(b *testing.B) {
			clock := &fakeClock{t: nyMonday9}
			rules := DefaultRules()
			sc, err := ParseSchedule("Mon-Fri 08:00-20:00 America/New_York")
			if err != nil {
				b.Fatal(err)
			}
			rules.Silence = &SilenceRule{Min: 10, Per: 30 * time.Minute, During: sc}
			e, err := New(Config{
				Now:     clock.Now,
				Metrics: NewMetrics(),
				Routes:  []RouteAlerts{{Route: "crm", Owner: "ops@example.com", Rules: rules}, {Route: "ga4", Rules: rules}},
			})
			if err != nil {
				b.Fatal(err)
			}
			txs := benchCalls()
			feed := func(i int) {
				tx := &txs[i%len(txs)]
				if i%1000 == 0 {
					clock.Advance(time.Second)
				}
				tx.Time = clock.Now()
				o := observationOf(tx)
				e.mu.Lock()
				e.process(o, false)
				e.mu.Unlock()
			}
			for i := range prefill {
				feed(i)
			}
			b.ReportAllocs()
			b.ResetTimer()
			for i := 0; b.Loop(); i++ {
				feed(i)
			}
		})
	}
}

// benchCalls is a mix of outcomes and findings as a busy route sees them: mostly delivered,
// some failures, a deprecated endpoint, an auth failure now and then.
func benchCalls() []txn.Transaction {
	var txs []txn.Transaction
	for i := range 100 {
		tx := call("crm", nyMonday9, txn.OutcomeDelivered)
		tx.RecordKeys = []string{fmt.Sprintf("lead%d@acme.com", i)}
		tx.DurationMS, tx.UpstreamMS = 180, 150+float64(i)
		switch {
		case i%50 == 7:
			tx.Outcome = txn.OutcomeFailed
			tx.Findings = []txn.Finding{{Code: "auth.expired", Message: "token expired"}}
		case i%10 == 3:
			tx.Outcome = txn.OutcomeFailed
			tx.Findings = []txn.Finding{{Code: "response.silent_failure", Message: "200 but failed"}}
		case i%20 == 5:
			tx.Findings = []txn.Finding{{Code: "endpoint.deprecated", Message: "v1 is deprecated; sunset 2027-06-30"}}
		case i%25 == 9:
			tx.Route = "ga4"
		}
		txs = append(txs, tx)
	}
	return txs
}
