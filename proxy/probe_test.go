package proxy

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"net/url"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"github.com/mtguard/mtguard/schemas"
	"github.com/mtguard/mtguard/store"
	"github.com/mtguard/mtguard/txn"
	"github.com/mtguard/mtguard/vendors"
)

// TestProbe: a read-back goes to the route's upstream with the route's credential, is recorded
// as a call of kind probe that names the call it verifies, and is not sent while the vendor
// has paused the route's limits group.
func TestProbe(t *testing.T) {
	var mu sync.Mutex
	var got []string
	vendor := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		got = append(got, r.Method+" "+r.URL.RequestURI()+" "+r.Header.Get("Authorization"))
		mu.Unlock()
		w.Write([]byte(`{"properties":{"email":"jane@acme.com"}}`))
	}))
	defer vendor.Close()
	st, err := store.Open(filepath.Join(t.TempDir(), "m.db"), store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	l, err := NewLimiter([]LimitGroup{{Name: "hs", MaxWait: time.Second}}, nil, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	pl, err := NewPipeline(PipelineConfig{Recorder: st, Limiter: l})
	if err != nil {
		t.Fatal(err)
	}
	u, _ := url.Parse(vendor.URL + "/base")
	px := NewProxy([]Route{{Name: "hs", Prefix: "/hs", Upstream: u, LimitGroup: "hs", Timeout: time.Second,
		Auth: &Auth{Header: "Authorization", Value: "Bearer held"}}}, pl, zerolog.Nop())
	ctx := context.Background()

	a, err := px.Probe(ctx, "hs", "GET", "/crm/v3/objects/contacts/jane@acme.com?idProperty=email", "01ORIGINAL")
	if err != nil || a.Status != 200 || string(a.Body) != `{"properties":{"email":"jane@acme.com"}}` {
		t.Fatalf("probe: %+v, %v", a, err)
	}
	if want := "GET /base/crm/v3/objects/contacts/jane@acme.com?idProperty=email Bearer held"; len(got) != 1 || got[0] != want {
		t.Fatalf("the vendor got %q, want %q", got, want)
	}
	tx, err := st.Get(ctx, a.ID)
	if err != nil {
		t.Fatal(err)
	}
	if tx.Kind != txn.KindProbe || tx.Verifies != "01ORIGINAL" || tx.Front != "probe" || tx.Route != "hs" ||
		tx.Path != "/hs/crm/v3/objects/contacts/jane@acme.com?idProperty=email" || tx.Outcome != txn.OutcomeDelivered {
		t.Errorf("probe recorded as %+v", tx.Call)
	}

	l.Observe("hs", []schemas.Signal{{Kind: vendors.SignalRateLimit, RetryAfter: time.Minute}})
	if _, err := px.Probe(ctx, "hs", "GET", "/contacts/x", "01ORIGINAL"); !errors.Is(err, ErrPaused) {
		t.Errorf("probe while paused: %v, want ErrPaused", err)
	}
	for _, bad := range []struct{ route, path string }{{"nope", "/x"}, {"hs", "http://elsewhere.example/x"}, {"hs", "//elsewhere.example/x"}} {
		if _, err := px.Probe(ctx, bad.route, "GET", bad.path, "01ORIGINAL"); err == nil {
			t.Errorf("probe of %s %s: no error", bad.route, bad.path)
		}
	}
	if len(got) != 1 {
		t.Errorf("the vendor got %d calls, want the one probe sent before the pause", len(got))
	}
}
