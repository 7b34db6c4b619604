// Command mtguard-log is mtguard log in a binary of its own, for scripts and loops that call
// it often: the same flags (--record, --route, --outcome, --finding, --caller, --status,
// --since, --limit, --json, --admin), the same environment (MTGUARD_ADMIN,
// MTGUARD_ADMIN_TOKEN, MTGUARD_ADMIN_CA), the same output and exit codes, because it runs the
// same code (package cli/logcmd).
//
//	mtguard-log --record jane@acme.com --json
//
// It exists for its start: the mtguard binary initialises every package it links before
// main runs (the JSON Schema compiler builds its meta-schemas, the metrics registry, the
// forward proxy's library), about 13 ms of a 15 ms lookup; this one links only the standard
// library, txn and the admin API's client (main_test.go holds it to that).
package main
