// Package verify reads delivered records back from vendors that answer 2xx to everything: a
// sample of a route's delivered calls is followed, after a delay, by a probe asking the vendor
// for each record (sent through the pipeline by a Prober that main wires to the proxy). A
// probe that fails, or whose answer disagrees with what was sent, puts the finding
// delivery.unverified on the call it verifies.
package verify
