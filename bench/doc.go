// Package bench is mtguard's proxy benchmark harness: BenchmarkProxyOverhead builds the mtguard
// binary from this module and measures it, side by side, against direct calls to a fake
// vendor, a bare httputil.ReverseProxy and a durable reference. It holds only tests; see
// README.md for how to run and read it.
package bench
