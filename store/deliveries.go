package store

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"time"

	bolt "go.etcd.io/bbolt"
)

// bucketDeliveries is the delivery queue: the id of the accepted call -> JSON of Delivery. The
// queue is the store: a call accepted for store-and-forward delivery (or picked for automatic
// redelivery) is here until it is delivered, dropped by a person, or expires as a dead letter
// with the log. Every write is a bbolt commit (fsync), so the queue survives kill -9.
var bucketDeliveries = []byte("deliveries")

// Delivery states.
const (
	DeliveryPending  = "pending"  // waiting for its first attempt
	DeliveryRetrying = "retrying" // an attempt failed in a way that is safe to retry; NextAt says when
	DeliverySending  = "sending"  // an attempt is recorded and may be on the wire (after a crash: in doubt)
	DeliveryHeld     = "held"     // the vendor may have acted (a timeout on a call not declared idempotent): a person decides
	DeliveryDead     = "dead"     // gave up: attempts or give_up_after spent, or the vendor refused the call
)

// DeliveryStates lists the states a listed delivery may be in.
var DeliveryStates = []string{DeliveryPending, DeliveryRetrying, DeliverySending, DeliveryHeld, DeliveryDead}

// Delivery is one accepted call on its way to the vendor.
type Delivery struct {
	// ID is the id of the call the tool made (the original of the replay chain).
	ID         string    `json:"id"`
	Route      string    `json:"route"`
	RecordKeys []string  `json:"record_keys"`
	State      string    `json:"state"`
	Created    time.Time `json:"created"`
	// NextAt is when the next attempt is due (pending and retrying).
	NextAt   time.Time         `json:"next_at,omitzero"`
	Attempts []DeliveryAttempt `json:"attempts"`
	// LastError says why the last attempt did not deliver.
	LastError string `json:"last_error,omitempty"`
	// Reason says why a delivery is held or dead.
	Reason string `json:"reason,omitempty"`
	// Source is how it entered the queue: "queue" (accepted in queue mode) or "redeliver"
	// (an inline call that failed, picked up by redeliver: auto).
	Source string `json:"source,omitempty"`
	// RetriedAt and RetriedBy say when and by whom a person last asked for it to be sent again
	// (mtguard deliveries retry): attempts and give_up_after count afresh from then.
	RetriedAt time.Time `json:"retried_at,omitzero"`
	RetriedBy string    `json:"retried_by,omitempty"`
}

// DeliveryAttempt is one try. It is recorded (At set, TxID empty) before the call leaves, and
// completed with the attempt's transaction once it is recorded.
type DeliveryAttempt struct {
	At      time.Time `json:"at"`
	TxID    string    `json:"tx_id,omitempty"`
	Outcome string    `json:"outcome,omitempty"`
	Status  int       `json:"status,omitempty"`
	Error   string    `json:"error,omitempty"`
}

// ErrDeliveryExists is returned by Enqueue for a call already in the queue.
var ErrDeliveryExists = errors.New("already in the delivery queue")

// Enqueue durably adds d to the delivery queue; it returns once the write is on disk.
func (s *Store) Enqueue(d Delivery) error {
	if d.ID == "" || d.Route == "" {
		return errors.New("enqueue delivery: id and route are required")
	}
	if d.State == "" {
		d.State = DeliveryPending
	}
	if d.RecordKeys == nil {
		d.RecordKeys = []string{}
	}
	if d.Attempts == nil {
		d.Attempts = []DeliveryAttempt{}
	}
	v, err := json.Marshal(d)
	if err != nil {
		return fmt.Errorf("enqueue delivery %s: %w", d.ID, err)
	}
	err = s.batch(func(btx *bolt.Tx) error {
		b, err := btx.CreateBucketIfNotExists(bucketDeliveries)
		if err != nil {
			return err
		}
		if b.Get([]byte(d.ID)) != nil {
			return ErrDeliveryExists
		}
		return b.Put([]byte(d.ID), v)
	})
	if err != nil {
		return fmt.Errorf("enqueue delivery %s: %w", d.ID, err)
	}
	return nil
}

// DeliveryFilter narrows Deliveries; zero fields match everything.
type DeliveryFilter struct {
	Route string
	State string
}

// Deliveries returns the queued deliveries matching f, oldest first (ids are time-ordered).
func (s *Store) Deliveries(ctx context.Context, f DeliveryFilter) ([]Delivery, error) {
	var out []Delivery
	err := s.view(func(btx *bolt.Tx) error {
		b := btx.Bucket(bucketDeliveries)
		if b == nil {
			return nil
		}
		return b.ForEach(func(k, v []byte) error {
			if err := ctx.Err(); err != nil {
				return err
			}
			var d Delivery
			if err := json.Unmarshal(v, &d); err != nil {
				return fmt.Errorf("decode delivery %s: %w", k, err)
			}
			if (f.Route == "" || d.Route == f.Route) && (f.State == "" || d.State == f.State) {
				out = append(out, d)
			}
			return nil
		})
	})
	if err != nil {
		return nil, fmt.Errorf("list deliveries: %w", err)
	}
	return out, nil
}

// GetDelivery returns the queued delivery of call id, or ErrNotFound.
func (s *Store) GetDelivery(id string) (Delivery, error) {
	var d Delivery
	err := s.view(func(btx *bolt.Tx) error {
		b := btx.Bucket(bucketDeliveries)
		if b == nil {
			return ErrNotFound
		}
		v := b.Get([]byte(id))
		if v == nil {
			return ErrNotFound
		}
		return json.Unmarshal(v, &d)
	})
	if err != nil {
		return Delivery{}, fmt.Errorf("delivery %s: %w", id, err)
	}
	return d, nil
}

// ErrDeliveryDone, returned by an UpdateDelivery function, removes the delivery from the queue:
// it was delivered or dropped (its transactions stay in the log).
var ErrDeliveryDone = errors.New("delivery done")

// UpdateDelivery reads, changes and writes back the delivery of call id in one bbolt
// transaction, durable when it returns. fn returning ErrDeliveryDone removes it; any other
// error leaves it as it was and is returned. It returns the delivery as written.
func (s *Store) UpdateDelivery(id string, fn func(*Delivery) error) (Delivery, error) {
	var d Delivery
	err := s.batch(func(btx *bolt.Tx) error {
		d = Delivery{}
		b := btx.Bucket(bucketDeliveries)
		if b == nil {
			return ErrNotFound
		}
		v := b.Get([]byte(id))
		if v == nil {
			return ErrNotFound
		}
		if err := json.Unmarshal(v, &d); err != nil {
			return fmt.Errorf("decode: %w", err)
		}
		d.Attempts = slices.Clip(d.Attempts)
		switch err := fn(&d); {
		case errors.Is(err, ErrDeliveryDone):
			return b.Delete([]byte(id))
		case err != nil:
			return err
		}
		nv, err := json.Marshal(d)
		if err != nil {
			return err
		}
		return b.Put([]byte(id), nv)
	})
	if err != nil {
		return d, fmt.Errorf("delivery %s: %w", id, err)
	}
	return d, nil
}

// batch is update for writes many callers make at once (a queued call each): bbolt commits
// them together, one fsync for all, instead of one each. fn may run more than once.
func (s *Store) batch(fn func(*bolt.Tx) error) error {
	s.dbMu.RLock()
	defer s.dbMu.RUnlock()
	return s.db.Batch(fn)
}
