package store

import "sync"

// batchOrder lets journal batches finish out of order while barriers keep their meaning. With
// two journal writers, a batch taken later can be on disk before one taken earlier; a barrier
// (Sync, or a read waiting for bbolt) promises that everything queued before it is durable, so
// it is released only once every batch taken up to its own has finished.
type batchOrder struct {
	mu   sync.Mutex
	next uint64 // the number of the next batch taken
	done uint64 // every batch numbered below this has finished
	// finished holds batches above done that finished before it, with their write error.
	finished map[uint64]error
	held     []heldBarrier
}

// heldBarrier is a barrier whose batch finished before an earlier one.
type heldBarrier struct {
	seq uint64
	o   *op
	err error // the first write error among the batches it waits for
}

// released is a barrier ready to be answered, with the error of the journal writes it covers.
type released struct {
	o   *op
	err error
}

// begin numbers a batch. The caller takes batches one at a time (it holds the take token), so
// numbers follow the order in which writes were queued.
func (b *batchOrder) begin() uint64 {
	b.mu.Lock()
	defer b.mu.Unlock()
	seq := b.next
	b.next++
	return seq
}

// finish records that batch seq is on disk (or failed with err) and returns the barriers that
// may now be answered: those of seq, if no earlier batch is still being written, and those held
// back until this batch finished. It appends to out to spare the caller an allocation.
func (b *batchOrder) finish(seq uint64, err error, barriers []*op, out []released) []released {
	b.mu.Lock()
	defer b.mu.Unlock()
	if err != nil {
		for i := range b.held {
			if b.held[i].seq > seq && b.held[i].err == nil {
				b.held[i].err = err
			}
		}
	}
	if seq != b.done {
		// An earlier batch is still being written: remember this one, and hold its barriers
		// until the earlier one is done, carrying any error of the early finishers they cover.
		if b.finished == nil {
			b.finished = make(map[uint64]error)
		}
		b.finished[seq] = err
		first := err
		for k := b.done; k < seq && first == nil; k++ {
			first = b.finished[k]
		}
		for _, o := range barriers {
			b.held = append(b.held, heldBarrier{seq: seq, o: o, err: first})
		}
		return out
	}
	for _, o := range barriers {
		out = append(out, released{o: o, err: err})
	}
	// In order, the common case: only batches that finished early are in the map.
	b.done++
	for {
		if _, ok := b.finished[b.done]; !ok {
			break
		}
		delete(b.finished, b.done)
		b.done++
	}
	keep := b.held[:0]
	for _, h := range b.held {
		if h.seq < b.done {
			out = append(out, released{o: h.o, err: h.err})
		} else {
			keep = append(keep, h)
		}
	}
	clear(b.held[len(keep):])
	b.held = keep
	return out
}
