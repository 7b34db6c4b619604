package alerts

import (
	"fmt"
	"strings"
	"time"

	"github.com/mtguard/mtguard/store"
	"github.com/mtguard/mtguard/txn"
)

// KindJourney is the kind of the notice sent when records of a journey are lost in transit.
const KindJourney = "journey"

// Report is a problem found outside the engine's rules (by the journeys engine), to be told
// like an alert: to the history, the log and the sinks.
type Report struct {
	// Subject stands in the alert's route field: the journey's name.
	Subject string
	Kind    string
	Owner   string
	// Severity is critical, error or warning.
	Severity string
	Summary  string
	Since    time.Time
	Calls    int
	Records  int
	Command  string
}

// maxReportKeys bounds the record keys a journey notice lists; the command lists them all.
const maxReportKeys = 20

// JourneyReport is the report of records lost in transit on a journey: the owner, the keys
// (at most 20 named) and where each stopped.
func JourneyReport(journey, owner string, keys, stops []string, since time.Time) Report {
	var b strings.Builder
	fmt.Fprintf(&b, "%d record(s) entered journey %s and did not arrive in time: ", len(keys), journey)
	for i, k := range keys {
		if i == maxReportKeys {
			fmt.Fprintf(&b, "; and %d more", len(keys)-i)
			break
		}
		if i > 0 {
			b.WriteString("; ")
		}
		b.WriteString(k)
		if i < len(stops) {
			b.WriteString(" stopped " + stops[i])
		}
	}
	return Report{Subject: journey, Kind: KindJourney, Owner: owner, Severity: "error", Summary: txn.Truncate(b.String(), 4000),
		Since: since, Calls: len(keys), Records: len(keys), Command: "mtguard journeys --stuck --journey " + journey}
}

// Report sends r as a notice to the history, the log and every sink (PagerDuty ignores
// notices): nothing to resolve, each report stands alone.
func (e *Engine) Report(r Report) {
	now := e.now()
	var sinks []string
	for _, w := range e.workers {
		sinks = append(sinks, w.sink.Name())
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	id := now.UTC().Format("20060102T150405Z") + "-" + r.Subject + "-" + r.Kind + fmt.Sprintf("-%d", now.UnixNano()%1000003)
	a := store.Alert{
		ID:       id,
		Route:    r.Subject,
		Owner:    r.Owner,
		Kind:     r.Kind,
		Severity: r.Severity,
		State:    StateNotice,
		Summary:  r.Summary,
		Since:    r.Since,
		FiredAt:  now,
		LastSeen: now,
		Calls:    r.Calls,
		Records:  r.Records,
		Command:  r.Command,
		Sinks:    sinks,
	}
	external := !e.muted(&a, now) && len(a.Sinks) > 0
	if external {
		a.Notifications, a.LastNotified = 1, now
	}
	e.send(outMsg{n: Notification{Event: EventNotice, Time: now, Alert: a}, external: external})
}
