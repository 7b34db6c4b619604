//go:build !unix

package main

// sendHUP: this platform has no SIGHUP to send.
func sendHUP() (ok bool, err error) { return false, nil }
