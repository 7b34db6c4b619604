package main

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/mtguard/mtguard/pgstore"
	"github.com/mtguard/mtguard/pgstore/pgtest"
	"github.com/mtguard/mtguard/txn"
)

// TestPostgresGoesAway runs the real binary on a PostgreSQL it reaches through a gate the
// test cuts: while cut, /readyz fails and names the spool, and calls are answered as
// store.on_error says (forwarded, or 503); once the gate is restored (or the instance is
// killed while cut and started again) every call is in PostgreSQL exactly once, with the
// outcome its client saw.
func TestPostgresGoesAway(t *testing.T) {
	if testing.Short() {
		t.Skip("builds mtguard and cuts its database; skipped with -short")
	}
	bin := buildMtguard(t, t.TempDir())
	tests := []struct {
		name      string
		onError   string
		kill      bool // kill -9 while cut, start again after the restore
		status    int  // what a call gets while cut
		outcome   txn.Outcome
		forwarded bool
	}{
		{"forward", "forward", false, http.StatusCreated, txn.OutcomeDelivered, true},
		{"reject", "reject", false, http.StatusServiceUnavailable, txn.OutcomeRejected, false},
		{"forward, killed while cut", "forward", true, http.StatusCreated, txn.OutcomeDelivered, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dsn := pgSchemaDSN(t)
			gate := pgtest.NewGate(t, dsn)
			dir := t.TempDir()
			vendor := &crashVendor{received: map[string]int{}}
			vendorSrv := httptest.NewServer(vendor)
			t.Cleanup(vendorSrv.Close)
			opt := pgProcOptions{store: "on_error: " + tt.onError}
			p := startPGProc(t, bin, dir, "solo", vendorSrv.URL, gate.DSN(), opt)
			client := &http.Client{Transport: &http.Transport{Proxy: nil}, Timeout: 10 * time.Second}
			post := func(email string) int {
				t.Helper()
				resp, err := client.Post("http://"+p.data+"/crm/v1/leads", "application/json", strings.NewReader(fmt.Sprintf(`{"email":%q}`, email)))
				if err != nil {
					t.Fatalf("%s: %v", email, err)
				}
				io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
				return resp.StatusCode
			}
			for i := range 3 {
				if st := post(fmt.Sprintf("before-%d@away.test", i)); st != http.StatusCreated {
					t.Fatalf("before the cut: status %d", st)
				}
			}

			gate.Cut()
			body := waitReady(t, p.admin, false)
			if !strings.Contains(body, "spool") {
				t.Errorf("/readyz while PostgreSQL is away does not name the spool: %s", body)
			}
			var during []string
			for i := range 10 {
				email := fmt.Sprintf("during-%d@away.test", i)
				during = append(during, email)
				if st := post(email); st != tt.status {
					t.Errorf("%s while cut: status %d, want %d", email, st, tt.status)
				}
			}
			if tt.kill {
				p.kill()
			}
			gate.Restore()
			if tt.kill {
				p = startPGProc(t, bin, dir, "solo", vendorSrv.URL, gate.DSN(), opt)
			}
			waitReady(t, p.admin, true)

			st, err := pgstore.Open(context.Background(), dsn, pgstore.Options{Instance: "checker"})
			if err != nil {
				t.Fatal(err)
			}
			defer st.Close()
			byEmail := callsByEmail(t, st, "crm")
			received := vendor.snapshot()
			for _, email := range during {
				txs := byEmail[email]
				if len(txs) != 1 {
					t.Errorf("%s is in PostgreSQL %d times, want once", email, len(txs))
					continue
				}
				if txs[0].Outcome != tt.outcome {
					t.Errorf("%s: outcome %q, want %q", email, txs[0].Outcome, tt.outcome)
				}
				if got := received[email] > 0; got != tt.forwarded {
					t.Errorf("%s reached the vendor: %v, want %v", email, got, tt.forwarded)
				}
			}
			for email := range received {
				if len(byEmail[email]) != 1 {
					t.Errorf("the vendor received %s; it is in PostgreSQL %d times", email, len(byEmail[email]))
				}
			}
		})
	}
}

// waitReady polls admin's /readyz until it answers 200 (ready) or 503 (not ready), for 30s,
// and returns the last answer's body.
func waitReady(t *testing.T, admin string, ready bool) string {
	t.Helper()
	want := http.StatusServiceUnavailable
	if ready {
		want = http.StatusOK
	}
	c := &http.Client{Timeout: time.Second, Transport: &http.Transport{Proxy: nil, DisableKeepAlives: true}}
	deadline := time.Now().Add(30 * time.Second)
	var body []byte
	for time.Now().Before(deadline) {
		if resp, err := c.Get("http://" + admin + "/readyz"); err == nil {
			body, _ = io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode == want {
				return string(body)
			}
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Fatalf("/readyz did not answer %d in 30s; last: %s", want, body)
	return ""
}
