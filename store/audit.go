package store

import (
	"encoding/json"
	"fmt"
	"time"

	bolt "go.etcd.io/bbolt"
)

// bucketAudit holds the audit log of the admin API: id -> JSON of AuditEntry. Ids are
// time-ordered like transaction ids, so the bucket's key order is the order of the actions.
//
// The audit log is append-only: the store has no call that changes or deletes an entry, and
// the retention sweep (DeleteBefore) and forget leave it alone. It is kept as long as the
// store file: an entry is a few hundred bytes, admin actions are rare, it holds no body, no
// secret and no record key in clear (see AuditEntry.Target), and an audit log that expired
// with the calls it speaks of could not answer "who erased this record, who resent that call".
var bucketAudit = []byte("audit")

// AuditEntry is one state-changing action on the admin API: who (the token's name and role),
// what (method, endpoint, target and parameters), when, from where, and how it ended.
type AuditEntry struct {
	// ID is time-ordered; the store assigns it.
	ID   string    `json:"id"`
	Time time.Time `json:"time"`
	// Actor is the name of the admin token used (admin.tokens[].name; "admin" for
	// admin.token_env), or "anonymous" on an admin API without tokens.
	Actor string `json:"actor"`
	Role  string `json:"role"`
	// Method and Endpoint are the request's method and the endpoint's pattern, e.g. POST and
	// /api/transactions/{id}/replay: never the request's path, which may hold a record key.
	Method   string `json:"method"`
	Endpoint string `json:"endpoint"`
	// Target is what the action was about: a transaction, alert or replay job id, or for a
	// record key its hash ("sha256:" and 16 hex digits), so that the log can tell whether a
	// given address was erased without keeping it.
	Target string `json:"target,omitempty"`
	// Params are the action's parameters (force, a replay's filter, a silence), never a body,
	// a secret or a record key in clear.
	Params map[string]string `json:"params,omitempty"`
	// Remote is the address the request came from.
	Remote string `json:"remote"`
	// Status is the HTTP status the action was answered with: 403 for a role that may not.
	Status int `json:"status"`
	// Result names what the action made, when it made something: the replay's transaction id,
	// a bulk replay's job id.
	Result string `json:"result,omitempty"`
}

// AuditQuery selects audit entries. Zero fields do not filter.
type AuditQuery struct {
	Since time.Time
	// Limit caps how many entries are returned, newest first. Zero means 50; at most 1000.
	Limit int
}

// AppendAudit adds e to the audit log, with a fresh id (and e.Time, when zero, now), and
// returns it as stored. Like alerts, each entry is its own write transaction: admin actions
// are rare, and an action must not wait for the next group commit of calls.
func (s *Store) AppendAudit(e AuditEntry) (AuditEntry, error) {
	if e.Time.IsZero() {
		e.Time = s.now()
	}
	e.Time = e.Time.UTC()
	e.ID = s.ids.next(e.Time)
	b, err := json.Marshal(e)
	if err != nil {
		return e, fmt.Errorf("encode audit entry: %w", err)
	}
	if err := s.update(func(btx *bolt.Tx) error {
		bk := btx.Bucket(bucketAudit)
		bk.FillPercent = appendFill
		return bk.Put([]byte(e.ID), b)
	}); err != nil {
		return e, fmt.Errorf("append audit entry: %w", err)
	}
	return e, nil
}

// Audit returns the audit entries matching q, newest first.
func (s *Store) Audit(q AuditQuery) ([]AuditEntry, error) {
	limit := q.Limit
	if limit <= 0 {
		limit = defaultLimit
	}
	limit = min(limit, maxLimit)
	var floor []byte
	if !q.Since.IsZero() {
		floor = []byte(idAt(q.Since))
	}
	out := []AuditEntry{}
	err := s.view(func(btx *bolt.Tx) error {
		c := btx.Bucket(bucketAudit).Cursor()
		for k, v := c.Last(); k != nil && len(out) < limit; k, v = c.Prev() {
			if floor != nil && string(k) < string(floor) {
				break
			}
			var e AuditEntry
			if err := json.Unmarshal(v, &e); err != nil {
				return fmt.Errorf("decode audit entry %s: %w", k, err)
			}
			if !q.Since.IsZero() && e.Time.Before(q.Since) {
				continue
			}
			out = append(out, e)
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("read audit log: %w", err)
	}
	return out, nil
}
