package proxy

import (
	"io"
	"net/http"
	"reflect"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/mtguard/mtguard/txn"
)

// TestFrontsThrottleAlike checks that both fronts spend one limit group's budget and that a
// call held back is answered and stored alike: a group of 2 calls an hour lets the first
// reverse and the first forward call through and throttles the next of each.
func TestFrontsThrottleAlike(t *testing.T) {
	fr := startFrontsWithVendor(t, frontsOptions{pipeline: func(c *PipelineConfig, routes []Route) {
		lim, err := NewLimiter([]LimitGroup{{Name: "crm", Windows: []Window{{Requests: 2, Per: time.Hour}}, MaxWait: 20 * time.Millisecond}}, nil, nil, nil)
		if err != nil {
			t.Fatal(err)
		}
		c.Limiter = lim
		routes[0].LimitGroup = "crm"
	}})
	fwdClient := fr.client(t, nil)
	call := func(front string) (*http.Response, txn.Transaction) {
		t.Helper()
		target, client := fr.reverse.URL+"/crm/v1/leads", http.DefaultClient
		if front == FrontForward {
			target, client = "https://"+fr.vendorHost+"/v1/leads", fwdClient
		}
		resp, err := client.Post(target, "application/json", strings.NewReader(`{"email":"limit@acme.com"}`))
		if err != nil {
			t.Fatal(err)
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		return resp, fr.get(t, resp.Header.Get(HeaderID))
	}
	for _, front := range []string{FrontReverse, FrontForward} {
		if resp, tx := call(front); resp.StatusCode != 201 || tx.Outcome != txn.OutcomeDelivered {
			t.Fatalf("%s: first call %d %q, want delivered", front, resp.StatusCode, tx.Outcome)
		}
	}
	revResp, rev := call(FrontReverse)
	fwdResp, fwd := call(FrontForward)
	for _, c := range []struct {
		front string
		resp  *http.Response
		tx    txn.Transaction
	}{{FrontReverse, revResp, rev}, {FrontForward, fwdResp, fwd}} {
		if c.resp.StatusCode != http.StatusTooManyRequests || c.resp.Header.Get("Retry-After") == "" || c.tx.Outcome != txn.OutcomeThrottled || c.tx.Status != 429 {
			t.Errorf("%s: third call answered %d (Retry-After %q), stored %q %d; want a throttled 429", c.front, c.resp.StatusCode, c.resp.Header.Get("Retry-After"), c.tx.Outcome, c.tx.Status)
		}
	}
	if revResp.Header.Get("Retry-After") != fwdResp.Header.Get("Retry-After") {
		t.Errorf("Retry-After: reverse %q, forward %q", revResp.Header.Get("Retry-After"), fwdResp.Header.Get("Retry-After"))
	}
	// The id and the time waited legitimately differ.
	waited := regexp.MustCompile(`waiting [0-9.]+m?s`)
	norm := func(tx txn.Transaction, s string) string {
		return waited.ReplaceAllString(strings.ReplaceAll(s, tx.ID, "ID"), "waiting X")
	}
	if norm(rev, rev.Error) != norm(fwd, fwd.Error) || !reflect.DeepEqual(findingCodes(rev), findingCodes(fwd)) ||
		norm(rev, rev.Response.Body) != norm(fwd, fwd.Response.Body) || !reflect.DeepEqual(rev.Request, fwd.Request) {
		t.Errorf("throttled calls stored differently:\nreverse %+v\nforward %+v", rev, fwd)
	}
}
