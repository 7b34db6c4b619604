package inspect

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/mtguard/mtguard/store"
	"github.com/mtguard/mtguard/txn"
)

// Client reads the transaction log of a running mtguard through its admin API. The CLI uses
// it because bbolt locks the store file: a second process cannot open it while serve runs.
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
type APIError struct {
	Status int    // HTTP status code
	Title  string // e.g. "Not Found"
	Detail string // the server's explanation, e.g. "no transaction with id 01J..."
}

func (e *APIError) Error() string {
	if e.Detail == "" {
		return fmt.Sprintf("admin API: %d %s", e.Status, e.Title)
	}
	return fmt.Sprintf("admin API: %d %s: %s", e.Status, e.Title, e.Detail)
}

// unreachableError is a connection that could not be made at all: the likeliest cause is that
// serve is not running or listens elsewhere, so the message says how to point the CLI at it.
type unreachableError struct {
	base string
	err  error
}

func (e *unreachableError) Error() string {
	return fmt.Sprintf(`cannot reach the mtguard admin API at %s: is "mtguard serve" running? (set --admin or MTGUARD_ADMIN)`, e.base)
}

func (e *unreachableError) Unwrap() error { return e.err }

// List returns one page of the transactions matching q; pass the page's Next as q.Cursor for
// the following one.
func (c *Client) List(ctx context.Context, q store.Query) (store.Page, error) {
	var page store.Page
	err := c.get(ctx, "/api/transactions", encodeQuery(q), &page)
	if page.Transactions == nil {
		page.Transactions = []txn.Transaction{}
	}
	return page, err
}

// Get returns the transaction with id. A missing one is an *APIError with Status 404.
func (c *Client) Get(ctx context.Context, id string) (txn.Transaction, error) {
	var tx txn.Transaction
	if id == "" {
		return tx, errors.New("transaction id is empty")
	}
	err := c.get(ctx, "/api/transactions/"+url.PathEscape(id), nil, &tx)
	return tx, err
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

// encodeQuery writes q as the query parameters GET /api/transactions reads (see decodeQuery).
func encodeQuery(q store.Query) url.Values {
	v := url.Values{}
	set := func(name, value string) {
		if value != "" {
			v.Set(name, value)
		}
	}
	set("record", q.RecordKey)
	set("route", q.Route)
	set("outcome", string(q.Outcome))
	set("finding", q.Finding)
	set("caller", q.Caller)
	if q.Status != 0 {
		v.Set("status", strconv.Itoa(q.Status))
	}
	if q.StatusClass != 0 {
		v.Set("status", strconv.Itoa(q.StatusClass)+"xx")
	}
	if !q.Since.IsZero() {
		v.Set("since", q.Since.Format(time.RFC3339Nano))
	}
	if !q.Until.IsZero() {
		v.Set("until", q.Until.Format(time.RFC3339Nano))
	}
	if q.Limit > 0 {
		v.Set("limit", strconv.Itoa(q.Limit))
	}
	set("cursor", q.Cursor)
	if q.Ascending {
		v.Set("order", "asc")
	}
	return v
}

// get sends GET path?query and decodes a 200 answer into out.
func (c *Client) get(ctx context.Context, path string, query url.Values, out any) error {
	return c.do(ctx, http.MethodGet, path, query, nil, out)
}

// do sends one admin API call; in, when not nil, is sent as a JSON body, and a 2xx answer is
// decoded into out (when not nil).
func (c *Client) do(ctx context.Context, method, path string, query url.Values, in, out any) error {
	var body io.Reader
	if in != nil {
		b, err := json.Marshal(in)
		if err != nil {
			return fmt.Errorf("admin API request: %w", err)
		}
		body = bytes.NewReader(b)
	}
	target := path
	if len(query) > 0 {
		target += "?" + query.Encode()
	}
	resp, err := c.send(ctx, method, target, body, "application/json")
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if out == nil {
		return nil
	}
	if err := json.NewDecoder(resp.Body).Decode(out); err != nil {
		return fmt.Errorf("admin API: read answer of %s: %w", path, err)
	}
	return nil
}

// send sends one admin API request with an optional body and returns a 2xx answer for the
// caller to read (and close); any other answer is an *APIError.
func (c *Client) send(ctx context.Context, method, path string, body io.Reader, accept string) (*http.Response, error) {
	resp, err := c.request(ctx, method, path, body, accept)
	if err != nil {
		return nil, err
	}
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		defer resp.Body.Close()
		return nil, readProblem(resp)
	}
	return resp, nil
}

// request sends one admin API request and returns whatever it answers.
func (c *Client) request(ctx context.Context, method, path string, body io.Reader, accept string) (*http.Response, error) {
	base := strings.TrimRight(c.BaseURL, "/")
	if !strings.Contains(base, "://") {
		base = "http://" + base
	}
	u, err := url.Parse(base + path)
	if err != nil {
		return nil, fmt.Errorf("admin API address %q: %w", c.BaseURL, err)
	}
	req, err := http.NewRequestWithContext(ctx, method, u.String(), body)
	if err != nil {
		return nil, fmt.Errorf("admin API request: %w", err)
	}
	req.Header.Set("Accept", accept)
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if c.Token != "" {
		req.Header.Set("Authorization", "Bearer "+c.Token)
	}
	hc := c.HTTP
	if hc == nil {
		hc = http.DefaultClient
	}
	resp, err := hc.Do(req)
	if err != nil {
		var dnsErr *net.DNSError
		if errors.Is(err, syscall.ECONNREFUSED) || errors.As(err, &dnsErr) {
			return nil, &unreachableError{base: base, err: err}
		}
		return nil, fmt.Errorf("admin API: %w", err)
	}
	return resp, nil
}

// maxProblemBody bounds how much of an error answer is read.
const maxProblemBody = 64 << 10

// readProblem turns an error answer into an *APIError. A problem+json body gives title and
// detail; anything else (a proxy's error page, another server on the port) gives its first line.
func readProblem(resp *http.Response) error {
	body, _ := io.ReadAll(io.LimitReader(resp.Body, maxProblemBody))
	e := &APIError{Status: resp.StatusCode, Title: http.StatusText(resp.StatusCode)}
	mt, _, _ := mime.ParseMediaType(resp.Header.Get("Content-Type"))
	var p txn.Problem
	if (mt == txn.ProblemContentType || mt == "application/json") && json.Unmarshal(body, &p) == nil && p.Status != 0 {
		if p.Title != "" {
			e.Title = p.Title
		}
		e.Detail = p.Detail
		return e
	}
	line, _, _ := bytes.Cut(bytes.TrimSpace(body), []byte("\n"))
	e.Detail = txn.Truncate(txn.Clean(strings.TrimSpace(string(line)), false), 200)
	return e
}
