package inspect

import (
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/mtguard/mtguard/alerts"
	"github.com/mtguard/mtguard/store"
)

// maxAckBody bounds the body of POST /api/alerts/{id}/ack.
const maxAckBody = 64 << 10

// ackRequest is the JSON body of POST /api/alerts/{id}/ack; every field is optional.
type ackRequest struct {
	By      string `json:"by"`
	Comment string `json:"comment"`
	// Silence mutes the route's rule for a Go duration, e.g. "2h".
	Silence string `json:"silence"`
}

// alertList is the answer of GET /api/alerts.
type alertList struct {
	Alerts []store.Alert `json:"alerts"`
}

// health answers GET /api/health: one line per route.
func (s *server) health(w http.ResponseWriter, r *http.Request) {
	h := s.alerts.Health()
	if s.deliveries != nil {
		dh, err := s.deliveryHealth(r.Context(), h.Time)
		if err != nil {
			s.fail(w, r, err)
			return
		}
		h.Deliveries = dh
	}
	s.respond(w, http.StatusOK, h)
}

// listAlerts answers GET /api/alerts?state=firing|resolved&route=&limit=, newest first.
func (s *server) listAlerts(w http.ResponseWriter, r *http.Request) {
	q, err := decodeAlertQuery(r)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	alerts, err := s.alerts.List(q)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	s.respond(w, http.StatusOK, alertList{Alerts: alerts})
}

func decodeAlertQuery(r *http.Request) (store.AlertQuery, error) {
	v := r.URL.Query()
	params := []string{"state", "route", "limit"}
	for name := range v {
		if !slices.Contains(params, name) {
			return store.AlertQuery{}, problemf(errBadRequest, "unknown query parameter %q: use %s", name, strings.Join(params, ", "))
		}
	}
	q := store.AlertQuery{Route: strings.TrimSpace(v.Get("route")), State: store.AlertState(v.Get("state"))}
	switch q.State {
	case "", store.AlertFiring, store.AlertResolved:
	case "all":
		q.State = ""
	default:
		return store.AlertQuery{}, problemf(errBadRequest, "state %q must be firing, resolved or all", q.State)
	}
	if l := v.Get("limit"); l != "" {
		n, err := strconv.Atoi(l)
		if err != nil || n < 1 || n > maxLimit {
			return store.AlertQuery{}, problemf(errBadRequest, "limit %q must be a whole number from 1 to %d", l, maxLimit)
		}
		q.Limit = n
	}
	return q, nil
}

// getAlert answers GET /api/alerts/{id}.
func (s *server) getAlert(w http.ResponseWriter, r *http.Request) {
	a, err := s.alerts.Alert(r.PathValue("id"))
	if err != nil {
		s.fail(w, r, alertErr(err, r.PathValue("id")))
		return
	}
	s.respond(w, http.StatusOK, a)
}

// ackAlert answers POST /api/alerts/{id}/ack with the alert as it now stands.
func (s *server) ackAlert(w http.ResponseWriter, r *http.Request) {
	var req ackRequest
	body, err := io.ReadAll(io.LimitReader(r.Body, maxAckBody+1))
	if err != nil {
		s.fail(w, r, err)
		return
	}
	if len(body) > maxAckBody {
		s.fail(w, r, problemf(errBadRequest, "the body is over %d bytes", maxAckBody))
		return
	}
	if len(strings.TrimSpace(string(body))) > 0 {
		dec := json.NewDecoder(strings.NewReader(string(body)))
		dec.DisallowUnknownFields()
		if err := dec.Decode(&req); err != nil {
			s.fail(w, r, problemf(errBadRequest, `the body must be JSON like {"by": "jane@example.com", "comment": "renewing the token", "silence": "2h"}: %v`, err))
			return
		}
	}
	ack := alerts.Ack{By: strings.TrimSpace(req.By), Comment: strings.TrimSpace(req.Comment)}
	note := noteAudit(r)
	note.param("by", ack.By)
	note.param("silence", req.Silence)
	if req.Silence != "" {
		d, err := time.ParseDuration(req.Silence)
		if err != nil || d <= 0 || d > 30*24*time.Hour {
			s.fail(w, r, problemf(errBadRequest, "silence %q must be a duration from 1s to 720h, like 2h", req.Silence))
			return
		}
		ack.Silence = d
	}
	a, err := s.alerts.Acknowledge(r.PathValue("id"), ack)
	if err != nil {
		s.fail(w, r, alertErr(err, r.PathValue("id")))
		return
	}
	s.respond(w, http.StatusOK, a)
}

// alertErr gives a missing alert the sentence the caller sees.
func alertErr(err error, id string) error {
	if errors.Is(err, alerts.ErrAlertNotFound) {
		return problemf(err, "no alert with id %s; mtguard alerts --all lists them", id)
	}
	return err
}

// onlyPost answers a method other than POST on a POST endpoint.
func (s *server) onlyPost(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Allow", "POST")
	s.fail(w, r, problemf(errMethod, "%s takes POST, not %s", r.URL.Path, r.Method))
}

// testSinkRequest is the JSON body of POST /api/alerts/test.
type testSinkRequest struct {
	Sink string `json:"sink"`
	By   string `json:"by"`
}

// testSink answers POST /api/alerts/test {"sink": NAME}: one test notification, sent now
// without retrying, and the sink's answer. A sink that refuses it is still a 200: the test
// ran, and its answer says the sink failed.
func (s *server) testSink(w http.ResponseWriter, r *http.Request) {
	var req testSinkRequest
	dec := json.NewDecoder(io.LimitReader(r.Body, maxAckBody))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&req); err != nil || strings.TrimSpace(req.Sink) == "" {
		s.fail(w, r, problemf(errBadRequest, `the body must be JSON like {"sink": "ops-slack"} naming a sink of alerts.sinks`))
		return
	}
	note := noteAudit(r)
	note.param("sink", req.Sink)
	res, err := s.alerts.TestSink(r.Context(), strings.TrimSpace(req.Sink), strings.TrimSpace(req.By))
	if err != nil {
		if errors.Is(err, alerts.ErrSinkNotFound) {
			err = problemf(err, "%v", err)
		}
		s.fail(w, r, err)
		return
	}
	s.respond(w, http.StatusOK, res)
}
