// Package schemas holds mtguard's vendor knowledge and the pure checks built on it: where a
// record's identity lives in a payload (record-key paths), body parsing shared by every check,
// and the catalogue of finding codes; pinned contracts (JSON Schemas compiled once, checked per
// call: contract*.go, the shipped ones under contracts/) and the OpenAPI import that makes them
// (openapi*.go); and vendor presets (preset*.go, the shipped ones under presets/) with the
// rule engine that reads what a vendor's answer really means: outcome rules (rules*.go),
// dated version rules (versions*.go) and their findings (detect_findings.go).
//
// Everything here is a pure function of its inputs (embedded files and the bytes of a call): no
// network, no disk beyond an fs.FS or a ReadFile function the caller passes, no logging, no
// clock. It imports no other mtguard package.
package schemas
