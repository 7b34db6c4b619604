package inspect

import (
	"encoding/json"
	"errors"
	"net/http"
	"strings"

	"github.com/mtguard/mtguard/store"
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

// replayEdit is the console's form of edit-then-replay: the same resend as POST
// /api/transactions/{id}/replay with a body (finding replay.edited, the actor, the original
// kept in the chain), after checking that a body meant to be JSON still is.
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
	tx, err := s.txs.Get(r.Context(), id)
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
	s.resend(w, r, id, req.Force, &req.Body)
}
