package store

import (
	"bytes"
	"cmp"
	"context"
	"fmt"
	"net/url"
	"os"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/mtguard/mtguard/txn"
	bolt "go.etcd.io/bbolt"
)

// ForgetReport says what Forget erased, and where the person's data went.
type ForgetReport struct {
	Deleted int `json:"deleted"` // transactions erased whole: they carried no one else
	// Scrubbed counts the calls kept because they also carried other people (batches): the
	// person's values in them are now Erased.
	Scrubbed    int   `json:"scrubbed"`
	BytesBefore int64 `json:"bytes_before"` // file size before compaction
	BytesAfter  int64 `json:"bytes_after"`  // file size after compaction
	// Recipients lists, per route and vendor host, the calls that carried the person: whom to
	// ask to erase it too. Only calls the store still held count (retention deletes older ones).
	Recipients []Recipient `json:"recipients"`
}

// Recipient is one route and vendor host that calls carrying an erased person went to.
type Recipient struct {
	Route    string `json:"route"`
	Upstream string `json:"upstream"` // the vendor's host the route sends to
	Calls    int    `json:"calls"`    // calls that carried the person on this route
	// Sent counts those mtguard sent, or may have sent, to the vendor: all but the ones it
	// refused (rejected) or held back (throttled) itself.
	Sent int `json:"sent"`
	// First and Last are the times of the first and last call sent; absent when none was.
	First *time.Time `json:"first,omitempty"`
	Last  *time.Time `json:"last,omitempty"`
}

// add counts tx in the recipients.
func addRecipient(rs map[[2]string]*Recipient, tx *txn.Transaction) {
	host := ""
	if u, err := url.Parse(tx.UpstreamURL); err == nil {
		host = u.Host
	}
	k := [2]string{tx.Route, host}
	r := rs[k]
	if r == nil {
		r = &Recipient{Route: tx.Route, Upstream: host}
		rs[k] = r
	}
	r.Calls++
	if tx.Outcome == txn.OutcomeRejected || tx.Outcome == txn.OutcomeThrottled {
		return
	}
	r.Sent++
	at := tx.Time
	if r.First == nil || at.Before(*r.First) {
		r.First = &at
	}
	if r.Last == nil || at.After(*r.Last) {
		r.Last = &at
	}
}

// compactTxSize bounds one copy transaction of the compaction.
const compactTxSize = 64 << 20

// Forget erases every transaction that carries key (the right to erasure): those indexed
// under the record key, and any other whose stored request or response mentions it (a lookup
// on a route without record keys, say). A call that also carried other record keys (a batch)
// is kept for their sake, with the key's values replaced by Erased (see scrubber); any other
// is deleted. The report lists the routes and vendor hosts the calls went to, and when.
// bbolt keeps freed pages' old bytes in the file, so
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
				if seen[string(id)] {
					return ctx.Err()
				}
				v = s.plainForScan(string(id), v, bytes.Equal(b, bucketReq))
				if bytes.Contains(bytes.ToLower(v), needle) {
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
	rep.Recipients = []Recipient{}
	sc := newScrubber(key)
	recipients := map[[2]string]*Recipient{}
	for start := 0; start < len(ids); start += 500 {
		batch := ids[start:min(start+500, len(ids))]
		var deleted, scrubbed int
		var inFlight []string
		err := s.update(func(btx *bolt.Tx) error {
			for _, id := range batch {
				pending := btx.Bucket(bucketRes).Get(id) == nil && btx.Bucket(bucketReq).Get(id) != nil
				kept, err := forgetOne(btx, id, sc, recipients, s.keys)
				if err != nil {
					return err
				}
				if kept {
					scrubbed++
				} else {
					deleted++
					if pending {
						inFlight = append(inFlight, string(id))
					}
				}
			}
			// Listed before this commit ends, so the applier's next commit, which cannot
			// come sooner, drops their late answers.
			s.forgotten.add(inFlight)
			return nil
		})
		if err != nil {
			s.forgotten.remove(inFlight)
			return rep, fmt.Errorf("forget: delete: %w", err)
		}
		rep.Deleted += deleted
		rep.Scrubbed += scrubbed
		for _, r := range recipients {
			rep.Recipients = mergeRecipient(rep.Recipients, *r)
		}
		clear(recipients)
	}
	slices.SortFunc(rep.Recipients, func(a, b Recipient) int {
		return cmp.Or(cmp.Compare(a.Route, b.Route), cmp.Compare(a.Upstream, b.Upstream))
	})
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

// forgetOne erases the key from the call id and counts it in recipients: it deletes a call
// that carried no other record key, and scrubs one that did (kept reports that). A call the
// scrubber cannot clear of an email key is deleted too.
func forgetOne(btx *bolt.Tx, id []byte, sc scrubber, recipients map[[2]string]*Recipient, keys *Keys) (kept bool, err error) {
	tx, ok, err := load(btx, id)
	if err != nil || !ok {
		return false, err
	}
	addRecipient(recipients, &tx)
	// A call whose sealed messages cannot be opened cannot be scrubbed either: erase it whole.
	if keys.openTx(&tx) || !slices.ContainsFunc(tx.RecordKeys, func(k string) bool { return k != sc.key }) {
		return false, deleteOne(btx, id)
	}
	hadKey := slices.Contains(tx.RecordKeys, sc.key)
	sc.call(&tx)
	req, err := marshalCall(&tx.Call)
	if err != nil {
		return false, fmt.Errorf("encode request %s: %w", id, err)
	}
	var res []byte
	if btx.Bucket(bucketRes).Get(id) != nil {
		if res, err = marshalResult(&tx.Result); err != nil {
			return false, err
		}
	}
	if sc.mentions(req) || sc.mentions(res) {
		return false, deleteOne(btx, id)
	}
	if keys != nil {
		// Checked in clear above; stored sealed.
		if req, err = keys.encodeCall(&tx.Call); err != nil {
			return false, fmt.Errorf("encode request %s: %w", id, err)
		}
		if res != nil {
			if res, err = keys.encodeResult(tx.ID, &tx.Result); err != nil {
				return false, err
			}
		}
	}
	if err := btx.Bucket(bucketReq).Put(id, req); err != nil {
		return false, fmt.Errorf("put request %s: %w", id, err)
	}
	if res != nil {
		if err := btx.Bucket(bucketRes).Put(id, res); err != nil {
			return false, fmt.Errorf("put result %s: %w", id, err)
		}
	}
	if hadKey {
		if err := btx.Bucket(bucketIdxRecord).Delete(indexKey(sc.key, string(id))); err != nil {
			return false, fmt.Errorf("unindex record key: %w", err)
		}
	}
	return true, nil
}

// mergeRecipient adds r to rs, into the entry of the same route and host if there is one.
func mergeRecipient(rs []Recipient, r Recipient) []Recipient {
	i := slices.IndexFunc(rs, func(x Recipient) bool { return x.Route == r.Route && x.Upstream == r.Upstream })
	if i < 0 {
		return append(rs, r)
	}
	m := &rs[i]
	m.Calls += r.Calls
	m.Sent += r.Sent
	if r.First != nil && (m.First == nil || r.First.Before(*m.First)) {
		m.First = r.First
	}
	if r.Last != nil && (m.Last == nil || r.Last.After(*m.Last)) {
		m.Last = r.Last
	}
	return rs
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

// forgottenCalls lists the calls Forget erased while they waited for their vendor's answer.
// The answer still comes, and written on its own it would keep the person's data in the file
// (the vendor's answer, without the request); the applier drops it instead. An id leaves the
// list with its call's result; the list lives in memory only, which is enough: after a
// restart a late result finds no request to attach to in the journal and is dropped there.
type forgottenCalls struct {
	n   atomic.Int32 // len(ids), read without the lock on every commit
	mu  sync.Mutex
	ids map[string]bool
}

func (f *forgottenCalls) add(ids []string) {
	if len(ids) == 0 {
		return
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.ids == nil {
		f.ids = map[string]bool{}
	}
	for _, id := range ids {
		f.ids[id] = true
	}
	f.n.Store(int32(len(f.ids)))
}

func (f *forgottenCalls) remove(ids []string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	for _, id := range ids {
		delete(f.ids, id)
	}
	f.n.Store(int32(len(f.ids)))
}

// drop reports whether o is the provisional result or result of a forgotten call; a result
// takes its call off the list.
func (f *forgottenCalls) drop(o *op) bool {
	if f.n.Load() == 0 || o.tx == nil || o.intent {
		return false
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if !f.ids[o.tx.ID] {
		return false
	}
	if !o.provisional {
		delete(f.ids, o.tx.ID)
		f.n.Store(int32(len(f.ids)))
	}
	return true
}
