package store

import (
	"bytes"
	"encoding/json"
	"fmt"
	"time"

	bolt "go.etcd.io/bbolt"
)

// bucketAlerts holds alert history: id -> JSON of Alert. Alert ids start with the UTC time the
// alert fired, so the bucket's key order is firing order.
var bucketAlerts = []byte("alerts")

// AlertState is where an alert is in its lifecycle.
type AlertState string

// The alert states: an alert fires once per incident and is resolved once it recovers.
const (
	AlertFiring   AlertState = "firing"
	AlertResolved AlertState = "resolved"
)

// Alert is one incident of an alert rule on a route, from firing to resolved. The alert engine
// (package inspect) writes it on every change of state, so the history outlives restarts and
// feeds postmortems. It never holds a sink's URL or key, only the sink's name.
type Alert struct {
	// ID is "<UTC time fired>-<route>-<kind>", e.g. 20261130T140100Z-marketo-silence.
	ID    string `json:"id"`
	Route string `json:"route"`
	Owner string `json:"owner,omitempty"`
	// Kind is the rule: silence, error_rate, latency, auth, deprecation, contract or throttle.
	Kind     string     `json:"kind"`
	Severity string     `json:"severity"` // critical, error or warning
	State    AlertState `json:"state"`
	// Summary says what is wrong in one sentence; it is refreshed while the alert fires.
	Summary string `json:"summary"`
	// Since is the first evidence of the problem (the last delivery, the first failure).
	Since    time.Time `json:"since"`
	FiredAt  time.Time `json:"fired_at"`
	LastSeen time.Time `json:"last_seen,omitzero"` // the latest evidence
	// ResolvedAt and Resolution are set once the alert is resolved.
	ResolvedAt time.Time `json:"resolved_at,omitzero"`
	Resolution string    `json:"resolution,omitempty"`
	// Calls counts the calls affected since Since; Records the record keys those calls carried
	// (a lead retried twice counts twice).
	Calls   int `json:"calls"`
	Records int `json:"records"`
	// Command is the mtguard command that shows the affected calls.
	Command string `json:"command"`
	// Sinks names the sinks this alert notifies.
	Sinks []string `json:"sinks,omitempty"`
	// Notifications counts the notices sent to sinks (firing and reminders).
	Notifications int       `json:"notifications"`
	LastNotified  time.Time `json:"last_notified,omitzero"`
	// AckedAt, AckedBy and AckComment record an acknowledgement: no more reminders.
	AckedAt    time.Time `json:"acked_at,omitzero"`
	AckedBy    string    `json:"acked_by,omitempty"`
	AckComment string    `json:"ack_comment,omitempty"`
	// SilencedUntil mutes notifications of this route and rule, this incident and new ones.
	SilencedUntil time.Time `json:"silenced_until,omitzero"`
	// Deliveries says, per notification and sink, whether the sink accepted it, and
	// Undelivered counts those it did not. Both are filled in from the notification
	// attempts when an alert is read, never stored with it.
	Deliveries  []NotificationDelivery `json:"deliveries,omitempty"`
	Undelivered int                    `json:"undelivered,omitempty"`
}

// NotificationDelivery is the fate of one notification of an alert at one sink: its last attempt.
type NotificationDelivery struct {
	Event string    `json:"event"`
	Sink  string    `json:"sink"`
	Time  time.Time `json:"time"` // of the last attempt
	// Result is NotifyDelivered, NotifyRetrying (still being tried), NotifyFailed or
	// NotifyDropped.
	Result    string  `json:"result"`
	Attempts  int     `json:"attempts"`
	Status    int     `json:"status,omitempty"`
	Error     string  `json:"error,omitempty"`
	LatencyMS float64 `json:"latency_ms"`
}

// AlertQuery selects alerts from the history. Zero fields do not filter.
type AlertQuery struct {
	Route string
	State AlertState
	// Limit caps how many alerts are returned, newest first. Zero means 50; it never exceeds 1000.
	Limit int
}

// PutAlert writes a (or its new state) into the alert history. Alerts are rare, so each is
// its own write transaction rather than joining the group commit of calls.
func (s *Store) PutAlert(a Alert) error {
	if a.ID == "" {
		return fmt.Errorf("put alert: empty id")
	}
	a.Deliveries, a.Undelivered = nil, 0
	b, err := json.Marshal(a)
	if err != nil {
		return fmt.Errorf("encode alert %s: %w", a.ID, err)
	}
	if err := s.update(func(btx *bolt.Tx) error {
		return btx.Bucket(bucketAlerts).Put([]byte(a.ID), b)
	}); err != nil {
		return fmt.Errorf("put alert %s: %w", a.ID, err)
	}
	return nil
}

// GetAlert returns the alert with id; ok is false when there is none.
func (s *Store) GetAlert(id string) (a Alert, ok bool, err error) {
	err = s.view(func(btx *bolt.Tx) error {
		b := btx.Bucket(bucketAlerts).Get([]byte(id))
		if b == nil {
			return nil
		}
		ok = true
		return json.Unmarshal(b, &a)
	})
	if err != nil {
		return Alert{}, false, fmt.Errorf("get alert %s: %w", id, err)
	}
	return a, ok, nil
}

// Alerts returns the alerts matching q, newest first.
func (s *Store) Alerts(q AlertQuery) ([]Alert, error) {
	limit := q.Limit
	if limit <= 0 {
		limit = defaultLimit
	}
	limit = min(limit, maxLimit)
	out := []Alert{}
	err := s.view(func(btx *bolt.Tx) error {
		c := btx.Bucket(bucketAlerts).Cursor()
		for k, v := c.Last(); k != nil && len(out) < limit; k, v = c.Prev() {
			// Cheap filters on the raw JSON first: most of the history is resolved alerts of
			// other routes.
			if q.Route != "" && !bytes.Contains(v, []byte(`"route":"`+q.Route+`"`)) {
				continue
			}
			var a Alert
			if err := json.Unmarshal(v, &a); err != nil {
				return fmt.Errorf("decode alert %s: %w", k, err)
			}
			if (q.Route != "" && a.Route != q.Route) || (q.State != "" && a.State != q.State) {
				continue
			}
			out = append(out, a)
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("list alerts: %w", err)
	}
	return out, nil
}
