// Package inspect is mtguard's control plane: the admin HTTP API over the transaction log, the
// replay jobs it runs, the HAR and curl exports, and the HTTP client the CLI uses to talk to it.
//
// The admin API (NewServer) lists its whole surface in one function: the log (GET
// /api/transactions filtered by record key, route, outcome, finding and time; GET
// /api/transactions/{id}), replays (POST /api/transactions/{id}/replay, POST /api/replays,
// GET /api/replays/{id}), erasure (DELETE /api/records/{key}), the alert engine's health and
// alerts (GET /api/health, GET /api/alerts, POST /api/alerts/{id}/ack), the limiter's state
// (GET /api/limits), the Prometheus metrics, and the /healthz and /readyz probes. Errors are
// RFC 9457 problem details. When a token is configured, every /api/ request needs it as a
// bearer token; the probes never do.
//
// It reads the log through the Transactions interface and resends calls through the Replayer
// interface, both declared here and satisfied by the composition root: it never imports proxy.
// The limiter's state reaches it through Limits.
package inspect
