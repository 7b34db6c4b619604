package inspect

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"strconv"
	"time"

	"github.com/mtguard/mtguard/schemas"
	"github.com/mtguard/mtguard/store"
	"github.com/mtguard/mtguard/txn"
)

// maxJSONBody bounds the JSON bodies the admin API reads.
const maxJSONBody = 64 << 10

// decodeJSON reads an optional JSON body into v; an empty body leaves v as it is.
func decodeJSON(r *http.Request, v any) error {
	b, err := io.ReadAll(io.LimitReader(r.Body, maxJSONBody+1))
	if err != nil {
		return err
	}
	if len(b) > maxJSONBody {
		return problemf(errBadRequest, "the request body is over %d bytes", maxJSONBody)
	}
	if len(b) == 0 {
		return nil
	}
	d := json.NewDecoder(bytes.NewReader(b))
	d.DisallowUnknownFields()
	if err := d.Decode(v); err != nil {
		return problemf(errBadRequest, "the request body is not the expected JSON: %v", err)
	}
	return nil
}

// ReplayOneRequest is the body of POST /api/transactions/{id}/replay.
type ReplayOneRequest struct {
	Force bool `json:"force,omitempty"`
	// Body, when set, is the corrected body to send instead of the stored one
	// (edit-then-replay): the new call records what changed (finding replay.edited) and who
	// changed it; the original stays in the chain.
	Body *string `json:"body,omitempty"`
}

// ReplayOneResult answers POST /api/transactions/{id}/replay.
type ReplayOneResult struct {
	Item        ReplayItem       `json:"item"`
	Transaction *txn.Transaction `json:"transaction,omitempty"` // the new one
}

func (s *server) replayOne(w http.ResponseWriter, r *http.Request) {
	if s.replays == nil {
		s.fail(w, r, problemf(errNotConfigured, "replay is not available on this server"))
		return
	}
	var req ReplayOneRequest
	if err := decodeJSON(r, &req); err != nil {
		s.fail(w, r, err)
		return
	}
	s.resend(w, r, r.PathValue("id"), req.Force, req.Body)
}

// resend replays one call's chain, with body in place of the stored one when set (an edit),
// and answers with the new call: POST /api/transactions/{id}/replay and its replay-edit form.
func (s *server) resend(w http.ResponseWriter, r *http.Request, id string, force bool, body *string) {
	actor := actorOf(r)
	note := noteAudit(r)
	note.param("force", strconv.FormatBool(force))
	if body != nil {
		note.param("edited", "true")
	}
	item, err := s.replays.one(txn.WithActor(r.Context(), actor.Name), id, force, body)
	note.result = item.Replay
	if errors.Is(err, store.ErrNotFound) {
		err = problemf(err, "no transaction with id %s", id)
	}
	if err != nil {
		s.fail(w, r, err)
		return
	}
	res := ReplayOneResult{Item: item}
	if item.Replay != "" {
		if tx, err := s.txs.Get(r.Context(), item.Replay); err == nil {
			res.Transaction = &tx
		}
	}
	s.respond(w, http.StatusOK, res)
}

func (s *server) startReplay(w http.ResponseWriter, r *http.Request) {
	if s.replays == nil {
		s.fail(w, r, problemf(errNotConfigured, "replay is not available on this server"))
		return
	}
	var req ReplayRequest
	if err := decodeJSON(r, &req); err != nil {
		s.fail(w, r, err)
		return
	}
	q, err := replayQuery(req, s.now())
	if err != nil {
		s.fail(w, r, err)
		return
	}
	job := s.replays.start(req, q, actorOf(r).Name)
	note := noteAudit(r)
	note.result = job.ID
	note.param("route", req.Route)
	note.param("outcome", req.Outcome)
	note.param("finding", req.Finding)
	note.param("status", strconv.Itoa(req.Status))
	note.param("since", req.Since)
	note.param("until", req.Until)
	note.param("limit", strconv.Itoa(req.Limit))
	note.param("dry_run", strconv.FormatBool(req.DryRun))
	note.param("force", strconv.FormatBool(req.Force))
	note.param("include_interrupted", strconv.FormatBool(req.IncludeInterrupted))
	if req.Record != "" {
		// A record key is personal data: the log keeps its hash.
		note.param("record", hashKey(req.Record))
	}
	s.respond(w, http.StatusAccepted, job)
}

// replayQuery validates a replay filter. A bulk replay must be narrowed by something: resending
// every call ever recorded is never what someone meant.
func replayQuery(req ReplayRequest, now time.Time) (store.Query, error) {
	q := store.Query{
		RecordKey: schemas.NormaliseKey(req.Record), Route: req.Route, Outcome: txn.Outcome(req.Outcome),
		Finding: req.Finding, Status: req.Status, Limit: maxLimit,
	}
	if q.Outcome != "" && !q.Outcome.Valid() {
		return q, problemf(errBadRequest, "outcome %q is not a known outcome", req.Outcome)
	}
	var err error
	if q.Since, err = parseTimeParam("since", req.Since, now); err != nil {
		return q, err
	}
	if q.Until, err = parseTimeParam("until", req.Until, now); err != nil {
		return q, err
	}
	if q.RecordKey == "" && q.Route == "" && q.Outcome == "" && q.Finding == "" && q.Status == 0 && q.Since.IsZero() {
		return q, problemf(errBadRequest, "narrow the replay with at least one of record, route, outcome, finding, status or since")
	}
	if req.Limit < 0 || req.Limit > 100_000 {
		return q, problemf(errBadRequest, "limit %d must be from 1 to 100000", req.Limit)
	}
	return q, nil
}

func (s *server) getReplay(w http.ResponseWriter, r *http.Request) {
	if s.replays == nil {
		s.fail(w, r, problemf(errNotConfigured, "replay is not available on this server"))
		return
	}
	job, ok := s.replays.get(r.PathValue("id"))
	if !ok {
		s.fail(w, r, s.replays.unknownJob(r.PathValue("id")))
		return
	}
	s.respond(w, http.StatusOK, job)
}

func (s *server) forgetRecord(w http.ResponseWriter, r *http.Request) {
	if s.eraser == nil {
		s.fail(w, r, problemf(errNotConfigured, "erasure is not available on this server"))
		return
	}
	key := schemas.NormaliseKey(r.PathValue("key"))
	if key == "" {
		s.fail(w, r, problemf(errBadRequest, "give the record key to erase, e.g. DELETE /api/records/jane@acme.com"))
		return
	}
	rep, err := s.eraser.Forget(r.Context(), key)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	note := noteAudit(r)
	note.param("deleted", strconv.Itoa(rep.Deleted))
	note.param("scrubbed", strconv.Itoa(rep.Scrubbed))
	// The key is personal data: log that an erasure happened, not whose.
	s.log.Info().Int("deleted", rep.Deleted).Int("scrubbed", rep.Scrubbed).Int64("bytes_before", rep.BytesBefore).Int64("bytes_after", rep.BytesAfter).Msg("record erased")
	s.respond(w, http.StatusOK, rep)
}
