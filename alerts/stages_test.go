package alerts

import (
	"reflect"
	"testing"
	"time"

	"github.com/mtguard/mtguard/store"
	"github.com/mtguard/mtguard/txn"
)

// TestClassify checks the first stage alone: what one call says to each rule, given the
// route's rules and the engine's clock.
func TestClassify(t *testing.T) {
	now := nyMonday9
	earlier := now.Add(-time.Minute)
	slowRule := Rules{Latency: &LatencyRule{Percentile: 0.95, Above: 500 * time.Millisecond, Per: time.Minute}}
	finding := func(code, msg string) txn.Finding { return txn.Finding{Code: code, Message: msg} }
	obs := func(outcome txn.Outcome, latencyMS float64, codes ...txn.Finding) observation {
		return observation{route: "crm", at: earlier, outcome: outcome, latencyMS: latencyMS, records: 2, findings: codes}
	}
	base := callFacts{t: earlier, records: 2}

	tests := []struct {
		name  string
		o     observation
		rules Rules
		want  func(c *callFacts)
	}{
		{
			name: "delivered and fast",
			o:    obs(txn.OutcomeDelivered, 120),
			want: func(c *callFacts) { c.latencyMS, c.delivered, c.authAccepted = 120, true, true },
		},
		{
			name: "partial is delivered and failed",
			o:    obs(txn.OutcomePartial, 120),
			want: func(c *callFacts) { c.latencyMS, c.delivered, c.failed, c.authAccepted = 120, true, true, true },
		},
		{
			name: "failed on a plain error still proves the credentials",
			o:    obs(txn.OutcomeFailed, 120, finding("response.silent_failure", "")),
			want: func(c *callFacts) { c.latencyMS, c.failed, c.authAccepted, c.undelivered = 120, true, true, true },
		},
		{
			name: "first credential refusal wins",
			o:    obs(txn.OutcomeFailed, 120, finding(txn.CodeAuthForbidden, ""), finding(txn.CodeAuthExpired, "")),
			want: func(c *callFacts) {
				c.latencyMS, c.failed, c.authCode, c.undelivered = 120, true, txn.CodeAuthForbidden, true
			},
		},
		{
			name: "timeout says nothing about the credentials",
			o:    obs(txn.OutcomeTimeout, 30000),
			want: func(c *callFacts) { c.latencyMS, c.failed, c.undelivered = 30000, true, true },
		},
		{
			name:  "slower than the latency rule",
			o:     obs(txn.OutcomeDelivered, 501),
			rules: slowRule,
			want:  func(c *callFacts) { c.latencyMS, c.delivered, c.authAccepted, c.slow = 501, true, true, true },
		},
		{
			name:  "at the threshold is not slow",
			o:     obs(txn.OutcomeDelivered, 500),
			rules: slowRule,
			want:  func(c *callFacts) { c.latencyMS, c.delivered, c.authAccepted = 500, true, true },
		},
		{
			name: "slow without a latency rule",
			o:    obs(txn.OutcomeDelivered, 9000),
			want: func(c *callFacts) { c.latencyMS, c.delivered, c.authAccepted = 9000, true, true },
		},
		{
			name:  "vendor not asked is never slow",
			o:     obs(txn.OutcomeRejected, -1, finding("schema.missing_field", "")),
			rules: slowRule,
			want:  func(c *callFacts) { c.latencyMS, c.failed, c.contract, c.undelivered = -1, true, true, true },
		},
		{
			name: "contract finding on a forwarded call is no contract rejection",
			o:    obs(txn.OutcomeDelivered, 120, finding("contract.drift", "")),
			want: func(c *callFacts) { c.latencyMS, c.delivered, c.authAccepted = 120, true, true },
		},
		{
			name: "last deprecation finding is kept",
			o: obs(txn.OutcomeDelivered, 120,
				finding(txn.CodeEndpointDeprecated, "v1 sunset 2027-06-30"), finding(txn.CodeDeprecationAnnounced, "v2 sunset 2028-01-01")),
			want: func(c *callFacts) {
				c.latencyMS, c.delivered, c.authAccepted = 120, true, true
				c.dep = &txn.Finding{Code: txn.CodeDeprecationAnnounced, Message: "v2 sunset 2028-01-01"}
			},
		},
		{
			name: "a retired endpoint, and a run of failures",
			o:    obs(txn.OutcomeFailed, 120, finding(txn.CodeEndpointRetired, "v1 is retired")),
			want: func(c *callFacts) {
				c.latencyMS, c.failed, c.authAccepted, c.undelivered = 120, true, true, true
				c.retired = &txn.Finding{Code: txn.CodeEndpointRetired, Message: "v1 is retired"}
			},
		},
		{
			name: "a call from the future ends now",
			o:    observation{at: now.Add(time.Hour), outcome: txn.OutcomeThrottled, latencyMS: -1, waitMS: 40, records: 2},
			want: func(c *callFacts) { c.t, c.latencyMS, c.failed, c.queued = now, -1, true, true },
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			want := base
			want.outcome = tt.o.outcome
			tt.want(&want)
			// Start from a used value: classify must not leave facts of an earlier call behind.
			got := callFacts{slow: true, contract: true, authCode: txn.CodeAuthExpired, dep: &txn.Finding{}, retired: &txn.Finding{}, queued: true, undelivered: true}
			got.classify(&tt.o, &tt.rules, now)
			if !reflect.DeepEqual(got, want) {
				t.Errorf("classify\n got %+v\nwant %+v", got, want)
			}
		})
	}
}

// TestCountAuthStreak checks the counting stage's credential streak alone: refusals extend it,
// a vendor answer without one breaks it, and calls the vendor never answered leave it be.
func TestCountAuthStreak(t *testing.T) {
	t0 := nyMonday9
	refused := func(at time.Time) callFacts {
		return callFacts{t: at, records: 3, failed: true, authCode: txn.CodeAuthExpired}
	}
	accepted := func(at time.Time) callFacts {
		return callFacts{t: at, records: 3, delivered: true, authAccepted: true}
	}
	unanswered := func(at time.Time) callFacts { return callFacts{t: at, records: 3, failed: true} }

	tests := []struct {
		name        string
		calls       []callFacts
		streak      int
		records     int
		since       time.Time
		cleared     bool
		wantCodeSet bool
	}{
		{name: "no calls", calls: nil},
		{name: "refusals extend", calls: []callFacts{refused(t0), refused(t0.Add(time.Second))}, streak: 2, records: 6, since: t0, wantCodeSet: true},
		{name: "accepted breaks", calls: []callFacts{refused(t0), accepted(t0.Add(time.Second))}, cleared: true, since: t0, wantCodeSet: true},
		{
			name:   "unanswered leaves the streak",
			calls:  []callFacts{refused(t0), unanswered(t0.Add(time.Second)), refused(t0.Add(2 * time.Second))},
			streak: 2, records: 6, since: t0, wantCodeSet: true,
		},
		{
			name:   "a new streak starts at its first refusal",
			calls:  []callFacts{refused(t0), accepted(t0.Add(time.Second)), refused(t0.Add(2 * time.Second))},
			streak: 1, records: 3, since: t0.Add(2 * time.Second), wantCodeSet: true,
		},
		{name: "unanswered alone clears nothing", calls: []callFacts{unanswered(t0)}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rs := &routeState{rules: Rules{Auth: &AuthRule{Consecutive: 3}}}
			for _, c := range tt.calls {
				rs.countAuth(&c)
			}
			if rs.authStreak != tt.streak || rs.authRecords != tt.records || !rs.authSince.Equal(tt.since) || rs.authCleared != tt.cleared {
				t.Errorf("streak %d records %d since %v cleared %v; want %d %d %v %v",
					rs.authStreak, rs.authRecords, rs.authSince, rs.authCleared, tt.streak, tt.records, tt.since, tt.cleared)
			}
			if (rs.authCode != "") != tt.wantCodeSet {
				t.Errorf("authCode %q; want set=%v", rs.authCode, tt.wantCodeSet)
			}
		})
	}
}

// TestCountWindows checks that each window takes a call as bad exactly when its rule would.
func TestCountWindows(t *testing.T) {
	t0 := nyMonday9
	tests := []struct {
		name               string
		c                  callFacts
		errSum, latSum, co counts
	}{
		{
			name:   "delivered fast",
			c:      callFacts{t: t0, records: 2, delivered: true, latencyMS: 100},
			errSum: counts{calls: 1}, latSum: counts{calls: 1},
		},
		{
			name:   "partial counts against the error rate",
			c:      callFacts{t: t0, records: 2, delivered: true, failed: true, latencyMS: 100},
			errSum: counts{calls: 1, bad: 1, badRecords: 2}, latSum: counts{calls: 1},
		},
		{
			name:   "failed slow",
			c:      callFacts{t: t0, records: 2, failed: true, slow: true, latencyMS: 900},
			errSum: counts{calls: 1, bad: 1, badRecords: 2}, latSum: counts{calls: 1, bad: 1, badRecords: 2},
		},
		{
			name:   "contract rejection, vendor not asked",
			c:      callFacts{t: t0, records: 2, failed: true, contract: true, latencyMS: -1},
			errSum: counts{calls: 1, bad: 1, badRecords: 2}, co: counts{calls: 1, bad: 1, badRecords: 2},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rs := &routeState{
				rules:  Rules{Latency: &LatencyRule{Percentile: 0.95, Above: 500 * time.Millisecond, Per: time.Minute}},
				errWin: newWindow(time.Minute),
				latWin: newWindow(time.Minute),
				conWin: newWindow(time.Minute),
			}
			rs.countWindows(&tt.c)
			if rs.errWin.sum != tt.errSum || rs.latWin.sum != tt.latSum || rs.conWin.sum != tt.co {
				t.Errorf("error %+v latency %+v contract %+v; want %+v %+v %+v",
					rs.errWin.sum, rs.latWin.sum, rs.conWin.sum, tt.errSum, tt.latSum, tt.co)
			}
		})
	}
}

// TestAttribute checks that an open incident grows only with the calls that show its problem.
func TestAttribute(t *testing.T) {
	t0 := nyMonday9
	tests := []struct {
		name string
		c    callFacts
		grow []kind
	}{
		{name: "delivered", c: callFacts{delivered: true}},
		{name: "failed", c: callFacts{failed: true}, grow: []kind{kindSilence, kindErrorRate}},
		{name: "partial", c: callFacts{delivered: true, failed: true}, grow: []kind{kindErrorRate}},
		{name: "slow", c: callFacts{delivered: true, slow: true}, grow: []kind{kindLatency}},
		{name: "refused", c: callFacts{failed: true, authCode: txn.CodeAuthExpired}, grow: []kind{kindSilence, kindErrorRate, kindAuth}},
		{name: "deprecated", c: callFacts{delivered: true, dep: &txn.Finding{}}, grow: []kind{kindDeprecation}},
		{name: "contract", c: callFacts{failed: true, contract: true}, grow: []kind{kindSilence, kindErrorRate, kindContract}},
		{name: "queued", c: callFacts{delivered: true, queued: true}, grow: []kind{kindThrottle}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rs := &routeState{}
			for k := range numKinds {
				rs.active[k] = &store.Alert{Kind: k.String(), LastSeen: t0}
			}
			tt.c.t, tt.c.records = t0.Add(time.Minute), 4
			rs.attribute(&tt.c)
			for k := range numKinds {
				a := rs.active[k]
				want := store.Alert{Kind: k.String(), LastSeen: t0}
				for _, g := range tt.grow {
					if g == k {
						want.Calls, want.Records, want.LastSeen = 1, 4, t0.Add(time.Minute)
					}
				}
				if a.Calls != want.Calls || a.Records != want.Records || !a.LastSeen.Equal(want.LastSeen) {
					t.Errorf("%s: calls %d records %d last seen %v; want %d %d %v",
						k, a.Calls, a.Records, a.LastSeen, want.Calls, want.Records, want.LastSeen)
				}
			}
		})
	}
}
