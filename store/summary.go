package store

import (
	"encoding/json"
	"fmt"

	bolt "go.etcd.io/bbolt"

	"github.com/mtguard/mtguard/txn"
)

// skipJSON takes a JSON value and keeps nothing of it: the decoder still reads past the value,
// but allocates none of its strings.
type skipJSON struct{}

func (*skipJSON) UnmarshalJSON([]byte) error { return nil }

// callSummary is a stored txn.Call without its request: the field named request here hides
// the embedded one, so the decoder skips the headers and body.
type callSummary struct {
	txn.Call
	Request skipJSON `json:"request"`
}

// resultSummary is a stored txn.Result without its response.
type resultSummary struct {
	txn.Result
	Response skipJSON `json:"response"`
}

// loadSummary is load for Query.Summary: the call id without its request and response
// messages, so sealed messages need no opening either.
func loadSummary(btx *bolt.Tx, id []byte) (txn.Transaction, bool, error) {
	var tx txn.Transaction
	req := btx.Bucket(bucketReq).Get(id)
	if req == nil {
		return tx, false, nil
	}
	var c callSummary
	if err := json.Unmarshal(req, &c); err != nil {
		return tx, false, fmt.Errorf("decode request %s: %w", id, err)
	}
	tx.Call = c.Call
	if res := btx.Bucket(bucketRes).Get(id); res != nil {
		var r resultSummary
		if err := json.Unmarshal(res, &r); err != nil {
			return tx, false, fmt.Errorf("decode result %s: %w", id, err)
		}
		tx.Result = r.Result
	} else {
		tx.Outcome = txn.OutcomePending
	}
	if tx.Findings == nil {
		tx.Findings = []txn.Finding{}
	}
	if tx.RecordKeys == nil {
		tx.RecordKeys = []string{}
	}
	return tx, true, nil
}
