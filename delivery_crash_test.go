package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/mtguard/mtguard/store"
	"github.com/mtguard/mtguard/txn"
)

// slowVendor takes leads slowly, so that attempts are in flight when mtguard is killed, and
// counts every lead it received, duplicates included.
type slowVendor struct {
	mu       sync.Mutex
	received map[string]int // email -> times received
}

func (v *slowVendor) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	var lead struct {
		Email string `json:"email"`
	}
	b, _ := io.ReadAll(r.Body)
	if json.Unmarshal(b, &lead) != nil || r.Header.Get("Idempotency-Key") == "" {
		http.Error(w, "want a JSON lead with an Idempotency-Key", http.StatusBadRequest)
		return
	}
	v.mu.Lock()
	v.received[lead.Email]++
	v.mu.Unlock()
	time.Sleep(40 * time.Millisecond) // the vendor's think time, during which mtguard may die
	w.Header().Set("Content-Type", "application/json")
	io.WriteString(w, `{"ok": true}`)
}

// TestDeliveryCrash kills mtguard with SIGKILL five times while its redeliverer works through a
// queue of accepted calls, then lets it finish. It then reads the store: no call reached the
// vendor more often than the log holds attempts of it (an attempt is recorded before it is
// sent), and every accepted call reached the vendor (none lost).
func TestDeliveryCrash(t *testing.T) {
	if testing.Short() {
		t.Skip("crash loop: builds mtguard and kill -9s it repeatedly; skipped with -short")
	}
	dir := t.TempDir()
	bin := buildMtguard(t, dir)
	vendor := &slowVendor{received: map[string]int{}}
	vendorSrv := httptest.NewServer(vendor)
	t.Cleanup(vendorSrv.Close)
	storePath := filepath.Join(dir, "mtguard.db")
	client := &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{Proxy: nil}}

	const leads, kills = 120, 5
	accepted := map[string]string{} // email -> id
	for cycle := 1; cycle <= kills+1; cycle++ {
		p, admin := startDeliveryServer(t, bin, dir, cycle, vendorSrv.URL, storePath)
		if cycle == 1 {
			for i := range leads {
				email := fmt.Sprintf("crash%03d@example.com", i)
				resp, err := client.Post("http://"+p.data+"/leads/v1/leads", "application/json", strings.NewReader(fmt.Sprintf(`{"email": %q}`, email)))
				if err != nil {
					t.Fatalf("post %s: %v", email, err)
				}
				io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
				if resp.StatusCode != http.StatusAccepted {
					t.Fatalf("post %s: %d, want 202", email, resp.StatusCode)
				}
				accepted[email] = resp.Header.Get("X-Mtguard-Id")
			}
		}
		if cycle <= kills {
			time.Sleep(time.Duration(100+cycle*37) * time.Millisecond) // during redelivery
			p.kill()
			t.Logf("cycle %d: killed", cycle)
			continue
		}
		// The last run finishes the queue.
		deliveryWait(t, "the queue to empty after the last restart", 60*time.Second, func() bool {
			resp, err := client.Get("http://" + admin + "/api/deliveries")
			if err != nil {
				return false
			}
			defer resp.Body.Close()
			var rep struct{ Deliveries []store.Delivery }
			return json.NewDecoder(resp.Body).Decode(&rep) == nil && len(rep.Deliveries) == 0
		})
		p.kill()
	}
	vendorSrv.Close()

	st, err := store.Open(storePath, store.Options{})
	if err != nil {
		t.Fatalf("reopen the store: %v", err)
	}
	defer st.Close()
	attempts := map[string]int{} // original id -> attempts in the log
	q := store.Query{Route: "leads", Ascending: true, Limit: 1000}
	for {
		page, err := st.Query(context.Background(), q)
		if err != nil {
			t.Fatal(err)
		}
		for _, tx := range page.Transactions {
			if tx.ReplayOf != "" {
				attempts[tx.ReplayOf]++
			} else if tx.Outcome != txn.OutcomeQueued && tx.Outcome != txn.OutcomeInterrupted {
				t.Errorf("call %s: outcome %s, want queued", tx.ID, tx.Outcome)
			}
		}
		if page.Next == "" {
			break
		}
		q.Cursor = page.Next
	}
	vendor.mu.Lock()
	defer vendor.mu.Unlock()
	dupes, retried := 0, 0
	for email, id := range accepted {
		got, tries := vendor.received[email], attempts[id]
		switch {
		case got == 0:
			t.Errorf("%s (call %s) never reached the vendor: lost", email, id)
		case got > tries:
			t.Errorf("%s (call %s) reached the vendor %d times with %d recorded attempts", email, id, got, tries)
		}
		if got > 1 {
			dupes++
		}
		if tries > 1 {
			retried++
		}
	}
	left, err := st.Deliveries(context.Background(), store.DeliveryFilter{})
	if err != nil || len(left) != 0 {
		t.Errorf("deliveries left in the queue: %v %v", left, err)
	}
	t.Logf("%d leads, %d kills: %d calls attempted more than once, %d reached the vendor twice (each with its attempts recorded, resent with the same Idempotency-Key)", leads, kills, retried, dupes)
}

// startDeliveryServer starts the binary on a queueing route and waits until it answers.
func startDeliveryServer(t *testing.T, bin, dir string, cycle int, vendorURL, storePath string) (*crashProc, string) {
	t.Helper()
	return startServe(t, bin, dir, fmt.Sprintf("delivery%02d", cycle), func(data, admin string) string {
		return fmt.Sprintf(`listen: %s
admin: {listen: %s}
store: {path: %s}
routes:
  - name: leads
    prefix: /leads
    upstream: %s
    record_keys: [email]
    timeout: 2s
    delivery:
      mode: queue
      idempotency_header: Idempotency-Key
      retry: {backoff: 10ms..100ms, attempts: 100}
`, data, admin, strconv.Quote(storePath), vendorURL)
	})
}
