// Package inspect is mtguard's control plane: the admin HTTP API that reads the transaction log,
// and the HTTP client and terminal formatting that the mtguard CLI uses to talk to it.
//
// The admin API (NewServer) is read-only JSON: GET /api/transactions lists a page of the log
// filtered by record key, route, outcome and time; GET /api/transactions/{id} returns one call in
// full; /healthz and /readyz are the probes. Errors are RFC 9457 problem details. When a token is
// configured, every /api/ request needs it as a bearer token; the probes never do.
//
// It reads through the Transactions interface it declares and never imports proxy.
package inspect
