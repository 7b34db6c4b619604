package store

import (
	"encoding/json"
	"fmt"
	"time"

	bolt "go.etcd.io/bbolt"
)

// bucketNotifications holds every attempt to deliver an alert notification to a sink: id ->
// JSON of NotificationAttempt. Ids are time-ordered, so the key order is the order of the
// attempts. The bucket is created on the first write, so a store file written by an older
// mtguard needs no migration.
var bucketNotifications = []byte("notifications")

// The results of a notification attempt.
const (
	// NotifyDelivered: the sink's endpoint accepted the notification (a 2xx answer).
	NotifyDelivered = "delivered"
	// NotifyRetrying: the attempt failed and another will follow.
	NotifyRetrying = "retrying"
	// NotifyFailed: the attempt failed and was the last: the notification was not delivered.
	NotifyFailed = "failed"
	// NotifyDropped: the sink's queue was full; the notification was never attempted.
	NotifyDropped = "dropped"
)

// NotificationAttempt is one try at handing an alert event to a sink, with the sink's answer.
// It never holds the sink's URL or key, only its name.
type NotificationAttempt struct {
	// ID is time-ordered; the store assigns it.
	ID    string    `json:"id"`
	Time  time.Time `json:"time"`
	Alert string    `json:"alert"`
	Route string    `json:"route"`
	Kind  string    `json:"kind"`
	// Event is the alert event: firing, reminder, acknowledged, resolved, notice or test.
	Event string `json:"event"`
	Sink  string `json:"sink"`
	// Attempt counts from 1 for each notification and sink.
	Attempt int `json:"attempt"`
	// Result is NotifyDelivered, NotifyRetrying, NotifyFailed or NotifyDropped.
	Result string `json:"result"`
	// Status is the HTTP status the sink's endpoint answered; 0 when no answer came.
	Status int `json:"status,omitempty"`
	// Error is what went wrong, without the endpoint's URL.
	Error     string  `json:"error,omitempty"`
	LatencyMS float64 `json:"latency_ms"`
}

// NotificationQuery selects notification attempts. Zero fields do not filter.
type NotificationQuery struct {
	// Alerts keeps the attempts of these alert ids only.
	Alerts []string
	Sink   string
	Since  time.Time
	// Limit caps how many attempts are returned, newest first. Zero means 1000; at most 10000.
	Limit int
}

// AppendNotification records one notification attempt, with a fresh id (and, when zero,
// a.Time now), and returns it as stored. Like alerts, each is its own write transaction.
func (s *Store) AppendNotification(a NotificationAttempt) (NotificationAttempt, error) {
	if a.Time.IsZero() {
		a.Time = s.now()
	}
	a.Time = a.Time.UTC()
	a.ID = s.ids.next(a.Time)
	b, err := json.Marshal(a)
	if err != nil {
		return a, fmt.Errorf("encode notification attempt: %w", err)
	}
	if err := s.update(func(btx *bolt.Tx) error {
		bk, err := btx.CreateBucketIfNotExists(bucketNotifications)
		if err != nil {
			return err
		}
		bk.FillPercent = appendFill
		return bk.Put([]byte(a.ID), b)
	}); err != nil {
		return a, fmt.Errorf("record notification attempt: %w", err)
	}
	return a, nil
}

// Notifications returns the notification attempts matching q, newest first.
func (s *Store) Notifications(q NotificationQuery) ([]NotificationAttempt, error) {
	limit := q.Limit
	if limit <= 0 {
		limit = maxLimit
	}
	limit = min(limit, 10*maxLimit)
	var floor []byte
	if !q.Since.IsZero() {
		floor = []byte(idAt(q.Since))
	}
	want := map[string]bool{}
	for _, id := range q.Alerts {
		want[id] = true
	}
	out := []NotificationAttempt{}
	err := s.view(func(btx *bolt.Tx) error {
		bk := btx.Bucket(bucketNotifications)
		if bk == nil {
			return nil
		}
		c := bk.Cursor()
		for k, v := c.Last(); k != nil && len(out) < limit; k, v = c.Prev() {
			if floor != nil && string(k) < string(floor) {
				break
			}
			var a NotificationAttempt
			if err := json.Unmarshal(v, &a); err != nil {
				return fmt.Errorf("decode notification attempt %s: %w", k, err)
			}
			if (len(want) > 0 && !want[a.Alert]) || (q.Sink != "" && a.Sink != q.Sink) {
				continue
			}
			out = append(out, a)
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("read notification attempts: %w", err)
	}
	return out, nil
}
