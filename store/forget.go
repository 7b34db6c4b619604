package store

import (
	"bytes"
	"context"
	"fmt"
	"os"

	bolt "go.etcd.io/bbolt"
)

// ForgetReport says what Forget erased.
type ForgetReport struct {
	Deleted     int   `json:"deleted"`      // transactions erased
	BytesBefore int64 `json:"bytes_before"` // file size before compaction
	BytesAfter  int64 `json:"bytes_after"`  // file size after compaction
}

// compactTxSize bounds one copy transaction of the compaction.
const compactTxSize = 64 << 20

// Forget erases every transaction that carries key (the right to erasure): those indexed
// under the record key, and any other whose stored request or response mentions it (a lookup
// on a route without record keys, say). bbolt keeps freed pages' old bytes in the file, so
// Forget then rewrites the file compactly: afterwards the key's bytes are gone from disk,
// the journal's included (its segments are applied and deleted first). Calls keep flowing
// meanwhile; writes wait for the swaps. A call carrying the key that arrives while Forget
// runs may outlive it.
func (s *Store) Forget(ctx context.Context, key string) (ForgetReport, error) {
	var rep ForgetReport
	if key == "" {
		return rep, fmt.Errorf("forget: empty record key")
	}
	if err := s.readBarrier(ctx); err != nil {
		return rep, fmt.Errorf("forget: %w", err)
	}
	// First empty the journal of everything written so far: it holds the bytes of recent
	// calls, and a crash would replay them into the file this rewrites.
	if err := s.retireJournal(ctx); err != nil {
		return rep, fmt.Errorf("forget: %w", err)
	}
	needle := bytes.ToLower([]byte(key))
	var ids [][]byte
	err := s.view(func(btx *bolt.Tx) error {
		seen := map[string]bool{}
		prefix := indexKey(key, "")
		c := btx.Bucket(bucketIdxRecord).Cursor()
		for k, _ := c.Seek(prefix); k != nil && bytes.HasPrefix(k, prefix); k, _ = c.Next() {
			id := bytes.Clone(k[len(prefix):])
			seen[string(id)] = true
			ids = append(ids, id)
		}
		for _, b := range [][]byte{bucketReq, bucketRes, bucketProvisional} {
			err := btx.Bucket(b).ForEach(func(id, v []byte) error {
				if !seen[string(id)] && bytes.Contains(bytes.ToLower(v), needle) {
					seen[string(id)] = true
					ids = append(ids, bytes.Clone(id))
				}
				return ctx.Err()
			})
			if err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return rep, fmt.Errorf("forget: find transactions: %w", err)
	}
	for start := 0; start < len(ids); start += 500 {
		batch := ids[start:min(start+500, len(ids))]
		err := s.update(func(btx *bolt.Tx) error {
			for _, id := range batch {
				if err := deleteOne(btx, id); err != nil {
					return err
				}
			}
			return nil
		})
		if err != nil {
			return rep, fmt.Errorf("forget: delete: %w", err)
		}
		rep.Deleted += len(batch)
	}
	// Index entries under the key whose transaction was already gone.
	if err := s.update(func(btx *bolt.Tx) error {
		prefix := indexKey(key, "")
		c := btx.Bucket(bucketIdxRecord).Cursor()
		for k, _ := c.Seek(prefix); k != nil && bytes.HasPrefix(k, prefix); k, _ = c.Seek(prefix) {
			if err := c.Delete(); err != nil {
				return err
			}
		}
		return nil
	}); err != nil {
		return rep, fmt.Errorf("forget: clean index: %w", err)
	}
	rep.BytesBefore, rep.BytesAfter, err = s.compact()
	if err != nil {
		return rep, fmt.Errorf("forget: %w", err)
	}
	return rep, nil
}

// compact rewrites the store into a fresh file and swaps it in, so that no freed page keeps
// erased bytes.
func (s *Store) compact() (before, after int64, err error) {
	s.dbMu.Lock()
	defer s.dbMu.Unlock()
	if fi, err := os.Stat(s.path); err == nil {
		before = fi.Size()
	}
	tmp := s.path + ".compact"
	os.Remove(tmp)
	// With a large mapping bbolt grows a file 16 MiB at a time; the copy maps only what it
	// needs, so it is no larger than its data.
	dstOpts := *s.boltOpts
	dstOpts.InitialMmapSize = 0
	dst, err := bolt.Open(tmp, 0o600, &dstOpts)
	if err != nil {
		return before, 0, fmt.Errorf("compact: open %s: %w", tmp, err)
	}
	if err := bolt.Compact(dst, s.db, compactTxSize); err != nil {
		dst.Close()
		os.Remove(tmp)
		return before, 0, fmt.Errorf("compact: %w", err)
	}
	if err := dst.Close(); err != nil {
		os.Remove(tmp)
		return before, 0, fmt.Errorf("compact: close copy: %w", err)
	}
	if err := s.db.Close(); err != nil {
		return before, 0, fmt.Errorf("compact: close store: %w", err)
	}
	if err := os.Rename(tmp, s.path); err != nil {
		// Reopen the original so the store keeps working; the erased data is deleted but its
		// bytes may linger in free pages until overwritten.
		if db, oerr := bolt.Open(s.path, 0o600, s.boltOpts); oerr == nil {
			s.db = db
		}
		return before, 0, fmt.Errorf("compact: replace file: %w", err)
	}
	db, err := bolt.Open(s.path, 0o600, s.boltOpts)
	if err != nil {
		return before, 0, fmt.Errorf("compact: reopen: %w", err)
	}
	s.db = db
	if fi, err := os.Stat(s.path); err == nil {
		after = fi.Size()
	}
	return before, after, nil
}
