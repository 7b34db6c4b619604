// Package store is mtguard's transaction log: an embedded bbolt file holding every call that
// passed through the proxy, its secondary indexes (record key, route, outcome, each ordered by
// time) and the retention sweep.
//
// Writes go through a single committer goroutine (group commit): every write queued while one
// commit is in progress joins the next commit, so many concurrent calls share one fsync. An
// intent (the request side) is durable before RecordIntent returns; a result is queued and
// committed shortly after, and a call whose result never arrived is marked interrupted the next
// time the file is opened.
//
// Callers hand the store redacted data: the store never sees a secret. The package imports no
// other mtguard package.
package store
