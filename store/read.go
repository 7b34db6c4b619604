package store

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/mtguard/mtguard/txn"
	bolt "go.etcd.io/bbolt"
)

const (
	defaultLimit = 50
	maxLimit     = 1000
	// maxScan bounds the index entries one Query page examines, so a filter that matches
	// nothing cannot hold a read transaction over the whole file; the page then ends early
	// with a cursor to continue from.
	maxScan = 100_000
)

// Get returns the transaction with id, or an error wrapping ErrNotFound. Like Query, it first
// waits for the writes already queued, so a caller that has just seen a call's answer also
// sees its outcome.
func (s *Store) Get(ctx context.Context, id string) (txn.Transaction, error) {
	if err := s.readBarrier(ctx); err != nil {
		return txn.Transaction{}, err
	}
	var tx txn.Transaction
	err := s.view(func(btx *bolt.Tx) error {
		var ok bool
		var err error
		tx, ok, err = loadOpen(btx, []byte(id), s.keys)
		if err != nil {
			return err
		}
		if !ok {
			return fmt.Errorf("get %s: %w", id, ErrNotFound)
		}
		return nil
	})
	return tx, err
}

// readBarrier waits until the writes queued before the read are applied to bbolt. A failing commit
// does not fail the read: what is stored is still worth showing.
func (s *Store) readBarrier(ctx context.Context) error {
	if err := s.barrier(ctx, false); err != nil && (errors.Is(err, ErrClosed) || ctx.Err() != nil) {
		return fmt.Errorf("read: %w", err)
	}
	return nil
}

// loadOpen is load with the sealed messages opened with keys (see Keys.openTx).
func loadOpen(btx *bolt.Tx, id []byte, keys *Keys) (txn.Transaction, bool, error) {
	tx, ok, err := load(btx, id)
	if ok && err == nil {
		keys.openTx(&tx)
	}
	return tx, ok, err
}

// load reads the call id as stored: sealed messages stay sealed.
func load(btx *bolt.Tx, id []byte) (txn.Transaction, bool, error) {
	var tx txn.Transaction
	req := btx.Bucket(bucketReq).Get(id)
	if req == nil {
		return tx, false, nil
	}
	if err := json.Unmarshal(req, &tx.Call); err != nil {
		return tx, false, fmt.Errorf("decode request %s: %w", id, err)
	}
	if res := btx.Bucket(bucketRes).Get(id); res != nil {
		if err := json.Unmarshal(res, &tx.Result); err != nil {
			return tx, false, fmt.Errorf("decode result %s: %w", id, err)
		}
	} else {
		tx.Outcome = txn.OutcomePending
	}
	if tx.Findings == nil {
		tx.Findings = []txn.Finding{}
	}
	if tx.RecordKeys == nil {
		tx.RecordKeys = []string{}
	}
	return tx, true, nil
}

// Query returns one page of the transactions matching q, newest first unless q.Ascending.
func (s *Store) Query(ctx context.Context, q Query) (Page, error) {
	limit := q.Limit
	if limit <= 0 {
		limit = defaultLimit
	}
	limit = min(limit, maxLimit)
	if q.Cursor != "" && !validID(q.Cursor) {
		return Page{}, fmt.Errorf("query: cursor %q: %w", q.Cursor, ErrBadCursor)
	}
	if err := s.readBarrier(ctx); err != nil {
		return Page{}, err
	}
	bucket, prefix := bucketReq, []byte(nil)
	switch {
	case q.RecordKey != "":
		bucket, prefix = bucketIdxRecord, indexKey(q.RecordKey, "")
	case q.Finding != "":
		// Before the route's: a finding marks few of a route's calls, and the route is
		// checked on each (matches). A route's index would decode every call of the route
		// to find them: seconds at the alert engine's start on a large log.
		bucket, prefix = bucketIdxFinding, indexKey(q.Finding, "")
	case q.Route != "":
		bucket, prefix = bucketIdxRoute, indexKey(q.Route, "")
	case q.Outcome == txn.OutcomePending:
		bucket = bucketPending
	case q.Outcome != "":
		bucket, prefix = bucketIdxOutcome, indexKey(string(q.Outcome), "")
	}
	// Ids sort by time, so the time range is a key range: [lo, hi).
	lo := append(bytes.Clone(prefix), idAt(q.Since)...)
	if q.Since.IsZero() {
		lo = bytes.Clone(prefix)
	}
	hi := append(bytes.Clone(prefix), "~"...) // '~' sorts after every id character
	if !q.Until.IsZero() {
		hi = append(bytes.Clone(prefix), idAt(q.Until)...)
	}
	if q.Cursor != "" {
		c := append(bytes.Clone(prefix), q.Cursor...)
		if q.Ascending {
			lo = append(c, 0) // strictly after the cursor
		} else {
			hi = c // strictly before the cursor
		}
	}

	page := Page{Transactions: []txn.Transaction{}}
	err := s.view(func(btx *bolt.Tx) error {
		c := btx.Bucket(bucket).Cursor()
		var k []byte
		if q.Ascending {
			k, _ = c.Seek(lo)
		} else {
			k, _ = c.Seek(hi)
			if k == nil {
				k, _ = c.Last()
			}
			for k != nil && bytes.Compare(k, hi) >= 0 {
				k, _ = c.Prev()
			}
		}
		step := c.Next
		if !q.Ascending {
			step = c.Prev
		}
		var last []byte
		for scanned := 0; k != nil; k, _ = step() {
			if !bytes.HasPrefix(k, prefix) || bytes.Compare(k, lo) < 0 || bytes.Compare(k, hi) >= 0 {
				break
			}
			id := k[len(prefix):]
			last = id
			if scanned++; scanned > maxScan {
				page.Next = string(last)
				return nil
			}
			var tx txn.Transaction
			var ok bool
			var err error
			if q.Summary {
				tx, ok, err = loadSummary(btx, id)
			} else {
				tx, ok, err = loadOpen(btx, id, s.keys)
			}
			if err != nil {
				return err
			}
			if !ok || !q.matches(tx) {
				continue
			}
			page.Transactions = append(page.Transactions, tx)
			if len(page.Transactions) == limit {
				page.Next = string(id)
				return nil
			}
		}
		return nil
	})
	if err != nil {
		return Page{}, fmt.Errorf("query: %w", err)
	}
	return page, nil
}

// matches applies the filters that the chosen index did not.
func (q Query) matches(tx txn.Transaction) bool {
	if q.Route != "" && tx.Route != q.Route {
		return false
	}
	if q.Outcome != "" && tx.Outcome != q.Outcome {
		return false
	}
	if q.Caller != "" && tx.Caller != q.Caller {
		return false
	}
	if q.Status != 0 && tx.Status != q.Status {
		return false
	}
	if q.StatusClass != 0 && tx.Status/100 != q.StatusClass {
		return false
	}
	if q.RecordKey != "" && !slices.Contains(tx.RecordKeys, q.RecordKey) {
		return false
	}
	if q.Finding != "" && !slices.ContainsFunc(tx.Findings, func(f txn.Finding) bool { return f.Code == q.Finding }) {
		return false
	}
	return true
}

// DeleteBefore deletes every transaction recorded before t, with its index entries, and
// returns how many it deleted. It works in small write transactions so that live traffic is
// not held up behind one long sweep.
func (s *Store) DeleteBefore(t time.Time) (int, error) {
	if err := s.readBarrier(context.Background()); err != nil {
		return 0, err
	}
	cutoff := []byte(idAt(t))
	total := 0
	for {
		n, err := s.deleteBatch(cutoff, 500)
		total += n
		if err != nil || n == 0 {
			return total, err
		}
	}
}

func (s *Store) deleteBatch(cutoff []byte, max int) (int, error) {
	n := 0
	err := s.update(func(btx *bolt.Tx) error {
		c := btx.Bucket(bucketReq).Cursor()
		var ids [][]byte
		for k, _ := c.First(); k != nil && bytes.Compare(k, cutoff) < 0 && len(ids) < max; k, _ = c.Next() {
			ids = append(ids, bytes.Clone(k))
		}
		for _, id := range ids {
			if err := deleteOne(btx, id); err != nil {
				return err
			}
		}
		n = len(ids)
		return nil
	})
	if err != nil {
		return n, fmt.Errorf("retention sweep: %w", err)
	}
	return n, nil
}

func deleteOne(btx *bolt.Tx, id []byte) error {
	tx, ok, err := load(btx, id)
	if err != nil || !ok {
		return err
	}
	sid := string(id)
	if err := unindexResult(btx, sid, &tx.Result); err != nil {
		return err
	}
	type entry struct{ bucket, key []byte }
	dels := []entry{{bucketReq, id}, {bucketRes, id}, {bucketPending, id}, {bucketProvisional, id}, {bucketIdxRoute, indexKey(tx.Route, sid)}}
	for _, k := range tx.RecordKeys {
		dels = append(dels, entry{bucketIdxRecord, indexKey(k, sid)})
	}
	for _, d := range dels {
		if err := btx.Bucket(d.bucket).Delete(d.key); err != nil {
			return fmt.Errorf("delete %s: %w", id, err)
		}
	}
	return nil
}

// RunRetention deletes transactions older than retention every interval until ctx is done.
// It reports each sweep's result to report (which may be nil).
func (s *Store) RunRetention(ctx context.Context, retention, interval time.Duration, report func(deleted int, err error)) {
	sweep := func() {
		n, err := s.DeleteBefore(s.now().Add(-retention))
		if report != nil && (n > 0 || err != nil) {
			report(n, err)
		}
	}
	sweep()
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			sweep()
		}
	}
}
