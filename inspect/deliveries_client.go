package inspect

import (
	"context"
	"net/http"
	"net/url"

	"github.com/mtguard/mtguard/store"
)

// Deliveries lists the delivery queue (GET /api/deliveries), narrowed by route and state.
func (c *Client) Deliveries(ctx context.Context, f store.DeliveryFilter) (DeliveriesReport, error) {
	var rep DeliveriesReport
	q := url.Values{}
	if f.Route != "" {
		q.Set("route", f.Route)
	}
	if f.State != "" {
		q.Set("state", f.State)
	}
	err := c.get(ctx, "/api/deliveries", q, &rep)
	if rep.Deliveries == nil {
		rep.Deliveries = []store.Delivery{}
	}
	return rep, err
}

// RetryDelivery makes one delivery due now, whatever its state.
func (c *Client) RetryDelivery(ctx context.Context, id string) (store.Delivery, error) {
	var d store.Delivery
	err := c.do(ctx, http.MethodPost, "/api/deliveries/"+url.PathEscape(id)+"/retry", nil, struct{}{}, &d)
	return d, err
}

// RetryRouteDeliveries makes every held, dead or retrying delivery of route due now.
func (c *Client) RetryRouteDeliveries(ctx context.Context, route string) (DeliveryRetryResult, error) {
	var res DeliveryRetryResult
	err := c.do(ctx, http.MethodPost, "/api/deliveries/retry", nil, DeliveryRetryRequest{Route: route}, &res)
	return res, err
}

// DropDelivery removes a delivery from the queue without sending it; reason goes to the audit log.
func (c *Client) DropDelivery(ctx context.Context, id, reason string) (store.Delivery, error) {
	var d store.Delivery
	err := c.do(ctx, http.MethodPost, "/api/deliveries/"+url.PathEscape(id)+"/drop", nil, DeliveryDropRequest{Reason: reason}, &d)
	return d, err
}
