package inspect

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/mtguard/mtguard/store"
)

// TestAdminRefusesWebPages: a web page can make a browser send requests to the admin API on
// 127.0.0.1. Without a token, only requests addressed by a loopback name are answered (DNS
// rebinding sends the attacker's name); and no state-changing request a browser marks as
// cross-site gets through. The CLI, curl and scripts send no Origin.
func TestAdminRefusesWebPages(t *testing.T) {
	log := fakeTransactions{query: func(context.Context, store.Query) (store.Page, error) { return store.Page{}, nil }}
	open := NewServer(ServerConfig{Transactions: log})
	tests := []struct {
		name, method, path, host string
		header                   http.Header
		want                     int
	}{
		{"loopback IP", "GET", "/api/transactions", "127.0.0.1:9090", nil, 200},
		{"localhost", "GET", "/api/transactions", "localhost:9090", nil, 200},
		{"IPv6 loopback", "GET", "/api/transactions", "[::1]:9090", nil, 200},
		{"rebound name", "GET", "/api/transactions", "attacker.example:9090", nil, http.StatusMisdirectedRequest},
		{"rebound name, probe", "GET", "/healthz", "attacker.example:9090", nil, http.StatusMisdirectedRequest},
		{"cross-site replay, text/plain", "POST", "/api/replays", "127.0.0.1:9090",
			http.Header{"Origin": {"http://attacker.example"}, "Content-Type": {"text/plain"}}, http.StatusForbidden},
		{"cross-site by fetch metadata", "DELETE", "/api/records/jane@acme.com", "127.0.0.1:9090",
			http.Header{"Sec-Fetch-Site": {"cross-site"}}, http.StatusForbidden},
		{"same-origin page", "POST", "/api/replays", "127.0.0.1:9090",
			http.Header{"Origin": {"http://127.0.0.1:9090"}}, http.StatusNotImplemented}, // no replayer configured: past the check
		{"the CLI (no Origin)", "POST", "/api/replays", "127.0.0.1:9090", nil, http.StatusNotImplemented},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := httptest.NewRequest(tt.method, tt.path, strings.NewReader(`{"route":"crm"}`))
			r.Host = tt.host
			for k, v := range tt.header {
				r.Header[k] = v
			}
			rec := httptest.NewRecorder()
			open.ServeHTTP(rec, r)
			if rec.Code != tt.want {
				t.Errorf("%s %s (Host %s) = %d, want %d: %s", tt.method, tt.path, tt.host, rec.Code, tt.want, rec.Body)
			}
		})
	}

	// With a token, the API may be served under any name (behind a load balancer, say); the
	// token keeps pages out of reading, and the Origin rule still holds for writes.
	withToken := NewServer(ServerConfig{Transactions: log, Token: "s3cret-token"})
	r := httptest.NewRequest("GET", "/api/transactions", nil)
	r.Host = "mtguard.internal:9090"
	r.Header.Set("Authorization", "Bearer s3cret-token")
	rec := httptest.NewRecorder()
	withToken.ServeHTTP(rec, r)
	if rec.Code != 200 {
		t.Errorf("with a token, a named host got %d: %s", rec.Code, rec.Body)
	}
	r = httptest.NewRequest("POST", "/api/replays", strings.NewReader(`{}`))
	r.Host = "mtguard.internal:9090"
	r.Header.Set("Authorization", "Bearer s3cret-token")
	r.Header.Set("Origin", "https://attacker.example")
	rec = httptest.NewRecorder()
	withToken.ServeHTTP(rec, r)
	if rec.Code != http.StatusForbidden {
		t.Errorf("with a token, a cross-site POST got %d", rec.Code)
	}
}
