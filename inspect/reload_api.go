package inspect

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
)

// Reloader reloads the running config from its file (main wires serve's reload).
type Reloader interface {
	Reload(ctx context.Context, req ReloadRequest) ReloadReport
}

// ReloadRequest is the body of POST /api/reload.
type ReloadRequest struct {
	// DropQueued lets a reload remove routes whose deliveries are still queued, dropping them
	// (each dropped delivery is recorded).
	DropQueued bool `json:"drop_queued,omitempty"`
	// Actor is who asked (the token's name); set by the server, not the caller.
	Actor string `json:"-"`
}

// ReloadReport is what a reload did, or why it did nothing.
type ReloadReport struct {
	// File is the config file read.
	File string `json:"file"`
	// Applied says the new config is running. When false, nothing changed.
	Applied bool `json:"applied"`
	// Problems are the mistakes in the file, each with its line (as check-config prints
	// them), or why the reload was refused.
	Problems []string `json:"problems,omitempty"`
	// Refused says the file is valid but the reload was refused (queued deliveries of a
	// removed route without drop_queued); Problems says why.
	Refused bool `json:"refused,omitempty"`
	// Changes are what changed, one line each; empty when the file did not change anything.
	Changes []ReloadChange `json:"changes"`
	// NeedsRestart names the settings that changed but only take effect on a restart.
	NeedsRestart []string `json:"needs_restart,omitempty"`
	// DroppedQueued counts the queued deliveries dropped with removed routes.
	DroppedQueued int `json:"dropped_queued,omitempty"`
}

// ReloadChange is one change a reload made.
type ReloadChange struct {
	// Kind is route.added, route.removed, route.changed, limits.tightened, limits.loosened,
	// limits.changed, alerts.changed, sinks.changed or settings.changed.
	Kind   string `json:"kind"`
	Name   string `json:"name"`
	Detail string `json:"detail,omitempty"`
}

// reload answers POST /api/reload: 200 with the changes when the new config runs, 422 with
// the file's mistakes, 409 when the reload was refused; nothing changes in either case.
func (s *server) reload(w http.ResponseWriter, r *http.Request) {
	var req ReloadRequest
	if r.ContentLength != 0 {
		if err := json.NewDecoder(io.LimitReader(r.Body, 64<<10)).Decode(&req); err != nil && !errors.Is(err, io.EOF) {
			s.fail(w, r, problemf(errBadRequest, "the body must be JSON like {\"drop_queued\": true}: %v", err))
			return
		}
	}
	req.Actor = actorOf(r).Name
	rep := s.reloader.Reload(r.Context(), req)
	status := http.StatusOK
	switch {
	case rep.Refused:
		status = http.StatusConflict
	case !rep.Applied:
		status = http.StatusUnprocessableEntity
	}
	if rep.Changes == nil {
		rep.Changes = []ReloadChange{}
	}
	note := noteAudit(r)
	note.param("drop_queued", fmt.Sprint(req.DropQueued))
	switch {
	case rep.Applied:
		note.result = fmt.Sprintf("applied %d changes", len(rep.Changes))
		if rep.DroppedQueued > 0 {
			note.result += fmt.Sprintf(", dropped %d queued deliveries", rep.DroppedQueued)
		}
	case rep.Refused:
		note.result = "refused"
	default:
		note.result = fmt.Sprintf("%d mistakes, nothing changed", len(rep.Problems))
	}
	s.respond(w, status, rep)
}

// Reload asks the running mtguard to reload its config file. A file with mistakes (422) or a
// refused reload (409) is not an error: the report says so, with Applied false.
func (c *Client) Reload(ctx context.Context, req ReloadRequest) (ReloadReport, error) {
	b, _ := json.Marshal(req)
	var rep ReloadReport
	resp, err := c.request(ctx, http.MethodPost, "/api/reload", bytes.NewReader(b), "application/json")
	if err != nil {
		return rep, err
	}
	defer resp.Body.Close()
	switch resp.StatusCode {
	case http.StatusOK, http.StatusConflict, http.StatusUnprocessableEntity:
		if mt, _, _ := mime.ParseMediaType(resp.Header.Get("Content-Type")); mt == "application/json" {
			if err := json.NewDecoder(resp.Body).Decode(&rep); err != nil {
				return rep, fmt.Errorf("admin API: read answer of /api/reload: %w", err)
			}
			return rep, nil
		}
	}
	return rep, readProblem(resp)
}
