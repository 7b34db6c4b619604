//go:build unix

package main

import (
	"os"
	"syscall"
)

// sendHUP sends SIGHUP to this process, as kill -HUP does; ok is false where there is none.
func sendHUP() (ok bool, err error) { return true, syscall.Kill(os.Getpid(), syscall.SIGHUP) }
