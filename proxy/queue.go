package proxy

import (
	"bytes"
	"context"
	"io"
	"net/http"
	"slices"
	"strconv"
	"strings"

	"github.com/mtguard/mtguard/txn"
)

// QueueAnswer is what a route in store-and-forward mode (delivery.mode: queue) answers a call
// with once the call is on disk: the vendor gets it later, from the redeliverer.
type QueueAnswer struct {
	Status      int
	Body        string // "{id}" becomes the call's id
	ContentType string
}

// Enqueuer durably adds an accepted call to the delivery queue; the composition root backs it
// with the store's queue and wakes the redeliverer.
type Enqueuer interface {
	Enqueue(ctx context.Context, tx *txn.Transaction) error
}

// queue answers a call of a queueing route with the route's accept answer once its intent and
// its place in the delivery queue are durable; the call is then recorded as queued and sent by
// the redeliverer, as a replay of it, through the same limiter as live traffic. A call whose
// intent could not be recorded is sent inline instead: without the log there is nothing to
// deliver it from later. Replays (the redeliverer's own attempts) are never queued again.
func (f *flight) queue() *stop {
	qa := f.call.Route.Queue
	if qa == nil || f.p.cfg.Queue == nil || f.call.ReplayOf != "" {
		return nil
	}
	if slices.ContainsFunc(f.tx.Findings, func(x txn.Finding) bool { return x.Code == txn.CodeStoreWriteFailed }) {
		return nil
	}
	if err := f.p.cfg.Queue.Enqueue(f.req.Context(), f.tx); err != nil {
		f.p.cfg.Logger.Error().Err(err).Str("id", f.tx.ID).Str("route", f.tx.Route).Msg("could not queue the call for delivery; sending it inline")
		return nil
	}
	body := []byte(strings.ReplaceAll(qa.Body, "{id}", f.tx.ID))
	h := http.Header{}
	if qa.ContentType != "" {
		h.Set("Content-Type", qa.ContentType)
	}
	h.Set("Content-Length", strconv.Itoa(len(body)))
	h.Set(HeaderID, f.tx.ID)
	resp := &http.Response{
		Status: strconv.Itoa(qa.Status) + " " + http.StatusText(qa.Status), StatusCode: qa.Status,
		Proto: "HTTP/1.1", ProtoMajor: 1, ProtoMinor: 1, Header: h,
		Body: io.NopCloser(bytes.NewReader(body)), ContentLength: int64(len(body)), Request: f.req,
	}
	f.tx.Response = txn.Message{Headers: h.Clone(), ContentType: qa.ContentType, Body: string(body), Size: int64(len(body))}
	f.tx.Findings = append(f.tx.Findings, finding(txn.CodeDeliveryQueued, "accepted into the delivery queue; mtguard deliveries shows its attempts"))
	f.p.finish(f.tx, txn.OutcomeQueued, qa.Status, "")
	return &stop{resp: resp}
}
