package store

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"

	bolt "go.etcd.io/bbolt"

	"github.com/mtguard/mtguard/txn"
)

// The buckets of state learned across calls. Their values are opaque to the store (the
// journeys package owns their format); they are created on first write, so a store written
// by an older mtguard opens unchanged.
var (
	// bucketJourneys holds the records in flight on a journey: "<journey>\x00<record key>" ->
	// JSON. Only records that entered and have not arrived are kept, so it is as large as
	// what is in transit, not as the log.
	bucketJourneys = []byte("journeys")
	// bucketShapes holds each route's learned payload shape: route -> JSON.
	bucketShapes = []byte("shapes")
)

// JourneyKey is the key of a record's state on a journey in SaveJourneys and LoadJourneys.
func JourneyKey(journey, record string) string { return journey + "\x00" + record }

// SaveJourneys writes the records in put and deletes those in del, in one write transaction,
// so a batch of calls costs one sync.
func (s *Store) SaveJourneys(put map[string][]byte, del []string) error {
	return s.saveKept(bucketJourneys, put, del)
}

// LoadJourneys calls fn with every record in flight, in key order.
func (s *Store) LoadJourneys(fn func(key string, v []byte) error) error {
	return s.loadKept(bucketJourneys, fn)
}

// SaveShapes writes the learned shapes in put (route -> encoding) in one write transaction.
func (s *Store) SaveShapes(put map[string][]byte) error {
	return s.saveKept(bucketShapes, put, nil)
}

// LoadShapes calls fn with every route's learned shape.
func (s *Store) LoadShapes(fn func(route string, v []byte) error) error {
	return s.loadKept(bucketShapes, fn)
}

func (s *Store) saveKept(bucket []byte, put map[string][]byte, del []string) error {
	if len(put) == 0 && len(del) == 0 {
		return nil
	}
	return s.update(func(btx *bolt.Tx) error {
		b, err := btx.CreateBucketIfNotExists(bucket)
		if err != nil {
			return fmt.Errorf("create bucket %s: %w", bucket, err)
		}
		for k, v := range put {
			if err := b.Put([]byte(k), v); err != nil {
				return fmt.Errorf("put %s: %w", bucket, err)
			}
		}
		for _, k := range del {
			if err := b.Delete([]byte(k)); err != nil {
				return fmt.Errorf("delete %s: %w", bucket, err)
			}
		}
		return nil
	})
}

func (s *Store) loadKept(bucket []byte, fn func(key string, v []byte) error) error {
	return s.view(func(btx *bolt.Tx) error {
		b := btx.Bucket(bucket)
		if b == nil {
			return nil
		}
		return b.ForEach(func(k, v []byte) error { return fn(string(k), v) })
	})
}

// AddFinding appends f to the stored result of the call id and indexes it, so log --finding
// finds the call; for findings made after the call ended (a journey that stalled, a read-back
// that disagreed). A call already carrying a finding with f's code and detail is left as is.
// The call must have its result; one deleted meanwhile (retention, forget) is not an error.
func (s *Store) AddFinding(id string, f txn.Finding) error {
	return s.AddFindings(FindingOn{Call: id, Finding: f})
}

// FindingOn is a finding to add to a stored call.
type FindingOn struct {
	Call    string
	Finding txn.Finding
}

// AddFindings is AddFinding for many calls, in one write transaction.
func (s *Store) AddFindings(adds ...FindingOn) error {
	if len(adds) == 0 {
		return nil
	}
	// The calls' results may still be waiting to be applied to the file.
	if err := s.readBarrier(context.Background()); err != nil {
		return fmt.Errorf("add finding: %w", err)
	}
	return s.update(func(btx *bolt.Tx) error {
		for _, a := range adds {
			if err := addFinding(btx, a.Call, a.Finding); err != nil {
				return err
			}
		}
		return nil
	})
}

func addFinding(btx *bolt.Tx, id string, f txn.Finding) error {
	resB := btx.Bucket(bucketRes)
	old := resB.Get([]byte(id))
	if old == nil {
		return nil
	}
	var r txn.Result
	if err := json.Unmarshal(old, &r); err != nil {
		return fmt.Errorf("decode result %s: %w", id, err)
	}
	if slices.ContainsFunc(r.Findings, func(g txn.Finding) bool { return g.Code == f.Code && g.Detail == f.Detail }) {
		return nil
	}
	r.Findings = append(r.Findings, f)
	b, err := marshalResult(&r)
	if err != nil {
		return fmt.Errorf("encode result %s: %w", id, err)
	}
	if err := resB.Put([]byte(id), b); err != nil {
		return fmt.Errorf("put result %s: %w", id, err)
	}
	return btx.Bucket(bucketIdxFinding).Put(indexKey(f.Code, id), nil)
}

// Applied waits until every call recorded before it is applied to the file and handed to
// OnResult, so what is fed from OnResult (journeys, drift) can be brought up to date for a read.
func (s *Store) Applied(ctx context.Context) error { return s.readBarrier(ctx) }
