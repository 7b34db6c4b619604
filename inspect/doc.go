// Package inspect is mtguard's control plane: the admin HTTP API that reads the transaction log,
// and the HTTP client and terminal formatting that the mtguard CLI uses to talk to it.
//
// The admin API (NewServer) is read-only JSON: GET /api/transactions lists a page of the log
// filtered by record key, route, outcome and time; GET /api/transactions/{id} returns one call in
// full; /healthz and /readyz are the probes. Errors are RFC 9457 problem details. When a token is
// configured, every /api/ request needs it as a bearer token; the probes never do.
//
// The alert engine (Alerts) watches every committed call, handed to it through the store's
// OnResult callback: per-route counters in fixed-size windows, rules evaluated incrementally
// with an injected clock, incidents deduplicated and written to the alert history, notices
// sent to Slack, PagerDuty and webhook sinks on their own goroutines. It also answers
// GET /api/health and feeds the Prometheus metrics served at GET /metrics. Nothing it does may
// hold up the store's committer: Observe never blocks.
//
// It reads through the Transactions interface it declares and never imports proxy; the
// throttler reaches the alert rules and the metrics through ThrottleStats, and GET /api/limits
// through Limits, both of which main satisfies.
package inspect
