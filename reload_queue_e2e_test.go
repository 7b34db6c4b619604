package main

import (
	"fmt"
	"net/http"
	"os"
	"strings"
	"testing"
	"time"
)

// TestReloadRemovingQueuedRoute: a reload that removes a route whose calls wait in the
// delivery queue is refused, naming the count, and changes nothing; with --drop-queued it is
// applied, the queued calls are dropped (never sent), and the other route keeps serving.
func TestReloadRemovingQueuedRoute(t *testing.T) {
	vendor := newOrderVendor()
	sv := newSwitchableVendor(t, vendor) // down: connections refused
	other := newOrderVendor()
	otherSrv := newSwitchableVendor(t, other)
	otherSrv.up(t)
	otherRoute := fmt.Sprintf(`
  - name: other
    prefix: /other
    upstream: %s
    record_keys: [email]
`, otherSrv.url())
	in := startMtguard(t, fmt.Sprintf(queueRouteConfig, sv.url(), "")+otherRoute, nil)

	for seq := range 3 {
		if status, _ := postLead(t, in.proxy+"/leads/v1/leads", "jane@example.com", seq); status != http.StatusAccepted {
			t.Fatalf("queued call answered %d, want 202", status)
		}
	}
	deliveryWait(t, "the calls to wait in the queue", 10*time.Second, func() bool {
		return len(listDeliveries(t, in, "?route=leads")) == 3
	})

	without := "listen: 127.0.0.1:0\nadmin:\n  listen: 127.0.0.1:0\nstore:\n  path: ./mtguard.db\nroutes:" + otherRoute
	if err := os.WriteFile(in.configFile(), []byte(without), 0o600); err != nil {
		t.Fatal(err)
	}
	out, err := in.cli(t, nil, "reload")
	if err == nil || !strings.Contains(out+err.Error(), "3 deliveries are queued") || !strings.Contains(out+err.Error(), "--drop-queued") {
		t.Fatalf("a reload removing a route with 3 queued calls: err %v\n%s", err, out)
	}
	if n := len(listDeliveries(t, in, "?route=leads")); n != 3 {
		t.Fatalf("a refused reload left %d queued calls, want the 3", n)
	}
	if status, _ := postLead(t, in.proxy+"/leads/v1/leads", "bob@example.com", 0); status != http.StatusAccepted {
		t.Fatalf("after a refused reload the route answered %d, want it still queueing (202)", status)
	}

	out, err = in.cli(t, nil, "reload", "--drop-queued")
	if err != nil {
		t.Fatalf("reload --drop-queued: %v\n%s", err, out)
	}
	if !strings.Contains(out, "leads") {
		t.Errorf("the reload report does not name the removed route:\n%s", out)
	}
	if n := len(listDeliveries(t, in, "?route=leads")); n != 0 {
		t.Fatalf("%d queued calls of the removed route are left, want none: %+v\n%s", n, listDeliveries(t, in, "?route=leads"), out)
	}
	if status, _ := postLead(t, in.proxy+"/other/x", "ana@example.com", 0); status != http.StatusOK && status != http.StatusCreated {
		t.Fatalf("the other route answered %d after the reload", status)
	}
	if status, _ := postLead(t, in.proxy+"/leads/v1/leads", "li@example.com", 0); status != http.StatusNotFound {
		t.Fatalf("the removed route answered %d, want 404", status)
	}
	sv.up(t)
	time.Sleep(300 * time.Millisecond) // a dropped call must not be sent once the vendor is back
	if n := vendor.total(); n != 0 {
		t.Fatalf("the vendor of the removed route received %d calls; the dropped ones must never be sent", n)
	}
}
