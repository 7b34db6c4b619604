package alerts

import "time"

// The finding codes whose prefix makes a call count for the contract rule.
const (
	contractCodePrefix = "contract."
	schemaCodePrefix   = "schema."
)

// How the deprecation rule paces itself: it resolves after a quiet day, and reminds at most
// once a day, since a sunset weeks away needs no hourly page.
const (
	deprecationQuiet           = 24 * time.Hour
	deprecationRenotifyAtLeast = 24 * time.Hour
	// retiredQuiet is how long without a call to a retired endpoint resolves its alert.
	retiredQuiet = 24 * time.Hour
)
