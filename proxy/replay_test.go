package proxy

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/rs/zerolog"

	"github.com/mtguard/mtguard/schemas"
	"github.com/mtguard/mtguard/store"
	"github.com/mtguard/mtguard/txn"
)

// flakyVendor fails with 503 until healed, then accepts; it counts what it accepted.
type flakyVendor struct {
	healed   atomic.Bool
	mu       sync.Mutex
	accepted []string // bodies
	auth     []string
}

func (f *flakyVendor) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	b, _ := io.ReadAll(r.Body)
	if !f.healed.Load() {
		w.WriteHeader(503)
		return
	}
	f.mu.Lock()
	f.accepted = append(f.accepted, r.Method+" "+r.URL.String()+" "+string(b))
	f.auth = append(f.auth, r.Header.Get("Authorization"))
	f.mu.Unlock()
	w.WriteHeader(201)
}

func TestReplay(t *testing.T) {
	fv := &flakyVendor{}
	vendor := httptest.NewServer(fv)
	defer vendor.Close()
	st, err := store.Open(filepath.Join(t.TempDir(), "m.db"), store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	pl, _ := NewPipeline(PipelineConfig{Recorder: st})
	u, _ := url.Parse(vendor.URL)
	keys, _ := schemas.ParseKeyPaths([]string{"inputs[].email"})
	routes := []Route{
		{Name: "crm", Prefix: "/crm", Upstream: u, RecordKeys: keys, Auth: &Auth{Header: "Authorization", Value: "Bearer held-by-mtguard"}},
		{Name: "noauth", Prefix: "/noauth", Upstream: u},
	}
	px := NewProxy(routes, pl, zerolog.Nop())
	srv := httptest.NewServer(px)
	defer srv.Close()
	ctx := context.Background()

	send := func(path, body string) txn.Transaction {
		t.Helper()
		req, _ := http.NewRequest("POST", srv.URL+path, strings.NewReader(body))
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("Authorization", "Bearer tool-token")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		tx, err := st.Get(ctx, resp.Header.Get(HeaderID))
		if err != nil {
			t.Fatal(err)
		}
		return tx
	}

	failed := send("/crm/v1/leads?hapikey=secret&source=web", `{"inputs":[{"email":"a@x.io"},{"email":"b@x.io"},{"email":"c@x.io"}]}`)
	if failed.Outcome != txn.OutcomeFailed {
		t.Fatalf("first send: %s", failed.Outcome)
	}
	fv.healed.Store(true)

	t.Run("after the vendor recovers the replay is delivered once", func(t *testing.T) {
		id, err := px.Replay(ctx, failed, false)
		if err != nil {
			t.Fatal(err)
		}
		re, _ := st.Get(ctx, id)
		if re.Outcome != txn.OutcomeDelivered || re.ReplayOf != failed.ID || re.Attempt != 1 || re.Front != "replay" {
			t.Fatalf("replay stored as %s replay_of %q attempt %d front %q", re.Outcome, re.ReplayOf, re.Attempt, re.Front)
		}
		orig, _ := st.Get(ctx, failed.ID)
		if len(orig.ReplayedBy) != 1 || orig.ReplayedBy[0] != id {
			t.Fatalf("original's replayed_by = %v", orig.ReplayedBy)
		}
		fv.mu.Lock()
		defer fv.mu.Unlock()
		if len(fv.accepted) != 1 {
			t.Fatalf("vendor accepted %d calls, want 1", len(fv.accepted))
		}
		if got := fv.accepted[0]; !strings.HasPrefix(got, "POST /v1/leads?source=web ") || strings.Contains(got, "hapikey") {
			t.Errorf("vendor got %q: want the original path, the plain query, no redacted credential", got)
		}
		if fv.auth[0] != "Bearer held-by-mtguard" {
			t.Errorf("replay authenticated with %q, want the route's credential", fv.auth[0])
		}
	})

	t.Run("partial replay sends only the failed records", func(t *testing.T) {
		partial := failed
		partial.Records = []txn.RecordResult{{Index: 0, OK: true}, {Index: 1, OK: false, Reason: "skipped"}, {Index: 2, OK: true}}
		if _, err := px.Replay(ctx, partial, true); err != nil {
			t.Fatal(err)
		}
		fv.mu.Lock()
		last := fv.accepted[len(fv.accepted)-1]
		fv.mu.Unlock()
		body := last[strings.Index(last, "{"):]
		var doc struct {
			Inputs []struct{ Email string } `json:"inputs"`
		}
		json.Unmarshal([]byte(body), &doc)
		if len(doc.Inputs) != 1 || doc.Inputs[0].Email != "b@x.io" {
			t.Fatalf("partial replay sent %s, want only b@x.io", body)
		}
	})

	t.Run("without a held credential the replay is refused and says what to configure", func(t *testing.T) {
		fv.healed.Store(false)
		tx := send("/noauth/v1/leads", `{"email":"z@x.io"}`)
		fv.healed.Store(true)
		before := len(fv.accepted)
		_, err := px.Replay(ctx, tx, false)
		if !errors.Is(err, ErrNotReplayable) || !strings.Contains(err.Error(), "auth: {header: Authorization, value_env:") {
			t.Fatalf("err = %v", err)
		}
		if len(fv.accepted) != before {
			t.Fatal("a refused replay reached the vendor")
		}
	})

	t.Run("truncated or redacted bodies are refused", func(t *testing.T) {
		tr := failed
		tr.Request.Truncated = true
		if _, err := px.Replay(ctx, tr, false); !errors.Is(err, ErrNotReplayable) {
			t.Fatalf("truncated: err = %v", err)
		}
		rd := failed
		rd.Request.Body = `{"password":"[REDACTED]"}`
		if _, err := px.Replay(ctx, rd, false); !errors.Is(err, ErrNotReplayable) {
			t.Fatalf("redacted: err = %v", err)
		}
		un := failed
		un.Request.Body = ""
		un.Findings = append(slices.Clone(un.Findings), txn.Finding{Code: txn.CodeStoreUndecryptable})
		if _, err := px.Replay(ctx, un, false); !errors.Is(err, ErrNotReplayable) || !strings.Contains(err.Error(), "store.encrypt") {
			t.Fatalf("undecryptable: err = %v", err)
		}
	})
}
