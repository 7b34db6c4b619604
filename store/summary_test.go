package store

import (
	"context"
	"net/http"
	"reflect"
	"testing"
	"time"

	"github.com/mtguard/mtguard/txn"
)

// TestQuerySummary checks that a summary query finds what a full one finds, with every field
// but the request and response messages, and that a query by route and finding (which reads
// the finding's index) finds the same calls as the route's index would.
func TestQuerySummary(t *testing.T) {
	s := mustOpen(t, "", Options{})
	ctx := context.Background()
	at := time.Date(2026, 12, 1, 9, 0, 0, 0, time.UTC)
	for i := range 6 {
		route := []string{"crm", "forms"}[i%2]
		tx := &txn.Transaction{Call: txn.Call{Time: at.Add(time.Duration(i) * time.Second), Route: route, Method: "POST", Path: "/" + route + "/v1/leads",
			RecordKeys: []string{"ada@example.com"},
			Request:    txn.Message{Headers: http.Header{"Content-Type": {"application/json"}}, ContentType: "application/json", Body: `{"email":"ada@example.com"}`, Size: 27}}}
		if err := s.RecordIntent(ctx, tx); err != nil {
			t.Fatal(err)
		}
		tx.Result = txn.Result{Status: 201, Outcome: txn.OutcomeDelivered, DurationMS: 12.5, UpstreamMS: 11, Findings: []txn.Finding{},
			Response: txn.Message{ContentType: "application/json", Body: `{"id":"1"}`, Size: 10}}
		if i%3 == 0 {
			tx.Findings = append(tx.Findings, txn.NewFinding(txn.CodeEndpointDeprecated, "v1 is deprecated", "detail"))
		}
		if err := s.RecordResult(tx); err != nil {
			t.Fatal(err)
		}
	}
	for _, q := range []Query{
		{Route: "crm"},
		{RecordKey: "ada@example.com"},
		{Route: "crm", Finding: txn.CodeEndpointDeprecated},
		{Finding: txn.CodeEndpointDeprecated},
	} {
		full, err := s.Query(ctx, q)
		if err != nil {
			t.Fatal(err)
		}
		q.Summary = true
		sum, err := s.Query(ctx, q)
		if err != nil {
			t.Fatal(err)
		}
		if len(full.Transactions) == 0 || len(sum.Transactions) != len(full.Transactions) {
			t.Fatalf("%+v: %d calls in summary, %d in full", q, len(sum.Transactions), len(full.Transactions))
		}
		for i, f := range full.Transactions {
			got := sum.Transactions[i]
			if got.Request.Body != "" || got.Response.Body != "" || got.Request.Headers != nil {
				t.Errorf("%+v: summary %s has messages: %+v / %+v", q, got.ID, got.Request, got.Response)
			}
			f.Request, f.Response = txn.Message{}, txn.Message{}
			if !reflect.DeepEqual(got, f) {
				t.Errorf("%+v: summary\n%+v\nwant\n%+v", q, got, f)
			}
		}
	}
	page, err := s.Query(ctx, Query{Route: "crm", Finding: txn.CodeEndpointDeprecated})
	if err != nil {
		t.Fatal(err)
	}
	for _, tx := range page.Transactions {
		if tx.Route != "crm" {
			t.Errorf("route crm and a finding: got a call of route %s", tx.Route)
		}
	}
	if len(page.Transactions) != 1 { // calls 0 and 3 carry the finding; call 0 is crm, call 3 forms
		t.Errorf("route crm and a finding: %d calls, want 1", len(page.Transactions))
	}
}
