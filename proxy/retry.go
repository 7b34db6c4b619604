package proxy

import (
	"bytes"
	"io"
	"net/http"
	"slices"
	"time"

	"github.com/mtguard/mtguard/txn"
	"github.com/mtguard/mtguard/vendors"
)

// InlineRetry is a route's retrying while the tool waits (delivery.mode: inline with a retry
// block): a call the vendor cannot have acted on is sent again, within Within of its start.
type InlineRetry struct {
	On         []string // of "unreachable", "429", "503"
	Attempts   int      // sends at most, the first included
	BackoffMin time.Duration
	BackoffMax time.Duration
	Within     time.Duration
}

// retrying runs an inline call of a route with InlineRetry: each attempt goes through the whole
// pipeline (recorded, throttled, checked) and is a transaction of its own, later ones replays
// of the first. A connection that could not be made, a 429, or a 503 with Retry-After is sent
// again after the backoff (or the Retry-After, when longer) while that ends within Within of
// the call's start; otherwise the last answer goes to the tool as the vendor gave it.
func (p *Pipeline) retrying(req *http.Request, c *Call) (*http.Response, error) {
	rt := c.Route.Retry
	var body []byte
	var err error
	if req.Body != nil {
		body, err = io.ReadAll(io.LimitReader(req.Body, p.cfg.MaxBody+1))
		req.Body.Close()
	}
	if err != nil || int64(len(body)) > p.cfg.MaxBody {
		// Too large (or unreadable): one attempt, which refuses or records it as usual.
		c.retried = true
		req.Body = io.NopCloser(io.MultiReader(bytes.NewReader(body), errReader{err}))
		return p.RoundTrip(req)
	}
	start := c.Start
	if start.IsZero() {
		start = p.cfg.Now()
	}
	deadline := start.Add(rt.Within)
	first := ""
	for n := 1; ; n++ {
		ac := *c
		ac.retried, ac.Start = true, start
		if n > 1 {
			ac.ReplayOf, ac.Attempt, ac.Start = first, n-1, p.cfg.Now()
		}
		areq := req.Clone(WithCall(req.Context(), &ac))
		areq.Body, areq.ContentLength = io.NopCloser(bytes.NewReader(body)), int64(len(body))
		if len(body) == 0 && (req.ContentLength == 0 || req.Body == http.NoBody) {
			areq.Body = http.NoBody
		}
		resp, err := p.RoundTrip(areq)
		if err != nil || ac.tx == nil {
			return resp, err
		}
		if first == "" {
			first = ac.tx.ID
		}
		wait, again := inlineRetryable(rt, resp, ac.tx, p.cfg.Now())
		if !again || n >= rt.Attempts {
			return resp, nil
		}
		wait = max(wait, backoff(rt.BackoffMin, rt.BackoffMax, n))
		if l := p.cfg.Limiter; l != nil && c.Route.LimitGroup != "" {
			if until := l.PausedUntil(c.Route.LimitGroup); !until.IsZero() {
				wait = max(wait, until.Sub(p.cfg.Now())) // the next attempt would wait there anyway
			}
		}
		if p.cfg.Now().Add(wait).After(deadline) {
			return resp, nil
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close() // settles the attempt
		t := time.NewTimer(wait)
		select {
		case <-req.Context().Done():
			t.Stop()
			return nil, ErrClientGone
		case <-t.C:
		}
	}
}

// inlineRetryable says whether an attempt's answer is one the route retries while the tool
// waits, and how long the vendor asked to wait.
func inlineRetryable(rt *InlineRetry, resp *http.Response, tx *txn.Transaction, now time.Time) (time.Duration, bool) {
	if tx.Outcome == txn.OutcomeUnreachable {
		return 0, slices.Contains(rt.On, "unreachable")
	}
	if tx.Outcome != "" && tx.Outcome != txn.OutcomePending {
		return 0, false // mtguard answered itself (throttled after max_wait, rejected...)
	}
	d, hasRA := vendors.RetryAfter(resp.Header, now)
	switch resp.StatusCode {
	case http.StatusTooManyRequests:
		return d, slices.Contains(rt.On, "429")
	case http.StatusServiceUnavailable:
		// A 503 without Retry-After may come after the vendor acted: only the background
		// redeliverer, which knows whether the call is idempotent, resends it.
		return d, hasRA && d > 0 && (slices.Contains(rt.On, "503") || slices.Contains(rt.On, "5xx"))
	}
	return 0, false
}

// backoff is the wait after the n-th attempt: min, doubled each time, at most max.
func backoff(lo, hi time.Duration, n int) time.Duration {
	d := lo
	for i := 1; i < n && d < hi; i++ {
		d *= 2
	}
	return min(d, hi)
}

// errReader fails with err once what came before it has been read (nil: io.EOF).
type errReader struct{ err error }

func (r errReader) Read([]byte) (int, error) {
	if r.err == nil {
		return 0, io.EOF
	}
	return 0, r.err
}
