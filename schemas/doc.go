// Package schemas holds mtguard's pinned contracts and the payload parsing they are checked
// against: body parsing shared by every check (JSON and urlencoded forms, parsed once per call,
// and the record-key paths that find a record's identity in a payload: body.go, decode.go,
// scan.go, recordkeys.go); the request and response types every check sees and the verdicts
// they return (check.go); pinned contracts (JSON Schemas compiled once, checked per call:
// contract*.go, the shipped ones under contracts/) and the OpenAPI import and lock files that
// make them (openapi*.go).
//
// Everything here is a pure function of its inputs (embedded files and the bytes of a call): no
// network, no disk beyond an fs.FS or a ReadFile function the caller passes, no logging, no
// clock. It imports no mtguard package but the shared vocabulary, txn.
package schemas
