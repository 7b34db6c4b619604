package pgstore

import (
	"context"
	"encoding/json"
	"fmt"

	"github.com/mtguard/mtguard/store"
)

// maxNotifications caps one Notifications answer, as the bbolt store does (10 × its page cap).
const maxNotifications = 10000

// AppendNotification records one notification attempt with a fresh time-ordered id (and, when
// zero, a.Time now) and returns it as stored: `mtguard alerts` shows which notifications did
// not reach their sink, whichever instance sent them.
func (s *Store) AppendNotification(a store.NotificationAttempt) (store.NotificationAttempt, error) {
	if a.Time.IsZero() {
		a.Time = s.now()
	}
	a.Time = a.Time.UTC()
	a.ID = s.ids.Next(a.Time)
	b, err := json.Marshal(a)
	if err != nil {
		return a, fmt.Errorf("encode notification attempt: %w", err)
	}
	if _, err := s.pool.Exec(context.Background(), `INSERT INTO notifications (id, alert, sink, body) VALUES ($1, $2, $3, $4)`,
		a.ID, a.Alert, a.Sink, b); err != nil {
		return a, fmt.Errorf("record notification attempt: %w", err)
	}
	return a, nil
}

// Notifications returns the notification attempts matching q, newest first.
func (s *Store) Notifications(q store.NotificationQuery) ([]store.NotificationAttempt, error) {
	limit := q.Limit
	if limit <= 0 {
		limit = 1000
	}
	limit = min(limit, maxNotifications)
	floor := ""
	if !q.Since.IsZero() {
		floor = store.IDAt(q.Since)
	}
	alerts := q.Alerts
	if alerts == nil {
		alerts = []string{}
	}
	rows, err := s.pool.Query(context.Background(), `SELECT body FROM notifications
		WHERE id >= $1 AND (cardinality($2::text[]) = 0 OR alert = ANY($2)) AND ($3 = '' OR sink = $3)
		ORDER BY id DESC LIMIT $4`, floor, alerts, q.Sink, limit)
	if err != nil {
		return nil, fmt.Errorf("read notification attempts: %w", err)
	}
	defer rows.Close()
	out := []store.NotificationAttempt{}
	for rows.Next() {
		var b []byte
		var a store.NotificationAttempt
		if err := rows.Scan(&b); err != nil {
			return nil, fmt.Errorf("read notification attempts: %w", err)
		}
		if err := json.Unmarshal(b, &a); err != nil {
			return nil, fmt.Errorf("decode notification attempt: %w", err)
		}
		out = append(out, a)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("read notification attempts: %w", err)
	}
	return out, nil
}
