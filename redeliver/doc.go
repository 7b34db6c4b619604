// Package redeliver delivers what mtguard accepted: it works through the store's delivery queue
// (calls accepted in store-and-forward mode, and failed inline calls of routes with
// redeliver: auto), resending each through the proxy's pipeline, and so through the same
// limiter as live traffic, behind it. An attempt is recorded in the queue before it is sent;
// after a crash, an attempt in doubt is settled from the log before anything is sent again.
// A resend happens only when the vendor cannot have acted, or the call is idempotent; a call
// the vendor may have acted on is held for a person. A delivery that runs out of attempts or
// time becomes a dead letter, and its route's owner is told.
//
// It imports only txn and store: the composition root gives it the pipeline as a Sender and
// each route's policy.
package redeliver
