package inspect

import (
	"context"
	"io"
	"net/http"
	"net/url"

	"github.com/mtguard/mtguard/inspect/client"
	"github.com/mtguard/mtguard/store"
	"github.com/mtguard/mtguard/txn"
)

// Client reads the transaction log of a running mtguard through its admin API, and acts on it
// (replays, erasure, alerts, drills, reloads). The CLI uses it because bbolt locks the store
// file: a second process cannot open it while serve runs. The HTTP exchange itself, and the
// log's list and get, are package client's, which a command that only reads the log uses
// without this package's dependencies.
type Client struct {
	// BaseURL is where the admin API listens, e.g. "http://127.0.0.1:9090". Without a scheme,
	// http is assumed.
	BaseURL string
	// Token is sent as "Authorization: Bearer <Token>". If empty, no Authorization is sent.
	Token string
	// HTTP sends the requests. If nil, http.DefaultClient is used.
	HTTP *http.Client
}

// APIError is an answer of the admin API other than 200, read from its problem details.
type APIError = client.APIError

// api is c as package client's Client, which sends every call.
func (c *Client) api() *client.Client {
	return &client.Client{BaseURL: c.BaseURL, Token: c.Token, HTTP: c.HTTP}
}

// List returns one page of the transactions matching q; pass the page's Next as q.Cursor for
// the following one. Only the filters the API reads are sent (not Summary).
func (c *Client) List(ctx context.Context, q store.Query) (store.Page, error) {
	page, err := c.api().List(ctx, clientQuery(q))
	return store.Page(page), err
}

// Get returns the transaction with id. A missing one is an *APIError with Status 404.
func (c *Client) Get(ctx context.Context, id string) (txn.Transaction, error) {
	return c.api().Get(ctx, id)
}

// ReplayOne resends one stored call (the latest attempt of its chain).
func (c *Client) ReplayOne(ctx context.Context, id string, force bool) (ReplayOneResult, error) {
	return c.ReplayEdited(ctx, id, force, nil)
}

// ReplayEdited resends one stored call with body in place of its own (nil: as stored).
func (c *Client) ReplayEdited(ctx context.Context, id string, force bool, body *string) (ReplayOneResult, error) {
	var res ReplayOneResult
	err := c.do(ctx, http.MethodPost, "/api/transactions/"+url.PathEscape(id)+"/replay", nil, ReplayOneRequest{Force: force, Body: body}, &res)
	return res, err
}

// StartReplay starts a bulk replay (or a dry run) and returns the job.
func (c *Client) StartReplay(ctx context.Context, req ReplayRequest) (*ReplayJob, error) {
	var job ReplayJob
	err := c.do(ctx, http.MethodPost, "/api/replays", nil, req, &job)
	return &job, err
}

// ReplayJob returns the progress of a bulk replay.
func (c *Client) ReplayJob(ctx context.Context, id string) (*ReplayJob, error) {
	var job ReplayJob
	err := c.get(ctx, "/api/replays/"+url.PathEscape(id), nil, &job)
	return &job, err
}

// Forget erases every transaction of a record key.
func (c *Client) Forget(ctx context.Context, key string) (store.ForgetReport, error) {
	var rep store.ForgetReport
	err := c.do(ctx, http.MethodDelete, "/api/records/"+url.PathEscape(key), nil, nil, &rep)
	return rep, err
}

// clientQuery is q as the client sends it.
func clientQuery(q store.Query) client.Query {
	return client.Query{
		RecordKey: q.RecordKey, Route: q.Route, Outcome: q.Outcome, Finding: q.Finding, Caller: q.Caller,
		Status: q.Status, StatusClass: q.StatusClass, Since: q.Since, Until: q.Until,
		Limit: q.Limit, Cursor: q.Cursor, Ascending: q.Ascending,
	}
}

// encodeQuery writes q as the query parameters GET /api/transactions reads (see decodeQuery).
func encodeQuery(q store.Query) url.Values { return clientQuery(q).Values() }

// get sends GET path?query and decodes a 200 answer into out.
func (c *Client) get(ctx context.Context, path string, query url.Values, out any) error {
	return c.do(ctx, http.MethodGet, path, query, nil, out)
}

// do sends one admin API call; in, when not nil, is sent as a JSON body, and a 2xx answer is
// decoded into out (when not nil).
func (c *Client) do(ctx context.Context, method, path string, query url.Values, in, out any) error {
	return c.api().Do(ctx, method, path, query, in, out)
}

// send sends one admin API request with an optional body and returns a 2xx answer for the
// caller to read (and close); any other answer is an *APIError.
func (c *Client) send(ctx context.Context, method, path string, body io.Reader, accept string) (*http.Response, error) {
	return c.api().Send(ctx, method, path, body, accept)
}

// request sends one admin API request and returns whatever it answers.
func (c *Client) request(ctx context.Context, method, path string, body io.Reader, accept string) (*http.Response, error) {
	return c.api().Request(ctx, method, path, body, accept)
}

// readProblem turns an error answer into an *APIError.
func readProblem(resp *http.Response) error { return client.ReadProblem(resp) }
