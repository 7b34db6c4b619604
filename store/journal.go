package store

import (
	"context"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/mtguard/mtguard/txn"
	bolt "go.etcd.io/bbolt"
)

// The write-ahead journal makes a call durable with one small append and one fdatasync, so
// the proxy waits for that instead of for a bbolt commit (which writes B-tree pages and
// syncs twice). A second goroutine applies the journaled writes to bbolt in bulk; Open replays
// whatever a crash left unapplied.
//
// Each journal writer appends to its own segment, numbered from one counter, so segments of
// different writers interleave. Replay does not depend on their order: an intent is skipped
// when bbolt has the call, a result or a provisional result when bbolt has its result (and a
// result clears a provisional one applied before it), and a result journaled without a stored
// intent carries its call.
//
// A segment (format 2) starts with a 16-byte header: segmentMagic and the segment's number.
// A record is [4-byte length][4-byte CRC-32C of the payload, seeded with the segment's
// number][payload]; every write ends with 8 zero bytes (a zero length), which the next write
// overwrites. A zero length, a short record or a wrong CRC ends the segment: the end of what
// was written, or an append a crash interrupted.
//
// Segments are recycled (recycle.go): once everything in a full segment is applied, the file
// (its blocks allocated and written, so that an fdatasync of it flushes data only) becomes a
// writer's next segment under a new number, instead of a new file being filled with zeros.
// Past the new records it still holds the old segment's records. They never replay: the end
// marker stops a clean read before them, and after a torn write their CRCs, seeded with
// another segment's number, do not match (for a record at the same offset, never: CRC-32C
// maps distinct seeds of one payload to distinct sums).
//
// Format 1 (before recycling): no header, CRCs unseeded (seed 0), zeros after the last
// record. Open still replays such segments, left by a crash before an upgrade.
const (
	recIntent byte = 1 // payload: the txn.Call's JSON
	recResult byte = 2 // payload: id length, id, call length (0 if none), call JSON, txn.Result JSON
	// recProvisional is a provisional result (Store.RecordProvisional), laid out as recResult:
	// what the call gets if no recResult follows.
	recProvisional byte = 3

	// preallocChunk is how many zero bytes a paced preallocation flushes at a time, and
	// preallocPace the pause after each.
	preallocChunk = 256 << 10
	preallocPace  = 2 * time.Millisecond

	// segmentMax is the size past which the journal starts a new segment when segments are
	// not preallocated; a preallocated segment is full at its preallocated size.
	segmentMax = 64 << 20
)

// segmentMagic opens a segment of format 2. Read as a format-1 record length it would be
// 1.8 GB, longer than any segment, so a format-1 segment never starts with it.
const segmentMagic = "mtgwal\x00\x02"

const (
	segmentHeaderLen = 16 // segmentMagic, then the segment's number
	endMarkerLen     = 8  // a record header with length 0
)

var crcTable = crc32.MakeTable(crc32.Castagnoli)

type journal struct {
	base     string // the store file's path; segments are base.wal.<n>
	f        *os.File
	seg      uint64
	size     int64 // where the next write goes
	prealloc int64
	// recycled marks a segment that was another one before (recycle.go): past size it holds
	// that segment's records.
	recycled bool
}

// segmentHeader is the first bytes of segment seg, followed by an end marker: no records yet.
func segmentHeader(seg uint64) []byte {
	b := make([]byte, 0, segmentHeaderLen+endMarkerLen)
	b = append(b, segmentMagic...)
	b = binary.BigEndian.AppendUint64(b, seg)
	return append(b, make([]byte, endMarkerLen)...)
}

// crcSeed is the CRC seed of segment seg's records: its number, which ties a record to the
// segment it was written to.
func crcSeed(seg uint64) uint32 { return uint32(seg) }

// segmentRecords returns the records of a segment's bytes and the seed of their CRCs.
func segmentRecords(data []byte) ([]byte, uint32) {
	if len(data) >= segmentHeaderLen && string(data[:len(segmentMagic)]) == segmentMagic {
		return data[segmentHeaderLen:], crcSeed(binary.BigEndian.Uint64(data[len(segmentMagic):]))
	}
	return data, 0 // format 1
}

// full reports whether j should give way to a fresh segment. Writing past the preallocated
// zeros would make every sync flush the file's new size too.
func (j *journal) full() bool {
	if j.prealloc > 0 {
		return j.size >= j.prealloc
	}
	return j.size >= segmentMax
}

func segmentPath(base string, n uint64) string {
	return base + ".wal." + fmt.Sprintf("%08d", n)
}

// segments lists the journal segments beside base, oldest first.
func segments(base string) ([]uint64, error) {
	matches, err := filepath.Glob(base + ".wal.*")
	if err != nil {
		return nil, err
	}
	var out []uint64
	for _, m := range matches {
		n, err := strconv.ParseUint(strings.TrimPrefix(m, base+".wal."), 10, 64)
		if err == nil {
			out = append(out, n)
		}
	}
	slices.Sort(out)
	return out, nil
}

// openJournal creates segment seg. With prealloc, the segment is first filled with its header
// and zeros up to that many bytes and synced: overwriting blocks a file already has makes each
// later fdatasync flush only data, not the file's size and extents, which halves its latency
// on ext4. A zero length ends the records, so the zeros read as "nothing more".
//
// With pace, the zeros are flushed a chunk at a time with a pause after each: for segments
// prepared in the background while calls are being journaled.
func openJournal(base string, seg uint64, prealloc int64, pace time.Duration) (*journal, error) {
	path := segmentPath(base, seg)
	f, err := os.OpenFile(path, os.O_CREATE|os.O_WRONLY|os.O_TRUNC, 0o600)
	if err != nil {
		return nil, fmt.Errorf("open journal: %w", err)
	}
	fail := func(err error) (*journal, error) {
		f.Close()
		os.Remove(path) // a disk that filled up should not stay full of zeros
		return nil, err
	}
	if _, err := f.Write(segmentHeader(seg)[:segmentHeaderLen]); err != nil {
		return fail(fmt.Errorf("journal header: %w", err))
	}
	if prealloc > 0 {
		zeros := make([]byte, preallocChunk)
		for n := int64(segmentHeaderLen); n < prealloc; n += int64(len(zeros)) {
			if _, err := f.Write(zeros[:min(int64(len(zeros)), prealloc-n)]); err != nil {
				return fail(fmt.Errorf("preallocate journal: %w", err))
			}
			if pace > 0 {
				// Flushing a whole segment's zeros at once holds the disk for tens of
				// milliseconds, and every call's journal sync queues behind it. A chunk at a
				// time keeps each wait short.
				if err := fdatasync(f); err != nil {
					return fail(fmt.Errorf("preallocate journal: %w", err))
				}
				time.Sleep(pace)
			}
		}
		if err := fdatasync(f); err != nil {
			return fail(fmt.Errorf("preallocate journal: %w", err))
		}
	}
	if err := syncDir(filepath.Dir(base)); err != nil {
		return fail(err)
	}
	return &journal{base: base, f: f, seg: seg, size: segmentHeaderLen, prealloc: prealloc}, nil
}

// write appends buf, records whose CRCs are not filled in yet (see appendSealedRecord), and
// waits until it is on disk. It seals them for this segment and writes an end marker after
// them, in the same write: in a recycled segment, what follows is the old segment's records.
func (j *journal) write(buf []byte) error {
	sealRecords(buf, crcSeed(j.seg))
	n := len(buf)
	buf = append(buf, make([]byte, endMarkerLen)...)
	if _, err := j.f.WriteAt(buf, j.size); err != nil {
		return fmt.Errorf("journal write: %w", err)
	}
	if err := fdatasync(j.f); err != nil {
		return fmt.Errorf("journal sync: %w", err)
	}
	j.size += int64(n)
	return nil
}

// discard closes and deletes a segment nothing was written to.
func (j *journal) discard() {
	j.f.Close()
	os.Remove(segmentPath(j.base, j.seg))
}

// swap closes j's segment, continues in next's, and returns the number of the one it closed.
func (j *journal) swap(next *journal) uint64 {
	old := j.seg
	j.f.Close()
	*j = *next
	return old
}

// appendSealedRecord appends o's journal record to buf, encoding it in place: a journal batch
// is one buffer, reused from batch to batch, so a record costs no allocation of its own. The
// request side, when it is encoded here, is sealed with k (nil: in clear). The CRC is left
// for journal.write to fill in: which segment the batch goes to is known only then.
func appendSealedRecord(buf []byte, o *op, k *Keys) []byte {
	start := len(buf)
	buf = append(buf, 0, 0, 0, 0, 0, 0, 0, 0) // length and CRC, filled in below
	if o.intent {
		buf = append(buf, recIntent)
		buf = append(buf, o.req...)
	} else {
		kind := recResult
		if o.provisional {
			kind = recProvisional
		}
		buf = append(buf, kind)
		buf = binary.BigEndian.AppendUint16(buf, uint16(len(o.tx.ID)))
		buf = append(buf, o.tx.ID...)
		lenAt := len(buf)
		buf = append(buf, 0, 0, 0, 0)
		if !o.tx.IntentStored || o.spill {
			call := o.req // a provisional result's, encoded by its caller
			if call == nil {
				call, _ = k.encodeCall(&o.tx.Call) // a txn.Call of strings and slices always encodes
			}
			buf = append(buf, call...)
			binary.BigEndian.PutUint32(buf[lenAt:], uint32(len(call)))
		}
		buf = append(buf, o.res...)
	}
	binary.BigEndian.PutUint32(buf[start:], uint32(len(buf)-start-8))
	return buf
}

// sealRecords fills in the CRC of every record in buf, seeded with seed.
func sealRecords(buf []byte, seed uint32) {
	for len(buf) >= 8 {
		size := binary.BigEndian.Uint32(buf)
		payload := buf[8 : 8+size]
		binary.BigEndian.PutUint32(buf[4:], crc32.Update(seed, crcTable, payload))
		buf = buf[8+size:]
	}
}

// replayJournal applies every record of the segments beside base that bbolt does not hold yet,
// and returns the segments it read (to delete once the transaction commits).
func replayJournal(btx *bolt.Tx, base string) ([]uint64, int, error) {
	segs, err := segments(base)
	if err != nil {
		return nil, 0, fmt.Errorf("list journal: %w", err)
	}
	applied := 0
	for _, n := range segs {
		raw, err := os.ReadFile(segmentPath(base, n))
		if err != nil {
			return nil, 0, fmt.Errorf("read journal: %w", err)
		}
		data, seed := segmentRecords(raw)
		for len(data) >= 8 {
			size := binary.BigEndian.Uint32(data)
			sum := binary.BigEndian.Uint32(data[4:])
			if size == 0 || uint64(len(data)-8) < uint64(size) {
				break // the tail of an append the crash interrupted
			}
			payload := data[8 : 8+size]
			if crc32.Update(seed, crcTable, payload) != sum {
				break // also a recycled segment's old record: seeded with another number
			}
			data = data[8+size:]
			ok, err := replayRecord(btx, payload)
			if err != nil {
				return nil, 0, err
			}
			if ok {
				applied++
			}
		}
	}
	return segs, applied, nil
}

// replayRecord applies one journal record unless bbolt already has it.
func replayRecord(btx *bolt.Tx, p []byte) (bool, error) {
	switch p[0] {
	case recIntent:
		var tx txn.Transaction
		if err := json.Unmarshal(p[1:], &tx.Call); err != nil {
			return false, fmt.Errorf("journal intent: %w", err)
		}
		if btx.Bucket(bucketReq).Get([]byte(tx.ID)) != nil {
			return false, nil
		}
		return true, putIntent(btx, &tx, p[1:], true)
	case recResult, recProvisional:
		r := p[1:]
		if len(r) < 2 {
			return false, errors.New("journal result: short record")
		}
		idLen := int(binary.BigEndian.Uint16(r))
		if len(r) < 2+idLen+4 {
			return false, errors.New("journal result: short record")
		}
		id := r[2 : 2+idLen]
		callLen := int(binary.BigEndian.Uint32(r[2+idLen:]))
		rest := r[2+idLen+4:]
		if len(rest) < callLen {
			return false, errors.New("journal result: short record")
		}
		call, res := rest[:callLen], rest[callLen:]
		if btx.Bucket(bucketRes).Get(id) != nil {
			return false, nil
		}
		if p[0] == recProvisional {
			var call1 []byte
			if callLen > 0 {
				call1 = bytesClone(call)
			}
			err := putProvisional(btx, &txn.Transaction{Call: txn.Call{ID: string(id)}}, call1, bytesClone(res))
			return err == nil, err
		}
		var tx txn.Transaction
		if btx.Bucket(bucketReq).Get(id) == nil {
			if callLen == 0 {
				return false, nil // the intent is lost (its own record was torn): nothing to attach to
			}
			if err := json.Unmarshal(call, &tx.Call); err != nil {
				return false, fmt.Errorf("journal result call: %w", err)
			}
		}
		tx.ID = string(id)
		if err := json.Unmarshal(res, &tx.Result); err != nil {
			return false, fmt.Errorf("journal result: %w", err)
		}
		return true, putResultWithIntent(btx, &tx, bytesClone(call), bytesClone(res), nil)
	}
	return false, fmt.Errorf("journal: unknown record kind %d", p[0])
}

func bytesClone(b []byte) []byte { return append([]byte(nil), b...) }

// removeSegments deletes applied journal segments.
func removeSegments(base string, segs []uint64) error {
	for _, n := range segs {
		if err := os.Remove(segmentPath(base, n)); err != nil && !errors.Is(err, os.ErrNotExist) {
			return fmt.Errorf("remove journal segment: %w", err)
		}
	}
	return nil
}

// syncDir makes a new directory entry (a journal segment) durable.
func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return fmt.Errorf("sync dir: %w", err)
	}
	defer d.Close()
	if err := d.Sync(); err != nil && !errors.Is(err, io.EOF) {
		return fmt.Errorf("sync dir: %w", err)
	}
	return nil
}

// retireJournal moves every journal writer to a fresh segment and returns once the segments
// they leave are applied to bbolt and deleted. Forget needs it: the journal holds the bytes of
// recent calls, and replaying it after a crash would bring erased calls back. Recycled files
// hold such bytes too, past their own records: the ones waiting are deleted, spares made from
// them are replaced, and no segment written before the swap is ever recycled (see cut).
func (s *Store) retireJournal(ctx context.Context) error {
	// The fresh segments are created (and zero-filled) before the writers are stopped, so
	// calls wait only for the swap.
	var next [journalWriters]*journal
	for i := range next {
		j, err := openJournal(s.path, s.newSegment(), s.prealloc, preallocPace)
		if err != nil {
			for _, o := range next[:i] {
				o.discard()
			}
			return fmt.Errorf("retire journal: %w", err)
		}
		next[i] = j
	}
	barrier := &op{done: make(chan error, 1)}
	s.closeMu.RLock()
	if s.closed {
		s.closeMu.RUnlock()
		for _, j := range next {
			j.discard()
		}
		return ErrClosed
	}
	s.walMu.Lock()
	cerr := s.pool.cut(s.path, s.nextSeg.Load())
	for i := range s.wals {
		select {
		case spare := <-s.spares[i]:
			if spare != nil && spare.recycled {
				spare.discard()
				s.prepareSegment(i)
			} else {
				s.spares[i] <- spare // channel of one, just emptied
			}
		default: // being prepared: a recycled one would come from the pool cut just emptied
		}
	}
	s.pool.expect(journalWriters)
	for i, w := range s.wals {
		// Every batch written to w was pushed before the writer let go of walMu, so the
		// applier deletes the segment only after applying all of it.
		s.apply.push(w.swap(next[i]))
	}
	s.apply.push(0, barrier)
	s.walMu.Unlock()
	s.closeMu.RUnlock()
	select {
	case err := <-barrier.done:
		if err != nil {
			return fmt.Errorf("retire journal: %w", err)
		}
	case <-ctx.Done():
		return fmt.Errorf("retire journal: %w", ctx.Err())
	}
	if cerr != nil {
		return fmt.Errorf("retire journal: %w", cerr)
	}
	// The deletions, durable: after a power loss a segment whose name came back would
	// replay erased calls.
	if err := syncDir(filepath.Dir(s.path)); err != nil {
		return fmt.Errorf("retire journal: %w", err)
	}
	if s.keepSegments.Load() {
		return errors.New("retire journal: a bbolt commit failed earlier, so the journal keeps its segments for the next start; fix the store's disk and run this again")
	}
	return nil
}

// newSegment returns the number of a journal segment not used yet.
func (s *Store) newSegment() uint64 { return s.nextSeg.Add(1) - 1 }

// nextSegment moves writer w to its spare segment, if the spare is ready, and hands the full
// one to the applier, which recycles or deletes it once everything pushed before it is
// applied. If the spare is not ready yet, the writer goes on appending, tells the spare's
// preparation not to wait for a recycled file any longer, and tries again after its next
// batch.
func (s *Store) nextSegment(w int) {
	select {
	case spare := <-s.spares[w]:
		if spare == nil {
			s.prepareSegment(w)
			return
		}
		full := s.wals[w].swap(spare)
		// Counted before the preparation looks and before the applier can have it, so
		// that the one waits for it and the other keeps it for the one.
		s.pool.expect(1)
		s.prepareSegment(w)
		s.apply.push(full)
	default:
		select {
		case s.need[w] <- struct{}{}:
		default:
		}
	}
}

// prepareSegment readies writer w's next segment in the background: a recycled one, when a
// full segment is on its way to the applier (it waits for that one until the writer needs
// its spare), or else a new one, preallocating no more than the disk can spare (see
// JournalPrealloc).
func (s *Store) prepareSegment(w int) {
	wait := s.prealloc > 0
	if wait {
		s.pool.await(1)
	}
	select {
	case <-s.need[w]: // a former spare's
	default:
	}
	go func() {
		for {
			err := s.health.inject(OpSegment)
			var j *journal
			if err == nil {
				prealloc := s.prealloc
				if prealloc > 0 {
					if p, _, ferr := JournalPrealloc(filepath.Dir(s.path), prealloc); ferr == nil {
						prealloc = p
					}
				}
				if wait {
					wait = false
					var got recycledSpare
					switch got, err = s.recycled(w, prealloc); got {
					case deliveredRecycled:
						s.health.succeeded(slotSegment, 0)
						return
					case closedRecycled:
						return
					}
				}
				if err == nil {
					j, err = openJournal(s.path, s.newSegment(), prealloc, preallocPace)
				}
			}
			if err == nil {
				s.health.succeeded(slotSegment, 0)
				s.spares[w] <- j
				return
			}
			if wait {
				wait = false
				s.pool.await(-1)
			}
			// Meanwhile the writer goes on appending to its current segment.
			n := s.health.failed(slotSegment, err, int(s.health.held.Load()))
			select {
			case <-time.After(s.health.backoff(n)):
			case <-s.done:
				s.spares[w] <- nil
				return
			}
		}
	}()
}
