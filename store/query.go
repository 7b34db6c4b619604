package store

import (
	"time"

	"github.com/mtguard/mtguard/txn"
)

// Query selects transactions. Zero fields do not filter. At most one index is used (record key,
// then finding, then route, then outcome); the remaining filters are applied to the
// transactions it yields.
type Query struct {
	RecordKey string      // normalised record key, e.g. a lower-cased email
	Route     string      // route name
	Outcome   txn.Outcome // one outcome
	Finding   string      // calls carrying a finding with this code
	Status    int         // the HTTP status mtguard answered with
	Caller    string      // the name of the caller the call authenticated as (a scan filter)
	Since     time.Time   // inclusive
	Until     time.Time   // exclusive; zero means now
	// Limit caps the page size. Zero means 50; it never exceeds 1000.
	Limit int
	// Cursor continues a previous Query from Page.Next.
	Cursor string
	// Ascending returns oldest first; the default is newest first.
	Ascending bool
	// StatusClass, from 1 to 5, selects every status of that hundred (4 is 400 to 499).
	StatusClass int
	// Summary leaves out the request and the response (headers, bodies, trailers) of each
	// transaction: a reader of outcomes, timings, record keys and findings (the alert engine
	// at start) does not pay for decoding every body. Sealed messages are not opened either,
	// so a call whose messages cannot be opened carries no store.undecryptable finding here.
	Summary bool
}

// Page is one page of a Query's results.
type Page struct {
	Transactions []txn.Transaction `json:"transactions"`
	// Next is the cursor of the following page, empty on the last page.
	Next string `json:"next,omitempty"`
}
