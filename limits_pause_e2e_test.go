package main

import (
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

// TestPauseSurvivesRestart: the vendor answers 429 with a Retry-After of two hours; mtguard
// pauses the limits group, and after a restart on the same log (bbolt, or PostgreSQL without
// limits.shared) the next call is still answered 429 by mtguard without reaching the vendor.
func TestPauseSurvivesRestart(t *testing.T) {
	tests := []struct {
		name  string
		store func(t *testing.T) (string, map[string]string)
	}{
		{"bbolt", func(t *testing.T) (string, map[string]string) {
			return fmt.Sprintf("store: {path: %s}", filepath.Join(t.TempDir(), "mtguard.db")), nil
		}},
		{"postgres", func(t *testing.T) (string, map[string]string) {
			return fmt.Sprintf("store: {backend: postgres, dsn_env: MTGUARD_PG_DSN, spool_dir: %s}", t.TempDir()),
				map[string]string{"MTGUARD_PG_DSN": pgSchemaDSN(t)}
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var calls atomic.Int64
			vendor := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				io.Copy(io.Discard, r.Body)
				if calls.Add(1) == 1 {
					w.Header().Set("Retry-After", "7200")
					w.WriteHeader(http.StatusTooManyRequests)
					return
				}
				w.WriteHeader(http.StatusOK)
			}))
			defer vendor.Close()
			storeLine, env := tt.store(t)
			cfg := fmt.Sprintf(`
listen: 127.0.0.1:0
admin: {listen: 127.0.0.1:0}
%s
routes:
  - name: crm
    prefix: /crm
    upstream: %s
    record_keys: [email]
    limits: {windows: [{requests: 100, per: 1s}], max_wait: 100ms}
`, storeLine, vendor.URL)
			send := func(in *instance) *http.Response {
				t.Helper()
				resp, err := http.Post(in.proxy+"/crm/v1/leads", "application/json", strings.NewReader(`{"email":"jane@pause.test"}`))
				if err != nil {
					t.Fatal(err)
				}
				io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
				return resp
			}
			first := startMtguard(t, cfg, env)
			if resp := send(first); resp.StatusCode != http.StatusTooManyRequests {
				t.Fatalf("the vendor's 429 came back as %d", resp.StatusCode)
			}
			// The limiter writes the pause on a goroutine of its own, which a stop does not wait
			// for: give it the time a running instance would have.
			time.Sleep(200 * time.Millisecond)
			first.stop()
			second := startMtguard(t, cfg, env)
			resp := send(second)
			if resp.StatusCode != http.StatusTooManyRequests || calls.Load() != 1 {
				t.Fatalf("after the restart: status %d, the vendor called %d times; want mtguard's 429 and 1 call", resp.StatusCode, calls.Load())
			}
			if ra, _ := strconv.Atoi(resp.Header.Get("Retry-After")); ra < 7000 {
				t.Errorf("Retry-After %d s, want about 7200", ra)
			}
		})
	}
}
