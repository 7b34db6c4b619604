// Package logcmd is the log command (mtguard log), and the pieces every CLI verb shares with
// it: flag parsing, usage errors, --since, finding the admin API (--admin, MTGUARD_ADMIN,
// MTGUARD_ADMIN_TOKEN, MTGUARD_ADMIN_CA) and the log table.
//
// It is apart from package cli so that its dependency closure stays the standard library,
// txn and inspect/client: the thin binary cmd/mtguard-log runs the same Log as mtguard log
// without the initialisation of the server's packages (the JSON Schema compiler, the metrics
// registry, bbolt), which is most of the full binary's start. cli re-exports what it uses.
package logcmd
