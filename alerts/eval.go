package alerts

import (
	"fmt"
	"strings"
	"time"

	"github.com/mtguard/mtguard/store"
	"github.com/mtguard/mtguard/txn"
)

// process runs one observed call through the stages of alerts_stages.go. With replay set
// (rebuilding on start) it stops before evaluate: rebuild evaluates every rule once after the
// whole replay rather than once per replayed call against windows that are still filling.
func (e *Engine) process(o observation, replay bool) {
	rs := e.routes[o.route]
	if !replay && o.drill == "" { // a drill's calls are not real traffic
		e.metrics.observe(rs, o)
	}
	if rs == nil {
		return
	}
	now := e.now()
	var c callFacts
	c.classify(&o, &rs.rules, now)
	rs.count(&c)
	rs.attribute(&c)
	if replay {
		return
	}
	e.evaluate(rs, &c, now)
}

// Tick evaluates the time-based side of every rule at the engine's clock: silence, windows
// that drained, sunsets coming closer, throttle queues, and reminders. The engine calls it
// every Config.Tick; tests call it after moving their clock.
func (e *Engine) Tick() {
	var queues []QueueStat
	if e.cfg.Throttle != nil {
		queues = e.cfg.Throttle.QueueStats()
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	e.evaluateAll(e.now(), queues)
}

func (e *Engine) evaluateAll(now time.Time, queues []QueueStat) {
	byRoute := map[string]QueueStat{}
	for _, q := range queues {
		for _, r := range q.Routes {
			byRoute[r] = q
		}
	}
	for _, rs := range e.order {
		e.evalSilence(rs, now)
		e.evalErrorRate(rs, now)
		e.evalLatency(rs, now)
		e.evalAuth(rs, now)
		e.evalConsecutiveFailures(rs, now)
		e.evalDeprecation(rs, now)
		e.evalRetired(rs, now)
		e.evalContract(rs, now)
		e.evalCallers(rs, now)
		q, ok := byRoute[rs.name]
		e.evalThrottle(rs, now, q, ok)
		e.remind(rs, now)
	}
	e.remind(e.storeRS, now)
	if e.limitsRS != nil {
		e.remind(e.limitsRS, now)
	}
	e.evalSinks(now)
}

func (e *Engine) evalSilence(rs *routeState, now time.Time) {
	r := rs.rules.Silence
	if r == nil {
		return
	}
	rs.holds[kindSilence] = false
	if oldest, ok := rs.deliveries.oldest(); ok && oldest.After(now.Add(-r.Per)) {
		e.resolve(rs, kindSilence, now)
		return
	}
	stretch, covered := r.During.coveredFor(now, r.Per)
	if !covered || now.Sub(rs.watchFrom) < r.Per {
		// Outside the schedule, or not watched for a whole window yet: no verdict either way.
		return
	}
	rs.holds[kindSilence] = true
	since := rs.watchFrom
	if rs.lastDelivery.After(since) {
		since = rs.lastDelivery
	}
	if stretch.After(since) {
		since = stretch
	}
	e.fire(rs, kindSilence, now, since, rs.undelivered.calls, rs.undelivered.badRecords)
}

func (e *Engine) evalErrorRate(rs *routeState, now time.Time) {
	if r := rs.rules.ErrorRate; r != nil {
		e.evalShare(rs, kindErrorRate, rs.errWin, now, r.MinCalls, r.Above)
	}
}

func (e *Engine) evalLatency(rs *routeState, now time.Time) {
	if r := rs.rules.Latency; r != nil {
		// The percentile is above the threshold exactly when more than 1-p of the calls were slower.
		e.evalShare(rs, kindLatency, rs.latWin, now, r.MinCalls, 1-r.Percentile)
	}
}

// evalShare fires k while more than the fraction limit of the calls in w were bad, and
// resolves it once no more than that share were, both only while w holds at least minCalls
// calls. Fewer calls are no verdict either way: "1 of 1 calls failed" is no recovery, and an
// empty window after an outage proves nothing, so an open incident stays open (without
// reminders) until enough calls show how the route fares.
func (e *Engine) evalShare(rs *routeState, k kind, w *window, now time.Time, minCalls int, limit float64) {
	w.advance(now)
	s := w.sum
	if s.calls < minCalls || s.calls == 0 {
		rs.holds[k] = false
		return
	}
	rs.holds[k] = float64(s.bad) > limit*float64(s.calls)
	if rs.holds[k] {
		e.fire(rs, k, now, w.firstBad(), s.bad, s.badRecords)
		return
	}
	e.resolve(rs, k, now)
}

func (e *Engine) evalAuth(rs *routeState, now time.Time) {
	r := rs.rules.Auth
	if r == nil {
		return
	}
	rs.holds[kindAuth] = rs.authStreak >= r.Consecutive
	if rs.holds[kindAuth] {
		e.fire(rs, kindAuth, now, rs.authSince, rs.authStreak, rs.authRecords)
		return
	}
	// Only a clean answer from the vendor shows the credentials work again; no calls at all
	// show nothing.
	if rs.authCleared {
		e.resolve(rs, kindAuth, now)
	}
}

// evalConsecutiveFailures fires after Count undelivered calls in a row where the error-rate
// rule cannot judge: the run began at least the error-rate window ago and that window still
// holds fewer than min_calls calls (or error_rate is off). So a busy route's outage is one
// error_rate alert and a short run among many deliveries is none, while a form sending a few
// leads an hour is alerted. It stays quiet while an alert that already explains the failures
// fires (error_rate, auth, contract, retired). Like auth, only a delivery resolves it: no calls
// at all show nothing.
func (e *Engine) evalConsecutiveFailures(rs *routeState, now time.Time) {
	r := rs.rules.ConsecutiveFailures
	if r == nil {
		return
	}
	const k = kindConsecutiveFailures
	if rs.failStreak < r.Count {
		rs.holds[k] = false
		if rs.failCleared {
			e.resolve(rs, k, now)
		}
		return
	}
	if rs.active[k] != nil {
		rs.holds[k] = true
		return
	}
	for _, other := range []kind{kindErrorRate, kindAuth, kindContract, kindRetired} {
		if rs.active[other] != nil {
			rs.holds[k] = false
			return
		}
	}
	if er := rs.rules.ErrorRate; er != nil {
		rs.errWin.advance(now)
		if now.Sub(rs.failSince) < er.Per || rs.errWin.sum.calls >= er.MinCalls {
			rs.holds[k] = false
			return
		}
	}
	rs.holds[k] = true
	e.fire(rs, k, now, rs.failSince, rs.failStreak, rs.failRecords)
}

// lastSign is when the problem of an episode was last seen: its last call, or the open alert's
// last sighting when that is later (after a restart the episode starts empty).
func lastSign(rs *routeState, k kind, ep *episode) time.Time {
	if a := rs.active[k]; a != nil && a.LastSeen.After(ep.last) {
		return a.LastSeen
	}
	return ep.last
}

// endEpisode is the rule of kind k with no episode: it does not hold, and its alert resolves
// once quiet has passed since the problem was last seen.
func (e *Engine) endEpisode(rs *routeState, k kind, last time.Time, quiet time.Duration, now time.Time) {
	rs.holds[k] = false
	if rs.active[k] != nil && now.Sub(last) > quiet {
		e.resolve(rs, k, now)
	}
}

// evalRetired fires as soon as the episode holds Calls calls to a retired endpoint, and
// resolves after a day without one.
func (e *Engine) evalRetired(rs *routeState, now time.Time) {
	r := rs.rules.Retired
	if r == nil {
		return
	}
	d := &rs.retired
	last := lastSign(rs, kindRetired, d)
	if d.calls > 0 && now.Sub(last) > retiredQuiet {
		*d = episode{}
	}
	if d.calls == 0 {
		e.endEpisode(rs, kindRetired, last, retiredQuiet, now)
		return
	}
	rs.holds[kindRetired] = d.calls >= r.Calls
	if rs.holds[kindRetired] {
		e.fire(rs, kindRetired, now, d.first, d.calls, d.records)
	}
}

// notice sends the one notice of a deprecated version first seen on the route: not an
// incident (nothing to acknowledge or resolve, no page), but what the owner needs to plan the
// migration long before the deprecation alert's horizon. It goes to the history with state
// "notice" and to the sinks, which PagerDuty ignores.
func (e *Engine) notice(rs *routeState, f *txn.Finding, now time.Time) {
	if e.follower {
		return // the leader sends the notice (leader.go)
	}
	id := now.UTC().Format("20060102T150405Z") + "-" + rs.name + "-" + KindDeprecation + "-notice"
	if id == rs.lastNotice {
		id += "-" + fmt.Sprint(now.UnixNano()%1000003)
	}
	rs.lastNotice = id
	a := store.Alert{
		ID:       id,
		Route:    rs.name,
		Owner:    rs.owner,
		Kind:     KindDeprecation,
		Severity: kindDeprecation.severity(),
		State:    StateNotice,
		Summary:  noticeText(f, now, rs.rules.Deprecation.SunsetWithin),
		Since:    now,
		FiredAt:  now,
		LastSeen: now,
		Calls:    1,
		Command:  lookCommand(rs.name, kindDeprecation, now),
		Sinks:    rs.sinks,
	}
	external := !e.muted(&a, now) && len(a.Sinks) > 0
	if external {
		a.Notifications, a.LastNotified = 1, now
	}
	e.send(outMsg{n: Notification{Event: EventNotice, Time: now, Alert: a}, external: external})
}

// noticeText is the notice of a deprecated version: what, until when, what to move to.
func noticeText(f *txn.Finding, now time.Time, horizon time.Duration) string {
	var when []string
	if f.Sunset != nil {
		left := f.Sunset.Sub(now)
		if left > 0 {
			when = append(when, fmt.Sprintf("sunset %s, %d days left", f.Sunset.UTC().Format(time.DateOnly), int(left.Hours()/24)))
		} else {
			when = append(when, fmt.Sprintf("sunset %s has passed", f.Sunset.UTC().Format(time.DateOnly)))
		}
	} else {
		when = append(when, "no sunset date known")
	}
	if f.Replacement != "" {
		when = append(when, "move to "+f.Replacement)
	}
	return fmt.Sprintf("first call to a deprecated endpoint on this route: %s (%s); the deprecation alert fires once the sunset is less than %s away",
		strings.TrimSuffix(txn.Truncate(f.Message, 200), "."), strings.Join(when, "; "), FormatDuration(horizon))
}

func (e *Engine) evalDeprecation(rs *routeState, now time.Time) {
	r := rs.rules.Deprecation
	if r == nil {
		return
	}
	d := &rs.dep
	last := lastSign(rs, kindDeprecation, &d.episode)
	if d.calls > 0 && now.Sub(last) > deprecationQuiet {
		// The tool moved off the endpoint: forget this episode.
		*d = deprecationEpisode{}
	}
	if d.calls == 0 {
		e.endEpisode(rs, kindDeprecation, last, deprecationQuiet, now)
		return
	}
	rs.holds[kindDeprecation] = !d.sunset.IsZero() && d.sunset.Sub(now) <= r.SunsetWithin
	if rs.holds[kindDeprecation] {
		e.fire(rs, kindDeprecation, now, d.first, d.calls, d.records)
	}
}

func (e *Engine) evalContract(rs *routeState, now time.Time) {
	r := rs.rules.Contract
	if r == nil {
		return
	}
	rs.conWin.advance(now)
	s := rs.conWin.sum
	rs.holds[kindContract] = s.bad >= r.Rejections
	if rs.holds[kindContract] {
		e.fire(rs, kindContract, now, rs.conWin.firstBad(), s.bad, s.badRecords)
		return
	}
	e.resolve(rs, kindContract, now)
}

// evalCallers fires while the window holds Failures calls of unknown callers, and resolves
// once it holds fewer.
func (e *Engine) evalCallers(rs *routeState, now time.Time) {
	r := rs.rules.Callers
	if r == nil {
		return
	}
	rs.callWin.advance(now)
	s := rs.callWin.sum
	rs.holds[kindCallers] = s.bad >= r.Failures
	if rs.holds[kindCallers] {
		e.fire(rs, kindCallers, now, rs.callWin.firstBad(), s.bad, s.badRecords)
		return
	}
	e.resolve(rs, kindCallers, now)
}

func (e *Engine) evalThrottle(rs *routeState, now time.Time, q QueueStat, ok bool) {
	r := rs.rules.Throttle
	if r == nil {
		return
	}
	rs.throttle = q
	above := ok && q.Saturation > r.QueueAbove
	rs.holds[kindThrottle] = false
	if !above {
		rs.throttleAbove = time.Time{}
		e.resolve(rs, kindThrottle, now)
		return
	}
	if rs.throttleAbove.IsZero() {
		rs.throttleAbove = now
	}
	if now.Sub(rs.throttleAbove) >= r.For {
		rs.holds[kindThrottle] = true
		e.fire(rs, kindThrottle, now, rs.throttleAbove, 0, 0)
	}
}

// remind sends a firing alert again every renotify interval while its condition holds and
// nobody acknowledged it, and sends the first notice of an alert that fired while muted.
func (e *Engine) remind(rs *routeState, now time.Time) {
	for k, a := range rs.active {
		if a == nil || !rs.holds[k] || !a.AckedAt.IsZero() || len(a.Sinks) == 0 || e.muted(a, now) {
			continue // the log has it already
		}
		if a.Notifications == 0 {
			a.Summary = e.describe(rs, kind(k), now)
			e.notify(EventFiring, a, now)
			continue
		}
		every := e.renotify
		if kind(k) == kindDeprecation {
			every = max(every, deprecationRenotifyAtLeast)
		}
		if e.renotify > 0 && now.Sub(a.LastNotified) >= every {
			a.Summary = e.describe(rs, kind(k), now)
			e.notify(EventReminder, a, now)
		}
	}
}

// fire opens an incident unless one is open for this route and rule: one notification per
// incident, however many calls keep proving it.
func (e *Engine) fire(rs *routeState, k kind, now, since time.Time, calls, records int) {
	if rs.active[k] != nil || e.follower {
		return // a follower leaves incidents to the leader (leader.go)
	}
	if since.IsZero() || since.After(now) {
		since = now
	}
	id := now.UTC().Format("20060102T150405Z") + "-" + rs.name + "-" + k.String()
	if id == rs.lastID[k] || e.byID[id] != nil {
		id += "-" + fmt.Sprint(now.UnixNano()%1000003)
	}
	rs.lastID[k] = id
	a := &store.Alert{
		ID:       id,
		Route:    rs.name,
		Owner:    rs.owner,
		Kind:     k.String(),
		Severity: k.severity(),
		State:    store.AlertFiring,
		Since:    since,
		FiredAt:  now,
		LastSeen: now,
		Calls:    calls,
		Records:  records,
		Command:  lookCommand(rs.name, k, since),
		Sinks:    rs.sinks,
	}
	rs.active[k] = a
	a.Summary = e.describe(rs, k, now)
	e.byID[id] = a
	e.metrics.setFiring(rs.name, k.String(), 1)
	e.notify(EventFiring, a, now)
}

// resolve closes the open incident of this route and rule, if any.
func (e *Engine) resolve(rs *routeState, k kind, now time.Time) {
	a := rs.active[k]
	if a == nil {
		return
	}
	rs.active[k] = nil
	rs.holds[k] = false
	delete(e.byID, a.ID)
	a.State = store.AlertResolved
	a.ResolvedAt = now
	a.Resolution = e.resolution(rs, k, now)
	e.metrics.setFiring(rs.name, k.String(), 0)
	e.notify(EventResolved, a, now)
}

func (e *Engine) muted(a *store.Alert, now time.Time) bool {
	until, ok := e.silenced[a.Route+"/"+a.Kind]
	return ok && now.Before(until)
}

// notify records an alert event and hands it to the sinks: the log always, the others unless
// the alert is muted, and a resolution only to sinks that heard of the alert.
func (e *Engine) notify(event string, a *store.Alert, now time.Time) {
	external := !e.muted(a, now) && len(a.Sinks) > 0
	switch event {
	case EventFiring, EventReminder:
		if external {
			a.Notifications++
			a.LastNotified = now
		}
	case EventResolved, EventAcknowledged:
		external = a.Notifications > 0
	}
	e.send(outMsg{n: Notification{Event: event, Time: now, Alert: *a}, external: external})
}

// lookCommand is the command that lists what an alert is about.
func lookCommand(route string, k kind, since time.Time) string {
	if k == kindSharedLimits {
		return "mtguard limits" // its shared line says since when and in which mode
	}
	if k == kindStoreWrite || k == kindNotifyFailing {
		return "mtguard health" // its store or sink line says what fails; the log has every failure
	}
	cmd := "mtguard log --route " + route + " --since " + since.UTC().Truncate(time.Minute).Format(time.RFC3339)
	if k == kindContract {
		cmd += " --outcome rejected"
	}
	if k == kindCallers {
		cmd += " --finding " + txn.CodeCallerUnknown
	}
	return cmd
}

// moveTo names the replacement, unless the message already does.
func moveTo(message, replacement string) string {
	if replacement == "" || strings.Contains(message, replacement) {
		return ""
	}
	return "; move to " + replacement
}

func ratio(a, b int) float64 {
	if b == 0 {
		return 0
	}
	return float64(a) / float64(b)
}

// describe says what is wrong, with numbers; mu is held.
func (e *Engine) describe(rs *routeState, k kind, now time.Time) string {
	switch k {
	case kindSilence:
		r := rs.rules.Silence
		expect := fmt.Sprintf("expected at least %d per %s", r.Min, FormatDuration(r.Per))
		if r.During != nil {
			expect += " during " + r.During.String()
		}
		var s string
		if n := rs.deliveries.countSince(now.Add(-r.Per)); n > 0 {
			s = fmt.Sprintf("only %d deliveries in the last %s (%s)", n, FormatDuration(r.Per), expect)
		} else if rs.lastDelivery.IsZero() {
			s = fmt.Sprintf("no delivery since mtguard started watching %s ago (%s)", FormatDuration(now.Sub(rs.watchFrom).Round(time.Minute)), expect)
		} else {
			s = fmt.Sprintf("no delivery for %s (%s)", FormatDuration(now.Sub(rs.lastDelivery).Round(time.Minute)), expect)
		}
		if u := rs.undelivered.calls; u > 0 {
			return s + fmt.Sprintf("; %d calls arrived since the last delivery and none was delivered", u)
		}
		return s + "; no calls arrived at all"
	case kindErrorRate:
		r, w := rs.rules.ErrorRate, rs.errWin.sum
		return fmt.Sprintf("%d of %d calls failed in the last %s (%s, threshold %s)",
			w.bad, w.calls, FormatDuration(r.Per), FormatPercent(ratio(w.bad, w.calls)), FormatPercent(r.Above))
	case kindLatency:
		r, w := rs.rules.Latency, rs.latWin.sum
		return fmt.Sprintf("p%s latency above %s in the last %s: %d of %d calls were slower",
			trimFloat(r.Percentile*100), FormatDuration(r.Above), FormatDuration(r.Per), w.bad, w.calls)
	case kindAuth:
		return fmt.Sprintf("%d calls in a row refused for their credentials (%s): the vendor rejects every call until someone renews the token or key",
			rs.authStreak, rs.authCode)
	case kindDeprecation:
		d := rs.dep
		left := d.sunset.Sub(now)
		when := fmt.Sprintf("sunset %s, %d days left", d.sunset.UTC().Format(time.DateOnly), int(left.Hours()/24))
		if left <= 0 {
			when = fmt.Sprintf("sunset %s has passed", d.sunset.UTC().Format(time.DateOnly))
		}
		msg := ""
		if d.message != "" {
			msg = ": " + txn.Truncate(d.message, 200)
		}
		return fmt.Sprintf("%d calls went to a deprecated endpoint (%s)%s%s", d.calls, when, msg, moveTo(d.message, d.replacement))
	case kindRetired:
		d := rs.retired
		msg := ""
		if d.message != "" {
			msg = ": " + txn.Truncate(d.message, 200)
		}
		return fmt.Sprintf("%d calls went to an endpoint the vendor has retired; they fail or are answered by another version%s%s", d.calls, msg, moveTo(d.message, d.replacement))
	case kindConsecutiveFailures:
		s := fmt.Sprintf("%d calls in a row were not delivered (last: %s)", rs.failStreak, rs.failLast)
		if rs.lastDelivery.IsZero() {
			return s + "; no delivery since mtguard started watching"
		}
		return s + "; no delivery since " + rs.lastDelivery.UTC().Format("2006-01-02 15:04 MST")
	case kindContract:
		r, w := rs.rules.Contract, rs.conWin.sum
		return fmt.Sprintf("%d calls rejected by a pinned contract in the last %s (threshold %d); they were not forwarded",
			w.bad, FormatDuration(r.Per), r.Rejections)
	case kindCallers:
		r, w := rs.rules.Callers, rs.callWin.sum
		return fmt.Sprintf("%d calls matched none of the route's callers in the last %s (threshold %d); they were refused with 401 and not forwarded: a tool may have lost its key or secret, or someone is trying the route",
			w.bad, FormatDuration(r.Per), r.Failures)
	case kindThrottle:
		r, q := rs.rules.Throttle, rs.throttle
		return fmt.Sprintf("throttle queue of group %s is %s full (threshold %s) with %d calls waiting",
			q.Group, FormatPercent(q.Saturation), FormatPercent(r.QueueAbove), q.Depth)
	case kindStoreWrite:
		return e.storeSummary()
	case kindSharedLimits:
		return e.limitsSummary()
	case kindNotifyFailing:
		if ss := e.sinkFor(rs.name); ss != nil && !ss.failingSince.IsZero() {
			return e.sinkSummary(ss, now)
		}
	}
	return k.String()
}

// resolution says why an alert resolved; mu is held.
func (e *Engine) resolution(rs *routeState, k kind, now time.Time) string {
	switch k {
	case kindSilence:
		r := rs.rules.Silence
		return fmt.Sprintf("deliveries resumed: %d in the last %s", rs.deliveries.countSince(now.Add(-r.Per)), FormatDuration(r.Per))
	case kindErrorRate:
		r, w := rs.rules.ErrorRate, rs.errWin.sum
		return fmt.Sprintf("%d of %d calls failed in the last %s (%s, threshold %s)",
			w.bad, w.calls, FormatDuration(r.Per), FormatPercent(ratio(w.bad, w.calls)), FormatPercent(r.Above))
	case kindLatency:
		r, w := rs.rules.Latency, rs.latWin.sum
		return fmt.Sprintf("%d of %d calls slower than %s in the last %s", w.bad, w.calls, FormatDuration(r.Above), FormatDuration(r.Per))
	case kindAuth:
		return "the vendor accepted the credentials again"
	case kindDeprecation:
		return fmt.Sprintf("no call has reached a deprecated endpoint for %s", FormatDuration(deprecationQuiet))
	case kindRetired:
		return fmt.Sprintf("no call has reached a retired endpoint for %s", FormatDuration(retiredQuiet))
	case kindConsecutiveFailures:
		return "a call was delivered again"
	case kindContract:
		r, w := rs.rules.Contract, rs.conWin.sum
		return fmt.Sprintf("%d contract rejections in the last %s", w.bad, FormatDuration(r.Per))
	case kindCallers:
		r, w := rs.rules.Callers, rs.callWin.sum
		return fmt.Sprintf("%d calls of unknown callers in the last %s", w.bad, FormatDuration(r.Per))
	case kindThrottle:
		return "the throttle queue drained"
	case kindStoreWrite:
		return "the transaction log writes again; the writes it held are applied"
	case kindNotifyFailing:
		return "the sink accepted a notification again"
	case kindSharedLimits:
		return "Redis answers again: every instance shares the vendors' budgets again"
	}
	return "recovered"
}
