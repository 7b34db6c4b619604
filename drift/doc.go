// Package drift learns the shape of each route's request payloads (which fields, of which
// types, how often present; never a value) and, once the learning window has passed, flags a
// call whose payload differs: a field that appeared, vanished or changed type (schema.drift).
// Each change is flagged once, on the first call that shows it, and counted afterwards.
//
// Memory is bounded per route: at most MaxFields field paths are learned, array elements are
// merged into one path (/input/*/email), object keys that look like data (an email address, a
// number) are merged too (/contacts/{key}), and at most MaxChanges changes are kept.
//
// Calls arrive through Observe (a queue that drops what it cannot keep up with) or Take (a
// feed that waits: the PostgreSQL log's, read by the one instance that learns for all).
package drift
