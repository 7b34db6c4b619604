package store

import (
	"cmp"
	"context"
	"fmt"
	"slices"
	"time"

	"github.com/mtguard/mtguard/txn"
)

// Log is the transaction log's contract: what the composition root, the pipeline, the admin
// API and the alert engine use of a store. *Store (bbolt) satisfies it, and so does the
// PostgreSQL backend (package pgstore); the suite in store/storetest runs against both.
// Consumers keep declaring the narrower interfaces they need (proxy.Recorder,
// inspect.Transactions, alerts.Store...): Log is their union, for code that holds a whole store.
type Log interface {
	// NewID returns a fresh, time-ordered transaction id.
	NewID(t time.Time) string
	// RecordIntent durably records the request side of tx (assigning tx.ID when empty) and
	// returns once it is committed: the call may then be forwarded.
	RecordIntent(ctx context.Context, tx *txn.Transaction) error
	// RecordProvisional durably records r as the result tx gets if the process dies first.
	RecordProvisional(ctx context.Context, tx *txn.Transaction, r txn.Result) error
	// RecordResult queues tx's outcome; reads started afterwards see it.
	RecordResult(tx *txn.Transaction) error
	// Sync waits until every write queued before it is durable.
	Sync(ctx context.Context) error

	// Get returns the transaction with id, or an error wrapping ErrNotFound.
	Get(ctx context.Context, id string) (txn.Transaction, error)
	// Query returns one page of matching transactions; a cursor the store did not issue is an
	// error wrapping ErrBadCursor.
	Query(ctx context.Context, q Query) (Page, error)
	// SendTimes returns when the calls of routes were recorded since a time, oldest first.
	SendTimes(routes []string, since time.Time, max int) ([]time.Time, error)
	// Forget erases every transaction carrying key (scrubbing it out of batches that carry
	// other record keys) and reports where the calls went.
	Forget(ctx context.Context, key string) (ForgetReport, error)
	// DeleteBefore deletes every transaction recorded before t.
	DeleteBefore(t time.Time) (int, error)

	PutAlert(a Alert) error
	GetAlert(id string) (Alert, bool, error)
	Alerts(q AlertQuery) ([]Alert, error)
	AppendAudit(e AuditEntry) (AuditEntry, error)
	Audit(q AuditQuery) ([]AuditEntry, error)
	Reserve(roots []string, owner string, ttl time.Duration) (mine []Reservation, others map[string]Reservation, err error)
	Release(rs ...Reservation) error
	// PutDrill, GetDrill and Drills keep rehearsals (mtguard drill), newest first.
	PutDrill(d Drill) error
	GetDrill(id string) (Drill, bool, error)
	Drills(state string, limit int) ([]Drill, error)
	// AppendNotification and Notifications keep the attempts to send alert notifications to
	// sinks, newest first.
	AppendNotification(a NotificationAttempt) (NotificationAttempt, error)
	Notifications(q NotificationQuery) ([]NotificationAttempt, error)
	// Enqueue, Deliveries, GetDelivery and UpdateDelivery keep the delivery queue.
	Enqueue(d Delivery) error
	Deliveries(ctx context.Context, f DeliveryFilter) ([]Delivery, error)
	GetDelivery(id string) (Delivery, error)
	UpdateDelivery(id string, fn func(*Delivery) error) (Delivery, error)

	// SaveJourneys and LoadJourneys keep the records in flight on a journey (keys made by
	// JourneyKey, values opaque), LoadJourneys in key order; SaveShapes and LoadShapes keep
	// each route's learned payload shape. A backend shared by several instances keeps them
	// for whichever instance runs journeys or drift.
	SaveJourneys(put map[string][]byte, del []string) error
	LoadJourneys(fn func(key string, v []byte) error) error
	SaveShapes(put map[string][]byte) error
	LoadShapes(fn func(route string, v []byte) error) error
	// AddFinding and AddFindings append a finding to a stored call's result and index it, so a
	// Query by finding finds the call; a call that already carries the finding's code and
	// detail, has no result yet or no longer exists is left as is.
	AddFinding(id string, f txn.Finding) error
	AddFindings(adds ...FindingOn) error
	// Applied waits until every call recorded before it is applied and handed to OnResult.
	Applied(ctx context.Context) error

	// Healthy is nil while writes succeed, and the last failure's error while they fail.
	Healthy() error
	// Close commits what is queued and releases the store.
	Close() error
}

var _ Log = (*Store)(nil)

// ScrubForForget erases key from tx the way Forget does in the bbolt file, for another
// backend's Forget: it reports keep=false when the call must be deleted whole (it carried no
// other record key, or the key's value could not be cleared from it), and otherwise leaves tx
// scrubbed, without key among its record keys, ready to be stored again.
func ScrubForForget(tx *txn.Transaction, key string) (keep bool, err error) {
	sc := newScrubber(key)
	if !slices.ContainsFunc(tx.RecordKeys, func(k string) bool { return k != sc.key }) {
		return false, nil
	}
	tx.RecordKeys = slices.Clone(tx.RecordKeys) // sc.call filters it in place
	sc.call(tx)
	req, err := marshalCall(&tx.Call)
	if err != nil {
		return false, fmt.Errorf("encode request %s: %w", tx.ID, err)
	}
	res, err := marshalResult(&tx.Result)
	if err != nil {
		return false, fmt.Errorf("encode result %s: %w", tx.ID, err)
	}
	return !sc.mentions(req) && !sc.mentions(res), nil
}

// AddRecipient counts tx in a ForgetReport's recipients (by route and vendor host), for
// another backend's Forget; SortRecipients orders them as Forget reports them.
func AddRecipient(rs []Recipient, tx *txn.Transaction) []Recipient {
	m := map[[2]string]*Recipient{}
	addRecipient(m, tx)
	for _, r := range m {
		rs = mergeRecipient(rs, *r)
	}
	return rs
}

// SortRecipients orders recipients by route, then vendor host.
func SortRecipients(rs []Recipient) {
	slices.SortFunc(rs, func(a, b Recipient) int {
		return cmp.Or(cmp.Compare(a.Route, b.Route), cmp.Compare(a.Upstream, b.Upstream))
	})
}

// IDs issues transaction ids of the shape every backend shares (time-ordered, 26 characters
// of Crockford base32), so cursors and time ranges mean the same on each. The zero value is
// ready to use.
type IDs struct{ g idGen }

// Next returns a fresh id, strictly greater than the last this IDs issued.
func (i *IDs) Next(t time.Time) string { return i.g.next(t) }

// IDAt returns the smallest id that can be issued at t: a time range is an id range.
func IDAt(t time.Time) string { return idAt(t) }

// ValidID reports whether s has the shape of a transaction id (a cursor must).
func ValidID(s string) bool { return validID(s) }

// IDTime returns the millisecond an id was issued at.
func IDTime(id string) (time.Time, bool) { return idTime(id) }

// EncodeCall encodes c exactly as json.Marshal(c) does, without its reflection: what another
// backend stores of a call's request side.
func EncodeCall(c *txn.Call) ([]byte, error) { return marshalCall(c) }

// EncodeResult encodes r exactly as json.Marshal(r) does, without its reflection.
func EncodeResult(r *txn.Result) ([]byte, error) { return marshalResult(r) }

// FindingCodes lists r's distinct finding codes, in order, as the bbolt store indexes them.
func FindingCodes(r *txn.Result) []string { return findingCodes(r) }

// InterruptedResult is the result of a call whose process stopped before recording its
// outcome, as Open gives it in the bbolt file: the provisional result (its encoding;
// nil: none) with the finding outcome.unchecked, or else interrupted with outcome.unknown.
func InterruptedResult(provisional []byte) (r txn.Result, fromProvisional bool, err error) {
	r, ok, err := recoveredProvisional(provisional)
	if err != nil || ok {
		return r, ok, err
	}
	return txn.Result{
		Outcome:  txn.OutcomeInterrupted,
		Findings: []txn.Finding{catalogueFinding(txn.CodeOutcomeUnknown, "mtguard stopped after recording the request and before the vendor's answer was recorded: the vendor may or may not have received and acted on it")},
		Error:    "mtguard stopped before this call's outcome was recorded; the vendor may or may not have received it",
	}, false, nil
}
