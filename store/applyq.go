package store

import (
	"sync"
	"time"
)

// applyQueue carries writes from the journal (and results, which need no journal) to the
// bbolt applier. It replaces a channel so that handing over a write does not wake the
// applier: the applier sleeps through its gathering interval and is woken only by the first
// write after a commit, a read that waits for the writes, or Close. On two busy CPUs, each
// avoided wake-up is a goroutine that does not run ahead of a call waiting for its intent.
type applyQueue struct {
	mu      sync.Mutex
	space   sync.Cond // signalled when the applier takes the queue
	ops     []*op
	retired []uint64 // journal segments complete once ops are applied
	urgent  bool     // a read barrier is queued
	closed  bool
	max     int           // push blocks while this many ops wait: the applier is behind
	wake    chan struct{} // capacity 1: a token means "look again"
}

func newApplyQueue(max int) *applyQueue {
	q := &applyQueue{max: max, wake: make(chan struct{}, 1)}
	q.space.L = &q.mu
	return q
}

// push queues ops, in order after everything pushed before, and the journal segment that
// became complete with them (0: none). It blocks while the applier is max ops behind, which
// holds back the journal and, through it, new calls: memory stays bounded when the disk
// cannot keep up.
func (q *applyQueue) push(retired uint64, ops ...*op) {
	q.mu.Lock()
	for len(q.ops) >= q.max && !q.closed {
		q.space.Wait()
	}
	first := len(q.ops) == 0 && len(q.retired) == 0
	q.ops = append(q.ops, ops...)
	if retired != 0 {
		q.retired = append(q.retired, retired)
	}
	urgent := !q.urgent && hasReadBarrier(ops)
	q.urgent = q.urgent || urgent
	q.mu.Unlock()
	if first || urgent {
		q.poke()
	}
}

// close tells the applier that nothing more will be pushed.
func (q *applyQueue) close() {
	q.mu.Lock()
	q.closed = true
	q.space.Broadcast()
	q.mu.Unlock()
	q.poke()
}

func (q *applyQueue) poke() {
	select {
	case q.wake <- struct{}{}:
	default:
	}
}

// take waits for writes, then gathers more for up to interval (fewer, larger bbolt commits
// cost far less) unless a read is waiting or the queue closed. It returns everything queued;
// ok is false once the queue is closed and empty.
func (q *applyQueue) take(interval time.Duration) (ops []*op, retired []uint64, ok bool) {
	q.mu.Lock()
	for len(q.ops) == 0 && len(q.retired) == 0 && !q.closed {
		q.mu.Unlock()
		<-q.wake
		q.mu.Lock()
	}
	if !q.urgent && !q.closed {
		q.mu.Unlock()
		t := time.NewTimer(interval)
	gather:
		for {
			select {
			case <-t.C:
				break gather
			case <-q.wake:
				q.mu.Lock()
				stop := q.urgent || q.closed
				q.mu.Unlock()
				if stop {
					break gather
				}
			}
		}
		t.Stop()
		q.mu.Lock()
	}
	ops, retired = q.ops, q.retired
	q.ops, q.retired, q.urgent = nil, nil, false
	ok = len(ops) > 0 || len(retired) > 0 || !q.closed
	q.space.Broadcast()
	q.mu.Unlock()
	return ops, retired, ok
}

// takeAfter is the applier's retry after a failed commit: it waits d (less if a read is waiting
// or the queue closes), then returns what is queued, without gathering more. With more false
// it takes nothing new (the applier holds as many writes as it may), so pushes keep waiting.
// ok is false once the queue is closed and empty (or, with more false, closed).
func (q *applyQueue) takeAfter(d time.Duration, more bool) (ops []*op, retired []uint64, ok bool) {
	t := time.NewTimer(d)
	defer t.Stop()
wait:
	for {
		q.mu.Lock()
		stop := q.closed || (more && q.urgent)
		q.mu.Unlock()
		if stop {
			break
		}
		select {
		case <-t.C:
			break wait
		case <-q.wake:
		}
	}
	q.mu.Lock()
	defer q.mu.Unlock()
	if !more {
		return nil, nil, !q.closed
	}
	ops, retired = q.ops, q.retired
	q.ops, q.retired, q.urgent = nil, nil, false
	ok = len(ops) > 0 || len(retired) > 0 || !q.closed
	q.space.Broadcast()
	return ops, retired, ok
}
