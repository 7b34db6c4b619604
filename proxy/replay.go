package proxy

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"slices"
	"strings"

	"github.com/mtguard/mtguard/txn"
)

// ErrNotReplayable is wrapped by every reason a stored call cannot be resent; the message says
// what to do.
var ErrNotReplayable = errors.New("cannot replay")

// hopHeaders are not resent: the transport sets them for the new connection.
var hopHeaders = []string{"Connection", "Keep-Alive", "Proxy-Connection", "Transfer-Encoding", "Te", "Trailer", "Upgrade", "Content-Length", "Host", "Accept-Encoding"}

// Replay resends a stored call through the same pipeline as live traffic, to the upstream of
// the route it was recorded on (never to another URL). The resend is recorded as a new
// transaction with replay_of set. With onlyFailedRecords, a batch call whose per-record
// results name failures resends only those records. It returns the new transaction's id.
func (p *Proxy) Replay(ctx context.Context, tx txn.Transaction, onlyFailedRecords bool) (string, error) {
	req, err := p.replayRequest(ctx, tx, onlyFailedRecords)
	if err != nil {
		return "", err
	}
	resp, err := p.pipeline.RoundTrip(req)
	if err != nil {
		return "", fmt.Errorf("replay %s: %w", tx.ID, err)
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close() // records the outcome
	id := resp.Header.Get(HeaderID)
	if err := p.pipeline.cfg.Recorder.Sync(ctx); err != nil {
		return id, fmt.Errorf("replay %s: record: %w", tx.ID, err)
	}
	return id, nil
}

// replayRequest rebuilds the request of tx for its route's current upstream.
func (p *Proxy) replayRequest(ctx context.Context, tx txn.Transaction, onlyFailed bool) (*http.Request, error) {
	route := p.routes.Load().byName(tx.Route)
	if route == nil {
		return nil, fmt.Errorf("%w %s: route %q is not configured any more", ErrNotReplayable, tx.ID, tx.Route)
	}
	if slices.ContainsFunc(tx.Findings, func(f txn.Finding) bool { return f.Code == txn.CodeStoreUndecryptable }) {
		return nil, fmt.Errorf("%w %s: its stored headers and body are encrypted with a key store.encrypt no longer holds; put that key back (after the current one) or resend it from the source", ErrNotReplayable, tx.ID)
	}
	if tx.Request.Truncated {
		return nil, fmt.Errorf("%w %s: only the first %d of %d body bytes were stored (store.capture_body); resend it from the source", ErrNotReplayable, tx.ID, len(tx.Request.Body), tx.Request.Size)
	}
	body := []byte(tx.Request.Body)
	if tx.Request.BodyEncoding == "base64" {
		b, err := base64.StdEncoding.DecodeString(tx.Request.Body)
		if err != nil {
			return nil, fmt.Errorf("%w %s: stored body: %v", ErrNotReplayable, tx.ID, err)
		}
		body = b
	}
	if strings.Contains(string(body), Redacted) {
		return nil, fmt.Errorf("%w %s: the body carried secret fields, which were redacted before storing; resend it from the source", ErrNotReplayable, tx.ID)
	}
	if onlyFailed {
		b, err := failedRecordsBody(route, tx, body)
		if err != nil {
			return nil, fmt.Errorf("%w %s: %v", ErrNotReplayable, tx.ID, err)
		}
		body = b
	}

	target, err := p.replayURL(route, tx)
	if err != nil {
		return nil, fmt.Errorf("%w %s: %v", ErrNotReplayable, tx.ID, err)
	}
	h := http.Header{}
	var missing []string
	for k, vs := range tx.Request.Headers {
		if slices.ContainsFunc(hopHeaders, func(hh string) bool { return strings.EqualFold(hh, k) }) || strings.HasPrefix(strings.ToLower(k), "x-mtguard-") {
			continue
		}
		if route.callerHeader(k) {
			continue // a caller's credential for mtguard; the admin API authenticated the replay
		}
		if tx.Request.Decoded != "" && strings.EqualFold(k, "Content-Encoding") {
			continue // the body was stored decoded, and is resent so
		}
		if slices.ContainsFunc(vs, func(v string) bool { return strings.Contains(v, Redacted) }) {
			if route.Auth == nil || !strings.EqualFold(route.Auth.Header, k) {
				missing = append(missing, k)
			}
			continue
		}
		h[k] = slices.Clone(vs)
	}
	if len(missing) > 0 {
		slices.Sort(missing)
		return nil, fmt.Errorf("%w %s: the original call carried %s, which mtguard never stores; give route %q the credential to resend with (auth: {header: %s, value_env: VENDOR_TOKEN})",
			ErrNotReplayable, tx.ID, strings.Join(missing, ", "), route.Name, missing[0])
	}
	if route.Auth != nil {
		h.Set(route.Auth.Header, route.Auth.Value)
	}
	c := &Call{Route: route, Front: "replay", OriginalURL: tx.Path, ReplayOf: tx.ID, Attempt: tx.Attempt + 1, Actor: txn.ActorFrom(ctx)}
	if orig, ok := txn.EditFrom(ctx); ok {
		c.Edit = p.pipeline.editDiff(orig, string(body))
	}
	req, err := http.NewRequestWithContext(WithCall(ctx, c), tx.Method, target.String(), strings.NewReader(string(body)))
	if err != nil {
		return nil, fmt.Errorf("%w %s: %v", ErrNotReplayable, tx.ID, err)
	}
	if len(body) == 0 {
		req.Body = http.NoBody
	}
	req.Header = h
	return req, nil
}

// replayURL maps the stored path back to the route's upstream, dropping query parameters whose
// values were redacted (credentials come from the route's auth instead).
func (p *Proxy) replayURL(route *Route, tx txn.Transaction) (*url.URL, error) {
	orig, err := url.Parse(tx.Path)
	if err != nil {
		return nil, fmt.Errorf("stored path %q: %v", tx.Path, err)
	}
	path := orig.Path
	if strings.Contains(path, Redacted) {
		return nil, fmt.Errorf("the stored path held a secret value, which was redacted before storing; resend it from the source")
	}
	if tx.Front != "forward" {
		path = strings.TrimPrefix(path, route.Prefix)
	}
	u := *route.Upstream
	u.Path = strings.TrimSuffix(u.Path, "/") + path
	u.RawPath = ""
	if u.Path == "" {
		u.Path = "/"
	}
	q := orig.Query()
	for k, vs := range q {
		if slices.Contains(vs, Redacted) {
			delete(q, k)
		}
	}
	u.RawQuery = q.Encode()
	return &u, nil
}

// failedRecordsBody rebuilds a batch body with only the records whose results failed. The batch
// array is the one the route's record keys walk (e.g. "input[].email" -> "input").
func failedRecordsBody(route *Route, tx txn.Transaction, body []byte) ([]byte, error) {
	var failed []int
	for _, r := range tx.Records {
		if !r.OK {
			failed = append(failed, r.Index)
		}
	}
	if len(failed) == 0 {
		return nil, errors.New("no failed records to resend")
	}
	var field string
	for _, kp := range route.RecordKeys {
		if name, ok := strings.CutSuffix(strings.SplitN(kp.String(), ".", 2)[0], "[]"); ok {
			field = name
			break
		}
	}
	if field == "" {
		return nil, fmt.Errorf("route %q has no batch record key (like input[].email), so the failed records cannot be picked out", route.Name)
	}
	var doc map[string]json.RawMessage
	if err := json.Unmarshal(body, &doc); err != nil {
		return nil, fmt.Errorf("batch body is not a JSON object: %v", err)
	}
	var items []json.RawMessage
	if err := json.Unmarshal(doc[field], &items); err != nil {
		return nil, fmt.Errorf("batch body has no array %q: %v", field, err)
	}
	var keep []json.RawMessage
	for _, i := range failed {
		if i < 0 || i >= len(items) {
			return nil, fmt.Errorf("record #%d is outside the batch of %d", i, len(items))
		}
		keep = append(keep, items[i])
	}
	arr, err := json.Marshal(keep)
	if err != nil {
		return nil, err
	}
	doc[field] = arr
	return json.Marshal(doc)
}
