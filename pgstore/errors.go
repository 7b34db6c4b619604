package pgstore

import "errors"

// Sentinel errors of the spool (spool.go). ErrUnavailable, older, is declared in store.go.
var (
	// ErrSpoolBusy is returned by OpenSpooled when another process holds the spool file:
	// each instance needs its own store.spool_dir.
	ErrSpoolBusy = errors.New("the spool file is held by another mtguard")
	// ErrSpooling is what Healthy wraps while writes go to the local spool because
	// PostgreSQL does not take them (or while the spool is being emptied into it).
	ErrSpooling = errors.New("PostgreSQL does not take writes; they are kept in the local spool")
)
