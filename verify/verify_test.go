package verify

import (
	"context"
	"fmt"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/mtguard/mtguard/schemas"
	"github.com/mtguard/mtguard/store"
	"github.com/mtguard/mtguard/txn"
)

func TestCheck(t *testing.T) {
	r := &Rule{Status: 200, Body: map[string]string{"records[].Email": "{email}", "done": "true"}}
	vals := map[string]string{"email": "jane@acme.com"}
	for _, tt := range []struct {
		name string
		a    Answer
		want string // "" when it agrees; else a fragment
	}{
		{"agrees, case aside", Answer{Status: 200, Body: []byte(`{"done":true,"records":[{"Email":"x@acme.com"},{"Email":"Jane@Acme.com"}]}`)}, ""},
		{"wrong status", Answer{Status: 404, Body: []byte(`{}`)}, "answered 404, expected 200"},
		{"no record", Answer{Status: 200, Body: []byte(`{"done":true,"totalSize":0,"records":[]}`)}, "answered without records[].Email"},
		{"another record", Answer{Status: 200, Body: []byte(`{"done":true,"records":[{"Email":"joe@acme.com"}]}`)}, `answered records[].Email = "joe@acme.com"`},
		{"not JSON", Answer{Status: 200, Body: []byte(`<html>`)}, "not JSON"},
	} {
		got := check(r, vals, tt.a)
		if (tt.want == "") != (got == "") || !strings.Contains(got, tt.want) {
			t.Errorf("%s: check = %q, want %q", tt.name, got, tt.want)
		}
	}
	if got := fill("/c/{email}?q='{email}'", map[string]string{"email": "a+b@x.com"}, true); got != "/c/a%2Bb@x.com?q='a%2Bb@x.com'" {
		t.Errorf("fill = %q", got)
	}
}

// TestReadBackWaitsForItsTimeAndThePause: a delivered call in the sample is read back After
// its end, not before; a paused route's probe is tried again later; a read-back that finds
// nothing puts delivery.unverified on the call. Calls outside the sample, failed calls and
// probes are never read back.
func TestReadBackWaitsForItsTimeAndThePause(t *testing.T) {
	st, err := store.Open(filepath.Join(t.TempDir(), "mtguard.db"), store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	ctx := context.Background()
	now := time.Date(2026, 12, 1, 9, 0, 0, 0, time.UTC)
	var mu sync.Mutex
	clock := func() time.Time { mu.Lock(); defer mu.Unlock(); return now }
	move := func(d time.Duration) { mu.Lock(); now = now.Add(d); mu.Unlock() }

	paused := true
	var asked []string
	paths, _ := schemas.ParseKeyPaths([]string{"properties.email"})
	v := New(Config{Now: clock, Tick: time.Hour,
		Rules: []Rule{{Route: "hs", After: 2 * time.Minute, Method: "GET", Path: "/contacts/{email}", Status: 200,
			Body: map[string]string{"properties.email": "{email}"}, Sample: 1, Keys: map[string][]schemas.KeyPath{"email": paths}}},
		Probe: func(_ context.Context, route, method, path, verifies string) (Answer, error) {
			if paused {
				return Answer{}, fmt.Errorf("%w: paused", ErrLater)
			}
			asked = append(asked, method+" "+path+" for "+verifies)
			return Answer{ID: "probe1", Status: 404, Body: []byte(`{"message":"resource not found"}`)}, nil
		}})
	v.st = st
	call := func(outcome txn.Outcome, kind string) txn.Transaction {
		tx := txn.Transaction{Call: txn.Call{Time: clock(), Route: "hs", Method: "POST", Path: "/hs/contacts", Kind: kind, RecordKeys: []string{"jane@acme.com"},
			Request: txn.Message{ContentType: "application/json", Body: `{"properties":{"email":"Jane@Acme.com"}}`}},
			Result: txn.Result{Status: 201, Outcome: outcome, DurationMS: 100, Findings: []txn.Finding{}}}
		if err := st.RecordIntent(ctx, &tx); err != nil {
			t.Fatal(err)
		}
		if err := st.RecordResult(&tx); err != nil {
			t.Fatal(err)
		}
		return tx
	}
	tx := call(txn.OutcomeDelivered, "")
	v.Observe(tx)
	v.Observe(call(txn.OutcomeFailed, ""))
	v.Observe(call(txn.OutcomeDelivered, txn.KindProbe))
	if v.Pending() != 1 {
		t.Fatalf("%d probes waiting, want 1", v.Pending())
	}
	move(time.Minute)
	v.Run(ctx)
	if v.Pending() != 1 {
		t.Fatal("a probe went out before its time")
	}
	move(2 * time.Minute)
	v.Run(ctx) // paused: tried again in 30s
	if v.Pending() != 1 || len(asked) != 0 {
		t.Fatalf("paused: %d waiting, asked %v", v.Pending(), asked)
	}
	paused = false
	move(10 * time.Second)
	v.Run(ctx)
	if len(asked) != 0 {
		t.Fatal("retried before laterEvery")
	}
	move(30 * time.Second)
	v.Run(ctx)
	if want := []string{"GET /contacts/jane@acme.com for " + tx.ID}; !slices.Equal(asked, want) {
		t.Fatalf("asked %v, want %v", asked, want)
	}
	got, err := st.Get(ctx, tx.ID)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.ContainsFunc(got.Findings, func(f txn.Finding) bool {
		return f.Code == txn.CodeDeliveryUnverified && f.Detail == "probe1" && strings.Contains(f.Message, "answered 404, expected 200")
	}) {
		t.Errorf("findings %+v", got.Findings)
	}
}

func TestSampled(t *testing.T) {
	in := 0
	for i := range 10000 {
		if Sampled(fmt.Sprintf("01M9%022d", i), 0.1) {
			in++
		}
	}
	if in < 800 || in > 1200 {
		t.Errorf("%d of 10000 sampled at 10%%", in)
	}
	if !Sampled("x", 1) || Sampled("x", 0) {
		t.Error("0% and 100% are none and all")
	}
}
