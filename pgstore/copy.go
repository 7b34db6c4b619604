package pgstore

import (
	"context"
	"encoding/json"
	"fmt"

	"github.com/mtguard/mtguard/store"
)

// PutAudit writes e as it is, id and time included, unless an entry with its id is there
// already: mtguard store copy moves an audit log without doubling it when run again.
func (s *Store) PutAudit(e store.AuditEntry) error {
	if e.ID == "" {
		return fmt.Errorf("put audit entry: empty id")
	}
	b, err := json.Marshal(e)
	if err != nil {
		return fmt.Errorf("encode audit entry %s: %w", e.ID, err)
	}
	if _, err := s.pool.Exec(context.Background(), `INSERT INTO audit (id, time, body) VALUES ($1, $2, $3)
		ON CONFLICT (id) DO NOTHING`, e.ID, e.Time.UTC(), b); err != nil {
		return fmt.Errorf("put audit entry %s: %w", e.ID, err)
	}
	return nil
}

// PutNotification writes a as it is, id included, unless an attempt with its id is there
// already (for mtguard store copy, as PutAudit).
func (s *Store) PutNotification(a store.NotificationAttempt) error {
	if a.ID == "" {
		return fmt.Errorf("put notification attempt: empty id")
	}
	b, err := json.Marshal(a)
	if err != nil {
		return fmt.Errorf("encode notification attempt %s: %w", a.ID, err)
	}
	if _, err := s.pool.Exec(context.Background(), `INSERT INTO notifications (id, alert, sink, body) VALUES ($1, $2, $3, $4)
		ON CONFLICT (id) DO NOTHING`, a.ID, a.Alert, a.Sink, b); err != nil {
		return fmt.Errorf("put notification attempt %s: %w", a.ID, err)
	}
	return nil
}
