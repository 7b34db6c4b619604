// Package pgstore is mtguard's transaction log in PostgreSQL, for several mtguard instances
// sharing one log: the same contract as package store's bbolt file (store.Log), checked by
// the same suite (store/storetest).
//
// An intent is committed before RecordIntent returns, with synchronous_commit on: a writer
// goroutine takes every write queued while the previous commit was in progress and writes
// them with one statement per kind (rows passed as arrays, prepared once per connection), all
// sent in one round trip and committed as one transaction (group commit), so concurrent calls
// share one commit and one WAL flush. Results are queued the same way without the caller
// waiting; reads wait for the writes queued before them. A call's row is inserted once and
// updated twice (provisional result, result); the indexes and the pages' fill factor are
// chosen so that those updates write as little as they can (migration 0007).
//
// The schema is versioned (migrations/, embedded) and migrated under a PostgreSQL advisory
// lock, so instances starting together do not race; a database whose schema is newer than
// the binary is refused with both versions named. Calls are partitioned by day; retention
// drops whole partitions. Each instance holds a lease in the instances table: when one dies,
// another settles its pending calls (interrupted, or the provisional outcome) once the lease
// has run out, claiming them with FOR UPDATE SKIP LOCKED. Leases in the leases table elect one
// instance for jobs that must run once (Leader).
//
// The instance running journeys, drift or read-back reads every instance's committed calls
// in the order of the transactions that committed them (Committed: a trigger stamps each
// result with its transaction id, and only transactions older than every running one are
// read, so a slow commit is never skipped), from the position the last holder saved. Its
// writes of the job's state go through a Term, fenced by the job's lease.
//
// The package imports only txn and store (for the contract's types) of mtguard's packages.
package pgstore
