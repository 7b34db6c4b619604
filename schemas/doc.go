// Package schemas holds mtguard's vendor knowledge and the pure checks built on it: where a
// record's identity lives in a payload (record-key paths), body parsing shared by every check,
// and the catalogue of finding codes. Later it also holds pinned JSON Schemas and vendor presets.
//
// Everything here is a pure function of its inputs (embedded files and the bytes of a call): no
// network, no disk beyond an fs.FS, no logging, no clock. It imports no other mtguard package.
package schemas
