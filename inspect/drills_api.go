package inspect

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/mtguard/mtguard/store"
)

// drillStartRequest is the JSON body of POST /api/drills.
type drillStartRequest struct {
	Route  string `json:"route"`
	Fault  string `json:"fault"`
	For    string `json:"for,omitempty"`   // a Go duration; default 10m
	Share  string `json:"share,omitempty"` // "100%" or 0.5 as text; default 100%
	Expect string `json:"expect,omitempty"`
}

// drillList is the answer of GET /api/drills.
type drillList struct {
	Drills []store.Drill `json:"drills"`
}

// ParseShare reads a share of calls: "50%" or "0.5".
func ParseShare(s string) (float64, error) {
	s = strings.TrimSpace(s)
	if s == "" {
		return 1, nil
	}
	pct := strings.HasSuffix(s, "%")
	f, err := strconv.ParseFloat(strings.TrimSuffix(s, "%"), 64)
	if pct {
		f /= 100
	}
	if err != nil || f <= 0 || f > 1 {
		return 0, problemf(errBadRequest, "share %q must be a percentage from 1%% to 100%%, like 50%%", s)
	}
	return f, nil
}

func (s *server) startDrill(w http.ResponseWriter, r *http.Request) {
	var req drillStartRequest
	dec := json.NewDecoder(io.LimitReader(r.Body, maxAckBody))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&req); err != nil || strings.TrimSpace(req.Route) == "" || strings.TrimSpace(req.Fault) == "" {
		s.fail(w, r, problemf(errBadRequest, `the body must be JSON like {"route": "marketo", "fault": "status:503", "for": "10m", "share": "100%%", "expect": "alert within 5m"}`))
		return
	}
	note := noteAudit(r)
	note.param("route", req.Route)
	note.param("fault", req.Fault)
	note.param("for", req.For)
	note.param("share", req.Share)
	dr := DrillRequest{Route: strings.TrimSpace(req.Route), Fault: strings.TrimSpace(req.Fault), Expect: strings.TrimSpace(req.Expect), By: actorOf(r).Name}
	if req.For != "" {
		d, err := time.ParseDuration(req.For)
		if err != nil || d < time.Second {
			s.fail(w, r, problemf(errBadRequest, "for %q must be a duration of 1s or more, like 10m", req.For))
			return
		}
		dr.For = d
	}
	share, err := ParseShare(req.Share)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	dr.Share = share
	d, err := s.drills.Start(r.Context(), dr)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	note.result = d.ID
	s.respond(w, http.StatusCreated, d)
}

func (s *server) listDrills(w http.ResponseWriter, r *http.Request) {
	list, err := s.drills.List(50)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	s.respond(w, http.StatusOK, drillList{Drills: list})
}

func (s *server) getDrill(w http.ResponseWriter, r *http.Request) {
	d, err := s.drills.Get(r.Context(), r.PathValue("id"))
	if err != nil {
		s.fail(w, r, drillErr(err, r.PathValue("id")))
		return
	}
	s.respond(w, http.StatusOK, d)
}

func (s *server) stopDrill(w http.ResponseWriter, r *http.Request) {
	d, err := s.drills.Stop(r.Context(), r.PathValue("id"))
	if err != nil {
		s.fail(w, r, drillErr(err, r.PathValue("id")))
		return
	}
	s.respond(w, http.StatusOK, d)
}

func drillErr(err error, id string) error {
	if errors.Is(err, ErrDrillNotFound) {
		return problemf(err, "no drill with id %s; mtguard drill status lists them", id)
	}
	return err
}

// StartDrill starts a drill (POST /api/drills).
func (c *Client) StartDrill(ctx context.Context, route, fault string, dur time.Duration, share, expect string) (store.Drill, error) {
	req := drillStartRequest{Route: route, Fault: fault, Share: share, Expect: expect}
	if dur > 0 {
		req.For = dur.String()
	}
	var d store.Drill
	err := c.do(ctx, http.MethodPost, "/api/drills", nil, req, &d)
	return d, err
}

// Drill returns one drill (GET /api/drills/{id}), or with an empty id the newest ones.
func (c *Client) Drills(ctx context.Context, id string) ([]store.Drill, error) {
	if id != "" {
		var d store.Drill
		err := c.get(ctx, "/api/drills/"+url.PathEscape(id), nil, &d)
		return []store.Drill{d}, err
	}
	var list drillList
	err := c.get(ctx, "/api/drills", nil, &list)
	return list.Drills, err
}

// StopDrill ends a drill now (POST /api/drills/{id}/stop).
func (c *Client) StopDrill(ctx context.Context, id string) (store.Drill, error) {
	var d store.Drill
	err := c.do(ctx, http.MethodPost, "/api/drills/"+url.PathEscape(id)+"/stop", nil, struct{}{}, &d)
	return d, err
}
