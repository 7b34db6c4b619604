package inspect

import (
	"context"
	"errors"
	"net/http"
	"net/url"
	"strconv"

	"github.com/mtguard/mtguard/alerts"
	"github.com/mtguard/mtguard/store"
)

// Health returns every route's health (GET /api/health).
func (c *Client) Health(ctx context.Context) (alerts.Health, error) {
	var h alerts.Health
	err := c.get(ctx, "/api/health", nil, &h)
	return h, err
}

// Alerts returns alerts, newest first (GET /api/alerts). An empty q.State lists all.
func (c *Client) Alerts(ctx context.Context, q store.AlertQuery) ([]store.Alert, error) {
	v := url.Values{}
	if q.State != "" {
		v.Set("state", string(q.State))
	}
	if q.Route != "" {
		v.Set("route", q.Route)
	}
	if q.Limit > 0 {
		v.Set("limit", strconv.Itoa(q.Limit))
	}
	var list alertList
	err := c.get(ctx, "/api/alerts", v, &list)
	if list.Alerts == nil {
		list.Alerts = []store.Alert{}
	}
	return list.Alerts, err
}

// Acknowledge acknowledges the alert id (POST /api/alerts/{id}/ack); a positive ack.Silence
// also mutes the route's rule that long.
func (c *Client) Acknowledge(ctx context.Context, id string, ack alerts.Ack) (store.Alert, error) {
	var a store.Alert
	if id == "" {
		return a, errors.New("alert id is empty")
	}
	req := ackRequest{By: ack.By, Comment: ack.Comment}
	if ack.Silence > 0 {
		req.Silence = ack.Silence.String()
	}
	err := c.do(ctx, http.MethodPost, "/api/alerts/"+url.PathEscape(id)+"/ack", nil, req, &a)
	return a, err
}

// TestSink sends a test notification to the sink named sink (POST /api/alerts/test) and
// returns its answer.
func (c *Client) TestSink(ctx context.Context, sink, by string) (alerts.TestResult, error) {
	var res alerts.TestResult
	err := c.do(ctx, http.MethodPost, "/api/alerts/test", nil, testSinkRequest{Sink: sink, By: by}, &res)
	return res, err
}
