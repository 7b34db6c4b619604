// Package storetest is the transaction log's contract as a test suite: every backend of
// store.Log (the bbolt file, PostgreSQL) runs the same Run, so they cannot drift apart.
// It is imported by tests only.
package storetest
