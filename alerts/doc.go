// Package alerts watches every recorded call and tells a route's owner when something breaks:
// the rules (silence, error rate, latency, expired credentials, deprecation deadlines,
// contract rejections, throttling), the engine that evaluates them incrementally with an
// injected clock, schedules for expected volume, the alert history, the sinks that deliver
// notices (Slack, PagerDuty, signed webhooks), the per-route health summary and the Prometheus
// metrics.
//
// The engine is fed through Observe, which the store's result callback calls for each committed
// call; it never polls the log per call and never blocks the store's committer. It reads the
// log only when it starts, to rebuild its windows, through the Store interface it declares.
// The admin API (package inspect) serves what it knows; this package serves no HTTP of its own
// except the metrics handler.
package alerts
