package main

import (
	"context"
	"runtime"
	"runtime/debug"
	"runtime/metrics"
	"time"
)

// defaultMemoryLimit is the soft limit on the Go runtime's memory that mtguard serve sets unless
// GOMEMLIMIT is set. With the GC target at 800 the heap may grow to nine times the live data
// before a cycle (200-240 MB at full load in the proxy benchmark); the limit makes the
// collector run earlier instead, once the runtime's memory nears it. The live heap is small
// (a few MB per thousand calls in flight), so the extra cycles cost little: each marks only
// the live data. A live heap larger than the limit is not an error: the collector then runs
// as often as the limit requires, up to its own cap on GC CPU (half), and memory grows past it.
const defaultMemoryLimit = 96 << 20

// tuneMemory sets the soft memory limit unless the operator chose one with GOMEMLIMIT.
func tuneMemory(getenv func(string) string) {
	if getenv("GOMEMLIMIT") == "" {
		debug.SetMemoryLimit(defaultMemoryLimit)
	}
}

// idleCheck is how often releaseWhenIdle looks at the allocation rate, and idleAllocs the
// bytes allocated within one check below which the process counts as idle: a quiet admin
// API and timers allocate a little, a single proxied call about 30 KB.
const (
	idleCheck  = 5 * time.Second
	idleAllocs = 1 << 20
)

// releaseWhenIdle gives the memory a burst of calls used back to the system once the process
// has been idle for a check: without it, the heap left by the last burst stays resident until
// the next forced collection (every two minutes) and the scavenger returns it slowly. It runs
// one collection per idle spell, none while calls flow, and returns when ctx is done.
func releaseWhenIdle(ctx context.Context) {
	sample := []metrics.Sample{{Name: "/gc/heap/allocs:bytes"}}
	read := func() uint64 {
		metrics.Read(sample)
		if sample[0].Value.Kind() != metrics.KindUint64 {
			return 0
		}
		return sample[0].Value.Uint64()
	}
	t := time.NewTicker(idleCheck)
	defer t.Stop()
	last, released := read(), true
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		now := read()
		busy := now-last >= idleAllocs
		last = now
		switch {
		case busy:
			released = false
		case !released:
			// The first collection moves what sync.Pools hold (buffers of bbolt, net/http and
			// the pipeline) to their victim caches; the one FreeOSMemory runs frees them.
			runtime.GC()
			debug.FreeOSMemory()
			released = true
			last = read() // the collection's own allocations are not calls
		}
	}
}
