package main

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/rs/zerolog"

	"github.com/mtguard/mtguard/config"
	"github.com/mtguard/mtguard/inspect"
	"github.com/mtguard/mtguard/store"
)

// fakeQueue stands in for the store's delivery queue.
type fakeQueue struct {
	mu      sync.Mutex
	queued  map[string]int
	dropped []string // the reasons given
}

func (q *fakeQueue) QueuedDeliveries(route string) (int, error) {
	q.mu.Lock()
	defer q.mu.Unlock()
	return q.queued[route], nil
}

func (q *fakeQueue) DropQueuedDeliveries(_ context.Context, route, reason string) (int, error) {
	q.mu.Lock()
	defer q.mu.Unlock()
	n := q.queued[route]
	delete(q.queued, route)
	q.dropped = append(q.dropped, reason)
	return n, nil
}

const reloadTokens = `
listen: 127.0.0.1:0
admin:
  listen: 127.0.0.1:0
  tokens:
    - {name: dash, role: viewer, token_env: VIEWER}
    - {name: ops, role: operator, token_env: OPERATOR}
store: {path: ./mtguard.db}
routes:
  - {name: crm, prefix: /crm, upstream: %VENDOR%, record_keys: [email]}
`

// startFromFile starts serve's parts on a config file, as cmdServe does.
func startFromFile(t *testing.T, text string, env map[string]string) (*server, string) {
	t.Helper()
	path := filepath.Join(t.TempDir(), "mtguard.yaml")
	if err := os.WriteFile(path, []byte(text), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg, err := config.Load(path)
	if err != nil {
		t.Fatal(err)
	}
	getenv := func(k string) string { return env[k] }
	s, err := startServer(context.Background(), cfg, getenv, zerolog.Nop())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.shutdown() })
	s.reloads.set(newReloader(s, getenv)) // as cmdServe does
	return s, path
}

func TestReloadRefusals(t *testing.T) {
	vendor := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(201) }))
	defer vendor.Close()
	env := map[string]string{"VIEWER": "v-token", "OPERATOR": "o-token", "SECRET": "s3cret"}
	base := strings.ReplaceAll(reloadTokens, "%VENDOR%", vendor.URL)
	s, path := startFromFile(t, base+"  - {name: legacy, prefix: /legacy, upstream: http://127.0.0.1:9}\n", env)
	q := &fakeQueue{queued: map[string]int{"legacy": 3}}
	rl := s.reloads.r.Load().(*reloader)
	rl.queue = q
	write := func(text string) {
		if err := os.WriteFile(path, []byte(text), 0o600); err != nil {
			t.Fatal(err)
		}
	}

	// A route removed with deliveries queued: refused, unless drop_queued.
	write(base)
	rep := rl.Reload(context.Background(), inspect.ReloadRequest{Actor: "ops"})
	if rep.Applied || !rep.Refused || !strings.Contains(strings.Join(rep.Problems, "\n"), "3 deliveries are queued") {
		t.Fatalf("removing a route with queued deliveries: %+v", rep)
	}
	if len(rl.cur.Routes) != 2 {
		t.Fatal("a refused reload changed the running config")
	}
	rep = rl.Reload(context.Background(), inspect.ReloadRequest{Actor: "ops", DropQueued: true})
	if !rep.Applied || rep.DroppedQueued != 3 || len(q.dropped) != 1 || !strings.Contains(q.dropped[0], "by ops") {
		t.Fatalf("with drop_queued: %+v, dropped %v", rep, q.dropped)
	}

	// A route holding a credential in a header the running mtguard does not redact.
	write(base + "  - {name: hs, prefix: /hs, upstream: " + vendor.URL + ", auth: {header: X-Vendor-Pass, value_env: SECRET}}\n")
	rep = rl.Reload(context.Background(), inspect.ReloadRequest{})
	if rep.Applied || !rep.Refused || !strings.Contains(strings.Join(rep.Problems, "\n"), "X-Vendor-Pass") {
		t.Fatalf("a credential in an unredacted header: %+v", rep)
	}

	// Roles: reload and backup are an operator's.
	for _, tc := range []struct {
		path, token string
		want        int
	}{
		{"/api/reload", "v-token", http.StatusForbidden},
		{"/api/backup", "v-token", http.StatusForbidden},
		{"/api/reload", "", http.StatusUnauthorized},
		{"/api/backup", "o-token", http.StatusOK},
		// The file still has the refused route. This request comes on the connection the
		// backup used, so the backup's audit entry is written by then.
		{"/api/reload", "o-token", http.StatusConflict},
	} {
		req, _ := http.NewRequest(http.MethodPost, "http://"+s.adminAddr+tc.path, nil)
		if tc.token != "" {
			req.Header.Set("Authorization", "Bearer "+tc.token)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if resp.StatusCode != tc.want {
			t.Errorf("POST %s with %q: %d, want %d", tc.path, tc.token, resp.StatusCode, tc.want)
		}
	}
	entries, err := s.store.Audit(store.AuditQuery{})
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, e := range entries {
		got = append(got, fmt.Sprintf("%s %s %d %s", e.Actor, e.Endpoint, e.Status, e.Result))
	}
	all := strings.Join(got, "\n")
	for _, want := range []string{"ops /api/reload 409 refused", "ops /api/backup 200 snapshot of", "dash /api/reload 403"} {
		if !strings.Contains(all, want) {
			t.Errorf("audit log lacks %q:\n%s", want, all)
		}
	}
}

// TestDiffConfig: what moved in the file is not a change; what a pinned schema file says is.
func TestDiffConfig(t *testing.T) {
	dir := t.TempDir()
	schema := filepath.Join(dir, "lead.json")
	os.WriteFile(schema, []byte(`{"type":"object"}`), 0o600)
	crm := `  - name: crm
    prefix: /crm
    upstream: https://crm.example.com
    auth: {header: Authorization, value_env: CRM}
    callers: [{name: site, cidrs: [10.0.0.0/8]}]
    contracts: {mode: warn, pins: [{match: POST /v1/leads, request: lead.json}]}
`
	load := func(text string) *config.Config {
		t.Helper()
		path := filepath.Join(dir, "mtguard.yaml")
		os.WriteFile(path, []byte("admin: {token_env: ADMIN}\nstore: {path: ./m.db}\nroutes:\n"+text), 0o600)
		cfg, err := config.Load(path)
		if err != nil {
			t.Fatal(err)
		}
		return cfg
	}
	old := load(crm)
	oldDigests := contractDigests(old)
	moved := load("  - {name: hs, prefix: /hs, upstream: https://api.hubapi.com}\n" + crm)
	if got := diffConfig(old, moved, oldDigests, contractDigests(moved)); len(got) != 1 || got[0].Kind != "route.added" || got[0].Name != "hs" {
		t.Fatalf("a route added above crm: %+v", got)
	}
	os.WriteFile(schema, []byte(`{"type":"object","required":["email"]}`), 0o600)
	edited := load(strings.Replace(crm, "10.0.0.0/8", "10.1.0.0/16", 1))
	got := diffConfig(old, edited, oldDigests, contractDigests(edited))
	if len(got) != 1 || got[0].Detail != "callers, contract files edited" {
		t.Fatalf("callers and a schema file edited: %+v", got)
	}
}
