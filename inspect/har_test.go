package inspect

import (
	"encoding/json"
	"math"
	"net/http"
	"strings"
	"testing"

	"github.com/mtguard/mtguard/txn"
)

// TestHARAnsweredByMtguard: a HAR entry says honestly who answered (a comment and an _mtguard
// custom field), and every entry's time is the sum of its timings, as HAR 1.2 requires
// (issue 18, item 11).
func TestHARAnsweredByMtguard(t *testing.T) {
	mk := func(id string, outcome txn.Outcome, status int, code string) txn.Transaction {
		tx := newTx(id, testNow)
		tx.UpstreamURL = "https://api.crm.example/v1/leads"
		tx.Status, tx.Outcome = status, outcome
		if code != "" {
			tx.Findings = []txn.Finding{{Code: code}}
			tx.Response = txn.Message{Headers: http.Header{"Content-Type": {"application/problem+json"}}, ContentType: "application/problem+json", Body: `{"status":429}`, Size: 14}
		}
		return tx
	}
	throttled := mk("01JPA0000000000000000000AA", txn.OutcomeThrottled, 429, txn.CodeRateLimitThrottled)
	throttled.DurationMS, throttled.WaitMS, throttled.RecordMS = 1503.2, 1500.1, 0.6
	rejected := mk("01JPA0000000000000000000BB", txn.OutcomeRejected, 422, txn.CodeSchemaRequestInvalid)
	rejected.DurationMS = 0.8
	timeout := mk("01JPA0000000000000000000CC", txn.OutcomeTimeout, 504, txn.CodeUpstreamTimeout)
	timeout.DurationMS, timeout.UpstreamMS, timeout.RecordMS = 10001, 10000.2, 0.5
	delivered := mk("01JPA0000000000000000000DD", txn.OutcomeDelivered, 201, "")
	delivered.DurationMS, delivered.WaitMS, delivered.UpstreamMS, delivered.RecordMS = 250, 40, 200, 1.5
	odd := mk("01JPA0000000000000000000EE", txn.OutcomeDelivered, 200, "") // parts that round past the whole
	odd.DurationMS, odd.UpstreamMS, odd.RecordMS = 10, 10, 0.3

	b, err := json.Marshal(NewHAR([]txn.Transaction{throttled, rejected, timeout, delivered, odd}, "test"))
	if err != nil {
		t.Fatal(err)
	}
	var har struct {
		Log struct {
			Entries []struct {
				Time     float64            `json:"time"`
				Timings  map[string]float64 `json:"timings"`
				Comment  string             `json:"comment"`
				Response struct {
					Status int `json:"status"`
				} `json:"response"`
				Mtguard *struct {
					ID         string `json:"id"`
					Outcome    string `json:"outcome"`
					AnsweredBy string `json:"answered_by"`
					Forwarded  bool   `json:"forwarded"`
					Finding    string `json:"finding"`
				} `json:"_mtguard"`
			} `json:"entries"`
		} `json:"log"`
	}
	if err := json.Unmarshal(b, &har); err != nil {
		t.Fatal(err)
	}
	want := []struct {
		answeredBy string
		forwarded  bool
		finding    string
		comment    string
	}{
		{"mtguard", false, "ratelimit.throttled", "not forwarded: held back by mtguard to stay within the vendor's limits (ratelimit.throttled); the response is mtguard's, not the vendor's"},
		{"mtguard", false, "schema.request.invalid", "not forwarded: rejected by mtguard (schema.request.invalid); the response is mtguard's, not the vendor's"},
		{"mtguard", true, "upstream.timeout", "sent, but the vendor did not answer in time (upstream.timeout); it may still have processed the call; the response is mtguard's, not the vendor's"},
		{"vendor", true, "", "answered by the vendor"},
		{"vendor", true, "", "answered by the vendor"},
	}
	if len(har.Log.Entries) != len(want) {
		t.Fatalf("%d entries", len(har.Log.Entries))
	}
	for i, e := range har.Log.Entries {
		sum := 0.0
		for name, v := range e.Timings {
			if v < 0 && v != -1 {
				t.Errorf("entry %d: timing %s = %v", i, name, v)
			}
			if v != -1 {
				sum += v
			}
		}
		if math.Abs(e.Time-sum) > 1e-9 {
			t.Errorf("entry %d: time %v is not the sum of its timings %v (%v)", i, e.Time, e.Timings, sum)
		}
		w := want[i]
		if e.Mtguard == nil || e.Mtguard.AnsweredBy != w.answeredBy || e.Mtguard.Forwarded != w.forwarded || e.Mtguard.Finding != w.finding || e.Mtguard.ID == "" || e.Mtguard.Outcome == "" {
			t.Errorf("entry %d: _mtguard = %+v, want answered_by %s, forwarded %v, finding %q", i, e.Mtguard, w.answeredBy, w.forwarded, w.finding)
		}
		if !strings.Contains(e.Comment, w.comment) || e.Mtguard == nil || !strings.Contains(e.Comment, e.Mtguard.ID) {
			t.Errorf("entry %d: comment %q lacks %q and the id", i, e.Comment, w.comment)
		}
	}
	// The throttled call's time is the whole call, its queue included.
	if e := har.Log.Entries[0]; e.Time != throttled.DurationMS || e.Timings["blocked"] < throttled.WaitMS {
		t.Errorf("throttled: time %v, timings %v", e.Time, e.Timings)
	}
}
