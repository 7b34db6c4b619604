package alerts

import (
	"fmt"
	"strings"

	"github.com/mtguard/mtguard/store"
	"github.com/mtguard/mtguard/txn"
)

// KindDeadLetter is the notice sent when mtguard gives up delivering a call (a dead letter of
// the delivery queue): like a deprecation notice, information for the route's owner, with
// nothing to acknowledge or resolve.
const KindDeadLetter = "dead_letter"

// DeadLetter tells the route's owner, through the route's sinks and the alert history, that
// mtguard gave up delivering call id: its record keys and the last error say which lead and
// why. It never blocks.
func (e *Engine) DeadLetter(route, id string, recordKeys []string, attempts int, reason string) {
	e.mu.Lock()
	defer e.mu.Unlock()
	rs := e.routes[route]
	if rs == nil {
		return
	}
	now := e.now()
	keys := strings.Join(recordKeys, ", ")
	if keys == "" {
		keys = "no record keys"
	}
	a := store.Alert{
		ID:       now.UTC().Format("20060102T150405Z") + "-" + route + "-" + KindDeadLetter + "-" + id,
		Route:    route,
		Owner:    rs.owner,
		Kind:     KindDeadLetter,
		Severity: "error",
		State:    StateNotice,
		Summary: txn.Truncate(fmt.Sprintf("mtguard gave up delivering call %s (%s) after %d attempt(s): %s; mtguard deliveries retry %s sends it again once the cause is fixed",
			id, keys, attempts, reason, id), 1000),
		Since:    now,
		FiredAt:  now,
		LastSeen: now,
		Calls:    1,
		Records:  len(recordKeys),
		Command:  "mtguard deliveries --route " + route + " --state dead",
		Sinks:    rs.sinks,
	}
	external := !e.muted(&a, now) && len(a.Sinks) > 0
	if external {
		a.Notifications, a.LastNotified = 1, now
	}
	e.send(outMsg{n: Notification{Event: EventNotice, Time: now, Alert: a}, external: external})
}
