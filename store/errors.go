package store

import "errors"

// ErrNotFound means no transaction has the requested id.
var ErrNotFound = errors.New("transaction not found")

// ErrBadCursor means a pagination cursor was not issued by this store.
var ErrBadCursor = errors.New("invalid cursor")

// ErrUnknownFormat means the store file was written by a newer or foreign format version.
var ErrUnknownFormat = errors.New("unknown store format")

// ErrClosed means the store was closed.
var ErrClosed = errors.New("store closed")
