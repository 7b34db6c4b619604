package main

import (
	"runtime/debug"
	"testing"
)

// TestTuneMemory checks that mtguard's soft memory limit applies only when the operator set
// none with GOMEMLIMIT.
func TestTuneMemory(t *testing.T) {
	before := debug.SetMemoryLimit(-1)
	defer debug.SetMemoryLimit(before)
	const unset = 1 << 40
	for _, tc := range []struct {
		env  string
		want int64
	}{
		{"", defaultMemoryLimit},
		{"1GiB", unset}, // GOMEMLIMIT set: left as the runtime read it
	} {
		debug.SetMemoryLimit(unset)
		tuneMemory(func(k string) string {
			if k == "GOMEMLIMIT" {
				return tc.env
			}
			return ""
		})
		if got := debug.SetMemoryLimit(-1); got != tc.want {
			t.Errorf("GOMEMLIMIT=%q: limit %d, want %d", tc.env, got, tc.want)
		}
	}
}
