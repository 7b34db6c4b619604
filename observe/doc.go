// Package observe is the queue an observer of committed calls (drift, journeys) is fed
// through: Offer never blocks (a call the observer cannot keep up with is dropped and
// counted), one goroutine takes the calls in batches, Flush waits until the calls offered
// before it are taken, and Close stops after the calls already queued.
package observe
