package main

import (
	"fmt"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"
)

// TestPostgresDeliveryQueueOnce: three instances on one PostgreSQL log, a route in queue mode,
// the vendor down. Calls spread over the three are all accepted; one instance stops with its
// calls still queued; the vendor comes back: every accepted call is delivered exactly once (the
// stopped instance's by the others, which claim them), and the shared queue empties.
func TestPostgresDeliveryQueueOnce(t *testing.T) {
	dsn := pgSchemaDSN(t)
	vendor := newOrderVendor()
	sv := newSwitchableVendor(t, vendor)
	cfg := strings.Replace(fmt.Sprintf(queueRouteConfig, sv.url(), ""), "store:\n  path: ./mtguard.db\n",
		"store:\n  backend: postgres\n  dsn_env: MTGUARD_PG_DSN\n", 1)
	env := map[string]string{"MTGUARD_PG_DSN": dsn}
	ins := []*instance{startMtguard(t, cfg, env), startMtguard(t, cfg, env), startMtguard(t, cfg, env)}

	const keys, perKey = 6, 10
	ids := map[string]bool{}
	n := 0
	for seq := range perKey {
		for k := range keys {
			status, id := postLead(t, ins[n%3].proxy+"/leads/v1/leads", fmt.Sprintf("lead%d@example.com", k), seq)
			n++
			if status != http.StatusAccepted || id == "" {
				t.Fatalf("call %d/%d answered %d (id %q), want 202 with an id", k, seq, status, id)
			}
			ids[id] = true
		}
	}
	deliveryWait(t, "attempts to fail while the vendor is down", 10*time.Second, func() bool {
		ds := listDeliveries(t, ins[0], "?route=leads&state=retrying")
		return len(ds) > 0 && strings.Contains(ds[0].LastError, "unreachable")
	})
	// Every instance lists the whole shared queue.
	for i, in := range ins {
		if ds := listDeliveries(t, in, ""); len(ds) != keys*perKey {
			t.Fatalf("instance %d lists %d queued calls, want %d", i, len(ds), keys*perKey)
		}
	}
	ins[2].stop() // its third of the queue is left to the others
	sv.up(t)
	deliveryWait(t, "every accepted call to be delivered", 60*time.Second, func() bool { return vendor.total() >= keys*perKey })
	deliveryWait(t, "the queue to empty", 20*time.Second, func() bool { return len(listDeliveries(t, ins[0], "")) == 0 })

	vendor.mu.Lock()
	defer vendor.mu.Unlock()
	want := make([]int, perKey)
	for i := range want {
		want[i] = i
	}
	for k := range keys {
		email := fmt.Sprintf("lead%d@example.com", k)
		got := slices.Sorted(slices.Values(vendor.got[email]))
		if !slices.Equal(got, want) {
			t.Errorf("%s: the vendor got seqs %v, want each of 0..%d exactly once", email, vendor.got[email], perKey-1)
		}
	}
	if len(ids) != keys*perKey {
		t.Errorf("%d distinct ids for %d calls", len(ids), keys*perKey)
	}
}
