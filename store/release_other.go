//go:build !linux

package store

// dropMapped does nothing off Linux: the mapped pages stay until the system needs them.
func dropMapped(uintptr, int64) error { return nil }
