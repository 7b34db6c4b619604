// Package proxy is mtguard's data plane. Pipeline is the one place where a call is handled:
// RoundTrip runs it through named stages on a per-call flight (stages.go, settle.go): admit
// (read and bound the body, extract record keys), checkRequest (version rules, contracts),
// recordIntent (the durable write-ahead), acquireBudget (the Limiter: windows, quotas,
// concurrency, pauses), send, classify (what the vendor's answer means) and settle (record the
// outcome, feed the limiter, answer). It is an http.RoundTripper so that every front end reuses
// it unchanged.
//
// Proxy is the reverse front end: it matches a route by path prefix and hands the call to
// httputil.ReverseProxy with the Pipeline as its Transport. Forward is the forward-proxy front
// end (goproxy): it intercepts HTTPS to the hosts routes name (Route.Host) with leaves signed by
// mtguard's CA (ca.go) and hands each call to the same Pipeline; it never sends a call itself.
//
// The package records through the Recorder interface it declares and never imports inspect,
// alerts or store.
package proxy
