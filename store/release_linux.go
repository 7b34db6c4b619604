package store

import (
	"fmt"
	"syscall"
)

// dropMapped tells the kernel that the n bytes of the file mapping at addr are not needed:
// for a shared file mapping, MADV_DONTNEED unmaps the pages from the process and a later
// access maps them again from the file (madvise(2)).
func dropMapped(addr uintptr, n int64) error {
	if n <= 0 {
		return nil
	}
	if _, _, errno := syscall.Syscall(syscall.SYS_MADVISE, addr, uintptr(n), syscall.MADV_DONTNEED); errno != 0 {
		return fmt.Errorf("release store mapping: %w", errno)
	}
	return nil
}
