package client

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
	"strings"
	"syscall"

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
func (c *Client) List(ctx context.Context, q Query) (Page, error) {
	var page Page
	err := c.Do(ctx, http.MethodGet, "/api/transactions", q.Values(), nil, &page)
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
	err := c.Do(ctx, http.MethodGet, "/api/transactions/"+url.PathEscape(id), nil, nil, &tx)
	return tx, err
}

// Do sends one admin API call; in, when not nil, is sent as a JSON body, and a 2xx answer is
// decoded into out (when not nil).
func (c *Client) Do(ctx context.Context, method, path string, query url.Values, in, out any) error {
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
	resp, err := c.Send(ctx, method, target, body, "application/json")
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

// Send sends one admin API request with an optional body and returns a 2xx answer for the
// caller to read (and close); any other answer is an *APIError.
func (c *Client) Send(ctx context.Context, method, path string, body io.Reader, accept string) (*http.Response, error) {
	resp, err := c.Request(ctx, method, path, body, accept)
	if err != nil {
		return nil, err
	}
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		defer resp.Body.Close()
		return nil, ReadProblem(resp)
	}
	return resp, nil
}

// Request sends one admin API request and returns whatever it answers, for a caller that
// reads some answers other than 2xx itself (a reload refused with a report).
func (c *Client) Request(ctx context.Context, method, path string, body io.Reader, accept string) (*http.Response, error) {
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

// ReadProblem turns an error answer into an *APIError. A problem+json body gives title and
// detail; anything else (a proxy's error page, another server on the port) gives its first line.
func ReadProblem(resp *http.Response) error {
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
