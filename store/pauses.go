package store

import (
	"encoding/json"
	"fmt"
	"time"

	bolt "go.etcd.io/bbolt"
)

// bucketPauses keeps the limiter's long pauses across a restart: limits group -> JSON of
// Pause. A quota the vendor says is spent stays spent after mtguard restarts; without this the
// first call after a restart would meet the vendor's quota error again.
var bucketPauses = []byte("limit_pauses")

// Pause is a limits group's pause as kept.
type Pause struct {
	Until  time.Time `json:"until"`
	Reason string    `json:"reason"`
	// Probing says a spent rolling quota is being probed one call at a time.
	Probing bool `json:"probing,omitempty"`
}

// PutPause keeps group's pause; a zero Until without Probing forgets it.
func (s *Store) PutPause(group string, p Pause) error {
	err := s.update(func(btx *bolt.Tx) error {
		b, err := btx.CreateBucketIfNotExists(bucketPauses)
		if err != nil {
			return err
		}
		if p.Until.IsZero() && !p.Probing {
			return b.Delete([]byte(group))
		}
		v, err := json.Marshal(p)
		if err != nil {
			return err
		}
		return b.Put([]byte(group), v)
	})
	if err != nil {
		return fmt.Errorf("keep the pause of limits group %s: %w", group, err)
	}
	return nil
}

// Pauses returns the kept pauses by limits group.
func (s *Store) Pauses() (map[string]Pause, error) {
	out := map[string]Pause{}
	err := s.view(func(btx *bolt.Tx) error {
		b := btx.Bucket(bucketPauses)
		if b == nil {
			return nil
		}
		return b.ForEach(func(k, v []byte) error {
			var p Pause
			if err := json.Unmarshal(v, &p); err != nil {
				return fmt.Errorf("decode pause %s: %w", k, err)
			}
			out[string(k)] = p
			return nil
		})
	})
	if err != nil {
		return nil, fmt.Errorf("read kept pauses: %w", err)
	}
	return out, nil
}
