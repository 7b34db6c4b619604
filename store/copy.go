package store

import (
	"encoding/json"
	"fmt"

	bolt "go.etcd.io/bbolt"
)

// EachAlert, EachAudit and EachNotification call fn with every alert, audit entry and
// notification attempt the file holds, oldest id first, without the limits of Alerts, Audit
// and Notifications: mtguard store copy moves all of them to another backend. fn runs inside a
// read transaction and must not write to this store; an error from fn stops the walk and is
// returned.
func (s *Store) EachAlert(fn func(Alert) error) error {
	return eachJSON(s, bucketAlerts, "alert", fn)
}

// EachAudit: see EachAlert.
func (s *Store) EachAudit(fn func(AuditEntry) error) error {
	return eachJSON(s, bucketAudit, "audit entry", fn)
}

// EachNotification: see EachAlert.
func (s *Store) EachNotification(fn func(NotificationAttempt) error) error {
	return eachJSON(s, bucketNotifications, "notification attempt", fn)
}

func eachJSON[T any](s *Store, bucket []byte, what string, fn func(T) error) error {
	return s.view(func(btx *bolt.Tx) error {
		b := btx.Bucket(bucket)
		if b == nil {
			return nil
		}
		return b.ForEach(func(k, v []byte) error {
			var x T
			if err := json.Unmarshal(v, &x); err != nil {
				return fmt.Errorf("decode %s %s: %w", what, k, err)
			}
			return fn(x)
		})
	})
}
