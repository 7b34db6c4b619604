package redeliver

import (
	"context"
	"errors"
	"net/http"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/mtguard/mtguard/store"
	"github.com/mtguard/mtguard/txn"
)

func openStore(t *testing.T) *store.Store {
	t.Helper()
	st, err := store.Open(filepath.Join(t.TempDir(), "mtguard.db"), store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	return st
}

// record stores a call as the pipeline would: its intent, then (unless pending) its result.
func record(t *testing.T, st *store.Store, tx *txn.Transaction, r txn.Result) string {
	t.Helper()
	if tx.Time.IsZero() {
		tx.Time = time.Now()
	}
	if err := st.RecordIntent(context.Background(), tx); err != nil {
		t.Fatal(err)
	}
	if r.Outcome != "" && r.Outcome != txn.OutcomePending {
		if r.Findings == nil {
			r.Findings = []txn.Finding{}
		}
		tx.Result = r
		if err := st.RecordResult(tx); err != nil {
			t.Fatal(err)
		}
	}
	if err := st.Sync(context.Background()); err != nil {
		t.Fatal(err)
	}
	return tx.ID
}

// vendorSender stands for the pipeline: it records each resend as a replay, with the result
// the test's vendor gives, and counts the resends.
type vendorSender struct {
	t      *testing.T
	st     *store.Store
	answer func(n int, tx txn.Transaction) txn.Result
	mu     sync.Mutex
	sent   []txn.Transaction
}

func (s *vendorSender) Replay(_ context.Context, tx txn.Transaction, _ bool) (string, error) {
	s.mu.Lock()
	s.sent = append(s.sent, tx)
	n := len(s.sent)
	s.mu.Unlock()
	re := &txn.Transaction{Call: txn.Call{Route: tx.Route, Method: tx.Method, Path: tx.Path, ReplayOf: tx.ID, Attempt: tx.Attempt + 1, RecordKeys: tx.RecordKeys, Request: tx.Request}}
	return record(s.t, s.st, re, s.answer(n, tx)), nil
}

func (s *vendorSender) count() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.sent)
}

func waitUntil(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func fastPolicy() Policy {
	return Policy{On: []string{CondUnreachable, CondTimeout, Cond429, Cond5xx, CondThrottled}, Attempts: 4, BackoffMin: time.Millisecond, BackoffMax: 5 * time.Millisecond, GiveUpAfter: time.Hour, Owner: "ops@example.com"}
}

// TestClassify: what each attempt's transaction means for its delivery, and whether a resend
// is safe without the call being idempotent.
func TestClassify(t *testing.T) {
	ra := http.Header{"Retry-After": {"7"}}
	tests := []struct {
		name  string
		r     txn.Result
		cond  string
		safe  bool
		after time.Duration
	}{
		{"delivered", txn.Result{Outcome: txn.OutcomeDelivered, Status: 200}, "", true, 0},
		{"partial counts as delivered", txn.Result{Outcome: txn.OutcomePartial, Status: 207}, "", true, 0},
		{"refused", txn.Result{Outcome: txn.OutcomeUnreachable}, CondUnreachable, true, 0},
		{"own throttle", txn.Result{Outcome: txn.OutcomeThrottled, Status: 429, Response: txn.Message{Headers: ra}}, CondThrottled, true, 7 * time.Second},
		{"timeout", txn.Result{Outcome: txn.OutcomeTimeout, Status: 504}, CondTimeout, false, 0},
		{"interrupted by a crash", txn.Result{Outcome: txn.OutcomeInterrupted}, CondTimeout, false, 0},
		{"stopped before it was sent", txn.Result{Outcome: txn.OutcomeInterrupted, Findings: []txn.Finding{{Code: txn.CodeClientGone}}}, CondThrottled, true, 0},
		{"429", txn.Result{Outcome: txn.OutcomeFailed, Status: 429, Response: txn.Message{Headers: ra}}, Cond429, true, 7 * time.Second},
		{"503 with Retry-After", txn.Result{Outcome: txn.OutcomeFailed, Status: 503, Response: txn.Message{Headers: ra}}, Cond503, true, 7 * time.Second},
		{"503 without", txn.Result{Outcome: txn.OutcomeFailed, Status: 503}, Cond503, false, 0},
		{"500", txn.Result{Outcome: txn.OutcomeFailed, Status: 500}, Cond5xx, false, 0},
		{"in-body limit code", txn.Result{Outcome: txn.OutcomeFailed, Status: 200, Findings: []txn.Finding{{Code: txn.CodeRateLimitUpstream}}}, CondRateLimit, true, 0},
		{"quota", txn.Result{Outcome: txn.OutcomeFailed, Status: 403, Findings: []txn.Finding{{Code: txn.CodeQuotaExhausted}}}, CondQuota, true, 0},
		{"a 400 is refused", txn.Result{Outcome: txn.OutcomeFailed, Status: 400}, "refused", false, 0},
		{"a contract rejection is refused", txn.Result{Outcome: txn.OutcomeRejected, Status: 422}, "refused", false, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cond, safe, after := classify(txn.Transaction{Call: txn.Call{Time: time.Now()}, Result: tt.r})
			if cond != tt.cond || safe != tt.safe || after != tt.after {
				t.Errorf("classify = %q, safe %v, after %s; want %q, %v, %s", cond, safe, after, tt.cond, tt.safe, tt.after)
			}
		})
	}
}

// TestRedeliverOutcomes runs one queued call through the redeliverer against vendors that
// answer in different ways, and checks where the delivery ends and how often it was sent.
func TestRedeliverOutcomes(t *testing.T) {
	fail := func(r txn.Result) func(int, txn.Transaction) txn.Result {
		return func(int, txn.Transaction) txn.Result { return r }
	}
	thenOK := func(first int, r txn.Result) func(int, txn.Transaction) txn.Result {
		return func(n int, _ txn.Transaction) txn.Result {
			if n <= first {
				return r
			}
			return txn.Result{Outcome: txn.OutcomeDelivered, Status: 200}
		}
	}
	timeout := txn.Result{Outcome: txn.OutcomeTimeout, Status: 504, Error: "no answer in time"}
	tests := []struct {
		name   string
		answer func(int, txn.Transaction) txn.Result
		safe   bool
		state  string // "" = delivered and gone from the queue
		sends  int
		dead   bool
		reason string
	}{
		{"down twice, then delivered", thenOK(2, txn.Result{Outcome: txn.OutcomeUnreachable, Error: "connection refused"}), false, "", 3, false, ""},
		{"a timeout is held when not idempotent", fail(timeout), false, store.DeliveryHeld, 1, false, "the vendor may have acted on it"},
		{"a timeout is resent when idempotent", thenOK(1, timeout), true, "", 2, false, ""},
		{"down for good: a dead letter", fail(txn.Result{Outcome: txn.OutcomeUnreachable}), false, store.DeliveryDead, 4, true, "gave up after 4 attempts"},
		{"a 400 is a dead letter at once", fail(txn.Result{Outcome: txn.OutcomeFailed, Status: 400}), false, store.DeliveryDead, 1, true, "the vendor refused the call"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			st := openStore(t)
			orig := &txn.Transaction{Call: txn.Call{Route: "crm", Method: "POST", Path: "/crm/v1/leads", RecordKeys: []string{"jane@example.com"},
				Request: txn.Message{Body: `{"email":"jane@example.com"}`}}}
			id := record(t, st, orig, txn.Result{Outcome: txn.OutcomeQueued, Status: 202})
			sender := &vendorSender{t: t, st: st, answer: tt.answer}
			pol := fastPolicy()
			pol.SafeToResend = func(txn.Transaction) (bool, string) { return tt.safe, "the test says so" }
			var mu sync.Mutex
			var deadKeys []string
			rd := New(Config{Queue: st, Sender: sender, Policies: map[string]Policy{"crm": pol}, OnDead: func(d store.Delivery, owner string) {
				mu.Lock()
				deadKeys = append(deadKeys, strings.Join(d.RecordKeys, ",")+" to "+owner)
				mu.Unlock()
			}})
			ctx, cancel := context.WithCancel(context.Background())
			done := make(chan struct{})
			go func() { rd.Run(ctx); close(done) }()
			defer func() { cancel(); <-done }()
			if err := rd.Enqueue(ctx, orig); err != nil {
				t.Fatal(err)
			}
			waitUntil(t, "the delivery to settle", func() bool {
				d, err := st.GetDelivery(id)
				if tt.state == "" {
					return err != nil && sender.count() == tt.sends
				}
				mu.Lock()
				told := len(deadKeys) > 0
				mu.Unlock()
				return err == nil && d.State == tt.state && told == tt.dead // the owner is told once the state is written
			})
			if got := sender.count(); got != tt.sends {
				t.Errorf("sent %d times, want %d", got, tt.sends)
			}
			if tt.state != "" {
				d, _ := st.GetDelivery(id)
				if !strings.Contains(d.Reason, tt.reason) {
					t.Errorf("reason %q, want it to say %q", d.Reason, tt.reason)
				}
				if len(d.Attempts) != tt.sends || d.Attempts[len(d.Attempts)-1].TxID == "" {
					t.Errorf("attempts %+v, want %d, each with its transaction", d.Attempts, tt.sends)
				}
			}
			mu.Lock()
			defer mu.Unlock()
			if tt.dead != (len(deadKeys) == 1) || tt.dead && deadKeys[0] != "jane@example.com to ops@example.com" {
				t.Errorf("dead letters told: %v, want dead=%v", deadKeys, tt.dead)
			}
		})
	}
}

// TestRedeliverOrderPerKey: calls of one record key go in the order they were accepted, one at
// a time, even while earlier ones are retried; calls of other keys do not wait for them.
func TestRedeliverOrderPerKey(t *testing.T) {
	st := openStore(t)
	var mu sync.Mutex
	var order []string
	sender := &vendorSender{t: t, st: st, answer: func(n int, tx txn.Transaction) txn.Result {
		mu.Lock()
		defer mu.Unlock()
		if tx.Request.Body == "a1" && !strings.Contains(strings.Join(order, ","), "a1-refused") {
			order = append(order, "a1-refused")
			return txn.Result{Outcome: txn.OutcomeUnreachable}
		}
		order = append(order, tx.Request.Body)
		return txn.Result{Outcome: txn.OutcomeDelivered, Status: 200}
	}}
	rd := New(Config{Queue: st, Sender: sender, Policies: map[string]Policy{"crm": fastPolicy()}})
	for _, c := range []struct{ key, body string }{{"a", "a1"}, {"a", "a2"}, {"b", "b1"}, {"a", "a3"}} {
		tx := &txn.Transaction{Call: txn.Call{Route: "crm", Method: "POST", Path: "/crm/x", RecordKeys: []string{c.key}, Request: txn.Message{Body: c.body}}}
		record(t, st, tx, txn.Result{Outcome: txn.OutcomeQueued, Status: 202})
		if err := rd.Enqueue(context.Background(), tx); err != nil {
			t.Fatal(err)
		}
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { rd.Run(ctx); close(done) }()
	defer func() { cancel(); <-done }()
	waitUntil(t, "all four delivered", func() bool { return sender.count() == 5 })
	mu.Lock()
	defer mu.Unlock()
	var a []string
	for _, o := range order {
		if strings.HasPrefix(o, "a") {
			a = append(a, o)
		}
	}
	if strings.Join(a, ",") != "a1-refused,a1,a2,a3" {
		t.Errorf("record a went %v, want a1 (refused, then retried), a2, a3", a)
	}
}

// TestSettleInDoubt: after a crash, an attempt recorded in the queue but absent from the log
// was never sent, and is resent; one the log holds as interrupted may have reached the vendor,
// and is held unless the call is idempotent.
func TestSettleInDoubt(t *testing.T) {
	for _, tt := range []struct {
		name      string
		sentInLog bool
		safe      bool
		want      string
		sends     int
	}{
		{"never sent: resent", false, false, "", 1},
		{"interrupted, not idempotent: held", true, false, store.DeliveryHeld, 0},
		{"interrupted, idempotent: resent", true, true, "", 1},
	} {
		t.Run(tt.name, func(t *testing.T) {
			st := openStore(t)
			orig := &txn.Transaction{Call: txn.Call{Route: "crm", Method: "POST", Path: "/crm/x", RecordKeys: []string{"k"}, Request: txn.Message{Body: "{}"}}}
			id := record(t, st, orig, txn.Result{Outcome: txn.OutcomeQueued, Status: 202})
			at := time.Now()
			if err := st.Enqueue(store.Delivery{ID: id, Route: "crm", RecordKeys: []string{"k"}, Created: at, State: store.DeliverySending,
				Attempts: []store.DeliveryAttempt{{At: at}}}); err != nil {
				t.Fatal(err)
			}
			if tt.sentInLog {
				record(t, st, &txn.Transaction{Call: txn.Call{Time: at.Add(time.Millisecond), Route: "crm", Method: "POST", Path: "/crm/x", ReplayOf: id}},
					txn.Result{Outcome: txn.OutcomeInterrupted, Findings: []txn.Finding{{Code: txn.CodeOutcomeUnknown}}})
			}
			sender := &vendorSender{t: t, st: st, answer: func(int, txn.Transaction) txn.Result { return txn.Result{Outcome: txn.OutcomeDelivered, Status: 200} }}
			pol := fastPolicy()
			pol.SafeToResend = func(txn.Transaction) (bool, string) { return tt.safe, "test" }
			rd := New(Config{Queue: st, Sender: sender, Policies: map[string]Policy{"crm": pol}})
			ctx, cancel := context.WithCancel(context.Background())
			done := make(chan struct{})
			go func() { rd.Run(ctx); close(done) }()
			defer func() { cancel(); <-done }()
			waitUntil(t, "the attempt in doubt to settle", func() bool {
				d, err := st.GetDelivery(id)
				if tt.want == "" {
					return err != nil
				}
				return err == nil && d.State == tt.want
			})
			if got := sender.count(); got != tt.sends {
				t.Errorf("sent %d times, want %d", got, tt.sends)
			}
		})
	}
}

// TestOperatorInTheAttemptsLastMoment retries or drops a delivery an attempt has just settled
// (held or dead written) while its in-flight mark is not cleared yet: a person's action goes
// through; one on a delivery still being worked is refused.
func TestOperatorInTheAttemptsLastMoment(t *testing.T) {
	for _, tc := range []struct {
		state   string
		op      string
		wantErr bool
	}{
		{store.DeliveryHeld, "drop", false},
		{store.DeliveryDead, "drop", false},
		{store.DeliveryHeld, "retry", false},
		{store.DeliveryDead, "retry", false},
		{store.DeliveryRetrying, "drop", true},
		{store.DeliveryPending, "retry", true},
		{store.DeliverySending, "drop", true},
	} {
		t.Run(tc.state+"/"+tc.op, func(t *testing.T) {
			st := openStore(t)
			rd := New(Config{Queue: st, Sender: &vendorSender{}, Policies: map[string]Policy{"crm": fastPolicy()}})
			id := "D1"
			if err := st.Enqueue(store.Delivery{ID: id, Route: "crm", State: tc.state, Created: time.Now()}); err != nil {
				t.Fatal(err)
			}
			rd.mu.Lock()
			rd.inflight[id] = true // the attempt's goroutine has not cleared its mark yet
			rd.mu.Unlock()
			var err error
			if tc.op == "drop" {
				_, err = rd.Drop(id)
			} else {
				_, err = rd.Retry(id, "jane")
			}
			if gotErr := errors.Is(err, ErrBusy); gotErr != tc.wantErr {
				t.Fatalf("%s of a %s delivery in flight: %v, want busy %v", tc.op, tc.state, err, tc.wantErr)
			}
		})
	}
}
