package inspect

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"github.com/mtguard/mtguard/store"
	"github.com/mtguard/mtguard/txn"
)

// fakeTransactions is a Transactions whose answers each test chooses. A nil field fails the
// test that reaches it.
type fakeTransactions struct {
	get   func(ctx context.Context, id string) (txn.Transaction, error)
	query func(ctx context.Context, q store.Query) (store.Page, error)
}

func (f fakeTransactions) Get(ctx context.Context, id string) (txn.Transaction, error) {
	if f.get == nil {
		return txn.Transaction{}, errors.New("fake: Get not expected")
	}
	return f.get(ctx, id)
}

func (f fakeTransactions) Query(ctx context.Context, q store.Query) (store.Page, error) {
	if f.query == nil {
		return store.Page{}, errors.New("fake: Query not expected")
	}
	return f.query(ctx, q)
}

// testNow is the clock of every test server.
var testNow = time.Date(2025, 3, 14, 12, 0, 0, 0, time.UTC)

// newTx returns a transaction with the fields every listing shows.
func newTx(id string, at time.Time) txn.Transaction {
	var tx txn.Transaction
	tx.ID = id
	tx.Time = at
	tx.Route = "crm"
	tx.Method = http.MethodPost
	tx.Path = "/api/leads"
	tx.RecordKeys = []string{"jane@acme.com"}
	tx.Status = http.StatusOK
	tx.Outcome = txn.OutcomeDelivered
	tx.DurationMS = 12.4
	tx.Findings = []txn.Finding{}
	return tx
}

// serve sends one request to a server built from cfg and returns the recorded answer.
func serve(t *testing.T, cfg ServerConfig, method, target string, header http.Header) *httptest.ResponseRecorder {
	t.Helper()
	if cfg.Now == nil {
		cfg.Now = func() time.Time { return testNow }
	}
	req := adminRequest(method, target, nil)
	for name, values := range header {
		req.Header[name] = values
	}
	rec := httptest.NewRecorder()
	NewServer(cfg).ServeHTTP(rec, req)
	return rec
}

// decodeProblem checks that rec is a problem+json answer with status and returns it.
func decodeProblem(t *testing.T, rec *httptest.ResponseRecorder, status int) txn.Problem {
	t.Helper()
	if rec.Code != status {
		t.Fatalf("status = %d, want %d; body %s", rec.Code, status, rec.Body)
	}
	if ct := rec.Header().Get("Content-Type"); ct != txn.ProblemContentType {
		t.Errorf("Content-Type = %q, want %q", ct, txn.ProblemContentType)
	}
	var p txn.Problem
	if err := json.Unmarshal(rec.Body.Bytes(), &p); err != nil {
		t.Fatalf("decode problem %s: %v", rec.Body, err)
	}
	if p.Status != status || p.Title != http.StatusText(status) || p.Type != "about:blank" {
		t.Errorf("problem = %+v, want status %d titled %q", p, status, http.StatusText(status))
	}
	return p
}

func TestListQueryParams(t *testing.T) {
	base := store.Query{Limit: 50}
	with := func(f func(q *store.Query)) store.Query {
		q := base
		f(&q)
		return q
	}
	tests := []struct {
		query      string
		want       store.Query
		wantDetail string // when set, the request is refused with 400 and this in its detail
	}{
		{query: "", want: base},
		{query: "record=+Jane@Acme.COM+", want: with(func(q *store.Query) { q.RecordKey = "jane@acme.com" })},
		{query: "record=CUST-42", want: with(func(q *store.Query) { q.RecordKey = "CUST-42" })},
		{query: "route=crm", want: with(func(q *store.Query) { q.Route = "crm" })},
		{query: "outcome=failed", want: with(func(q *store.Query) { q.Outcome = txn.OutcomeFailed })},
		{query: "outcome=pending", want: with(func(q *store.Query) { q.Outcome = txn.OutcomePending })},
		{query: "outcome=lost", wantDetail: `outcome "lost" is not one of pending, rejected, throttled, unreachable, timeout, interrupted, failed, partial, delivered`},
		{query: "since=24h", want: with(func(q *store.Query) { q.Since = testNow.Add(-24 * time.Hour) })},
		{query: "since=90m&until=30m", want: with(func(q *store.Query) {
			q.Since, q.Until = testNow.Add(-90*time.Minute), testNow.Add(-30*time.Minute)
		})},
		{query: "since=2025-03-01T00:00:00Z", want: with(func(q *store.Query) { q.Since = time.Date(2025, 3, 1, 0, 0, 0, 0, time.UTC) })},
		// An unescaped "+" arrives as a space.
		{query: "since=2025-03-01T02:00:00+02:00", want: with(func(q *store.Query) { q.Since = time.Date(2025, 3, 1, 0, 0, 0, 0, time.UTC) })},
		{query: "until=2025-03-01T00:00:00.5Z", want: with(func(q *store.Query) { q.Until = time.Date(2025, 3, 1, 0, 0, 0, 5e8, time.UTC) })},
		{query: "since=yesterday", wantDetail: `since "yesterday" must be a duration back from now like 24h or 90m, or an RFC 3339 time like 2025-03-01T00:00:00Z`},
		{query: "since=2025-03-01", wantDetail: "RFC 3339 time"},
		{query: "since=-1h", wantDetail: `since "-1h" must be a positive duration back from now`},
		{query: "until=1d", wantDetail: `until "1d" must be a duration back from now like 24h`},
		{query: "since=1h&until=2h", wantDetail: "since (2025-03-14T11:00:00Z) must be before until (2025-03-14T10:00:00Z)"},
		{query: "limit=1", want: with(func(q *store.Query) { q.Limit = 1 })},
		{query: "limit=1000", want: with(func(q *store.Query) { q.Limit = 1000 })},
		{query: "limit=0", wantDetail: `limit "0" must be a whole number from 1 to 1000`},
		{query: "limit=1001", wantDetail: `limit "1001" must be a whole number from 1 to 1000`},
		{query: "limit=ten", wantDetail: `limit "ten" must be a whole number from 1 to 1000`},
		{query: "cursor=01JPABCDEF", want: with(func(q *store.Query) { q.Cursor = "01JPABCDEF" })},
		{query: "order=asc", want: with(func(q *store.Query) { q.Ascending = true })},
		{query: "order=desc", want: base},
		{query: "order=newest", wantDetail: `order "newest" must be asc (oldest first) or desc (newest first)`},
		{query: "email=jane@acme.com", wantDetail: `unknown query parameter "email": use record, route, outcome, finding, status, since, until, limit, cursor, order, format`},
	}
	for _, tt := range tests {
		t.Run(tt.query, func(t *testing.T) {
			var got *store.Query
			cfg := ServerConfig{Transactions: fakeTransactions{query: func(_ context.Context, q store.Query) (store.Page, error) {
				got = &q
				return store.Page{}, nil
			}}}
			rec := serve(t, cfg, http.MethodGet, "/api/transactions?"+tt.query, nil)

			if tt.wantDetail != "" {
				p := decodeProblem(t, rec, http.StatusBadRequest)
				if !strings.Contains(p.Detail, tt.wantDetail) {
					t.Errorf("detail = %q, want it to contain %q", p.Detail, tt.wantDetail)
				}
				if got != nil {
					t.Errorf("store was queried with %+v despite the bad request", *got)
				}
				return
			}
			if rec.Code != http.StatusOK {
				t.Fatalf("status = %d, want 200; body %s", rec.Code, rec.Body)
			}
			if got == nil {
				t.Fatal("store was not queried")
			}
			if !got.Since.Equal(tt.want.Since) || !got.Until.Equal(tt.want.Until) {
				t.Errorf("since, until = %v, %v; want %v, %v", got.Since, got.Until, tt.want.Since, tt.want.Until)
			}
			got.Since, got.Until, tt.want.Since, tt.want.Until = time.Time{}, time.Time{}, time.Time{}, time.Time{}
			if !reflect.DeepEqual(*got, tt.want) {
				t.Errorf("query = %+v, want %+v", *got, tt.want)
			}
		})
	}
}

func TestListAnswer(t *testing.T) {
	t.Run("empty page is an empty array", func(t *testing.T) {
		cfg := ServerConfig{Transactions: fakeTransactions{query: func(context.Context, store.Query) (store.Page, error) {
			return store.Page{}, nil
		}}}
		rec := serve(t, cfg, http.MethodGet, "/api/transactions", nil)
		if got, want := strings.TrimSpace(rec.Body.String()), `{"transactions":[]}`; got != want {
			t.Errorf("body = %s, want %s", got, want)
		}
		if ct := rec.Header().Get("Content-Type"); ct != "application/json" {
			t.Errorf("Content-Type = %q", ct)
		}
		if cc := rec.Header().Get("Cache-Control"); cc != "no-store" {
			t.Errorf("Cache-Control = %q, want no-store", cc)
		}
	})
	t.Run("page with cursor", func(t *testing.T) {
		want := store.Page{Transactions: []txn.Transaction{newTx("B", testNow), newTx("A", testNow.Add(-time.Minute))}, Next: "A"}
		cfg := ServerConfig{Transactions: fakeTransactions{query: func(context.Context, store.Query) (store.Page, error) {
			return want, nil
		}}}
		rec := serve(t, cfg, http.MethodGet, "/api/transactions?limit=2", nil)
		var got store.Page
		if err := json.Unmarshal(rec.Body.Bytes(), &got); err != nil {
			t.Fatal(err)
		}
		if !reflect.DeepEqual(got, want) {
			t.Errorf("page = %+v, want %+v", got, want)
		}
	})
}

func TestGetTransaction(t *testing.T) {
	want := newTx("01JPABCDEF", testNow)
	cfg := ServerConfig{Transactions: fakeTransactions{get: func(_ context.Context, id string) (txn.Transaction, error) {
		if id != want.ID {
			return txn.Transaction{}, fmt.Errorf("get %s: %w", id, store.ErrNotFound)
		}
		return want, nil
	}}}
	rec := serve(t, cfg, http.MethodGet, "/api/transactions/01JPABCDEF", nil)
	var got txn.Transaction
	if err := json.Unmarshal(rec.Body.Bytes(), &got); err != nil {
		t.Fatalf("decode %s: %v", rec.Body, err)
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("transaction = %+v, want %+v", got, want)
	}

	rec = serve(t, cfg, http.MethodGet, "/api/transactions/NOPE", nil)
	if p := decodeProblem(t, rec, http.StatusNotFound); p.Detail != "no transaction with id NOPE" {
		t.Errorf("detail = %q", p.Detail)
	}
}

func TestErrorStatuses(t *testing.T) {
	tests := []struct {
		name       string
		method     string
		target     string
		storeErr   error
		wantStatus int
		wantDetail string
	}{
		{"not found", "GET", "/api/transactions/X1", fmt.Errorf("get X1: %w", store.ErrNotFound), 404, "no transaction with id X1"},
		{"bad cursor", "GET", "/api/transactions?cursor=zz", fmt.Errorf("query: %w", store.ErrBadCursor), 400, "cursor was not issued by this server"},
		{"store closed", "GET", "/api/transactions", fmt.Errorf("query: %w", store.ErrClosed), 503, "mtguard is shutting down"},
		{"store closed on get", "GET", "/api/transactions/X1", fmt.Errorf("get X1: %w", store.ErrClosed), 503, "mtguard is shutting down"},
		{"slow store", "GET", "/api/transactions", context.DeadlineExceeded, 503, "took too long"},
		{"foreign file", "GET", "/api/transactions", store.ErrUnknownFormat, 500, "another mtguard version"},
		// The cause of an unexpected failure goes to the log, not to the caller.
		{"broken store", "GET", "/api/transactions/X1", errors.New("page 7: checksum mismatch in /var/lib/mtguard.db"), 500, "the mtguard server log has the cause"},
		{"unknown api path", "GET", "/api/leads", nil, 404, "no admin API endpoint at /api/leads"},
		{"empty id", "GET", "/api/transactions/", nil, 404, "no admin API endpoint"},
		{"nested id", "GET", "/api/transactions/a/b", nil, 404, "no admin API endpoint"},
		{"outside api", "GET", "/", nil, 404, "no admin API endpoint at /"},
		{"write to list", "POST", "/api/transactions", nil, 405, "use GET, not POST"},
		{"delete one", "DELETE", "/api/transactions/X1", nil, 405, "use GET, not DELETE"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			fail := func() error { return tt.storeErr }
			cfg := ServerConfig{Transactions: fakeTransactions{
				get:   func(context.Context, string) (txn.Transaction, error) { return txn.Transaction{}, fail() },
				query: func(context.Context, store.Query) (store.Page, error) { return store.Page{}, fail() },
			}}
			var log bytes.Buffer
			cfg.Logger = zerolog.New(&log)
			rec := serve(t, cfg, tt.method, tt.target, nil)

			p := decodeProblem(t, rec, tt.wantStatus)
			if !strings.Contains(p.Detail, tt.wantDetail) {
				t.Errorf("detail = %q, want it to contain %q", p.Detail, tt.wantDetail)
			}
			if tt.storeErr != nil && tt.wantStatus == 500 && strings.Contains(p.Detail, tt.storeErr.Error()) {
				t.Errorf("detail %q leaks the internal error", p.Detail)
			}
			if cc := rec.Header().Get("Cache-Control"); cc != "no-store" {
				t.Errorf("Cache-Control = %q, want no-store", cc)
			}
			if tt.wantStatus == 405 && rec.Header().Get("Allow") != "GET, HEAD" {
				t.Errorf("Allow = %q", rec.Header().Get("Allow"))
			}
			if n := strings.Count(log.String(), "\n"); n != 1 {
				t.Errorf("logged %d lines, want 1:\n%s", n, log.String())
			}
			if tt.storeErr != nil && !strings.Contains(log.String(), tt.storeErr.Error()) {
				t.Errorf("log %q does not hold the cause %q", log.String(), tt.storeErr)
			}
		})
	}
}

func TestErrorLogLeavesOutQuery(t *testing.T) {
	var log bytes.Buffer
	cfg := ServerConfig{Transactions: fakeTransactions{}, Logger: zerolog.New(&log)}
	serve(t, cfg, http.MethodGet, "/api/transactions?record=jane@acme.com&limit=0", nil)
	if strings.Contains(log.String(), "jane") {
		t.Errorf("log holds the record key: %s", log.String())
	}
}

func TestAuth(t *testing.T) {
	const token = "s3cret-token"
	ok := fakeTransactions{
		query: func(context.Context, store.Query) (store.Page, error) { return store.Page{}, nil },
		get:   func(context.Context, string) (txn.Transaction, error) { return newTx("X1", testNow), nil },
	}
	tests := []struct {
		name          string
		token         string // the server's
		target        string
		authorization string // "" sends none
		wantStatus    int
		wantChallenge string
	}{
		{"no token", token, "/api/transactions", "", 401, `Bearer realm="mtguard"`},
		{"wrong token", token, "/api/transactions", "Bearer nope", 401, `Bearer realm="mtguard", error="invalid_token"`},
		{"token prefix", token, "/api/transactions", "Bearer s3cret", 401, `Bearer realm="mtguard", error="invalid_token"`},
		{"basic auth", token, "/api/transactions", "Basic czNjcmV0LXRva2Vu", 401, `Bearer realm="mtguard"`},
		{"bare token", token, "/api/transactions", token, 401, `Bearer realm="mtguard"`},
		{"right token", token, "/api/transactions", "Bearer " + token, 200, ""},
		{"scheme in lower case", token, "/api/transactions", "bearer " + token, 200, ""},
		{"right token on get", token, "/api/transactions/X1", "Bearer " + token, 200, ""},
		{"no token on get", token, "/api/transactions/X1", "", 401, `Bearer realm="mtguard"`},
		// Without the token, even the shape of the API stays hidden.
		{"no token on unknown api path", token, "/api/nope", "", 401, `Bearer realm="mtguard"`},
		{"healthz is open", token, "/healthz", "", 200, ""},
		{"readyz is open", token, "/readyz", "", 200, ""},
		{"no auth configured", "", "/api/transactions", "", 200, ""},
		{"no auth configured, token sent anyway", "", "/api/transactions", "Bearer whatever", 200, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			header := http.Header{}
			if tt.authorization != "" {
				header.Set("Authorization", tt.authorization)
			}
			rec := serve(t, ServerConfig{Transactions: ok, Token: tt.token}, http.MethodGet, tt.target, header)
			if tt.wantStatus == 401 {
				decodeProblem(t, rec, 401)
			} else if rec.Code != tt.wantStatus {
				t.Fatalf("status = %d, want %d; body %s", rec.Code, tt.wantStatus, rec.Body)
			}
			if got := rec.Header().Get("WWW-Authenticate"); got != tt.wantChallenge {
				t.Errorf("WWW-Authenticate = %q, want %q", got, tt.wantChallenge)
			}
			if strings.Contains(rec.Body.String(), token) {
				t.Errorf("answer holds the token: %s", rec.Body)
			}
		})
	}
}

func TestHealth(t *testing.T) {
	tests := []struct {
		name       string
		target     string
		ready      func() error
		wantStatus int
		wantBody   string
	}{
		{"healthz", "/healthz", nil, 200, `{"status":"ok","version":"1.2.3"}`},
		{"healthz while not ready", "/healthz", func() error { return errors.New("store closed") }, 200, `{"status":"ok","version":"1.2.3"}`},
		{"readyz by default", "/readyz", nil, 200, `{"status":"ready"}`},
		{"readyz ready", "/readyz", func() error { return nil }, 200, `{"status":"ready"}`},
		{"readyz not ready", "/readyz", func() error { return errors.New("store closed") }, 503, `{"error":"store closed","status":"not ready"}`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rec := serve(t, ServerConfig{Ready: tt.ready, Version: "1.2.3"}, http.MethodGet, tt.target, nil)
			if rec.Code != tt.wantStatus {
				t.Errorf("status = %d, want %d", rec.Code, tt.wantStatus)
			}
			if got := strings.TrimSpace(rec.Body.String()); got != tt.wantBody {
				t.Errorf("body = %s, want %s", got, tt.wantBody)
			}
			if ct := rec.Header().Get("Content-Type"); ct != "application/json" {
				t.Errorf("Content-Type = %q", ct)
			}
		})
	}
}

// TestListStatusClass: status= takes a class (4xx) as well as a code, on a real transaction
// log (issue 18, item 12).
func TestListStatusClass(t *testing.T) {
	st, err := store.Open(filepath.Join(t.TempDir(), "mtguard.db"), store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	ids := map[int]string{}
	for _, code := range []int{201, 404, 429, 502} {
		tx := &txn.Transaction{Call: txn.Call{Time: testNow.Add(-time.Minute), Route: "crm", Method: "POST", Path: "/crm/leads"}}
		if err := st.RecordIntent(context.Background(), tx); err != nil {
			t.Fatal(err)
		}
		tx.Result = txn.Result{Status: code, Outcome: txn.OutcomeFailed, Findings: []txn.Finding{}}
		if err := st.RecordResult(tx); err != nil {
			t.Fatal(err)
		}
		ids[code] = tx.ID
	}
	for _, tt := range []struct {
		status string
		want   []int
	}{
		{"4xx", []int{429, 404}},
		{"4XX", []int{429, 404}},
		{"5xx", []int{502}},
		{"2xx", []int{201}},
		{"1xx", nil},
		{"404", []int{404}},
	} {
		rec := serve(t, ServerConfig{Transactions: st}, http.MethodGet, "/api/transactions?status="+tt.status, nil)
		if rec.Code != http.StatusOK {
			t.Errorf("status=%s: %d %s", tt.status, rec.Code, rec.Body)
			continue
		}
		var page store.Page
		json.Unmarshal(rec.Body.Bytes(), &page)
		var got []string
		for _, tx := range page.Transactions {
			got = append(got, tx.ID)
		}
		var want []string
		for _, code := range tt.want {
			want = append(want, ids[code])
		}
		if strings.Join(got, ",") != strings.Join(want, ",") {
			t.Errorf("status=%s: got %v, want %v", tt.status, got, want)
		}
	}
	for _, bad := range []string{"6xx", "0xx", "4x", "xx", "42", "abc"} {
		rec := serve(t, ServerConfig{Transactions: st}, http.MethodGet, "/api/transactions?status="+bad, nil)
		if p := decodeProblem(t, rec, http.StatusBadRequest); !strings.Contains(p.Detail, "or a class such as 4xx") {
			t.Errorf("status=%s: %q", bad, p.Detail)
		}
	}
}

// adminRequest is a request as the CLI sends it: to the admin API's loopback address.
func adminRequest(method, target string, body io.Reader) *http.Request {
	r := httptest.NewRequest(method, target, body)
	r.Host = "127.0.0.1:9090"
	return r
}
