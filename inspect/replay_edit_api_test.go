package inspect

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/mtguard/mtguard/store"
	"github.com/mtguard/mtguard/txn"
)

// capturingReplayer records what it was asked to send and answers with a new id.
type capturingReplayer struct {
	mu   sync.Mutex
	sent []txn.Transaction
}

func (c *capturingReplayer) Replay(_ context.Context, tx txn.Transaction, _ bool) (string, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.sent = append(c.sent, tx)
	return "", nil
}

// TestReplayEdit: POST /api/transactions/{id}/replay-edit sends the latest attempt of the
// chain with the body replaced (and nothing else changed); an edited body that is not JSON for
// a JSON call is refused before anything is sent; a viewer gets 403.
func TestReplayEdit(t *testing.T) {
	orig := newTx("01ORIG", testNow)
	orig.Route, orig.Method, orig.Path = "forms", "POST", "/forms/v1/leads"
	orig.Outcome = txn.OutcomeRejected
	orig.Request = txn.Message{ContentType: "application/json", Body: `{"dob":"28/11/1990"}`, Size: 20, Headers: map[string][]string{"X-Tool": {"form"}}}
	txs := fakeTransactions{get: func(_ context.Context, id string) (txn.Transaction, error) {
		if id == orig.ID {
			return orig, nil
		}
		return txn.Transaction{}, store.ErrNotFound
	}}
	rp := &capturingReplayer{}
	h := NewServer(ServerConfig{Transactions: txs, Replayer: rp, Now: func() time.Time { return testNow },
		Tokens: []Token{{Name: "ops", Role: RoleOperator, Value: "op"}, {Name: "dash", Role: RoleViewer, Value: "view"}}})
	send := func(token, body string) *httptest.ResponseRecorder {
		r := adminRequest(http.MethodPost, "/api/transactions/01ORIG/replay-edit", strings.NewReader(body))
		r.Header.Set("Authorization", "Bearer "+token)
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, r)
		return rec
	}
	tests := []struct {
		name, token, body string
		status            int
		sent              int
	}{
		{"viewer", "view", `{"body":"{\"dob\":\"1990-11-28\"}"}`, http.StatusForbidden, 0},
		{"not JSON", "op", `{"body":"{\"dob\":"}`, http.StatusBadRequest, 0},
		{"unknown field", "op", `{"body":"{}","to":"elsewhere"}`, http.StatusBadRequest, 0},
		{"operator", "op", `{"body":"{\"dob\":\"1990-11-28\"}"}`, http.StatusOK, 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rec := send(tt.token, tt.body)
			if rec.Code != tt.status {
				t.Fatalf("%d %s, want %d", rec.Code, rec.Body, tt.status)
			}
			rp.mu.Lock()
			defer rp.mu.Unlock()
			if len(rp.sent) != tt.sent {
				t.Fatalf("%d calls sent, want %d", len(rp.sent), tt.sent)
			}
		})
	}
	got := rp.sent[0]
	if got.Request.Body != `{"dob":"1990-11-28"}` || got.Request.Size != int64(len(got.Request.Body)) || got.ID != orig.ID || got.Path != orig.Path || got.Request.Headers.Get("X-Tool") != "form" {
		t.Fatalf("sent %+v, want the original with only the body replaced", got)
	}
}

// TestWhoAmI names the token's holder and role, and says when the API has no tokens.
func TestWhoAmI(t *testing.T) {
	txs := fakeTransactions{}
	tests := []struct {
		name   string
		tokens []Token
		bearer string
		status int
		want   WhoAmI
	}{
		{"no tokens", nil, "", http.StatusOK, WhoAmI{Name: "anonymous", Role: "admin", Auth: false}},
		{"viewer", []Token{{Name: "dash", Role: RoleViewer, Value: "v"}}, "v", http.StatusOK, WhoAmI{Name: "dash", Role: "viewer", Auth: true}},
		{"unknown token", []Token{{Name: "dash", Role: RoleViewer, Value: "v"}}, "x", http.StatusUnauthorized, WhoAmI{}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := NewServer(ServerConfig{Transactions: txs, Tokens: tt.tokens})
			r := adminRequest(http.MethodGet, "/api/whoami", nil)
			if tt.bearer != "" {
				r.Header.Set("Authorization", "Bearer "+tt.bearer)
			}
			rec := httptest.NewRecorder()
			h.ServeHTTP(rec, r)
			var got WhoAmI
			json.Unmarshal(rec.Body.Bytes(), &got)
			if rec.Code != tt.status || got != tt.want {
				t.Fatalf("%d %+v, want %d %+v", rec.Code, got, tt.status, tt.want)
			}
		})
	}
}
