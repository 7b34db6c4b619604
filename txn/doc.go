// Package txn is mtguard's one vocabulary, shared by every other package and importing none of
// them: a transaction (one call a tool made through mtguard, its request and its result), the
// outcome that classifies it, and the findings that say what was wrong and what to do, with
// the catalogue of finding codes and their documentation. Defining these terms once is what
// lets the pipeline, the store, the admin API, the alert engine and the console agree.
package txn
