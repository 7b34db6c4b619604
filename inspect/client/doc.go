// Package client reads a running mtguard's admin API from another process: the HTTP client,
// the problem details it answers errors with, and the log's query and page as they travel.
//
// It is inspect's client without the rest of inspect: its dependency closure is the standard
// library and txn, so a command that only reads the log (mtguard-log) does not pay at every
// start for the initialisation of the packages the server needs (the JSON Schema compiler,
// the metrics registry, the store's bbolt). inspect.Client wraps it with the other endpoints,
// whose types live in inspect and store; the wire format on both sides is inspect's.
package client
