package inspect

import (
	"strings"
	"time"

	"github.com/mtguard/mtguard/store"
)

// The stages of one observed call, in the order process runs them:
//
//	classifyCall what the call says to each rule, worked out once
//	count     the route's windows, streaks and episodes take the call
//	attribute the incidents already open take the call as further evidence
//	evaluate  the rules the call can have moved open or resolve incidents (fire, resolve)
//
// fire and resolve hand each event to the outbox; sendLoop then persists it to the history and
// delivers it to the sinks, off the engine's lock.

// callFacts is one call as the rules see it. classifyCall derives it once so that counting it,
// attributing it and evaluating it cannot disagree about what the call was.
type callFacts struct {
	t         time.Time // when the call ended, never later than the engine's clock
	records   int
	latencyMS float64 // < 0 when the vendor was not asked

	// delivered and failed overlap on a partial call: records arrived, yet not all of them.
	delivered bool
	failed    bool
	slow      bool // only with a latency rule and a vendor that was asked
	queued    bool // waited in the throttle queue

	authCode string // the first credential refusal among the findings
	// authAccepted is a vendor answer without a credential refusal: only that proves the
	// credentials work again.
	authAccepted bool
	dep          *store.Finding // the last deprecation finding; shared with the transaction, read only
	contract     bool           // rejected by a pinned contract, so never forwarded
}

// classifyCall reads one call against a route's rules. A call stamped after now (a clock that moved
// backwards, or a skewed store) is taken as ending now, so windows never count the future.
func classifyCall(o observation, rules Rules, now time.Time) callFacts {
	c := callFacts{
		t:         o.at,
		records:   o.records,
		latencyMS: o.latencyMS,
		delivered: o.outcome == store.OutcomeDelivered || o.outcome == store.OutcomePartial,
		failed:    o.outcome != store.OutcomeDelivered,
		queued:    o.waitMS > 0,
	}
	if c.t.After(now) {
		c.t = now
	}
	if r := rules.Latency; r != nil && o.latencyMS >= 0 {
		c.slow = o.latencyMS > float64(r.Above)/float64(time.Millisecond)
	}
	contract := false
	for i := range o.findings {
		f := &o.findings[i]
		switch {
		case f.Code == codeAuthExpired || f.Code == codeAuthForbidden:
			if c.authCode == "" {
				c.authCode = f.Code
			}
		case f.Code == codeEndpointDeprecated || f.Code == codeDeprecationAnnounced:
			c.dep = f
		case strings.HasPrefix(f.Code, schemaCodePrefix) || strings.HasPrefix(f.Code, contractCodePrefix):
			contract = true
		}
	}
	c.contract = contract && o.outcome == store.OutcomeRejected
	switch o.outcome {
	case store.OutcomeDelivered, store.OutcomePartial, store.OutcomeFailed:
		c.authAccepted = c.authCode == ""
	}
	return c
}
