package store

import (
	"testing"
	"time"

	"github.com/mtguard/mtguard/txn"
)

// takeAsync runs q.take in a goroutine and returns a channel for what it returned.
func takeAsync(q *applyQueue, interval time.Duration) <-chan []*op {
	out := make(chan []*op, 1)
	go func() {
		ops, _, ok := q.take(interval)
		if !ok {
			ops = nil
		}
		out <- ops
	}()
	return out
}

func TestApplyQueue(t *testing.T) {
	result := func() *op { return &op{tx: &txn.Transaction{}} }
	readBarrier := func() *op { return &op{done: make(chan error, 1)} }
	syncBarrier := func() *op { return &op{done: make(chan error, 1), durableOnly: true} }

	t.Run("gathers for the interval, in push order", func(t *testing.T) {
		q := newApplyQueue(100)
		a, b, c := result(), result(), result()
		q.push(0, a)
		start := time.Now()
		got := takeAsync(q, 100*time.Millisecond)
		q.push(7, b, c)
		ops := <-got
		if waited := time.Since(start); waited < 100*time.Millisecond {
			t.Errorf("take returned after %v, before the 100ms gathering interval", waited)
		}
		if len(ops) != 3 || ops[0] != a || ops[1] != b || ops[2] != c {
			t.Errorf("take = %v, want a, b, c in push order", ops)
		}
	})

	t.Run("a read barrier ends the gathering", func(t *testing.T) {
		q := newApplyQueue(100)
		q.push(0, result())
		got := takeAsync(q, time.Hour)
		q.push(0, syncBarrier()) // a Sync does not wait for bbolt: no hurry
		select {
		case <-got:
			t.Fatal("take returned for a durable-only barrier")
		case <-time.After(50 * time.Millisecond):
		}
		q.push(0, readBarrier())
		select {
		case ops := <-got:
			if len(ops) != 3 {
				t.Errorf("take returned %d ops, want 3", len(ops))
			}
		case <-time.After(10 * time.Second):
			t.Fatal("take still gathering after a read barrier was pushed")
		}
	})

	t.Run("a barrier pushed first is not held back", func(t *testing.T) {
		q := newApplyQueue(100)
		q.push(0, readBarrier())
		select {
		case <-takeAsync(q, time.Hour):
		case <-time.After(10 * time.Second):
			t.Fatal("take held a read barrier for the gathering interval")
		}
	})

	t.Run("waits while empty", func(t *testing.T) {
		q := newApplyQueue(100)
		got := takeAsync(q, time.Millisecond)
		select {
		case ops := <-got:
			t.Fatalf("take returned %v from an empty queue", ops)
		case <-time.After(50 * time.Millisecond):
		}
		q.push(0, result())
		if ops := <-got; len(ops) != 1 {
			t.Errorf("take = %d ops, want 1", len(ops))
		}
	})

	t.Run("close drains, then reports the end", func(t *testing.T) {
		q := newApplyQueue(100)
		q.push(3, result())
		q.close()
		ops, retired, ok := q.take(time.Hour)
		if !ok || len(ops) != 1 || len(retired) != 1 || retired[0] != 3 {
			t.Errorf("take after close = %d ops, retired %v, ok %v; want the op, segment 3, true", len(ops), retired, ok)
		}
		if _, _, ok := q.take(time.Hour); ok {
			t.Error("take on a closed, empty queue: ok, want the end")
		}
	})

	t.Run("push waits while the applier is behind", func(t *testing.T) {
		q := newApplyQueue(2)
		q.push(0, result(), result())
		pushed := make(chan struct{})
		go func() { q.push(0, result()); close(pushed) }()
		select {
		case <-pushed:
			t.Fatal("push went through with the queue full")
		case <-time.After(50 * time.Millisecond):
		}
		if ops, _, _ := q.take(0); len(ops) != 2 {
			t.Fatalf("take = %d ops, want 2", len(ops))
		}
		select {
		case <-pushed:
		case <-time.After(10 * time.Second):
			t.Fatal("push still blocked after the applier took the queue")
		}
	})
}
