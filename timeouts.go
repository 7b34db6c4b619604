package main

import "time"

// Server limits. Header and body sizes bound what one caller can make mtguard hold in memory;
// timeouts bound how long a slow or idle caller can hold a connection.
const (
	maxHeaderBytes    = 64 << 10
	readHeaderTimeout = 10 * time.Second
	readTimeout       = 60 * time.Second // a 10 MiB body at ~170 KB/s
	idleTimeout       = 120 * time.Second
	// writeIdleTimeout bounds each write of an answer to a tool, not the whole answer: a
	// stream passes for as long as the vendor sends it, and a tool that stops reading is cut
	// off once a write makes no progress for this long.
	writeIdleTimeout  = 60 * time.Second
	adminWriteTimeout = 30 * time.Second
	shutdownGrace     = 30 * time.Second
	retentionEvery    = time.Hour
	// journalPrealloc is the zero-filled size of each journal segment: cheaper syncs on the
	// request path for a one-off ~50 ms write when a segment starts. About four segments exist
	// at a time; on a disk without room for them it is scaled down (scaledPrealloc).
	journalPrealloc = 16 << 20
)
