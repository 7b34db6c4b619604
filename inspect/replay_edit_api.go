package inspect

import (
	"encoding/json"
	"errors"
	"net/http"
	"strings"
	"time"

	"github.com/mtguard/mtguard/store"
	"github.com/mtguard/mtguard/txn"
)

// WhoAmI answers GET /api/whoami: the name and role of the token the request carried
// ("anonymous" and admin on an API without tokens). The web console asks it at sign-in, so
// that it shows only the buttons the token may use; the API still checks every action.
type WhoAmI struct {
	Name string `json:"name"`
	Role string `json:"role"`
	// Auth is false when the API has no tokens (loopback only): nobody signs in.
	Auth bool `json:"auth"`
}

func (s *server) whoami(w http.ResponseWriter, r *http.Request) {
	a := actorOf(r)
	s.respond(w, http.StatusOK, WhoAmI{Name: a.Name, Role: a.Role.String(), Auth: s.auth})
}

// ReplayEditRequest is the body of POST /api/transactions/{id}/replay-edit: the request body
// to send in place of the stored one (the latest attempt's), for a call rejected because of
// what it carried.
type ReplayEditRequest struct {
	Body  string `json:"body"`
	Force bool   `json:"force,omitempty"`
}

// replayEdit resends a call's chain with an edited body: the same route, method, path and
// headers as its latest attempt, through the same pipeline (contracts are checked again), and
// recorded as a replay of that attempt. It holds the chain like a replay does.
func (s *server) replayEdit(w http.ResponseWriter, r *http.Request) {
	if s.replays == nil {
		s.fail(w, r, problemf(errNotConfigured, "replay is not available on this server"))
		return
	}
	var req ReplayEditRequest
	if err := decodeJSON(r, &req); err != nil {
		s.fail(w, r, err)
		return
	}
	id := r.PathValue("id")
	note := noteAudit(r)
	note.param("edited", "true")
	rp := s.replays
	ctx := txn.WithActor(r.Context(), actorOf(r).Name)
	tx, err := rp.txs.Get(ctx, id)
	if errors.Is(err, store.ErrNotFound) {
		err = problemf(err, "no transaction with id %s", id)
	}
	if err != nil {
		s.fail(w, r, err)
		return
	}
	if strings.Contains(strings.ToLower(tx.Request.ContentType), "json") && !json.Valid([]byte(req.Body)) {
		s.fail(w, r, problemf(errBadRequest, "the edited body is not valid JSON, and call %s sent %s; fix the body and send it again", id, tx.Request.ContentType))
		return
	}
	item, _, _, err := rp.plan(ctx, tx, true)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	if item.Skipped == skipInFlight {
		s.fail(w, r, problemf(errReplayBusy, "call %s: its latest attempt is still in flight; wait for it to end", id))
		return
	}
	mine, others, err := rp.holds.Reserve([]string{item.Original}, "an edited replay of "+id, rp.hold)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	if len(mine) == 0 {
		held := others[item.Original]
		s.fail(w, r, problemf(errReplayBusy, "call %s is being resent already: its chain (original %s) is held by %s since %s", id, item.Original, held.Owner, held.Since.UTC().Format(time.RFC3339)))
		return
	}
	defer rp.holds.Release(mine...)
	item, target, _, err := rp.plan(ctx, tx, true)
	if err == nil && item.Skipped == skipInFlight {
		err = problemf(errReplayBusy, "call %s: its latest attempt is still in flight; wait for it to end", id)
	}
	if err != nil {
		s.fail(w, r, err)
		return
	}
	target.Request.Body, target.Request.BodyEncoding = req.Body, ""
	target.Request.Size, target.Request.Truncated, target.Request.SizeAtLeast = int64(len(req.Body)), false, false
	item, err = rp.send(ctx, item, target, false)
	note.result = item.Replay
	if err != nil {
		s.fail(w, r, err)
		return
	}
	res := ReplayOneResult{Item: item}
	if item.Replay != "" {
		if re, err := s.txs.Get(r.Context(), item.Replay); err == nil {
			res.Transaction = &re
		}
	}
	s.respond(w, http.StatusOK, res)
}
