package alerts

import (
	"strings"
	"time"

	"github.com/mtguard/mtguard/txn"
)

// The stages of one observed call, in the order process runs them:
//
//	classify      what the call says to each rule, worked out once
//	count         the route's windows, streaks and episodes take the call
//	attribute     the incidents already open take the call as further evidence
//	evaluate      the rules the call can have moved open or resolve incidents (fire, resolve)
//
// Each stage is separate so it can be tested without the others. fire and resolve only queue
// the event on the outbox, because the engine's lock must not wait for the store or a sink;
// sendLoop persists it to the history and hands it to the sinks.

// callFacts is one call as the rules see it. classify derives it once so that counting it,
// attributing it and evaluating it cannot disagree about what the call was.
type callFacts struct {
	t         time.Time // when the call ended, never later than the engine's clock
	records   int
	latencyMS float64 // < 0 when the vendor was not asked
	hidden    bool    // a silence drill hides the call from the silence rule

	// delivered and failed overlap on a partial call: records arrived, yet not all of them.
	delivered bool
	failed    bool
	slow      bool // only with a latency rule and a vendor that was asked
	queued    bool // waited in the throttle queue

	authCode string // the first credential refusal among the findings
	// authAccepted is a vendor answer without a credential refusal: only that proves the
	// credentials work again.
	authAccepted bool
	dep          *txn.Finding // the last deprecation finding; shared with the transaction, read only
	retired      *txn.Finding // the last endpoint.retired finding; read only
	contract     bool         // rejected by a pinned contract, so never forwarded
	// callerUnknown is a call refused because it matched none of the route's callers: it
	// counts for the callers rule only.
	callerUnknown bool

	// undelivered is a call whose records reached no vendor for a reason that is the
	// integration's or the vendor's (failed, unreachable, timeout, rejected); a delivered or
	// partial call ends such a run, a throttled or interrupted one is neither.
	undelivered bool
	outcome     txn.Outcome
}

// classify reads one call against a route's rules into c, overwriting every field. A call
// stamped after now (a clock that moved backwards, or a skewed store) is taken as ending now,
// so windows never count the future. It assigns field by field rather than returning or
// assigning a composite value: copying the facts cost the per-call benchmark about a tenth of
// its time.
func (c *callFacts) classify(o *observation, rules *Rules, now time.Time) {
	c.t, c.hidden = o.at, o.hidden
	if c.t.After(now) {
		c.t = now
	}
	c.records, c.latencyMS = o.records, o.latencyMS
	c.delivered = o.outcome == txn.OutcomeDelivered || o.outcome == txn.OutcomePartial
	c.failed = o.outcome != txn.OutcomeDelivered && o.outcome != txn.OutcomeQueued // a queued call's attempts count for themselves
	c.queued = o.waitMS > 0
	c.slow = false
	if r := rules.Latency; r != nil && o.latencyMS >= 0 {
		c.slow = o.latencyMS > float64(r.Above)/float64(time.Millisecond)
	}
	c.outcome = o.outcome
	switch o.outcome {
	case txn.OutcomeFailed, txn.OutcomeUnreachable, txn.OutcomeTimeout, txn.OutcomeRejected:
		c.undelivered = true
	default:
		c.undelivered = false
	}
	c.authCode, c.dep, c.retired = "", nil, nil
	contract := false
	c.callerUnknown = false
	for i := range o.findings {
		f := &o.findings[i]
		switch {
		case f.Code == txn.CodeAuthExpired || f.Code == txn.CodeAuthInvalid || f.Code == txn.CodeAuthForbidden:
			if c.authCode == "" {
				c.authCode = f.Code
			}
		case f.Code == txn.CodeEndpointDeprecated || f.Code == txn.CodeDeprecationAnnounced:
			c.dep = f
		case f.Code == txn.CodeEndpointRetired:
			c.retired = f
		case f.Code == txn.CodeCallerUnknown:
			c.callerUnknown = o.outcome == txn.OutcomeRejected
		case strings.HasPrefix(f.Code, schemaCodePrefix) || strings.HasPrefix(f.Code, contractCodePrefix):
			contract = true
		}
	}
	c.contract = contract && o.outcome == txn.OutcomeRejected
	c.authAccepted = false
	switch o.outcome {
	case txn.OutcomeDelivered, txn.OutcomePartial, txn.OutcomeFailed:
		c.authAccepted = c.authCode == ""
	}
}

// tally is the call as one window slot entry: bad or not, with its records only when bad so a
// window can say how many records the bad calls carried.
func (c *callFacts) tally(bad bool) counts {
	if !bad {
		return counts{calls: 1}
	}
	return counts{calls: 1, bad: 1, badRecords: c.records}
}

// count adds the call to every counter of the route, whether or not a rule is firing: a
// replayed call must leave the route exactly as the live call did.
func (rs *routeState) count(c *callFacts) {
	if c.callerUnknown {
		if rs.callWin != nil {
			rs.callWin.add(c.t, c.tally(true))
		}
		return
	}
	if c.t.After(rs.lastCall) {
		rs.lastCall = c.t
	}
	rs.hour.add(c.t, c.delivered, c.failed, c.latencyMS)
	if !c.hidden {
		rs.countDelivery(c)
	}
	rs.countWindows(c)
	rs.countAuth(c)
	rs.countFailures(c)
	rs.countDeprecation(c)
	rs.countRetired(c)
}

func (rs *routeState) countDelivery(c *callFacts) {
	if !c.delivered {
		rs.undelivered.add(c.tally(true))
		return
	}
	rs.deliveries.push(c.t)
	if c.t.After(rs.lastDelivery) {
		rs.lastDelivery = c.t
		rs.m.delivered(c.t)
	}
	rs.undelivered = counts{}
}

func (rs *routeState) countWindows(c *callFacts) {
	if rs.errWin != nil {
		rs.errWin.add(c.t, c.tally(c.failed))
	}
	// A call the vendor never saw says nothing about the vendor's latency.
	if rs.rules.Latency != nil && c.latencyMS >= 0 {
		rs.latWin.add(c.t, c.tally(c.slow))
	}
	if rs.conWin != nil && c.contract {
		rs.conWin.add(c.t, c.tally(true))
	}
}

// countAuth keeps the streak of credential refusals. A call the vendor never answered
// (rejected, throttled, unreachable, timed out) proves nothing about the credentials, so it
// neither extends the streak nor breaks it.
func (rs *routeState) countAuth(c *callFacts) {
	switch {
	case c.authCode != "":
		if rs.authStreak == 0 {
			rs.authSince = c.t
		}
		rs.authStreak++
		rs.authRecords += c.records
		rs.authCode = c.authCode
		rs.authCleared = false
	case c.authAccepted:
		rs.authStreak, rs.authRecords, rs.authCleared = 0, 0, true
	}
}

// countFailures keeps the run of undelivered calls for the consecutive-failures rule.
func (rs *routeState) countFailures(c *callFacts) {
	switch {
	case c.undelivered:
		if rs.failStreak == 0 {
			rs.failSince = c.t
		}
		rs.failStreak++
		rs.failRecords += c.records
		rs.failLast = c.outcome
		rs.failCleared = false
	case c.delivered:
		rs.failStreak, rs.failRecords, rs.failCleared = 0, 0, true
	}
}

// maxDepSeen bounds the deprecated versions remembered per route; past it no more notices.
const maxDepSeen = 256

// depKey names what a deprecation finding is about, so a version gets one notice however its
// message counts down the days.
func depKey(f *txn.Finding) string {
	k := f.Code + "|" + f.Detail + "|" + f.Replacement + "|"
	if f.Sunset != nil {
		k += f.Sunset.UTC().Format(time.RFC3339)
	}
	if f.Detail == "" && f.Replacement == "" && f.Sunset == nil {
		k += f.Message
	}
	return k
}

// seeDeprecation remembers f's version; it reports whether it is the first sight.
func (rs *routeState) seeDeprecation(f *txn.Finding) bool {
	k := depKey(f)
	if rs.depSeen[k] || len(rs.depSeen) >= maxDepSeen {
		return false
	}
	rs.depSeen[k] = true
	return true
}

func (rs *routeState) countDeprecation(c *callFacts) {
	dep := c.dep
	if dep == nil || rs.rules.Deprecation == nil {
		return
	}
	d := &rs.dep
	d.add(c.t, c.records, dep)
	// The detectors put the sunset date on the finding; the earliest one seen is the deadline.
	if s := dep.Sunset; s != nil && (d.sunset.IsZero() || s.Before(d.sunset)) {
		d.sunset = *s
	}
	if rs.seeDeprecation(dep) {
		rs.depNew = dep
	}
}

func (rs *routeState) countRetired(c *callFacts) {
	f := c.retired
	if f == nil || rs.rules.Retired == nil {
		return
	}
	rs.retired.add(c.t, c.records, f)
}

// hits reports whether the call is evidence for an incident of kind k, so an open incident's
// Calls and Records grow only with the calls that show its problem.
func (c *callFacts) hits(k kind) bool {
	if c.callerUnknown {
		return k == kindCallers
	}
	switch k {
	case kindSilence:
		return !c.delivered
	case kindErrorRate:
		return c.failed
	case kindLatency:
		return c.slow
	case kindAuth:
		return c.authCode != ""
	case kindDeprecation:
		return c.dep != nil
	case kindContract:
		return c.contract
	case kindThrottle:
		return c.queued
	case kindConsecutiveFailures:
		return c.undelivered
	case kindRetired:
		return c.retired != nil
	}
	return false
}

// attribute adds the call to the incidents of the route that are already open. It runs before
// evaluate so that an incident the call opens starts from the window's own counts rather than
// counting the call twice.
func (rs *routeState) attribute(c *callFacts) {
	for k, a := range rs.active {
		if a == nil || !c.hits(kind(k)) {
			continue
		}
		a.Calls++
		a.Records += c.records
		if c.t.After(a.LastSeen) {
			a.LastSeen = c.t
		}
	}
}

// evaluate checks only the rules this call can have moved; Tick covers the rest as time passes.
// Silence is only checked here when a delivery may end an open incident: a missing delivery is
// noticed by the clock, not by a call.
func (e *Engine) evaluate(rs *routeState, c *callFacts, now time.Time) {
	if c.callerUnknown {
		e.evalCallers(rs, now)
		return
	}
	e.evalErrorRate(rs, now)
	if c.latencyMS >= 0 {
		e.evalLatency(rs, now)
	}
	e.evalAuth(rs, now)
	e.evalConsecutiveFailures(rs, now)
	if c.dep != nil {
		before := rs.active[kindDeprecation]
		e.evalDeprecation(rs, now)
		if f := rs.depNew; f != nil {
			rs.depNew = nil
			// A version first seen with its sunset inside the horizon fires the alert now,
			// which says as much as the notice would.
			if a := rs.active[kindDeprecation]; a == nil || a == before {
				e.notice(rs, f, now)
			}
		}
	}
	if c.retired != nil {
		e.evalRetired(rs, now)
	}
	if c.contract {
		e.evalContract(rs, now)
	}
	if c.delivered && rs.active[kindSilence] != nil {
		e.evalSilence(rs, now)
	}
}
