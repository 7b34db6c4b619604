package observe

import (
	"sync"
	"sync/atomic"
	"time"

	"github.com/mtguard/mtguard/txn"
)

// Handler is what the queue's goroutine calls.
type Handler struct {
	// Take handles a batch: a call and every call queued behind it (a burst costs one save).
	// The Flush calls waiting among them return once it has returned; txs may be empty.
	Take func(txs []txn.Transaction)
	// Tick, when set, is called every Every.
	Tick  func()
	Every time.Duration
	// Stop, when set, is called once Close has taken the calls still queued.
	Stop func()
}

// item is a committed call, or a barrier that Flush waits on.
type item struct {
	tx      txn.Transaction
	barrier chan struct{}
}

// Queue feeds committed calls to one goroutine. Its methods are safe for concurrent use.
type Queue struct {
	in      chan item
	dropped atomic.Int64
	h       Handler

	mu      sync.Mutex
	started bool
	closed  bool
	stop    chan struct{}
	done    chan struct{}
}

// New returns a queue holding up to buffer calls for h; Start starts taking them.
func New(buffer int, h Handler) *Queue {
	return &Queue{in: make(chan item, buffer), h: h, stop: make(chan struct{}), done: make(chan struct{})}
}

// Start starts the goroutine that hands the queued calls to the handler.
func (q *Queue) Start() {
	q.mu.Lock()
	q.started = true
	q.mu.Unlock()
	go q.run()
}

// Offer queues tx; it never blocks (when the queue is full, tx is dropped and counted).
func (q *Queue) Offer(tx txn.Transaction) {
	select {
	case q.in <- item{tx: tx}:
	default:
		q.dropped.Add(1)
	}
}

// Dropped counts the calls dropped because the queue was full.
func (q *Queue) Dropped() int64 { return q.dropped.Load() }

// Running reports whether Start ran and Close did not.
func (q *Queue) Running() bool {
	q.mu.Lock()
	defer q.mu.Unlock()
	return q.started && !q.closed
}

// Flush waits until every call offered before it is taken (after Start).
func (q *Queue) Flush() {
	b := make(chan struct{})
	q.in <- item{barrier: b}
	<-b
}

// Close stops the goroutine after the calls already queued are taken.
func (q *Queue) Close() {
	q.mu.Lock()
	if q.closed || !q.started {
		q.closed = true
		q.mu.Unlock()
		return
	}
	q.closed = true
	q.mu.Unlock()
	close(q.stop)
	<-q.done
}

func (q *Queue) run() {
	defer close(q.done)
	var tick <-chan time.Time
	if q.h.Tick != nil {
		t := time.NewTicker(q.h.Every)
		defer t.Stop()
		tick = t.C
	}
	for {
		select {
		case it := <-q.in:
			q.take(it)
		case <-tick:
			q.h.Tick()
		case <-q.stop:
			q.Drain()
			if q.h.Stop != nil {
				q.h.Stop()
			}
			return
		}
	}
}

// take hands it and every call queued behind it to Take, then releases their barriers.
func (q *Queue) take(it item) {
	var txs []txn.Transaction
	var barriers []chan struct{}
	for {
		if it.barrier != nil {
			barriers = append(barriers, it.barrier)
		} else {
			txs = append(txs, it.tx)
		}
		select {
		case it = <-q.in:
			continue
		default:
		}
		break
	}
	q.h.Take(txs)
	for _, b := range barriers {
		close(b)
	}
}

// Drain takes the calls still queued, on the caller's goroutine.
func (q *Queue) Drain() {
	for {
		select {
		case it := <-q.in:
			q.take(it)
		default:
			return
		}
	}
}
