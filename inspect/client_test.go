package inspect

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"reflect"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/mtguard/mtguard/store"
	"github.com/mtguard/mtguard/txn"
)

// startServer runs NewServer(cfg) on a loopback port for the test's duration.
func startServer(t *testing.T, cfg ServerConfig) *httptest.Server {
	t.Helper()
	if cfg.Now == nil {
		cfg.Now = func() time.Time { return testNow }
	}
	srv := httptest.NewServer(NewServer(cfg))
	t.Cleanup(srv.Close)
	return srv
}

func TestClientListRoundTrip(t *testing.T) {
	first, second := newTx("01JPA", testNow.Add(-time.Minute)), newTx("01JPB", testNow)
	second.Findings = []txn.Finding{{Code: "response.silent_failure", Severity: txn.SeverityError, Message: "200 with success:false"}}
	second.Outcome = txn.OutcomeFailed
	want := store.Page{Transactions: []txn.Transaction{second, first}, Next: "01JPA"}

	var got store.Query
	srv := startServer(t, ServerConfig{Token: "t0k", Transactions: fakeTransactions{
		query: func(_ context.Context, q store.Query) (store.Page, error) {
			got = q
			return want, nil
		},
	}})
	c := &Client{BaseURL: srv.URL + "/", Token: "t0k"}

	q := store.Query{
		RecordKey: "jane@acme.com",
		Route:     "crm",
		Outcome:   txn.OutcomeFailed,
		Since:     time.Date(2025, 3, 1, 9, 30, 0, 250e6, time.FixedZone("CET", 3600)),
		Until:     testNow.Add(-time.Hour),
		Limit:     2,
		Cursor:    "01JPZ",
		Ascending: true,
	}
	page, err := c.List(context.Background(), q)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(page, want) {
		t.Errorf("page = %+v\nwant %+v", page, want)
	}
	if !got.Since.Equal(q.Since) || !got.Until.Equal(q.Until) {
		t.Errorf("server got since, until = %v, %v; want %v, %v", got.Since, got.Until, q.Since, q.Until)
	}
	got.Since, got.Until, q.Since, q.Until = time.Time{}, time.Time{}, time.Time{}, time.Time{}
	if !reflect.DeepEqual(got, q) {
		t.Errorf("server got query %+v, want %+v", got, q)
	}
}

func TestClientListZeroQuery(t *testing.T) {
	var got store.Query
	srv := startServer(t, ServerConfig{Transactions: fakeTransactions{
		query: func(_ context.Context, q store.Query) (store.Page, error) {
			got = q
			return store.Page{}, nil
		},
	}})
	// A bare host:port is taken as http.
	c := &Client{BaseURL: strings.TrimPrefix(srv.URL, "http://")}
	page, err := c.List(context.Background(), store.Query{})
	if err != nil {
		t.Fatal(err)
	}
	if page.Transactions == nil || len(page.Transactions) != 0 || page.Next != "" {
		t.Errorf("page = %#v, want no transactions and no cursor", page)
	}
	if want := (store.Query{Limit: defaultLimit}); !reflect.DeepEqual(got, want) {
		t.Errorf("server got %+v, want %+v", got, want)
	}
}

func TestClientGet(t *testing.T) {
	want := newTx("01JPA", testNow)
	srv := startServer(t, ServerConfig{Transactions: fakeTransactions{
		get: func(_ context.Context, id string) (txn.Transaction, error) {
			if id == want.ID {
				return want, nil
			}
			return txn.Transaction{}, fmt.Errorf("get %s: %w", id, store.ErrNotFound)
		},
	}})
	c := &Client{BaseURL: srv.URL}

	tx, err := c.Get(context.Background(), "01JPA")
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(tx, want) {
		t.Errorf("transaction = %+v, want %+v", tx, want)
	}

	_, err = c.Get(context.Background(), "01JPX")
	if got, want := fmt.Sprint(err), "admin API: 404 Not Found: no transaction with id 01JPX"; got != want {
		t.Errorf("error = %q, want %q", got, want)
	}
	var apiErr *APIError
	if !errors.As(err, &apiErr) || apiErr.Status != http.StatusNotFound {
		t.Errorf("error %v is not an *APIError with status 404", err)
	}

	// An id is one path segment however it is spelled.
	_, err = c.Get(context.Background(), "../healthz")
	if got, want := fmt.Sprint(err), "admin API: 404 Not Found: no transaction with id ../healthz"; got != want {
		t.Errorf("error = %q, want %q", got, want)
	}
}

func TestClientErrors(t *testing.T) {
	tests := []struct {
		name    string
		handler http.HandlerFunc
		client  Client
		want    string
	}{
		{
			name:   "wrong token",
			client: Client{Token: "nope"},
			want:   "admin API: 401 Unauthorized: the bearer token is not one this server was started with",
		},
		{
			name: "missing token",
			want: "admin API: 401 Unauthorized: this admin API needs a token: send Authorization: Bearer <token>",
		},
		{
			name:   "bad request",
			client: Client{Token: "t0k"},
			want:   `admin API: 400 Bad Request: limit "5000" must be a whole number from 1 to 1000`,
		},
		{
			name: "not mtguard",
			handler: func(w http.ResponseWriter, r *http.Request) {
				w.Header().Set("Content-Type", "text/html")
				w.WriteHeader(http.StatusBadGateway)
				fmt.Fprint(w, "<html><body>upstream \x1b[31mdown</body></html>\nmore")
			},
			want: `admin API: 502 Bad Gateway: <html><body>upstream \x1b[31mdown</body></html>`,
		},
		{
			name: "not JSON",
			handler: func(w http.ResponseWriter, r *http.Request) {
				fmt.Fprint(w, "hello")
			},
			want: "admin API: read answer of /api/transactions: invalid character 'h' looking for beginning of value",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var srv *httptest.Server
			if tt.handler != nil {
				srv = httptest.NewServer(tt.handler)
				t.Cleanup(srv.Close)
			} else {
				srv = startServer(t, ServerConfig{Token: "t0k", Transactions: fakeTransactions{}})
			}
			c := tt.client
			c.BaseURL = srv.URL
			_, err := c.List(context.Background(), store.Query{Limit: 5000})
			if got := fmt.Sprint(err); got != tt.want {
				t.Errorf("error = %q\nwant    %q", got, tt.want)
			}
		})
	}
}

func TestClientUnreachable(t *testing.T) {
	// A port that was just listening and is now closed refuses connections.
	srv := httptest.NewServer(http.NotFoundHandler())
	url := srv.URL
	srv.Close()

	c := &Client{BaseURL: url}
	_, err := c.List(context.Background(), store.Query{})
	want := `cannot reach the mtguard admin API at ` + url + `: is "mtguard serve" running? (set --admin or MTGUARD_ADMIN)`
	if got := fmt.Sprint(err); got != want {
		t.Errorf("error = %q\nwant    %q", got, want)
	}
	if !errors.Is(err, syscall.ECONNREFUSED) {
		t.Errorf("error %v does not wrap ECONNREFUSED", err)
	}
}

// TestQueryEncoding checks that every field the client sets is read back by the server as is.
func TestQueryEncoding(t *testing.T) {
	tests := []store.Query{
		{},
		{RecordKey: "jane@acme.com"},
		{RecordKey: "a&b=c d+e"},
		{Route: "crm", Outcome: txn.OutcomePartial},
		{Since: time.Date(2025, 1, 2, 3, 4, 5, 6, time.UTC)},
		{Until: time.Date(2025, 1, 2, 3, 4, 5, 0, time.FixedZone("", -5*3600))},
		{Limit: 1000, Cursor: "01JPA", Ascending: true},
	}
	for _, q := range tests {
		t.Run(encodeQuery(q).Encode(), func(t *testing.T) {
			got, err := decodeQuery(encodeQuery(q), testNow)
			if err != nil {
				t.Fatal(err)
			}
			want := q
			if want.Limit == 0 {
				want.Limit = defaultLimit
			}
			if !got.Since.Equal(want.Since) || !got.Until.Equal(want.Until) {
				t.Errorf("since, until = %v, %v; want %v, %v", got.Since, got.Until, want.Since, want.Until)
			}
			got.Since, got.Until, want.Since, want.Until = time.Time{}, time.Time{}, time.Time{}, time.Time{}
			if !reflect.DeepEqual(got, want) {
				t.Errorf("decoded %+v, want %+v", got, want)
			}
		})
	}
}
