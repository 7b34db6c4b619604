package proxy

import (
	"context"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/mtguard/mtguard/txn"
)

func TestParseFault(t *testing.T) {
	answers := map[string]*FaultAnswer{FaultExpireAuth: {Status: 200, Body: `{"errors":[{"code":"602"}]}`}}
	for _, tc := range []struct {
		in, want, err string
		replaces      bool
	}{
		{in: "down", want: "down", replaces: true},
		{in: "status:503", want: "status:503", replaces: true},
		{in: "status:429", want: "status:429", replaces: true},
		{in: "slow:8s", want: "slow:8s"},
		{in: "expire-auth", want: "expire-auth", replaces: true},
		{in: "deprecate", want: "deprecate"},
		{in: "silence", want: "silence"},
		{in: "discard", err: "the route's preset has none"},
		{in: "status:200", err: "from 400 to 599"},
		{in: "slow:forever", err: "slow:DURATION"},
		{in: "down:now", err: "takes no argument"},
		{in: "meteor", err: `unknown fault "meteor"`},
	} {
		f, err := ParseFault(tc.in, answers)
		if tc.err != "" {
			if err == nil || !strings.Contains(err.Error(), tc.err) {
				t.Errorf("%s: error %v, want one saying %q", tc.in, err, tc.err)
			}
			continue
		}
		if err != nil || f.String() != tc.want || f.Replaces() != tc.replaces {
			t.Errorf("%s: %v %v (replaces %v)", tc.in, f, err, f.Replaces())
		}
	}
}

// countingRT counts the calls that get past the drill.
type countingRT struct{ n int }

func (c *countingRT) RoundTrip(r *http.Request) (*http.Response, error) {
	c.n++
	return &http.Response{StatusCode: 200, Header: http.Header{}, Body: io.NopCloser(strings.NewReader("{}")), Request: r}, nil
}

// TestDrillTransport: a replaced answer never reaches the next transport; an altered one does,
// with what the fault adds; a call without a fault goes through untouched.
func TestDrillTransport(t *testing.T) {
	now := time.Date(2026, 11, 30, 14, 0, 0, 0, time.UTC)
	for _, tc := range []struct {
		fault   Fault
		status  int
		header  string
		reaches bool
		err     string
	}{
		{Fault{Kind: FaultDown}, 0, "", false, "connection refused"},
		{Fault{Kind: FaultStatus, Status: 429}, 429, "Retry-After: 1", false, ""},
		{Fault{Kind: FaultStatus, Status: 500}, 500, "", false, ""},
		{Fault{Kind: FaultExpireAuth, Answer: &FaultAnswer{Status: 401, Header: http.Header{"Www-Authenticate": {`Bearer error="invalid_token"`}}}}, 401, `Www-Authenticate: Bearer error="invalid_token"`, false, ""},
		{Fault{Kind: FaultSlow, Delay: time.Millisecond}, 200, "", true, ""},
		{Fault{Kind: FaultDeprecate}, 200, "Sunset: Wed, 30 Dec 2026 14:00:00 GMT", true, ""},
		{Fault{Kind: FaultSilence}, 200, "", true, ""},
	} {
		next := &countingRT{}
		rt := &drillTransport{next: next, now: func() time.Time { return now }}
		f := tc.fault
		req := httptest.NewRequest("POST", "http://vendor.example/v1/leads", strings.NewReader(`{"email":"a@b.c"}`))
		req = req.WithContext(context.WithValue(req.Context(), faultKey{}, &f))
		resp, err := rt.RoundTrip(req)
		if tc.err != "" {
			if err == nil || !strings.Contains(err.Error(), tc.err) {
				t.Errorf("%s: error %v", f, err)
			}
		} else if err != nil || resp.StatusCode != tc.status {
			t.Errorf("%s: %v %v", f, resp, err)
		} else if tc.header != "" {
			k, v, _ := strings.Cut(tc.header, ": ")
			if resp.Header.Get(k) != v {
				t.Errorf("%s: %s = %q, want %q", f, k, resp.Header.Get(k), v)
			}
		}
		if (next.n == 1) != tc.reaches {
			t.Errorf("%s: the vendor got %d calls, reaches %v", f, next.n, tc.reaches)
		}
	}
	// Without a fault, untouched.
	next := &countingRT{}
	if _, err := (&drillTransport{next: next, now: time.Now}).RoundTrip(httptest.NewRequest("GET", "http://v/", nil)); err != nil || next.n != 1 {
		t.Errorf("no fault: %v, %d calls", err, next.n)
	}
	// A slow fault gives up with the call.
	f := Fault{Kind: FaultSlow, Delay: time.Hour}
	ctx, cancel := context.WithCancelCause(context.WithValue(context.Background(), faultKey{}, &f))
	cancel(errUpstreamTimeout)
	req := httptest.NewRequest("GET", "http://v/", nil).WithContext(ctx)
	if _, err := (&drillTransport{next: next, now: time.Now}).RoundTrip(req); !errors.Is(err, errUpstreamTimeout) {
		t.Errorf("slow fault after the route timeout: %v", err)
	}
}

// TestDrillShare: a partial drill takes the calls its sampler picks; replays are never drilled.
func TestDrillShare(t *testing.T) {
	vals := []float64{0.1, 0.6, 0.3, 0.9}
	i := 0
	d := NewDrills(func() float64 { v := vals[i%len(vals)]; i++; return v })
	if err := d.Start(ActiveDrill{ID: "d1", Route: "crm", Fault: Fault{Kind: FaultDown}, Share: 0.5}); err != nil {
		t.Fatal(err)
	}
	if err := d.Start(ActiveDrill{ID: "d2", Route: "crm", Fault: Fault{Kind: FaultDown}}); !errors.Is(err, ErrDrillRunning) {
		t.Errorf("second drill on a route: %v", err)
	}
	p := &Pipeline{cfg: PipelineConfig{Drills: d}}
	var got []string
	for _, replay := range []string{"", "", "", "", "01ORIGINAL"} {
		f := &flight{p: p, call: &Call{Route: &Route{Name: "crm"}, ReplayOf: replay}, req: httptest.NewRequest("GET", "/", nil), tx: &txn.Transaction{}}
		f.drill()
		got = append(got, f.tx.Drill)
	}
	if strings.Join(got, ",") != "d1,,d1,," {
		t.Errorf("drilled calls %q, want d1 for samples under 50%% and never a replay", got)
	}
	if !d.Stop("d1") || d.Stop("d1") {
		t.Error("stop")
	}
}
