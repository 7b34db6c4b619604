package store

import (
	"bytes"
	"encoding/json"
	"math"
	"net/http"
	"testing"
	"time"

	"github.com/mtguard/mtguard/txn"
)

// sampleTx is a realistic recorded call: a contact create with headers on both sides.
func sampleTx() *txn.Transaction {
	sunset := time.Date(2026, 12, 18, 0, 0, 0, 0, time.UTC)
	zoned := time.Date(2027, 1, 2, 23, 59, 59, 500, time.FixedZone("", -5*3600))
	return &txn.Transaction{
		Call: txn.Call{
			ID: "01JQ0000000000000000000000", Time: time.Date(2026, 11, 28, 9, 30, 1, 123456789, time.UTC),
			Route: "hubspot", Method: "POST", Path: "/crm/v3/objects/contacts", UpstreamURL: "https://api.hubapi.com/crm/v3/objects/contacts",
			RemoteAddr: "127.0.0.1:51234", RecordKeys: []string{"jane@acme.com"},
			Request: txn.Message{
				Headers:     http.Header{"Content-Type": {"application/json"}, "Authorization": {redactedMarker}, "User-Agent": {"form-tool/2.1"}},
				ContentType: "application/json",
				Body:        `{"properties":{"email":"jane@acme.com","firstname":"Jane","lastname":"O'Neil <Ops & Co>","date_of_birth":"1990-03-15","note":"line1\nline2\ttab"}}`,
				Size:        140,
			},
		},
		Result: txn.Result{
			Status: 201, Outcome: txn.OutcomeDelivered, DurationMS: 21.734, UpstreamMS: 20.5, RecordMS: 0.412,
			Findings: []txn.Finding{
				{Code: "endpoint.deprecated", Severity: txn.SeverityWarn, Message: "v1 sunsets in 12 days", Detail: "/crm/v1", Sunset: &sunset, Replacement: "v3"},
				{Code: "endpoint.deprecation_announced", Severity: txn.SeverityWarn, Message: "sunset announced", Sunset: &zoned},
			},
			Records:  []txn.RecordResult{{Index: 0, Key: "jane@acme.com", OK: true}, {Index: 1, OK: false, Reason: "INVALID_EMAIL"}},
			Response: txn.Message{Headers: http.Header{"Content-Type": {"application/json;charset=utf-8"}}, Body: `{"id":"512"}`, Size: 12},
		},
	}
}

// redactedMarker mirrors the marker the proxy writes; the store does not need to know it.
const redactedMarker = "[redacted by mtguard]"

func TestEncodeMatchesJSON(t *testing.T) {
	tests := []struct {
		name   string
		mutate func(*txn.Transaction)
	}{
		{"full", func(*txn.Transaction) {}},
		{"zero values", func(tx *txn.Transaction) { *tx = txn.Transaction{} }},
		{"empty not nil slices", func(tx *txn.Transaction) {
			tx.RecordKeys, tx.Findings, tx.Records, tx.ReplayedBy = []string{}, []txn.Finding{}, []txn.RecordResult{}, []string{}
			tx.Request.Headers = http.Header{}
		}},
		{"nil header values", func(tx *txn.Transaction) { tx.Request.Headers = http.Header{"X-Empty": nil, "X-None": {}} }},
		{"every optional field", func(tx *txn.Transaction) {
			tx.Front, tx.ReplayOf, tx.Attempt, tx.Actor = "forward", "01JQ0000000000000000000001", 3, "ops-laptop"
			tx.Drill = "drill-20261130T140000Z-marketo"
			tx.Kind, tx.Verifies = txn.KindProbe, "01JQ0000000000000000000002"
			tx.Caller = "typeform<&>"
			tx.WaitMS, tx.Error, tx.ReplayedBy = 1500, "vendor unreachable", []string{"a", "b"}
			tx.Request.BodyEncoding, tx.Request.Decoded, tx.Request.Truncated = "base64", "gzip", true
			tx.Request.SizeAtLeast, tx.Response.Incomplete, tx.Response.SizeAtLeast = true, true, true
			tx.Request.Trailers = http.Header{"X-Checksum": {"sha256=<abc>&"}, "Authorization": {redactedMarker}}
			tx.Response.Trailers = http.Header{"Grpc-Status": {"0"}, "X-Empty": nil}
		}},
		{"trailers without headers", func(tx *txn.Transaction) {
			tx.Response.Headers, tx.Response.Trailers = nil, http.Header{"X-Checksum": {"1", "2"}}
		}},
		{"empty trailers", func(tx *txn.Transaction) { tx.Response.Trailers = http.Header{} }},
		{"escapes", func(tx *txn.Transaction) {
			tx.Request.Body = "\x00\x01\x1f\"\\/<>&\b\f\u2028\u2029\x7f é 😀 \xff\xfe bad \xed\xa0\x80 surrogate"
			tx.Path = "/a?b=<script>&c=d"
		}},
		{"floats", func(tx *txn.Transaction) {
			tx.DurationMS, tx.WaitMS, tx.UpstreamMS, tx.RecordMS = 1e-7, 1e21, -0.000001, 3e-5
		}},
		{"small float", func(tx *txn.Transaction) { tx.DurationMS = 5e-324 }},
		{"big float", func(tx *txn.Transaction) { tx.DurationMS = math.MaxFloat64 }},
		{"zone offset", func(tx *txn.Transaction) {
			tx.Time = time.Date(2026, 3, 1, 0, 0, 0, 0, time.FixedZone("x", -5*3600-30*60))
		}},
		{"local zone", func(tx *txn.Transaction) { tx.Time = time.Unix(1_780_000_000, 5).Local() }},
		{"year 10000 falls back", func(tx *txn.Transaction) { tx.Time = time.Date(10000, 1, 1, 0, 0, 0, 0, time.UTC) }},
		{"NaN falls back", func(tx *txn.Transaction) { tx.DurationMS = math.NaN() }},
		{"infinite record time falls back", func(tx *txn.Transaction) { tx.RecordMS = math.Inf(1) }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tx := sampleTx()
			tt.mutate(tx)
			compareEncodings(t, tx)
		})
	}
}

func compareEncodings(t *testing.T, tx *txn.Transaction) {
	t.Helper()
	want, werr := json.Marshal(&tx.Call)
	got, gerr := marshalCall(&tx.Call)
	if (werr != nil) != (gerr != nil) || !bytes.Equal(got, want) {
		t.Errorf("call:\n got %s (err %v)\nwant %s (err %v)", got, gerr, want, werr)
	}
	want, werr = json.Marshal(&tx.Result)
	got, gerr = marshalResult(&tx.Result)
	if (werr != nil) != (gerr != nil) || !bytes.Equal(got, want) {
		t.Errorf("result:\n got %s (err %v)\nwant %s (err %v)", got, gerr, want, werr)
	}
}

func FuzzEncodeMatchesJSON(f *testing.F) {
	f.Add("jane@acme.com", `{"email":"jane@acme.com"}`, "Content-Type", "application/json", "warn <b>", 21.5, int64(1_780_000_000_123456789), 201)
	f.Add("", "\xff\u2028\x00", "", "", "", 0.0, int64(0), 0)
	f.Add("a\"b", "é😀\\", "X-Y", "\t", "&", 1e-9, int64(math.MinInt64), -1)
	f.Fuzz(func(t *testing.T, key, body, hk, hv, msg string, dur float64, nanos int64, status int) {
		tx := sampleTx()
		tx.RecordKeys = []string{key, body}
		tx.Request.Body, tx.Response.Body = body, msg
		tx.Request.Headers = http.Header{hk: {hv, key}, "Z": {msg}}
		tx.Response.Trailers = http.Header{hv: {body}, key: nil}
		tx.Time = time.Unix(0, nanos).UTC()
		tx.DurationMS, tx.Status = dur, status
		tx.Findings = []txn.Finding{{Code: key, Message: msg, Detail: hv}}
		tx.Records = []txn.RecordResult{{Index: status, Key: key, Reason: msg}}
		compareEncodings(t, tx)
	})
}

// BenchmarkEncode compares the appenders with encoding/json on a typical call:
//
//	go test -run '^$' -bench Encode -benchmem ./store
func BenchmarkEncode(b *testing.B) {
	tx := sampleTx()
	b.Run("call/encoding-json", func(b *testing.B) {
		for b.Loop() {
			json.Marshal(&tx.Call)
		}
	})
	b.Run("call/appender", func(b *testing.B) {
		for b.Loop() {
			marshalCall(&tx.Call)
		}
	})
	b.Run("result/encoding-json", func(b *testing.B) {
		for b.Loop() {
			json.Marshal(&tx.Result)
		}
	})
	b.Run("result/appender", func(b *testing.B) {
		for b.Loop() {
			marshalResult(&tx.Result)
		}
	})
}
