package inspect

import (
	"cmp"
	"context"
	"fmt"
	"regexp"
	"slices"
	"strings"
	"time"

	"github.com/mtguard/mtguard/alerts"
	"github.com/mtguard/mtguard/store"
	"github.com/mtguard/mtguard/txn"
)

// A postmortem is the written account of an incident, built from what the store holds: the
// calls of the route, the alerts with each notification's fate, and the replays. Nothing is
// guessed: what was not recorded is listed in Unknown and left empty (a null time, a null
// duration), and the cause and the follow-ups are left for people to write.

// PostmortemVersion is the version of the Postmortem JSON.
const PostmortemVersion = 1

// The timeline's event kinds, in the order the same instant lists them.
const (
	TimelineFirstFailure = "first_failure"
	TimelineDetected     = "detected"
	TimelineNotified     = "notified"
	TimelineAcknowledged = "acknowledged"
	TimelineLastFailure  = "last_failure"
	TimelineFixed        = "fixed"
	TimelineRecovered    = "recovered"
	TimelineReplayed     = "replayed"
)

// PostmortemRequest selects the incident: one alert, or a route over a window.
type PostmortemRequest struct {
	Alert string
	Route string
	Since time.Time
	Until time.Time
}

// Postmortem is the report: GET /api/postmortems, mtguard postmortem --format json.
type Postmortem struct {
	Version   int       `json:"version"`
	Generated time.Time `json:"generated"`
	Route     string    `json:"route"`
	// Alert is the alert the report was asked for, if any.
	Alert string `json:"alert,omitempty"`
	// Since and Until bound the incident's calls.
	Since time.Time `json:"since"`
	Until time.Time `json:"until"`
	// Owner is the route's owner as the alerts named it; empty when unknown.
	Owner    string              `json:"owner"`
	Summary  PostmortemSummary   `json:"summary"`
	Timeline []TimelineEvent     `json:"timeline"`
	Times    PostmortemTimes     `json:"times"`
	Alerts   []store.Alert       `json:"alerts"`
	Findings []PostmortemFinding `json:"findings"`
	Replays  PostmortemReplays   `json:"replays"`
	// Undelivered lists the records of failed calls that no later call delivered.
	Undelivered PostmortemUndelivered `json:"undelivered"`
	// Unknown says what the record cannot tell.
	Unknown []string `json:"unknown"`
	// Cause and FollowUps are for people to write.
	Cause     string   `json:"cause"`
	FollowUps []string `json:"follow_ups"`
}

// PostmortemSummary is what broke and the impact.
type PostmortemSummary struct {
	WhatBroke string `json:"what_broke"`
	// Calls and Records count the incident's calls (replays not included) and their distinct
	// record keys; Failed and FailedRecords those not delivered.
	Calls         int            `json:"calls"`
	Records       int            `json:"records"`
	Failed        int            `json:"failed"`
	FailedRecords int            `json:"failed_records"`
	ByOutcome     []OutcomeCount `json:"by_outcome"`
}

// OutcomeCount is the calls and distinct records of one outcome.
type OutcomeCount struct {
	Outcome txn.Outcome `json:"outcome"`
	Calls   int         `json:"calls"`
	Records int         `json:"records"`
}

// TimelineEvent is one moment of the incident.
type TimelineEvent struct {
	Time   time.Time `json:"time"`
	Event  string    `json:"event"`
	Detail string    `json:"detail"`
	// Alert, Sink and Accepted are set on detection, notification and acknowledgement events;
	// Accepted says whether the sink took the notification.
	Alert    string `json:"alert,omitempty"`
	Sink     string `json:"sink,omitempty"`
	Accepted *bool  `json:"accepted,omitempty"`
	// Transaction is the call that marks a failure, a fix or a replay.
	Transaction string `json:"transaction,omitempty"`
	of          string // a notification's alert event, for the order of one instant
}

// timelineRank orders the events of one instant as they follow from each other: a
// notification comes right after the event it tells of.
func timelineRank(e TimelineEvent) int {
	order := []string{TimelineFirstFailure, TimelineDetected, TimelineAcknowledged, TimelineLastFailure, TimelineFixed, TimelineRecovered, TimelineReplayed}
	if e.Event != TimelineNotified {
		return 2 * slices.Index(order, e.Event)
	}
	switch e.of {
	case alerts.EventAcknowledged:
		return 2*slices.Index(order, TimelineAcknowledged) + 1
	case alerts.EventResolved:
		return 2*slices.Index(order, TimelineRecovered) + 1
	}
	return 2*slices.Index(order, TimelineDetected) + 1
}

// PostmortemTimes are the incident's durations in seconds; null when unknown.
type PostmortemTimes struct {
	// ToDetect runs from the first failure to the first alert.
	ToDetect *float64 `json:"to_detect_s"`
	// ToAcknowledge runs from the first alert to its first acknowledgement.
	ToAcknowledge *float64 `json:"to_acknowledge_s"`
	// ToRecover runs from the first failure to the alert's resolution (or, without one, to the
	// first delivery after the last failure).
	ToRecover *float64 `json:"to_recover_s"`
}

// PostmortemFinding is one finding code of the incident's calls.
type PostmortemFinding struct {
	Code  string `json:"code"`
	Title string `json:"title"`
	Calls int    `json:"calls"`
	// Docs is mtguard's page on the code; VendorDocs the vendor pages the rules cited.
	Docs       string   `json:"docs"`
	VendorDocs []string `json:"vendor_docs"`
	Example    string   `json:"example"` // the message of one call
}

// PostmortemReplays is what was resent of the incident's failed calls, and how it went.
type PostmortemReplays struct {
	Calls     int                `json:"calls"`
	ByOutcome []OutcomeCount     `json:"by_outcome"`
	Items     []PostmortemReplay `json:"items"`
}

// PostmortemReplay is one resend of a failed call.
type PostmortemReplay struct {
	Time     time.Time   `json:"time"`
	Original string      `json:"original"`
	Replay   string      `json:"replay"`
	Outcome  txn.Outcome `json:"outcome"`
	Actor    string      `json:"actor,omitempty"`
}

// PostmortemUndelivered is what is still not delivered.
type PostmortemUndelivered struct {
	Records int      `json:"records"`
	Keys    []string `json:"keys"` // at most maxUndeliveredKeys
	// Calls are the failed calls none of whose records was delivered later.
	Calls []string `json:"calls"`
}

// Bounds of a postmortem.
const (
	maxUndeliveredKeys = 200
	// maxPostmortemCalls caps the calls read for one report.
	maxPostmortemCalls = 200000
	// callLookback is how long before the incident's start a call of it may have begun.
	callLookback = time.Hour
)

// PostmortemSource is what a postmortem reads: the log and the alerts (with deliveries).
type PostmortemSource struct {
	Transactions Transactions
	Alerts       *alerts.Engine
	Now          func() time.Time
}

// BuildPostmortem writes the report of req from the record.
func BuildPostmortem(ctx context.Context, src PostmortemSource, req PostmortemRequest) (Postmortem, error) {
	now := time.Now
	if src.Now != nil {
		now = src.Now
	}
	pm := Postmortem{Version: PostmortemVersion, Generated: now().UTC(), Timeline: []TimelineEvent{},
		Alerts: []store.Alert{}, Findings: []PostmortemFinding{}, Unknown: []string{}, FollowUps: []string{},
		Replays:     PostmortemReplays{ByOutcome: []OutcomeCount{}, Items: []PostmortemReplay{}},
		Undelivered: PostmortemUndelivered{Keys: []string{}, Calls: []string{}}}
	switch {
	case req.Alert != "":
		if src.Alerts == nil {
			return pm, fmt.Errorf("postmortem of alert %s: %w", req.Alert, errNotConfigured)
		}
		a, err := src.Alerts.Alert(req.Alert)
		if err != nil {
			return pm, err
		}
		pm.Alert, pm.Route, pm.Since, pm.Until = a.ID, a.Route, a.Since, a.ResolvedAt
		if pm.Until.IsZero() {
			pm.Until = pm.Generated
		}
		pm.Alerts = append(pm.Alerts, a)
	case req.Route != "":
		if req.Since.IsZero() {
			return pm, problemf(errBadRequest, "a postmortem of route %s needs since (and until, or it runs to now)", req.Route)
		}
		pm.Route, pm.Since, pm.Until = req.Route, req.Since, req.Until
		if pm.Until.IsZero() {
			pm.Until = pm.Generated
		}
		if !pm.Until.After(pm.Since) {
			return pm, problemf(errBadRequest, "until %s is not after since %s", pm.Until.Format(time.RFC3339), pm.Since.Format(time.RFC3339))
		}
		if src.Alerts != nil {
			list, err := src.Alerts.List(store.AlertQuery{Route: req.Route, Limit: 1000})
			if err != nil {
				return pm, err
			}
			for _, a := range list {
				end := cmp.Or(a.ResolvedAt, pm.Generated)
				if a.State != alerts.StateNotice && a.FiredAt.Before(pm.Until) && !end.Before(pm.Since) {
					pm.Alerts = append(pm.Alerts, a)
				}
			}
			slices.SortFunc(pm.Alerts, func(a, b store.Alert) int { return a.FiredAt.Compare(b.FiredAt) })
		}
	default:
		return pm, problemf(errBadRequest, "name an alert (alert=ID) or a route and a window (route=R&since=T&until=T)")
	}
	pm.Since, pm.Until = pm.Since.UTC(), pm.Until.UTC()
	for _, a := range pm.Alerts {
		if pm.Owner == "" {
			pm.Owner = a.Owner
		}
	}
	if pm.Owner == "" && src.Alerts != nil {
		for _, r := range src.Alerts.Health().Routes {
			if r.Route == pm.Route {
				pm.Owner = r.Owner
			}
		}
	}
	if pm.Owner == "" {
		pm.Unknown = append(pm.Unknown, "the route has no owner in the config")
	}

	// Every call of the route from the incident's start to now: the incident's own, the
	// replays of its failures, and later calls that delivered its records.
	var calls []txn.Transaction
	// An alert's since is when its first evidence ended; the call began up to a route timeout
	// (and a throttle wait) earlier.
	q := store.Query{Route: pm.Route, Since: pm.Since.Add(-callLookback), Limit: 1000, Ascending: true}
	for {
		page, err := src.Transactions.Query(ctx, q)
		if err != nil {
			return pm, err
		}
		calls = append(calls, page.Transactions...)
		if page.Next == "" {
			break
		}
		if len(calls) >= maxPostmortemCalls {
			pm.Unknown = append(pm.Unknown, fmt.Sprintf("only the first %d calls since the incident began were read", len(calls)))
			break
		}
		q.Cursor = page.Next
	}
	pm.build(calls)
	return pm, nil
}

// failure reports whether a call of the route's own traffic was not delivered: a stranger's
// refused call and a call still in flight are not the incident.
func failure(tx *txn.Transaction) bool {
	switch tx.Outcome {
	case txn.OutcomeDelivered, txn.OutcomePending:
		return false
	}
	return !hasCode(tx, txn.CodeCallerUnknown)
}

func hasCode(tx *txn.Transaction, code string) bool {
	return slices.ContainsFunc(tx.Findings, func(f txn.Finding) bool { return f.Code == code })
}

// callEnd is when a call ended.
func callEnd(tx *txn.Transaction) time.Time {
	return tx.Time.Add(time.Duration(tx.DurationMS * float64(time.Millisecond)))
}

func delivered(tx *txn.Transaction) bool {
	return tx.Outcome == txn.OutcomeDelivered || tx.Outcome == txn.OutcomePartial
}

var vendorDocRE = regexp.MustCompile(`see (https?://\S+)`)

// build fills in everything that comes from the calls and the alerts.
func (pm *Postmortem) build(calls []txn.Transaction) {
	type tally struct {
		calls   int
		records map[string]bool
	}
	byOutcome := map[txn.Outcome]*tally{}
	all, failedRecs := map[string]bool{}, map[string]bool{}
	findings := map[string]*PostmortemFinding{}
	failedIDs := map[string]bool{}
	var firstFail, lastFail *txn.Transaction
	drills := map[string]int{}
	for i := range calls {
		tx := &calls[i]
		// A call is the incident's when it ended at or after its start and began before its end.
		in := !callEnd(tx).Before(pm.Since) && tx.Time.Before(pm.Until)
		if tx.Drill != "" && in {
			drills[tx.Drill]++ // a rehearsal, not the incident
			continue
		}
		if tx.ReplayOf != "" || !in || tx.Outcome == txn.OutcomePending || hasCode(tx, txn.CodeCallerUnknown) {
			continue
		}
		pm.Summary.Calls++
		t := byOutcome[tx.Outcome]
		if t == nil {
			t = &tally{records: map[string]bool{}}
			byOutcome[tx.Outcome] = t
		}
		t.calls++
		for _, k := range tx.RecordKeys {
			t.records[k] = true
			all[k] = true
		}
		if !failure(tx) {
			continue
		}
		pm.Summary.Failed++
		failedIDs[tx.ID] = true
		for _, k := range tx.RecordKeys {
			failedRecs[k] = true
		}
		if firstFail == nil {
			firstFail = tx
		}
		lastFail = tx
		for _, f := range tx.Findings {
			pf := findings[f.Code]
			if pf == nil {
				pf = &PostmortemFinding{Code: f.Code, VendorDocs: []string{}, Example: f.Message}
				if spec, ok := txn.Lookup(f.Code); ok {
					pf.Title, pf.Docs = spec.Title, spec.DocsURL()
				}
				findings[f.Code] = pf
			}
			pf.Calls++
			for _, m := range vendorDocRE.FindAllStringSubmatch(f.Detail, -1) {
				u := strings.TrimRight(m[1], ".,;)")
				if !slices.Contains(pf.VendorDocs, u) {
					pf.VendorDocs = append(pf.VendorDocs, u)
				}
			}
		}
	}
	pm.Summary.Records, pm.Summary.FailedRecords = len(all), len(failedRecs)
	for _, id := range slices.Sorted(mapKeys(drills)) {
		pm.Unknown = append(pm.Unknown, fmt.Sprintf("%d calls of drill %s fall in the window; they are left out of the counts (mtguard drill status %s)", drills[id], id, id))
	}
	pm.Summary.ByOutcome = outcomeCounts(func(yield func(txn.Outcome, int, int)) {
		for o, t := range byOutcome {
			yield(o, t.calls, len(t.records))
		}
	})
	for _, code := range slices.Sorted(mapKeys(findings)) {
		pm.Findings = append(pm.Findings, *findings[code])
	}
	slices.SortStableFunc(pm.Findings, func(a, b PostmortemFinding) int { return b.Calls - a.Calls })
	pm.Summary.WhatBroke = pm.whatBroke()

	// Replays of the failures, and what delivered each failed record afterwards.
	replayOut := map[txn.Outcome]int{}
	deliveredAt := map[string]time.Time{} // record -> last delivery
	var fix *txn.Transaction
	for i := range calls {
		tx := &calls[i]
		if tx.ReplayOf != "" && failedIDs[tx.ReplayOf] && tx.Outcome != txn.OutcomePending {
			pm.Replays.Calls++
			replayOut[tx.Outcome]++
			pm.Replays.Items = append(pm.Replays.Items, PostmortemReplay{Time: tx.Time.UTC(), Original: tx.ReplayOf, Replay: tx.ID, Outcome: tx.Outcome, Actor: tx.Actor})
		}
		if delivered(tx) {
			for _, k := range tx.RecordKeys {
				deliveredAt[k] = tx.Time
			}
			if fix == nil && lastFail != nil && tx.ReplayOf == "" && tx.Drill == "" && tx.Time.After(lastFail.Time) {
				fix = tx
			}
		}
	}
	pm.Replays.ByOutcome = outcomeCounts(func(yield func(txn.Outcome, int, int)) {
		for o, n := range replayOut {
			yield(o, n, 0)
		}
	})
	undelivered := map[string]bool{}
	for i := range calls {
		tx := &calls[i]
		if !failedIDs[tx.ID] {
			continue
		}
		lost := len(tx.RecordKeys) > 0
		for _, k := range tx.RecordKeys {
			if at, ok := deliveredAt[k]; ok && !at.Before(tx.Time) {
				lost = false
				continue
			}
			undelivered[k] = true
		}
		if lost {
			pm.Undelivered.Calls = append(pm.Undelivered.Calls, tx.ID)
		}
	}
	pm.Undelivered.Records = len(undelivered)
	keys := slices.Sorted(mapKeys(undelivered))
	pm.Undelivered.Keys = keys[:min(len(keys), maxUndeliveredKeys)]
	if len(failedIDs) > 0 && pm.Summary.FailedRecords == 0 {
		pm.Unknown = append(pm.Unknown, "the failed calls carried no record keys (the route's contract names none), so which records were lost is unknown")
	}

	pm.timeline(firstFail, lastFail, fix)
}

// outcomeCounts lists counts in the outcomes' order of severity.
func outcomeCounts(each func(yield func(txn.Outcome, int, int))) []OutcomeCount {
	out := []OutcomeCount{}
	each(func(o txn.Outcome, calls, records int) {
		out = append(out, OutcomeCount{Outcome: o, Calls: calls, Records: records})
	})
	order := []txn.Outcome{txn.OutcomeDelivered, txn.OutcomePartial, txn.OutcomeFailed, txn.OutcomeUnreachable,
		txn.OutcomeTimeout, txn.OutcomeRejected, txn.OutcomeThrottled, txn.OutcomeInterrupted}
	rank := func(o txn.Outcome) int {
		if i := slices.Index(order, o); i >= 0 {
			return i
		}
		return len(order)
	}
	slices.SortFunc(out, func(a, b OutcomeCount) int {
		return cmp.Or(rank(a.Outcome)-rank(b.Outcome), strings.Compare(string(a.Outcome), string(b.Outcome)))
	})
	return out
}

func mapKeys[V any](m map[string]V) func(func(string) bool) {
	return func(yield func(string) bool) {
		for k := range m {
			if !yield(k) {
				return
			}
		}
	}
}

// whatBroke says in a sentence what the record shows.
func (pm *Postmortem) whatBroke() string {
	if pm.Summary.Failed == 0 && len(pm.Alerts) == 0 {
		return fmt.Sprintf("no call of route %s failed and no alert fired in this window", pm.Route)
	}
	s := fmt.Sprintf("%d of %d calls of route %s were not delivered", pm.Summary.Failed, pm.Summary.Calls, pm.Route)
	if len(pm.Findings) > 0 {
		s += fmt.Sprintf(" (mostly %s: %s)", pm.Findings[0].Code, pm.Findings[0].Title)
	}
	for i, a := range pm.Alerts {
		if i == 0 {
			s += "; alerts: "
		} else {
			s += ", "
		}
		s += a.Kind
	}
	return s
}

// timeline puts what happened in order and measures the times between.
func (pm *Postmortem) timeline(firstFail, lastFail, fix *txn.Transaction) {
	var ev []TimelineEvent
	add := func(e TimelineEvent) { e.Time = e.Time.UTC(); ev = append(ev, e) }
	if firstFail != nil {
		add(TimelineEvent{Time: firstFail.Time, Event: TimelineFirstFailure, Transaction: firstFail.ID,
			Detail: fmt.Sprintf("%s %s answered %d: %s", firstFail.Method, firstFail.Path, firstFail.Status, firstFail.Outcome)})
		add(TimelineEvent{Time: lastFail.Time, Event: TimelineLastFailure, Transaction: lastFail.ID,
			Detail: fmt.Sprintf("%s %s answered %d: %s", lastFail.Method, lastFail.Path, lastFail.Status, lastFail.Outcome)})
	} else {
		pm.Unknown = append(pm.Unknown, "no failed call of the route is in the window")
	}
	if fix != nil {
		add(TimelineEvent{Time: fix.Time, Event: TimelineFixed, Transaction: fix.ID, Detail: "the first call delivered after the last failure"})
	} else if lastFail != nil {
		pm.Unknown = append(pm.Unknown, "no call was delivered after the last failure: when (or whether) it was fixed is unknown")
	}
	var detected, acked, recovered time.Time
	for _, a := range pm.Alerts {
		add(TimelineEvent{Time: a.FiredAt, Event: TimelineDetected, Alert: a.ID, Detail: fmt.Sprintf("%s alert fired (%s): %s", a.Kind, a.Severity, a.Summary)})
		if detected.IsZero() || a.FiredAt.Before(detected) {
			detected = a.FiredAt
		}
		for _, d := range a.Deliveries {
			ok := d.Result == store.NotifyDelivered
			detail := fmt.Sprintf("%s notification to %s: %s after %d attempt", d.Event, d.Sink, d.Result, d.Attempts)
			if d.Attempts != 1 {
				detail += "s"
			}
			if d.Status != 0 {
				detail += fmt.Sprintf(" (HTTP %d)", d.Status)
			}
			if d.Error != "" {
				detail += ": " + d.Error
			}
			add(TimelineEvent{Time: d.Time, Event: TimelineNotified, Alert: a.ID, Sink: d.Sink, Accepted: &ok, Detail: detail, of: d.Event})
		}
		if a.Notifications > 0 && len(a.Deliveries) == 0 {
			pm.Unknown = append(pm.Unknown, fmt.Sprintf("alert %s was handed to sinks %d times, but no delivery attempt was recorded (an mtguard older than the notification record)", a.ID, a.Notifications))
		}
		if !a.AckedAt.IsZero() {
			who := cmp.Or(a.AckedBy, "someone (not named)")
			detail := "acknowledged by " + who
			if a.AckComment != "" {
				detail += ": " + a.AckComment
			}
			add(TimelineEvent{Time: a.AckedAt, Event: TimelineAcknowledged, Alert: a.ID, Detail: detail})
			if acked.IsZero() || a.AckedAt.Before(acked) {
				acked = a.AckedAt
			}
		}
		if !a.ResolvedAt.IsZero() {
			add(TimelineEvent{Time: a.ResolvedAt, Event: TimelineRecovered, Alert: a.ID, Detail: a.Kind + " alert resolved: " + a.Resolution})
			if a.ResolvedAt.After(recovered) {
				recovered = a.ResolvedAt
			}
		}
	}
	if len(pm.Replays.Items) > 0 {
		first := pm.Replays.Items[0]
		var parts []string
		for _, oc := range pm.Replays.ByOutcome {
			parts = append(parts, fmt.Sprintf("%d %s", oc.Calls, oc.Outcome))
		}
		add(TimelineEvent{Time: first.Time, Event: TimelineReplayed, Transaction: first.Replay,
			Detail: fmt.Sprintf("%d failed calls replayed from here on: %s", pm.Replays.Calls, strings.Join(parts, ", "))})
	}
	slices.SortStableFunc(ev, func(a, b TimelineEvent) int {
		return cmp.Or(a.Time.Compare(b.Time), timelineRank(a)-timelineRank(b))
	})
	pm.Timeline = append(pm.Timeline, ev...)

	secs := func(from, to time.Time) *float64 {
		if from.IsZero() || to.IsZero() {
			return nil
		}
		s := to.Sub(from).Seconds()
		return &s
	}
	switch {
	case len(pm.Alerts) == 0:
		pm.Unknown = append(pm.Unknown, "no alert fired: the incident was not detected by mtguard")
	case acked.IsZero():
		pm.Unknown = append(pm.Unknown, "no alert was acknowledged")
	}
	if firstFail != nil {
		pm.Times.ToDetect = secs(firstFail.Time, detected)
		end := recovered
		if end.IsZero() && fix != nil {
			end = fix.Time
		}
		pm.Times.ToRecover = secs(firstFail.Time, end)
	}
	pm.Times.ToAcknowledge = secs(detected, acked)
	if len(pm.Alerts) > 0 && recovered.IsZero() {
		pm.Unknown = append(pm.Unknown, "the alert has not resolved")
	}
}
