package inspect

import (
	"context"
	"errors"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/mtguard/mtguard/alerts"
	"github.com/mtguard/mtguard/store"
)

// Deliveries is the delivery queue, for GET /api/deliveries and the operator's retry and drop;
// main gives the redeliverer.
type Deliveries interface {
	List(ctx context.Context, f store.DeliveryFilter) ([]store.Delivery, error)
	// Retry makes a delivery due now; RetryRoute does so for every held, dead or retrying
	// delivery of a route and says how many.
	Retry(id, actor string) (store.Delivery, error)
	RetryRoute(ctx context.Context, route, actor string) (int, error)
	// Drop removes a delivery from the queue without sending it again.
	Drop(id string) (store.Delivery, error)
}

// ErrDeliveryBusy is wrapped by a Deliveries error about a delivery whose attempt is on its
// way; the API answers 409.
var ErrDeliveryBusy = errors.New("an attempt is on its way")

// DeliveriesReport answers GET /api/deliveries.
type DeliveriesReport struct {
	Time       time.Time        `json:"time"`
	Deliveries []store.Delivery `json:"deliveries"`
}

// DeliveryRetryRequest is the body of POST /api/deliveries/retry.
type DeliveryRetryRequest struct {
	Route string `json:"route"`
}

// DeliveryRetryResult answers POST /api/deliveries/retry.
type DeliveryRetryResult struct {
	Route string `json:"route"`
	Count int    `json:"count"`
}

// DeliveryDropRequest is the body of POST /api/deliveries/{id}/drop.
type DeliveryDropRequest struct {
	Reason string `json:"reason"`
}

func (s *server) deliveryEndpoints() []endpoint {
	return []endpoint{
		{"GET /api/deliveries", RoleViewer, s.listDeliveries},
		{"POST /api/deliveries/retry", RoleOperator, s.retryRouteDeliveries},
		{"POST /api/deliveries/{id}/retry", RoleOperator, s.retryDelivery},
		{"POST /api/deliveries/{id}/drop", RoleOperator, s.dropDelivery},
		{"/api/deliveries", RoleViewer, s.methodNotAllowed},
		{"/api/deliveries/retry", RoleViewer, s.onlyPost},
		{"/api/deliveries/{id}/retry", RoleViewer, s.onlyPost},
		{"/api/deliveries/{id}/drop", RoleViewer, s.onlyPost},
	}
}

func (s *server) listDeliveries(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	f := store.DeliveryFilter{Route: q.Get("route"), State: q.Get("state")}
	if f.State != "" && !slices.Contains(store.DeliveryStates, f.State) {
		s.fail(w, r, problemf(errBadRequest, "state %q is not a delivery state (one of %s)", f.State, strings.Join(store.DeliveryStates, ", ")))
		return
	}
	list, err := s.deliveries.List(r.Context(), f)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	if list == nil {
		list = []store.Delivery{}
	}
	s.respond(w, http.StatusOK, DeliveriesReport{Time: s.now(), Deliveries: list})
}

func (s *server) retryDelivery(w http.ResponseWriter, r *http.Request) {
	d, err := s.deliveries.Retry(r.PathValue("id"), actorOf(r).Name)
	if err != nil {
		s.fail(w, r, deliveryError(err, r.PathValue("id")))
		return
	}
	noteAudit(r).result = d.State
	s.respond(w, http.StatusOK, d)
}

func (s *server) retryRouteDeliveries(w http.ResponseWriter, r *http.Request) {
	var req DeliveryRetryRequest
	if err := decodeJSON(r, &req); err != nil {
		s.fail(w, r, err)
		return
	}
	if req.Route == "" {
		s.fail(w, r, problemf(errBadRequest, "name the route whose deliveries to retry: {\"route\": \"hubspot\"}"))
		return
	}
	n, err := s.deliveries.RetryRoute(r.Context(), req.Route, actorOf(r).Name)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	note := noteAudit(r)
	note.param("route", req.Route)
	note.result = strconv.Itoa(n)
	s.respond(w, http.StatusOK, DeliveryRetryResult{Route: req.Route, Count: n})
}

func (s *server) dropDelivery(w http.ResponseWriter, r *http.Request) {
	var req DeliveryDropRequest
	if err := decodeJSON(r, &req); err != nil {
		s.fail(w, r, err)
		return
	}
	if strings.TrimSpace(req.Reason) == "" {
		s.fail(w, r, problemf(errBadRequest, "say why the call is dropped (--reason): the audit log keeps it, e.g. \"created by hand in the CRM\""))
		return
	}
	d, err := s.deliveries.Drop(r.PathValue("id"))
	if err != nil {
		s.fail(w, r, deliveryError(err, r.PathValue("id")))
		return
	}
	note := noteAudit(r)
	note.param("reason", req.Reason)
	note.result = "dropped"
	s.respond(w, http.StatusOK, d)
}

// deliveryError gives the API's answer to an error about delivery id.
func deliveryError(err error, id string) error {
	switch {
	case errors.Is(err, store.ErrNotFound):
		return problemf(err, "call %s is not in the delivery queue (delivered, dropped, or never queued): mtguard show %s tells which", id, id)
	case errors.Is(err, ErrDeliveryBusy):
		return problemf(errReplayBusy, "an attempt at call %s is on its way; wait for it (mtguard deliveries shows its result)", id)
	}
	return err
}

// deliveryHealth sums the delivery queue per route, for GET /api/health.
func (s *server) deliveryHealth(ctx context.Context, now time.Time) ([]alerts.DeliveryHealth, error) {
	list, err := s.deliveries.List(ctx, store.DeliveryFilter{})
	if err != nil {
		return nil, err
	}
	var out []alerts.DeliveryHealth
	idx := map[string]int{}
	for _, d := range list {
		i, ok := idx[d.Route]
		if !ok {
			i = len(out)
			idx[d.Route] = i
			out = append(out, alerts.DeliveryHealth{Route: d.Route})
		}
		h := &out[i]
		switch d.State {
		case store.DeliveryDead:
			h.Dead++
			continue
		case store.DeliveryHeld:
			h.Held++
		case store.DeliveryRetrying:
			h.Retrying++
		}
		h.Depth++
		h.OldestAge = max(h.OldestAge, now.Sub(d.Created).Seconds())
	}
	slices.SortFunc(out, func(a, b alerts.DeliveryHealth) int { return strings.Compare(a.Route, b.Route) })
	return out, nil
}
