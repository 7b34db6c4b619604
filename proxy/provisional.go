package proxy

import (
	"net/http"
	"slices"

	"github.com/mtguard/mtguard/txn"
)

// recordProvisional makes the call's outcome durable before the vendor's answer goes on to
// the tool: the status, what it means, the headers and the timings, journaled as the result
// the call gets if mtguard dies before settle records the real one (which may differ: the
// rules that read the body have not run yet). Without it, a crash within the store's bbolt
// interval turns a call the tool saw succeed into interrupted, and a bulk replay would send
// it again. The wait shares the journal's fdatasync with other calls' writes.
//
// A store that fails does not hold the answer back; the result is still recorded when the
// call ends.
func (f *flight) recordProvisional(resp *http.Response) {
	ctx := f.req.Context()
	start := f.p.cfg.Now()
	r := f.tx.Result // a copy: Findings is encoded before it can grow
	r.Status = resp.StatusCode
	r.Outcome = statusOutcome(resp.StatusCode)
	r.DurationMS = ms(start.Sub(f.tx.Time))
	r.Response = txn.Message{Headers: f.p.cfg.Redactor.Header(resp.Header), ContentType: resp.Header.Get("Content-Type"), Size: max(resp.ContentLength, 0)}
	r.Response.Truncated = r.Response.Size > 0 // the body is not stored yet
	if r.Findings == nil {
		r.Findings = []txn.Finding{}
	}
	f.p.scrubProvisional(f.tx, &r)
	err := f.p.cfg.Recorder.RecordProvisional(ctx, f.tx, r)
	f.tx.RecordMS += ms(f.p.cfg.Now().Sub(start))
	if err != nil && ctx.Err() == nil {
		f.p.storeErrors.Add(1)
		f.p.cfg.Logger.Error().Err(err).Str("id", f.tx.ID).Str("route", f.tx.Route).Msg("could not record the vendor's answer before passing it on")
	}
}

// statusOutcome is what the vendor's status alone says about the call, before any rule
// reads its body.
func statusOutcome(status int) txn.Outcome {
	if status >= 400 {
		return txn.OutcomeFailed
	}
	return txn.OutcomeDelivered
}

// scrubProvisional removes the call's secret values from a provisional result before it is
// journaled, as finish does for the final one: a vendor may echo a token in a header
// (Location: ...?token=...) that no header name marks as secret.
func (p *Pipeline) scrubProvisional(tx *txn.Transaction, r *txn.Result) {
	v, ok := p.secrets.Load(tx)
	if !ok {
		return
	}
	set := v.(*secretSet)
	if set.empty() {
		return
	}
	// r shares its findings with the call's; scrub a copy so the final result is scrubbed
	// once, from what the checks wrote.
	r.Findings = slices.Clone(r.Findings)
	scrubResult(r, set.forms())
}
