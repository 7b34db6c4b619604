package main

import "github.com/mtguard/mtguard/txn"

// logPickupRecorder is pickupRecorder for the PostgreSQL log: it records through the log and
// hands failed inline calls of redeliver: auto routes to the redeliverer, after the log has
// them. The redeliverer queues each with this instance as its owner (pgstore), so only this
// instance attempts it.
type logPickupRecorder struct {
	transactionLog
	d *deliveries
}

func (r logPickupRecorder) RecordResult(tx *txn.Transaction) error {
	if !r.d.pickup[tx.Route] || tx.ReplayOf != "" || tx.Outcome == txn.OutcomeDelivered || tx.Outcome == txn.OutcomePartial {
		return r.transactionLog.RecordResult(tx)
	}
	c := *tx // the log's writer may read tx once it has it
	c.Findings = append([]txn.Finding(nil), tx.Findings...)
	c.Response.Headers = tx.Response.Headers.Clone()
	err := r.transactionLog.RecordResult(tx)
	go r.d.rd.Pickup(c)
	return err
}
