package cli

import (
	"bytes"
	"net/http"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/mtguard/mtguard/txn"
)

// silentFailure is a Marketo-style batch call that the vendor answered 200 but refused.
func silentFailure() txn.Transaction {
	tx := newTx("01JPA0000000000000000000AA", time.Date(2025, 3, 14, 9, 0, 0, 0, time.UTC))
	tx.Route = "marketo"
	tx.Path = "/rest/v1/leads.json"
	tx.UpstreamURL = "https://123-abc.mktorest.com/rest/v1/leads.json"
	tx.RecordKeys = []string{"jane@acme.com", "bob@acme.com"}
	tx.Request.Headers = http.Header{"Content-Type": {"application/json"}, "Authorization": {"[redacted]"}}
	tx.Request.Body = `{"action":"createOrUpdate","input":[{"email":"jane@acme.com"},{"email":"bob@acme.com"}]}`
	tx.Request.Size = int64(len(tx.Request.Body))
	tx.Response.Headers = http.Header{"Content-Type": {"application/json"}}
	tx.Response.Body = `{"success":false,"errors":[{"code":"1003","message":"Invalid email"}]}`
	tx.Response.Size = int64(len(tx.Response.Body))
	tx.Outcome = txn.OutcomeFailed
	tx.DurationMS, tx.WaitMS, tx.UpstreamMS, tx.RecordMS = 212.6, 40, 170.2, 1.42
	tx.Findings = []txn.Finding{{
		Code: "response.silent_failure", Severity: txn.SeverityError,
		Message: "the vendor answered 200 but reported a failure", Detail: "errors[0].code = 1003",
	}}
	tx.Records = []txn.RecordResult{{Index: 0, Key: "jane@acme.com", OK: true}, {Index: 1, Key: "bob@acme.com", Reason: "1003 Invalid email"}}
	return tx
}

// unreachable is a form post that never got an answer.
func unreachable() txn.Transaction {
	tx := newTx("01JPA0000000000000000000BB", time.Date(2025, 3, 14, 9, 5, 30, 0, time.UTC))
	tx.Route = "hubspot-forms"
	tx.Path = "/submissions/v3/integration/submit/1234567/0a1b2c3d-4e5f-6789-abcd-ef0123456789"
	tx.UpstreamURL = "https://api.hsforms.com" + tx.Path
	tx.Request.ContentType = "application/x-www-form-urlencoded"
	tx.Request.Body = "email=jane%40acme.com&first+name=Jane"
	tx.Request.Size = int64(len(tx.Request.Body))
	tx.Status, tx.Outcome, tx.DurationMS = 0, txn.OutcomeUnreachable, 3001
	tx.Error = "dial tcp 104.16.1.1:443: connect: connection refused"
	tx.Findings = []txn.Finding{{Code: "upstream.unreachable", Severity: txn.SeverityError, Message: "the vendor could not be reached"}}
	return tx
}

func ExampleWriteLog() {
	// Newest first, as the API answers by default; the log reads oldest first.
	_ = WriteLog(os.Stdout, []txn.Transaction{unreachable(), silentFailure()}, time.UTC)
	// Output:
	// TIME                 ID                          ROUTE          METHOD  PATH                                              STATUS  OUTCOME      MS    RECORDS                     FINDINGS
	// 2025-03-14 09:00:00  01JPA0000000000000000000AA  marketo        POST    /rest/v1/leads.json                               200     failed       213   jane@acme.com,bob@acme.com  response.silent_failure
	// 2025-03-14 09:05:30  01JPA0000000000000000000BB  hubspot-forms  POST    /submissions/v3/integration/submit/1234567/0a1b…  -       unreachable  3001  jane@acme.com               upstream.unreachable
}

func ExampleWriteTransaction() {
	_ = WriteTransaction(os.Stdout, silentFailure(), time.UTC)
	// Output:
	// id            01JPA0000000000000000000AA
	// time          2025-03-14 09:00:00.000 UTC
	// route         marketo
	// outcome       failed
	// status        200 OK
	// duration      213 ms (40 ms waiting for the rate limit, 1.4 ms recording it durably, 170 ms at the vendor)
	// upstream url  https://123-abc.mktorest.com/rest/v1/leads.json
	// record keys   jane@acme.com, bob@acme.com
	//
	// Findings
	//   response.silent_failure [error]: the vendor answered 200 but reported a failure
	//       errors[0].code = 1003
	//       what to do: Read the vendor's error in the recorded response (mtguard show ID), fix the payload or the account setting it names, and resend: nothing reached the vendor's records.
	//
	//   resend it: mtguard replay 01JPA0000000000000000000AA   (see it as curl: mtguard show 01JPA0000000000000000000AA --curl)
	//
	// Records in the batch
	//   #0  jane@acme.com  ok
	//   #1  bob@acme.com   failed: 1003 Invalid email
	//
	// Request (as sent by the tool)
	//   POST /rest/v1/leads.json
	//   Authorization: [redacted]
	//   Content-Type: application/json
	//
	//   {
	//     "action": "createOrUpdate",
	//     "input": [
	//       {
	//         "email": "jane@acme.com"
	//       },
	//       {
	//         "email": "bob@acme.com"
	//       }
	//     ]
	//   }
	//
	// Forwarded to
	//   https://123-abc.mktorest.com/rest/v1/leads.json
	//
	// Response (as answered by the vendor)
	//   200 OK
	//   Content-Type: application/json
	//
	//   {
	//     "success": false,
	//     "errors": [
	//       {
	//         "code": "1003",
	//         "message": "Invalid email"
	//       }
	//     ]
	//   }
}

func TestWriteLog(t *testing.T) {
	t.Run("empty", func(t *testing.T) {
		var b bytes.Buffer
		if err := WriteLog(&b, nil, time.UTC); err != nil {
			t.Fatal(err)
		}
		if got := b.String(); got != "no transactions match\n" {
			t.Errorf("output = %q", got)
		}
	})

	t.Run("cells", func(t *testing.T) {
		many := newTx("01JPC", testNow)
		many.RecordKeys = []string{"a@x.com", "b@x.com", "c@x.com", "d@x.com", "e@x.com"}
		many.Findings = []txn.Finding{{Code: "endpoint.deprecated"}, {Code: "schema.response.invalid"}}
		many.DurationMS = 0.4
		pending := newTx("01JPB", testNow)
		pending.Status, pending.Outcome, pending.DurationMS, pending.RecordKeys = 0, txn.OutcomePending, 0, nil
		hostile := newTx("01JPA", testNow)
		hostile.Path = "/x\x1b[2J\tnext\ncol"

		var b bytes.Buffer
		if err := WriteLog(&b, []txn.Transaction{many, pending, hostile}, time.UTC); err != nil {
			t.Fatal(err)
		}
		lines := strings.Split(strings.TrimSuffix(b.String(), "\n"), "\n")
		if len(lines) != 4 {
			t.Fatalf("got %d lines, want a header and 3:\n%s", len(lines), b.String())
		}
		for i, id := range []string{"01JPA", "01JPB", "01JPC"} {
			if f := strings.Fields(lines[i+1]); f[2] != id {
				t.Errorf("line %d has id %s, want %s (oldest first)", i+1, f[2], id)
			}
		}
		checks := []struct {
			line int
			want []string // the line's fields from PATH on
		}{
			{1, []string{`/x\x1b[2J\x09next\x0acol`, "200", "delivered", "12", "jane@acme.com", "-"}},
			{2, []string{"/api/leads", "-", "pending", "-", "-", "-"}},
			{3, []string{"/api/leads", "200", "delivered", "0", "a@x.com,b@x.com,c@x.com", "+2", "endpoint.deprecated,schema.response.invalid"}},
		}
		for _, c := range checks {
			if got := strings.Fields(lines[c.line])[5:]; strings.Join(got, " ") != strings.Join(c.want, " ") {
				t.Errorf("line %d = %q, want %q", c.line, got, c.want)
			}
		}
	})
}

func TestWriteTransactionBodies(t *testing.T) {
	tests := []struct {
		name    string
		request txn.Message
		want    []string
		notWant []string
	}{
		{
			name:    "truncated JSON is shown as it is",
			request: txn.Message{Body: `{"input":[{"email":"jane@acme.com"},{"ema`, Size: 9000, Truncated: true},
			want:    []string{"\n  {\"input\":[{\"email\":\"jane@acme.com\"},{\"ema\n  (truncated: 41 of 9000 bytes kept)\n"},
		},
		{
			name:    "binary",
			request: txn.Message{ContentType: "application/pdf", Body: "JVBERi0xLjQK", BodyEncoding: "base64", Size: 48213, Truncated: true},
			want:    []string{"  Content-Type: application/pdf\n\n  (binary body, 48213 bytes)\n"},
			notWant: []string{"JVBERi0", "truncated"},
		},
		{
			name:    "not captured",
			request: txn.Message{Size: 512},
			want:    []string{"(body not captured, 512 bytes)"},
		},
		{
			name:    "empty",
			request: txn.Message{},
			want:    []string{"  POST /api/leads\n\n  (no body)\n"},
		},
		{
			name:    "form fields one per line",
			request: txn.Message{ContentType: "application/x-www-form-urlencoded; charset=utf-8", Body: "email=jane%40acme.com&first+name=Jane&consent="},
			want:    []string{"  email = jane@acme.com\n  first name = Jane\n  consent = \n"},
		},
		{
			name:    "JSON under a text media type",
			request: txn.Message{ContentType: "text/plain", Body: `[1,2]`},
			want:    []string{"  [\n    1,\n    2\n  ]\n"},
		},
		{
			name:    "text with terminal escapes and CRLF",
			request: txn.Message{ContentType: "text/plain", Body: "line one\r\n\x1b]0;pwned\x07line two\u202e"},
			want:    []string{"  line one\n  \\x1b]0;pwned\\x07line two\\u202e\n"},
			notWant: []string{"\x1b", "\r"},
		},
		{
			name:    "headers sorted, hostile values escaped",
			request: txn.Message{Headers: http.Header{"X-Z": {"z"}, "Accept": {"*/*"}, "X-Evil": {"a\x1b[2Jb"}}},
			want:    []string{"  Accept: */*\n  X-Evil: a\\x1b[2Jb\n  X-Z: z\n"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tx := newTx("01JPA", testNow)
			tx.Request = tt.request
			var b bytes.Buffer
			if err := WriteTransaction(&b, tx, time.UTC); err != nil {
				t.Fatal(err)
			}
			out := b.String()
			request, _, _ := strings.Cut(out, "Forwarded to")
			for _, w := range tt.want {
				if !strings.Contains(request, w) {
					t.Errorf("output lacks %q:\n%s", w, out)
				}
			}
			for _, w := range tt.notWant {
				if strings.Contains(request, w) {
					t.Errorf("output holds %q:\n%s", w, out)
				}
			}
		})
	}
}

func TestWriteTransactionNoAnswer(t *testing.T) {
	var b bytes.Buffer
	if err := WriteTransaction(&b, unreachable(), time.FixedZone("CET", 3600)); err != nil {
		t.Fatal(err)
	}
	out := b.String()
	for _, want := range []string{
		"time          2025-03-14 10:05:30.000 CET\n",
		"status        - (no answer from the vendor)\n",
		"duration      3001 ms\n",
		"error         dial tcp 104.16.1.1:443: connect: connection refused\n",
		"  upstream.unreachable [error]: the vendor could not be reached\n",
		"Sent, but no answer: the vendor could not be reached (upstream.unreachable)\n  sent to https://api.hsforms.com/submissions/",
		"\nResponse\n  (none: dial tcp 104.16.1.1:443: connect: connection refused)\n",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks %q:\n%s", want, out)
		}
	}
	if strings.Contains(out, "Records in the batch") {
		t.Errorf("output has a records section for a call without per-record results:\n%s", out)
	}
	// The sections come in the order of the call's life.
	last := -1
	for _, section := range []string{"Findings", "Request (as sent by the tool)", "Sent, but no answer: the vendor could not be reached (upstream.unreachable)", "Response"} {
		i := strings.Index(out, "\n"+section+"\n")
		if i < last {
			t.Errorf("section %q is missing or out of order:\n%s", section, out)
		}
		last = i
	}
}

// testNow is the clock of the table tests.
var testNow = time.Date(2025, 3, 14, 12, 0, 0, 0, time.UTC)

// newTx is a delivered call of the crm route, as the admin API would return it.
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

// answeredByMtguard returns calls that mtguard answered itself, as the pipeline records them:
// its own status and problem body, and the finding that says why last.
func answeredByMtguard() map[txn.Outcome]txn.Transaction {
	mk := func(outcome txn.Outcome, status int, code, detail string) txn.Transaction {
		tx := newTx("01JPA0000000000000000000CC", testNow)
		tx.UpstreamURL = "https://api.crm.example/v1/leads"
		tx.Request.ContentType = "application/json"
		tx.Request.Body = `{"email":"jane@acme.com"}`
		tx.Status, tx.Outcome, tx.Error = status, outcome, detail
		tx.Findings = []txn.Finding{{Code: code, Severity: txn.SeverityError, Message: detail}}
		tx.Response = txn.Message{
			Headers: http.Header{"Content-Type": {"application/problem+json"}}, ContentType: "application/problem+json",
			Body: `{"title":"mtguard answered","status":` + strconv.Itoa(status) + `}`,
		}
		return tx
	}
	return map[txn.Outcome]txn.Transaction{
		txn.OutcomeRejected:    mk(txn.OutcomeRejected, 422, txn.CodeSchemaRequestInvalid, "the payload breaks its contract"),
		txn.OutcomeThrottled:   mk(txn.OutcomeThrottled, 429, txn.CodeRateLimitThrottled, "no budget within max_wait"),
		txn.OutcomeUnreachable: mk(txn.OutcomeUnreachable, 502, txn.CodeUpstreamUnreachable, "could not reach api.crm.example: connection refused"),
		txn.OutcomeTimeout:     mk(txn.OutcomeTimeout, 504, txn.CodeUpstreamTimeout, "api.crm.example did not answer within 10s"),
	}
}

// TestWriteTransactionAnsweredByMtguard: a call that mtguard answered itself is never shown as
// forwarded to, or answered by, the vendor (issue 18, item 11).
func TestWriteTransactionAnsweredByMtguard(t *testing.T) {
	want := map[txn.Outcome][]string{
		txn.OutcomeRejected: {
			"status        422 Unprocessable Entity (answered by mtguard; nothing was sent to the vendor)\n",
			"\nNot forwarded: rejected by mtguard (schema.request.invalid)\n  it would have gone to https://api.crm.example/v1/leads\n",
		},
		txn.OutcomeThrottled: {
			"status        429 Too Many Requests (answered by mtguard; nothing was sent to the vendor)\n",
			"\nNot forwarded: held back by mtguard to stay within the vendor's limits (ratelimit.throttled)\n",
		},
		txn.OutcomeUnreachable: {
			"status        502 Bad Gateway (answered by mtguard; the vendor did not answer)\n",
			"\nSent, but no answer: the vendor could not be reached (upstream.unreachable)\n  sent to https://api.crm.example/v1/leads\n",
		},
		txn.OutcomeTimeout: {
			"status        504 Gateway Timeout (answered by mtguard; the vendor did not answer)\n",
			"\nSent, but no answer: the vendor did not answer in time (upstream.timeout); it may still have processed the call\n  sent to https://api.crm.example/v1/leads\n",
		},
	}
	for outcome, tx := range answeredByMtguard() {
		var b bytes.Buffer
		if err := WriteTransaction(&b, tx, time.UTC); err != nil {
			t.Fatal(err)
		}
		out := b.String()
		for _, bad := range []string{"Forwarded to", "as answered by the vendor"} {
			if strings.Contains(out, bad) {
				t.Errorf("%s: output says %q:\n%s", outcome, bad, out)
			}
		}
		for _, w := range append(want[outcome], "\nAnswered by mtguard, not the vendor\n  "+statusLine(tx.Status)+"\n") {
			if !strings.Contains(out, w) {
				t.Errorf("%s: output lacks %q:\n%s", outcome, w, out)
			}
		}
	}
}
