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

// Reserve holds the chains whose originals are roots for owner, for at most ttl (past that,
// the holder is presumed stuck and another replay may take them). The checks and the writes
// are one bbolt transaction, so of two concurrent callers exactly one gets each chain. It
// returns, in the order of roots, the reservations it made and, by root, those of the other
// replays that hold the rest. The caller must Release what it got once each attempt is
// recorded or has failed.
func (s *Store) Reserve(roots []string, owner string, ttl time.Duration) (mine []Reservation, others map[string]Reservation, err error) {
	now := s.now()
	err = s.update(func(btx *bolt.Tx) error {
		mine, others = mine[:0], nil
		b := btx.Bucket(bucketReplayHolds)
		for _, root := range roots {
			if old := b.Get([]byte(root)); old != nil {
				var held Reservation
				if json.Unmarshal(old, &held) == nil && now.Before(held.Expires) {
					if others == nil {
						others = map[string]Reservation{}
					}
					others[root] = held
					continue
				}
			}
			var tok [16]byte
			if _, err := rand.Read(tok[:]); err != nil {
				return err
			}
			r := Reservation{Root: root, Owner: owner, Token: hex.EncodeToString(tok[:]), Since: now, Expires: now.Add(ttl)}
			v, err := json.Marshal(r)
			if err != nil {
				return err
			}
			if err := b.Put([]byte(root), v); err != nil {
				return err
			}
			mine = append(mine, r)
		}
		return nil
	})
	if err != nil {
		return nil, nil, fmt.Errorf("reserve replay chains: %w", err)
	}
	return mine, others, nil
}

// Release ends rs, each if it is still the one held for its chain (an expired reservation may
// have been taken over since).
func (s *Store) Release(rs ...Reservation) error {
	if len(rs) == 0 {
		return nil
	}
	err := s.update(func(btx *bolt.Tx) error {
		b := btx.Bucket(bucketReplayHolds)
		for _, r := range rs {
			old := b.Get([]byte(r.Root))
			if old == nil {
				continue
			}
			var held Reservation
			if json.Unmarshal(old, &held) == nil && held.Token != r.Token {
				continue
			}
			if err := b.Delete([]byte(r.Root)); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("release replay chains: %w", err)
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
