package store

import (
	"bytes"
	"context"
	"sort"
	"time"

	bolt "go.etcd.io/bbolt"
)

// SendTimes returns when the calls of routes were recorded since a time, oldest first, at most
// max of them. It reads only the route index (ids carry their time), so it is cheap enough to
// run at start: the throttler seeds its windows and daily quotas from it, which is how a
// restart does not reset a quota. It counts every recorded call, sent or not, which can only
// make the throttler stricter.
func (s *Store) SendTimes(routes []string, since time.Time, max int) ([]time.Time, error) {
	if err := s.readBarrier(context.Background()); err != nil {
		return nil, err
	}
	var out []time.Time
	err := s.view(func(btx *bolt.Tx) error {
		c := btx.Bucket(bucketIdxRoute).Cursor()
		for _, r := range routes {
			prefix := indexKey(r, "")
			for k, _ := c.Seek(append(bytes.Clone(prefix), idAt(since)...)); k != nil && bytes.HasPrefix(k, prefix) && len(out) < max; k, _ = c.Next() {
				if t, ok := idTime(string(k[len(prefix):])); ok {
					out = append(out, t)
				}
			}
		}
		return nil
	})
	sort.Slice(out, func(i, j int) bool { return out[i].Before(out[j]) })
	return out, err
}

// idTime decodes the millisecond time an id was issued at.
func idTime(id string) (time.Time, bool) {
	if !validID(id) {
		return time.Time{}, false
	}
	var ms uint64
	for i := 0; i < 10; i++ { // the first 10 characters: 2 zero bits, then 48 bits of ms
		ms = ms<<5 | uint64(crockfordIndex(id[i]))
	}
	return time.UnixMilli(int64(ms)), true
}

func crockfordIndex(c byte) int {
	for i := 0; i < len(crockford); i++ {
		if crockford[i] == c {
			return i
		}
	}
	return 0
}
