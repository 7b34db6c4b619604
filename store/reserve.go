package store

import (
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"time"

	bolt "go.etcd.io/bbolt"
)

// bucketReplayHolds holds the replay chains being resent: root id -> JSON of Reservation. A
// replay reserves a chain before sending and releases it once the attempt is recorded, so two
// replays (a bulk job and a single one, or two jobs) never send the same chain at once. Open
// empties it: a reservation never outlives the process that made it.
var bucketReplayHolds = []byte("replay_holds")

// Reservation is a replay's hold on a chain.
type Reservation struct {
	// Root is the id of the chain's original call.
	Root string `json:"root"`
	// Owner says who holds it, for the message another replay shows ("replay job r01...").
	Owner string `json:"owner"`
	// Token is the holder's secret: only it releases the reservation.
	Token   string    `json:"token"`
	Since   time.Time `json:"since"`
	Expires time.Time `json:"expires"`
}

// Reserve holds the chain whose original is root for owner, for at most ttl (past that, the
// holder is presumed stuck and another replay may take the chain). The check and the write
// are one bbolt transaction, so of two concurrent callers exactly one gets the chain. When
// another replay holds it, Reserve returns ok false and that reservation. The caller must
// Release the reservation it got once its attempt is recorded or has failed.
func (s *Store) Reserve(root, owner string, ttl time.Duration) (r Reservation, ok bool, err error) {
	var tok [16]byte
	if _, err := rand.Read(tok[:]); err != nil {
		return r, false, fmt.Errorf("reserve chain %s: %w", root, err)
	}
	now := s.now()
	mine := Reservation{Root: root, Owner: owner, Token: hex.EncodeToString(tok[:]), Since: now, Expires: now.Add(ttl)}
	err = s.update(func(btx *bolt.Tx) error {
		b := btx.Bucket(bucketReplayHolds)
		if old := b.Get([]byte(root)); old != nil {
			var held Reservation
			if json.Unmarshal(old, &held) == nil && now.Before(held.Expires) {
				r = held
				return nil
			}
		}
		v, err := json.Marshal(mine)
		if err != nil {
			return err
		}
		ok = true
		return b.Put([]byte(root), v)
	})
	if err != nil {
		return Reservation{}, false, fmt.Errorf("reserve chain %s: %w", root, err)
	}
	if ok {
		r = mine
	}
	return r, ok, nil
}

// Release ends r, if it is still the one held for its chain (an expired reservation may have
// been taken over since).
func (s *Store) Release(r Reservation) error {
	err := s.update(func(btx *bolt.Tx) error {
		b := btx.Bucket(bucketReplayHolds)
		old := b.Get([]byte(r.Root))
		if old == nil {
			return nil
		}
		var held Reservation
		if json.Unmarshal(old, &held) == nil && held.Token != r.Token {
			return nil
		}
		return b.Delete([]byte(r.Root))
	})
	if err != nil {
		return fmt.Errorf("release chain %s: %w", r.Root, err)
	}
	return nil
}

// clearReservations drops every reservation: at Open, none of their holders is alive.
func clearReservations(btx *bolt.Tx) error {
	if btx.Bucket(bucketReplayHolds) != nil {
		if err := btx.DeleteBucket(bucketReplayHolds); err != nil {
			return fmt.Errorf("clear replay reservations: %w", err)
		}
	}
	if _, err := btx.CreateBucket(bucketReplayHolds); err != nil {
		return fmt.Errorf("create bucket %s: %w", bucketReplayHolds, err)
	}
	return nil
}
