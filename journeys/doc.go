// Package journeys follows records (leads) across routes: a journey names the routes a record
// travels through, in order, and how long it may take. The engine is fed every committed call
// (as the alert engine is), keeps only the records that entered a journey and have not arrived,
// persists them in the store (so they survive a restart), and declares a record lost in transit
// once its time is up: the last call that carried it gets the finding journey.lost_in_transit
// and the journey's owner is told, with the record keys.
//
// Its cost is O(records in flight): a call is matched by its route and record keys against a
// map, and the time check walks only the records in flight; the log is never scanned, except
// to answer for one record that is no longer in flight (mtguard journey KEY), through the
// record-key index.
//
// Calls arrive through Observe (a queue that never blocks the store's committer: the bbolt log,
// one process) or Take (a feed that waits for the engine: the PostgreSQL log, where one
// instance runs the engine on every instance's calls). An engine that was only loaded (Load)
// answers from what the running one saved.
package journeys
