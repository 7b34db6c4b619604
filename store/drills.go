package store

import (
	"encoding/json"
	"fmt"
	"time"

	bolt "go.etcd.io/bbolt"
)

// bucketDrills holds drills (mtguard drill): id -> JSON of Drill. Ids start with the UTC time
// the drill began, so the key order is the order of the drills. Created on the first write.
var bucketDrills = []byte("drills")

// The states of a drill.
const (
	DrillRunning = "running"
	DrillEnded   = "ended"
)

// Drill is one rehearsal of a failure on a route: what was done, and once it ended, its report.
type Drill struct {
	ID    string `json:"id"`
	Route string `json:"route"`
	// Fault is as written on the command line: down, status:503, slow:8s...
	Fault string  `json:"fault"`
	Share float64 `json:"share"`
	// Expect is the expectation given at start, e.g. "alert within 5m"; empty for none.
	Expect    string    `json:"expect,omitempty"`
	StartedBy string    `json:"started_by,omitempty"`
	StartedAt time.Time `json:"started_at"`
	// EndsAt is when the drill ends by itself.
	EndsAt  time.Time `json:"ends_at"`
	State   string    `json:"state"`
	EndedAt time.Time `json:"ended_at,omitzero"`
	// EndedBy says why it ended: "time" (it ran its course), "stop" (someone stopped it) or
	// "restart" (mtguard stopped while it ran; a restart never resumes a drill).
	EndedBy string       `json:"ended_by,omitempty"`
	Report  *DrillReport `json:"report,omitempty"`
}

// DrillReport is what a drill proved: the alerts that fired, how fast, who was told.
type DrillReport struct {
	// Calls counts the calls the drill answered or altered.
	Calls  int          `json:"calls"`
	Alerts []DrillAlert `json:"alerts"`
	// Pass is set when the drill had an expectation: whether it was met. Verdict says why.
	Pass    *bool  `json:"pass,omitempty"`
	Verdict string `json:"verdict"`
}

// DrillAlert is one alert of the drilled route that fired during the drill.
type DrillAlert struct {
	ID   string `json:"id"`
	Kind string `json:"kind"`
	// FiredAt and DelayS: when it fired, and how long after the fault began.
	FiredAt time.Time `json:"fired_at"`
	DelayS  float64   `json:"delay_s"`
	// Accepted and Failed name the sinks that took the firing notification, and those that did not.
	Accepted     []string `json:"accepted"`
	Failed       []string `json:"failed"`
	Acknowledged bool     `json:"acknowledged"`
	AckedBy      string   `json:"acked_by,omitempty"`
}

// PutDrill writes d (or its new state).
func (s *Store) PutDrill(d Drill) error {
	b, err := json.Marshal(d)
	if err != nil {
		return fmt.Errorf("encode drill %s: %w", d.ID, err)
	}
	if err := s.update(func(btx *bolt.Tx) error {
		bk, err := btx.CreateBucketIfNotExists(bucketDrills)
		if err != nil {
			return err
		}
		return bk.Put([]byte(d.ID), b)
	}); err != nil {
		return fmt.Errorf("put drill %s: %w", d.ID, err)
	}
	return nil
}

// GetDrill returns the drill id; ok is false when there is none.
func (s *Store) GetDrill(id string) (d Drill, ok bool, err error) {
	err = s.view(func(btx *bolt.Tx) error {
		bk := btx.Bucket(bucketDrills)
		if bk == nil {
			return nil
		}
		b := bk.Get([]byte(id))
		if b == nil {
			return nil
		}
		ok = true
		return json.Unmarshal(b, &d)
	})
	if err != nil {
		return Drill{}, false, fmt.Errorf("get drill %s: %w", id, err)
	}
	return d, ok, nil
}

// Drills returns the drills in state (every drill if state is empty), newest first, at most limit
// (zero: 50).
func (s *Store) Drills(state string, limit int) ([]Drill, error) {
	if limit <= 0 {
		limit = defaultLimit
	}
	out := []Drill{}
	err := s.view(func(btx *bolt.Tx) error {
		bk := btx.Bucket(bucketDrills)
		if bk == nil {
			return nil
		}
		c := bk.Cursor()
		for k, v := c.Last(); k != nil && len(out) < limit; k, v = c.Prev() {
			var d Drill
			if err := json.Unmarshal(v, &d); err != nil {
				return fmt.Errorf("decode drill %s: %w", k, err)
			}
			if state == "" || d.State == state {
				out = append(out, d)
			}
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("list drills: %w", err)
	}
	return out, nil
}
