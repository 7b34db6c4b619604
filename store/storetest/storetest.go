package storetest

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/mtguard/mtguard/store"
	"github.com/mtguard/mtguard/txn"
)

// Open returns a fresh, empty backend for one test; the backend is closed by the test's
// cleanup (Open registers it).
type Open func(t *testing.T) store.Log

// Run runs the contract against the backend open makes.
func Run(t *testing.T, open Open) {
	tests := []struct {
		name string
		run  func(t *testing.T, s store.Log)
	}{
		{"IntentThenResult", testIntentThenResult},
		{"ResultWithoutIntent", testResultWithoutIntent},
		{"ProvisionalIsReplaced", testProvisionalIsReplaced},
		{"Filters", testFilters},
		{"Paging", testPaging},
		{"TimeRange", testTimeRange},
		{"ReplayLinks", testReplayLinks},
		{"Forget", testForget},
		{"DeleteBefore", testDeleteBefore},
		{"SendTimes", testSendTimes},
		{"Alerts", testAlerts},
		{"Audit", testAudit},
		{"Reservations", testReservations},
		{"ConcurrentCalls", testConcurrentCalls},
		{"Drills", testDrills},
		{"Notifications", testNotifications},
		{"Deliveries", testDeliveries},
		{"KeptJourneys", testKeptJourneys},
		{"KeptShapes", testKeptShapes},
		{"AddFindings", testAddFindings},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) { tc.run(t, open(t)) })
	}
}

// base is the time of the suite's calls: near now, where a backend partitioned by day has
// its partitions, and on a whole second so that every backend keeps it exactly.
func base() time.Time { return time.Now().UTC().Truncate(time.Second).Add(-time.Hour) }

type call struct {
	route    string
	keys     []string
	outcome  txn.Outcome // "" leaves the call pending
	status   int
	findings []string
	caller   string
	at       time.Duration // after base
}

func record(t *testing.T, s store.Log, t0 time.Time, c call) *txn.Transaction {
	t.Helper()
	tx := &txn.Transaction{Call: txn.Call{Time: t0.Add(c.at), Route: c.route, Method: "POST", Path: "/" + c.route + "/v1/leads",
		UpstreamURL: "https://" + c.route + ".example.com/v1/leads", Caller: c.caller, RecordKeys: c.keys,
		Request: txn.Message{ContentType: "application/json", Body: `{"email":"` + strings.Join(c.keys, `","email":"`) + `"}`, Size: 10}}}
	if err := s.RecordIntent(context.Background(), tx); err != nil {
		t.Fatalf("record intent: %v", err)
	}
	if tx.ID == "" || !tx.IntentStored {
		t.Fatalf("after RecordIntent: id %q, intent stored %v", tx.ID, tx.IntentStored)
	}
	if c.outcome != "" {
		tx.Result = txn.Result{Status: c.status, Outcome: c.outcome, Findings: []txn.Finding{}, DurationMS: 1.5,
			Response: txn.Message{Body: `{"ok":true}`, Size: 11}}
		for _, f := range c.findings {
			tx.Findings = append(tx.Findings, txn.Finding{Code: f, Severity: "warn", Message: f})
		}
		if err := s.RecordResult(tx); err != nil {
			t.Fatalf("record result: %v", err)
		}
	}
	return tx
}

func get(t *testing.T, s store.Log, id string) txn.Transaction {
	t.Helper()
	tx, err := s.Get(context.Background(), id)
	if err != nil {
		t.Fatalf("get %s: %v", id, err)
	}
	return tx
}

func ids(p store.Page) []string {
	out := []string{}
	for _, tx := range p.Transactions {
		out = append(out, tx.ID)
	}
	return out
}

func query(t *testing.T, s store.Log, q store.Query) store.Page {
	t.Helper()
	p, err := s.Query(context.Background(), q)
	if err != nil {
		t.Fatalf("query %+v: %v", q, err)
	}
	return p
}

func testIntentThenResult(t *testing.T, s store.Log) {
	t0 := base()
	tx := record(t, s, t0, call{route: "crm", keys: []string{"jane@acme.com"}})
	got := get(t, s, tx.ID)
	if got.Outcome != txn.OutcomePending || got.Request.Body != tx.Request.Body || got.Route != "crm" || !got.Time.Equal(tx.Time) {
		t.Fatalf("after intent: %+v", got)
	}
	if got.Findings == nil || got.RecordKeys == nil {
		t.Fatalf("after intent: nil findings or record keys: %+v", got)
	}
	if p := query(t, s, store.Query{Outcome: txn.OutcomePending}); !slices.Equal(ids(p), []string{tx.ID}) {
		t.Fatalf("pending: %v", ids(p))
	}
	tx.Result = txn.Result{Status: 201, Outcome: txn.OutcomeDelivered, DurationMS: 12.5, Findings: []txn.Finding{{Code: "schema.response.invalid", Severity: "warn"}},
		Response: txn.Message{Body: `{"id":"1"}`, Size: 10}}
	if err := s.RecordResult(tx); err != nil {
		t.Fatal(err)
	}
	got = get(t, s, tx.ID)
	if got.Outcome != txn.OutcomeDelivered || got.Status != 201 || got.Response.Body != `{"id":"1"}` || got.DurationMS != 12.5 || len(got.Findings) != 1 {
		t.Fatalf("after result: %+v", got)
	}
	if p := query(t, s, store.Query{Outcome: txn.OutcomePending}); len(p.Transactions) != 0 {
		t.Fatalf("still pending: %v", ids(p))
	}
	if err := s.Sync(context.Background()); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Get(context.Background(), "01ARZ3NDEKTSV4RRFFQ69G5FAV"); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("missing id: err = %v, want ErrNotFound", err)
	}
	if err := s.Healthy(); err != nil {
		t.Fatalf("healthy: %v", err)
	}
}

func testResultWithoutIntent(t *testing.T, s store.Log) {
	// mtguard answered the call itself (or the store failed at intent time): the result
	// carries the request side.
	tx := &txn.Transaction{Call: txn.Call{Time: base(), Route: "crm", Method: "POST", Path: "/crm/x", RecordKeys: []string{"a@b.c"}},
		Result: txn.Result{Status: 429, Outcome: txn.OutcomeThrottled, Findings: []txn.Finding{}}}
	tx.ID = s.NewID(tx.Time)
	if err := s.RecordResult(tx); err != nil {
		t.Fatal(err)
	}
	got := get(t, s, tx.ID)
	if got.Outcome != txn.OutcomeThrottled || got.Path != "/crm/x" {
		t.Fatalf("got %+v", got)
	}
	if p := query(t, s, store.Query{RecordKey: "a@b.c"}); !slices.Equal(ids(p), []string{tx.ID}) {
		t.Fatalf("by record key: %v", ids(p))
	}
}

func testProvisionalIsReplaced(t *testing.T, s store.Log) {
	tx := record(t, s, base(), call{route: "crm", keys: []string{"p@x.y"}})
	if err := s.RecordProvisional(context.Background(), tx, txn.Result{Status: 200, Outcome: txn.OutcomeDelivered, Findings: []txn.Finding{}}); err != nil {
		t.Fatal(err)
	}
	if got := get(t, s, tx.ID); got.Outcome != txn.OutcomePending {
		t.Fatalf("a provisional result is visible: %+v", got.Result)
	}
	tx.Result = txn.Result{Status: 200, Outcome: txn.OutcomeFailed, Findings: []txn.Finding{{Code: "response.silent_failure"}}}
	if err := s.RecordResult(tx); err != nil {
		t.Fatal(err)
	}
	if got := get(t, s, tx.ID); got.Outcome != txn.OutcomeFailed {
		t.Fatalf("outcome %q, want failed", got.Outcome)
	}
}

func testFilters(t *testing.T, s store.Log) {
	t0 := base()
	calls := []call{
		{route: "crm", keys: []string{"jane@acme.com"}, outcome: txn.OutcomeDelivered, status: 200, at: 1 * time.Second},
		{route: "crm", keys: []string{"bob@acme.com", "jane@acme.com"}, outcome: txn.OutcomePartial, status: 207, findings: []string{"records.failed"}, at: 2 * time.Second},
		{route: "forms", keys: []string{"bob@acme.com"}, outcome: txn.OutcomeFailed, status: 200, findings: []string{"response.silent_failure", "records.failed"}, caller: "webflow", at: 3 * time.Second},
		{route: "forms", keys: []string{}, outcome: txn.OutcomeRejected, status: 422, at: 4 * time.Second},
		{route: "crm", keys: []string{"eve@acme.com"}, at: 5 * time.Second},
	}
	var id []string
	for _, c := range calls {
		id = append(id, record(t, s, t0, c).ID)
	}
	for _, tc := range []struct {
		name string
		q    store.Query
		want []int // indexes into calls, newest first
	}{
		{"all", store.Query{}, []int{4, 3, 2, 1, 0}},
		{"record key", store.Query{RecordKey: "jane@acme.com"}, []int{1, 0}},
		{"route", store.Query{Route: "forms"}, []int{3, 2}},
		{"outcome", store.Query{Outcome: txn.OutcomeFailed}, []int{2}},
		{"pending", store.Query{Outcome: txn.OutcomePending}, []int{4}},
		{"finding", store.Query{Finding: "records.failed"}, []int{2, 1}},
		{"status", store.Query{Status: 200}, []int{2, 0}},
		{"status class", store.Query{StatusClass: 4}, []int{3}},
		{"caller", store.Query{Caller: "webflow"}, []int{2}},
		{"record key and route", store.Query{RecordKey: "bob@acme.com", Route: "forms"}, []int{2}},
		{"route and finding", store.Query{Route: "crm", Finding: "records.failed"}, []int{1}},
		{"route and outcome", store.Query{Route: "crm", Outcome: txn.OutcomeDelivered}, []int{0}},
		{"ascending", store.Query{Route: "crm", Ascending: true}, []int{0, 1, 4}},
		{"nothing", store.Query{RecordKey: "nobody@acme.com"}, []int{}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			want := []string{}
			for _, i := range tc.want {
				want = append(want, id[i])
			}
			p := query(t, s, tc.q)
			if got := ids(p); !slices.Equal(got, want) {
				t.Fatalf("got %v, want %v", got, want)
			}
			if p.Next != "" {
				t.Fatalf("next %q on a page that is not full", p.Next)
			}
		})
	}
}

func testPaging(t *testing.T, s store.Log) {
	t0 := base()
	var all []string
	for i := range 7 {
		all = append(all, record(t, s, t0, call{route: "crm", keys: []string{"k@x.y"}, outcome: txn.OutcomeDelivered, status: 200, at: time.Duration(i) * time.Millisecond}).ID)
	}
	for _, asc := range []bool{false, true} {
		t.Run(fmt.Sprintf("ascending=%v", asc), func(t *testing.T) {
			want := slices.Clone(all)
			if !asc {
				slices.Reverse(want)
			}
			var got []string
			cursor := ""
			for pages := 0; ; pages++ {
				if pages > 5 {
					t.Fatalf("paging does not end: %v", got)
				}
				p := query(t, s, store.Query{RecordKey: "k@x.y", Limit: 3, Cursor: cursor, Ascending: asc})
				got = append(got, ids(p)...)
				if p.Next == "" {
					break
				}
				cursor = p.Next
			}
			if !slices.Equal(got, want) {
				t.Fatalf("got %v, want %v", got, want)
			}
		})
	}
	if _, err := s.Query(context.Background(), store.Query{Cursor: "not-a-cursor"}); !errors.Is(err, store.ErrBadCursor) {
		t.Fatalf("bad cursor: err = %v", err)
	}
	if p := query(t, s, store.Query{Limit: 2000}); len(p.Transactions) != 7 {
		t.Fatalf("limit above the maximum: %d calls", len(p.Transactions))
	}
}

func testTimeRange(t *testing.T, s store.Log) {
	t0 := base()
	var id []string
	for i := range 4 {
		id = append(id, record(t, s, t0, call{route: "crm", outcome: txn.OutcomeDelivered, status: 200, at: time.Duration(i) * time.Minute}).ID)
	}
	p := query(t, s, store.Query{Since: t0.Add(time.Minute), Until: t0.Add(3 * time.Minute), Ascending: true})
	if got := ids(p); !slices.Equal(got, id[1:3]) {
		t.Fatalf("[1m, 3m): got %v, want %v", got, id[1:3])
	}
	p = query(t, s, store.Query{Route: "crm", Since: t0.Add(2 * time.Minute)})
	if got := ids(p); !slices.Equal(got, []string{id[3], id[2]}) {
		t.Fatalf("since 2m: got %v", got)
	}
}

func testReplayLinks(t *testing.T, s store.Log) {
	orig := record(t, s, base(), call{route: "crm", keys: []string{"r@x.y"}, outcome: txn.OutcomeFailed, status: 500})
	replay := &txn.Transaction{Call: txn.Call{Time: base().Add(time.Second), Route: "crm", Method: "POST", Path: "/crm/v1/leads", RecordKeys: []string{"r@x.y"}, ReplayOf: orig.ID, Attempt: 2}}
	if err := s.RecordIntent(context.Background(), replay); err != nil {
		t.Fatal(err)
	}
	replay.Result = txn.Result{Status: 200, Outcome: txn.OutcomeDelivered, Findings: []txn.Finding{}}
	if err := s.RecordResult(replay); err != nil {
		t.Fatal(err)
	}
	if got := get(t, s, orig.ID); !slices.Equal(got.ReplayedBy, []string{replay.ID}) {
		t.Fatalf("original's replayed_by = %v, want [%s]", got.ReplayedBy, replay.ID)
	}
	if got := get(t, s, replay.ID); got.ReplayOf != orig.ID || got.Attempt != 2 {
		t.Fatalf("replay: %+v", got.Call)
	}
}

func testForget(t *testing.T, s store.Log) {
	t0 := base()
	alone := record(t, s, t0, call{route: "crm", keys: []string{"jane@acme.com"}, outcome: txn.OutcomeDelivered, status: 200, at: time.Second})
	batch := record(t, s, t0, call{route: "crm", keys: []string{"jane@acme.com", "bob@acme.com"}, outcome: txn.OutcomeDelivered, status: 200, at: 2 * time.Second})
	other := record(t, s, t0, call{route: "forms", keys: []string{"bob@acme.com"}, outcome: txn.OutcomeDelivered, status: 200, at: 3 * time.Second})
	// A lookup without record keys whose URL names her.
	lookup := &txn.Transaction{Call: txn.Call{Time: t0.Add(4 * time.Second), Route: "crm", Method: "GET", Path: "/crm/v1/leads?email=Jane@Acme.com", UpstreamURL: "https://crm.example.com/v1/leads?email=Jane@Acme.com", RecordKeys: []string{}}}
	if err := s.RecordIntent(context.Background(), lookup); err != nil {
		t.Fatal(err)
	}
	rep, err := s.Forget(context.Background(), "jane@acme.com")
	if err != nil {
		t.Fatal(err)
	}
	if rep.Deleted != 2 || rep.Scrubbed != 1 {
		t.Fatalf("report: deleted %d scrubbed %d, want 2 and 1", rep.Deleted, rep.Scrubbed)
	}
	if len(rep.Recipients) != 1 || rep.Recipients[0].Route != "crm" || rep.Recipients[0].Calls != 3 || rep.Recipients[0].Upstream != "crm.example.com" {
		t.Fatalf("recipients: %+v", rep.Recipients)
	}
	for _, id := range []string{alone.ID, lookup.ID} {
		if _, err := s.Get(context.Background(), id); !errors.Is(err, store.ErrNotFound) {
			t.Fatalf("%s survived forget: %v", id, err)
		}
	}
	if p := query(t, s, store.Query{RecordKey: "jane@acme.com"}); len(p.Transactions) != 0 {
		t.Fatalf("still found by key: %v", ids(p))
	}
	kept := get(t, s, batch.ID)
	if strings.Contains(strings.ToLower(kept.Request.Body), "jane") || !strings.Contains(kept.Request.Body, store.Erased) || slices.Contains(kept.RecordKeys, "jane@acme.com") {
		t.Fatalf("batch call not scrubbed: keys %v body %s", kept.RecordKeys, kept.Request.Body)
	}
	if p := query(t, s, store.Query{RecordKey: "bob@acme.com"}); !slices.Equal(ids(p), []string{other.ID, batch.ID}) {
		t.Fatalf("bob's calls: %v", ids(p))
	}
	if _, err := s.Forget(context.Background(), ""); err == nil {
		t.Fatal("forget of an empty key succeeded")
	}
}

func testDeleteBefore(t *testing.T, s store.Log) {
	now := time.Now().UTC().Truncate(time.Second)
	old := record(t, s, now, call{route: "crm", outcome: txn.OutcomeDelivered, status: 200, at: -50 * time.Hour})
	mid := record(t, s, now, call{route: "crm", outcome: txn.OutcomeDelivered, status: 200, at: -2 * time.Hour})
	fresh := record(t, s, now, call{route: "crm", outcome: txn.OutcomeDelivered, status: 200})
	n, err := s.DeleteBefore(now.Add(-time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	if n != 2 {
		t.Fatalf("deleted %d, want 2", n)
	}
	for _, id := range []string{old.ID, mid.ID} {
		if _, err := s.Get(context.Background(), id); !errors.Is(err, store.ErrNotFound) {
			t.Fatalf("%s survived retention: %v", id, err)
		}
	}
	get(t, s, fresh.ID)
}

func testSendTimes(t *testing.T, s store.Log) {
	t0 := base()
	record(t, s, t0, call{route: "crm", outcome: txn.OutcomeDelivered, status: 200, at: time.Second})
	record(t, s, t0, call{route: "forms", outcome: txn.OutcomeDelivered, status: 200, at: 2 * time.Second})
	record(t, s, t0, call{route: "other", outcome: txn.OutcomeDelivered, status: 200, at: 3 * time.Second})
	record(t, s, t0, call{route: "crm", at: 4 * time.Second})
	got, err := s.SendTimes([]string{"crm", "forms"}, t0, 100)
	if err != nil {
		t.Fatal(err)
	}
	want := []time.Time{t0.Add(time.Second), t0.Add(2 * time.Second), t0.Add(4 * time.Second)}
	if len(got) != len(want) {
		t.Fatalf("got %v, want %v", got, want)
	}
	for i := range want {
		if !got[i].Equal(want[i]) {
			t.Fatalf("got %v, want %v", got, want)
		}
	}
	if got, _ := s.SendTimes([]string{"crm"}, t0.Add(2*time.Second), 100); len(got) != 1 {
		t.Fatalf("since: %v", got)
	}
}

func testAlerts(t *testing.T, s store.Log) {
	t0 := base()
	a := store.Alert{ID: "A1", Route: "crm", Kind: "failures", Severity: "error", State: store.AlertFiring, Summary: "3 failed", Since: t0, FiredAt: t0, Calls: 3}
	b := store.Alert{ID: "A2", Route: "forms", Kind: "silence", Severity: "warning", State: store.AlertFiring, Since: t0, FiredAt: t0}
	for _, x := range []store.Alert{a, b} {
		if err := s.PutAlert(x); err != nil {
			t.Fatal(err)
		}
	}
	a.State, a.ResolvedAt = store.AlertResolved, t0.Add(time.Minute)
	if err := s.PutAlert(a); err != nil {
		t.Fatal(err)
	}
	got, ok, err := s.GetAlert("A1")
	if err != nil || !ok || got.State != store.AlertResolved || got.Calls != 3 || !got.ResolvedAt.Equal(a.ResolvedAt) {
		t.Fatalf("get: %+v %v %v", got, ok, err)
	}
	if _, ok, err := s.GetAlert("nope"); ok || err != nil {
		t.Fatalf("missing alert: ok %v err %v", ok, err)
	}
	list := func(q store.AlertQuery) []string {
		as, err := s.Alerts(q)
		if err != nil {
			t.Fatal(err)
		}
		out := []string{}
		for _, a := range as {
			out = append(out, a.ID)
		}
		return out
	}
	if got := list(store.AlertQuery{}); !slices.Equal(got, []string{"A2", "A1"}) {
		t.Fatalf("all: %v", got)
	}
	if got := list(store.AlertQuery{State: store.AlertFiring}); !slices.Equal(got, []string{"A2"}) {
		t.Fatalf("firing: %v", got)
	}
	if got := list(store.AlertQuery{Route: "crm"}); !slices.Equal(got, []string{"A1"}) {
		t.Fatalf("crm: %v", got)
	}
	if err := s.PutAlert(store.Alert{}); err == nil {
		t.Fatal("an alert without id was stored")
	}
}

func testAudit(t *testing.T, s store.Log) {
	t0 := base()
	var stored []store.AuditEntry
	for i, ep := range []string{"/api/replay", "/api/forget", "/api/alerts/ack"} {
		e, err := s.AppendAudit(store.AuditEntry{Time: t0.Add(time.Duration(i) * time.Minute), Actor: "ops", Role: "admin", Method: "POST", Endpoint: ep, Status: 200})
		if err != nil {
			t.Fatal(err)
		}
		if e.ID == "" {
			t.Fatal("no id")
		}
		stored = append(stored, e)
	}
	got, err := s.Audit(store.AuditQuery{Since: t0.Add(time.Minute)})
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 2 || got[0].Endpoint != "/api/alerts/ack" || got[1].ID != stored[1].ID {
		t.Fatalf("since 1m: %+v", got)
	}
	if got, _ := s.Audit(store.AuditQuery{Limit: 1}); len(got) != 1 || got[0].ID != stored[2].ID {
		t.Fatalf("limit 1: %+v", got)
	}
}

func testReservations(t *testing.T, s store.Log) {
	mine, others, err := s.Reserve([]string{"R1", "R2"}, "job a", time.Hour)
	if err != nil || len(mine) != 2 || len(others) != 0 {
		t.Fatalf("first reserve: %v %v %v", mine, others, err)
	}
	mine2, others2, err := s.Reserve([]string{"R2", "R3"}, "job b", time.Hour)
	if err != nil || len(mine2) != 1 || mine2[0].Root != "R3" || others2["R2"].Owner != "job a" {
		t.Fatalf("second reserve: %v %v %v", mine2, others2, err)
	}
	// A release with someone else's token changes nothing.
	if err := s.Release(store.Reservation{Root: "R2", Token: "forged"}); err != nil {
		t.Fatal(err)
	}
	if _, others, _ := s.Reserve([]string{"R2"}, "job c", time.Hour); others["R2"].Owner != "job a" {
		t.Fatalf("a forged release freed R2: %v", others)
	}
	if err := s.Release(mine...); err != nil {
		t.Fatal(err)
	}
	if got, _, err := s.Reserve([]string{"R2"}, "job c", time.Hour); err != nil || len(got) != 1 {
		t.Fatalf("after release: %v %v", got, err)
	}
	// An expired hold is taken over.
	if got, _, _ := s.Reserve([]string{"R9"}, "stuck", -time.Second); len(got) != 1 {
		t.Fatal("reserve R9")
	}
	if got, others, _ := s.Reserve([]string{"R9"}, "job d", time.Hour); len(got) != 1 || len(others) != 0 {
		t.Fatalf("expired hold not taken over: %v %v", got, others)
	}
}

func testConcurrentCalls(t *testing.T, s store.Log) {
	t0 := base()
	const n = 64
	var wg sync.WaitGroup
	errs := make(chan error, n)
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			tx := &txn.Transaction{Call: txn.Call{Time: t0.Add(time.Duration(i) * time.Millisecond), Route: "crm", Method: "POST", Path: "/crm", RecordKeys: []string{fmt.Sprintf("c%d@x.y", i)}}}
			if err := s.RecordIntent(context.Background(), tx); err != nil {
				errs <- err
				return
			}
			tx.Result = txn.Result{Status: 200, Outcome: txn.OutcomeDelivered, Findings: []txn.Finding{}}
			errs <- s.RecordResult(tx)
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	if p := query(t, s, store.Query{Outcome: txn.OutcomeDelivered, Limit: 1000}); len(p.Transactions) != n {
		t.Fatalf("%d delivered calls, want %d", len(p.Transactions), n)
	}
}

func testDrills(t *testing.T, s store.Log) {
	t0 := base()
	d1 := store.Drill{ID: "D1", Route: "crm", Fault: "status:503", Share: 1, StartedAt: t0, EndsAt: t0.Add(10 * time.Minute), State: store.DrillRunning}
	d2 := store.Drill{ID: "D2", Route: "forms", Fault: "down", Share: 0.5, StartedAt: t0.Add(time.Second), EndsAt: t0.Add(time.Hour), State: store.DrillRunning}
	for _, d := range []store.Drill{d1, d2} {
		if err := s.PutDrill(d); err != nil {
			t.Fatal(err)
		}
	}
	d1.State, d1.EndedAt, d1.EndedBy = store.DrillEnded, t0.Add(time.Minute), "stop"
	d1.Report = &store.DrillReport{Calls: 7}
	if err := s.PutDrill(d1); err != nil {
		t.Fatal(err)
	}
	got, ok, err := s.GetDrill("D1")
	if err != nil || !ok || got.State != store.DrillEnded || got.EndedBy != "stop" || got.Report == nil || got.Report.Calls != 7 || !got.EndedAt.Equal(d1.EndedAt) {
		t.Fatalf("get: %+v %v %v", got, ok, err)
	}
	if _, ok, err := s.GetDrill("nope"); ok || err != nil {
		t.Fatalf("missing drill: ok %v err %v", ok, err)
	}
	ids := func(state string, limit int) []string {
		ds, err := s.Drills(state, limit)
		if err != nil {
			t.Fatal(err)
		}
		out := []string{}
		for _, d := range ds {
			out = append(out, d.ID)
		}
		return out
	}
	if got := ids("", 0); !slices.Equal(got, []string{"D2", "D1"}) {
		t.Fatalf("all drills, newest first: %v", got)
	}
	if got := ids(store.DrillRunning, 0); !slices.Equal(got, []string{"D2"}) {
		t.Fatalf("running drills: %v", got)
	}
	if got := ids("", 1); !slices.Equal(got, []string{"D2"}) {
		t.Fatalf("limit 1: %v", got)
	}
	if err := s.PutDrill(store.Drill{}); err == nil {
		t.Fatal("a drill without id was stored")
	}
}

func testNotifications(t *testing.T, s store.Log) {
	t0 := base()
	attempts := []store.NotificationAttempt{
		{Time: t0, Alert: "A1", Route: "crm", Kind: "error_rate", Event: "firing", Sink: "hook", Attempt: 1, Result: store.NotifyRetrying, Status: 503, Error: "endpoint answered 503"},
		{Time: t0.Add(time.Second), Alert: "A1", Route: "crm", Kind: "error_rate", Event: "firing", Sink: "hook", Attempt: 2, Result: store.NotifyDelivered, Status: 200, LatencyMS: 12.5},
		{Time: t0.Add(2 * time.Second), Alert: "A1", Route: "crm", Kind: "error_rate", Event: "firing", Sink: "slack", Attempt: 1, Result: store.NotifyFailed, Status: 410, Error: "gone"},
		{Time: t0.Add(3 * time.Second), Alert: "A2", Route: "forms", Kind: "silence", Event: "firing", Sink: "hook", Attempt: 1, Result: store.NotifyDropped},
	}
	var stored []store.NotificationAttempt
	for _, a := range attempts {
		got, err := s.AppendNotification(a)
		if err != nil {
			t.Fatal(err)
		}
		if got.ID == "" || !store.ValidID(got.ID) {
			t.Fatalf("attempt stored with id %q", got.ID)
		}
		stored = append(stored, got)
	}
	ids := func(q store.NotificationQuery) []string {
		t.Helper()
		as, err := s.Notifications(q)
		if err != nil {
			t.Fatal(err)
		}
		out := []string{}
		for _, a := range as {
			out = append(out, fmt.Sprintf("%s/%s/%d", a.Alert, a.Sink, a.Attempt))
		}
		return out
	}
	for _, tc := range []struct {
		name string
		q    store.NotificationQuery
		want []string
	}{
		{"all, newest first", store.NotificationQuery{}, []string{"A2/hook/1", "A1/slack/1", "A1/hook/2", "A1/hook/1"}},
		{"one alert", store.NotificationQuery{Alerts: []string{"A1"}}, []string{"A1/slack/1", "A1/hook/2", "A1/hook/1"}},
		{"two alerts, one sink", store.NotificationQuery{Alerts: []string{"A1", "A2"}, Sink: "hook"}, []string{"A2/hook/1", "A1/hook/2", "A1/hook/1"}},
		{"since", store.NotificationQuery{Since: t0.Add(2 * time.Second)}, []string{"A2/hook/1", "A1/slack/1"}},
		{"limit", store.NotificationQuery{Limit: 1}, []string{"A2/hook/1"}},
		{"unknown alert", store.NotificationQuery{Alerts: []string{"nope"}}, []string{}},
	} {
		if got := ids(tc.q); !slices.Equal(got, tc.want) {
			t.Errorf("%s: %v, want %v", tc.name, got, tc.want)
		}
	}
	got, err := s.Notifications(store.NotificationQuery{Alerts: []string{"A1"}, Sink: "slack"})
	if err != nil || len(got) != 1 {
		t.Fatalf("%v %v", got, err)
	}
	want := stored[2]
	if g := got[0]; g.ID != want.ID || !g.Time.Equal(want.Time) || g.Route != "crm" || g.Kind != "error_rate" || g.Event != "firing" ||
		g.Result != store.NotifyFailed || g.Status != 410 || g.Error != "gone" {
		t.Errorf("read back %+v, want %+v", g, want)
	}
}

func testDeliveries(t *testing.T, s store.Log) {
	t0 := base()
	for _, d := range []store.Delivery{
		{ID: "D2", Route: "crm", RecordKeys: []string{"jane@acme.com"}, Created: t0.Add(time.Second), NextAt: t0, Source: "queue"},
		{ID: "D1", Route: "crm", Created: t0, NextAt: t0, Source: "queue"},
		{ID: "D3", Route: "forms", State: store.DeliveryRetrying, Created: t0.Add(2 * time.Second), NextAt: t0.Add(time.Minute)},
	} {
		if err := s.Enqueue(d); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.Enqueue(store.Delivery{ID: "D1", Route: "crm"}); !errors.Is(err, store.ErrDeliveryExists) {
		t.Fatalf("enqueue twice: %v, want ErrDeliveryExists", err)
	}
	if err := s.Enqueue(store.Delivery{ID: "D9"}); err == nil {
		t.Fatal("a delivery without a route was queued")
	}
	ids := func(f store.DeliveryFilter) []string {
		t.Helper()
		ds, err := s.Deliveries(context.Background(), f)
		if err != nil {
			t.Fatal(err)
		}
		out := []string{}
		for _, d := range ds {
			out = append(out, d.ID+"/"+d.State)
		}
		return out
	}
	for _, tc := range []struct {
		name string
		f    store.DeliveryFilter
		want []string
	}{
		{"all, by id", store.DeliveryFilter{}, []string{"D1/pending", "D2/pending", "D3/retrying"}},
		{"route", store.DeliveryFilter{Route: "crm"}, []string{"D1/pending", "D2/pending"}},
		{"state", store.DeliveryFilter{State: store.DeliveryRetrying}, []string{"D3/retrying"}},
		{"none", store.DeliveryFilter{Route: "forms", State: store.DeliveryPending}, []string{}},
	} {
		if got := ids(tc.f); !slices.Equal(got, tc.want) {
			t.Errorf("%s: %v, want %v", tc.name, got, tc.want)
		}
	}
	d, err := s.GetDelivery("D2")
	if err != nil || d.Route != "crm" || !slices.Equal(d.RecordKeys, []string{"jane@acme.com"}) || !d.Created.Equal(t0.Add(time.Second)) || d.Source != "queue" || d.Attempts == nil {
		t.Fatalf("get: %+v %v", d, err)
	}
	if _, err := s.GetDelivery("nope"); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("get a missing delivery: %v", err)
	}
	d, err = s.UpdateDelivery("D2", func(d *store.Delivery) error {
		d.State = store.DeliverySending
		d.Attempts = append(d.Attempts, store.DeliveryAttempt{At: t0.Add(time.Minute)})
		return nil
	})
	if err != nil || d.State != store.DeliverySending || len(d.Attempts) != 1 {
		t.Fatalf("update: %+v %v", d, err)
	}
	refuse := errors.New("not now")
	if _, err := s.UpdateDelivery("D2", func(d *store.Delivery) error { d.State = store.DeliveryDead; return refuse }); !errors.Is(err, refuse) {
		t.Fatalf("update whose function fails: %v", err)
	}
	if d, _ := s.GetDelivery("D2"); d.State != store.DeliverySending || len(d.Attempts) != 1 || !d.Attempts[0].At.Equal(t0.Add(time.Minute)) {
		t.Fatalf("a failed update changed the delivery: %+v", d)
	}
	if _, err := s.UpdateDelivery("nope", func(*store.Delivery) error { return nil }); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("update a missing delivery: %v", err)
	}
	if _, err := s.UpdateDelivery("D1", func(*store.Delivery) error { return store.ErrDeliveryDone }); err != nil {
		t.Fatal(err)
	}
	if got := ids(store.DeliveryFilter{}); !slices.Equal(got, []string{"D2/sending", "D3/retrying"}) {
		t.Fatalf("after D1 was done: %v", got)
	}
	// Updates of one delivery are serialized: none is lost.
	var wg sync.WaitGroup
	for i := range 16 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if _, err := s.UpdateDelivery("D3", func(d *store.Delivery) error {
				d.Attempts = append(d.Attempts, store.DeliveryAttempt{Status: 500 + i})
				return nil
			}); err != nil {
				t.Error(err)
			}
		}()
	}
	wg.Wait()
	if d, _ := s.GetDelivery("D3"); len(d.Attempts) != 16 {
		t.Fatalf("16 concurrent updates left %d attempts", len(d.Attempts))
	}
}

// kept reads back what LoadJourneys (or LoadShapes, through load) holds, in its order.
func kept(t *testing.T, load func(fn func(k string, v []byte) error) error) (keys []string, vals map[string]string) {
	t.Helper()
	vals = map[string]string{}
	if err := load(func(k string, v []byte) error {
		keys = append(keys, k)
		vals[k] = string(v)
		return nil
	}); err != nil {
		t.Fatalf("load: %v", err)
	}
	return keys, vals
}

func testKeptJourneys(t *testing.T, s store.Log) {
	if keys, _ := kept(t, s.LoadJourneys); len(keys) != 0 {
		t.Fatalf("a new log holds journeys %q", keys)
	}
	a, b := store.JourneyKey("lead", "jane@acme.com"), store.JourneyKey("lead", "bob@acme.com")
	mark := "\x00mark" // the engine's own entry: keys may hold NUL bytes
	if err := s.SaveJourneys(map[string][]byte{a: []byte(`{"state":"in_transit"}`), b: []byte(`{"v":1}`), mark: []byte("2026-01-02T03:04:05Z")}, nil); err != nil {
		t.Fatal(err)
	}
	if err := s.SaveJourneys(map[string][]byte{b: []byte(`{"v":2}`)}, []string{a, store.JourneyKey("lead", "never@saved.com")}); err != nil {
		t.Fatal(err)
	}
	if err := s.SaveJourneys(nil, nil); err != nil {
		t.Fatalf("an empty save: %v", err)
	}
	keys, vals := kept(t, s.LoadJourneys)
	if want := []string{mark, b}; !slices.Equal(keys, want) {
		t.Fatalf("journeys %q, want %q in key order", keys, want)
	}
	if vals[b] != `{"v":2}` || vals[mark] != "2026-01-02T03:04:05Z" {
		t.Fatalf("values %q", vals)
	}
	stop := errors.New("stop")
	n := 0
	if err := s.LoadJourneys(func(string, []byte) error { n++; return stop }); !errors.Is(err, stop) || n != 1 {
		t.Fatalf("LoadJourneys whose fn fails: %v after %d calls, want that error after one", err, n)
	}
}

func testKeptShapes(t *testing.T, s store.Log) {
	if err := s.SaveShapes(map[string][]byte{"form": []byte(`{"calls":1}`), "crm": []byte(`{"calls":5}`)}); err != nil {
		t.Fatal(err)
	}
	if err := s.SaveShapes(map[string][]byte{"form": []byte(`{"calls":2}`)}); err != nil {
		t.Fatal(err)
	}
	keys, vals := kept(t, s.LoadShapes)
	slices.Sort(keys)
	if !slices.Equal(keys, []string{"crm", "form"}) || vals["form"] != `{"calls":2}` || vals["crm"] != `{"calls":5}` {
		t.Fatalf("shapes %q %q", keys, vals)
	}
}

func testAddFindings(t *testing.T, s store.Log) {
	t0 := base()
	a := record(t, s, t0, call{route: "crm", keys: []string{"a@x.y"}, outcome: txn.OutcomeDelivered, status: 200, findings: []string{"endpoint.deprecated"}})
	b := record(t, s, t0, call{route: "crm", keys: []string{"b@x.y"}, outcome: txn.OutcomeDelivered, status: 200, at: time.Second})
	pending := record(t, s, t0, call{route: "crm", keys: []string{"c@x.y"}, at: 2 * time.Second})
	lost := txn.NewFinding(txn.CodeJourneyLostInTransit, "Record a@x.y did not arrive.", "lead/a@x.y")
	drift := txn.NewFinding(txn.CodeSchemaDrift, "Field /score changed type.", "/score")
	// Added right after the results were queued: the store applies them first.
	if err := s.AddFindings(store.FindingOn{Call: a.ID, Finding: lost}, store.FindingOn{Call: b.ID, Finding: lost},
		store.FindingOn{Call: pending.ID, Finding: lost}, store.FindingOn{Call: "01ZZZZZZZZZZZZZZZZZZZZZZZZ", Finding: lost}); err != nil {
		t.Fatalf("add findings: %v", err)
	}
	if err := s.AddFinding(a.ID, drift); err != nil {
		t.Fatal(err)
	}
	// The same code and detail again changes nothing.
	if err := s.AddFindings(store.FindingOn{Call: a.ID, Finding: lost}); err != nil {
		t.Fatal(err)
	}
	if err := s.AddFindings(); err != nil {
		t.Fatalf("no findings: %v", err)
	}
	codes := func(tx txn.Transaction) []string {
		var out []string
		for _, f := range tx.Findings {
			out = append(out, f.Code+" "+f.Detail)
		}
		return out
	}
	if got, want := codes(get(t, s, a.ID)), []string{"endpoint.deprecated ", "journey.lost_in_transit lead/a@x.y", "schema.drift /score"}; !slices.Equal(got, want) {
		t.Fatalf("findings of a: %q, want %q", got, want)
	}
	if got := get(t, s, a.ID); got.Outcome != txn.OutcomeDelivered || got.Status != 200 {
		t.Fatalf("a finding changed the outcome: %s %d", got.Outcome, got.Status)
	}
	if got := codes(get(t, s, pending.ID)); len(got) != 0 {
		t.Fatalf("a call without its result got findings %q", got)
	}
	for _, tc := range []struct {
		code string
		want []string
	}{
		{txn.CodeJourneyLostInTransit, []string{b.ID, a.ID}},
		{txn.CodeSchemaDrift, []string{a.ID}},
		{"endpoint.deprecated", []string{a.ID}},
	} {
		if got := ids(query(t, s, store.Query{Finding: tc.code})); !slices.Equal(got, tc.want) {
			t.Errorf("log --finding %s: %v, want %v", tc.code, got, tc.want)
		}
	}
	if err := s.Applied(context.Background()); err != nil {
		t.Fatalf("applied: %v", err)
	}
}
