// Package vendors is mtguard's vendor knowledge as data: presets (one YAML file per vendor under
// presets/, embedded) holding each vendor's default upstream, record-key paths, documented
// limits and limit headers, and the rules that read what its answers really mean, with the
// evaluator that applies them to a call: outcome rules for 2xx answers that failed or dropped
// records (rules*.go), dated version rules for deprecated and retired API versions
// (versions*.go), RFC 9745 Deprecation and RFC 8594 Sunset headers (rules_deprecation.go), and
// credential expiry (rules_auth.go).
//
// Adding a vendor or a rule needs a YAML file and a fixture folder under testdata/detect, not
// Go. Like schemas, everything here is pure: no network, no disk, no clock (the call's time is
// passed in). It builds on schemas' request and response types and the txn vocabulary.
package vendors
