package alerts

import (
	"time"
)

// The states of a route in mtguard health, from worst to best.
const (
	// StateFailing: calls arrive but fail (an auth, error-rate, consecutive-failures, contract
	// or retired-endpoint alert fires, or nothing of the last hour's calls was delivered).
	StateFailing = "failing"
	// StateSilent: a silence alert fires: the records stopped coming.
	StateSilent = "silent"
	// StateDegraded: another alert fires (latency, sunset, throttle), or some calls of the
	// last hour were not delivered.
	StateDegraded = "degraded"
	// StateOK: every call of the last hour was delivered and no alert fires.
	StateOK = "ok"
)

// Health is the answer of GET /api/health.
type Health struct {
	Time   time.Time     `json:"time"`
	Routes []RouteHealth `json:"routes"`
	// Dropped counts recorded calls the alert engine could not keep up with since start.
	Dropped int64 `json:"dropped_observations"`
	// Store is the transaction log's state, apart from every route.
	Store StoreHealth `json:"store"`
	// Sinks is each alert sink's state; Undelivered sums their notifications not delivered
	// since start.
	Sinks       []SinkHealth `json:"sinks"`
	Undelivered int          `json:"undelivered_notifications"`
	// Deliveries is the delivery queue of each route that has one (the admin API adds it).
	Deliveries []DeliveryHealth `json:"deliveries,omitempty"`
}

// DeliveryHealth is one route's delivery queue in mtguard health.
type DeliveryHealth struct {
	Route string `json:"route"`
	// Depth counts the calls not yet delivered nor dead; Retrying those whose attempt failed
	// and will be retried, Held those waiting for a person, Dead the dead letters.
	Depth    int `json:"depth"`
	Retrying int `json:"retrying"`
	Held     int `json:"held"`
	Dead     int `json:"dead"`
	// OldestAge is the age in seconds of the oldest call counted in Depth.
	OldestAge float64 `json:"oldest_age_s"`
}

// RouteHealth is one route's line in mtguard health.
type RouteHealth struct {
	Route string `json:"route"`
	Owner string `json:"owner,omitempty"`
	State string `json:"state"`
	// Calls and Delivered count the last hour; Delivered includes partial deliveries.
	Calls     int `json:"calls_1h"`
	Delivered int `json:"delivered_1h"`
	// ErrorRate is the share of the last hour's calls that did not end delivered.
	ErrorRate float64 `json:"error_rate_1h"`
	// P95MS is the 95th percentile of vendor latency over the last hour; omitted without calls
	// that reached the vendor.
	P95MS float64 `json:"p95_ms,omitempty"`
	// LastDelivery is the last delivered call seen since start or in the rebuilt window.
	LastDelivery time.Time `json:"last_delivery,omitzero"`
	LastCall     time.Time `json:"last_call,omitzero"`
	// Firing lists the kinds of the route's firing alerts.
	Firing []string `json:"alerts_firing"`
}

// Health reports every route's state at the engine's clock.
func (e *Engine) Health() Health {
	now := e.now()
	e.mu.Lock()
	defer e.mu.Unlock()
	h := Health{Time: now, Routes: make([]RouteHealth, 0, len(e.order)), Dropped: e.dropped.Load(), Store: e.storeHealth(), Sinks: e.sinksHealth()}
	for _, s := range h.Sinks {
		h.Undelivered += s.Undelivered
	}
	for _, rs := range e.order {
		rs.hour.advance(now)
		s := rs.hour.sum
		rh := RouteHealth{
			Route: rs.name, Owner: rs.owner,
			Calls: s.calls, Delivered: s.delivered, ErrorRate: ratio(s.errors, s.calls),
			LastDelivery: rs.lastDelivery, LastCall: rs.lastCall,
			Firing: []string{},
		}
		if p := rs.hour.percentile(0.95); p >= 0 {
			rh.P95MS = p
		}
		failing, silent, other := false, false, false
		for k, a := range rs.active {
			if a == nil {
				continue
			}
			rh.Firing = append(rh.Firing, kind(k).String())
			switch kind(k) {
			case kindAuth, kindErrorRate, kindContract, kindConsecutiveFailures, kindRetired:
				failing = true
			case kindSilence:
				silent = true
			default:
				other = true
			}
		}
		switch {
		case failing || (s.calls > 0 && s.delivered == 0):
			rh.State = StateFailing
		case silent:
			rh.State = StateSilent
		case other || s.errors > 0:
			rh.State = StateDegraded
		default:
			rh.State = StateOK
		}
		h.Routes = append(h.Routes, rh)
	}
	return h
}
