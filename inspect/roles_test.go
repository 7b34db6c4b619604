package inspect

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/mtguard/mtguard/alerts"
	"github.com/mtguard/mtguard/store"
	"github.com/mtguard/mtguard/txn"
)

// roleTokens has two tokens of each role, for rotation.
var roleTokens = []Token{
	{Name: "dash", Role: RoleViewer, Value: "viewer-token-1"},
	{Name: "dash-next", Role: RoleViewer, Value: "viewer-token-2"},
	{Name: "ops", Role: RoleOperator, Value: "operator-token-1"},
	{Name: "ops-next", Role: RoleOperator, Value: "operator-token-2"},
	{Name: "dpo", Role: RoleAdmin, Value: "admin-token-1"},
	{Name: "dpo-next", Role: RoleAdmin, Value: "admin-token-2"},
}

// tokenOf returns the first token of role.
func tokenOf(role Role) string {
	for _, t := range roleTokens {
		if t.Role == role {
			return t.Value
		}
	}
	panic("no token of role " + role.String())
}

// actorReplayer resends nothing; it remembers the actor each replay was made for.
type actorReplayer struct {
	mu     sync.Mutex
	actors []string
}

func (r *actorReplayer) Replay(ctx context.Context, tx txn.Transaction, _ bool) (string, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.actors = append(r.actors, txn.ActorFrom(ctx))
	return "", nil
}

// fullServer is an admin API with every capability, a transaction X1 and its store as the
// audit log.
func fullServer(t *testing.T) (ServerConfig, *store.Store, *actorReplayer) {
	t.Helper()
	st, err := store.Open(filepath.Join(t.TempDir(), "mtguard.db"), store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	tx := &txn.Transaction{Call: txn.Call{Time: testNow.Add(-time.Hour), Route: "crm", Method: "POST", Path: "/crm/leads",
		RecordKeys: []string{"jane@acme.com"}, Request: txn.Message{Body: `{"email":"jane@acme.com"}`}}}
	if err := st.RecordIntent(context.Background(), tx); err != nil {
		t.Fatal(err)
	}
	tx.Result = txn.Result{Status: 500, Outcome: txn.OutcomeFailed, Findings: []txn.Finding{}}
	if err := st.RecordResult(tx); err != nil {
		t.Fatal(err)
	}
	m := alerts.NewMetrics()
	e, err := alerts.New(alerts.Config{Now: func() time.Time { return testNow }, Tick: time.Hour, Metrics: m,
		Routes: []alerts.RouteAlerts{{Route: "crm", Rules: alerts.DefaultRules()}}})
	if err != nil {
		t.Fatal(err)
	}
	e.Start(t.Context(), st)
	t.Cleanup(e.Close)
	rp := &actorReplayer{}
	cfg := ServerConfig{
		Transactions: st, Replayer: rp, Eraser: st, Alerts: e, Metrics: m.Handler(), Limits: fakeLimits{},
		AuditLog: st, Tokens: roleTokens, Now: func() time.Time { return testNow },
	}
	return cfg, st, rp
}

// sampleRequest is a request to pattern: its method (PUT for a method-less pattern), its
// wildcards filled in.
func sampleRequest(pattern string) (method, target string) {
	method, path, ok := strings.Cut(pattern, " ")
	if !ok {
		method, path = http.MethodPut, pattern
	}
	path = strings.NewReplacer("{id}", "X1", "{key}", "jane@acme.com").Replace(path)
	if strings.HasSuffix(path, "/api/") {
		path += "nope"
	}
	return method, path
}

// TestRolesOnEveryEndpoint walks the whole admin surface (so an endpoint added later is
// covered the day it is added): a token whose role is below the endpoint's gets 403 with a
// problem naming the role needed; a token of the endpoint's role gets through.
func TestRolesOnEveryEndpoint(t *testing.T) {
	cfg, _, _ := fullServer(t)
	h := NewServer(cfg)
	eps := (&server{}).surface(cfg)

	var open, operator, admin []string
	for _, e := range eps {
		switch e.role {
		case roleNone:
			open = append(open, e.pattern)
		case RoleOperator:
			operator = append(operator, e.pattern)
		case RoleAdmin:
			admin = append(admin, e.pattern)
		}
	}
	// Only the probes and the catch-all outside /api/ go without a token.
	if want := []string{"GET /healthz", "GET /readyz", "/"}; !slices.Equal(open, want) {
		t.Errorf("endpoints open to all = %v, want %v", open, want)
	}
	for _, want := range []string{"POST /api/transactions/{id}/replay", "POST /api/replays", "POST /api/alerts/{id}/ack"} {
		if !slices.Contains(operator, want) {
			t.Errorf("%s is not an operator endpoint (operator endpoints: %v)", want, operator)
		}
	}
	for _, want := range []string{"DELETE /api/records/{key}", "GET /api/audit"} {
		if !slices.Contains(admin, want) {
			t.Errorf("%s is not an admin endpoint (admin endpoints: %v)", want, admin)
		}
	}

	send := func(method, target, token string) *httptest.ResponseRecorder {
		req := adminRequest(method, target, strings.NewReader(`{}`))
		if method == http.MethodPost {
			req = adminRequest(method, target, strings.NewReader(`{"route": "crm", "dry_run": true}`))
		}
		req.Header.Set("Authorization", "Bearer "+token)
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		return rec
	}
	for _, e := range eps {
		if e.role == roleNone {
			continue
		}
		method, target := sampleRequest(e.pattern)
		t.Run(e.pattern, func(t *testing.T) {
			for _, below := range []Role{RoleViewer, RoleOperator} {
				if below >= e.role {
					continue
				}
				rec := send(method, target, tokenOf(below))
				p := decodeProblem(t, rec, http.StatusForbidden)
				if !strings.Contains(p.Detail, "needs the "+e.role.String()+" role") || !strings.Contains(p.Detail, "role "+below.String()) {
					t.Errorf("%s %s as %s: detail %q does not name the role needed (%s) and the token's", method, target, below, p.Detail, e.role)
				}
			}
			if rec := send(method, target, tokenOf(e.role)); rec.Code == http.StatusForbidden || rec.Code == http.StatusUnauthorized {
				t.Errorf("%s %s as %s: %d %s", method, target, e.role, rec.Code, rec.Body)
			}
		})
	}
}

// An operator resends calls but cannot erase a record; both attempts are in the audit log,
// with the operator's name, and the resent call carries it.
func TestOperatorReplaysButCannotForget(t *testing.T) {
	cfg, st, rp := fullServer(t)
	h := NewServer(cfg)
	page, err := st.Query(context.Background(), store.Query{})
	if err != nil || len(page.Transactions) != 1 {
		t.Fatal(err, page)
	}
	id := page.Transactions[0].ID
	do := func(method, target, token string) int {
		req := adminRequest(method, target, nil)
		req.Header.Set("Authorization", "Bearer "+token)
		req.RemoteAddr = "192.0.2.7:4711"
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		return rec.Code
	}
	if code := do(http.MethodPost, "/api/transactions/"+id+"/replay", "operator-token-2"); code != http.StatusOK {
		t.Fatalf("operator replay: %d", code)
	}
	if code := do(http.MethodDelete, "/api/records/jane@acme.com", "operator-token-1"); code != http.StatusForbidden {
		t.Fatalf("operator forget: %d, want 403", code)
	}
	if p, _ := st.Query(context.Background(), store.Query{RecordKey: "jane@acme.com"}); len(p.Transactions) != 1 {
		t.Fatalf("the record was erased: %+v", p)
	}
	if !slices.Equal(rp.actors, []string{"ops-next"}) {
		t.Errorf("replays made for %q, want ops-next", rp.actors)
	}
	// Reads are not audited; an operator may not read the audit log.
	if code := do(http.MethodGet, "/api/transactions", "operator-token-1"); code != http.StatusOK {
		t.Fatalf("operator read: %d", code)
	}
	if code := do(http.MethodGet, "/api/audit", "operator-token-1"); code != http.StatusForbidden {
		t.Fatalf("operator reads the audit log: %d, want 403", code)
	}

	req := adminRequest(http.MethodGet, "/api/audit", nil)
	req.Header.Set("Authorization", "Bearer admin-token-2")
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	if rec.Code != http.StatusOK {
		t.Fatalf("audit: %d %s", rec.Code, rec.Body)
	}
	if strings.Contains(rec.Body.String(), "jane") {
		t.Errorf("the audit log holds the record key: %s", rec.Body)
	}
	var got AuditPage
	if err := json.Unmarshal(rec.Body.Bytes(), &got); err != nil {
		t.Fatal(err)
	}
	type row struct{ actor, role, method, endpoint, target, remote string }
	var rows []row
	for _, e := range got.Entries {
		rows = append(rows, row{e.Actor, e.Role, e.Method, e.Endpoint, e.Target, e.Remote})
	}
	want := []row{
		{"ops", "operator", "DELETE", "/api/records/{key}", hashKey("jane@acme.com"), "192.0.2.7:4711"},
		{"ops-next", "operator", "POST", "/api/transactions/{id}/replay", id, "192.0.2.7:4711"},
	}
	if !slices.Equal(rows, want) || got.Entries[0].Status != 403 || got.Entries[1].Status != 200 {
		t.Errorf("audit log, newest first:\n%+v\nwant\n%+v (403, then 200)", got.Entries, want)
	}
}

// Two tokens of one role are both valid (rotation), each known by its own name, and
// admin.token_env's token is an admin named "admin" beside named tokens.
func TestTwoTokensOfOneRole(t *testing.T) {
	cfg, st, _ := fullServer(t)
	cfg.Token = "legacy-token"
	h := NewServer(cfg)
	for _, tok := range []string{"operator-token-1", "operator-token-2", "legacy-token"} {
		req := adminRequest(http.MethodPost, "/api/replays", strings.NewReader(`{"route": "crm", "dry_run": true}`))
		req.Header.Set("Authorization", "Bearer "+tok)
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		if rec.Code != http.StatusAccepted {
			t.Fatalf("token %s: %d %s", tok, rec.Code, rec.Body)
		}
	}
	for _, bad := range []string{"", "operator-token", "operator-token-3", "legacy-token "} {
		req := adminRequest(http.MethodGet, "/api/transactions", nil)
		req.Header.Set("Authorization", "Bearer "+bad)
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		if bad == "legacy-token " { // surrounding space is trimmed, as before
			if rec.Code != http.StatusOK {
				t.Errorf("%q: %d", bad, rec.Code)
			}
			continue
		}
		decodeProblem(t, rec, http.StatusUnauthorized)
	}
	entries, err := st.Audit(store.AuditQuery{})
	if err != nil {
		t.Fatal(err)
	}
	var actors []string
	for _, e := range entries {
		actors = append(actors, e.Actor+"/"+e.Role+"/"+e.Params["route"])
		if e.Result == "" || e.Status != http.StatusAccepted {
			t.Errorf("entry %+v has no job id or not 202", e)
		}
	}
	if want := []string{"admin/admin/crm", "ops-next/operator/crm", "ops/operator/crm"}; !slices.Equal(actors, want) {
		t.Errorf("audit actors = %v, want %v (unknown tokens are not audited)", actors, want)
	}
}

// An empty token is never accepted, even when a configured token is empty.
func TestEmptyTokenNeverMatches(t *testing.T) {
	cfg := ServerConfig{Transactions: fakeTransactions{}, Tokens: []Token{{Name: "blank", Role: RoleAdmin, Value: ""}}}
	for _, auth := range []string{"Bearer ", "Bearer  "} {
		rec := serve(t, cfg, http.MethodGet, "/api/transactions", http.Header{"Authorization": {auth}})
		decodeProblem(t, rec, http.StatusUnauthorized)
	}
}
